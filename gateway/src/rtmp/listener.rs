//! The RTMP listener of a relay node: a thin driver around rml_rtmp's handshake and server
//! session (sans-IO), [`FlvIngest`] and [`Feed`]. One task per connection; every read is
//! bounded in time (the handshake, then silence from a publisher) and in size (the session's
//! messages, the ingest's pending samples).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use tern_model::local::{Credentials, LocalApi, RefusedKind};
use tern_origin::Options;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{Config, KEY_HINT, publish_request};
use crate::flv::FlvIngest;
use crate::keys::SharedKeys;
use crate::listening::Listening;
use crate::publish::{Feed, FeedError, Resumes};
use crate::refusals::{RefusalLog, Slot, left_out};

/// How long a client has for the handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// How long a connection may stay silent (no publish yet, or a publisher that stopped sending).
const IDLE: Duration = Duration::from_secs(30);

/// A running RTMP listener (dropping it stops the listener and closes its publishers).
pub type RtmpServer = Listening;

/// Listen for RTMP publishers on `config.bind` (RTMPS with `config.tls`: TLS first, then
/// RTMP), publishing into the node behind `api`.
pub async fn serve(
    config: Config,
    api: LocalApi,
    options: Options,
    resumes: Resumes,
) -> io::Result<RtmpServer> {
    let listener = TcpListener::bind(config.bind).await?;
    let local_addr = listener.local_addr()?;
    let active = Arc::new(AtomicUsize::new(0));
    let refusals = Arc::new(RefusalLog::default());
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("rtmp: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            while connections.try_join_next().is_some() {}
            if active.load(Ordering::Relaxed) >= config.max_publishers {
                if refusals.log(peer.ip(), Instant::now()).is_some() {
                    tracing::warn!(%peer, "rtmp: refused {peer}: {} connections already, the most [rtmp] max_publishers allows", config.max_publishers);
                }
                continue;
            }
            let slot = Slot::take(&active);
            let (api, resumes, refusals) = (api.clone(), resumes.clone(), refusals.clone());
            let keys = config.stream_keys.clone();
            let tls = config.tls.clone();
            connections.spawn(async move {
                let _slot = slot;
                let _ = stream.set_nodelay(true);
                let shared = Shared {
                    api: &api,
                    resumes: &resumes,
                    refusals: &refusals,
                    keys: &keys,
                };
                let closed = match tls {
                    None => connection(stream, peer, shared, options).await,
                    Some(tls) => {
                        let accept = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
                        match tokio::time::timeout(HANDSHAKE, accept).await {
                            Ok(Ok(stream)) => connection(stream, peer, shared, options).await,
                            Ok(Err(e)) => Err(other(format!("TLS handshake: {e}"))),
                            Err(_) => Err(other("no TLS handshake within 10 s")),
                        }
                    }
                };
                if let Err(e) = closed {
                    tracing::info!(%peer, "rtmp: {peer} closed: {e}");
                }
            });
        }
    });
    Ok(Listening::new(local_addr, task))
}

/// What a connection is doing.
enum Stage<'a> {
    /// Connected, nothing published yet.
    Idle,
    /// Publishing.
    Publishing(Box<Publishing<'a>>),
}

/// A connection's publication.
struct Publishing<'a> {
    path: String,
    feed: Feed<'a>,
    flv: FlvIngest,
}

