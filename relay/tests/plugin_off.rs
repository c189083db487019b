//! With no plugin configured a relay runs no plugin machinery: no engine, no epoch ticker, no
//! workers. (One test in its own binary: the check looks at the whole process's threads.)

mod support;

use support::*;

fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("Linux /proc")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

#[tokio::test]
async fn no_plugin_means_no_plugin_threads() {
    let (router, settings) = default_settings();
    assert!(settings.plugin.is_none());
    let node = start_relay(router, settings);
    let viewer = Peer::connect(&url(&node)).await;
    let _announced = viewer.publish_namespace("live/open").await;
    let names = thread_names();
    assert!(!names.is_empty());
    assert!(
        !names.iter().any(|n| n.starts_with("tern-wasm")),
        "plugin threads without a plugin: {names:?}"
    );
}
