//! `tern plugin replay`: a recording replays clean on the plugin that made it, and names each
//! call another plugin decides differently (and fails).

mod common;

use std::process::Command;

use tern_edge_wasm::testing::plugin;

/// Calls as the testbed plugin answered them: `as:alice` admitted as alice, `marked` pointed at
/// its variant set, group 0 of alice's marked track from variant B.
const RECORDING: &str = r#"{"phase":"session-open","token":"as:alice","path":"/live","peer":"127.0.0.1:4000","now_ms":1000,"decision":{"admit":{"subject":"alice","publish":[],"subscribe":[],"expires_at_ms":null}}}
{"phase":"subscribe","claims":{"subject":"alice","publish":[],"subscribe":[],"expires_at_ms":null},"namespace":["live"],"track":"marked","now_ms":1000,"decision":{"use-track":"marked.wm-a"}}
{"phase":"publish","claims":{"subject":"alice","publish":[],"subscribe":[],"expires_at_ms":null},"namespace":["live"],"track":null,"now_ms":1000,"decision":"allow"}
{"phase":"object","viewer":"alice","namespace":["live"],"track":"marked.wm-a","group":0,"object":0,"decision":{"use-variant":1}}
"#;

fn replay(name: &str, recording: &std::path::Path) -> (bool, String) {
    let out = Command::new(common::tern())
        .args(["plugin", "replay", "--plugin"])
        .arg(plugin(name))
        .arg(recording)
        .output()
        .expect("run tern plugin replay");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn replay_reports_the_decisions_that_differ() {
    let dir = common::TempDir::new("plugin-replay");
    let recording = dir.0.join("calls.jsonl");
    std::fs::write(&recording, RECORDING).unwrap();

    let (ok, out) = replay("testbed", &recording);
    assert!(ok, "{out}");
    assert!(
        out.contains("4 calls replayed, 0 decisions differ"),
        "{out}"
    );

    // The template admits `anonymous@<peer>`, allows `marked` as it is and passes objects.
    let (ok, out) = replay("template", &recording);
    assert!(!ok, "{out}");
    assert!(
        out.contains("4 calls replayed, 3 decisions differ"),
        "{out}"
    );
    for line in ["line 1:", "line 2:", "line 4:"] {
        assert!(out.contains(line), "{line}: {out}");
    }
    assert!(!out.contains("line 3:"), "{out}");
    assert!(
        out.contains(r#"replayed: {"admit":{"subject":"anonymous@127.0.0.1:4000""#),
        "{out}"
    );
    assert!(out.contains(r#"replayed: "pass""#), "{out}");
}
