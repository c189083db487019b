//! Self-signed certificates (validity, key, names, re-issue) and transport settings.

mod common;

use std::time::Duration;

use common::{bounded, client_config, server_with, url};
use tern_quic::cert::self_signed;
use tern_quic::{
    CertSource, CertStore, ConnectError, SelfSignedConfig, Transport, TransportLimits,
};
use x509_parser::extensions::GeneralName;

fn parse(der: &[u8]) -> x509_parser::certificate::X509Certificate<'_> {
    x509_parser::parse_x509_certificate(der)
        .expect("valid DER")
        .1
}

#[test]
fn self_signed_is_ecdsa_p256_for_13_days_with_local_names() {
    let issued = self_signed(&SelfSignedConfig::default()).expect("issue");
    let cert = parse(issued.leaf_der());

    let spki = &cert.public_key().algorithm;
    assert_eq!(
        spki.algorithm.to_id_string(),
        "1.2.840.10045.2.1",
        "ecPublicKey"
    );
    let curve = spki
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .expect("curve");
    assert_eq!(curve.to_id_string(), "1.2.840.10045.3.1.7", "P-256");
    assert_eq!(
        cert.signature_algorithm.algorithm.to_id_string(),
        "1.2.840.10045.4.3.2"
    );

    let validity = cert.validity();
    let span = validity.not_after.timestamp() - validity.not_before.timestamp();
    assert_eq!(
        span,
        13 * 24 * 3600,
        "13 days, under Chromium's 14-day limit"
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let backdated = now - validity.not_before.timestamp();
    assert!(
        (3500..=3700).contains(&backdated),
        "not_before about an hour ago: {backdated}"
    );

    let san = cert
        .subject_alternative_name()
        .expect("san ok")
        .expect("san present");
    let names: Vec<String> = san
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => d.to_string(),
            GeneralName::IPAddress(ip) => match ip.len() {
                4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*ip).expect("v4")).to_string(),
                _ => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*ip).expect("v6")).to_string(),
            },
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["localhost", "127.0.0.1", "::1"]);
    assert_eq!(
        issued.fingerprint,
        tern_quic::Fingerprint::of(issued.leaf_der())
    );
}

fn quick_reissue() -> SelfSignedConfig {
    let validity = Duration::from_secs(13 * 24 * 3600);
    SelfSignedConfig {
        validity,
        backdate: Duration::ZERO,
        // Due 300 ms after issue.
        renew_before: validity - Duration::from_millis(300),
        ..SelfSignedConfig::default()
    }
}

#[tokio::test]
async fn store_reissues_before_expiry() {
    let (store, task) = CertStore::new(CertSource::SelfSigned(quick_reissue())).expect("store");
    assert!(task.is_some());
    let first = store.fingerprint();
    let mut watch = store.watch();
    bounded("re-issue", watch.changed())
        .await
        .expect("watch open");
    let second = *watch.borrow_and_update();
    assert_ne!(first, second);
    assert_eq!(store.fingerprint(), second);
    let served = store.current();
    let leaf = served.end_entity_cert().expect("leaf");
    assert_eq!(tern_quic::Fingerprint::of(leaf), second);
    // Dropping the task stops re-issuing.
    drop(task);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(store.fingerprint(), second);
}

#[tokio::test]
async fn server_serves_the_reissued_certificate() {
    let mut server = server_with(|c| c.cert = CertSource::SelfSigned(quick_reissue()));
    let old = client_config(&server);
    let mut watch = server.certs().watch();
    bounded("re-issue", watch.changed())
        .await
        .expect("watch open");
    let target = url(&server, Transport::WebTransport, "/");
    let err = bounded("old pin", tern_quic::connect(&target, &old))
        .await
        .expect_err("old pin");
    assert!(matches!(err, ConnectError::Tls { .. }), "{err:?}");
    let fresh = client_config(&server);
    let (client, incoming) = bounded("new pin", async {
        tokio::join!(tern_quic::connect(&target, &fresh), server.accept())
    })
    .await;
    client.expect("new pin connects");
    incoming.expect("accepted");
}

#[test]
fn contradictory_reissue_settings_are_refused() {
    let config = SelfSignedConfig {
        renew_before: Duration::from_secs(14 * 24 * 3600),
        ..Default::default()
    };
    assert!(CertStore::new(CertSource::SelfSigned(config)).is_err());
}

fn field<'a>(debug: &'a str, name: &str) -> &'a str {
    let start = debug
        .find(&format!(" {name}: "))
        .unwrap_or_else(|| panic!("{name} in {debug}"));
    let rest = &debug[start + name.len() + 3..];
    &rest[..rest.find(", ").unwrap_or(rest.len())]
}

#[tokio::test]
async fn every_window_is_set_from_transport_limits() {
    let limits = TransportLimits {
        stream_receive_window: 123_457,
        receive_window: 2_345_679,
        send_window: 3_456_791,
        max_concurrent_bidi_streams: 17,
        max_concurrent_uni_streams: 29,
        datagram_receive_buffer_size: 45_679,
        datagram_send_buffer_size: 56_791,
        idle_timeout: Duration::from_secs(7),
        keep_alive: Some(Duration::from_secs(3)),
        ..TransportLimits::default()
    };
    let server = server_with(|c| c.transport = limits.clone());
    let debug = format!("{:?}", server.transport_config());
    assert!(
        field(&debug, "stream_receive_window").contains("123457"),
        "{debug}"
    );
    assert!(
        field(&debug, "receive_window").contains("2345679"),
        "{debug}"
    );
    assert!(field(&debug, "send_window").contains("3456791"), "{debug}");
    assert!(
        field(&debug, "max_concurrent_bidi_streams").contains("17"),
        "{debug}"
    );
    assert!(
        field(&debug, "max_concurrent_uni_streams").contains("29"),
        "{debug}"
    );
    assert!(
        field(&debug, "datagram_receive_buffer_size").contains("45679"),
        "{debug}"
    );
    assert!(
        field(&debug, "datagram_send_buffer_size").contains("56791"),
        "{debug}"
    );
    assert!(
        field(&debug, "max_idle_timeout").contains("7000"),
        "{debug}"
    );
    assert!(
        field(&debug, "keep_alive_interval").contains("3s"),
        "{debug}"
    );
}

#[tokio::test]
async fn limits_reach_the_wire() {
    // The server allows one uni stream at a time and no datagrams: the client sees both.
    let mut server = server_with(|c| {
        c.transport.max_concurrent_uni_streams = 1;
        c.transport.datagram_receive_buffer_size = 0;
    });
    let config = client_config(&server);
    let target = url(&server, Transport::RawQuic, "/");
    let (client, incoming) = bounded("connect", async {
        tokio::join!(tern_quic::connect(&target, &config), server.accept())
    })
    .await;
    let (client, _incoming) = (client.expect("client"), incoming.expect("accepted"));
    assert_eq!(client.max_datagram_size(), 0);
    let _first = bounded("first uni", client.open_uni())
        .await
        .expect("first");
    let second = tokio::time::timeout(Duration::from_millis(300), client.open_uni()).await;
    assert!(
        second.is_err(),
        "a second uni stream must wait for the peer's limit"
    );
}
