//! H.265 (HEVC): NAL unit types, the sequence parameter set, and `hvcC`.
//!
//! Annex-B splitting is H.264's ([`super::h264::split_annexb`]): the start codes are the same.

use super::bits::{BitReader, OutOfBits, SpsError, rbsp};
use crate::Error;

/// NAL unit types tern looks at (ITU-T H.265 table 7-1).
pub mod nal {
    /// The first IRAP type (BLA_W_LP); IRAP pictures run to [`IRAP_LAST`].
    pub const IRAP_FIRST: u8 = 16;
    /// The last IRAP type (reserved IRAP 23).
    pub const IRAP_LAST: u8 = 23;
    /// Video parameter set.
    pub const VPS: u8 = 32;
    /// Sequence parameter set.
    pub const SPS: u8 = 33;
    /// Picture parameter set.
    pub const PPS: u8 = 34;
    /// Access unit delimiter.
    pub const AUD: u8 = 35;
    /// Filler data.
    pub const FD: u8 = 38;
}

/// The type of a NAL unit (bits 1..7 of its two-byte header).
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| (b >> 1) & 0x3f)
}

/// Whether a NAL unit is a slice of an intra random access point picture (a decoder can start
/// there: IDR, CRA or BLA).
pub fn is_irap(nal: &[u8]) -> bool {
    (nal::IRAP_FIRST..=nal::IRAP_LAST).contains(&nal_type(nal))
}

/// One access unit as an MP4 sample: the NAL units with 4-byte lengths. Parameter sets, access
/// unit delimiters and filler are left out (the parameter sets live in `hvcC`).
pub fn to_hvcc_sample(nals: &[&[u8]]) -> Vec<u8> {
    super::length_prefixed(nals, |n| {
        !matches!(
            nal_type(n),
            nal::VPS | nal::SPS | nal::PPS | nal::AUD | nal::FD
        )
    })
}

/// What a sequence parameter set says about the stream: its profile, tier and level (the
/// general ones of `profile_tier_level`), chroma format, bit depths and size after the
/// conformance window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sps {
    /// general_profile_space.
    pub profile_space: u8,
    /// general_tier_flag.
    pub tier: bool,
    /// general_profile_idc (1 Main, 2 Main 10, ...).
    pub profile: u8,
    /// general_profile_compatibility_flags, as written (bit 31 first).
    pub compatibility: [u8; 4],
    /// The 48 constraint bits (progressive_source_flag first).
    pub constraints: [u8; 6],
    /// general_level_idc (30 times the level: 93 = level 3.1).
    pub level: u8,
    /// sps_max_sub_layers_minus1 + 1.
    pub temporal_layers: u8,
    /// sps_temporal_id_nesting_flag.
    pub temporal_id_nested: bool,
    /// chroma_format_idc (1 = 4:2:0).
    pub chroma_format: u8,
    /// Luma bit depth.
    pub bit_depth_luma: u8,
    /// Chroma bit depth.
    pub bit_depth_chroma: u8,
    /// Width in pixels after the conformance window.
    pub width: u32,
    /// Height in pixels after the conformance window.
    pub height: u32,
}

fn bytes<const N: usize>(r: &mut BitReader<'_>) -> Result<[u8; N], OutOfBits> {
    let mut out = [0u8; N];
    for b in &mut out {
        *b = r.bits(8)? as u8;
    }
    Ok(out)
}

impl Sps {
    /// Read a sequence parameter set NAL unit (with its two-byte header).
    pub fn parse(nal: &[u8]) -> Result<Self, Error> {
        if nal_type(nal) != nal::SPS {
            return Err(Error::BadSps {
                codec: "H.265",
                reason: format!("NAL unit type {} is not an SPS (33)", nal_type(nal)),
            });
        }
        let data = rbsp(nal);
        if data.len() < 3 {
            return Err(SpsError::Cut.of("H.265"));
        }
        Self::read(&mut BitReader::new(&data[2..])).map_err(|e| e.of("H.265"))
    }

