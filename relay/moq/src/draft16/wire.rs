//! Wire primitives of drafts 14 and 16: RFC 9000 varints on every `(i)` field, and the Track
//! Namespace, Track Name, Reason Phrase, Location, URI, Key-Value-Pair and Token built from them.
//! Payloads are decoded from a `Bytes` bounded by the Message Length and encoded into a `Vec`.

use bytes::{Buf, BufMut, Bytes};

use crate::coding::{
    DecodeError, EncodeError, KeyValuePair, KvpValue, Location, MAX_FULL_TRACK_NAME_LEN,
    MAX_KVP_VALUE_LEN, MAX_NAMESPACE_FIELDS, MAX_REASON_PHRASE_LEN, ReasonPhrase, TrackNamespace,
    decode_quic_varint, encode_quic_varint, read_bytes, read_u8,
};
use crate::message::{AuthToken, MAX_URI_LEN};

/// Read an `(i)` field.
pub(super) fn get(buf: &mut Bytes) -> Result<u64, DecodeError> {
    decode_quic_varint(buf)
}

/// Write an `(i)` field.
pub(super) fn put(v: u64, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    encode_quic_varint(v, out)
}

/// Read an `(8)` field.
pub(super) fn get_u8(buf: &mut Bytes) -> Result<u8, DecodeError> {
    read_u8(buf)
}

/// Read an `(8)` field that is 0 or 1.
pub(super) fn get_flag(buf: &mut Bytes, field: &'static str) -> Result<u8, DecodeError> {
    match get_u8(buf)? {
        v @ (0 | 1) => Ok(v),
        v => Err(DecodeError::InvalidValue {
            field,
            value: u64::from(v),
        }),
    }
}

/// What a Track Namespace field of a message admits.
#[derive(Debug, Clone, Copy)]
pub(super) struct NsRule {
    /// Fewest Track Namespace Fields (1; 0 for draft-16's prefixes and suffixes).
    pub min_fields: usize,
    /// Whether a field may be empty (draft-14 does not forbid it; draft-16 does).
    pub empty_field: bool,
}

/// Draft-14: 1 to 32 fields ("N-tuple of bytes where N can be between 1 and 32").
pub(super) const NS14: NsRule = NsRule {
    min_fields: 1,
    empty_field: true,
};
/// Draft-14's Track Namespace Prefix (SUBSCRIBE_NAMESPACE, UNSUBSCRIBE_NAMESPACE): 0 to 32
/// fields. The text says a namespace has 1 to 32; moq-dev's clients subscribe to every
/// namespace with the empty prefix, and draft-16 allows it, so it is read and written.
pub(super) const PREFIX14: NsRule = NsRule {
    min_fields: 0,
    empty_field: true,
};
/// Draft-16's Track Namespace: 1 to 32 non-empty fields.
pub(super) const NS16: NsRule = NsRule {
    min_fields: 1,
    empty_field: false,
};
/// Draft-16's Track Namespace Prefix and Suffix: 0 to 32 non-empty fields.
pub(super) const PREFIX16: NsRule = NsRule {
    min_fields: 0,
    empty_field: false,
};

/// Read a Track Namespace, refusing a violation before buffering it.
pub(super) fn get_namespace(buf: &mut Bytes, rule: NsRule) -> Result<TrackNamespace, DecodeError> {
    let count = get(buf)?;
    if count > MAX_NAMESPACE_FIELDS as u64 {
        return Err(DecodeError::TooManyNamespaceFields(count));
    }
    if count < rule.min_fields as u64 {
        return Err(DecodeError::InvalidValue {
            field: "Number of Track Namespace Fields",
            value: count,
        });
    }
    let mut fields = Vec::with_capacity(count as usize);
    let mut total = 0u64;
    for _ in 0..count {
        let len = get(buf)?;
        if len == 0 && !rule.empty_field {
            return Err(DecodeError::EmptyNamespaceField);
        }
        total = total.saturating_add(len);
        if total > MAX_FULL_TRACK_NAME_LEN as u64 {
            return Err(DecodeError::TrackNameTooLong(total));
        }
        fields.push(read_bytes(buf, len)?);
    }
    Ok(TrackNamespace::new(fields))
}

