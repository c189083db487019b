//! H.264: Annex-B access units to AVCC samples, the sequence parameter set, and `avcC`.

use super::bits::{BitReader, OutOfBits, SpsError, rbsp};
use crate::Error;

/// NAL unit types tern looks at (ITU-T H.264 table 7-1).
pub mod nal {
    /// A slice of an IDR picture: the access unit is a keyframe.
    pub const IDR: u8 = 5;
    /// Supplemental enhancement information.
    pub const SEI: u8 = 6;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
    /// Access unit delimiter.
    pub const AUD: u8 = 9;
    /// Filler data.
    pub const FILLER: u8 = 12;
}

/// The type of a NAL unit (its first byte's low 5 bits).
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// The NAL units of an Annex-B byte stream (start codes 00 00 01 or 00 00 00 01; trailing
/// zero bytes belong to the next start code). Bytes before the first start code are skipped.
pub fn split_annexb(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(starts.len());
    for (n, &start) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).map_or(data.len(), |next| next - 3);
        while end > start && data[end - 1] == 0 {
            end -= 1;
        }
        if end > start {
            out.push(&data[start..end]);
        }
    }
    out
}

/// One access unit as an MP4 sample: the NAL units with 4-byte lengths. Parameter sets, access
/// unit delimiters and filler are left out (the parameter sets live in `avcC`).
pub fn to_avcc(nals: &[&[u8]]) -> Vec<u8> {
    super::length_prefixed(nals, |n| {
        !matches!(nal_type(n), nal::SPS | nal::PPS | nal::AUD | nal::FILLER)
    })
}

/// What a sequence parameter set says about the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sps {
    /// profile_idc (66 baseline, 77 main, 100 high, ...).
    pub profile: u8,
    /// The constraint_set flags byte (the profile compatibility of `avcC`).
    pub constraints: u8,
    /// level_idc (31 = level 3.1).
    pub level: u8,
    /// chroma_format_idc (1 = 4:2:0).
    pub chroma_format: u8,
    /// Luma bit depth.
    pub bit_depth_luma: u8,
    /// Chroma bit depth.
    pub bit_depth_chroma: u8,
    /// Width in pixels after cropping.
    pub width: u32,
    /// Height in pixels after cropping.
    pub height: u32,
}

/// Profiles whose SPS carries chroma format, bit depths and scaling matrices.
fn has_chroma_info(profile: u8) -> bool {
    matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), OutOfBits> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

impl Sps {
    /// Read a sequence parameter set NAL unit (with its header byte).
    pub fn parse(nal: &[u8]) -> Result<Self, Error> {
        if nal_type(nal) != nal::SPS {
            return Err(Error::BadSps {
                codec: "H.264",
                reason: format!("NAL unit type {} is not an SPS (7)", nal_type(nal)),
            });
        }
        let data = rbsp(nal);
        Self::read(&mut BitReader::new(&data[1..])).map_err(|e| e.of("H.264"))
    }

