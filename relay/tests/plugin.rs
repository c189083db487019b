//! The edge plugin in a real relay over QUIC: the token plugin admits sessions at SETUP, scopes
//! every downstream request on its own, closes sessions at token expiry; a failing plugin fails
//! closed while admitted sessions keep receiving.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tern_edge_wasm::testing::{TEST_SECRET, plugin, token_config};
use tern_edge_wasm::{Alg, HostConfig, Mint, PluginHost, mint};
use tern_moq::message::codes::{RequestErrorCode, SessionError as Code};
use tern_moq::message::{AuthToken, Parameters, PublishNamespace, Setup};
use tern_moq::{Location, Message, Version};
use tern_quic::{SessionError, TransportLimits};
use tern_relay::node::Node;

use support::*;

async fn relay_with(name: &str, config: String) -> Node {
    let mut host = HostConfig::new(plugin(name));
    host.config = config;
    host.reload_interval = None;
    relay_with_host(start_host(host).await)
}

async fn start_host(config: HostConfig) -> Arc<PluginHost> {
    let host = tokio::task::spawn_blocking(move || PluginHost::start(config))
        .await
        .unwrap()
        .expect("plugin starts");
    Arc::new(host)
}

fn relay_with_host(host: Arc<PluginHost>) -> Node {
    let (router, mut settings) = default_settings();
    settings.plugin = Some(host);
    start_relay(router, settings)
}

async fn token_relay() -> Node {
    relay_with("token", token_config(0)).await
}

fn token(publish: &[&str], subscribe: &[&str], valid_for: Duration) -> String {
    mint(&Mint {
        publish: publish.iter().map(|s| s.to_string()).collect(),
        subscribe: subscribe.iter().map(|s| s.to_string()).collect(),
        valid_for,
        ..token_mint()
    })
    .unwrap()
}

/// `moqt://` URL whose SETUP PATH carries `?jwt=`.
fn jwt_url(node: &Node, token: &str) -> String {
    format!("{}/live?jwt={token}", url(node))
}

const HOUR: Duration = Duration::from_secs(3600);

fn code_of(error: SessionError) -> u32 {
    match error {
        SessionError::Closed { code, .. } => code,
        other => panic!("session ended without a close code: {other}"),
    }
}

#[tokio::test]
async fn every_subscriber_is_authorised_on_its_own() {
    let node = token_relay().await;
    let publisher = Publisher::start(
        &jwt_url(&node, &token(&["live/room"], &[], HOUR)),
        "live/room",
    )
    .await;
    let viewer = Peer::connect(&jwt_url(&node, &token(&[], &["live/room"], HOUR))).await;
    let (_sub, _) = viewer.subscribe_ok("live/room", "video", None).await;
    let upstream = publisher.subscribed().await;
    let payloads = [Bytes::from_static(b"zero"), Bytes::from_static(b"one")];
    publisher
        .peer
        .write_group(upstream.alias, 0, &payloads)
        .await;
    let got = viewer.objects(2, STEP).await;
    assert_eq!(got[0], (Location::new(0, 0), payloads[0].clone()));

    // The relay holds the track upstream already; a viewer scoped to `live/roomX` still gets no
    // `live/room`, and neither does one without a token scope.
    for scopes in [&["live/roomX"][..], &["live/room/other"][..], &[][..]] {
        let other = Peer::connect(&jwt_url(&node, &token(&[], scopes, HOUR))).await;
        let (_req, answer) = other.subscribe("live/room", "video", None).await;
        let error = answer.expect_err("subscribed out of scope");
        assert_eq!(
            error.error_code,
            RequestErrorCode::UNAUTHORIZED,
            "{scopes:?}"
        );
        assert!(
            other
                .drain_objects(Duration::from_millis(200))
                .await
                .is_empty()
        );
    }
    assert_eq!(
        publisher
            .subscribes
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );

    // Publishing needs a publish scope.
    let mut req = viewer
        .request(PublishNamespace {
            request_id: viewer.request_id(),
            track_namespace: ns("live/room"),
            parameters: Parameters::new(),
        })
        .await;
    match req.next().await {
        Some(Message::RequestError(e)) => assert_eq!(e.error_code, RequestErrorCode::UNAUTHORIZED),
        other => panic!("PUBLISH_NAMESPACE out of scope: {other:?}"),
    }
}