/// Write a Track Namespace.
pub(super) fn put_namespace(
    ns: &TrackNamespace,
    rule: NsRule,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if ns.len() > MAX_NAMESPACE_FIELDS {
        return Err(EncodeError::Invalid("more than 32 namespace fields"));
    }
    if ns.len() < rule.min_fields {
        return Err(EncodeError::Invalid("a Track Namespace of no fields"));
    }
    if !rule.empty_field && ns.fields().iter().any(Bytes::is_empty) {
        return Err(EncodeError::Invalid("empty namespace field"));
    }
    if ns.byte_len() > MAX_FULL_TRACK_NAME_LEN {
        return Err(EncodeError::Invalid("namespace longer than 4096 bytes"));
    }
    put(ns.len() as u64, out)?;
    for f in ns.fields() {
        put(f.len() as u64, out)?;
        out.put_slice(f);
    }
    Ok(())
}

/// Read a Track Name whose namespace is `ns`, checking the 4096-byte Full Track Name.
pub(super) fn get_track_name(buf: &mut Bytes, ns: &TrackNamespace) -> Result<Bytes, DecodeError> {
    let len = get(buf)?;
    let total = (ns.byte_len() as u64).saturating_add(len);
    if total > MAX_FULL_TRACK_NAME_LEN as u64 {
        return Err(DecodeError::TrackNameTooLong(total));
    }
    read_bytes(buf, len)
}

/// Write a Track Name, checking the 4096-byte Full Track Name.
pub(super) fn put_track_name(
    name: &[u8],
    ns: &TrackNamespace,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if ns.byte_len() + name.len() > MAX_FULL_TRACK_NAME_LEN {
        return Err(EncodeError::Invalid(
            "full track name longer than 4096 bytes",
        ));
    }
    put(name.len() as u64, out)?;
    out.put_slice(name);
    Ok(())
}

/// Read a Reason Phrase, refusing more than 1024 bytes before buffering.
pub(super) fn get_reason(buf: &mut Bytes) -> Result<ReasonPhrase, DecodeError> {
    let len = get(buf)?;
    if len > MAX_REASON_PHRASE_LEN as u64 {
        return Err(DecodeError::ReasonPhraseTooLong(len));
    }
    Ok(ReasonPhrase::new(read_bytes(buf, len)?))
}

/// Write a Reason Phrase.
pub(super) fn put_reason(r: &ReasonPhrase, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let b = r.as_bytes();
    if b.len() > MAX_REASON_PHRASE_LEN {
        return Err(EncodeError::Invalid("reason phrase longer than 1024 bytes"));
    }
    put(b.len() as u64, out)?;
    out.put_slice(b);
    Ok(())
}

/// Read a Location.
pub(super) fn get_location(buf: &mut Bytes) -> Result<Location, DecodeError> {
    let group = get(buf)?;
    let object = get(buf)?;
    Ok(Location::new(group, object))
}

/// Write a Location.
pub(super) fn put_location(l: Location, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    put(l.group, out)?;
    put(l.object, out)
}

/// Read a URI (GOAWAY's New Session URI), refusing more than 8192 bytes.
pub(super) fn get_uri(buf: &mut Bytes) -> Result<Bytes, DecodeError> {
    let len = get(buf)?;
    if len > MAX_URI_LEN as u64 {
        return Err(DecodeError::UriTooLong(len));
    }
    read_bytes(buf, len)
}

/// Write a URI.
pub(super) fn put_uri(uri: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if uri.len() > MAX_URI_LEN {
        return Err(EncodeError::Invalid("uri longer than 8192 bytes"));
    }
    put(uri.len() as u64, out)?;
    out.put_slice(uri);
    Ok(())
}

/// How a list of Key-Value-Pairs writes its types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Types {
    /// Draft-16: each type a delta from the previous one (from 0 for the first).
    Delta,
    /// Draft-14: each type in full, in any order.
    Absolute,
}

