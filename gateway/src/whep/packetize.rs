//! CMAF samples into RTP payloads, once per track for every WHEP viewer of it. Pure.
//!
//! - H.264 (RFC 6184, packetization-mode 1): a NAL unit that fits is sent alone, a larger one
//!   as FU-A fragments; the `avcC`'s SPS and PPS go before every IDR picture that does not
//!   carry its own, so a viewer can start at any keyframe; access unit delimiters and filler
//!   are left out.
//! - VP8 (RFC 7741): the one-byte payload descriptor, `S` set on the frame's first packet.
//! - Opus (RFC 7587): one frame per packet.
//!
//! The marker bit goes on a video frame's last packet (RFC 6184 §5.1, RFC 7741 §4.1); payloads
//! are [`Arc`]s so every viewer's RTP packet shares them.

use std::sync::Arc;

use crate::codec::h264::{nal, nal_type};

/// The largest RTP payload written: a 1200-byte packet (what browsers assume of a path)
/// less the RTP header, its extensions and SRTP's tag.
pub const MAX_PAYLOAD: usize = 1100;

/// How a track's samples are cut into RTP payloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packetizer {
    /// H.264 from `avcC`: its NAL length size and its parameter sets.
    H264 {
        /// Bytes of each NAL unit's length prefix (1, 2 or 4).
        length_size: u8,
        /// The sequence and picture parameter sets, sent before each IDR picture.
        parameter_sets: Vec<Vec<u8>>,
    },
    /// VP8.
    Vp8,
    /// Opus.
    Opus,
}

/// Why a sample could not be packetised.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketizeError {
    /// A NAL unit's length runs past the sample.
    #[error("a NAL unit's length ({len}) runs past the sample ({left} bytes left)")]
    NalPastEnd {
        /// The declared length.
        len: usize,
        /// The bytes left in the sample.
        left: usize,
    },
    /// The `avcC` names a length size H.264 does not have.
    #[error("an avcC NAL length size of {0} bytes")]
    LengthSize(u8),
    /// Nothing to send.
    #[error("an empty sample")]
    Empty,
}

impl Packetizer {
    /// The RTP payloads of one sample, in order; the last one carries the marker bit.
    pub fn packetize(
        &self,
        sample: &[u8],
        keyframe: bool,
    ) -> Result<Vec<Arc<[u8]>>, PacketizeError> {
        let out = match self {
            Self::H264 {
                length_size,
                parameter_sets,
            } => h264(sample, *length_size, keyframe, parameter_sets)?,
            Self::Vp8 => vp8(sample),
            Self::Opus => vec![Arc::from(sample)],
        };
        if out.is_empty() || sample.is_empty() {
            return Err(PacketizeError::Empty);
        }
        Ok(out)
    }
}

/// The NAL units of an AVCC sample.
fn nal_units(sample: &[u8], length_size: u8) -> Result<Vec<&[u8]>, PacketizeError> {
    let n = usize::from(length_size);
    if !matches!(n, 1 | 2 | 4) {
        return Err(PacketizeError::LengthSize(length_size));
    }
    let mut rest = sample;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let Some(prefix) = rest.get(..n) else {
            return Err(PacketizeError::NalPastEnd {
                len: n,
                left: rest.len(),
            });
        };
        let len = prefix
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        let Some(unit) = rest.get(n..n + len) else {
            return Err(PacketizeError::NalPastEnd {
                len,
                left: rest.len() - n,
            });
        };
        if !unit.is_empty() {
            out.push(unit);
        }
        rest = &rest[n + len..];
    }
    Ok(out)
}

fn h264(
    sample: &[u8],
    length_size: u8,
    keyframe: bool,
    parameter_sets: &[Vec<u8>],
) -> Result<Vec<Arc<[u8]>>, PacketizeError> {
    let units = nal_units(sample, length_size)?;
    let idr = keyframe || units.iter().any(|u| nal_type(u) == nal::IDR);
    let has_sps = units.iter().any(|u| nal_type(u) == nal::SPS);
    let mut all: Vec<&[u8]> = Vec::with_capacity(units.len() + parameter_sets.len());
    if idr && !has_sps {
        all.extend(parameter_sets.iter().map(Vec::as_slice));
    }
    all.extend(
        units
            .into_iter()
            .filter(|u| !matches!(nal_type(u), nal::AUD | nal::FILLER)),
    );
    let mut out = Vec::new();
    for unit in all {
        if unit.len() <= MAX_PAYLOAD {
            out.push(Arc::from(unit));
            continue;
        }
        // FU-A (RFC 6184 §5.8): the indicator keeps F and NRI, the header the type.
        let indicator = (unit[0] & 0xe0) | 28;
        let kind = unit[0] & 0x1f;
        let body = &unit[1..];
        let chunks = body.chunks(MAX_PAYLOAD - 2);
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.enumerate() {
            let mut header = kind;
            if i == 0 {
                header |= 0x80;
            }
            if i == last {
                header |= 0x40;
            }
            let mut p = Vec::with_capacity(chunk.len() + 2);
            p.extend_from_slice(&[indicator, header]);
            p.extend_from_slice(chunk);
            out.push(Arc::from(p));
        }
    }
    Ok(out)
}