#[tokio::test]
async fn tokens_are_read_from_setup_and_from_the_webtransport_url() {
    let node = token_relay().await;
    let mut setup = Setup::default();
    setup.push_authorization_token(&AuthToken::UseValue {
        token_type: 0,
        token_value: Bytes::from(token(&["live/a"], &[], HOUR)),
    });
    let peer = Peer::connect_setup(&url(&node), TransportLimits::default(), true, setup).await;
    let _announced = peer.publish_namespace("live/a").await;

    let web = format!(
        "https://127.0.0.1:{}/live?jwt={}",
        node.addr.port(),
        token(&["live/b"], &[], HOUR)
    );
    let peer = Peer::connect(&web).await;
    let _announced = peer.publish_namespace("live/b").await;
    let refused = Peer::connect(&format!("https://127.0.0.1:{}/live", node.addr.port())).await;
    assert_eq!(
        code_of(refused.closed(STEP).await),
        Code::UNAUTHORIZED.0 as u32
    );
}

#[tokio::test]
async fn sessions_without_a_valid_token_are_closed_at_setup() {
    let node = token_relay().await;
    let expired = mint(&Mint {
        now: SystemTime::now() - HOUR,
        ..token_mint()
    })
    .unwrap();
    let wrong_aud = mint(&Mint {
        audience: "elsewhere".into(),
        ..token_mint()
    })
    .unwrap();
    // Over the plugin's 4 KiB maximum but within the relay's control message limit (16 KiB by
    // default): the plugin refuses it on its size alone. Past that limit the SETUP itself is
    // refused before any plugin runs.
    let oversized = "a".repeat(8 << 10);
    let huge = "a".repeat(20 << 10);
    let cases = [
        ("no token", url(&node), Code::UNAUTHORIZED),
        (
            "expired",
            jwt_url(&node, &expired),
            Code::EXPIRED_AUTH_TOKEN,
        ),
        (
            "wrong audience",
            jwt_url(&node, &wrong_aud),
            Code::UNAUTHORIZED,
        ),
        (
            "8 KiB ?jwt=",
            jwt_url(&node, &oversized),
            Code::MALFORMED_AUTH_TOKEN,
        ),
        (
            "64 KiB ?jwt=",
            jwt_url(&node, &huge),
            Code::PROTOCOL_VIOLATION,
        ),
    ];
    for (name, url, code) in cases {
        let peer = Peer::connect(&url).await;
        assert_eq!(code_of(peer.closed(STEP).await), code.0 as u32, "{name}");
    }
}

fn token_mint() -> Mint {
    Mint {
        alg: Alg::Hs256,
        key: TEST_SECRET.as_bytes().to_vec(),
        kid: Some("hs".into()),
        subject: "tester".into(),
        audience: "tern-relay".into(),
        issuer: "ops".into(),
        publish: Vec::new(),
        subscribe: vec!["live".into()],
        now: SystemTime::now(),
        valid_for: HOUR,
    }
}

#[tokio::test]
async fn a_session_is_closed_within_a_second_of_its_token_expiry() {
    let node = token_relay().await;
    let now = SystemTime::now();
    let exp_s = now.duration_since(UNIX_EPOCH).unwrap().as_secs() + 2;
    let token = mint(&Mint {
        now,
        valid_for: Duration::from_secs(2),
        ..token_mint()
    })
    .unwrap();
    let peer = Peer::connect(&jwt_url(&node, &token)).await;
    let error = peer.closed(Duration::from_secs(5)).await;
    let closed_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert_eq!(code_of(error), Code::EXPIRED_AUTH_TOKEN.0 as u32);
    let late = closed_ms.saturating_sub(exp_s * 1000);
    println!("closed {late} ms after exp");
    assert!(closed_ms + 50 >= exp_s * 1000, "closed before exp");
    assert!(late < 1000, "closed {late} ms after exp");
}

