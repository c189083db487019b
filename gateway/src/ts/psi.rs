//! Program-specific information: the PAT and the PMT.

/// Largest PSI section (PAT and PMT sections are at most 1024 bytes, ISO/IEC 13818-1 2.4.4).
pub const MAX_SECTION: usize = 1024;

/// A program of the PAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program {
    /// program_number (never 0: that one names the network PID).
    pub number: u16,
    /// The PID of its PMT.
    pub pmt_pid: u16,
}

/// An elementary stream of a PMT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EsInfo {
    /// stream_type (0x1b H.264, 0x0f AAC ADTS, ...).
    pub stream_type: u8,
    /// The PID that carries it.
    pub pid: u16,
}

/// A program map table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pmt {
    /// The program it describes.
    pub program: u16,
    /// The PID that carries the program clock reference.
    pub pcr_pid: u16,
    /// Its elementary streams, in table order.
    pub streams: Vec<EsInfo>,
}

/// Collects one PSI section from packet payloads (a section may span packets).
#[derive(Debug, Default)]
pub struct SectionBuffer {
    buf: Vec<u8>,
    started: bool,
}

impl SectionBuffer {
    /// Add a payload; `Some(section)` once a whole section (header to CRC) is in.
    /// Sections larger than [`MAX_SECTION`] are an error.
    pub fn push(&mut self, unit_start: bool, payload: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let mut data = payload;
        if unit_start {
            let Some((&pointer, rest)) = data.split_first() else {
                return Err("empty payload where a section starts".into());
            };
            let pointer = usize::from(pointer);
            if pointer > rest.len() {
                return Err(format!("pointer_field {pointer} beyond the packet"));
            }
            // The bytes before the pointer end the previous section, if one was open.
            if self.started {
                self.buf.extend_from_slice(&rest[..pointer]);
                if let Some(s) = self.take_complete()? {
                    self.buf.clear();
                    self.buf.extend_from_slice(&rest[pointer..]);
                    return Ok(Some(s));
                }
            }
            self.buf.clear();
            self.started = true;
            data = &rest[pointer..];
        } else if !self.started {
            return Ok(None);
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() > MAX_SECTION + 188 {
            self.reset();
            return Err(format!("section longer than {MAX_SECTION} bytes"));
        }
        self.take_complete()
    }

    /// Forget a partial section (after a continuity error).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.started = false;
    }

    fn take_complete(&mut self) -> Result<Option<Vec<u8>>, String> {
        if self.buf.first() == Some(&0xff) {
            // Stuffing: no more sections in this unit.
            self.reset();
            return Ok(None);
        }
        if self.buf.len() < 3 {
            return Ok(None);
        }
        let len = usize::from(self.buf[1] & 0x0f) << 8 | usize::from(self.buf[2]);
        if len > MAX_SECTION - 3 {
            self.reset();
            return Err(format!("section_length {len} over {}", MAX_SECTION - 3));
        }
        if self.buf.len() < 3 + len {
            return Ok(None);
        }
        let section = self.buf[..3 + len].to_vec();
        self.reset();
        Ok(Some(section))
    }
}

/// CRC-32/MPEG-2 (polynomial 0x04C11DB7, not reflected, initial value all ones).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The table body of a section after its checks: `table_id`, the syntax bit, the length and
/// the CRC. Returns (table_id_extension, body between the 8-byte header and the CRC).
fn body(section: &[u8], table_id: u8) -> Result<(u16, &[u8]), String> {
    if section.len() < 12 {
        return Err(format!("section of {} bytes is too short", section.len()));
    }
    if section[0] != table_id {
        return Err(format!(
            "table_id {:#04x}, expected {table_id:#04x}",
            section[0]
        ));
    }
    if section[1] & 0x80 == 0 {
        return Err("section_syntax_indicator is 0".into());
    }
    if crc32(section) != 0 {
        return Err("CRC-32 mismatch".into());
    }
    let extension = u16::from_be_bytes([section[3], section[4]]);
    Ok((extension, &section[8..section.len() - 4]))
}