    fn read(r: &mut BitReader<'_>) -> Result<Self, SpsError> {
        let _vps_id = r.bits(4)?;
        let max_sub_layers_minus1 = r.bits(3)? as u8;
        if max_sub_layers_minus1 > 6 {
            return Err(SpsError::Bad(format!(
                "sps_max_sub_layers_minus1 {max_sub_layers_minus1} over 6"
            )));
        }
        let temporal_id_nested = r.bit()?;
        // profile_tier_level(1, sps_max_sub_layers_minus1)
        let profile_space = r.bits(2)? as u8;
        let tier = r.bit()?;
        let profile = r.bits(5)? as u8;
        let compatibility = bytes::<4>(r)?;
        let constraints = bytes::<6>(r)?;
        let level = r.bits(8)? as u8;
        let mut sub_profile = [false; 8];
        let mut sub_level = [false; 8];
        for i in 0..usize::from(max_sub_layers_minus1) {
            sub_profile[i] = r.bit()?;
            sub_level[i] = r.bit()?;
        }
        if max_sub_layers_minus1 > 0 {
            for _ in max_sub_layers_minus1..8 {
                r.bits(2)?;
            }
        }
        for i in 0..usize::from(max_sub_layers_minus1) {
            if sub_profile[i] {
                // space, tier, idc, 32 compatibility flags, 48 constraint bits.
                r.bits(8)?;
                r.bits(32)?;
                r.bits(24)?;
                r.bits(24)?;
            }
            if sub_level[i] {
                r.bits(8)?;
            }
        }
        let id = r.ue()?;
        if id > 15 {
            return Err(SpsError::Bad(format!(
                "sps_seq_parameter_set_id {id} over 15"
            )));
        }
        let chroma_format = r.ue()?;
        if chroma_format > 3 {
            return Err(SpsError::Bad(format!("chroma_format_idc {chroma_format}")));
        }
        let separate_planes = chroma_format == 3 && r.bit()?;
        let full_width = u64::from(r.ue()?);
        let full_height = u64::from(r.ue()?);
        let (mut left, mut right, mut top, mut bottom) = (0u64, 0u64, 0u64, 0u64);
        if r.bit()? {
            left = r.ue()?.into();
            right = r.ue()?.into();
            top = r.ue()?.into();
            bottom = r.ue()?.into();
        }
        let depth_luma = r.ue()?.saturating_add(8);
        let depth_chroma = r.ue()?.saturating_add(8);
        if depth_luma > 16 || depth_chroma > 16 {
            return Err(SpsError::Bad(format!(
                "bit depths {depth_luma}/{depth_chroma} over 16"
            )));
        }
        let (sub_width, sub_height) = match (chroma_format, separate_planes) {
            (1, _) => (2, 2),
            (2, _) => (2, 1),
            _ => (1, 1),
        };
        let cut_x = sub_width * (left + right);
        let cut_y = sub_height * (top + bottom);
        if full_width == 0 || full_height == 0 || cut_x >= full_width || cut_y >= full_height {
            return Err(SpsError::Bad(format!(
                "a conformance window of {cut_x}x{cut_y} leaves nothing of \
                 {full_width}x{full_height}"
            )));
        }
        let (width, height) = (full_width - cut_x, full_height - cut_y);
        if width > 16_384 || height > 16_384 {
            return Err(SpsError::Bad(format!("{width}x{height} is too large")));
        }
        Ok(Self {
            profile_space,
            tier,
            profile,
            compatibility,
            constraints,
            level,
            temporal_layers: max_sub_layers_minus1 + 1,
            temporal_id_nested,
            chroma_format: chroma_format as u8,
            bit_depth_luma: depth_luma as u8,
            bit_depth_chroma: depth_chroma as u8,
            width: width as u32,
            height: height as u32,
        })
    }

    /// The `hvcC` record (ISO/IEC 14496-15 8.3.3.1) for this SPS with the stream's VPS, SPS and
    /// PPS NAL units, 4-byte NAL lengths, arrays marked complete (the sample entry is `hvc1`).
    pub fn hvcc(&self, vps: &[u8], sps: &[u8], pps: &[u8]) -> mp4_atom::Hvcc {
        let array = |nal_unit_type, nal: &[u8]| mp4_atom::HvcCArray {
            completeness: true,
            nal_unit_type,
            nalus: vec![nal.to_vec()],
        };
        mp4_atom::Hvcc {
            configuration_version: 1,
            general_profile_space: self.profile_space,
            general_tier_flag: self.tier,
            general_profile_idc: self.profile,
            general_profile_compatibility_flags: self.compatibility,
            general_constraint_indicator_flags: self.constraints,
            general_level_idc: self.level,
            min_spatial_segmentation_idc: 0,
            parallelism_type: 0,
            chroma_format_idc: self.chroma_format,
            bit_depth_luma_minus8: self.bit_depth_luma.saturating_sub(8),
            bit_depth_chroma_minus8: self.bit_depth_chroma.saturating_sub(8),
            avg_frame_rate: 0,
            constant_frame_rate: 0,
            num_temporal_layers: self.temporal_layers,
            temporal_id_nested: self.temporal_id_nested,
            length_size_minus_one: 3,
            arrays: vec![
                array(nal::VPS, vps),
                array(nal::SPS, sps),
                array(nal::PPS, pps),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SPS x265 writes for 320x240 Main 4:2:0, level 2 (ffmpeg -pix_fmt yuv420p -c:v
    /// libx265).
    const SPS_240P: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0f, 0x16, 0x59, 0x2a, 0x49, 0x32, 0xbc, 0x05, 0xa0,
        0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x03, 0xc1,
    ];

    #[test]
    fn reads_a_main_profile_sps() {
        let sps = Sps::parse(SPS_240P).expect("sps");
        assert_eq!((sps.profile, sps.tier, sps.level), (1, false, 60));
        assert_eq!((sps.width, sps.height), (320, 240));
        assert_eq!(
            (sps.chroma_format, sps.bit_depth_luma, sps.bit_depth_chroma),
            (1, 8, 8)
        );
        let hvcc = sps.hvcc(&[0x40, 0x01], SPS_240P, &[0x44, 0x01]);
        assert_eq!(hvcc.arrays.len(), 3);
        assert_eq!(hvcc.general_profile_compatibility_flags, [0x60, 0, 0, 0]);
    }

    #[test]
    fn names_a_bad_sps() {
        let err = Sps::parse(&SPS_240P[..8]).unwrap_err();
        assert!(err.to_string().contains("ends inside"), "{err}");
        let err = Sps::parse(&[0x44, 0x01, 0]).unwrap_err();
        assert!(err.to_string().contains("not an SPS"), "{err}");
    }

    #[test]
    fn keyframes_and_samples() {
        assert!(is_irap(&[19 << 1, 1]));
        assert!(is_irap(&[21 << 1, 1]));
        assert!(!is_irap(&[1 << 1, 1]));
        let nals: [&[u8]; 3] = [&[0x46, 0x01, 0x10], &[0x40, 0x01], &[0x26, 0x01, 7]];
        assert_eq!(to_hvcc_sample(&nals), [0, 0, 0, 3, 0x26, 0x01, 7]);
    }
}
