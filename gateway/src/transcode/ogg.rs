//! Ogg pages (RFC 3533) for Opus (RFC 7845), sans-IO: what the audio transcoder writes to
//! ffmpeg (Opus packets in) and reads back (Opus packets out).

/// The Ogg CRC-32 (polynomial 0x04c11db7, no reflection, zero initial value).
fn crc(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut r = (i as u32) << 24;
            for _ in 0..8 {
                r = if r & 0x8000_0000 != 0 {
                    (r << 1) ^ 0x04c1_1db7
                } else {
                    r << 1
                };
            }
            *e = r;
        }
        t
    });
    data.iter().fold(0u32, |c, b| {
        (c << 8) ^ table[(((c >> 24) as u8) ^ b) as usize]
    })
}

/// Writes one logical Ogg stream, one packet per page (the lowest latency).
#[derive(Debug)]
pub struct Writer {
    serial: u32,
    sequence: u32,
}

impl Writer {
    /// A stream with this serial number.
    pub fn new(serial: u32) -> Self {
        Self {
            serial,
            sequence: 0,
        }
    }

    /// One page holding `packet`, ending at `granule`. `first` marks the stream's first page.
    pub fn page(&mut self, packet: &[u8], granule: u64, first: bool) -> Vec<u8> {
        let mut lacing = vec![255u8; packet.len() / 255];
        lacing.push((packet.len() % 255) as u8);
        let mut page = Vec::with_capacity(27 + lacing.len() + packet.len());
        page.extend_from_slice(b"OggS");
        page.push(0);
        page.push(if first { 0x02 } else { 0 });
        page.extend_from_slice(&granule.to_le_bytes());
        page.extend_from_slice(&self.serial.to_le_bytes());
        page.extend_from_slice(&self.sequence.to_le_bytes());
        page.extend_from_slice(&[0; 4]);
        page.push(lacing.len() as u8);
        page.extend_from_slice(&lacing);
        page.extend_from_slice(packet);
        let c = crc(&page);
        page[22..26].copy_from_slice(&c.to_le_bytes());
        self.sequence = self.sequence.wrapping_add(1);
        page
    }

    /// The two header pages of an Opus stream: `OpusHead` (mapping family 0) and `OpusTags`.
    pub fn opus_headers(&mut self, channels: u8, pre_skip: u16) -> Vec<u8> {
        let mut head = b"OpusHead".to_vec();
        head.push(1);
        head.push(channels);
        head.extend_from_slice(&pre_skip.to_le_bytes());
        head.extend_from_slice(&48_000u32.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes());
        head.push(0);
        let mut tags = b"OpusTags".to_vec();
        tags.extend_from_slice(&4u32.to_le_bytes());
        tags.extend_from_slice(b"tern");
        tags.extend_from_slice(&0u32.to_le_bytes());
        let mut out = self.page(&head, 0, true);
        out.extend(self.page(&tags, 0, false));
        out
    }
}

/// Reads Ogg pages from a byte stream into packets (of any logical stream). Bounded: a page
/// is at most 65,307 bytes, and a packet spanning pages at most [`Reader::MAX_PACKET`].
#[derive(Debug, Default)]
pub struct Reader {
    buf: Vec<u8>,
    partial: Vec<u8>,
}

/// The stream is not Ogg.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an Ogg stream: {0}")]
pub struct NotOgg(pub &'static str);

impl Reader {
    /// The largest packet kept.
    pub const MAX_PACKET: usize = 1 << 20;

    /// Take `data`; the packets completed so far.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, NotOgg> {
        self.buf.extend_from_slice(data);
        let mut packets = Vec::new();
        loop {
            if self.buf.len() < 27 {
                break;
            }
            if &self.buf[..4] != b"OggS" {
                return Err(NotOgg("no capture pattern"));
            }
            let segments = usize::from(self.buf[26]);
            if self.buf.len() < 27 + segments {
                break;
            }
            let lacing = &self.buf[27..27 + segments];
            let body: usize = lacing.iter().map(|l| usize::from(*l)).sum();
            let total = 27 + segments + body;
            if self.buf.len() < total {
                break;
            }
            let mut at = 27 + segments;
            for l in lacing {
                let l = usize::from(*l);
                if self.partial.len() + l > Self::MAX_PACKET {
                    return Err(NotOgg("a packet over 1 MiB"));
                }
                self.partial.extend_from_slice(&self.buf[at..at + l]);
                at += l;
                if l < 255 {
                    packets.push(std::mem::take(&mut self.partial));
                }
            }
            self.buf.drain(..total);
        }
        Ok(packets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_round_trip_with_long_packets() {
        let mut w = Writer::new(7);
        let mut stream = w.opus_headers(2, 312);
        let long = vec![9u8; 600];
        stream.extend(w.page(&[1, 2, 3], 960, false));
        stream.extend(w.page(&long, 1920, false));
        stream.extend(w.page(&[0u8; 255], 2880, false));
        let mut r = Reader::default();
        let mut packets = Vec::new();
        // Fed a few bytes at a time.
        for chunk in stream.chunks(7) {
            packets.extend(r.push(chunk).expect("ogg"));
        }
        assert_eq!(packets.len(), 5);
        assert_eq!(&packets[0][..8], b"OpusHead");
        assert_eq!(packets[0][9], 2);
        assert_eq!(&packets[1][..8], b"OpusTags");
        assert_eq!(packets[2], [1, 2, 3]);
        assert_eq!(packets[3], long);
        assert_eq!(packets[4], [0u8; 255]);
    }

    #[test]
    fn the_crc_is_oggs() {
        // The CRC of a known page: libogg's test vector "OggS" header of an empty page with
        // its CRC field zeroed, checked against the value libogg computes.
        let mut w = Writer::new(0);
        let page = w.page(&[], 0, true);
        let mut zeroed = page.clone();
        zeroed[22..26].copy_from_slice(&[0; 4]);
        assert_eq!(crc(&zeroed).to_le_bytes(), page[22..26]);
        assert_eq!(crc(b"123456789"), 0x89a1_897f);
    }

    #[test]
    fn garbage_is_not_ogg() {
        let mut r = Reader::default();
        assert!(r.push(&[0u8; 40]).is_err());
    }
}
