//! The fixed parameters of a media playlist, and what [`MediaPlaylist`](super::MediaPlaylist)
//! refuses: configs it cannot be made with, and segments and parts the caller should not have
//! cut.

/// The default Part Target Duration, in milliseconds.
pub const DEFAULT_PART_TARGET_MS: u32 = 333;
/// The shortest Part Target Duration taken, in milliseconds.
pub const MIN_PART_TARGET_MS: u32 = 200;
/// The longest Target Duration taken, in seconds.
pub const MAX_TARGET_DURATION: u32 = 60;
/// The most segments a window keeps, however short they are.
pub const MAX_SEGMENTS: usize = 4096;
/// The highest first Media Sequence Number taken (2^63 − 1: room to count up for ever).
pub const MAX_FIRST_MSN: u64 = i64::MAX as u64;
/// The most parts one segment holds.
pub const MAX_PARTS: usize = 1024;

/// The fixed parameters of a media playlist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaylistConfig {
    /// The Target Duration (`EXT-X-TARGETDURATION`), whole seconds, 1 to
    /// [`MAX_TARGET_DURATION`]: every segment, rounded to the nearest second, is at most this.
    pub target_duration: u32,
    /// The Part Target Duration (`EXT-X-PART-INF:PART-TARGET`), in milliseconds: at least
    /// [`MIN_PART_TARGET_MS`], at most the Target Duration.
    pub part_target_ms: u32,
    /// Ticks per second of every duration given to the playlist.
    pub timescale: u32,
    /// The media the window keeps, in seconds: complete segments leave it, oldest first, while
    /// what remains is at least this long. At least three Target Durations (§6.2.2).
    pub window: u32,
    /// The Media Sequence Number of the first segment.
    pub first_msn: u64,
}

impl PlaylistConfig {
    /// A config with the default Part Target Duration, a window of twelve Target Durations
    /// (long enough for delta updates to skip half of it) and segments numbered from 0.
    pub fn new(target_duration: u32, timescale: u32) -> Self {
        Self {
            target_duration,
            part_target_ms: DEFAULT_PART_TARGET_MS,
            timescale,
            window: target_duration.saturating_mul(12),
            first_msn: 0,
        }
    }
}

/// A config a playlist cannot be made with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The Target Duration is out of range.
    #[error("target duration {0} s: must be 1 to {max} s", max = MAX_TARGET_DURATION)]
    TargetDuration(u32),
    /// The Part Target Duration is under the minimum.
    #[error("part target {0} ms: must be at least {min} ms", min = MIN_PART_TARGET_MS)]
    PartTargetTooShort(u32),
    /// The Part Target Duration is above the Target Duration.
    #[error(
        "part target {part_target_ms} ms: must not exceed the target duration ({target_duration} s)"
    )]
    PartTargetTooLong {
        /// The Part Target Duration, in milliseconds.
        part_target_ms: u32,
        /// The Target Duration, in seconds.
        target_duration: u32,
    },
    /// The first Media Sequence Number leaves no room to count up.
    #[error("first media sequence number {0}: must be at most {max}", max = MAX_FIRST_MSN)]
    FirstMsn(u64),
    /// The timescale is zero.
    #[error("timescale 0: must be at least one tick per second")]
    Timescale,
    /// The window is shorter than three Target Durations.
    #[error("window {window} s: must be at least three target durations ({min} s)")]
    Window {
        /// The window, in seconds.
        window: u32,
        /// Three Target Durations, in seconds.
        min: u64,
    },
}

/// A segment or part the caller should not have pushed: a bug in the cutting of the media.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The segment, rounded to the nearest second, would exceed the Target Duration.
    #[error(
        "segment {msn}: {duration_ms} ms rounds above the target duration of {target_duration} s"
    )]
    SegmentTooLong {
        /// The segment's Media Sequence Number.
        msn: u64,
        /// Its duration with the part refused, in milliseconds.
        duration_ms: u64,
        /// The Target Duration, in seconds.
        target_duration: u32,
    },
    /// The part is longer than the Part Target Duration.
    #[error("part {msn}.{index}: {duration_ms} ms exceeds the part target of {part_target_ms} ms")]
    PartTooLong {
        /// The segment's Media Sequence Number.
        msn: u64,
        /// The part's index.
        index: usize,
        /// The part's duration, in milliseconds (rounded down).
        duration_ms: u64,
        /// The Part Target Duration, in milliseconds.
        part_target_ms: u32,
    },
    /// A part shorter than 85% of the Part Target Duration, neither independent nor the last of
    /// its segment (§4.4.4.9), would be followed by another part.
    #[error("part {msn}.{index} is under 85% of the part target, not independent, and not last")]
    PartTooShort {
        /// The segment's Media Sequence Number.
        msn: u64,
        /// The short part's index.
        index: usize,
    },
    /// The part lasts no time at all.
    #[error("part {msn}.{index}: zero duration")]
    EmptyPart {
        /// The segment's Media Sequence Number.
        msn: u64,
        /// The part's index.
        index: usize,
    },
    /// The segment already holds [`MAX_PARTS`] parts.
    #[error("segment {msn}: more than {max} parts", max = MAX_PARTS)]
    TooManyParts {
        /// The segment's Media Sequence Number.
        msn: u64,
    },
    /// A part was pushed with no segment in progress.
    #[error("no segment in progress: open one before pushing parts")]
    NotOpen,
    /// A whole segment was pushed while one is in progress.
    #[error("segment {msn} is in progress: close it before pushing a whole segment")]
    InProgress {
        /// The Media Sequence Number of the segment in progress.
        msn: u64,
    },
    /// A segment without parts was closed or pushed.
    #[error("segment {msn} has no parts")]
    EmptySegment {
        /// The segment's Media Sequence Number.
        msn: u64,
    },
    /// The program date-time is before 1970 or after 9999.
    #[error("program date-time {0} ms is outside 1970 to 9999")]
    DateTime(i64),
    /// The playlist has ended (`EXT-X-ENDLIST`).
    #[error("the playlist has ended")]
    Ended,
}
