//! Codec configuration from elementary streams: what an MP4 sample entry needs, built from
//! the bitstream itself.
//!
//! - [`h264`]: Annex-B access units to length-prefixed (AVCC) samples, the SPS parser
//!   (profile, level, size after cropping) and the `avcC` record.
//! - [`aac`]: ADTS frames to raw AAC frames and the AudioSpecificConfig.

pub mod aac;
mod bits;
pub mod h264;

pub use bits::BitReader;
