//! draft-18 variable-length integers: the count of leading 1 bits in the first
//! byte gives the length (1 to 9 bytes). Non-minimal encodings are valid.

use bytes::{Buf, BufMut};

use super::DecodeError;

/// Largest encoded length of a varint.
pub const MAX_VARINT_LEN: usize = 9;

/// Number of bytes the minimal encoding of `v` takes.
pub fn varint_len(v: u64) -> usize {
    match v {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        0x20_0000..0x1000_0000 => 4,
        0x1000_0000..0x8_0000_0000 => 5,
        0x8_0000_0000..0x400_0000_0000 => 6,
        0x400_0000_0000..0x2_0000_0000_0000 => 7,
        0x2_0000_0000_0000..0x100_0000_0000_0000 => 8,
        _ => 9,
    }
}

/// Write `v` in its minimal encoding.
pub fn encode_varint(v: u64, buf: &mut impl BufMut) {
    let len = varint_len(v);
    if len == 9 {
        buf.put_u8(0xFF);
        buf.put_u64(v);
        return;
    }
    // (len - 1) leading one bits, then a zero bit, then the value.
    let prefix = (0xFF00u16 >> (len - 1)) as u8;
    let bytes = v.to_be_bytes();
    let mut out = [0u8; 8];
    out[..len].copy_from_slice(&bytes[8 - len..]);
    out[0] |= prefix;
    buf.put_slice(&out[..len]);
}

/// Length of the varint whose first byte is `first`.
pub fn varint_len_from_first(first: u8) -> usize {
    first.leading_ones() as usize + 1
}

/// Read one varint. On [`DecodeError::Short`] nothing is consumed.
pub fn decode_varint(buf: &mut impl Buf) -> Result<u64, DecodeError> {
    if !buf.has_remaining() {
        return Err(DecodeError::Short);
    }
    let first = buf.chunk()[0];
    let len = varint_len_from_first(first);
    if buf.remaining() < len {
        return Err(DecodeError::Short);
    }
    buf.advance(1);
    if len == 9 {
        return Ok(buf.get_u64());
    }
    let mut v = u64::from(first & (0xFFu16 >> len) as u8);
    for _ in 1..len {
        v = (v << 8) | u64::from(buf.get_u8());
    }
    Ok(v)
}

/// Peek a varint at the start of `bytes` without consuming: value and length.
pub fn peek_varint(bytes: &[u8]) -> Result<(u64, usize), DecodeError> {
    let mut slice = bytes;
    let v = decode_varint(&mut slice)?;
    Ok((v, bytes.len() - slice.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(bytes: &[u8]) -> u64 {
        let mut b = bytes;
        let v = decode_varint(&mut b).expect("valid varint");
        assert!(b.is_empty(), "consumed exactly");
        v
    }

    #[test]
    fn spec_examples() {
        assert_eq!(dec(&[0x25]), 37);
        assert_eq!(dec(&[0x80, 0x25]), 37);
        assert_eq!(dec(&[0xbb, 0xbd]), 15_293);
        assert_eq!(dec(&[0xed, 0x7f, 0x3e, 0x7d]), 226_442_877);
        assert_eq!(
            dec(&[0xfa, 0xa1, 0xa0, 0xe4, 0x03, 0xd8]),
            2_893_212_287_960
        );
        assert_eq!(
            dec(&[0xfc, 0x89, 0x98, 0xab, 0xc6, 0x6b, 0xc0]),
            151_288_809_941_952
        );
        assert_eq!(
            dec(&[0xfe, 0xfa, 0x31, 0x8f, 0xa8, 0xe3, 0xca, 0x11]),
            70_423_237_261_249_041
        );
        assert_eq!(dec(&[0xff; 9]), u64::MAX);
    }

    #[test]
    fn minimal_encodings_match_spec_examples() {
        let cases: &[(u64, &[u8])] = &[
            (37, &[0x25]),
            (15_293, &[0xbb, 0xbd]),
            (226_442_877, &[0xed, 0x7f, 0x3e, 0x7d]),
            (2_893_212_287_960, &[0xfa, 0xa1, 0xa0, 0xe4, 0x03, 0xd8]),
            (
                151_288_809_941_952,
                &[0xfc, 0x89, 0x98, 0xab, 0xc6, 0x6b, 0xc0],
            ),
            (
                70_423_237_261_249_041,
                &[0xfe, 0xfa, 0x31, 0x8f, 0xa8, 0xe3, 0xca, 0x11],
            ),
            (u64::MAX, &[0xff; 9]),
        ];
        for (v, bytes) in cases {
            let mut out = Vec::new();
            encode_varint(*v, &mut out);
            assert_eq!(&out[..], *bytes, "encoding of {v}");
        }
    }

    #[test]
    fn boundaries_round_trip() {
        for shift in 0..64 {
            for v in [(1u64 << shift) - 1, 1u64 << shift, (1u64 << shift) + 1] {
                let mut out = Vec::new();
                encode_varint(v, &mut out);
                assert_eq!(out.len(), varint_len(v));
                assert_eq!(dec(&out), v);
            }
        }
    }

    #[test]
    fn short_consumes_nothing() {
        let mut b: &[u8] = &[0xbb];
        assert_eq!(decode_varint(&mut b), Err(DecodeError::Short));
        assert_eq!(b.len(), 1);
        let mut empty: &[u8] = &[];
        assert_eq!(decode_varint(&mut empty), Err(DecodeError::Short));
    }
}
