//! A sans-IO MPEG-TS demuxer (ISO/IEC 13818-1): push bytes as they arrive, poll the program's
//! streams and then one PES packet at a time.
//!
//! - [`packet`]: the 188-byte transport packet and its adaptation field.
//! - [`psi`]: the program association and program map tables (sections may span packets;
//!   CRC-32 checked).
//! - [`pes`]: PES headers and their 33-bit PTS/DTS.
//! - [`Demuxer`]: ties them together: one program (the first the PAT names), PES reassembly per
//!   PID, continuity counters checked (a gap drops the PES it broke and is reported as an
//!   event), timestamps unwrapped past 2^33 into a continuous 90 kHz timeline. Every buffer
//!   is bounded by [`Limits`].

mod demux;
pub mod packet;
pub mod pes;
pub mod psi;
mod unwrap;

pub use demux::{Demuxer, Event, Limits, Pes, Stream};
pub use unwrap::Unwrapper;
