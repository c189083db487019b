//! CMAF (fragmented MP4) for MoQ, sans-IO.
//!
//! - [`demux`]: a streaming fMP4 reader: bytes in, the tracks of the init segment and then
//!   [`Sample`]s out (muxed input is split per track, multi-sample fragments per sample).
//! - [`mux`]: one CMAF chunk per frame (`prft` + `moof` + `mdat`), init segments (`ftyp` +
//!   `moov`) for one track or all of them.
//! - [`packager`]: samples → MoQ objects: one group per GOP (keyframe first), one object per
//!   frame, audio cut at the video's GOP boundaries, group IDs from media time.
//! - [`catalog`]: the MSF catalog (`catalog`) and Cloudflare's catalogformat-01 (`.catalog`).
//!
//! Media time always carries its timescale ([`MediaTime`]); wall-clock time only enters as the
//! publish stamp the caller passes in.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod catalog;
pub mod codec;
pub mod demux;
mod error;
pub mod fuzz;
mod kind;
pub mod mux;
pub mod packager;
mod time;
mod track;

pub use error::Error;
pub use time::MediaTime;
pub use track::{Sample, TrackInfo, TrackKind};
