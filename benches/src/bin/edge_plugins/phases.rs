//! Cost of one call of each plugin phase through a [`PluginHost`] (queue, worker thread,
//! wasm call, answer), and the time an epoch interrupt takes to stop a looping plugin.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use tern_edge_wasm::testing::plugin;
use tern_edge_wasm::{
    Claims, HostConfig, ObjectRequest, PluginError, PluginHost, Request, SessionRequest,
};

/// Start a host for plugin `name` with `config`, deadline `deadline`.
pub fn host(name: &str, config: &str, deadline: Duration) -> anyhow::Result<Arc<PluginHost>> {
    let mut host = HostConfig::new(plugin(name));
    host.config = config.to_owned();
    host.deadline = deadline;
    host.reload_interval = None;
    Ok(Arc::new(
        PluginHost::start(host).with_context(|| format!("start plugin {name}"))?,
    ))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn session(token: &str) -> SessionRequest {
    SessionRequest {
        token: Some(token.as_bytes().to_vec()),
        path: "/".into(),
        peer: "127.0.0.1:4000".into(),
        now_ms: now_ms(),
    }
}

/// One phase measured: its name and the mean nanoseconds per call.
pub struct Cost {
    pub phase: &'static str,
    pub ns_per_call: f64,
}

/// Mean time of `calls` sequential calls of `call`, after `calls / 10` calls of warm-up.
async fn time<F, Fut, T>(phase: &'static str, calls: u32, call: F) -> anyhow::Result<Cost>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, PluginError>>,
{
    for _ in 0..calls / 10 {
        call().await?;
    }
    let start = Instant::now();
    for _ in 0..calls {
        call().await?;
    }
    Ok(Cost {
        phase,
        ns_per_call: start.elapsed().as_nanos() as f64 / f64::from(calls),
    })
}

/// The session, subscribe and object phases of the watermark plugin, the template's no-op
/// object phase, and the token plugin's session phase (an HS256 JWT verified).
pub async fn costs(watermark: &str, calls: u32) -> anyhow::Result<Vec<Cost>> {
    let wm = host("watermark", watermark, Duration::from_millis(20))?;
    let template = host("template", "{}", Duration::from_millis(20))?;
    let token = host(
        "token",
        &tern_edge_wasm::testing::token_config(5),
        Duration::from_millis(20),
    )?;
    let jwt = tern_edge_wasm::mint(&tern_edge_wasm::Mint {
        alg: tern_edge_wasm::Alg::Hs256,
        key: tern_edge_wasm::testing::TEST_SECRET.as_bytes().to_vec(),
        kid: Some("hs".into()),
        subject: "viewer-7".into(),
        audience: "tern-relay".into(),
        issuer: "ops".into(),
        publish: Vec::new(),
        subscribe: vec!["bench".into()],
        now: SystemTime::now(),
        valid_for: Duration::from_secs(3600),
    })?;
    let claims = Claims {
        subject: "viewer-7".into(),
        publish: Vec::new(),
        subscribe: vec![String::new()],
        expires_at_ms: None,
    };
    let subscribe = Request {
        claims,
        namespace: vec![b"bench".to_vec()],
        track: Some(b"video".to_vec()),
        now_ms: now_ms(),
    };
    let object = |track: &str| ObjectRequest {
        viewer: "viewer-7".into(),
        namespace: vec![b"bench".to_vec()],
        track: track.as_bytes().to_vec(),
        group: 42,
        object: 0,
    };
    Ok(vec![
        time("session (watermark, viewer id as is)", calls, || {
            wm.session_open(session("viewer-7"))
        })
        .await?,
        time("session (token, HS256 JWT verified)", calls, || {
            token.session_open(session(&jwt))
        })
        .await?,
        time("subscribe (watermark, use-track)", calls, || {
            wm.subscribe(subscribe.clone())
        })
        .await?,
        time("object (template, no-op pass)", calls, || {
            template.object(object("video"))
        })
        .await?,
        time("object (watermark, A/B choice)", calls, || {
            wm.object(object("video.wm-a"))
        })
        .await?,
    ])
}

/// Time from the deadline to the failed answer of a plugin that never returns (the testbed's
/// `loop`), `runs` times: each run's overshoot past `deadline`, sorted.
pub async fn loop_stops(deadline: Duration, runs: u32) -> anyhow::Result<Vec<Duration>> {
    // One worker: the run after an interrupt meets the freshly made instance warmed up below.
    let mut config = HostConfig::new(plugin("testbed"));
    config.deadline = deadline;
    config.workers = 1;
    config.reload_interval = None;
    let testbed = PluginHost::start(config).context("start plugin testbed")?;
    let mut overshoot = Vec::new();
    for _ in 0..runs {
        // A fresh instance first, so that the timed call does not include instantiation.
        testbed.session_open(session("warm")).await?;
        let start = Instant::now();
        match testbed.session_open(session("loop")).await {
            Err(PluginError::Interrupted { .. }) => {}
            other => bail!("the looping plugin was not interrupted: {other:?}"),
        }
        overshoot.push(start.elapsed().saturating_sub(deadline));
    }
    overshoot.sort();
    Ok(overshoot)
}