/// Read a PAT section: its programs (the network PID entry, program 0, left out).
pub fn parse_pat(section: &[u8]) -> Result<Vec<Program>, String> {
    let (_, body) = body(section, 0x00)?;
    if body.len() % 4 != 0 {
        return Err(format!("{} bytes of program entries", body.len()));
    }
    Ok(body
        .chunks_exact(4)
        .map(|e| Program {
            number: u16::from_be_bytes([e[0], e[1]]),
            pmt_pid: u16::from(e[2] & 0x1f) << 8 | u16::from(e[3]),
        })
        .filter(|p| p.number != 0)
        .collect())
}

/// Read a PMT section.
pub fn parse_pmt(section: &[u8]) -> Result<Pmt, String> {
    let (program, body) = body(section, 0x02)?;
    if body.len() < 4 {
        return Err("no room for PCR_PID and program_info_length".into());
    }
    let pcr_pid = u16::from(body[0] & 0x1f) << 8 | u16::from(body[1]);
    let info_len = usize::from(body[2] & 0x0f) << 8 | usize::from(body[3]);
    let mut rest = body
        .get(4 + info_len..)
        .ok_or_else(|| format!("program_info_length {info_len} beyond the section"))?;
    let mut streams = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 5 {
            return Err("a stream entry is cut short".into());
        }
        let es_len = usize::from(rest[3] & 0x0f) << 8 | usize::from(rest[4]);
        if rest.len() < 5 + es_len {
            return Err(format!("ES_info_length {es_len} beyond the section"));
        }
        streams.push(EsInfo {
            stream_type: rest[0],
            pid: u16::from(rest[1] & 0x1f) << 8 | u16::from(rest[2]),
        });
        rest = &rest[5 + es_len..];
    }
    Ok(Pmt {
        program,
        pcr_pid,
        streams,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A section with its CRC appended.
    pub(crate) fn with_crc(mut s: Vec<u8>) -> Vec<u8> {
        let crc = crc32(&s);
        s.extend_from_slice(&crc.to_be_bytes());
        s
    }

    #[test]
    fn crc_of_a_known_pat() {
        // ffmpeg's PAT: program 1 on PID 0x1000.
        let pat = [
            0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x00, 0x2a, 0xb1,
            0x04, 0xb2,
        ];
        assert_eq!(crc32(&pat), 0);
        let programs = parse_pat(&pat).expect("pat");
        assert_eq!(
            programs,
            [Program {
                number: 1,
                pmt_pid: 0x1000
            }]
        );
    }

    #[test]
    fn reads_a_pmt_and_refuses_a_bad_crc() {
        let s = with_crc(vec![
            0x02, 0xb0, 0x17, 0x00, 0x01, 0xc1, 0x00, 0x00, 0xe1, 0x00, 0xf0, 0x00, 0x1b, 0xe1,
            0x00, 0xf0, 0x00, 0x0f, 0xe1, 0x01, 0xf0, 0x00,
        ]);
        let pmt = parse_pmt(&s).expect("pmt");
        assert_eq!(pmt.pcr_pid, 0x100);
        assert_eq!(
            pmt.streams,
            [
                EsInfo {
                    stream_type: 0x1b,
                    pid: 0x100
                },
                EsInfo {
                    stream_type: 0x0f,
                    pid: 0x101
                }
            ]
        );
        let mut bad = s.clone();
        bad[13] ^= 1;
        assert!(parse_pmt(&bad).unwrap_err().contains("CRC"));
    }

    #[test]
    fn a_section_may_span_packets() {
        let s = with_crc(vec![
            0x02, 0xb0, 0x17, 0x00, 0x01, 0xc1, 0x00, 0x00, 0xe1, 0x00, 0xf0, 0x00, 0x1b, 0xe1,
            0x00, 0xf0, 0x00, 0x0f, 0xe1, 0x01, 0xf0, 0x00,
        ]);
        let mut b = SectionBuffer::default();
        let mut first = vec![0u8];
        first.extend_from_slice(&s[..10]);
        assert_eq!(b.push(true, &first), Ok(None));
        let mut second = s[10..].to_vec();
        second.extend_from_slice(&[0xff; 20]);
        assert_eq!(b.push(false, &second), Ok(Some(s.clone())));
    }
}
