//! The SRT listener of a relay node: callers that publish MPEG-TS become broadcasts of the
//! node, through its local API (a thin driver around [`admit`], [`TsIngest`] and [`Feed`]).
//!
//! Each caller is judged twice before its handshake is answered: by its stream ID, the
//! listener's passphrase rules and the stream keys in force ([`admit`]), then by the node (the
//! edge plugin's publish phase or the anonymous-publisher rules, the take-over policy; a
//! caller a stream key admitted publishes under the key's identity). A refusal is an SRT
//! reject code the caller prints (`SRT_REJX_UNAUTHORIZED`, `SRT_REJX_CONFLICT`,
//! `SRT_REJX_BAD_MODE`, ...) and a log line naming the caller and the reason. One caller's bad
//! input closes that caller alone.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures::StreamExt;
use srt_protocol::options::{KeySize, Passphrase};
use srt_protocol::packet::{RejectReason, ServerRejectReason};
use srt_protocol::settings::KeySettings;
use srt_tokio::SrtListener;
use tern_model::local::{Credentials, LocalApi, RefusedKind};
use tern_origin::Options;

use super::RejectCode;
use super::admit::{Admitted, Config, admit};
use crate::ingest::{Limits, TsIngest};
use crate::listening::Listening;
use crate::publish::{Feed, FeedError, Resumes};
use crate::refusals::{RefusalLog, Slot, left_out as more};

/// A running SRT listener (dropping it stops the listener and closes its publishers).
pub type SrtServer = Listening;

/// What the node's refusal is in SRT's terms.
fn reject_code(kind: RefusedKind) -> RejectCode {
    match kind {
        RefusedKind::Unauthorized => RejectCode::Unauthorized,
        RefusedKind::Conflict => RejectCode::Conflict,
        RefusedKind::Overloaded | RefusedKind::Unavailable => RejectCode::Overload,
        RefusedKind::Invalid => RejectCode::BadRequest,
        _ => RejectCode::Internal,
    }
}

fn reject_reason(code: RejectCode) -> RejectReason {
    RejectReason::Server(match code {
        RejectCode::BadRequest => ServerRejectReason::BadRequest,
        RejectCode::Unauthorized => ServerRejectReason::Unauthorized,
        RejectCode::Overload => ServerRejectReason::Overload,
        RejectCode::Forbidden => ServerRejectReason::Forbidden,
        RejectCode::BadMode => ServerRejectReason::BadMode,
        RejectCode::Conflict => ServerRejectReason::Conflict,
        RejectCode::NotSupportedMedia => ServerRejectReason::NotSupMedia,
        RejectCode::Internal => ServerRejectReason::InternalServerError,
    })
}

/// Listen for SRT publishers on `config.bind`, publishing into the node behind `api` with
/// `options` (priorities, DVR), continuing broadcasts' time lines from `resumes`.
pub async fn serve(
    config: Config,
    api: LocalApi,
    options: Options,
    resumes: Resumes,
) -> io::Result<SrtServer> {
    for k in &config.keys {
        k.check()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    }
    let socket = tokio::net::UdpSocket::bind(config.bind).await?;
    let local_addr = socket.local_addr()?;
    let (listener, mut incoming) = SrtListener::builder()
        .latency(config.latency)
        .socket(socket)
        .bind(local_addr)
        .await?;
    let config = Arc::new(config);
    let active = Arc::new(AtomicUsize::new(0));
    let refusals = Arc::new(RefusalLog::default());
    let task = tokio::spawn(async move {
        let _listener = listener;
        let mut publishers = tokio::task::JoinSet::new();
        while let Some(request) = incoming.incoming().next().await {
            // Reap finished publishers so the set stays as large as the live ones.
            while publishers.try_join_next().is_some() {}
            let peer = request.remote();
            let sid = request.stream_id().map(|s| s.as_str().to_owned());
            let admitted = match admit(sid.as_deref(), &config, &config.stream_keys.current()) {
                Ok(a) => a,
                Err(r) => {
                    if let Some(n) = refusals.log(peer.ip(), Instant::now()) {
                        tracing::warn!(%peer, code = r.code.code(), "srt: refused {peer} ({}): {}{}", r.code.name(), r.reason, more(n));
                    }
                    let _ = request.reject(reject_reason(r.code)).await;
                    continue;
                }
            };
            if active.load(Ordering::Relaxed) >= config.max_publishers {
                let code = RejectCode::Overload;
                if let Some(n) = refusals.log(peer.ip(), Instant::now()) {
                    tracing::warn!(%peer, code = code.code(), "srt: refused {peer} ({}): {} publishers already, the most [srt] max_publishers allows{}", code.name(), config.max_publishers, more(n));
                }
                let _ = request.reject(reject_reason(code)).await;
                continue;
            }
            let slot = Slot::take(&active);
            let (api, resumes) = (api.clone(), resumes.clone());
            let refusals = refusals.clone();
            publishers.spawn(async move {
                let _slot = slot;
                publish(request, admitted, api, options, resumes, &refusals).await;
            });
        }
    });
    Ok(Listening::new(local_addr, task))
}

