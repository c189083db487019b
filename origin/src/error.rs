//! What can go wrong in the origin, with the blame: the media input, the relay or node it
//! publishes to, a helper program, or the caller's options.

use std::fmt;

/// An origin error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The media input could not be opened or read (`input` names it).
    #[error("{input}: {source}")]
    Read {
        /// The input (a file's path, "the embedded sample clip", "stdin").
        input: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The media input is not what the origin packages.
    #[error("{input}: {source}")]
    Media {
        /// The input.
        input: String,
        /// What is wrong with it.
        #[source]
        source: tern_cmaf::Error,
    },
    /// The media input ended, or began, where it may not.
    #[error("{input}: {reason}")]
    Incomplete {
        /// The input.
        input: String,
        /// What is missing.
        reason: &'static str,
    },
    /// The relay (or the node's local API) refused or lost what the origin publishes.
    #[error("cannot publish {what}: {reason}")]
    Publish {
        /// The namespace or track.
        what: String,
        /// The relay's or node's answer.
        reason: String,
    },
    /// The relay node this process runs refused what the origin publishes; the refusal's kind
    /// is what a gateway answers its own publisher with.
    #[error("cannot publish {what}: {refused}")]
    Refused {
        /// The namespace or track.
        what: String,
        /// The node's answer.
        refused: tern_model::local::Refused,
    },
    /// A track could not take the next group or object.
    #[error("track {track}: {source}")]
    Track {
        /// The track's name.
        track: String,
        /// Why.
        #[source]
        source: tern_peer::Error,
    },
    /// A helper program could not be started.
    #[error("cannot start {program} ({source}); install it (apt-get install {program})")]
    Program {
        /// The program (ffmpeg).
        program: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The options do not fit the input (for example watermarking an input with one video
    /// track).
    #[error("{0}")]
    Options(String),
    /// The relay ended something the origin relies on (the listing of viewers' events).
    #[error("{0}")]
    Relay(String),
}

impl Error {
    /// A [`Error::Read`] of `input`.
    pub(crate) fn read(input: impl fmt::Display, source: std::io::Error) -> Self {
        Self::Read {
            input: input.to_string(),
            source,
        }
    }

    /// A [`Error::Media`] of `input`.
    pub(crate) fn media(input: impl fmt::Display, source: tern_cmaf::Error) -> Self {
        Self::Media {
            input: input.to_string(),
            source,
        }
    }

    /// The same error, naming `name` as the input it is about (an [`Fmp4Reader`] does not know
    /// what it reads: its errors say "the input").
    ///
    /// [`Fmp4Reader`]: crate::source::Fmp4Reader
    pub fn of_input(mut self, name: String) -> Self {
        if let Self::Read { input, .. }
        | Self::Media { input, .. }
        | Self::Incomplete { input, .. } = &mut self
        {
            *input = name;
        }
        self
    }

    /// A [`Error::Refused`] of `what`.
    pub(crate) fn refused(what: impl fmt::Display, refused: tern_model::local::Refused) -> Self {
        Self::Refused {
            what: what.to_string(),
            refused,
        }
    }

    /// A [`Error::Publish`] of `what`.
    pub(crate) fn publish(what: impl fmt::Display, reason: impl fmt::Display) -> Self {
        Self::Publish {
            what: what.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// A result of the origin.
pub type Result<T, E = Error> = std::result::Result<T, E>;
