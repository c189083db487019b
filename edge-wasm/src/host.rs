//! The relay-facing handle: async calls into the phases, hot reload of the plugin file.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::engine::{self, Ticker};
use crate::record::{Decision, Input, Recorder};
use crate::worker::{self, Call, Job, Loaded, Reply, Shared};
use crate::{
    Claims, HostConfig, LogEvent, ObjectDecision, ObjectRequest, PluginError, Request,
    RequestDecision, SessionDecision, SessionRequest,
};

/// A loaded plugin, its worker threads and its epoch ticker. Made only when a plugin is
/// configured; dropping it stops the workers once the calls they run end.
pub struct PluginHost {
    engine: Engine,
    shared: Arc<Shared>,
    /// Admission calls: session open, subscribe, publish, log.
    jobs: SyncSender<Job>,
    /// Object calls, on workers of their own: watermarking never holds up admission.
    objects: SyncSender<Job>,
    tokens: TokenCache,
    /// File modification time and length of the loaded version.
    stamp: Mutex<Option<(SystemTime, u64)>>,
    generation: AtomicU64,
    timeout: Duration,
    recorder: Option<Recorder>,
    _ticker: Arc<Ticker>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("file", &self.shared.config.file)
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

fn load_error(path: &Path, reason: impl std::fmt::Display) -> PluginError {
    PluginError::Load {
        path: path.display().to_string(),
        reason: format!("{reason:#}"),
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl PluginHost {
    /// Compile the plugin, start the epoch ticker and the workers, and check that an instance
    /// accepts its configuration. Blocking (compiling takes milliseconds to seconds): call it
    /// from `spawn_blocking` on a runtime.
    pub fn start(config: HostConfig) -> Result<Self, PluginError> {
        config
            .validate()
            .map_err(|error| load_error(&config.file, error))?;
        let engine = engine::build(&config).map_err(|error| load_error(&config.file, error))?;
        let file_stamp = stamp(&config.file);
        let component = Component::from_file(&engine, &config.file)
            .map_err(|error| load_error(&config.file, error))?;
        let loaded =
            Loaded::new(&engine, &component, 1).map_err(|error| load_error(&config.file, error))?;
        // The ticker first: the probe's `configure` runs under the epoch deadline too.
        let ticker =
            Arc::new(Ticker::start(&engine).map_err(|error| load_error(&config.file, error))?);
        let recorder = match &config.record {
            Some(to) => Some(Recorder::create(to).map_err(|error| {
                load_error(
                    &config.file,
                    format!("record {}: {error}", to.path.display()),
                )
            })?),
            None => None,
        };
        let (jobs, queue) = sync_channel(config.queue);
        let (objects, object_queue) = sync_channel(config.queue);
        let timeout = config.deadline * 3 + Duration::from_millis(100);
        let shared = Arc::new(Shared {
            config,
            current: Mutex::new(Arc::new(loaded)),
            abandoned: AtomicU64::new(0),
        });
        // A configuration the plugin refuses is reported now, not at the first session.
        worker::probe(&shared)?;
        for (name, queue) in [("tern-wasm", queue), ("tern-wasm-object", object_queue)] {
            let queue = Arc::new(Mutex::new(queue));
            for index in 0..shared.config.workers {
                let (worker_shared, queue, ticker) =
                    (shared.clone(), queue.clone(), ticker.clone());
                std::thread::Builder::new()
                    .name(format!("{name}-{index}"))
                    .spawn(move || {
                        worker::serve(worker_shared, queue);
                        drop(ticker);
                    })
                    .map_err(|error| load_error(&shared.config.file, error))?;
            }
        }
        Ok(Self {
            engine,
            shared,
            jobs,
            objects,
            tokens: TokenCache::default(),
            stamp: Mutex::new(file_stamp),
            generation: AtomicU64::new(1),
            timeout,
            recorder,
            _ticker: ticker,
        })
    }

    /// The loaded version: 1 at start, one more per reload.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// The settings this host runs with.
    pub fn config(&self) -> &HostConfig {
        &self.shared.config
    }

    /// Recompile the plugin file if it changed since it was loaded. New calls use the new
    /// version; sessions admitted by the old one keep their claims. A file that does not compile
    /// leaves the old version in place. Blocking, like [`PluginHost::start`].
    pub fn reload_if_changed(&self) -> Result<bool, PluginError> {
        let path = &self.shared.config.file;
        let now = stamp(path);
        if now.is_none() || *self.stamp.lock().unwrap_or_else(|p| p.into_inner()) == now {
            return Ok(false);
        }
        let component =
            Component::from_file(&self.engine, path).map_err(|error| load_error(path, error))?;
        let generation = self.generation() + 1;
        let loaded = Loaded::new(&self.engine, &component, generation)
            .map_err(|error| load_error(path, error))?;
        worker::probe_version(&self.shared, &loaded)?;
        *self
            .shared
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
        *self.stamp.lock().unwrap_or_else(|p| p.into_inner()) = now;
        self.generation.store(generation, Ordering::Relaxed);
        self.tokens.clear();
        tracing::info!(file = %path.display(), generation, "plugin reloaded");
        Ok(true)
    }

    /// Check the file every `reload_interval` and reload it when it changed; runs until the
    /// host is dropped. Spawn it on a tokio runtime.
    pub async fn watch(self: Arc<Self>) {
        let Some(every) = self.shared.config.reload_interval else {
            return;
        };
        let weak = Arc::downgrade(&self);
        drop(self);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(host) = weak.upgrade() else { return };
            let result = tokio::task::spawn_blocking(move || host.reload_if_changed()).await;
            if let Ok(Err(error)) = result {
                tracing::warn!(%error, "plugin reload failed; the previous version stays");
            }
        }
    }

    /// Calls dropped unrun so far because their caller had given up.
    pub fn abandoned_calls(&self) -> u64 {
        self.shared.abandoned.load(Ordering::Relaxed)
    }

    fn submit(
        &self,
        call: Call,
        reply: Option<oneshot::Sender<Result<Reply, PluginError>>>,
    ) -> Result<(), PluginError> {
        let queue = match call {
            Call::Object(_) => &self.objects,
            _ => &self.jobs,
        };
        match queue.try_send(Job { call, reply }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(PluginError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(PluginError::Stopped),
        }
    }

    async fn call(&self, call: Call) -> Result<Reply, PluginError> {
        let (reply, answer) = oneshot::channel();
        self.submit(call, Some(reply))?;
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(PluginError::Stopped),
            Err(_) => Err(PluginError::Timeout(self.timeout)),
        }
    }

    /// Run `call`, take its decision out of the reply with `answer`, and record both when
    /// recording (`input` is `Some` exactly then).
    async fn decide<D>(
        &self,
        call: Call,
        input: Option<Input>,
        answer: fn(Reply) -> Option<D>,
    ) -> Result<D, PluginError>
    where
        Decision: for<'a> From<&'a Result<D, PluginError>>,
    {
        let result = self.call(call).await.map(|reply| {
            answer(reply)
                .unwrap_or_else(|| unreachable!("each phase answers with its own decision"))
        });
        if let (Some(input), Some(recorder)) = (input, &self.recorder) {
            recorder.record(input, (&result).into());
        }
        result
    }

    /// Whether [`PluginHost::session_open`] would admit `token` (with `path`) from its cache
    /// at `now_ms`, without a plugin call.
    pub fn token_cached(&self, token: &[u8], path: &str, now_ms: u64) -> bool {
        self.tokens
            .get(&token_key(token, path), self.generation(), now_ms)
            .is_some()
    }

    /// Session open: admit (with claims) or refuse a session. A token (with its path) this
    /// version of the plugin admitted before is admitted again from the cache, with the same
    /// claims, until its `exp` (at most five minutes); a refusal is never cached.
    pub async fn session_open(&self, req: SessionRequest) -> Result<SessionDecision, PluginError> {
        let key = req
            .token
            .as_deref()
            .map(|token| token_key(token, &req.path));
        let generation = self.generation();
        if let Some(claims) = key.and_then(|k| self.tokens.get(&k, generation, req.now_ms)) {
            return Ok(SessionDecision::Allow(claims));
        }
        let now_ms = req.now_ms;
        let input = self.recorder.as_ref().map(|_| Input::session(&req));
        let decision = self
            .decide(Call::SessionOpen(req), input, |reply| match reply {
                Reply::Session(decision) => Some(decision),
                _ => None,
            })
            .await;
        if let (Some(key), Ok(SessionDecision::Allow(claims))) = (key, &decision) {
            self.tokens.put(key, generation, claims, now_ms);
        }
        decision
    }

    fn request_decision(reply: Reply) -> Option<RequestDecision> {
        match reply {
            Reply::Request(decision) => Some(decision),
            _ => None,
        }
    }

    /// Subscribe: may this session subscribe to the track (or to a variant of it)?
    pub async fn subscribe(&self, req: Request) -> Result<RequestDecision, PluginError> {
        let input = self
            .recorder
            .as_ref()
            .map(|_| Input::Subscribe((&req).into()));
        self.decide(Call::Subscribe(req), input, Self::request_decision)
            .await
    }

    /// Publish: may this session publish the namespace (or the track)?
    pub async fn publish(&self, req: Request) -> Result<RequestDecision, PluginError> {
        let input = self
            .recorder
            .as_ref()
            .map(|_| Input::Publish((&req).into()));
        self.decide(Call::Publish(req), input, Self::request_decision)
            .await
    }

    /// Object: which variant of this object goes to this viewer.
    pub async fn object(&self, req: ObjectRequest) -> Result<ObjectDecision, PluginError> {
        let input = self.recorder.as_ref().map(|_| Input::object(&req));
        self.decide(Call::Object(req), input, |reply| match reply {
            Reply::Object(decision) => Some(decision),
            _ => None,
        })
        .await
    }

    /// Log: hand an event to the plugin without waiting. Returns false when the queue was full
    /// and the event was dropped.
    pub fn log(&self, event: LogEvent) -> bool {
        self.submit(Call::Log(event), None).is_ok()
    }
}

/// Tokens a plugin version admitted, so that a token seen again (a viewer's every request, a
/// reconnect) is not verified again. Keyed by the SHA-256 of the token and the path; an entry
/// holds for its plugin version only, until the token's `exp` and at most
/// [`TOKEN_CACHE_TTL_MS`]; a reload empties the cache. Bounded: past
/// [`TOKEN_CACHE_ENTRIES`], expired entries go, then all of them.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    entries: Mutex<std::collections::HashMap<[u8; 32], Cached>>,
}

#[derive(Debug)]
struct Cached {
    generation: u64,
    claims: Claims,
    until_ms: u64,
}

/// Entries a [`TokenCache`] holds at most.
pub(crate) const TOKEN_CACHE_ENTRIES: usize = 10_000;
/// Longest a [`TokenCache`] entry lives, whatever the token's `exp` (ms).
pub(crate) const TOKEN_CACHE_TTL_MS: u64 = 5 * 60 * 1000;

fn token_key(token: &[u8], path: &str) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(&(token.len() as u64).to_be_bytes());
    ctx.update(token);
    ctx.update(path.as_bytes());
    let mut key = [0; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

impl TokenCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<[u8; 32], Cached>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &[u8; 32], generation: u64, now_ms: u64) -> Option<Claims> {
        let entries = self.lock();
        let hit = entries.get(key)?;
        (hit.generation == generation && now_ms < hit.until_ms).then(|| hit.claims.clone())
    }

    fn put(&self, key: [u8; 32], generation: u64, claims: &Claims, now_ms: u64) {
        let ttl = now_ms.saturating_add(TOKEN_CACHE_TTL_MS);
        let until_ms = claims.expires_at_ms.map_or(ttl, |exp| exp.min(ttl));
        if until_ms <= now_ms {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= TOKEN_CACHE_ENTRIES && !entries.contains_key(&key) {
            entries.retain(|_, c| c.until_ms > now_ms && c.generation == generation);
            if entries.len() >= TOKEN_CACHE_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Cached {
                generation,
                claims: claims.clone(),
                until_ms,
            },
        );
    }

    fn clear(&self) {
        self.lock().clear();
    }
}
