//! Recorded sessions: the phase calls a host made, each with its input and the decision it got,
//! one JSON object a line; a [`Recorder`] writes them (bounded), [`replay`] runs them against a
//! plugin again and reports the decisions that differ.
//!
//! A line: `{"phase": "subscribe", "claims": {...}, "namespace": ["live", "room"],
//! "track": "video", "now_ms": 1764550000000, "decision": {"use-track": "video.wm-a"}}`. Byte
//! strings are JSON strings when they are UTF-8, else arrays of numbers. Tokens are recorded as
//! they came: a recording is as secret as the tokens in it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use serde::{Deserialize, Serialize};

use crate::{
    Claims, Deny, ObjectDecision, ObjectRequest, PluginError, PluginHost, Request, RequestDecision,
    SessionDecision, SessionRequest,
};

/// Where a host records its calls, and how many at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordTo {
    /// The JSON-lines file (created, or truncated).
    pub path: PathBuf,
    /// Calls recorded at most; later ones are not.
    pub max_calls: u64,
}

/// Bytes: text when UTF-8, else the numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Bytes {
    /// UTF-8 text.
    Text(String),
    /// Anything else.
    Raw(Vec<u8>),
}

impl Bytes {
    fn of(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::Text(text.to_owned()),
            Err(_) => Self::Raw(bytes.to_vec()),
        }
    }

    fn to_vec(&self) -> Vec<u8> {
        match self {
            Self::Text(text) => text.as_bytes().to_vec(),
            Self::Raw(raw) => raw.clone(),
        }
    }
}

/// [`Claims`] as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedClaims {
    pub subject: String,
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
    pub expires_at_ms: Option<u64>,
}

impl From<&Claims> for RecordedClaims {
    fn from(c: &Claims) -> Self {
        Self {
            subject: c.subject.clone(),
            publish: c.publish.clone(),
            subscribe: c.subscribe.clone(),
            expires_at_ms: c.expires_at_ms,
        }
    }
}

impl From<&RecordedClaims> for Claims {
    fn from(c: &RecordedClaims) -> Self {
        Self {
            subject: c.subject.clone(),
            publish: c.publish.clone(),
            subscribe: c.subscribe.clone(),
            expires_at_ms: c.expires_at_ms,
        }
    }
}

/// A phase call's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum Input {
    /// `session-open`.
    SessionOpen {
        token: Option<Bytes>,
        path: String,
        peer: String,
        now_ms: u64,
    },
    /// `subscribe`.
    Subscribe(RecordedRequest),
    /// `publish`.
    Publish(RecordedRequest),
    /// `object`.
    Object {
        viewer: String,
        namespace: Vec<Bytes>,
        track: Bytes,
        group: u64,
        object: u64,
    },
}

/// A subscribe or publish [`Request`] as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub claims: RecordedClaims,
    pub namespace: Vec<Bytes>,
    pub track: Option<Bytes>,
    pub now_ms: u64,
}

impl From<&Request> for RecordedRequest {
    fn from(r: &Request) -> Self {
        Self {
            claims: (&r.claims).into(),
            namespace: r.namespace.iter().map(|f| Bytes::of(f)).collect(),
            track: r.track.as_deref().map(Bytes::of),
            now_ms: r.now_ms,
        }
    }
}

impl From<&RecordedRequest> for Request {
    fn from(r: &RecordedRequest) -> Self {
        Self {
            claims: (&r.claims).into(),
            namespace: r.namespace.iter().map(Bytes::to_vec).collect(),
            track: r.track.as_ref().map(Bytes::to_vec),
            now_ms: r.now_ms,
        }
    }
}

impl Input {
    pub(crate) fn session(r: &SessionRequest) -> Self {
        Self::SessionOpen {
            token: r.token.as_deref().map(Bytes::of),
            path: r.path.clone(),
            peer: r.peer.clone(),
            now_ms: r.now_ms,
        }
    }

    pub(crate) fn object(r: &ObjectRequest) -> Self {
        Self::Object {
            viewer: r.viewer.clone(),
            namespace: r.namespace.iter().map(|f| Bytes::of(f)).collect(),
            track: Bytes::of(&r.track),
            group: r.group,
            object: r.object,
        }
    }
}

/// A phase's answer as recorded; `error` when the call failed (trap, deadline, full queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Session admitted with these claims.
    Admit(RecordedClaims),
    Allow,
    Deny {
        code: u32,
        reason: String,
    },
    UseTrack(Bytes),
    Pass,
    UseVariant(u32),
    Error(String),
}

impl Decision {
    /// Equal for a replay: the same decision, or both failed (whatever the failure's text).
    pub fn matches(&self, other: &Decision) -> bool {
        match (self, other) {
            (Self::Error(_), Self::Error(_)) => true,
            _ => self == other,
        }
    }
}

fn deny(d: &Deny) -> Decision {
    Decision::Deny {
        code: d.code,
        reason: d.reason.clone(),
    }
}

impl From<&Result<SessionDecision, PluginError>> for Decision {
    fn from(r: &Result<SessionDecision, PluginError>) -> Self {
        match r {
            Ok(SessionDecision::Allow(c)) => Self::Admit(c.into()),
            Ok(SessionDecision::Deny(d)) => deny(d),
            Err(e) => Self::Error(e.to_string()),
        }
    }
}

