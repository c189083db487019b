//! AV1: the OBUs of a temporal unit in the low-overhead bitstream format (AV1 bitstream
//! specification §5.3, each OBU with its size), the sequence header's frame size (§5.5), the
//! `av1C` record that carries it, and a temporal unit as an MP4 sample ("AV1 Codec ISO Media
//! File Format Binding" §2.3, §2.4).

use mp4_atom::{Atom, Av1c};

use super::BitReader;

/// OBU types (`obu_type`, §6.2.2).
pub mod obu {
    /// A sequence header.
    pub const SEQUENCE_HEADER: u8 = 1;
    /// The start of a temporal unit.
    pub const TEMPORAL_DELIMITER: u8 = 2;
    /// A tile list (large-scale tile decoding only).
    pub const TILE_LIST: u8 = 8;
    /// Padding.
    pub const PADDING: u8 = 15;
}

/// One OBU of a temporal unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Obu<'a> {
    /// `obu_type`.
    pub kind: u8,
    /// What follows the header (and the size field, if any).
    pub payload: &'a [u8],
    /// The whole OBU as it came, header included.
    pub raw: &'a [u8],
}

/// A `leb128()` value (§4.10.5) at the start of `data` and the bytes it took: at most eight
/// bytes and a value that fits 32 bits, as the specification allows.
fn leb128(data: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0u64;
    for (i, b) in data.iter().take(8).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((usize::try_from(u32::try_from(value).ok()?).ok()?, i + 1));
        }
    }
    None
}

/// The OBUs of `data`, a temporal unit in the low-overhead format. An OBU without a size
/// field runs to the end of the data.
pub fn split_obus(mut data: &[u8]) -> Result<Vec<Obu<'_>>, String> {
    let mut out = Vec::new();
    while let Some(&header) = data.first() {
        if header & 0x80 != 0 {
            return Err("an OBU with its forbidden bit set".into());
        }
        let kind = (header >> 3) & 0x0f;
        let mut at = 1 + usize::from(header & 0x04 != 0);
        if data.len() < at {
            return Err("an OBU header runs past the data".into());
        }
        let size = if header & 0x02 != 0 {
            let (size, took) =
                leb128(&data[at..]).ok_or("an OBU size that is not a 32-bit leb128 number")?;
            at += took;
            size
        } else {
            data.len() - at
        };
        let Some(payload) = data.get(at..at + size) else {
            return Err(format!("a {size}-byte OBU runs past the data"));
        };
        out.push(Obu {
            kind,
            payload,
            raw: &data[..at + size],
        });
        data = &data[at + size..];
    }
    Ok(out)
}

/// `uvlc()` (§4.10.3). Values past 32 bits are refused.
fn uvlc(r: &mut BitReader<'_>) -> Result<u32, String> {
    let mut zeros = 0;
    while !r.bit().map_err(|_| "ends inside a uvlc")? {
        zeros += 1;
        if zeros >= 32 {
            return Err("a uvlc over 32 bits".into());
        }
    }
    let rest = r.bits(zeros).map_err(|_| "ends inside a uvlc")?;
    Ok(((1u64 << zeros) - 1 + u64::from(rest)) as u32)
}

/// What tern reads from a sequence header OBU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceHeader {
    /// `seq_profile`.
    pub profile: u8,
    /// `max_frame_width_minus_1 + 1`.
    pub width: u32,
    /// `max_frame_height_minus_1 + 1`.
    pub height: u32,
}

impl SequenceHeader {
    /// Read the fields of a sequence header OBU's payload up to the frame size (§5.5.1).
    pub fn parse(payload: &[u8]) -> Result<Self, String> {
        let mut r = BitReader::new(payload);
        Self::read(&mut r).map_err(|e| format!("sequence header: {e}"))
    }