    fn read(r: &mut BitReader<'_>) -> Result<Self, SpsError> {
        let profile = r.bits(8)? as u8;
        let constraints = r.bits(8)? as u8;
        let level = r.bits(8)? as u8;
        let id = r.ue()?;
        if id > 31 {
            return Err(SpsError::Bad(format!("seq_parameter_set_id {id} over 31")));
        }
        let (mut chroma_format, mut depth_luma, mut depth_chroma) = (1, 8, 8);
        let mut separate_planes = false;
        if has_chroma_info(profile) {
            chroma_format = r.ue()?;
            if chroma_format > 3 {
                return Err(SpsError::Bad(format!("chroma_format_idc {chroma_format}")));
            }
            if chroma_format == 3 {
                separate_planes = r.bit()?;
            }
            depth_luma = r.ue()?.saturating_add(8);
            depth_chroma = r.ue()?.saturating_add(8);
            if depth_luma > 14 || depth_chroma > 14 {
                return Err(SpsError::Bad(format!(
                    "bit depths {depth_luma}/{depth_chroma} over 14"
                )));
            }
            let _transform_bypass = r.bit()?;
            if r.bit()? {
                let lists = if chroma_format == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if r.bit()? {
                        skip_scaling_list(r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        let _log2_max_frame_num = r.ue()?;
        match r.ue()? {
            0 => {
                let _log2_max_poc_lsb = r.ue()?;
            }
            1 => {
                let _always_zero = r.bit()?;
                let _offset_non_ref = r.se()?;
                let _offset_top_bottom = r.se()?;
                let cycle = r.ue()?;
                if cycle > 255 {
                    return Err(SpsError::Bad(format!(
                        "num_ref_frames_in_pic_order_cnt_cycle {cycle} over 255"
                    )));
                }
                for _ in 0..cycle {
                    r.se()?;
                }
            }
            2 => {}
            t => return Err(SpsError::Bad(format!("pic_order_cnt_type {t}"))),
        }
        let _max_refs = r.ue()?;
        let _gaps = r.bit()?;
        let width_mbs = u64::from(r.ue()?) + 1;
        let height_units = u64::from(r.ue()?) + 1;
        let frame_mbs_only = r.bit()?;
        if !frame_mbs_only {
            let _mbaff = r.bit()?;
        }
        let _direct_8x8 = r.bit()?;
        let (mut left, mut right, mut top, mut bottom) = (0u64, 0u64, 0u64, 0u64);
        if r.bit()? {
            left = r.ue()?.into();
            right = r.ue()?.into();
            top = r.ue()?.into();
            bottom = r.ue()?.into();
        }
        let field_factor = if frame_mbs_only { 1 } else { 2 };
        let (crop_x, crop_y) = if chroma_format == 0 || separate_planes {
            (1, field_factor)
        } else {
            let sub_width = if chroma_format == 3 { 1 } else { 2 };
            let sub_height = if chroma_format == 1 { 2 } else { 1 };
            (sub_width, sub_height * field_factor)
        };
        let full_width = width_mbs * 16;
        let full_height = height_units * 16 * field_factor;
        let cut_x = crop_x * (left + right);
        let cut_y = crop_y * (top + bottom);
        if cut_x >= full_width || cut_y >= full_height {
            return Err(SpsError::Bad(format!(
                "cropping {cut_x}x{cut_y} leaves nothing of {full_width}x{full_height}"
            )));
        }
        let (width, height) = (full_width - cut_x, full_height - cut_y);
        if width > 16_384 || height > 16_384 {
            return Err(SpsError::Bad(format!("{width}x{height} is too large")));
        }
        Ok(Self {
            profile,
            constraints,
            level,
            chroma_format: chroma_format as u8,
            bit_depth_luma: depth_luma as u8,
            bit_depth_chroma: depth_chroma as u8,
            width: width as u32,
            height: height as u32,
        })
    }

    /// The `avcC` record (ISO/IEC 14496-15 5.3.3.1) for this SPS and `pps`, with 4-byte NAL
    /// lengths. Profiles other than baseline, main and extended carry the chroma format and
    /// bit depths, as ffmpeg writes them.
    pub fn avcc(&self, sps: &[u8], pps: &[u8]) -> mp4_atom::Avcc {
        let ext = (!matches!(self.profile, 66 | 77 | 88)).then(|| mp4_atom::AvccExt {
            chroma_format: self.chroma_format,
            bit_depth_luma: self.bit_depth_luma,
            bit_depth_chroma: self.bit_depth_chroma,
            sequence_parameter_sets_ext: Vec::new(),
        });
        mp4_atom::Avcc {
            configuration_version: 1,
            avc_profile_indication: self.profile,
            profile_compatibility: self.constraints,
            avc_level_indication: self.level,
            length_size: 4,
            sequence_parameter_sets: vec![sps.to_vec()],
            picture_parameter_sets: vec![pps.to_vec()],
            ext,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SPS of a 1280x720 High profile level 3.1 stream (mp4-atom's bbb test file).
    const SPS_720P: &[u8] = b"gd\0\x1f\xac$\x84\x01@\x16\xec\x04@\0\0\x03\0@\0\0\x0c#\xc6\x0c\x92";

    #[test]
    fn reads_a_high_profile_sps() {
        let sps = Sps::parse(SPS_720P).expect("sps");
        assert_eq!((sps.profile, sps.constraints, sps.level), (100, 0, 31));
        assert_eq!((sps.width, sps.height), (1280, 720));
        assert_eq!(
            (sps.chroma_format, sps.bit_depth_luma, sps.bit_depth_chroma),
            (1, 8, 8)
        );
    }

    #[test]
    fn reads_cropping() {
        // x264, 320x240 High 4:2:0 level 1.3 (frame_cropping not needed) and a 1920x1080
        // baseline stream (1088 lines coded, 8 cropped).
        let sps_1080 = [
            0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03,
            0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20,
        ];
        let sps = Sps::parse(&sps_1080).expect("sps");
        assert_eq!((sps.profile, sps.level), (66, 40));
        assert_eq!((sps.width, sps.height), (1920, 1080));
        assert!(sps.avcc(&sps_1080, &[0x68]).ext.is_none());
    }

    #[test]
    fn names_a_bad_sps() {
        let err = Sps::parse(&SPS_720P[..6]).unwrap_err();
        assert!(err.to_string().contains("ends inside"), "{err}");
        let err = Sps::parse(&[0x68, 0, 0]).unwrap_err();
        assert!(err.to_string().contains("not an SPS"), "{err}");
    }

    #[test]
    fn splits_annexb_and_writes_lengths() {
        let au = [
            0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5,
            0, 0,
        ];
        let nals = split_annexb(&au);
        assert_eq!(nals.len(), 4);
        assert_eq!(nals[3], [0x65, 4, 5]);
        assert_eq!(to_avcc(&nals), [0, 0, 0, 3, 0x65, 4, 5]);
    }
}
