//! `tern token mint`: the tokens it prints are admitted by the token plugin with the scopes
//! asked for; bad keys are one-line errors naming the flag.

mod common;

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use tern_edge_wasm::testing::{plugin, token_config};
use tern_edge_wasm::{HostConfig, PluginHost, SessionDecision, SessionRequest};

fn key_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../edge-wasm/plugins/token/testdata/es256-private.pem")
}

#[tokio::test]
async fn minted_tokens_are_admitted_with_their_scopes() {
    let out = Command::new(common::tern())
        .args([
            "token",
            "mint",
            "--alg",
            "ES256",
            "--kid",
            "es",
            "--subject",
            "viewer-9",
        ])
        .args([
            "--audience",
            "tern-relay",
            "--issuer",
            "ops",
            "--valid-for",
            "10m",
        ])
        .args([
            "--subscribe",
            "live/room",
            "--subscribe",
            "live/lobby",
            "--key",
        ])
        .arg(key_file())
        .output()
        .expect("run tern");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "{token}");

    let mut config = HostConfig::new(plugin("token"));
    config.config = token_config(0);
    config.reload_interval = None;
    let host = tokio::task::spawn_blocking(move || PluginHost::start(config))
        .await
        .unwrap()
        .unwrap();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let request = SessionRequest {
        token: Some(token.into_bytes()),
        path: "/".into(),
        peer: "127.0.0.1:1".into(),
        now_ms,
    };
    match host.session_open(request).await.unwrap() {
        SessionDecision::Allow(claims) => {
            assert_eq!(claims.subject, "viewer-9");
            assert_eq!(claims.subscribe, ["live/room", "live/lobby"]);
            let exp = claims.expires_at_ms.unwrap();
            assert!(
                (now_ms + 590_000..=now_ms + 601_000).contains(&exp),
                "{exp}"
            );
        }
        SessionDecision::Deny(deny) => panic!("minted token refused: {}", deny.reason),
    }
}

#[test]
fn bad_keys_are_named() {
    let mint = |alg: &str, key: &str| {
        Command::new(common::tern())
            .args([
                "token",
                "mint",
                "--alg",
                alg,
                "--key",
                key,
                "--subject",
                "s",
            ])
            .args(["--audience", "a", "--issuer", "i"])
            .output()
            .expect("run tern")
    };
    let out = mint("ES256", "/nonexistent/key.pem");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--key: cannot read /nonexistent/key.pem"),
        "{stderr}"
    );

    let out = mint("RS256", "/dev/null");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RS256"));

    let short = std::env::temp_dir().join(format!("tern-short-secret-{}", std::process::id()));
    std::fs::write(&short, "short\n").unwrap();
    let out = mint("HS256", short.to_str().unwrap());
    std::fs::remove_file(&short).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("32 bytes"));
}
