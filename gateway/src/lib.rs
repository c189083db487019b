//! Gateways between the protocols people already push and play and tern's origin.
//!
//! The media stages are sans-IO (bytes in, events out; no sockets, no clock); the SRT
//! listener and the publish stage are the thin drivers around them:
//! - [`ts`], an MPEG-TS demuxer: 188-byte packets, PAT/PMT, PES reassembly, PTS/DTS at 90 kHz
//!   unwrapped past their 33 bits, continuity errors reported, every buffer bounded.
//! - [`codec`], H.264 and H.265 (Annex-B access units to length-prefixed samples, SPS parsing,
//!   `avcC`, `hvcC`) and AAC (ADTS frames to raw frames, AudioSpecificConfig).
//! - [`ingest`], MPEG-TS in: the [`TrackInfo`](tern_cmaf::TrackInfo)s and
//!   [`Sample`](tern_cmaf::Sample)s that `tern_origin::Broadcast` publishes.
//! - [`srt`], the SRT listener of a relay node: stream IDs in the three forms encoders send,
//!   admission, reject codes, and the driver that feeds accepted callers' MPEG-TS into the node.
//! - [`flv`], FLV tags (the media of RTMP) in: tracks and samples, as [`ingest`] makes them.
//! - [`rtmp`], the RTMP listener of a relay node: the app and stream key as a broadcast, the
//!   refusals in RTMP's terms, the driver around rml_rtmp's session.
//! - [`whip`], WHIP in: the HTTP side, one UDP port for every WebRTC publisher, and the
//!   frames (H.264, VP8, Opus) as tracks and samples.
//! - [`keys`], static stream keys by broadcast path (for encoders that carry no token), and
//!   the driver that reloads their file when it changes.
//! - [`transcode`], an Opus track for every AAC one and an AAC track for every Opus one,
//!   through supervised ffmpeg processes.
//! - [`publish`], the stage every ingest ends in: a publisher's tracks and samples into a
//!   broadcast of the node, on a time line that survives reconnects.
//! - [`hls`], LL-HLS egress: a rendition's media playlist window and its text (parts, preload
//!   hints, delta updates, rendition reports), the blocking reload decision, the multivariant
//!   playlist and the segmenter (sans-IO, every URI carrying the viewer's query); and the
//!   driver: one feed per rendition and node, and the `GET /hls/...` routes.
//! - [`whep`], WHEP egress: each track packetised into RTP once per node, the viewers' WebRTC
//!   sessions on WHIP's UDP port, renditions switched by the bandwidth estimate.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codec;
mod error;
pub mod flv;
pub mod fuzz;
pub mod hls;
pub mod ingest;
pub mod keys;
pub mod listening;
pub mod publish;
pub mod refusals;
pub mod rtmp;
pub mod srt;
pub mod transcode;
pub mod ts;
pub mod whep;
pub mod whip;

pub use error::Error;
