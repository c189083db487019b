//! AAC in ADTS (ISO/IEC 13818-7 / 14496-3): frames without their headers, and the
//! AudioSpecificConfig an `esds` carries.

/// Sample rates by sampling_frequency_index.
pub const SAMPLE_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// PCM samples per AAC frame (AAC-LC, HE-AAC's core).
pub const FRAME_SAMPLES: u32 = 1024;

/// What an ADTS header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsHeader {
    /// The MPEG-4 audio object type (2 = AAC-LC).
    pub object_type: u8,
    /// sampling_frequency_index.
    pub frequency_index: u8,
    /// channel_configuration (1 mono, 2 stereo, ...).
    pub channels: u8,
    /// Length of the header (7, or 9 with a CRC).
    pub header_len: usize,
    /// Length of the frame, header included.
    pub frame_len: usize,
}

impl AdtsHeader {
    /// Read the header at the start of `data`.
    pub fn parse(data: &[u8]) -> Result<Self, String> {
        if data.len() < 7 {
            return Err(format!(
                "{} bytes, too short for an ADTS header",
                data.len()
            ));
        }
        if data[0] != 0xff || data[1] & 0xf0 != 0xf0 {
            return Err(format!(
                "no ADTS syncword (starts {:02x} {:02x})",
                data[0], data[1]
            ));
        }
        if data[1] & 0x06 != 0 {
            return Err("layer is not 0".into());
        }
        let header_len = if data[1] & 0x01 == 1 { 7 } else { 9 };
        let object_type = (data[2] >> 6) + 1;
        let frequency_index = (data[2] >> 2) & 0x0f;
        if usize::from(frequency_index) >= SAMPLE_RATES.len() {
            return Err(format!(
                "sampling_frequency_index {frequency_index} is reserved"
            ));
        }
        let channels = (data[2] & 0x01) << 2 | data[3] >> 6;
        if channels == 0 {
            return Err("channel_configuration 0 (channels set in-band) is not supported".into());
        }
        let frame_len = usize::from(data[3] & 0x03) << 11
            | usize::from(data[4]) << 3
            | usize::from(data[5] >> 5);
        if frame_len <= header_len {
            return Err(format!("frame_length {frame_len} leaves no audio data"));
        }
        let blocks = data[6] & 0x03;
        if blocks != 0 {
            return Err(format!(
                "{} raw data blocks in one frame (only 1 is supported)",
                blocks + 1
            ));
        }
        Ok(Self {
            object_type,
            frequency_index,
            channels,
            header_len,
            frame_len,
        })
    }

    /// AAC-LC at `rate` Hz (one of [`SAMPLE_RATES`]; else 48 kHz) with `channels`.
    pub fn lc(rate: u32, channels: u8) -> Self {
        let frequency_index = SAMPLE_RATES.iter().position(|r| *r == rate).unwrap_or(3) as u8;
        Self {
            object_type: 2,
            frequency_index,
            channels,
            header_len: 7,
            frame_len: 0,
        }
    }

    /// The header of a stream with this AudioSpecificConfig's fields (as an `esds` gives them);
    /// `None` when ADTS cannot carry them (an object type past 4, a reserved rate, in-band
    /// channels).
    pub fn from_config(object_type: u8, frequency_index: u8, channels: u8) -> Option<Self> {
        ((1..=4).contains(&object_type)
            && usize::from(frequency_index) < SAMPLE_RATES.len()
            && (1..=7).contains(&channels))
        .then_some(Self {
            object_type,
            frequency_index,
            channels,
            header_len: 7,
            frame_len: 0,
        })
    }

