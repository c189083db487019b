//! Opus: the identification header (`OpusHead`, RFC 7845 §5.1) that configures a stream, and
//! how long a packet lasts from its TOC byte (RFC 6716 §3.1, §3.2.5). Opus always runs at
//! 48 kHz.

/// Opus's clock: every duration here is in 48 kHz samples.
pub const RATE: u32 = 48_000;

/// The longest packet RFC 6716 allows: 120 ms.
pub const MAX_PACKET_SAMPLES: u32 = 5760;

/// What an `OpusHead` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusHead {
    /// Output channels.
    pub channels: u8,
    /// Samples (at 48 kHz) to drop from the decoder's output at the start.
    pub pre_skip: u16,
    /// The encoder's input rate (for information only).
    pub input_rate: u32,
    /// The channel mapping family (0: mono or stereo, no mapping table).
    pub mapping_family: u8,
}

impl OpusHead {
    /// Read an `OpusHead` packet.
    pub fn parse(data: &[u8]) -> Result<Self, String> {
        let Some(rest) = data.strip_prefix(b"OpusHead") else {
            return Err("no OpusHead magic".into());
        };
        if rest.len() < 11 {
            return Err(format!("an OpusHead of {} bytes", data.len()));
        }
        if rest[0] >> 4 != 0 {
            return Err(format!(
                "OpusHead version {}: only major version 0 is defined",
                rest[0]
            ));
        }
        let channels = rest[1];
        if channels == 0 {
            return Err("an OpusHead with no channels".into());
        }
        Ok(Self {
            channels,
            pre_skip: u16::from_le_bytes([rest[2], rest[3]]),
            input_rate: u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]),
            mapping_family: rest[10],
        })
    }
}

/// How many 48 kHz samples the Opus packet `packet` holds, from its TOC byte (and, for code 3,
/// its frame count byte); `None` for an empty or malformed packet, or one over 120 ms.
pub fn packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    let frame = match config {
        // SILK: 10, 20, 40, 60 ms.
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        // Hybrid: 10, 20 ms.
        12..=15 => [480, 960][usize::from(config % 2)],
        // CELT: 2.5, 5, 10, 20 ms.
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    let total = frame * frames;
    (frames > 0 && total <= MAX_PACKET_SAMPLES).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libopus_head_is_read() {
        // As FFmpeg 8.1's libopus writes it: stereo, pre-skip 312, 48 kHz input.
        let head = [
            b'O', b'p', b'u', b's', b'H', b'e', b'a', b'd', 1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0,
            0, 0,
        ];
        let h = OpusHead::parse(&head).unwrap();
        assert_eq!((h.channels, h.pre_skip, h.input_rate), (2, 312, 48_000));
        assert_eq!(h.mapping_family, 0);
        assert!(OpusHead::parse(&head[..12]).is_err());
        assert!(OpusHead::parse(b"OpusTags...........").is_err());
        let mut v2 = head;
        v2[8] = 0x10;
        assert!(OpusHead::parse(&v2).unwrap_err().contains("version"));
    }

    #[test]
    fn durations_come_from_the_toc() {
        // CELT 20 ms, one frame (libopus's default at 48 kHz).
        assert_eq!(packet_samples(&[0xfc, 0x7e]), Some(960));
        // SILK 60 ms, two frames: 120 ms.
        assert_eq!(packet_samples(&[0x19, 0]), Some(5760));
        // Hybrid 10 ms, code 3 with 6 frames.
        assert_eq!(packet_samples(&[0x63, 6]), Some(2880));
        // CELT 2.5 ms, code 3 with 48 frames (120 ms, the most).
        assert_eq!(packet_samples(&[0x83, 48]), Some(5760));
        assert_eq!(packet_samples(&[0x83, 49]), None, "over 120 ms");
        assert_eq!(packet_samples(&[0x83, 0]), None, "no frames");
        assert_eq!(packet_samples(&[0x83]), None, "no frame count");
        assert_eq!(packet_samples(&[]), None);
    }
}
