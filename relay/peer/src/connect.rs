//! [`Session::connect`]: the transport, the SETUP exchange, and the tasks that accept the
//! server's streams (`driver.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, oneshot};
use url::Url;

use tern_moq::message::Setup;
use tern_moq::message::codes::SessionError as Code;
use tern_moq::session::{Role, Session as Proto, StreamId, Version};
use tern_quic::{ClientConfig, Transport, TransportLimits};

use super::Error;
use super::request::SharedProto;
use super::session::{AbortOnDrop, ConnectOptions, Session};
use super::shared::Shared;

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
            ..ClientConfig::default()
        };
        let quic = tern_quic::connect(url, &config).await?;
        let mut setup = Setup::default();
        setup.set_moqt_implementation(opts.implementation.clone());
        if quic.transport() == Transport::RawQuic
            && let Some((path, authority)) = path_and_authority(url)
        {
            setup.set_path(path);
            setup.set_authority(authority);
        }
        // A failure before the peer's SETUP is a setup failure, whatever layer reports it
        // (a server that refuses the client certificate does so after the client's handshake).
        let setup_failed = |e: &dyn std::fmt::Display| {
            Error::Setup(
                quic.close_reason()
                    .map_or_else(|| e.to_string(), |r| r.to_string()),
            )
        };
        let version = Version::from_alpn(quic.protocol()).unwrap_or(Version::Draft18);
        let proto: SharedProto =
            Arc::new(Mutex::new(Proto::new(version, Role::Client, opts.limits)));
        let mut control = quic.open_uni().await.map_err(|e| setup_failed(&e))?;
        // Stream names: 0 is our control stream; the others are named as they open.
        let transmits = {
            let mut p = super::request::lock(&proto);
            p.open_control(StreamId(0), setup)
                .map_err(|e| setup_failed(&e))?;
            super::request::drain(&mut p)
        };
        // The SETUP exchange as a whole is bounded by `timeouts.setup`; so is its write.
        super::request::write_transmits(
            &mut control,
            transmits,
            "write SETUP",
            opts.timeouts.setup,
        )
        .await
        .map_err(|e| setup_failed(&e))?;
        let (setup_tx, setup_rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            quic,
            timeouts: opts.timeouts,
            proto,
            next_stream: AtomicU64::new(1),
            next_alias: AtomicU64::new(1),
            subscriptions: Mutex::new(HashMap::new()),
            alias_added: Notify::new(),
            tracks: Mutex::new(HashMap::new()),
            served: Mutex::new(HashMap::new()),
            fetches: Mutex::new(HashMap::new()),
            control: Mutex::new(Some(control)),
            setup_tx: Mutex::new(Some(setup_tx)),
            going_away: AtomicBool::new(false),
            active_sinks: AtomicUsize::new(0),
            sinks_changed: Notify::new(),
        });
        let driver = AbortOnDrop(tokio::spawn(super::driver::drive(shared.clone())));
        let peer_setup = tokio::select! {
            r = tokio::time::timeout(opts.timeouts.setup, setup_rx) => match r {
                Ok(Ok(setup)) => setup,
                Ok(Err(_)) => {
                    let why = shared.quic.close_reason().map(|e| e.to_string());
                    return Err(Error::Setup(why.unwrap_or_else(|| "control stream failed".into())));
                }
                Err(_) => {
                    shared.quic.close(Code::PROTOCOL_VIOLATION.0 as u32, "no SETUP");
                    return Err(Error::Setup(format!("none within {:?}", opts.timeouts.setup)));
                }
            },
            e = shared.quic.closed() => return Err(Error::Session(e)),
        };
        tracing::debug!(peer = ?peer_setup.moqt_implementation(), "session set up");
        Ok(Self {
            shared,
            peer_setup: Arc::new(peer_setup),
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
