//! Worker threads: each owns one plugin instance in its own store and answers calls from the
//! bounded queue. A trapped instance is dropped and the next call gets a fresh one; a reloaded
//! plugin is picked up by comparing generations before each call.

use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{Plugin, PluginPre};
use crate::engine::TICK;
use crate::{
    HostConfig, LogEvent, ObjectDecision, ObjectRequest, PluginError, Request, RequestDecision,
    SessionDecision, SessionRequest,
};

/// One call for a worker.
pub(crate) enum Call {
    SessionOpen(SessionRequest),
    Subscribe(Request),
    Publish(Request),
    Object(ObjectRequest),
    Log(LogEvent),
}

impl Call {
    fn phase(&self) -> &'static str {
        match self {
            Self::SessionOpen(_) => "session-open",
            Self::Subscribe(_) => "subscribe",
            Self::Publish(_) => "publish",
            Self::Object(_) => "object",
            Self::Log(_) => "log",
        }
    }
}

/// A phase's answer.
pub(crate) enum Reply {
    Session(SessionDecision),
    Request(RequestDecision),
    Object(ObjectDecision),
    Logged,
}

pub(crate) struct Job {
    pub call: Call,
    /// `None` for calls nobody waits for (log).
    pub reply: Option<oneshot::Sender<Result<Reply, PluginError>>>,
}

/// A compiled plugin version, ready to instantiate.
pub(crate) struct Loaded {
    pub generation: u64,
    pub pre: PluginPre<State>,
}

impl Loaded {
    pub(crate) fn new(
        engine: &Engine,
        component: &Component,
        generation: u64,
    ) -> wasmtime::Result<Self> {
        let mut linker = Linker::<State>::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        let pre = PluginPre::new(linker.instantiate_pre(component)?)?;
        Ok(Self { generation, pre })
    }
}

/// What a store holds: a WASI context that grants nothing and the memory limits.
pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// What the workers share with the host.
pub(crate) struct Shared {
    pub config: HostConfig,
    pub current: Mutex<Arc<Loaded>>,
    /// Calls dropped unrun because their caller had given up waiting.
    pub abandoned: std::sync::atomic::AtomicU64,
}

struct Instance {
    generation: u64,
    store: Store<State>,
    plugin: Plugin,
}

/// Epoch ticks a call may run.
fn deadline_ticks(config: &HostConfig) -> u64 {
    let ticks = config.deadline.as_micros().div_ceil(TICK.as_micros());
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}

fn instantiate(shared: &Shared, loaded: &Loaded) -> Result<Instance, PluginError> {
    let engine = loaded.pre.engine();
    let limits = StoreLimitsBuilder::new()
        .memory_size(shared.config.memory_bytes)
        .instances(16)
        .trap_on_grow_failure(false)
        .build();
    let state = State {
        wasi: WasiCtx::builder().build(),
        table: ResourceTable::new(),
        limits,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limits);
    store.epoch_deadline_trap();
    store.set_epoch_deadline(deadline_ticks(&shared.config));
    let plugin = loaded
        .pre
        .instantiate(&mut store)
        .map_err(|error| trap("instantiate", &error))?;
    store.set_epoch_deadline(deadline_ticks(&shared.config));
    match plugin.call_configure(&mut store, &shared.config.config) {
        Ok(Ok(())) => Ok(Instance {
            generation: loaded.generation,
            store,
            plugin,
        }),
        Ok(Err(reason)) => Err(PluginError::Configure(reason)),
        Err(error) => Err(trap("configure", &error)),
    }
}

/// Instantiate the current version and run its `configure`, to report a refusal early.
pub(crate) fn probe(shared: &Shared) -> Result<(), PluginError> {
    let loaded = shared
        .current
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    probe_version(shared, &loaded)
}

/// Instantiate `loaded` and run its `configure`.
pub(crate) fn probe_version(shared: &Shared, loaded: &Loaded) -> Result<(), PluginError> {
    instantiate(shared, loaded).map(drop)
}

fn trap(phase: &'static str, error: &wasmtime::Error) -> PluginError {
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        PluginError::Interrupted { phase }
    } else {
        PluginError::Trap {
            phase,
            reason: format!("{error:#}"),
        }
    }
}

fn run(instance: &mut Instance, call: Call) -> wasmtime::Result<Reply> {
    let Instance { store, plugin, .. } = instance;
    Ok(match call {
        Call::SessionOpen(req) => Reply::Session(plugin.call_session_open(store, &req)?),
        Call::Subscribe(req) => Reply::Request(plugin.call_subscribe(store, &req)?),
        Call::Publish(req) => Reply::Request(plugin.call_publish(store, &req)?),
        Call::Object(req) => Reply::Object(plugin.call_object(store, &req)?),
        Call::Log(event) => {
            plugin.call_log(store, &event)?;
            Reply::Logged
        }
    })
}

/// A worker's loop: take a job, make sure the instance is current and alive, run the phase.
pub(crate) fn serve(shared: Arc<Shared>, jobs: Arc<Mutex<Receiver<Job>>>) {
    let mut instance: Option<Instance> = None;
    loop {
        let job = {
            let Ok(jobs) = jobs.lock() else { return };
            match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        // A caller that gave up (its wait timed out, its session went away) needs no
        // answer: running its call would only delay the calls still waited for.
        if job.reply.as_ref().is_some_and(|reply| reply.is_closed()) {
            shared
                .abandoned
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            continue;
        }
        let loaded = shared
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if instance
            .as_ref()
            .is_some_and(|i| i.generation != loaded.generation)
        {
            instance = None;
        }
        let phase = job.call.phase();
        let result = match instance.take() {
            Some(live) => Ok(live),
            None => instantiate(&shared, &loaded),
        }
        .and_then(|mut live| {
            live.store
                .set_epoch_deadline(deadline_ticks(&shared.config));
            match run(&mut live, job.call) {
                Ok(reply) => {
                    instance = Some(live);
                    Ok(reply)
                }
                // The instance may be half-way through anything: drop it.
                Err(error) => Err(trap(phase, &error)),
            }
        });
        if let Err(error) = &result {
            tracing::warn!(%error, phase, "plugin call failed");
        }
        if let Some(reply) = job.reply {
            let _ = reply.send(result);
        }
    }
}
