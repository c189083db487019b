//! A local request put to the router, as a MoQ request task's is, and the router's refusals
//! in the local API's terms.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use tern_model::local::{Refused, RefusedKind};

use crate::core::router::{Command, Refusal, RequestId, Router, SessionId};

use crate::node::hub::{Hub, ToRequest};

/// The request ID of a publication's PUBLISH_NAMESPACE and of a reading's SUBSCRIBE.
pub(super) const FIRST: RequestId = 0;

/// The refusal a local caller gets for the router's `reason`, in the words a MoQ peer gets.
pub(super) fn refused(reason: Refusal) -> Refused {
    let kind = match reason {
        Refusal::DoesNotExist | Refusal::Upstream(_) => RefusedKind::NotFound,
        Refusal::Timeout => RefusedKind::Timeout,
        Refusal::ExcessiveLoad => RefusedKind::Overloaded,
        Refusal::Unauthorized | Refusal::NotOpen => RefusedKind::Unauthorized,
        Refusal::Published { .. } => RefusedKind::Conflict,
        _ => RefusedKind::Invalid,
    };
    let wire = crate::node::wire::refusal(reason);
    Refused::new(kind, wire.error_reason.to_string_lossy())
}

/// Run `f` on the router as request `request` of `session`, its channel registered first, and
/// return what `f` returned with the channel the router's answers come on.
pub(super) async fn ask<R: Send + 'static>(
    hub: &Arc<Hub>,
    session: SessionId,
    request: RequestId,
    f: impl FnOnce(&mut Router, Instant) -> R + Send + 'static,
) -> (R, mpsc::Receiver<ToRequest>) {
    let (tx, rx) = mpsc::channel(8);
    let out = hub
        .on_loop(move |l, now| {
            l.add_request(session, request, tx, None);
            f(l.router, now)
        })
        .await;
    (out, rx)
}

/// [`ask`] for a request the router answers at once (PUBLISH_NAMESPACE, PUBLISH): its
/// answer, which the node loop carries out next ([`crate::node::dispatch`]), with the request
/// forgotten again. `wait` says, from what the router returned, whether the answer is needed;
/// it is waited for at most the node's `upstream_answer_timeout`.
pub(super) async fn ask_now<R: Send + 'static>(
    hub: &Arc<Hub>,
    session: SessionId,
    request: RequestId,
    f: impl FnOnce(&mut Router, Instant) -> R + Send + 'static,
    wait: impl FnOnce(&R) -> bool,
) -> (R, Option<Command>) {
    let (out, mut rx) = ask(hub, session, request, f).await;
    let answer = if wait(&out) {
        let limit = hub.settings.upstream_answer_timeout;
        tokio::time::timeout(limit, rx.recv()).await.ok().flatten()
    } else {
        None
    };
    hub.on_loop(move |l, _| l.remove_request(session, request))
        .await;
    (out, answer.map(|c| c.command))
}

/// The refusal for a request the router did not accept: its own reason, or (when it gave
/// none) that `what` was not accepted.
pub(super) fn not_accepted(answer: Option<Command>, what: &str) -> Refused {
    match answer {
        Some(Command::Refuse { reason, .. }) => refused(reason),
        _ => Refused::new(RefusedKind::Invalid, format!("{what} was not accepted")),
    }
}
