//! The token plugin, built for wasm32-wasip2 and run by the host: the abuse catalogue end to
//! end through the WIT boundary, and scoped requests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tern_edge_wasm::testing::{es256_test_keys, plugin, token_config};
use tern_edge_wasm::{
    Alg, Claims, HostConfig, Mint, PluginHost, Request, RequestDecision, SessionDecision,
    SessionRequest, deny_code, mint,
};

fn host() -> PluginHost {
    let mut config = HostConfig::new(plugin("token"));
    config.reload_interval = None;
    config.config = token_config(1);
    PluginHost::start(config).expect("token plugin starts")
}

fn es_token(change: impl FnOnce(&mut Mint)) -> Vec<u8> {
    let (private, _) = es256_test_keys();
    let mut m = Mint {
        alg: Alg::Es256,
        key: private.as_bytes().to_vec(),
        kid: Some("es".into()),
        subject: "viewer-1".into(),
        audience: "tern-relay".into(),
        issuer: "ops".into(),
        publish: vec!["live/room/cam1".into()],
        subscribe: vec!["live/room".into()],
        now: SystemTime::now(),
        valid_for: Duration::from_secs(60),
    };
    change(&mut m);
    mint(&m).unwrap().into_bytes()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn open(token: Option<Vec<u8>>) -> SessionRequest {
    SessionRequest {
        token,
        path: "/".into(),
        peer: "127.0.0.1:4000".into(),
        now_ms: now_ms(),
    }
}

async fn denied(host: &PluginHost, token: Option<Vec<u8>>) -> (u32, String) {
    match host.session_open(open(token)).await.unwrap() {
        SessionDecision::Deny(deny) => (deny.code, deny.reason),
        SessionDecision::Allow(claims) => panic!("admitted: {claims:?}"),
    }
}

#[tokio::test]
async fn a_valid_token_admits_with_its_scopes_and_expiry() {
    let started = std::time::Instant::now();
    let host = tokio::task::spawn_blocking(host).await.unwrap();
    println!(
        "token plugin compiled and configured in {:?}",
        started.elapsed()
    );
    let claims = match host
        .session_open(open(Some(es_token(|_| {}))))
        .await
        .unwrap()
    {
        SessionDecision::Allow(claims) => claims,
        SessionDecision::Deny(deny) => panic!("{}", deny.reason),
    };
    assert_eq!(claims.subject, "viewer-1");
    assert_eq!(claims.subscribe, ["live/room"]);
    let expires = claims.expires_at_ms.unwrap();
    assert!(
        expires > now_ms() + 55_000 && expires <= now_ms() + 62_000,
        "{expires}"
    );
}

#[tokio::test]
async fn the_abuse_catalogue_is_refused() {
    let host = tokio::task::spawn_blocking(host).await.unwrap();
    let (_, public) = es256_test_keys();
    let past = SystemTime::now() - Duration::from_secs(3600);
    let future = SystemTime::now() + Duration::from_secs(3600);
    let hs_with_es_public_key = {
        // HS256 over the ES public key's PEM, naming the ES key: the classic confusion.
        use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("es".into());
        let claims = serde_json::json!({"sub": "x", "aud": "tern-relay", "iss": "ops",
            "exp": now_ms() / 1000 + 60});
        encode(
            &header,
            &claims,
            &EncodingKey::from_secret(public.as_bytes()),
        )
        .unwrap()
    };
    let alg_none = {
        use base64::Engine as _;
        let b64 = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let header = b64(r#"{"alg":"none","kid":"es"}"#.into());
        let body = b64(format!(
            r#"{{"sub":"x","aud":"tern-relay","iss":"ops","exp":{}}}"#,
            now_ms() / 1000 + 60
        ));
        format!("{header}.{body}.")
    };
    let cases: Vec<(&str, Option<Vec<u8>>, u32)> = vec![
        ("no token", None, deny_code::UNAUTHORIZED),
        (
            "expired",
            Some(es_token(|m| m.now = past)),
            deny_code::EXPIRED_TOKEN,
        ),
        (
            "not yet valid",
            Some(es_token(|m| m.now = future)),
            deny_code::EXPIRED_TOKEN,
        ),
        (
            "wrong aud",
            Some(es_token(|m| m.audience = "other".into())),
            deny_code::UNAUTHORIZED,
        ),
        (
            "wrong iss",
            Some(es_token(|m| m.issuer = "mallory".into())),
            deny_code::UNAUTHORIZED,
        ),
        (
            "alg none",
            Some(alg_none.into_bytes()),
            deny_code::MALFORMED_TOKEN,
        ),
        (
            "hs256 with es key",
            Some(hs_with_es_public_key.into_bytes()),
            deny_code::UNAUTHORIZED,
        ),
        (
            "unknown kid",
            Some(es_token(|m| m.kid = Some("gone".into()))),
            deny_code::UNAUTHORIZED,
        ),
        (
            "prefix escape in a claim",
            Some(es_token(|m| m.subscribe = vec!["live/../admin".into()])),
            deny_code::MALFORMED_TOKEN,
        ),
        (
            "64 KiB token",
            Some(vec![b'a'; 64 << 10]),
            deny_code::MALFORMED_TOKEN,
        ),
    ];
    for (name, token, code) in cases {
        let text = token.clone();
        let (got, reason) = denied(&host, token).await;
        assert_eq!(got, code, "{name}: {reason}");
        if let Some(text) = text.filter(|t| t.len() > 16) {
            let text = String::from_utf8_lossy(&text);
            assert!(
                !reason.contains(&text[..16]),
                "{name}: reason quotes the token"
            );
        }
    }
    let (_, reason) = denied(&host, Some(vec![b'a'; 64 << 10])).await;
    assert_eq!(reason, "token of 65536 bytes exceeds 2048");
}

fn request(claims: &Claims, namespace: &[&str]) -> Request {
    Request {
        claims: claims.clone(),
        namespace: namespace.iter().map(|f| f.as_bytes().to_vec()).collect(),
        track: Some(b"video".to_vec()),
        now_ms: now_ms(),
    }
}

#[tokio::test]
async fn requests_are_held_to_the_token_scopes() {
    let host = tokio::task::spawn_blocking(host).await.unwrap();
    let SessionDecision::Allow(claims) = host
        .session_open(open(Some(es_token(|_| {}))))
        .await
        .unwrap()
    else {
        panic!("valid token refused");
    };
    let code = |d: RequestDecision| match d {
        RequestDecision::Allow => 0,
        RequestDecision::Deny(deny) => deny.code,
        RequestDecision::UseTrack(_) => u32::MAX,
    };
    let sub = |ns: &[&str]| host.subscribe(request(&claims, ns));
    assert_eq!(code(sub(&["live", "room"]).await.unwrap()), 0);
    assert_eq!(code(sub(&["live", "room", "cam2"]).await.unwrap()), 0);
    assert_eq!(
        code(sub(&["live", "roomX"]).await.unwrap()),
        deny_code::UNAUTHORIZED
    );
    assert_eq!(
        code(sub(&["live", "room", ".."]).await.unwrap()),
        deny_code::UNAUTHORIZED
    );
    assert_eq!(
        code(sub(&["live", "", "room"]).await.unwrap()),
        deny_code::PROTOCOL_VIOLATION
    );
    let publish = |ns: &[&str]| host.publish(request(&claims, ns));
    assert_eq!(code(publish(&["live", "room", "cam1"]).await.unwrap()), 0);
    assert_eq!(
        code(publish(&["live", "room"]).await.unwrap()),
        deny_code::UNAUTHORIZED
    );
    let mut late = request(&claims, &["live", "room"]);
    late.now_ms = claims.expires_at_ms.unwrap();
    assert_eq!(
        code(host.subscribe(late).await.unwrap()),
        deny_code::EXPIRED_TOKEN
    );
}

#[tokio::test]
async fn per_call_cost_of_the_phases() {
    let host = tokio::task::spawn_blocking(host).await.unwrap();
    let token = es_token(|_| {});
    let SessionDecision::Allow(claims) =
        host.session_open(open(Some(token.clone()))).await.unwrap()
    else {
        panic!("valid token refused");
    };
    let n = 200u32;
    let start = std::time::Instant::now();
    for _ in 0..n {
        host.session_open(open(Some(token.clone()))).await.unwrap();
    }
    let session = start.elapsed() / n;
    let start = std::time::Instant::now();
    for _ in 0..n {
        host.subscribe(request(&claims, &["live", "room"]))
            .await
            .unwrap();
    }
    let subscribe = start.elapsed() / n;
    println!(
        "token plugin per call (host round trip, debug or release as built): session-open (ES256) {session:?}, subscribe {subscribe:?}"
    );
    assert!(subscribe < Duration::from_millis(20));
}

#[tokio::test]
async fn an_admitted_token_is_cached_until_its_exp_and_a_reload_flushes_it() {
    let dir = std::env::temp_dir().join(format!("tern-token-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let recording = dir.join("calls.jsonl");
    let file = dir.join("token.wasm");
    std::fs::copy(plugin("token"), &file).unwrap();
    let mut config = HostConfig::new(&file);
    config.reload_interval = None;
    config.config = token_config(0);
    config.record = Some(tern_edge_wasm::record::RecordTo {
        path: recording.clone(),
        max_calls: 100,
    });
    let host = tokio::task::spawn_blocking(move || PluginHost::start(config).unwrap())
        .await
        .unwrap();
    let calls = || {
        // The recorder writes on its own thread: give it a moment.
        std::thread::sleep(Duration::from_millis(200));
        std::fs::read_to_string(&recording)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let token = es_token(|_| {});
    let admitted = |d: SessionDecision| matches!(d, SessionDecision::Allow(_));
    assert!(admitted(
        host.session_open(open(Some(token.clone()))).await.unwrap()
    ));
    assert!(admitted(
        host.session_open(open(Some(token.clone()))).await.unwrap()
    ));
    assert!(host.token_cached(&token, "/", now_ms()));
    assert_eq!(
        calls(),
        1,
        "the second open of the same token is answered from the cache"
    );

    // Past its exp the token is verified again (and refused), not admitted from the cache.
    let late = SessionRequest {
        now_ms: now_ms() + 61_000,
        ..open(Some(token.clone()))
    };
    assert!(!admitted(host.session_open(late).await.unwrap()));
    assert_eq!(calls(), 2);

    // A new version of the plugin judges every token afresh.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::copy(plugin("token"), &file).unwrap();
    let f = std::fs::File::options().append(true).open(&file).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    drop(f);
    assert!(host.reload_if_changed().unwrap(), "the plugin file changed");
    assert!(!host.token_cached(&token, "/", now_ms()));
    assert!(admitted(
        host.session_open(open(Some(token))).await.unwrap()
    ));
    assert_eq!(calls(), 3);
    std::fs::remove_dir_all(&dir).ok();
}