fn vp8(frame: &[u8]) -> Vec<Arc<[u8]>> {
    frame
        .chunks(MAX_PAYLOAD - 1)
        .enumerate()
        .map(|(i, chunk)| {
            // X=0, N=0, S on the first packet, PID 0 (RFC 7741 §4.2).
            let descriptor = if i == 0 { 0x10 } else { 0x00 };
            let mut p = Vec::with_capacity(chunk.len() + 1);
            p.push(descriptor);
            p.extend_from_slice(chunk);
            Arc::from(p)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avcc(units: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for u in units {
            out.extend_from_slice(&(u.len() as u32).to_be_bytes());
            out.extend_from_slice(u);
        }
        out
    }

    fn h264_packetizer() -> Packetizer {
        Packetizer::H264 {
            length_size: 4,
            parameter_sets: vec![vec![0x67, 1, 2, 3], vec![0x68, 4, 5]],
        }
    }

    /// Undo RFC 6184 packetisation: the NAL units the payloads carry.
    fn depacketize(payloads: &[Arc<[u8]>]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut fu: Option<Vec<u8>> = None;
        for p in payloads {
            assert!(p.len() <= MAX_PAYLOAD, "a payload of {} bytes", p.len());
            if p[0] & 0x1f == 28 {
                let (start, end) = (p[1] & 0x80 != 0, p[1] & 0x40 != 0);
                if start {
                    assert!(fu.is_none(), "a fragment started inside another");
                    fu = Some(vec![(p[0] & 0xe0) | (p[1] & 0x1f)]);
                }
                let unit = fu.as_mut().expect("a fragment without its start");
                unit.extend_from_slice(&p[2..]);
                if end {
                    out.push(fu.take().expect("fragment"));
                }
            } else {
                assert!(fu.is_none(), "a whole NAL inside a fragmented one");
                out.push(p.to_vec());
            }
        }
        assert!(fu.is_none(), "the last fragment never ended");
        out
    }

    #[test]
    fn idr_pictures_carry_the_parameter_sets_and_big_units_are_fragmented() {
        let mut idr = vec![0x65];
        idr.extend((0..5000u32).map(|i| (i % 251) as u8));
        let aud = [0x09, 0xf0];
        let sample = avcc(&[&aud, &idr]);
        let payloads = h264_packetizer().packetize(&sample, true).unwrap();
        let units = depacketize(&payloads);
        assert_eq!(units, vec![vec![0x67, 1, 2, 3], vec![0x68, 4, 5], idr]);
        assert!(payloads.len() >= 2 + 5);
    }

    #[test]
    fn other_pictures_go_as_they_are_and_parameter_sets_are_not_doubled() {
        let p = [0x41, 9, 9, 9];
        let payloads = h264_packetizer().packetize(&avcc(&[&p]), false).unwrap();
        assert_eq!(depacketize(&payloads), vec![p.to_vec()]);
        let sps = [0x67, 7, 7];
        let idr = [0x65, 1];
        let payloads = h264_packetizer()
            .packetize(&avcc(&[&sps, &idr]), true)
            .unwrap();
        assert_eq!(depacketize(&payloads), vec![sps.to_vec(), idr.to_vec()]);
    }

    #[test]
    fn fragment_sizes_cover_every_boundary() {
        for len in [
            MAX_PAYLOAD - 1,
            MAX_PAYLOAD,
            MAX_PAYLOAD + 1,
            3 * MAX_PAYLOAD,
        ] {
            let mut unit = vec![0x41];
            unit.resize(len, 0xab);
            let payloads = h264_packetizer().packetize(&avcc(&[&unit]), false).unwrap();
            assert_eq!(depacketize(&payloads), vec![unit], "length {len}");
        }
    }

    #[test]
    fn a_cut_sample_is_an_error_not_a_panic() {
        let sample = avcc(&[&[0x41, 1, 2, 3]]);
        for cut in 1..sample.len() {
            let r = h264_packetizer().packetize(&sample[..cut], false);
            assert!(r.is_err(), "cut at {cut}");
        }
        assert_eq!(
            Packetizer::H264 {
                length_size: 3,
                parameter_sets: vec![]
            }
            .packetize(&sample, false),
            Err(PacketizeError::LengthSize(3))
        );
        assert_eq!(
            Packetizer::Opus.packetize(&[], false),
            Err(PacketizeError::Empty)
        );
    }

    #[test]
    fn vp8_frames_start_with_s_set() {
        let frame: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
        let payloads = Packetizer::Vp8.packetize(&frame, true).unwrap();
        assert_eq!(payloads.len(), 3);
        assert_eq!(payloads[0][0], 0x10);
        assert!(payloads[1..].iter().all(|p| p[0] == 0));
        let joined: Vec<u8> = payloads.iter().flat_map(|p| p[1..].to_vec()).collect();
        assert_eq!(joined, frame);
    }
}