/// One caller: asked of the node, accepted or refused, then its MPEG-TS into the broadcast
/// until it leaves.
async fn publish(
    request: srt_tokio::ConnectionRequest,
    admitted: Admitted,
    api: LocalApi,
    options: Options,
    resumes: Resumes,
    refusals: &RefusalLog,
) {
    let peer = request.remote();
    let path = admitted.stream_id.resource.clone();
    // A caller its stream key admitted publishes under the key's identity.
    let (api, with_key) = match &admitted.stream_key {
        Some(k) => (api.vouched(k.identity.clone()), k.describe()),
        None => (api, String::new()),
    };
    let credentials = Credentials {
        peer,
        token: admitted.stream_id.token.clone(),
        via: "srt",
        member: false,
    };
    let announced =
        Feed::announce(&api, &credentials, &path, options, &resumes, Instant::now()).await;
    let mut feed = match announced {
        Ok(f) => f,
        Err(e) => {
            let code = match &e {
                FeedError::Refused(r) => reject_code(r.kind),
                _ => RejectCode::Internal,
            };
            if let Some(n) = refusals.log(peer.ip(), Instant::now()) {
                tracing::warn!(%peer, code = code.code(), "srt: refused {peer} publishing {path} ({}): {e}{}", code.name(), more(n));
            }
            let _ = request.reject(reject_reason(code)).await;
            return;
        }
    };
    let key = admitted.key.as_ref().map(|k| KeySettings {
        key_size: match k.key_length {
            Some(16) => KeySize::AES128,
            Some(24) => KeySize::AES192,
            Some(32) => KeySize::AES256,
            _ => KeySize::Unspecified,
        },
        passphrase: Passphrase::from(k.passphrase.as_str()),
    });
    let encrypted = key.is_some();
    let mut socket = match request.accept(key).await {
        Ok(s) => s,
        Err(_) => {
            // The handshake failed after the node said yes: the crypto did not match.
            if let Some(n) = refusals.log(peer.ip(), Instant::now()) {
                tracing::warn!(
                    %peer,
                    "srt: refused {peer} publishing {path}: {}{}",
                    if encrypted {
                        "wrong or missing passphrase, or a key length the path does not allow"
                    } else {
                        "it encrypts, and this path has no passphrase"
                    },
                    more(n)
                );
            }
            return;
        }
    };
    tracing::info!(%peer, latency_ms = socket.settings().recv_tsbpd_latency.as_millis() as u64, "srt: {peer} publishes {path}{with_key}");
    let mut ingest = TsIngest::new(Limits::default());
    let clean = loop {
        match socket.next().await {
            Some(Ok((_, data))) => {
                if let Err(e) = ingest.push(&data) {
                    tracing::warn!(%peer, "srt: closing {peer} publishing {path}: {e}");
                    break false;
                }
                if let Err(e) = feed.events(|| ingest.poll()).await {
                    tracing::warn!(%peer, "srt: closing {peer} publishing {path}: {e}");
                    break false;
                }
            }
            Some(Err(e)) => {
                tracing::info!(%peer, "srt: {peer} publishing {path} lost: {e}");
                break false;
            }
            None => break true,
        }
    };
    if clean {
        if ingest.finish().is_ok() {
            let _ = feed.events(|| ingest.poll()).await;
        }
        tracing::info!(%peer, "srt: {peer} finished publishing {path}");
        feed.finish(Instant::now());
    } else {
        feed.lost(Instant::now());
    }
}
