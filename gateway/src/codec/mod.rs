//! Codec configuration from elementary streams: what an MP4 sample entry needs, built from
//! the bitstream itself.
//!
//! - [`h264`]: Annex-B access units to length-prefixed (AVCC) samples, the SPS parser
//!   (profile, level, size after cropping) and the `avcC` record.
//! - [`h265`]: the H.265 SPS parser (profile, tier, level, size after the conformance window)
//!   and the `hvcC` record; Annex-B splitting is H.264's.
//! - [`aac`]: ADTS frames to raw AAC frames and the AudioSpecificConfig.
//! - [`av1`]: a temporal unit's OBUs, the sequence header's frame size, the `av1C` record.
//! - [`opus`]: the `OpusHead` and a packet's duration from its TOC byte.

pub mod aac;
pub mod av1;
mod bits;
pub mod h264;
pub mod h265;
pub mod opus;

pub use bits::BitReader;

/// NAL units as an MP4 sample: each one `keep` keeps, with a 4-byte big-endian length.
pub fn length_prefixed(nals: &[&[u8]], keep: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(nals.iter().map(|n| n.len() + 4).sum());
    for n in nals.iter().filter(|n| keep(n)) {
        out.extend_from_slice(&(n.len() as u32).to_be_bytes());
        out.extend_from_slice(n);
    }
    out
}