/// Read one Key-Value-Pair (`prev`: the previous type, updated).
pub(super) fn get_kvp(
    buf: &mut Bytes,
    prev: &mut u64,
    types: Types,
) -> Result<KeyValuePair, DecodeError> {
    let t = get(buf)?;
    let kind = match types {
        Types::Absolute => t,
        Types::Delta => prev.checked_add(t).ok_or(DecodeError::TypeDeltaOverflow)?,
    };
    *prev = kind;
    let value = if kind.is_multiple_of(2) {
        KvpValue::Varint(get(buf)?)
    } else {
        let len = get(buf)?;
        if len > MAX_KVP_VALUE_LEN as u64 {
            return Err(DecodeError::ValueTooLong(len));
        }
        KvpValue::Bytes(read_bytes(buf, len)?)
    };
    Ok(KeyValuePair { kind, value })
}

/// Write one Key-Value-Pair (`prev`: the previous type, updated).
pub(super) fn put_kvp(
    kind: u64,
    value: &KvpValue,
    prev: &mut u64,
    types: Types,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let t = match types {
        Types::Absolute => kind,
        Types::Delta => kind
            .checked_sub(*prev)
            .ok_or(EncodeError::Invalid("key-value types out of order"))?,
    };
    *prev = kind;
    match (value, kind % 2) {
        (KvpValue::Varint(v), 0) => {
            put(t, out)?;
            put(*v, out)
        }
        (KvpValue::Bytes(b), 1) => {
            if b.len() > MAX_KVP_VALUE_LEN {
                return Err(EncodeError::Invalid("key-value longer than 65535 bytes"));
            }
            put(t, out)?;
            put(b.len() as u64, out)?;
            out.put_slice(b);
            Ok(())
        }
        _ => Err(EncodeError::Invalid(
            "key-value parity does not match value",
        )),
    }
}

/// Read a Token (AUTHORIZATION TOKEN, parameter or Setup Parameter `key`) written with RFC 9000
/// varints, and give it in the model's form (draft-18's encoding, as [`AuthToken::decode`]
/// reads it).
pub(super) fn get_token(value: &Bytes, key: u64) -> Result<Bytes, DecodeError> {
    let bad = || DecodeError::KeyValueFormatting {
        key,
        what: "malformed token",
    };
    let b = &mut value.clone();
    let int = |b: &mut Bytes| get(b).map_err(|_| bad());
    let token = match int(b)? {
        0x0 => AuthToken::Delete { alias: int(b)? },
        0x1 => {
            let alias = int(b)?;
            let token_type = int(b)?;
            AuthToken::Register {
                alias,
                token_type,
                token_value: std::mem::take(b),
            }
        }
        0x2 => AuthToken::UseAlias { alias: int(b)? },
        0x3 => {
            let token_type = int(b)?;
            AuthToken::UseValue {
                token_type,
                token_value: std::mem::take(b),
            }
        }
        _ => return Err(bad()),
    };
    if b.has_remaining() {
        return Err(bad());
    }
    Ok(token.to_bytes())
}

/// Write a Token held in the model's form with RFC 9000 varints.
pub(super) fn put_token(model: &Bytes) -> Result<Bytes, EncodeError> {
    let token = AuthToken::decode(model.clone())
        .map_err(|_| EncodeError::Invalid("malformed AUTHORIZATION TOKEN"))?;
    let mut out = Vec::new();
    match &token {
        AuthToken::Delete { alias } => {
            put(0, &mut out)?;
            put(*alias, &mut out)?;
        }
        AuthToken::UseAlias { alias } => {
            put(2, &mut out)?;
            put(*alias, &mut out)?;
        }
        AuthToken::Register {
            alias,
            token_type,
            token_value,
        } => {
            put(1, &mut out)?;
            put(*alias, &mut out)?;
            put(*token_type, &mut out)?;
            out.put_slice(token_value);
        }
        AuthToken::UseValue {
            token_type,
            token_value,
        } => {
            put(3, &mut out)?;
            put(*token_type, &mut out)?;
            out.put_slice(token_value);
        }
    }
    Ok(out.into())
}
