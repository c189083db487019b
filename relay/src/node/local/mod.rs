//! The node's side of the local API ([`tern_model::local`]): publishers and readers in this
//! process, judged and routed as MoQ peers are. Each local publication and each local reading
//! is a session of its own to the router (a session ID with its publisher identity, requests,
//! limits), with no stream behind it: the router's answers to it come back through the hub's
//! request inboxes, and the data goes straight into and out of the tracks' caches.
//!
//! - `publish.rs`: who a local publisher is, its broadcast and its tracks.
//! - `read.rs`: a local reader's subscription, its join at the current group and its FETCHes
//!   (from the cache, or forwarded upstream), broadcast look-ups, and a front-end's viewers
//!   judged (and their watermark variants chosen) without a reading.
//! - `ask.rs`: a local request put to the router, and its refusals in the local API's terms.

mod ask;
mod publish;
mod read;

use std::sync::Arc;

use tokio::sync::Semaphore;

use tern_model::local::{Call, Calls, Input, Release};

use super::hub::Hub;
use publish::Publications;

/// Answer the local API's calls until every handle of it is gone.
pub fn spawn(hub: Arc<Hub>, mut calls: Calls) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let pubs = Arc::new(Publications::default());
        let in_flight = Arc::new(Semaphore::new(hub.settings.max_local_calls.max(1)));
        while let Some(input) = calls.next().await {
            match input {
                Input::Call(call) => {
                    // Calls wait on the plugin and on upstreams: each on its own, so that one
                    // slow answer holds up nobody else's; at most `max_local_calls` at once,
                    // the others wait in the channel (and their callers with them).
                    let Ok(permit) = in_flight.clone().acquire_owned().await else {
                        break;
                    };
                    let (hub, pubs) = (hub.clone(), pubs.clone());
                    tokio::spawn(async move {
                        answer(hub, pubs, call).await;
                        drop(permit);
                    });
                }
                Input::Release(release) => self::release(&hub, &pubs, release),
                _ => {}
            }
        }
    })
}

async fn answer(hub: Arc<Hub>, pubs: Arc<Publications>, call: Call) {
    match call {
        Call::Publish {
            namespace,
            credentials,
            vouched,
            reply,
        } => {
            let result = publish::publish(&hub, &pubs, namespace, credentials, vouched).await;
            if let Err(Ok(id)) = reply.send(result) {
                // The caller went away before the answer: nobody holds the publication.
                release(&hub, &pubs, Release::Publication { id, finished: true });
            }
        }
        Call::PublishTrack {
            publication,
            name,
            reply,
        } => {
            let _ = reply.send(publish::publish_track(&hub, &pubs, publication, name).await);
        }
        Call::Subscribe {
            track,
            credentials,
            options,
            reply,
        } => {
            let result = read::subscribe(&hub, track, credentials, options).await;
            if let Err(Ok(grant)) = reply.send(result) {
                release(&hub, &pubs, Release::Reading { id: grant.id });
            }
        }
        Call::Fetch {
            track,
            start,
            end,
            reply,
        } => {
            let _ = reply.send(read::fetch(&hub, &track, start, end).await);
        }
        Call::Authorize {
            namespace,
            track,
            credentials,
            reply,
        } => {
            let _ = reply.send(read::authorize(&hub, namespace, track, credentials).await);
        }
        Call::Variant {
            viewer,
            track,
            group,
            reply,
        } => {
            let _ = reply.send(read::variant(&hub, viewer, track, group).await);
        }
        Call::Broadcast {
            namespace,
            credentials,
            reply,
        } => {
            let _ = reply.send(read::broadcast(&hub, namespace, credentials).await);
        }
        _ => {}
    }
}

/// A handle was dropped: end what it held on the node.
fn release(hub: &Arc<Hub>, pubs: &Publications, release: Release) {
    match release {
        Release::Publication { id, finished } => publish::end(hub, pubs, id, finished),
        Release::Reading { id } => read::end(hub, id),
        _ => {}
    }
}