/// A video (`video`) or audio tag of the connection's publication into its broadcast; the
/// error names the broadcast.
async fn media(
    stage: &mut Stage<'_>,
    video: bool,
    timestamp: u32,
    data: &[u8],
) -> Result<(), String> {
    let Stage::Publishing(p) = stage else {
        return Ok(());
    };
    let Publishing { path, feed, flv } = &mut **p;
    let fed = match video {
        true => flv.video(timestamp, data),
        false => flv.audio(timestamp, data),
    };
    let result = match fed {
        Ok(()) => feed.events(|| flv.poll()).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    result.map_err(|e| format!("publishing {path}: {e}"))
}

async fn write_results(
    stream: &mut (impl AsyncWrite + Unpin),
    results: &mut Vec<ServerSessionResult>,
    events: &mut Vec<ServerSessionEvent>,
) -> io::Result<()> {
    for r in results.drain(..) {
        match r {
            ServerSessionResult::OutboundResponse(p) => stream.write_all(&p.bytes).await?,
            ServerSessionResult::RaisedEvent(e) => events.push(e),
            ServerSessionResult::UnhandleableMessageReceived(_) => {}
        }
    }
    Ok(())
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// What every connection of a listener shares.
#[derive(Clone, Copy)]
struct Shared<'a> {
    api: &'a LocalApi,
    resumes: &'a Resumes,
    refusals: &'a RefusalLog,
    keys: &'a SharedKeys,
}

async fn connection(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    peer: SocketAddr,
    shared: Shared<'_>,
    options: Options,
) -> io::Result<()> {
    let Shared {
        api,
        resumes,
        refusals,
        keys,
    } = shared;
    let mut buf = vec![0u8; 64 * 1024];
    // The handshake.
    let mut hs = Handshake::new(PeerType::Server);
    let leftover = tokio::time::timeout(HANDSHAKE, async {
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Err(other("closed during the handshake"));
            }
            match hs
                .process_bytes(&buf[..n])
                .map_err(|e| other(format!("handshake: {e:?}")))?
            {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    stream.write_all(&response_bytes).await?;
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    stream.write_all(&response_bytes).await?;
                    return Ok(remaining_bytes);
                }
            }
        }
    })
    .await
    .map_err(|_| other("no handshake within 10 s"))??;

    let (mut session, initial) =
        ServerSession::new(ServerSessionConfig::new()).map_err(|e| other(format!("{e:?}")))?;
    let mut events = Vec::new();
    let mut results = initial;
    write_results(&mut stream, &mut results, &mut events).await?;
    let credentials_of = |token| Credentials {
        peer,
        token,
        via: "rtmp",
        member: false,
    };
    // Credentials (and the API of a publisher its stream key admitted) outlive the feed that
    // borrows them: one per connection, set at publish.
    let credentials = std::cell::OnceCell::new();
    let vouched_api = std::cell::OnceCell::new();
    let mut stage = Stage::Idle;
    let mut input = leftover;
    let clean = 'conn: loop {
        if !input.is_empty() {
            let mut r = session
                .handle_input(&input)
                .map_err(|e| other(format!("RTMP chunk stream: {e:?}")))?;
            input.clear();
            write_results(&mut stream, &mut r, &mut events).await?;
        }
        for event in std::mem::take(&mut events) {
            match event {
                ServerSessionEvent::ConnectionRequested { request_id, .. } => {
                    let mut r = session.accept_request(request_id).map_err(other)?;
                    write_results(&mut stream, &mut r, &mut events).await?;
                }
                ServerSessionEvent::PublishStreamRequested {
                    request_id,
                    app_name,
                    stream_key,
                    ..
                } => {
                    if !matches!(stage, Stage::Idle) {
                        let mut r = session
                            .reject_request(
                                request_id,
                                "NetStream.Publish.BadName",
                                "this connection already publishes",
                            )
                            .map_err(other)?;
                        write_results(&mut stream, &mut r, &mut events).await?;
                        continue;
                    }
                    let judged = publish_request(&app_name, &stream_key).map(|p| {
                        let admitted = keys.current().judge(&p.path, p.key.as_deref());
                        (p, admitted)
                    });
                    let outcome = match judged {
                        Err(reason) => Err(("NetStream.Publish.BadName", reason)),
                        Ok((publish, Err(refusal))) => Err((
                            "NetStream.Publish.Unauthorized",
                            format!(
                                "{peer} publishing {}: {}",
                                publish.path,
                                refusal.reason(KEY_HINT)
                            ),
                        )),
                        Ok((publish, Ok(admitted))) => {
                            let creds =
                                credentials.get_or_init(|| credentials_of(publish.token.clone()));
                            // A publisher its stream key admitted publishes under the key.
                            let (api, with_key) = match &admitted {
                                Some(a) => (
                                    vouched_api.get_or_init(|| api.vouched(a.identity.clone())),
                                    a.describe(),
                                ),
                                None => (api, String::new()),
                            };
                            let now = Instant::now();
                            match Feed::announce(api, creds, &publish.path, options, resumes, now)
                                .await
                            {
                                Ok(feed) => Ok((publish.path, feed, with_key)),
                                Err(e) => Err((
                                    match &e {
                                        FeedError::Refused(r)
                                            if r.kind == RefusedKind::Unauthorized =>
                                        {
                                            "NetStream.Publish.Unauthorized"
                                        }
                                        _ => "NetStream.Publish.BadName",
                                    },
                                    format!("{peer} publishing {}: {e}", publish.path),
                                )),
                            }
                        }
                    };
                    match outcome {
                        Ok((path, feed, with_key)) => {
                            let mut r = session.accept_request(request_id).map_err(other)?;
                            write_results(&mut stream, &mut r, &mut events).await?;
                            tracing::info!(%peer, "rtmp: {peer} publishes {path}{with_key}");
                            stage = Stage::Publishing(Box::new(Publishing {
                                path,
                                feed,
                                flv: FlvIngest::new(),
                            }));
                        }
                        Err((code, reason)) => {
                            let at = (peer, request_id);
                            refuse(&mut session, &mut stream, refusals, at, code, &reason).await?;
                            break 'conn false;
                        }
                    }
                }
                ServerSessionEvent::PlayStreamRequested {
                    request_id,
                    app_name,
                    stream_key,
                    ..
                } => {
                    let key = stream_key.split('?').next().unwrap_or("");
                    let reason = format!(
                        "{app_name}/{key}: RTMP here is for publishing; play over MoQ, LL-HLS or \
                         WHEP"
                    );
                    let at = (peer, request_id);
                    refuse(
                        &mut session,
                        &mut stream,
                        refusals,
                        at,
                        "NetStream.Play.Failed",
                        &reason,
                    )
                    .await?;
                    break 'conn false;
                }
                ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
                    if let Stage::Publishing(p) = &mut stage {
                        p.flv.metadata(
                            metadata.audio_codec_id.is_some(),
                            metadata.video_codec_id.is_some(),
                        );
                    }
                }
                ServerSessionEvent::VideoDataReceived {
                    data, timestamp, ..
                } => {
                    if let Err(e) = media(&mut stage, true, timestamp.value, &data).await {
                        tracing::warn!(%peer, "rtmp: closing {peer}: {e}");
                        break 'conn false;
                    }
                }
                ServerSessionEvent::AudioDataReceived {
                    data, timestamp, ..
                } => {
                    if let Err(e) = media(&mut stage, false, timestamp.value, &data).await {
                        tracing::warn!(%peer, "rtmp: closing {peer}: {e}");
                        break 'conn false;
                    }
                }
                ServerSessionEvent::PublishStreamFinished { .. } => break 'conn true,
                _ => {}
            }
        }
        if !events.is_empty() {
            continue;
        }
        let n = match tokio::time::timeout(IDLE, stream.read(&mut buf)).await {
            Ok(Ok(0)) => break false,
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                tracing::info!(%peer, "rtmp: {peer} lost: {e}");
                break 'conn false;
            }
            Err(_) => {
                tracing::info!(%peer, "rtmp: {peer} silent for {} s: closing", IDLE.as_secs());
                break 'conn false;
            }
        };
        input.extend_from_slice(&buf[..n]);
    };
    if let Stage::Publishing(p) = stage {
        let Publishing {
            path,
            mut feed,
            mut flv,
        } = *p;
        if clean {
            if flv.finish().is_ok() {
                let _ = feed.events(|| flv.poll()).await;
            }
            tracing::info!(%peer, "rtmp: {peer} finished publishing {path}");
            feed.finish(Instant::now());
        } else {
            feed.lost(Instant::now());
        }
    }
    let _ = stream.shutdown().await;
    Ok(())
}

/// Refuse `request_id` with `code` (an `onStatus` error with `reason`) and log it.
async fn refuse(
    session: &mut ServerSession,
    stream: &mut (impl AsyncWrite + Unpin),
    refusals: &RefusalLog,
    (peer, request_id): (SocketAddr, u32),
    code: &str,
    reason: &str,
) -> io::Result<()> {
    if let Some(n) = refusals.log(peer.ip(), Instant::now()) {
        tracing::warn!(%peer, code, "rtmp: refused {peer} ({code}): {reason}{}", left_out(n));
    }
    let mut results = session
        .reject_request(request_id, code, reason)
        .map_err(other)?;
    let mut events = Vec::new();
    write_results(stream, &mut results, &mut events).await?;
    stream.flush().await
}
