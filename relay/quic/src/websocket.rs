//! QMux over a WebSocket (draft-ietf-quic-qmux; moq-dev's `qmux` crate): QUIC's streams, their
//! flow control and their reset and stop codes carried over one WebSocket, for browsers whose
//! WebTransport does not work (Safari, older Firefox). The same MoQ session runs over it as over
//! QUIC; it has no datagrams and no TLS identity of its own (the HTTPS listener has one).

use std::net::SocketAddr;
use std::time::Duration;

/// The WebSocket subprotocols a MoQ session is accepted on, most preferred first: QMux draft-01
/// carrying drafts 22, 20 and 18 (the working group ties moq-transport 18 and later to qmux-01).
pub const SUBPROTOCOLS: &[&str] = &["qmux-01.moqt-22", "qmux-01.moqt-20", "qmux-01.moqt-18"];

/// The MoQ protocol a WebSocket subprotocol carries (`qmux-01.moqt-18` → `moqt-18`).
pub fn moq_protocol(subprotocol: &str) -> Option<&str> {
    SUBPROTOCOLS
        .contains(&subprotocol)
        .then(|| subprotocol.split_once('.').map(|(_, moq)| moq))
        .flatten()
}

/// The subprotocol to answer a WebSocket upgrade offering `offered` (its
/// `Sec-WebSocket-Protocol` values) with: the first of [`SUBPROTOCOLS`] offered whose MoQ
/// protocol is one of `protocols` (the listener's).
pub fn choose_subprotocol<'a>(
    offered: impl IntoIterator<Item = &'a str>,
    protocols: &[String],
) -> Option<&'static str> {
    let offered: Vec<&str> = offered.into_iter().map(str::trim).collect();
    SUBPROTOCOLS.iter().copied().find(|s| {
        offered.contains(s) && moq_protocol(s).is_some_and(|p| protocols.iter().any(|q| q == p))
    })
}

/// The most bytes one WebSocket message (one QMux record) may hold.
const MAX_MESSAGE: usize = 1 << 20;

/// The WebSocket settings of both ends: messages of at most [`MAX_MESSAGE`].
fn ws_config() -> qmux::ws::tungstenite::protocol::WebSocketConfig {
    qmux::ws::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// QMux's windows and stream limits, set as the QUIC transport's are
/// ([`TransportLimits`](crate::TransportLimits)): a WebSocket session holds what a QUIC one does.
fn session_config() -> qmux::Config {
    let limits = crate::TransportLimits::default();
    let mut c = qmux::Config::default();
    c.max_streams_bidi = u64::from(limits.max_concurrent_bidi_streams);
    c.max_streams_uni = u64::from(limits.max_concurrent_uni_streams);
    c.max_data = u64::from(limits.receive_window);
    c.max_stream_data_bidi_local = u64::from(limits.stream_receive_window);
    c.max_stream_data_bidi_remote = u64::from(limits.stream_receive_window);
    c.max_stream_data_uni = u64::from(limits.stream_receive_window);
    c.max_idle_timeout = u64::try_from(limits.idle_timeout.as_millis()).unwrap_or(u64::MAX);
    // No datagrams over a WebSocket session (objects go on streams).
    c.max_datagram_frame_size = 0;
    c
}

/// The server side of an upgraded WebSocket (`io`, after the 101 answer naming `subprotocol`)
/// from `remote`, holding its admission `slot` while it lives: a MoQ session over QMux.
pub async fn accept<T>(
    io: T,
    subprotocol: &str,
    remote: SocketAddr,
    slot: Option<crate::SessionSlot>,
) -> crate::Session
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let session = over(io, subprotocol, remote, true).await;
    match slot {
        Some(slot) => session.hold(slot.0),
        None => session,
    }
}

/// The client side of a WebSocket (`io`) whose upgrade was answered with `subprotocol`: a MoQ
/// session over QMux to `remote`.
pub async fn connect_io<T>(io: T, subprotocol: &str, remote: SocketAddr) -> crate::Session
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    over(io, subprotocol, remote, false).await
}