    fn read(r: &mut BitReader<'_>) -> Result<Self, String> {
        let short = |_| "ends before the frame size".to_owned();
        let mut bits = |n| r.bits(n).map_err(short);
        let profile = bits(3)? as u8;
        let _still_picture = bits(1)?;
        let reduced_still_picture_header = bits(1)? == 1;
        if reduced_still_picture_header {
            let _seq_level_idx = bits(5)?;
        } else {
            let timing_info_present = bits(1)? == 1;
            let mut decoder_model_info_present = false;
            let mut buffer_delay_length = 0;
            if timing_info_present {
                let _num_units_in_display_tick = bits(32)?;
                let _time_scale = bits(32)?;
                if bits(1)? == 1 {
                    // equal_picture_interval: num_ticks_per_picture_minus_1.
                    uvlc(r)?;
                }
                let mut bits = |n| r.bits(n).map_err(short);
                decoder_model_info_present = bits(1)? == 1;
                if decoder_model_info_present {
                    buffer_delay_length = bits(5)? + 1;
                    let _num_units_in_decoding_tick = bits(32)?;
                    let _buffer_removal_time_length_minus_1 = bits(5)?;
                    let _frame_presentation_time_length_minus_1 = bits(5)?;
                }
            }
            let mut bits = |n| r.bits(n).map_err(short);
            let initial_display_delay_present = bits(1)? == 1;
            let operating_points = bits(5)? + 1;
            for _ in 0..operating_points {
                let _operating_point_idc = bits(12)?;
                let seq_level_idx = bits(5)?;
                if seq_level_idx > 7 {
                    let _seq_tier = bits(1)?;
                }
                if decoder_model_info_present && bits(1)? == 1 {
                    let _decoder_buffer_delay = bits(buffer_delay_length)?;
                    let _encoder_buffer_delay = bits(buffer_delay_length)?;
                    let _low_delay_mode_flag = bits(1)?;
                }
                if initial_display_delay_present && bits(1)? == 1 {
                    let _initial_display_delay_minus_1 = bits(4)?;
                }
            }
        }
        let mut bits = |n| r.bits(n).map_err(short);
        let width_bits = bits(4)? + 1;
        let height_bits = bits(4)? + 1;
        let width = bits(width_bits)? + 1;
        let height = bits(height_bits)? + 1;
        Ok(Self {
            profile,
            width,
            height,
        })
    }
}

/// An `AV1CodecConfigurationRecord` (the body of `av1C`, what Enhanced RTMP's AV1 sequence
/// start carries) and the sequence header among its configuration OBUs.
pub fn parse_av1c(record: &[u8]) -> Result<(Av1c, SequenceHeader), String> {
    let av1c = Av1c::decode_body(&mut &record[..])
        .map_err(|e| format!("AV1CodecConfigurationRecord: {e}"))?;
    let obus = split_obus(&av1c.config_obus).map_err(|e| format!("av1C configOBUs: {e}"))?;
    let header = obus
        .iter()
        .find(|o| o.kind == obu::SEQUENCE_HEADER)
        .ok_or("the AV1CodecConfigurationRecord holds no sequence header OBU (tern reads the frame size from it)")?;
    let seq = SequenceHeader::parse(header.payload)?;
    Ok((av1c, seq))
}