#[tokio::test]
async fn a_failing_plugin_fails_closed_and_admitted_sessions_keep_receiving() {
    // The testbed admits any token but traps on `panic` and spins on `loop`.
    let node = relay_with("testbed", "{}".into()).await;
    let publisher = Publisher::start(&format!("{}/?jwt=ok", url(&node)), "live/room").await;
    let viewer = Peer::connect(&format!("{}/?jwt=ok", url(&node))).await;
    let (_sub, _) = viewer.subscribe_ok("live/room", "video", None).await;
    let upstream = publisher.subscribed().await;
    for (group, bad) in ["panic", "loop", "recurse"].into_iter().enumerate() {
        let refused = Peer::connect(&format!("{}/?jwt={bad}", url(&node))).await;
        assert_eq!(
            code_of(refused.closed(STEP).await),
            Code::UNAUTHORIZED.0 as u32,
            "{bad}"
        );
        let payload = Bytes::from(format!("group {group}"));
        publisher
            .peer
            .write_group(upstream.alias, group as u64, std::slice::from_ref(&payload))
            .await;
        let got = viewer.objects(1, STEP).await;
        assert_eq!(
            got,
            [(Location::new(group as u64, 0), payload)],
            "after {bad}"
        );
    }
}

#[tokio::test]
async fn a_reloaded_plugin_serves_new_sessions_and_live_ones_stay() {
    let dir = std::env::temp_dir().join(format!("tern-relay-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("plugin.wasm");
    std::fs::copy(plugin("template"), &file).unwrap();
    let mut config = HostConfig::new(&file);
    config.reload_interval = Some(Duration::from_millis(20));
    let host = start_host(config).await;
    tokio::spawn(host.clone().watch());
    let node = relay_with_host(host.clone());

    // The template admits anything, even `panic`.
    let publisher = Publisher::start(&format!("{}/?jwt=panic", url(&node)), "live/room").await;
    let viewer = Peer::connect(&url(&node)).await;
    let (_sub, _) = viewer.subscribe_ok("live/room", "video", None).await;
    let upstream = publisher.subscribed().await;
    let first = Bytes::from_static(b"before reload");
    publisher
        .peer
        .write_group(upstream.alias, 0, std::slice::from_ref(&first))
        .await;
    assert_eq!(
        viewer.objects(1, STEP).await,
        [(Location::new(0, 0), first)]
    );

    // Deploy the testbed over it: new sessions meet the new version (which traps on `panic`).
    let next = dir.join("next.wasm");
    std::fs::copy(plugin("testbed"), &next).unwrap();
    std::fs::rename(&next, &file).unwrap();
    within(STEP, "reload", async {
        while host.generation() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let refused = Peer::connect(&format!("{}/?jwt=panic", url(&node))).await;
    assert_eq!(
        code_of(refused.closed(STEP).await),
        Code::UNAUTHORIZED.0 as u32
    );

    // The sessions admitted before the reload are still up and receiving.
    let second = Bytes::from_static(b"after reload");
    publisher
        .peer
        .write_group(upstream.alias, 1, std::slice::from_ref(&second))
        .await;
    assert_eq!(
        viewer.objects(1, STEP).await,
        [(Location::new(1, 0), second)]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn with_token(token: &str) -> Parameters {
    let mut parameters = Parameters::new();
    parameters.push_authorization_token(&AuthToken::UseValue {
        token_type: 0,
        token_value: Bytes::copy_from_slice(token.as_bytes()),
    });
    parameters
}

#[tokio::test]
async fn a_per_request_token_stands_for_that_request() {
    let node = token_relay().await;
    let _publisher = Publisher::start(
        &jwt_url(&node, &token(&["live/room"], &[], HOUR)),
        "live/room",
    )
    .await;
    // The session's own token grants nothing to subscribe to.
    let viewer = Peer::connect(&jwt_url(&node, &token(&[], &["live/other"], HOUR))).await;
    let (_, _req, answer) = viewer
        .subscribe_with("live/room", "video", Parameters::new())
        .await;
    assert_eq!(
        answer.unwrap_err().error_code,
        RequestErrorCode::UNAUTHORIZED
    );

    let granted = token(&[], &["live/room"], HOUR);
    let (_, _req, answer) = viewer
        .subscribe_with("live/room", "video", with_token(&granted))
        .await;
    answer.expect("a request token scoped to live/room admits the SUBSCRIBE");

    let expired = mint(&Mint {
        now: SystemTime::now() - HOUR,
        subscribe: vec!["live/room".into()],
        ..token_mint()
    })
    .unwrap();
    let (_, _req, answer) = viewer
        .subscribe_with("live/room", "audio", with_token(&expired))
        .await;
    assert_eq!(
        answer.unwrap_err().error_code,
        RequestErrorCode::EXPIRED_AUTH_TOKEN
    );
}

/// Log lines of the whole process (the relay logs from its own tasks), for checks of what they
/// must not say.
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

/// Capture every log line of this test's process through the relay's own filter, at its most
/// verbose (each test runs in a process of its own).
fn trace_logs() -> Logs {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tern_relay::logging::filter("trace").unwrap())
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the test's own process");
    logs
}

#[tokio::test]
async fn a_64_kib_jwt_on_a_webtransport_url_is_refused_by_size_and_never_logged() {
    let logs = trace_logs();
    let node = token_relay().await;
    let marker = "NEVER-IN-LOGS";
    let with_len = |len: usize| format!("{marker}{}", "x".repeat(len - marker.len()));
    let web = |token: &str| format!("https://127.0.0.1:{}/live?jwt={token}", node.addr.port());

    // 64 KiB: past the 16 KiB field section WebTransport's CONNECT allows, so no session can
    // carry it (the client's encoder refuses it; the relay's decoder would too, unread).
    let client = tern_quic::Client::new(tern_quic::ClientConfig {
        disable_verify: true,
        connect_timeout: STEP,
        ..tern_quic::ClientConfig::default()
    })
    .unwrap();
    let Err(error) = client.connect(&web(&with_len(64 << 10))).await else {
        panic!("a 64 KiB URL connected");
    };
    assert!(
        error.to_string().contains("field section too large"),
        "{error}"
    );
    // 12 KiB fits a CONNECT: the relay hands it to the plugin, which refuses it on its size
    // (2048 bytes here) before decoding anything.
    let peer = Peer::connect(&web(&with_len(12 << 10))).await;
    assert_eq!(
        code_of(peer.closed(STEP).await),
        Code::MALFORMED_AUTH_TOKEN.0 as u32
    );
    // A good token on the same kind of URL still works, and no log line quoted a token.
    let peer = Peer::connect(&web(&token(&["live/b"], &[], HOUR))).await;
    let _announced = peer.publish_namespace("live/b").await;
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(text.contains("session refused by plugin"), "{text}");
    let quoting: Vec<&str> = text.lines().filter(|l| l.contains(marker)).collect();
    assert!(quoting.is_empty(), "log lines quote a token: {quoting:#?}");
    assert!(!text.contains("xxxxxxxx"), "a log line quotes a token");
}

#[tokio::test]
async fn tokens_in_setup_and_in_requests_never_appear_in_logs_at_trace_level() {
    // On every draft: each writes SETUP, parameters and errors its own way.
    let logs = trace_logs();
    let node = token_relay().await;
    for version in Version::ALL.into_iter().filter(|v| v.has_request_streams()) {
        tokens_never_logged(&node, &logs, version).await;
    }
}

async fn tokens_never_logged(node: &Node, logs: &Logs, version: Version) {
    let _publisher = Publisher::start(
        &jwt_url(node, &token(&["live/room"], &[], HOUR)),
        "live/room",
    )
    .await;
    // Tokens in every place a raw QUIC client can put them: SETUP's AUTHORIZATION TOKEN, the
    // PATH's query, and a request's AUTHORIZATION TOKEN parameter. Each is valid, so every
    // debug and trace line about an admitted session and request is written.
    let in_setup = token(&[], &["live/room"], HOUR);
    let in_path = token(&[], &["live/room"], HOUR);
    let in_request = token(&[], &["live/room"], HOUR);
    let mut setup = Setup::default();
    setup.set_path(format!("/?jwt={in_path}"));
    setup.push_authorization_token(&AuthToken::UseValue {
        token_type: 0,
        token_value: Bytes::copy_from_slice(in_setup.as_bytes()),
    });
    let viewer = Peer::connect_setup_as(
        &url(node),
        tern_quic::TransportLimits::default(),
        true,
        setup,
        version,
    )
    .await;
    let (_, _req, answer) = viewer
        .subscribe_with("live/room", "video", with_token(&in_request))
        .await;
    answer.expect("admitted");
    // A bad token, refused: the refusal is logged, the token is not.
    let bad = format!("{}x", &in_request[..in_request.len() - 1]);
    let (_, _req, answer) = viewer
        .subscribe_with("live/room", "audio", with_token(&bad))
        .await;
    answer.expect_err("a bad signature is refused");

    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        text.contains("peer SETUP"),
        "{version}: trace logs were written: {text}"
    );
    for (place, secret) in [
        ("SETUP", &in_setup),
        ("PATH", &in_path),
        ("request", &in_request),
        ("refused request", &bad),
    ] {
        // A JWT's signature is its last part: no line may quote it, nor its payload.
        let parts: Vec<&str> = secret.split('.').collect();
        for part in &parts[1..] {
            let quoting: Vec<&str> = text.lines().filter(|l| l.contains(part)).collect();
            assert!(
                quoting.is_empty(),
                "{version}: log lines quote the {place} token: {quoting:#?}"
            );
        }
    }
}

/// A SUBSCRIBE for a track nobody publishes, answered or not within [`STEP`]: `Some(code)` of
/// its REQUEST_ERROR, `None` when the session was closed (refused) instead.
async fn probe_subscribe(peer: &Peer, parameters: Parameters) -> Option<RequestErrorCode> {
    let mut req = peer
        .request(tern_moq::message::Subscribe {
            request_id: peer.request_id(),
            track_namespace: ns("live/nobody"),
            track_name: Bytes::from_static(b"video"),
            parameters,
        })
        .await;
    match req.next_within(STEP).await {
        Some(Message::RequestError(e)) => Some(e.error_code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_junk_tokens_from_a_few_sessions_gets_no_legitimate_session_refused() {
    // One worker and a short queue: what a flood has to get through.
    let mut host = HostConfig::new(plugin("token"));
    host.config = token_config(0);
    host.reload_interval = None;
    host.workers = 1;
    host.queue = 8;
    let node = relay_with_host(start_host(host).await);

    // An ES256 token with its signature broken: the plugin verifies it in full to refuse it.
    let (private, _) = tern_edge_wasm::testing::es256_test_keys();
    let signed = mint(&Mint {
        alg: Alg::Es256,
        key: private.as_bytes().to_vec(),
        kid: Some("es".into()),
        ..token_mint()
    })
    .unwrap();
    let junk = format!("{}AAAAAAAA", &signed[..signed.len() - 8]);

    // Three admitted sessions, each with 64 SUBSCRIBEs carrying the junk token in flight at
    // any time, until the legitimate sessions are done.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let attacker = Arc::new(Peer::connect(&jwt_url(&node, &token(&[], &["live"], HOUR))).await);
        for _ in 0..64 {
            let (attacker, stop, junk) = (attacker.clone(), stop.clone(), junk.clone());
            flood.spawn(async move {
                let mut sent = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && sent < 1000 {
                    let _ = probe_subscribe(&attacker, with_token(&junk)).await;
                    sent += 1;
                }
            });
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Twenty viewers, each with a token of its own (no cache helps them), connect meanwhile:
    // every one is admitted and told the track does not exist.
    let mut refused = Vec::new();
    for i in 0..20 {
        let own = mint(&Mint {
            subject: format!("viewer-{i}"),
            ..token_mint()
        })
        .unwrap();
        let viewer = Peer::connect(&jwt_url(&node, &own)).await;
        match probe_subscribe(&viewer, Parameters::new()).await {
            Some(RequestErrorCode::DOES_NOT_EXIST) => {}
            other => refused.push((i, other)),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    while flood.join_next().await.is_some() {}
    assert!(
        refused.is_empty(),
        "legitimate viewers refused during the flood: {refused:?}"
    );
}

/// The shipped edge's token configuration (`deploy/token.example.json`, as `deploy/edge.toml`
/// loads it) on a relay whose take-over policy is `first`: viewers need no token for what
/// `anonymous_subscribe` names and may publish nothing; a publisher is admitted on its token
/// (an authorised publisher, its token's subject its identity), and when it reconnects it takes
/// its track back at once, while another authorised publisher is refused with the key's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_edge_token_config_admits_token_publishers_and_anonymous_viewers() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/token.example.json");
    let json = std::fs::read_to_string(example).expect("deploy/token.example.json");
    let secret =
        serde_json::from_str::<serde_json::Value>(&json).expect("JSON")["keys"][0]["secret"]
            .as_str()
            .expect("an HS256 secret")
            .to_owned();
    let mut host = HostConfig::new(plugin("token"));
    host.config = json;
    host.reload_interval = None;
    let (mut router, mut settings) = default_settings();
    router.takeover = tern_relay::core::router::TakeOver::First;
    settings.plugin = Some(start_host(host).await);
    let node = start_relay(router, settings);
    let publisher_token = |subject: &str| {
        mint(&Mint {
            key: secret.as_bytes().to_vec(),
            kid: Some("ingest-2026".into()),
            subject: subject.into(),
            audience: "tern-edge".into(),
            issuer: "tern-ops".into(),
            publish: vec!["live/room".into()],
            subscribe: Vec::new(),
            ..token_mint()
        })
        .unwrap()
    };

    // An anonymous viewer watches; it cannot publish, nor watch outside `live`.
    let alice = Peer::connect(&jwt_url(&node, &publisher_token("alice"))).await;
    let _published = alice.publish_track("live/room", "video", 1).await;
    let viewer = Peer::connect(&url(&node)).await;
    let _watching = viewer.subscribe_ok("live/room", "video", None).await;
    for (namespace, what) in [("live/mine", "publish"), ("private/x", "subscribe")] {
        let code = if what == "publish" {
            let mut req = viewer
                .request(PublishNamespace {
                    request_id: viewer.request_id(),
                    track_namespace: ns(namespace),
                    parameters: Parameters::new(),
                })
                .await;
            match req.next_within(STEP).await {
                Some(Message::RequestError(e)) => e.error_code,
                other => panic!("anonymous PUBLISH_NAMESPACE: {other:?}"),
            }
        } else {
            let (_req, answer) = viewer.subscribe(namespace, "video", None).await;
            answer.expect_err("subscribed out of scope").error_code
        };
        assert_eq!(code, RequestErrorCode::UNAUTHORIZED, "anonymous {what}");
    }

    // Another authorised publisher cannot take the track; alice, reconnecting, can.
    let bob = Peer::connect(&jwt_url(&node, &publisher_token("bob"))).await;
    let mut req = bob
        .request(tern_moq::message::Publish {
            request_id: bob.request_id(),
            track_namespace: ns("live/room"),
            track_name: Bytes::from_static(b"video"),
            track_alias: 1,
            parameters: Parameters::new(),
            track_properties: Default::default(),
        })
        .await;
    match req.next_within(STEP).await {
        Some(Message::RequestError(e)) => {
            assert_eq!(e.error_code, RequestErrorCode::UNAUTHORIZED);
            let reason = e.error_reason.to_string_lossy();
            assert!(reason.contains("relay.takeover"), "{reason}");
        }
        other => panic!("bob took alice's track: {other:?}"),
    }
    let again = Peer::connect(&jwt_url(&node, &publisher_token("alice"))).await;
    let _back = again.publish_track("live/room", "video", 1).await;
}

/// Credentials of a front-end's peer (RTMP, SRT, WHIP) carrying `token`.
fn local_peer(token: Option<String>) -> tern_model::local::Credentials {
    tern_model::local::Credentials {
        peer: std::net::SocketAddr::from(([192, 0, 2, 9], 1935)),
        token,
        via: "test",
        member: false,
    }
}

#[tokio::test]
async fn local_publishers_and_readers_go_through_the_plugin_phases() {
    use tern_model::local::{ReadOptions, RefusedKind};
    let node = token_relay().await;
    let api = node.local();
    let ns = |p: &str| -> Vec<Bytes> {
        p.split('/')
            .map(|f| Bytes::copy_from_slice(f.as_bytes()))
            .collect()
    };

    // Session open: no token, no publishing (even though the peer's address would do without
    // a plugin only on this host).
    let refused = api
        .publish(ns("live/room"), local_peer(None))
        .await
        .unwrap_err();
    assert_eq!(refused.kind, RefusedKind::Unauthorized, "{refused}");
    // A publisher its front-end vouched for (a static stream key) is not the plugin's to judge:
    // no token, no phases, its tracks granted.
    let keyed = api
        .vouched(tern_model::local::Vouched("stream key".into()))
        .publish(ns("live/keyed"), local_peer(None))
        .await
        .expect("a vouched publisher without a token");
    keyed
        .track("video")
        .await
        .expect("its track, without the publish phase");
    // Publish phase: the token's scope decides.
    let other = token(&["live/other"], &[], HOUR);
    let refused = api
        .publish(ns("live/room"), local_peer(Some(other)))
        .await
        .unwrap_err();
    assert_eq!(refused.kind, RefusedKind::Unauthorized, "{refused}");
    let publisher_token = token(&["live/room"], &[], HOUR);
    let credentials = local_peer(Some(publisher_token.clone()));
    assert!(
        !format!("{credentials:?}").contains(&publisher_token),
        "a token never shows in logs"
    );
    let broadcast = api
        .publish(ns("live/room"), credentials)
        .await
        .expect("a token scoped to the broadcast publishes it");
    let video = broadcast.track("video").await.expect("and its tracks");
    video
        .append(
            tern_model::Object {
                location: Location::new(0, 0),
                status: tern_model::ObjectStatus::Normal,
                properties: Bytes::new(),
                payload: Bytes::from_static(b"frame"),
                end_of_group: false,
            },
            0,
            128,
        )
        .unwrap();

    // Subscribe phase for local readers, and a MoQ viewer of the same track as before.
    let name = tern_model::TrackName::from_path("live/room", "video");
    let refused = api
        .subscribe(name.clone(), local_peer(None), ReadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(refused.kind, RefusedKind::Unauthorized, "{refused}");
    let elsewhere = token(&[], &["live/other"], HOUR);
    let refused = api
        .subscribe(
            name.clone(),
            local_peer(Some(elsewhere)),
            ReadOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.kind, RefusedKind::Unauthorized, "{refused}");
    let viewer_token = token(&[], &["live/room"], HOUR);
    let reading = api
        .subscribe(
            name,
            local_peer(Some(viewer_token.clone())),
            ReadOptions::default(),
        )
        .await
        .expect("a viewer's token scoped to the broadcast reads it");
    assert_eq!(reading.largest(), Some(Location::new(0, 0)));
    let viewer = Peer::connect(&jwt_url(&node, &viewer_token)).await;
    viewer.subscribe_ok("live/room", "video", None).await;
}

/// A plugin the relay cannot load stops its start with the config key to look at.
#[tokio::test]
async fn a_plugin_that_cannot_load_names_its_config_key() {
    let mut config = tern_relay::config::PluginConfig {
        file: Some(tern_edge_wasm::testing::plugin("testbed")),
        config_file: Some("/nonexistent/tern-plugin.json".into()),
        ..Default::default()
    };
    let e = tern_relay::run::plugin_host(&config)
        .await
        .expect_err("no config file");
    let text = e.to_string();
    assert!(
        text.starts_with("plugin.config_file: cannot read /nonexistent/tern-plugin.json"),
        "{text}"
    );
    config.config_file = None;
    config.file = Some("/nonexistent/tern-plugin.wasm".into());
    let e = tern_relay::run::plugin_host(&config)
        .await
        .expect_err("no plugin file");
    assert!(e.to_string().starts_with("plugin.file: "), "{e}");
}
