//! [`Client`]: connect to `https://` (WebTransport) and `moqt://` (raw QUIC) MoQ servers.
//!
//! Failures come back as a [`ConnectError`] whose variants a CLI can print as they are:
//! unreachable, untrusted certificate, protocol refused, bad URL.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use url::Url;
use web_transport_quinn as wtq;

use crate::config::{ALPN_H3, ClientConfig};
pub use crate::error::ConnectError;
use crate::session::Session;
use crate::verify;

/// A client endpoint (one UDP socket) that can open many sessions.
#[derive(Debug)]
pub struct Client {
    endpoint: quinn::Endpoint,
    raw: quinn::ClientConfig,
    web_transport: quinn::ClientConfig,
    config: ClientConfig,
}

impl Client {
    /// Bind the UDP socket and build the TLS settings. Needs a tokio runtime.
    pub fn new(config: ClientConfig) -> Result<Self, ConnectError> {
        let endpoint = quinn::Endpoint::client(config.bind)
            .or_else(|first| {
                let v4 = SocketAddr::from(([0, 0, 0, 0], config.bind.port()));
                quinn::Endpoint::client(v4).map_err(|_| first)
            })
            .map_err(|e| ConnectError::Config {
                reason: format!("cannot bind {}: {e}", config.bind),
            })?;
        let transport = Arc::new(config.transport.to_quinn());
        let quic = |alpn: Vec<Vec<u8>>| -> Result<quinn::ClientConfig, ConnectError> {
            let mut tls = verify::tls_config(&config)?;
            tls.alpn_protocols = alpn;
            let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(|e| {
                ConnectError::Config {
                    reason: e.to_string(),
                }
            })?;
            let mut quic = quinn::ClientConfig::new(Arc::new(crypto));
            quic.transport_config(transport.clone());
            Ok(quic)
        };
        let raw = quic(
            config
                .protocols
                .iter()
                .map(|p| p.as_bytes().to_vec())
                .collect(),
        )?;
        let web_transport = quic(vec![ALPN_H3.as_bytes().to_vec()])?;
        Ok(Self {
            endpoint,
            raw,
            web_transport,
            config,
        })
    }

    /// Open a session to `url`: `https://` is WebTransport offering the configured protocols
    /// in `WT-Available-Protocols`; `moqt://` is raw QUIC with them as ALPN; `ws://` is QMux
    /// over a WebSocket (subprotocol `qmux-01.moqt-18`). The whole attempt is bounded by
    /// [`ClientConfig::connect_timeout`].
    pub async fn connect(&self, url: &str) -> Result<Session, ConnectError> {
        if let Some(parsed) = Url::parse(url).ok().filter(|u| u.scheme() == "ws") {
            return crate::websocket::connect(
                &parsed,
                self.config.connect_timeout,
                &self.config.protocols,
            )
            .await;
        }
        let (parsed, web_transport, host) = parse_url(url)?;
        let port = parsed.port().unwrap_or(443);
        let started = Instant::now();
        let budget = self.config.connect_timeout;

        let addr = tokio::time::timeout(budget, self.resolve(&host, port))
            .await
            .map_err(|_| ConnectError::Resolve {
                host: host.clone(),
                reason: format!("no answer within {budget:?}"),
            })??;
        self.connect_parsed(parsed, web_transport, host, addr, started)
            .await
    }

    /// Like [`Client::connect`], to `addr` (found by the caller, for example through DNS SRV)
    /// rather than to what the system resolver says of the URL's host; the host still names
    /// the server for TLS.
    pub async fn connect_to(&self, url: &str, addr: SocketAddr) -> Result<Session, ConnectError> {
        let (parsed, web_transport, host) = parse_url(url)?;
        self.connect_parsed(parsed, web_transport, host, addr, Instant::now())
            .await
    }

    async fn connect_parsed(
        &self,
        parsed: Url,
        web_transport: bool,
        host: String,
        addr: SocketAddr,
        started: Instant,
    ) -> Result<Session, ConnectError> {
        let budget = self.config.connect_timeout;

        let quic = if web_transport {
            &self.web_transport
        } else {
            &self.raw
        };
        let connecting = self
            .endpoint
            .connect_with(quic.clone(), addr, &host)
            .map_err(|e| ConnectError::Config {
                reason: e.to_string(),
            })?;
        let left = budget.saturating_sub(started.elapsed());
        let conn = match tokio::time::timeout(left, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(from_connection(e, addr, started.elapsed())),
            Err(_) => {
                return Err(ConnectError::Unreachable {
                    addr,
                    after: started.elapsed(),
                });
            }
        };

        if !web_transport {
            let alpn = conn
                .handshake_data()
                .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
                .and_then(|d| d.protocol)
                .and_then(|p| String::from_utf8(p).ok());
            return match alpn {
                Some(p) if self.config.protocols.contains(&p) => Ok(Session::raw(conn, p)),
                other => {
                    conn.close(0u32.into(), b"no protocol");
                    Err(ConnectError::ProtocolRefused {
                        reason: format!("server negotiated ALPN {other:?}"),
                    })
                }
            };
        }

        let request = wtq::proto::ConnectRequest::new(parsed.clone())
            .with_protocols(self.config.protocols.iter().cloned());
        let left = budget.saturating_sub(started.elapsed());
        let inner =
            match tokio::time::timeout(left, wtq::Session::connect(conn.clone(), request)).await {
                Ok(Ok(inner)) => inner,
                Ok(Err(e)) => {
                    conn.close(0x100u32.into(), b"");
                    return Err(from_client(e, addr, started.elapsed()));
                }
                Err(_) => {
                    conn.close(0x100u32.into(), b"");
                    return Err(ConnectError::Lost {
                        reason: format!("no WebTransport response within {budget:?}"),
                    });
                }
            };
        match inner.protocol().map(str::to_string) {
            Some(p) if self.config.protocols.contains(&p) => Ok(Session::web_transport(inner, p)),
            other => {
                inner.close(0, b"no protocol");
                Err(ConnectError::ProtocolRefused {
                    reason: format!(
                        "offered {:?}, server selected {other:?}",
                        self.config.protocols
                    ),
                })
            }
        }
    }

