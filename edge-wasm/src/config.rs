//! Plain-data settings of a plugin host, checked before anything is built.

use std::path::PathBuf;
use std::time::Duration;

/// How one plugin runs. The relay fills it from its `[plugin]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// The component file (`.wasm`). Reloaded when it changes.
    pub file: PathBuf,
    /// Configuration handed to the plugin's `configure` (JSON text).
    pub config: String,
    /// Longest time one call may run before the epoch interrupt stops it.
    pub deadline: Duration,
    /// Linear memory cap of one instance, in bytes.
    pub memory_bytes: usize,
    /// Wasm stack limit of one call, in bytes.
    pub stack_bytes: usize,
    /// Worker threads, each with its own instance.
    pub workers: usize,
    /// Calls waiting for a worker; more are refused with [`crate::PluginError::Busy`].
    pub queue: usize,
    /// How often the file is checked for a new version; `None` never reloads.
    pub reload_interval: Option<Duration>,
    /// Record every call with its decision (see [`crate::record`]); `None` records nothing.
    pub record: Option<crate::record::RecordTo>,
}

impl HostConfig {
    /// Defaults for `file`: 20 ms per call, 16 MiB of memory, 512 KiB of stack, two workers,
    /// 256 queued calls, the file checked every second, nothing recorded.
    pub fn new(file: impl Into<PathBuf>) -> Self {
        Self {
            file: file.into(),
            config: "{}".into(),
            deadline: Duration::from_millis(20),
            memory_bytes: 16 << 20,
            stack_bytes: 512 << 10,
            workers: 2,
            queue: 256,
            reload_interval: Some(Duration::from_secs(1)),
            record: None,
        }
    }

    /// Refuse settings outside their bounds, naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = |ok: bool, setting: &'static str, bounds: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError { setting, bounds })
            }
        };
        check(
            (Duration::from_millis(1)..=Duration::from_secs(10)).contains(&self.deadline),
            "deadline",
            "1 ms to 10 s",
        )?;
        check(
            ((1 << 20)..=(1 << 30)).contains(&self.memory_bytes),
            "memory",
            "1 MiB to 1 GiB",
        )?;
        check(
            ((64 << 10)..=(8 << 20)).contains(&self.stack_bytes),
            "stack",
            "64 KiB to 8 MiB",
        )?;
        check((1..=16).contains(&self.workers), "workers", "1 to 16")?;
        check((1..=65_536).contains(&self.queue), "queue", "1 to 65536")?;
        if let Some(every) = self.reload_interval {
            check(
                every >= Duration::from_millis(10),
                "reload_interval",
                "at least 10 ms",
            )?;
        }
        if let Some(record) = &self.record {
            check(
                (1..=10_000_000).contains(&record.max_calls),
                "record_max_calls",
                "1 to 10000000",
            )?;
        }
        Ok(())
    }
}

/// A setting outside its bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin setting `{setting}` must be {bounds}")]
pub struct ConfigError {
    /// The setting's name.
    pub setting: &'static str,
    /// Its allowed range.
    pub bounds: &'static str,
}
