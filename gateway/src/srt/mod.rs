//! SRT in: what an SRT caller asks for (its stream ID), whether it may publish ([`admit`]),
//! the codes it is refused with, and the listener that reads MPEG-TS from accepted callers into
//! the node ([`serve`]).

pub mod admit;
mod listener;
pub mod streamid;

pub use admit::{Config, PathKey};
pub use listener::{SrtServer, serve};

/// A reject code an SRT listener refuses a caller with: the predefined access-control codes
/// of libsrt's `access_control.h` (1000 + an HTTP-like status), which srt-live-transmit and
/// ffmpeg print by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectCode {
    /// `SRT_REJX_BAD_REQUEST`: the stream ID cannot be parsed or interpreted.
    BadRequest,
    /// `SRT_REJX_UNAUTHORIZED`: the credential was refused.
    Unauthorized,
    /// `SRT_REJX_OVERLOAD`: the node is over a limit (publishers, budget).
    Overload,
    /// `SRT_REJX_FORBIDDEN`: publishing here is not allowed to this caller.
    Forbidden,
    /// `SRT_REJX_BAD_MODE`: the mode asked for is not served (playback over SRT).
    BadMode,
    /// `SRT_REJX_CONFLICT`: another publisher holds the broadcast.
    Conflict,
    /// `SRT_REJX_NOTSUP_MEDIA`: a type other than a live stream.
    NotSupportedMedia,
    /// `SRT_REJX_ISE`: the node failed.
    Internal,
}

impl RejectCode {
    /// The code on the wire.
    pub fn code(self) -> u32 {
        match self {
            Self::BadRequest => 1400,
            Self::Unauthorized => 1401,
            Self::Overload => 1402,
            Self::Forbidden => 1403,
            Self::BadMode => 1405,
            Self::Conflict => 1409,
            Self::NotSupportedMedia => 1415,
            Self::Internal => 1500,
        }
    }

    /// libsrt's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::BadRequest => "SRT_REJX_BAD_REQUEST",
            Self::Unauthorized => "SRT_REJX_UNAUTHORIZED",
            Self::Overload => "SRT_REJX_OVERLOAD",
            Self::Forbidden => "SRT_REJX_FORBIDDEN",
            Self::BadMode => "SRT_REJX_BAD_MODE",
            Self::Conflict => "SRT_REJX_CONFLICT",
            Self::NotSupportedMedia => "SRT_REJX_NOTSUP_MEDIA",
            Self::Internal => "SRT_REJX_ISE",
        }
    }
}
