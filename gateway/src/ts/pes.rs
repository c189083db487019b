//! PES packet headers (ISO/IEC 13818-1 2.4.3.6).

/// What a PES header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PesHeader {
    /// stream_id (0xe0.. video, 0xc0.. audio, 0xbd private).
    pub stream_id: u8,
    /// PES_packet_length: bytes after this field, 0 for "unbounded" (video).
    pub packet_length: u16,
    /// Presentation time stamp, 33 bits at 90 kHz.
    pub pts: Option<u64>,
    /// Decode time stamp, 33 bits at 90 kHz.
    pub dts: Option<u64>,
    /// Where the elementary stream data starts.
    pub header_len: usize,
}

/// Stream IDs without the optional header (program stream map, padding, private 2, ECM,
/// EMM, directory, DSMCC, H.222.1 type E).
fn has_optional_header(stream_id: u8) -> bool {
    !matches!(
        stream_id,
        0xbc | 0xbe | 0xbf | 0xf0 | 0xf1 | 0xff | 0xf2 | 0xf8
    )
}

/// A 33-bit timestamp from its 5-byte field (marker bits not checked: encoders get them wrong
/// and the value is still right).
fn timestamp(b: &[u8]) -> u64 {
    (u64::from(b[0] >> 1) & 0x07) << 30
        | u64::from(b[1]) << 22
        | (u64::from(b[2]) >> 1) << 15
        | u64::from(b[3]) << 7
        | u64::from(b[4]) >> 1
}

/// Read the header at the start of a PES packet.
pub fn parse_header(data: &[u8]) -> Result<PesHeader, String> {
    if data.len() < 6 {
        return Err(format!("{} bytes, too short for a PES header", data.len()));
    }
    if data[..3] != [0, 0, 1] {
        return Err(format!(
            "no packet_start_code_prefix (starts {:02x?})",
            &data[..3]
        ));
    }
    let stream_id = data[3];
    let packet_length = u16::from_be_bytes([data[4], data[5]]);
    let mut header = PesHeader {
        stream_id,
        packet_length,
        pts: None,
        dts: None,
        header_len: 6,
    };
    if !has_optional_header(stream_id) {
        return Ok(header);
    }
    if data.len() < 9 {
        return Err("too short for the optional PES header".into());
    }
    if data[6] & 0xc0 != 0x80 {
        return Err("the optional PES header does not start with '10'".into());
    }
    let flags = data[7] >> 6;
    let header_data_len = usize::from(data[8]);
    header.header_len = 9 + header_data_len;
    if data.len() < header.header_len {
        return Err(format!(
            "PES_header_data_length {header_data_len} beyond the data"
        ));
    }
    let fields = &data[9..header.header_len];
    match flags {
        0b10 if fields.len() >= 5 => header.pts = Some(timestamp(&fields[..5])),
        0b11 if fields.len() >= 10 => {
            header.pts = Some(timestamp(&fields[..5]));
            header.dts = Some(timestamp(&fields[5..10]));
        }
        0b00 => {}
        0b01 => return Err("PTS_DTS_flags '01' is forbidden".into()),
        _ => return Err("PTS/DTS fields cut short".into()),
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 5-byte field of a timestamp, with the prefix nibble.
    pub(crate) fn field(prefix: u8, t: u64) -> [u8; 5] {
        [
            prefix << 4 | ((t >> 29) as u8 & 0x0e) | 1,
            (t >> 22) as u8,
            ((t >> 14) as u8 & 0xfe) | 1,
            (t >> 7) as u8,
            ((t << 1) as u8) | 1,
        ]
    }

    #[test]
    fn reads_pts_and_dts_of_33_bits() {
        let pts = (1u64 << 33) - 1;
        let dts = 123_456_789;
        let mut d = vec![0, 0, 1, 0xe0, 0, 0, 0x80, 0xc0, 10];
        d.extend_from_slice(&field(3, pts));
        d.extend_from_slice(&field(1, dts));
        d.extend_from_slice(&[0, 0, 0, 1, 9]);
        let h = parse_header(&d).expect("header");
        assert_eq!((h.pts, h.dts), (Some(pts), Some(dts)));
        assert_eq!(h.header_len, 19);
        assert_eq!(h.stream_id, 0xe0);
    }

    #[test]
    fn names_what_is_wrong() {
        assert!(
            parse_header(&[0, 0, 2, 0xe0, 0, 0])
                .unwrap_err()
                .contains("start_code")
        );
        let d = [0, 0, 1, 0xc0, 0, 0, 0x80, 0x80, 20, 1, 2];
        assert!(parse_header(&d).unwrap_err().contains("beyond"));
        let d = [0, 0, 1, 0xc0, 0, 0, 0x80, 0x40, 0];
        assert!(parse_header(&d).unwrap_err().contains("forbidden"));
    }
}
