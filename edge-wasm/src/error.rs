//! Why a plugin call gave no decision. Every error here means "no decision": the relay fails
//! closed on session open, subscribe and publish.

use std::time::Duration;

/// A plugin call that produced no decision.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The plugin file could not be read or compiled.
    #[error("cannot load plugin {path}: {reason}")]
    Load {
        /// The plugin file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The plugin's `configure` refused its configuration.
    #[error("plugin refused its configuration: {0}")]
    Configure(String),
    /// The plugin trapped (panic, epoch deadline, out of bounds, stack overflow).
    #[error("plugin trapped in {phase}: {reason}")]
    Trap {
        /// The phase that was running.
        phase: &'static str,
        /// The trap as wasmtime describes it.
        reason: String,
    },
    /// The plugin ran past its epoch deadline and was stopped.
    #[error("plugin ran past its deadline in {phase} and was interrupted")]
    Interrupted {
        /// The phase that was running.
        phase: &'static str,
    },
    /// Every worker is busy and the queue is full.
    #[error("plugin queue is full")]
    Busy,
    /// No answer within the caller's timeout.
    #[error("plugin gave no answer within {0:?}")]
    Timeout(Duration),
    /// The host is shutting down.
    #[error("plugin host stopped")]
    Stopped,
}