    /// One raw AAC frame with a 7-byte ADTS header (no CRC) of this stream before it.
    pub fn frame(&self, raw: &[u8]) -> Vec<u8> {
        let len = raw.len() + 7;
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&[
            0xff,
            0xf1,
            (self.object_type - 1) << 6 | self.frequency_index << 2 | self.channels >> 2,
            (self.channels & 3) << 6 | ((len >> 11) & 0x03) as u8,
            ((len >> 3) & 0xff) as u8,
            ((len & 0x07) as u8) << 5 | 0x1f,
            0xfc,
        ]);
        out.extend_from_slice(raw);
        out
    }

    /// The sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        SAMPLE_RATES[usize::from(self.frequency_index)]
    }

    /// The 2-byte AudioSpecificConfig: object type (5 bits), frequency index (4), channel
    /// configuration (4) and a GASpecificConfig of zeros.
    pub fn audio_specific_config(&self) -> [u8; 2] {
        [
            self.object_type << 3 | self.frequency_index >> 1,
            (self.frequency_index & 1) << 7 | self.channels << 3,
        ]
    }

    /// The `esds` decoder specific info of this stream.
    pub fn decoder_specific(&self) -> mp4_atom::esds::DecoderSpecific {
        mp4_atom::esds::DecoderSpecific {
            profile: self.object_type,
            freq_index: self.frequency_index,
            chan_conf: self.channels,
            raw: self.audio_specific_config().to_vec(),
        }
    }
}

/// Split a run of ADTS frames (one PES payload) into headers and raw frames.
pub fn split_adts(mut data: &[u8]) -> Result<Vec<(AdtsHeader, &[u8])>, String> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let h = AdtsHeader::parse(data)?;
        if h.frame_len > data.len() {
            return Err(format!(
                "frame_length {} beyond the {} bytes left",
                h.frame_len,
                data.len()
            ));
        }
        out.push((h, &data[h.header_len..h.frame_len]));
        data = &data[h.frame_len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_adts_frame_reads_back() {
        let h = AdtsHeader::lc(44_100, 2);
        let raw = vec![0x21u8; 300];
        let framed = h.frame(&raw);
        let parsed = split_adts(&framed).expect("adts");
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].1, &raw[..]);
        assert_eq!(parsed[0].0.sample_rate(), 44_100);
        assert_eq!((parsed[0].0.object_type, parsed[0].0.channels), (2, 2));
        assert_eq!(
            AdtsHeader::from_config(5, 3, 2),
            None,
            "HE-AAC is not ADTS's"
        );
        assert!(AdtsHeader::from_config(2, 3, 2).is_some());
    }

    fn adts(len: usize) -> Vec<u8> {
        // AAC-LC, 48 kHz (index 3), stereo, no CRC.
        let frame_len = len + 7;
        let mut h = vec![
            0xff,
            0xf1,
            (1 << 6) | (3 << 2),
            (2 << 6) | ((frame_len >> 11) as u8 & 0x03),
            (frame_len >> 3) as u8,
            ((frame_len as u8 & 0x07) << 5) | 0x1f,
            0xfc,
        ];
        h.extend(std::iter::repeat_n(0xab, len));
        h
    }

    #[test]
    fn splits_frames_and_builds_the_config() {
        let mut data = adts(10);
        data.extend(adts(20));
        let frames = split_adts(&data).expect("adts");
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].1.len(), 20);
        let h = frames[0].0;
        assert_eq!((h.object_type, h.sample_rate(), h.channels), (2, 48_000, 2));
        // AAC-LC 48 kHz stereo is 0x11 0x90, as every encoder writes it.
        assert_eq!(h.audio_specific_config(), [0x11, 0x90]);
    }

    #[test]
    fn names_bad_frames() {
        let mut data = adts(10);
        data.truncate(12);
        assert!(split_adts(&data).unwrap_err().contains("beyond"));
        assert!(
            split_adts(&[0xff, 0x00, 0, 0, 0, 0, 0])
                .unwrap_err()
                .contains("syncword")
        );
        let mut data = adts(4);
        data[6] |= 1;
        assert!(split_adts(&data).unwrap_err().contains("raw data blocks"));
    }
}
