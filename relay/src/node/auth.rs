//! [`SessionAuth`]: what the edge plugin decided about one session (its claims once admitted,
//! the URL its token may ride on, the session's budget of per-request token checks, its marked
//! subscriptions). The plugin's phases ([`super::plugin`]) fill it; requests wait on it.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use url::Url;

use tern_edge_wasm::Claims;

/// Per-request token checks (plugin calls) one session may start at once, and then per
/// second; a token the plugin's cache admits costs none.
const TOKEN_CHECK_BURST: f64 = 20.0;
const TOKEN_CHECKS_PER_SECOND: f64 = 10.0;

/// What the plugin decided about a session, once it has.
#[derive(Debug, Default)]
pub struct SessionAuth {
    pub(super) url: Mutex<Option<Url>>,
    claims: OnceLock<Option<Claims>>,
    settled: Notify,
    /// The peer named itself a relay (a hop list): it gets watermark variants unmarked.
    relay: std::sync::atomic::AtomicBool,
    /// Marked subscriptions of the session, for Joining FETCH.
    pub markings: super::watermark::marking::Markings,
    /// The session's budget of per-request token checks (full until first used).
    token_checks: Mutex<Option<tern_quic::TokenBucket>>,
    /// The subject the plugin last authorised a publish of, until the router is told.
    pub(super) publisher: Mutex<Option<String>>,
    /// How long a request waits for the session's admission.
    wait: Duration,
}

impl SessionAuth {
    /// Nothing decided yet; a request waits at most `wait` for the session's admission.
    pub fn new(wait: Duration) -> Self {
        Self {
            wait,
            ..Self::default()
        }
    }

    /// Remember the WebTransport URL (its query may carry `?jwt=`).
    pub fn set_url(&self, url: Option<Url>) {
        *self.url.lock().unwrap_or_else(|e| e.into_inner()) = url;
    }

    /// The peer is a tern relay below this one (it sent a hop list naming itself).
    pub fn set_relay(&self) {
        self.relay.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Take one per-request token check from the session's budget at `now`; `false` when it
    /// is spent (a burst of [`TOKEN_CHECK_BURST`], refilled at [`TOKEN_CHECKS_PER_SECOND`]).
    pub(super) fn take_token_check(&self, now: std::time::Instant) -> bool {
        let mut checks = self.token_checks.lock().unwrap_or_else(|e| e.into_inner());
        checks
            .get_or_insert_with(|| {
                tern_quic::TokenBucket::full(TOKEN_CHECKS_PER_SECOND, TOKEN_CHECK_BURST, now)
            })
            .take(now)
    }

    /// The subject of the publish the plugin just authorised, if it was one (taken once).
    pub fn take_publisher(&self) -> Option<String> {
        self.publisher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Whether the peer named itself a relay.
    pub fn is_relay(&self) -> bool {
        self.relay.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(super) fn settle(&self, claims: Option<Claims>) {
        let _ = self.claims.set(claims);
        self.settled.notify_waiters();
    }

    /// The session's claims once admitted; `None` when refused or not settled in time.
    pub(super) async fn claims(&self) -> Option<Claims> {
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if let Some(claims) = self.claims.get() {
                return claims.clone();
            }
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                return None;
            }
        }
    }
}