/// A temporal unit's OBUs as an MP4 sample: without temporal delimiters, padding and tile
/// lists, which the ISO-BMFF binding leaves out of samples (§2.4).
pub fn to_sample(obus: &[Obu<'_>]) -> Vec<u8> {
    let kept = obus.iter().filter(|o| {
        !matches!(
            o.kind,
            obu::TEMPORAL_DELIMITER | obu::PADDING | obu::TILE_LIST
        )
    });
    let mut out = Vec::with_capacity(obus.iter().map(|o| o.raw.len()).sum());
    for o in kept {
        out.extend_from_slice(o.raw);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// SVT-AV1's av1C for 320x240 main profile, level 2.0 (as FFmpeg 8.1 sends it over
    /// Enhanced RTMP): the four fixed bytes, then a sequence header OBU.
    pub(crate) const SVT_AV1C: &[u8] = &[
        0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x04, 0x3c, 0xff, 0xbc, 0x02, 0xf8,
        0x00, 0x40,
    ];

    #[test]
    fn svt_av1s_record_gives_its_profile_level_and_size() {
        let (av1c, seq) = parse_av1c(SVT_AV1C).unwrap();
        assert_eq!((av1c.seq_profile, av1c.seq_level_idx_0), (0, 0));
        assert!(av1c.chroma_subsampling_x && av1c.chroma_subsampling_y);
        assert_eq!(seq.profile, 0);
        assert_eq!((seq.width, seq.height), (320, 240));
    }

    #[test]
    fn timing_info_and_decoder_models_are_read_past() {
        // Profile 0, timing info (equal picture interval, uvlc 0), a decoder model, one
        // operating point at level 8 (tier bit) with its parameters, then 1920x1080 in 11 bits.
        let mut w = Bits::default();
        w.put(0, 3);
        w.put(0, 1);
        w.put(0, 1);
        w.put(1, 1);
        w.put(1, 32);
        w.put(30, 32);
        w.put(1, 1);
        w.put(1, 1); // uvlc 0
        w.put(1, 1);
        w.put(9, 5);
        w.put(1, 32);
        w.put(31, 5);
        w.put(31, 5);
        w.put(0, 1);
        w.put(0, 5);
        w.put(0, 12);
        w.put(8, 5);
        w.put(1, 1);
        w.put(1, 1);
        w.put(7, 10);
        w.put(7, 10);
        w.put(0, 1);
        w.put(10, 4);
        w.put(10, 4);
        w.put(1919, 11);
        w.put(1079, 11);
        let seq = SequenceHeader::parse(&w.bytes()).unwrap();
        assert_eq!((seq.width, seq.height), (1920, 1080));
        assert!(SequenceHeader::parse(&w.bytes()[..10]).is_err());
    }

    #[derive(Default)]
    struct Bits(Vec<bool>);

    impl Bits {
        fn put(&mut self, v: u32, n: u32) {
            self.0.extend((0..n).rev().map(|i| v >> i & 1 == 1));
        }

        fn bytes(&self) -> Vec<u8> {
            self.0
                .chunks(8)
                .map(|c| {
                    c.iter()
                        .enumerate()
                        .fold(0, |b, (i, x)| b | u8::from(*x) << (7 - i))
                })
                .collect()
        }
    }

    #[test]
    fn obus_are_split_and_delimiters_left_out_of_the_sample() {
        // A temporal delimiter, a frame OBU of 3 bytes, padding, and a last OBU without size.
        let tu = [
            0x12, 0x00, 0x32, 0x03, 1, 2, 3, 0x7a, 0x01, 0xff, 0x30, 9, 9,
        ];
        let obus = split_obus(&tu).unwrap();
        let kinds: Vec<u8> = obus.iter().map(|o| o.kind).collect();
        assert_eq!(kinds, [2, 6, 15, 6]);
        assert_eq!(obus[1].payload, [1, 2, 3]);
        assert_eq!(obus[3].payload, [9, 9]);
        assert_eq!(to_sample(&obus), [0x32, 0x03, 1, 2, 3, 0x30, 9, 9]);
    }

    #[test]
    fn bad_obus_are_named() {
        assert!(split_obus(&[0x92, 0x00]).unwrap_err().contains("forbidden"));
        assert!(
            split_obus(&[0x32, 0x05, 1])
                .unwrap_err()
                .contains("runs past")
        );
        assert!(split_obus(&[0x32, 0xff, 0xff]).is_err());
        assert!(split_obus(&[0x36]).is_err(), "an extension byte missing");
        assert!(
            parse_av1c(&[0x81, 0, 0x0c, 0, 0x12, 0x00])
                .unwrap_err()
                .contains("no sequence header")
        );
        assert!(parse_av1c(&[0x80, 0, 0, 0]).is_err());
    }
}