/// A MoQ session over QMux on the WebSocket `io`, as its server or its client.
async fn over<T>(io: T, subprotocol: &str, remote: SocketAddr, server: bool) -> crate::Session
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use qmux::ws::tokio_tungstenite::WebSocketStream;
    use qmux::ws::tungstenite::protocol::Role;
    let role = if server { Role::Server } else { Role::Client };
    let ws = WebSocketStream::from_raw_socket(io, role, Some(ws_config())).await;
    let upgraded = qmux::ws::Upgraded::new(ws)
        .with_alpn(subprotocol)
        .with_keep_alive(qmux::ws::KeepAlive::default())
        .with_session_config(session_config());
    let session = if server {
        upgraded.accept()
    } else {
        upgraded.connect()
    };
    let protocol = moq_protocol(subprotocol).unwrap_or(crate::MOQT_18);
    crate::Session::web_socket(session, protocol, remote)
}

/// Open a MoQ session over QMux on a WebSocket to `url` (`ws://host:port/path`), within
/// `budget`.
pub(crate) async fn connect(
    url: &url::Url,
    budget: Duration,
    protocols: &[String],
) -> Result<crate::Session, crate::ConnectError> {
    use crate::ConnectError;
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let remote = tokio::time::timeout(budget, tokio::net::lookup_host((host.as_str(), port)))
        .await
        .map_err(|_| ConnectError::Resolve {
            host: host.clone(),
            reason: format!("no answer within {budget:?}"),
        })?
        .map_err(|e| ConnectError::Resolve {
            host: host.clone(),
            reason: e.to_string(),
        })?
        .next()
        .ok_or_else(|| ConnectError::Resolve {
            host: host.clone(),
            reason: "no address".into(),
        })?;
    let mut client = qmux::ws::Client::new();
    for p in protocols {
        client = client.with_protocol(p, &[qmux::Version::QMux01]);
    }
    let client = client
        .require_protocol()
        .with_config(ws_config())
        .with_keep_alive(qmux::ws::KeepAlive::default())
        .with_session_config(session_config());
    let session = match tokio::time::timeout(budget, client.connect(url.as_str())).await {
        Err(_) => {
            return Err(ConnectError::Lost {
                reason: format!("no WebSocket session with {remote} within {budget:?}"),
            });
        }
        Ok(Err(qmux::Error::InvalidProtocol(p))) => {
            return Err(ConnectError::ProtocolRefused {
                reason: format!("offered {}, answered {p:?}", SUBPROTOCOLS.join(", ")),
            });
        }
        Ok(Err(e)) => {
            return Err(ConnectError::Refused {
                reason: e.to_string(),
            });
        }
        Ok(Ok(s)) => s,
    };
    let protocol = web_transport_trait::Session::protocol(&session)
        .and_then(|p| protocols.iter().find(|q| p.ends_with(q.as_str())))
        .or(protocols.first())
        .map_or(crate::MOQT_18, String::as_str)
        .to_owned();
    Ok(crate::Session::web_socket(session, &protocol, remote))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subprotocols_name_the_draft_they_carry() {
        assert_eq!(moq_protocol("qmux-01.moqt-18"), Some("moqt-18"));
        assert_eq!(moq_protocol("qmux-00.moqt-18"), None);
        assert_eq!(moq_protocol("moqt-18"), None);
        let all: Vec<String> = crate::MOQT_PROTOCOLS
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            choose_subprotocol(["qmux-00.moqt-14", " qmux-01.moqt-18"], &all),
            Some("qmux-01.moqt-18")
        );
        assert_eq!(
            choose_subprotocol(["qmux-01.moqt-18", "qmux-01.moqt-22"], &all),
            Some("qmux-01.moqt-22")
        );
        assert_eq!(
            choose_subprotocol(["qmux-01.moqt-22"], &["moqt-18".to_string()]),
            None
        );
        assert_eq!(choose_subprotocol(["qmux-01", "webtransport"], &all), None);
    }
}
