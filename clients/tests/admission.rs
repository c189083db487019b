//! The door of a `tern relay` child under a flood of sessions: past `limits.max_sessions` every
//! new one is refused, each refusal is counted in `/metrics` with its reason, and the relay's
//! log says so in a bounded number of lines.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Lines, Relay, admin_address, http_get, plain, sample, tern};
use tern::client::{ConnectOptions, Session};

const ATTEMPTS: u64 = 200;

#[test]
fn a_flood_of_sessions_is_refused_counted_by_reason_and_logged_sparingly() {
    let mut cmd = Command::new(tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0"])
        .env("TERN_LIMITS_MAX_SESSIONS", "1")
        .env("TERN_LIMITS_NEW_SESSIONS_PER_IP", "100000");
    let mut relay = Relay::start_cmd_with_stderr(cmd, &[], Stdio::piped());
    let mut log = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let admin = admin_address(&mut log);

    let url = relay.moqt_url();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let refused = rt.block_on(async {
        let opts = ConnectOptions {
            disable_verify: true,
            connect_timeout: Duration::from_secs(5),
            ..ConnectOptions::default()
        };
        let _held = Session::connect(&url, &opts)
            .await
            .expect("the one session");
        let mut refused = 0u64;
        for _ in 0..ATTEMPTS {
            if Session::connect(&url, &opts).await.is_err() {
                refused += 1;
            }
        }
        refused
    });
    assert_eq!(
        refused, ATTEMPTS,
        "every session past max_sessions is refused"
    );

    // Counted with its reason (the admin loop copies the counters at least every 500 ms).
    let series = "tern_sessions_refused_total{reason=\"capacity\"}";
    let deadline = Instant::now() + Duration::from_secs(10);
    let counted = loop {
        let page = http_get(&admin, "/metrics");
        let value = sample(&page, series).unwrap_or(0.0);
        if value >= ATTEMPTS as f64 || Instant::now() > deadline {
            break value;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(counted >= ATTEMPTS as f64, "{series} = {counted}");

    // Logged sparingly: at most one burst per 10 s window, with the count held back.
    log.wait_for(usize::MAX, Duration::from_secs(1), |_| true);
    let lines: Vec<String> = log
        .seen
        .iter()
        .map(|l| plain(l))
        .filter(|l| l.contains("refused connection"))
        .collect();
    assert!(!lines.is_empty(), "refusals are logged");
    assert!(
        lines.len() <= 20,
        "{} log lines for {ATTEMPTS} refusals",
        lines.len()
    );
}