    /// The local UDP address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, ConnectError> {
        let resolve_err = |reason: String| ConnectError::Resolve {
            host: host.to_string(),
            reason,
        };
        let ipv6_ok = self
            .endpoint
            .local_addr()
            .map(|a| a.is_ipv6())
            .unwrap_or(false);
        let addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| resolve_err(e.to_string()))?;
        let mut first = None;
        for addr in addrs {
            if addr.is_ipv4() || ipv6_ok {
                first = Some(addr);
                break;
            }
        }
        first.ok_or_else(|| resolve_err("no usable address".into()))
    }
}

/// The URL, whether it is WebTransport (`https`) rather than raw QUIC (`moqt`), and its host.
fn parse_url(url: &str) -> Result<(Url, bool, String), ConnectError> {
    let invalid = |reason: &str| ConnectError::InvalidUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let parsed = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
    let web_transport = match parsed.scheme() {
        "https" => true,
        "moqt" => false,
        _ => {
            return Err(invalid(
                "scheme must be https (WebTransport), moqt (raw QUIC) or ws (QMux over WebSocket)",
            ));
        }
    };
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(invalid("no host")),
    };
    Ok((parsed, web_transport, host))
}

/// Connect once with a fresh endpoint; see [`Client::connect`].
pub async fn connect(url: &str, config: &ClientConfig) -> Result<Session, ConnectError> {
    Client::new(config.clone())?.connect(url).await
}

/// TLS alert `no_application_protocol` (120) as a QUIC CRYPTO_ERROR code.
const NO_APPLICATION_PROTOCOL: u64 = 0x100 + 120;
/// QUIC transport error CONNECTION_REFUSED.
const CONNECTION_REFUSED: u64 = 0x2;

fn from_connection(err: quinn::ConnectionError, addr: SocketAddr, after: Duration) -> ConnectError {
    use quinn::ConnectionError as E;
    match err {
        E::TimedOut => ConnectError::Unreachable { addr, after },
        E::TransportError(e) if (0x100..0x200).contains(&u64::from(e.code)) => ConnectError::Tls {
            reason: e.reason.clone(),
        },
        E::ConnectionClosed(c) if u64::from(c.error_code) == NO_APPLICATION_PROTOCOL => {
            ConnectError::ProtocolRefused {
                reason: "server accepts none of the offered ALPN protocols".into(),
            }
        }
        E::ConnectionClosed(c) if u64::from(c.error_code) == CONNECTION_REFUSED => {
            ConnectError::Refused {
                reason: "connection refused (too many sessions or shutting down)".into(),
            }
        }
        E::ConnectionClosed(c) if (0x100..0x200).contains(&u64::from(c.error_code)) => {
            ConnectError::Tls {
                reason: format!("server aborted the handshake: {c}"),
            }
        }
        e => ConnectError::Lost {
            reason: e.to_string(),
        },
    }
}

fn from_client(err: wtq::ClientError, addr: SocketAddr, after: Duration) -> ConnectError {
    use wtq::ConnectError as H;
    let status = match &err {
        wtq::ClientError::HttpError(H::ErrorStatus(status))
        | wtq::ClientError::HttpError(H::ProtoError(
            wtq::proto::ConnectError::WrongStatus(Some(status))
            | wtq::proto::ConnectError::ErrorStatus(status),
        )) => Some(*status),
        _ => None,
    };
    match (status, err) {
        (Some(wtq::http::StatusCode::NOT_ACCEPTABLE), _) => ConnectError::ProtocolRefused {
            reason: "server answered 406: no offered WebTransport protocol is supported".into(),
        },
        (Some(status), _) => ConnectError::Refused {
            reason: format!("HTTP {status}"),
        },
        (None, wtq::ClientError::Connection(e))
        | (None, wtq::ClientError::HttpError(H::ConnectionError(e))) => {
            from_connection(e, addr, after)
        }
        (None, wtq::ClientError::HttpError(H::ProtocolMismatch(p))) => {
            ConnectError::ProtocolRefused {
                reason: format!("server selected {p:?}, which was not offered"),
            }
        }
        (None, e) => ConnectError::Lost {
            reason: e.to_string(),
        },
    }
}