impl From<&Result<RequestDecision, PluginError>> for Decision {
    fn from(r: &Result<RequestDecision, PluginError>) -> Self {
        match r {
            Ok(RequestDecision::Allow) => Self::Allow,
            Ok(RequestDecision::Deny(d)) => deny(d),
            Ok(RequestDecision::UseTrack(t)) => Self::UseTrack(Bytes::of(t)),
            Err(e) => Self::Error(e.to_string()),
        }
    }
}

impl From<&Result<ObjectDecision, PluginError>> for Decision {
    fn from(r: &Result<ObjectDecision, PluginError>) -> Self {
        match r {
            Ok(ObjectDecision::Pass) => Self::Pass,
            Ok(ObjectDecision::UseVariant(v)) => Self::UseVariant(*v),
            Err(e) => Self::Error(e.to_string()),
        }
    }
}

/// One recorded call: a line of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    #[serde(flatten)]
    pub input: Input,
    pub decision: Decision,
}

/// Lines waiting for the writer thread; more are dropped (and counted).
const QUEUE: usize = 1024;

/// Writes calls to a file from a thread of its own, never blocking the caller: at most
/// `max_calls` of them, dropping those that find the queue full.
pub struct Recorder {
    lines: SyncSender<String>,
    left: AtomicU64,
    dropped: AtomicU64,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("left", &self.left.load(Ordering::Relaxed))
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

fn write_lines(mut file: std::io::BufWriter<std::fs::File>, lines: Receiver<String>) {
    while let Ok(line) = lines.recv() {
        let mut next = Some(line);
        while let Some(line) = next {
            if writeln!(file, "{line}").is_err() {
                return;
            }
            next = lines.try_recv().ok();
        }
        if file.flush().is_err() {
            return;
        }
    }
}

impl Recorder {
    /// Create (or truncate) the file, readable by its owner only (it holds the sessions'
    /// tokens), and start the writer. A file that was there keeps no wider mode.
    pub fn create(to: &RecordTo) -> std::io::Result<Self> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&to.path)?;
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        Self::start(file, to)
    }

    fn start(file: std::fs::File, to: &RecordTo) -> std::io::Result<Self> {
        tracing::warn!(
            path = %to.path.display(),
            "recording plugin calls, tokens included (mode 0600): keep the file secret"
        );
        let file = std::io::BufWriter::new(file);
        let (lines, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("tern-wasm-record".into())
            .spawn(move || write_lines(file, rx))?;
        Ok(Self {
            lines,
            left: AtomicU64::new(to.max_calls),
            dropped: AtomicU64::new(0),
        })
    }

    /// Record one call, unless `max_calls` were recorded already.
    pub fn record(&self, input: Input, decision: Decision) {
        let taken = self
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if taken.is_err() {
            return;
        }
        let Ok(line) = serde_json::to_string(&Call { input, decision }) else {
            return;
        };
        if self.lines.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Calls dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A call whose decision differs on replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Line number in the recording (from 1).
    pub line: usize,
    pub input: Input,
    pub recorded: Decision,
    pub replayed: Decision,
}

/// What a replay found.
#[derive(Debug, Default)]
pub struct Report {
    /// Calls replayed.
    pub calls: usize,
    pub differences: Vec<Difference>,
}

/// A line of a recording that is not a call.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}: not a recorded call: {reason}")]
pub struct ReplayError {
    pub path: String,
    pub line: usize,
    pub reason: String,
}

/// Run one recorded input against `host`.
pub async fn run(host: &PluginHost, input: &Input) -> Decision {
    match input {
        Input::SessionOpen {
            token,
            path,
            peer,
            now_ms,
        } => (&host
            .session_open(SessionRequest {
                token: token.as_ref().map(Bytes::to_vec),
                path: path.clone(),
                peer: peer.clone(),
                now_ms: *now_ms,
            })
            .await)
            .into(),
        Input::Subscribe(r) => (&host.subscribe(r.into()).await).into(),
        Input::Publish(r) => (&host.publish(r.into()).await).into(),
        Input::Object {
            viewer,
            namespace,
            track,
            group,
            object,
        } => (&host
            .object(ObjectRequest {
                viewer: viewer.clone(),
                namespace: namespace.iter().map(Bytes::to_vec).collect(),
                track: track.to_vec(),
                group: *group,
                object: *object,
            })
            .await)
            .into(),
    }
}

/// Replay every call of `recording` (the text of the file at `path`) against `host`, in order,
/// and report the decisions that differ. Blank lines are skipped.
pub async fn replay(
    host: &PluginHost,
    path: &Path,
    recording: &str,
) -> Result<Report, ReplayError> {
    let mut report = Report::default();
    for (index, text) in recording.lines().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        let call: Call = serde_json::from_str(text).map_err(|e| ReplayError {
            path: path.display().to_string(),
            line: index + 1,
            reason: e.to_string(),
        })?;
        let replayed = run(host, &call.input).await;
        report.calls += 1;
        if !call.decision.matches(&replayed) {
            report.differences.push(Difference {
                line: index + 1,
                input: call.input,
                recorded: call.decision,
                replayed,
            });
        }
    }
    Ok(report)
}
