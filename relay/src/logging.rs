//! Process-wide logging: `tracing` events to stderr as text or JSON lines.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::{SubscriberInitExt, TryInitError};

use crate::config::LogFormat;

/// Logging could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoggingError {
    /// `level` is not an env-filter directive.
    #[error("log.level: not a tracing env-filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// A global subscriber is already installed (init was called twice).
    #[error("logging is already initialised: {0}")]
    AlreadyInitialised(#[from] TryInitError),
}

/// Modules whose debug events quote tokens (the WebTransport CONNECT request, `?jwt=` and all):
/// never logged below `info`, whatever `level` says.
const QUOTES_TOKENS: &[&str] = &["web_transport_quinn::connect=info"];

/// The filter of `level` (an env-filter directive such as `info` or `info,tern_relay=debug`,
/// i.e. `log.level`), with the modules that quote tokens held at `info`.
pub fn filter(level: &str) -> Result<EnvFilter, LoggingError> {
    let mut filter = EnvFilter::try_new(level)?;
    for directive in QUOTES_TOKENS {
        filter = filter.add_directive(directive.parse()?);
    }
    Ok(filter)
}

/// Installs the global subscriber: `format` lines on stderr, filtered by [`filter`] of `level`.
/// Call once, early.
pub fn init(format: LogFormat, level: &str) -> Result<(), LoggingError> {
    let filter = filter(level)?;
    let (text, json) = match format {
        LogFormat::Text => (
            Some(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)),
            None,
        ),
        LogFormat::Json => (
            None,
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            ),
        ),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json)
        .try_init()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_level_is_refused_before_installing() {
        let error = init(LogFormat::Text, "info,[[[").expect_err("bad filter");
        assert!(error.to_string().starts_with("log.level: "), "{error}");
    }

    #[test]
    fn installs_once() {
        // One test installs, so it holds whether tests share a process (cargo test) or not.
        init(LogFormat::Json, "debug").expect("first init");
        tracing::info!(answer = 42, "logging works");
        assert!(matches!(
            init(LogFormat::Text, "info"),
            Err(LoggingError::AlreadyInitialised(_))
        ));
    }
}
