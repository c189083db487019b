//! [`Session::connect`] and [`Session::over`]: the transport, then the session's driver
//! ([`crate::driver`]), which sends our SETUP and accepts the server's streams, until the
//! server's SETUP came.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, oneshot};
use url::Url;

use tern_moq::message::Setup;
use tern_moq::message::codes::SessionError as Code;
use tern_moq::session::{Role, Session as Proto, Version};
use tern_quic::{ClientConfig, Transport, TransportLimits};

use super::Error;
use super::control::Control;
use super::request::SharedProto;
use super::session::{AbortOnDrop, ConnectOptions, Session};
use super::shared::{Shared, lock};

/// PATH (path and query) and AUTHORITY (host:port) of a `moqt://` URL, for SETUP.
fn path_and_authority(url: &str) -> Option<(String, String)> {
    let u = Url::parse(url).ok()?;
    let mut path = u.path().to_owned();
    if path.is_empty() {
        path.push('/');
    }
    if let Some(q) = u.query() {
        path.push('?');
        path.push_str(q);
    }
    let host = match u.host()? {
        url::Host::Ipv6(ip) => format!("[{ip}]"),
        other => other.to_string(),
    };
    let authority = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    Some((path, authority))
}

impl Session {
    /// Connect to `url` (`https://` for WebTransport, `moqt://` for raw QUIC), send SETUP and
    /// wait for the server's.
    pub async fn connect(url: &str, opts: &ConnectOptions) -> Result<Self, Error> {
        let config = ClientConfig {
            disable_verify: opts.disable_verify,
            cert_hashes: opts.cert_hashes.clone(),
            connect_timeout: opts.connect_timeout,
            identity: opts.identity.clone(),
            transport: TransportLimits {
                idle_timeout: opts.idle_timeout,
                keep_alive: Some(opts.idle_timeout / 3),
                ..TransportLimits::default()
            },
            protocols: opts.protocols.clone(),
            ..ClientConfig::default()
        };
        let quic = tern_quic::connect(url, &config).await?;
        let mut setup = Setup::default();
        if quic.transport() == Transport::RawQuic
            && let Some((path, authority)) = path_and_authority(url)
        {
            setup.set_path(path);
            setup.set_authority(authority);
        }
        Self::establish(quic, setup, opts).await
    }

    /// A MoQ session over a transport session already established (raw QUIC, WebTransport, or
    /// one side of an in-memory pair, [`tern_quic::Session::pair`]): send SETUP and wait for
    /// the server's.
    pub async fn over(quic: tern_quic::Session, opts: &ConnectOptions) -> Result<Self, Error> {
        Self::establish(quic, Setup::default(), opts).await
    }

    async fn establish(
        quic: tern_quic::Session,
        mut setup: Setup,
        opts: &ConnectOptions,
    ) -> Result<Self, Error> {
        setup.set_moqt_implementation(opts.implementation.clone());
        let version = Version::from_alpn(quic.protocol()).unwrap_or(Version::Draft18);
        let proto: SharedProto =
            Arc::new(Mutex::new(Proto::new(version, Role::Client, opts.limits)));
        let shared = Arc::new(Shared {
            quic,
            timeouts: opts.timeouts,
            proto,
            next_stream: AtomicU64::new(0),
            next_alias: AtomicU64::new(1),
            subscriptions: Mutex::new(HashMap::new()),
            alias_added: Notify::new(),
            tracks: Mutex::new(HashMap::new()),
            served: Mutex::new(HashMap::new()),
            fetches: Mutex::new(HashMap::new()),
            our_setup: Mutex::new(Some(setup)),
            control: Control::default(),
            active_sinks: AtomicUsize::new(0),
            sinks_changed: Notify::new(),
        });
        let (ended_tx, ended_rx) = oneshot::channel();
        let driven = shared.clone();
        let shared_control = !version.has_request_streams();
        let driver = AbortOnDrop(
            tokio::spawn(async move {
                let ended = crate::driver::drive(&driven).await;
                // Wake every subscription: their request streams fail with the session's error.
                lock(&driven.subscriptions).clear();
                let _ = ended_tx.send(ended);
            }),
            shared_control.then(|| shared.quic.clone()),
        );
        // A failure before the server's SETUP is a setup failure, whatever layer reports it
        // (a server that refuses the client certificate does so after the client's handshake).
        // The driver bounds the exchange by `timeouts.setup`.
        let setup_failed = |e: &dyn std::fmt::Display| {
            Error::Setup(
                shared
                    .quic
                    .close_reason()
                    .map_or_else(|| e.to_string(), |r| r.to_string()),
            )
        };
        let peer_setup = tokio::select! {
            setup = shared.control.wait_peer_setup(opts.timeouts.setup) => match setup {
                Some(setup) => setup,
                None => {
                    shared.quic.close(Code::PROTOCOL_VIOLATION.0 as u32, "no SETUP");
                    return Err(Error::Setup(format!("none within {:?}", opts.timeouts.setup)));
                }
            },
            ended = ended_rx => return Err(match ended {
                Ok(Err(e)) => setup_failed(&e),
                _ => setup_failed(&"the session ended"),
            }),
        };
        tracing::debug!(peer = ?peer_setup.moqt_implementation(), "session set up");
        Ok(Self {
            shared,
            peer_setup,
            _driver: Arc::new(driver),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::path_and_authority;

    #[test]
    fn setup_path_and_authority_from_url() {
        assert_eq!(
            path_and_authority("moqt://relay.example:4443/live?token=x"),
            Some(("/live?token=x".into(), "relay.example:4443".into()))
        );
        assert_eq!(
            path_and_authority("moqt://[::1]:9"),
            Some(("/".into(), "[::1]:9".into()))
        );
    }
}
