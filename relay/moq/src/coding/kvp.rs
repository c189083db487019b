//! Key-Value-Pairs (draft-18 §1.4.3): delta-encoded types; even types carry a
//! varint, odd types a length-prefixed byte string of at most 2^16-1 bytes.
//! Used for Setup Options and Properties. (Message Parameters have their own
//! per-type encodings; see [`crate::message::Parameters`].)

use bytes::{Buf, BufMut, Bytes};

use super::{DecodeError, EncodeError, decode_varint, encode_varint, read_bytes};

/// Maximum length of an odd-typed value.
pub const MAX_KVP_VALUE_LEN: usize = u16::MAX as usize;

/// The value of one Key-Value-Pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvpValue {
    /// Even type: one varint.
    Varint(u64),
    /// Odd type: length-prefixed bytes.
    Bytes(Bytes),
}

/// One Key-Value-Pair with its absolute type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyValuePair {
    /// Absolute type (the wire carries a delta).
    pub kind: u64,
    /// Value; must be `Varint` for even types and `Bytes` for odd ones.
    pub value: KvpValue,
}

impl KeyValuePair {
    /// Read one pair whose type is `prev + delta`.
    pub fn decode(buf: &mut impl Buf, prev: u64) -> Result<Self, DecodeError> {
        let delta = decode_varint(buf)?;
        let kind = prev
            .checked_add(delta)
            .ok_or(DecodeError::TypeDeltaOverflow)?;
        let value = if kind.is_multiple_of(2) {
            KvpValue::Varint(decode_varint(buf)?)
        } else {
            let len = decode_varint(buf)?;
            if len > MAX_KVP_VALUE_LEN as u64 {
                return Err(DecodeError::ValueTooLong(len));
            }
            KvpValue::Bytes(read_bytes(buf, len)?)
        };
        Ok(Self { kind, value })
    }

    /// Write this pair as a delta from `prev`.
    pub fn encode(&self, prev: u64, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        let delta = self
            .kind
            .checked_sub(prev)
            .ok_or(EncodeError::Invalid("key-value types out of order"))?;
        match (&self.value, self.kind % 2) {
            (KvpValue::Varint(v), 0) => {
                encode_varint(delta, buf);
                encode_varint(*v, buf);
            }
            (KvpValue::Bytes(b), 1) => {
                if b.len() > MAX_KVP_VALUE_LEN {
                    return Err(EncodeError::Invalid("key-value longer than 65535 bytes"));
                }
                encode_varint(delta, buf);
                encode_varint(b.len() as u64, buf);
                buf.put_slice(b);
            }
            _ => {
                return Err(EncodeError::Invalid(
                    "key-value parity does not match value",
                ));
            }
        }
        Ok(())
    }
}

/// An ordered list of Key-Value-Pairs, in ascending type order (duplicates kept).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KeyValuePairs(Vec<KeyValuePair>);

impl KeyValuePairs {
    /// Empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// All pairs in wire order.
    pub fn iter(&self) -> impl Iterator<Item = &KeyValuePair> {
        self.0.iter()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// First pair of type `kind`.
    pub fn get(&self, kind: u64) -> Option<&KvpValue> {
        self.0.iter().find(|p| p.kind == kind).map(|p| &p.value)
    }

    /// Every value of type `kind`, in order.
    pub fn get_all(&self, kind: u64) -> impl Iterator<Item = &KvpValue> {
        self.0
            .iter()
            .filter(move |p| p.kind == kind)
            .map(|p| &p.value)
    }

    /// Add a pair, keeping ascending type order (after existing equal types).
    pub fn push(&mut self, kind: u64, value: KvpValue) {
        let at = self.0.partition_point(|p| p.kind <= kind);
        self.0.insert(at, KeyValuePair { kind, value });
    }

    /// Replace every pair of type `kind` with one pair.
    pub fn set(&mut self, kind: u64, value: KvpValue) {
        self.0.retain(|p| p.kind != kind);
        self.push(kind, value);
    }

    /// Decode pairs until `buf` is empty (the caller bounds `buf`).
    pub fn decode_all(buf: &mut impl Buf) -> Result<Self, DecodeError> {
        let mut out = Vec::new();
        let mut prev = 0;
        while buf.has_remaining() {
            let pair = KeyValuePair::decode(buf, prev)?;
            prev = pair.kind;
            out.push(pair);
        }
        Ok(Self(out))
    }

    /// Encode all pairs back to back (no count, no length).
    pub fn encode_all(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        let mut prev = 0;
        for pair in &self.0 {
            pair.encode(prev, buf)?;
            prev = pair.kind;
        }
        Ok(())
    }

    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        let mut v = Vec::new();
        self.encode_all(&mut v)?;
        Ok(v.len())
    }
}

impl FromIterator<KeyValuePair> for KeyValuePairs {
    fn from_iter<T: IntoIterator<Item = KeyValuePair>>(iter: T) -> Self {
        let mut out = Self::new();
        for p in iter {
            out.push(p.kind, p.value);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_encoding_round_trips() {
        let mut kvps = KeyValuePairs::new();
        kvps.push(77, KvpValue::Bytes(Bytes::from_static(b"traceID:123456")));
        kvps.push(4, KvpValue::Varint(2_186_796_243));
        kvps.push(4, KvpValue::Varint(1));
        let mut out = Vec::new();
        kvps.encode_all(&mut out).expect("encodes");
        // first type 4 (delta 4), then 4 (delta 0), then 77 (delta 73)
        assert_eq!(out[0], 4);
        let back = KeyValuePairs::decode_all(&mut &out[..]).expect("decodes");
        assert_eq!(back, kvps);
    }

    #[test]
    fn delta_overflow_is_refused() {
        let mut wire = Vec::new();
        encode_varint(u64::MAX - 1, &mut wire); // even type, varint value
        encode_varint(0, &mut wire);
        encode_varint(2, &mut wire); // delta 2 overflows
        encode_varint(0, &mut wire);
        assert_eq!(
            KeyValuePairs::decode_all(&mut &wire[..]),
            Err(DecodeError::TypeDeltaOverflow)
        );
    }

    #[test]
    fn long_value_is_refused_before_reading_it() {
        let mut wire = Vec::new();
        encode_varint(1, &mut wire);
        encode_varint(65_536, &mut wire);
        assert_eq!(
            KeyValuePairs::decode_all(&mut &wire[..]),
            Err(DecodeError::ValueTooLong(65_536))
        );
    }
}
