//! The sandbox, against real components: deadlines, memory and stack limits, traps, reload.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_edge_wasm::testing::plugin;
use tern_edge_wasm::{
    HostConfig, ObjectDecision, ObjectRequest, PluginError, PluginHost, SessionDecision,
    SessionRequest,
};

fn host(name: &str, tune: impl FnOnce(&mut HostConfig)) -> Arc<PluginHost> {
    let mut config = HostConfig::new(plugin(name));
    config.reload_interval = None;
    tune(&mut config);
    Arc::new(PluginHost::start(config).expect("plugin starts"))
}

fn open(token: &str) -> SessionRequest {
    SessionRequest {
        token: Some(token.as_bytes().to_vec()),
        path: "/".into(),
        peer: "127.0.0.1:4000".into(),
        now_ms: 0,
    }
}

fn subject(decision: SessionDecision) -> String {
    match decision {
        SessionDecision::Allow(claims) => claims.subject,
        SessionDecision::Deny(deny) => panic!("denied: {}", deny.reason),
    }
}

#[tokio::test]
async fn the_template_answers_every_phase_with_its_neutral_decision() {
    let host = host("template", |_| {});
    let claims = match host.session_open(open("whatever")).await.unwrap() {
        SessionDecision::Allow(claims) => claims,
        other => panic!("{other:?}"),
    };
    assert_eq!(claims.subject, "anonymous@127.0.0.1:4000");
    assert_eq!(claims.expires_at_ms, None);
    let object = ObjectRequest {
        viewer: claims.subject,
        namespace: vec![b"live".to_vec()],
        track: b"video".to_vec(),
        group: 7,
        object: 0,
    };
    assert_eq!(
        host.object(object.clone()).await.unwrap(),
        ObjectDecision::Pass
    );

    // The round trip of a no-op phase through the queue and a worker (a figure, not a bench).
    let n = 500u32;
    let start = Instant::now();
    for _ in 0..n {
        host.object(object.clone()).await.unwrap();
    }
    println!("no-op object phase: {:?} per call", start.elapsed() / n);
}

#[tokio::test]
async fn a_looping_plugin_is_stopped_by_the_epoch_deadline() {
    let deadline = Duration::from_millis(5);
    let host = host("testbed", |c| c.deadline = deadline);
    let mut overshoot = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let error = host.session_open(open("loop")).await.unwrap_err();
        let took = start.elapsed();
        assert!(
            matches!(
                error,
                PluginError::Interrupted {
                    phase: "session-open"
                }
            ),
            "{error}"
        );
        overshoot.push(took.saturating_sub(deadline));
        // The host goes on with a fresh instance.
        assert_eq!(
            subject(host.session_open(open("ok")).await.unwrap()),
            "testbed"
        );
    }
    overshoot.sort();
    let median = overshoot[overshoot.len() / 2];
    println!(
        "loop stopped {median:?} after its {deadline:?} deadline (median of 5; {overshoot:?})"
    );
    assert!(
        median < Duration::from_millis(50),
        "stopping took {median:?} past the deadline"
    );
}

#[tokio::test]
async fn memory_growth_past_the_cap_is_refused() {
    let host = host("testbed", |c| c.memory_bytes = 16 << 20);
    assert_eq!(
        subject(host.session_open(open("grow:4")).await.unwrap()),
        "grew 4 MiB"
    );
    match host.session_open(open("grow:64")).await.unwrap() {
        SessionDecision::Deny(deny) => assert_eq!(deny.reason, "memory growth of 64 MiB refused"),
        other => panic!("64 MiB granted under a 16 MiB cap: {other:?}"),
    }
}

#[tokio::test]
async fn a_stack_overflow_or_a_panic_traps_and_the_next_call_is_served() {
    let host = host("testbed", |c| c.stack_bytes = 128 << 10);
    for token in ["recurse", "panic"] {
        let error = host.session_open(open(token)).await.unwrap_err();
        assert!(
            matches!(error, PluginError::Trap { .. }),
            "{token}: {error}"
        );
        assert_eq!(
            subject(host.session_open(open("ok")).await.unwrap()),
            "testbed"
        );
    }
}

#[tokio::test]
async fn other_calls_are_served_while_one_loops() {
    let host = host("testbed", |c| {
        c.workers = 2;
        c.deadline = Duration::from_millis(200);
    });
    let looping = tokio::spawn({
        let host = host.clone();
        async move { host.session_open(open("loop")).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let start = Instant::now();
    for _ in 0..20 {
        assert_eq!(
            subject(host.session_open(open("ok")).await.unwrap()),
            "testbed"
        );
    }
    assert!(
        start.elapsed() < Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
    assert!(looping.await.unwrap().is_err());
}

#[tokio::test]
async fn a_full_queue_refuses_at_once() {
    let host = host("testbed", |c| {
        c.workers = 1;
        c.queue = 1;
        c.deadline = Duration::from_millis(300);
    });
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let host = host.clone();
            tokio::spawn(async move { host.session_open(open("loop")).await })
        })
        .collect();
    let mut busy = 0;
    for call in calls {
        if matches!(call.await.unwrap(), Err(PluginError::Busy)) {
            busy += 1;
        }
    }
    assert!(
        busy >= 1,
        "no call was refused with one worker and a queue of one"
    );
}

#[tokio::test]
async fn a_new_plugin_file_is_picked_up_by_new_calls() {
    let dir = std::env::temp_dir().join(format!("tern-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("plugin.wasm");
    std::fs::copy(plugin("template"), &file).unwrap();
    let mut config = HostConfig::new(&file);
    config.reload_interval = Some(Duration::from_millis(20));
    let host = Arc::new(PluginHost::start(config).unwrap());
    tokio::spawn(host.clone().watch());
    assert!(subject(host.session_open(open("ok")).await.unwrap()).starts_with("anonymous@"));

    // Replace the file atomically, as a deploy would.
    let next = dir.join("next.wasm");
    std::fs::copy(plugin("testbed"), &next).unwrap();
    std::fs::rename(&next, &file).unwrap();
    let start = Instant::now();
    while host.generation() < 2 {
        assert!(start.elapsed() < Duration::from_secs(10), "no reload");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        subject(host.session_open(open("ok")).await.unwrap()),
        "testbed"
    );

    // A broken file leaves the working version in place.
    std::fs::write(&file, b"not wasm at all").unwrap();
    assert!(matches!(
        host.reload_if_changed(),
        Err(PluginError::Load { .. })
    ));
    assert_eq!(
        subject(host.session_open(open("ok")).await.unwrap()),
        "testbed"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_refused_configuration_or_a_bad_file_fails_at_start() {
    let mut config = HostConfig::new(plugin("testbed"));
    config.config = r#"{"refuse": true}"#.into();
    let error = PluginHost::start(config).unwrap_err();
    assert!(
        matches!(error, PluginError::Configure(ref why) if why == "configured to refuse"),
        "{error}"
    );

    let error = PluginHost::start(HostConfig::new("/nonexistent/plugin.wasm")).unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent/plugin.wasm"),
        "{error}"
    );

    let mut config = HostConfig::new(plugin("testbed"));
    config.memory_bytes = 1 << 40;
    let error = PluginHost::start(config).unwrap_err();
    assert!(error.to_string().contains("`memory`"), "{error}");
}
