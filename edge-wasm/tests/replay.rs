//! Recorded sessions: a host records every call with its decision (bounded), and a replay of
//! the recording against a plugin reports exactly the decisions that differ.

use std::path::Path;
use std::time::{Duration, Instant};

use tern_edge_wasm::record::{Decision, Input, RecordTo, replay};
use tern_edge_wasm::testing::plugin;
use tern_edge_wasm::{Claims, HostConfig, ObjectRequest, PluginHost, Request, SessionRequest};

fn host(name: &str, record: Option<RecordTo>) -> PluginHost {
    let mut config = HostConfig::new(plugin(name));
    config.reload_interval = None;
    config.record = record;
    PluginHost::start(config).expect("plugin starts")
}

/// The file's lines once it has `n` of them (the writer runs on its own thread).
fn lines(path: &Path, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= n || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test]
async fn a_recording_replays_the_same_on_its_plugin_and_names_what_another_decides() {
    let dir = std::env::temp_dir().join(format!("tern-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("calls.jsonl");
    // Seven calls are made; six are recorded.
    let testbed = host(
        "testbed",
        Some(RecordTo {
            path: path.clone(),
            max_calls: 6,
        }),
    );
    let claims = Claims {
        subject: "alice".into(),
        publish: Vec::new(),
        subscribe: Vec::new(),
        expires_at_ms: None,
    };
    let session = |token: &str| SessionRequest {
        token: Some(token.as_bytes().to_vec()),
        path: "/live".into(),
        peer: "127.0.0.1:4000".into(),
        now_ms: 1_000,
    };
    let request = |track: &str| Request {
        claims: claims.clone(),
        namespace: vec![b"live".to_vec(), vec![0xff, 0x00]],
        track: Some(track.as_bytes().to_vec()),
        now_ms: 1_000,
    };
    let object = |viewer: &str, group| ObjectRequest {
        viewer: viewer.into(),
        namespace: vec![b"live".to_vec()],
        track: b"marked.wm-a".to_vec(),
        group,
        object: 0,
    };
    testbed.session_open(session("as:alice")).await.unwrap();
    testbed.subscribe(request("marked")).await.unwrap();
    testbed.publish(request("video")).await.unwrap();
    testbed.object(object("alice", 0)).await.unwrap();
    testbed.object(object("trap", 1)).await.unwrap_err();
    testbed.object(object("alice", 1)).await.unwrap();
    testbed.object(object("alice", 2)).await.unwrap();
    drop(testbed);
    let recording = lines(&path, 6);
    assert_eq!(recording.lines().count(), 6, "{recording}");
    assert!(
        recording.contains(r#""decision":{"use-track":"marked.wm-a"}"#),
        "{recording}"
    );
    assert!(
        recording.contains(r#""namespace":["live",[255,0]]"#),
        "{recording}"
    );

    // The same plugin decides the same (the trap fails again: failures match failures).
    let report = replay(&host("testbed", None), &path, &recording)
        .await
        .unwrap();
    assert_eq!(report.calls, 6);
    assert_eq!(report.differences, []);

    // The template admits everyone as `anonymous@<peer>`, allows every request as it is and
    // passes every object: five of the six decisions differ (publish: allow both times).
    let report = replay(&host("template", None), &path, &recording)
        .await
        .unwrap();
    let differ: Vec<(usize, Decision)> = report
        .differences
        .iter()
        .map(|d| (d.line, d.replayed.clone()))
        .collect();
    assert_eq!(differ.len(), 5, "{:#?}", report.differences);
    assert!(matches!(
        report.differences[0].input,
        Input::SessionOpen { .. }
    ));
    assert_eq!(differ[1], (2, Decision::Allow));
    assert_eq!(
        &differ[2..],
        [
            (4, Decision::Pass),
            (5, Decision::Pass),
            (6, Decision::Pass)
        ]
    );

    // A line that is not a call names itself.
    let broken = format!("{recording}{{\"phase\": \"nonsense\"}}\n");
    let error = replay(&host("testbed", None), &path, &broken)
        .await
        .unwrap_err();
    assert_eq!(error.line, 7);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_recording_holding_tokens_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = std::env::temp_dir().join(format!("tern-record-mode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("calls.jsonl");
    // Even over a world-readable file left from before.
    std::fs::write(&path, "old\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _host = host(
        "testbed",
        Some(RecordTo {
            path: path.clone(),
            max_calls: 1,
        }),
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "recording mode {mode:o}");
    std::fs::remove_dir_all(&dir).ok();
}
