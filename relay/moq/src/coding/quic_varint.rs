//! RFC 9000 variable-length integers (§16): the two high bits of the first byte give the
//! length (1, 2, 4 or 8 bytes), so values stop at 2^62 - 1. Drafts 14 to 16 use them on every
//! field marked `(i)`; draft-17 on uses the leading-ones encoding of [`super::varint`].

use bytes::{Buf, BufMut};

use super::{DecodeError, EncodeError};

/// Largest value an RFC 9000 varint holds.
pub const MAX_QUIC_VARINT: u64 = (1 << 62) - 1;

/// Number of bytes the minimal encoding of `v` takes (8 for values too large to encode).
pub fn quic_varint_len(v: u64) -> usize {
    match v {
        0..0x40 => 1,
        0x40..0x4000 => 2,
        0x4000..0x4000_0000 => 4,
        _ => 8,
    }
}

/// Write `v` in its minimal encoding; a value above [`MAX_QUIC_VARINT`] cannot be sent.
pub fn encode_quic_varint(v: u64, buf: &mut impl BufMut) -> Result<(), EncodeError> {
    match quic_varint_len(v) {
        1 => buf.put_u8(v as u8),
        2 => buf.put_u16(0x4000 | v as u16),
        4 => buf.put_u32(0x8000_0000 | v as u32),
        _ if v <= MAX_QUIC_VARINT => buf.put_u64(0xC000_0000_0000_0000 | v),
        _ => return Err(EncodeError::VarintTooLarge(v)),
    }
    Ok(())
}

/// Read one varint. On [`DecodeError::Short`] nothing is consumed.
pub fn decode_quic_varint(buf: &mut impl Buf) -> Result<u64, DecodeError> {
    if !buf.has_remaining() {
        return Err(DecodeError::Short);
    }
    let len = 1usize << (buf.chunk()[0] >> 6);
    if buf.remaining() < len {
        return Err(DecodeError::Short);
    }
    Ok(match len {
        1 => u64::from(buf.get_u8() & 0x3F),
        2 => u64::from(buf.get_u16() & 0x3FFF),
        4 => u64::from(buf.get_u32() & 0x3FFF_FFFF),
        _ => buf.get_u64() & MAX_QUIC_VARINT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(bytes: &[u8]) -> u64 {
        let mut b = bytes;
        let v = decode_quic_varint(&mut b).expect("valid varint");
        assert!(b.is_empty(), "consumed exactly");
        v
    }

    #[test]
    fn rfc9000_examples() {
        // RFC 9000 §A.1.
        assert_eq!(
            dec(&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c]),
            151_288_809_941_952_652
        );
        assert_eq!(dec(&[0x9d, 0x7f, 0x3e, 0x7d]), 494_878_333);
        assert_eq!(dec(&[0x7b, 0xbd]), 15_293);
        assert_eq!(dec(&[0x25]), 37);
        assert_eq!(dec(&[0x40, 0x25]), 37);
    }

    #[test]
    fn boundaries_round_trip_and_too_large_is_refused() {
        for shift in 0..62 {
            for v in [(1u64 << shift) - 1, 1u64 << shift, (1u64 << shift) + 1] {
                let mut out = Vec::new();
                encode_quic_varint(v, &mut out).expect("fits");
                assert_eq!(out.len(), quic_varint_len(v));
                assert_eq!(dec(&out), v);
            }
        }
        assert!(encode_quic_varint(MAX_QUIC_VARINT + 1, &mut Vec::new()).is_err());
    }

    #[test]
    fn short_consumes_nothing() {
        let mut b: &[u8] = &[0x7b];
        assert_eq!(decode_quic_varint(&mut b), Err(DecodeError::Short));
        assert_eq!(b.len(), 1);
    }
}
