//! Writing CMAF: one chunk per frame (`prft` + `moof` + `mdat`) and init segments.

use bytes::{BufMut, Bytes, BytesMut};
use mp4_atom::{Encode, Ftyp, Mfhd, Moof, Moov, Mvex, Mvhd, Tfdt, Tfhd, Traf, Trun, TrunEntry};

use crate::{Sample, TrackInfo};

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// NTP 64-bit timestamp (32.32 fixed point) of a Unix time in microseconds.
pub fn ntp_from_unix_micros(micros: u64) -> u64 {
    let secs = micros / 1_000_000 + NTP_UNIX_OFFSET;
    let frac = ((micros % 1_000_000) << 32) / 1_000_000;
    (secs << 32) | frac
}

/// Unix time in microseconds of an NTP 64-bit timestamp.
pub fn unix_micros_from_ntp(ntp: u64) -> u64 {
    let secs = (ntp >> 32).saturating_sub(NTP_UNIX_OFFSET);
    let frac = ((ntp & 0xffff_ffff) * 1_000_000) >> 32;
    secs * 1_000_000 + frac
}

/// The `prft` box (version 1, "time the frame was published"): the wall-clock time `now`
/// (Unix microseconds) and the frame's presentation time in its track's timescale.
pub fn prft(track: u32, unix_micros: u64, media_time: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0..4].copy_from_slice(&32u32.to_be_bytes());
    b[4..8].copy_from_slice(b"prft");
    b[8] = 1; // version 1: 64-bit media time; flags 0: the time the frame was input
    b[12..16].copy_from_slice(&track.to_be_bytes());
    b[16..24].copy_from_slice(&ntp_from_unix_micros(unix_micros).to_be_bytes());
    b[24..32].copy_from_slice(&media_time.to_be_bytes());
    b
}

/// Read back a `prft` box at the start of a chunk: (track, Unix microseconds, media time).
pub fn read_prft(chunk: &[u8]) -> Option<(u32, u64, u64)> {
    if chunk.len() < 28 || &chunk[4..8] != b"prft" || (chunk[8] == 1 && chunk.len() < 32) {
        return None;
    }
    let u32_at =
        |i: usize| u32::from_be_bytes([chunk[i], chunk[i + 1], chunk[i + 2], chunk[i + 3]]);
    let u64_at = |i: usize| (u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4));
    let track = u32_at(12);
    let ntp = u64_at(16);
    let media = if chunk[8] == 1 {
        u64_at(24)
    } else {
        u64::from(u32_at(24))
    };
    Some((track, unix_micros_from_ntp(ntp), media))
}

/// One CMAF chunk holding exactly `sample`: `prft` (publish stamp `unix_micros`), `moof`
/// (sequence number `sequence`) and `mdat`.
pub fn chunk(sample: &Sample, sequence: u32, unix_micros: u64) -> Bytes {
    let presentation = sample
        .dts
        .saturating_add_signed(i64::from(sample.cts_offset));
    let mut moof = Moof {
        mfhd: Mfhd {
            sequence_number: sequence,
        },
        traf: vec![Traf {
            tfhd: Tfhd {
                track_id: sample.track,
                default_base_is_moof: true,
                ..Default::default()
            },
            tfdt: Some(Tfdt {
                base_media_decode_time: sample.dts,
            }),
            trun: vec![Trun {
                data_offset: Some(0),
                samples: vec![TrunEntry {
                    duration: Some(sample.duration),
                    size: Some(sample.data.len() as u32),
                    flags: Some(sample.flags()),
                    cts: Some(i64::from(sample.cts_offset)),
                }]
                .into(),
            }],
            ..Default::default()
        }],
    };
    // The data offset is a fixed-width field: measure once, then write the real value.
    let mut probe = Vec::with_capacity(128);
    moof.encode(&mut probe).expect("a moof encodes into a Vec");
    let moof_len = probe.len();
    moof.traf[0].trun[0].data_offset = Some((moof_len + 8) as i32);

    let mut out = BytesMut::with_capacity(32 + moof_len + 8 + sample.data.len());
    out.put_slice(&prft(sample.track, unix_micros, presentation));
    moof.encode(&mut out).expect("a moof encodes into a buffer");
    out.put_u32((8 + sample.data.len()) as u32);
    out.put_slice(b"mdat");
    out.put_slice(&sample.data);
    out.freeze()
}

/// An init segment (`ftyp` + `moov`) declaring `tracks`, in order, each with its `trex`.
pub fn init_segment(tracks: &[&TrackInfo]) -> Bytes {
    let ftyp = Ftyp {
        major_brand: b"iso6".into(),
        minor_version: 0,
        compatible_brands: vec![b"iso6".into(), b"cmfc".into(), b"mp41".into()],
    };
    let moov = Moov {
        mvhd: Mvhd {
            timescale: 1000,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: tracks.iter().map(|t| t.id).max().unwrap_or(0) + 1,
            ..Default::default()
        },
        mvex: Some(Mvex {
            mehd: None,
            trex: tracks.iter().map(|t| t.trex.clone()).collect(),
        }),
        trak: tracks.iter().map(|t| t.trak.clone()).collect(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(1024);
    ftyp.encode(&mut out).expect("ftyp encodes");
    moov.encode(&mut out).expect("moov encodes");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_round_trips_to_the_microsecond() {
        for micros in [0u64, 1, 999_999, 1_764_000_000_123_456] {
            let back = unix_micros_from_ntp(ntp_from_unix_micros(micros));
            assert!(back.abs_diff(micros) <= 1, "{micros} → {back}");
        }
    }

    #[test]
    fn prft_reads_back() {
        let b = prft(3, 1_764_000_000_000_000, 90_000);
        assert_eq!(read_prft(&b), Some((3, 1_764_000_000_000_000, 90_000)));
        // A truncated box is not read (version 1's media time needs all 32 bytes).
        for cut in 0..b.len() {
            assert_eq!(read_prft(&b[..cut]), None, "{cut}");
        }
    }
}
