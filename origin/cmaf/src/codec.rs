//! RFC 6381 codec strings (what catalogs, WebCodecs and MSE want) from sample entries.

use mp4_atom::{Codec, Hvcc};

use crate::kind::TrackKind;

/// What a sample entry says about a track: its kind, codec string and the parameters catalogs
/// list. `Err` carries the sample entry's four-character type when tern does not package it.
pub(crate) struct Described {
    pub kind: TrackKind,
    pub codec: String,
    pub width: u16,
    pub height: u16,
    pub sample_rate: u32,
    pub channels: u16,
    pub bitrate: Option<u32>,
}

pub(crate) fn describe(entry: &Codec) -> Result<Described, String> {
    let video = |codec: String, v: &mp4_atom::Visual, btrt: Option<&mp4_atom::Btrt>| Described {
        kind: TrackKind::Video,
        codec,
        width: v.width,
        height: v.height,
        sample_rate: 0,
        channels: 0,
        bitrate: btrt.map(|b| b.avg_bitrate).filter(|b| *b > 0),
    };
    Ok(match entry {
        Codec::Avc1(c) => video(avc("avc1", &c.avcc), &c.visual, c.btrt.as_ref()),
        Codec::Avc3(c) => video(avc("avc3", &c.avcc), &c.visual, c.btrt.as_ref()),
        Codec::Hvc1(c) => video(hevc("hvc1", &c.hvcc), &c.visual, c.btrt.as_ref()),
        Codec::Hev1(c) => video(hevc("hev1", &c.hvcc), &c.visual, c.btrt.as_ref()),
        Codec::Vp08(c) => video("vp8".to_owned(), &c.visual, c.btrt.as_ref()),
        Codec::Vp09(c) => video(vp9(&c.vpcc), &c.visual, c.btrt.as_ref()),
        Codec::Av01(c) => video(av1(&c.av1c), &c.visual, c.btrt.as_ref()),
        Codec::Mp4a(c) => {
            let dc = &c.esds.es_desc.dec_config;
            let aot = dc.dec_specific.as_ref().map_or(2, |d| d.profile);
            Described {
                kind: TrackKind::Audio,
                codec: format!("mp4a.{:x}.{aot}", dc.object_type_indication),
                width: 0,
                height: 0,
                sample_rate: u32::from(c.audio.sample_rate.integer()),
                channels: c.audio.channel_count,
                bitrate: Some(dc.avg_bitrate).filter(|b| *b > 0).or(c
                    .btrt
                    .as_ref()
                    .map(|b| b.avg_bitrate)
                    .filter(|b| *b > 0)),
            }
        }
        Codec::Opus(c) => Described {
            kind: TrackKind::Audio,
            codec: "opus".to_owned(),
            width: 0,
            height: 0,
            sample_rate: 48_000,
            channels: u16::from(c.dops.output_channel_count),
            bitrate: c.btrt.as_ref().map(|b| b.avg_bitrate).filter(|b| *b > 0),
        },
        other => return Err(sample_entry_type(other)),
    })
}

/// `avc1.PPCCLL`, hex upper case as Cloudflare's moq-pub writes it.
fn avc(prefix: &str, c: &mp4_atom::Avcc) -> String {
    format!(
        "{prefix}.{:02X}{:02X}{:02X}",
        c.avc_profile_indication, c.profile_compatibility, c.avc_level_indication
    )
}

/// `vp09.PP.LL.DD` (the VP codec ISO-BMFF binding, section "Codecs Parameter String").
fn vp9(c: &mp4_atom::VpcC) -> String {
    format!("vp09.{:02}.{:02}.{:02}", c.profile, c.level, c.bit_depth)
}

/// `av01.P.LLT.DD` (AV1 in ISO-BMFF, section "Codecs Parameter String").
fn av1(c: &mp4_atom::Av1c) -> String {
    let depth = match (c.high_bitdepth, c.twelve_bit) {
        (true, true) => 12,
        (true, false) => 10,
        _ => 8,
    };
    let tier = if c.seq_tier_0 { 'H' } else { 'M' };
    format!(
        "av01.{}.{:02}{tier}.{depth:02}",
        c.seq_profile, c.seq_level_idx_0
    )
}

/// `hvc1.<space><profile>.<compat, bit-reversed hex>.<tier><level>.<constraints>` (ISO/IEC
/// 14496-15 Annex E).
fn hevc(prefix: &str, c: &Hvcc) -> String {
    let space = match c.general_profile_space {
        1 => "A",
        2 => "B",
        3 => "C",
        _ => "",
    };
    let compat = u32::from_be_bytes(c.general_profile_compatibility_flags).reverse_bits();
    let tier = if c.general_tier_flag { 'H' } else { 'L' };
    let mut constraints: Vec<String> = c
        .general_constraint_indicator_flags
        .iter()
        .map(|b| format!("{b:X}"))
        .collect();
    while constraints.len() > 1 && constraints.last().is_some_and(|s| s == "0") {
        constraints.pop();
    }
    format!(
        "{prefix}.{space}{}.{compat:X}.{tier}{}.{}",
        c.general_profile_idc,
        c.general_level_idc,
        constraints.join(".")
    )
}

/// The four-character type of a sample entry, for error messages.
fn sample_entry_type(entry: &Codec) -> String {
    let mut buf = Vec::new();
    if mp4_atom::Encode::encode(entry, &mut buf).is_ok() && buf.len() >= 8 {
        return String::from_utf8_lossy(&buf[4..8]).into_owned();
    }
    "unknown".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn av1_and_vp9_strings() {
        let c = mp4_atom::Av1c {
            seq_profile: 0,
            seq_level_idx_0: 8,
            ..Default::default()
        };
        assert_eq!(av1(&c), "av01.0.08M.08");
        let c = mp4_atom::Av1c {
            seq_profile: 2,
            seq_level_idx_0: 13,
            seq_tier_0: true,
            high_bitdepth: true,
            twelve_bit: true,
            ..Default::default()
        };
        assert_eq!(av1(&c), "av01.2.13H.12");
        let c = mp4_atom::VpcC {
            profile: 0,
            level: 10,
            bit_depth: 8,
            ..Default::default()
        };
        assert_eq!(vp9(&c), "vp09.00.10.08");
    }

    #[test]
    fn hevc_main_profile_string() {
        let c = Hvcc {
            configuration_version: 1,
            general_profile_idc: 1,
            general_profile_compatibility_flags: [0x60, 0, 0, 0],
            general_constraint_indicator_flags: [0x90, 0, 0, 0, 0, 0],
            general_level_idc: 93,
            ..Default::default()
        };
        assert_eq!(hevc("hvc1", &c), "hvc1.1.6.L93.90");
    }

    #[test]
    fn avc_string_is_upper_hex() {
        let c = mp4_atom::Avcc {
            configuration_version: 1,
            avc_profile_indication: 0x64,
            profile_compatibility: 0,
            avc_level_indication: 0x1f,
            length_size: 4,
            ..Default::default()
        };
        assert_eq!(avc("avc1", &c), "avc1.64001F");
    }
}
