//! Object Extension Headers (draft-14 and draft-16 Section 10.2.1.2): `Extension Headers
//! Length (i)` then Key-Value-Pairs with RFC 9000 varints, draft-16's with delta types,
//! draft-14's with absolute types. In memory they are the model's [`Properties`] (draft-18's
//! bytes); Immutable Extensions (0x0B) hold Key-Value-Pairs of the same draft, which are
//! re-encoded too.

use bytes::{Buf, BufMut, Bytes};

use super::is_draft14;
use crate::Version;
use crate::coding::{
    DecodeError, EncodeError, KeyValuePairs, KvpValue, MAX_KVP_VALUE_LEN, decode_quic_varint,
    encode_quic_varint, read_bytes,
};
use crate::data::Properties;
use crate::data::property_type::IMMUTABLE_PROPERTIES;

/// Read `Extension Headers Length` and the Extension Headers of `v`, refusing more than `max`
/// bytes.
pub fn decode_extensions(
    buf: &mut impl Buf,
    v: Version,
    max: usize,
) -> Result<Properties, DecodeError> {
    let len = decode_quic_varint(buf)?;
    if len > max as u64 {
        return Err(DecodeError::PropertiesTooLong { len, max });
    }
    from_block(read_bytes(buf, len)?, v)
}

/// Parse an Extension Headers block of `v` (without its length) into the model.
pub fn from_block(block: Bytes, v: Version) -> Result<Properties, DecodeError> {
    let mut pairs = parse(block, v)?;
    let immutable: Vec<Bytes> = pairs
        .get_all(IMMUTABLE_PROPERTIES)
        .filter_map(|value| match value {
            KvpValue::Bytes(b) => Some(b.clone()),
            KvpValue::Varint(_) => None,
        })
        .collect();
    if !immutable.is_empty() {
        let mut out = KeyValuePairs::new();
        for p in pairs.iter().filter(|p| p.kind != IMMUTABLE_PROPERTIES) {
            out.push(p.kind, p.value.clone());
        }
        for block in immutable {
            let inner = parse(block, v)?;
            if inner.get(IMMUTABLE_PROPERTIES).is_some() {
                return Err(formatting(
                    "Immutable Extensions inside Immutable Extensions",
                ));
            }
            let mut raw = Vec::new();
            inner
                .encode_all(&mut raw)
                .map_err(|_| formatting("Immutable Extensions the model cannot hold"))?;
            out.push(IMMUTABLE_PROPERTIES, KvpValue::Bytes(raw.into()));
        }
        pairs = out;
    }
    Properties::from_pairs(pairs).map_err(|_| formatting("extension headers the model cannot hold"))
}

/// Write `Extension Headers Length` and `properties` as Extension Headers of `v`.
pub fn encode_extensions(
    properties: &Properties,
    v: Version,
    buf: &mut impl BufMut,
) -> Result<(), EncodeError> {
    let block = to_block(properties, v)?;
    encode_quic_varint(block.len() as u64, buf)?;
    buf.put_slice(&block);
    Ok(())
}

/// `properties` as an Extension Headers block of `v` (without its length).
pub fn to_block(properties: &Properties, v: Version) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(properties.raw().len() + 8);
    write(properties.pairs(), v, false, &mut out)?;
    Ok(out)
}

fn formatting(what: &'static str) -> DecodeError {
    DecodeError::KeyValueFormatting {
        key: IMMUTABLE_PROPERTIES,
        what,
    }
}

/// Key-Value-Pairs of `v` filling `block`, in ascending type order.
fn parse(mut block: Bytes, v: Version) -> Result<KeyValuePairs, DecodeError> {
    let truncated = |key| {
        move |e| match e {
            DecodeError::Short => DecodeError::KeyValueFormatting {
                key,
                what: "truncated extension header",
            },
            other => other,
        }
    };
    let mut pairs = KeyValuePairs::new();
    let mut prev = 0u64;
    while block.has_remaining() {
        let raw = decode_quic_varint(&mut block).map_err(truncated(prev))?;
        let kind = if is_draft14(v) {
            raw
        } else {
            prev.checked_add(raw)
                .ok_or(DecodeError::TypeDeltaOverflow)?
        };
        prev = kind;
        let value = if kind.is_multiple_of(2) {
            KvpValue::Varint(decode_quic_varint(&mut block).map_err(truncated(kind))?)
        } else {
            let len = decode_quic_varint(&mut block).map_err(truncated(kind))?;
            if len > MAX_KVP_VALUE_LEN as u64 {
                return Err(DecodeError::ValueTooLong(len));
            }
            KvpValue::Bytes(read_bytes(&mut block, len).map_err(truncated(kind))?)
        };
        pairs.push(kind, value);
    }
    Ok(pairs)
}

/// Write `pairs` (ascending) in `v`'s form; the top level's Immutable Properties are
/// re-encoded as `v`'s Key-Value-Pairs.
fn write(
    pairs: &KeyValuePairs,
    v: Version,
    nested: bool,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let mut prev = 0u64;
    for pair in pairs.iter() {
        let kind = if is_draft14(v) {
            pair.kind
        } else {
            pair.kind
                .checked_sub(prev)
                .ok_or(EncodeError::Invalid("key-value types out of order"))?
        };
        prev = pair.kind;
        match (&pair.value, pair.kind % 2) {
            (KvpValue::Varint(value), 0) => {
                encode_quic_varint(kind, out)?;
                encode_quic_varint(*value, out)?;
            }
            (KvpValue::Bytes(b), 1) => {
                let reencoded;
                let value: &[u8] = if pair.kind == IMMUTABLE_PROPERTIES {
                    let inner = KeyValuePairs::decode_all(&mut b.clone())
                        .ok()
                        .filter(|p| !nested && p.get(IMMUTABLE_PROPERTIES).is_none())
                        .ok_or(EncodeError::Invalid(
                            "Immutable Properties that are not Key-Value-Pairs",
                        ))?;
                    let mut o = Vec::with_capacity(b.len());
                    write(&inner, v, true, &mut o)?;
                    reencoded = o;
                    &reencoded
                } else {
                    b
                };
                if value.len() > MAX_KVP_VALUE_LEN {
                    return Err(EncodeError::Invalid(
                        "extension header longer than 65535 bytes",
                    ));
                }
                encode_quic_varint(kind, out)?;
                encode_quic_varint(value.len() as u64, out)?;
                out.extend_from_slice(value);
            }
            _ => {
                return Err(EncodeError::Invalid(
                    "key-value parity does not match value",
                ));
            }
        }
    }
    Ok(())
}
