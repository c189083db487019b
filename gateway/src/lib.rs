//! Gateways between the protocols people already push and play and tern's origin.
//!
//! Built so far, all sans-IO (bytes in, events out; no sockets, no clock):
//! - [`ts`], an MPEG-TS demuxer: 188-byte packets, PAT/PMT, PES reassembly, PTS/DTS at 90 kHz
//!   unwrapped past their 33 bits, continuity errors reported, every buffer bounded.
//! - [`codec`], H.264 (Annex-B access units to length-prefixed samples, SPS parsing, `avcC`)
//!   and AAC (ADTS frames to raw frames, AudioSpecificConfig).
//! - [`ingest`], MPEG-TS in: the [`TrackInfo`](tern_cmaf::TrackInfo)s and
//!   [`Sample`](tern_cmaf::Sample)s that `tern_origin::Broadcast` publishes.
//! - [`srt`], what an SRT caller asks for: its stream ID in the three forms encoders send, and
//!   the reject codes it is refused with.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codec;
mod error;
pub mod fuzz;
pub mod ingest;
pub mod publish;
pub mod refusals;
pub mod srt;
pub mod ts;

pub use error::Error;
