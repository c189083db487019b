//! Draft-16's Message Parameters, the Subscription Filter of both drafts, the Setup Parameters of
//! both drafts and draft-16's Track Extensions, mapped onto the model's [`Parameters`],
//! [`SubscriptionFilter`], [`Setup`] options and [`Properties`].
//!
//! Draft-16 Message Parameters are Key-Value-Pairs with delta-encoded types: an even type holds a
//! varint, an odd one length-prefixed bytes. The nine types draft-16 defines keep their numbers
//! in the model (DELIVERY_TIMEOUT is OBJECT_DELIVERY_TIMEOUT); FORWARD, SUBSCRIBER_PRIORITY and
//! GROUP_ORDER are the model's uint8, LARGEST_OBJECT a Location and SUBSCRIPTION_FILTER a filter
//! (its End Group in full on the wire, a delta in the model). Draft-16 closes the session on an
//! unknown Message Parameter: it is refused when read, and a model parameter draft-16 does not
//! define (RENDEZVOUS_TIMEOUT, FILL_TIMEOUT, unknown types, ...) is left out when written; one
//! it defines with a value it does not allow (a GROUP_ORDER of 3, a DELIVERY_TIMEOUT of 0) is
//! refused.

use bytes::{Buf, Bytes};

use super::wire::{
    Types, get, get_kvp, get_location, get_token, put, put_kvp, put_location, put_token,
};
use crate::Version;
use crate::coding::{DecodeError, EncodeError, KeyValuePairs, KvpValue};
use crate::data::Properties;
use crate::data::draft16::extensions;
use crate::message::{
    Parameter, ParameterValue, Parameters, Setup, SubscriptionFilter, parameter_type as pt,
};

/// Setup Parameter types of drafts 14 and 16 (the same numbers as draft-18's Setup Options;
/// MAX_REQUEST_ID is theirs alone). Draft-14 gives MOQT_IMPLEMENTATION the number of AUTHORITY,
/// 0x05 (draft-15 moved it to 0x07): 0x05 is AUTHORITY here.
pub mod setup_parameter {
    /// PATH (bytes).
    pub const PATH: u64 = 0x01;
    /// MAX_REQUEST_ID (varint): the initial Maximum Request ID granted to the peer.
    pub const MAX_REQUEST_ID: u64 = 0x02;
    /// AUTHORIZATION TOKEN (bytes: a Token).
    pub const AUTHORIZATION_TOKEN: u64 = 0x03;
    /// MAX_AUTH_TOKEN_CACHE_SIZE (varint).
    pub const MAX_AUTH_TOKEN_CACHE_SIZE: u64 = 0x04;
    /// AUTHORITY (bytes).
    pub const AUTHORITY: u64 = 0x05;
    /// MOQT_IMPLEMENTATION (bytes; draft-16 on).
    pub const MOQT_IMPLEMENTATION: u64 = 0x07;
}
use setup_parameter as sp;

fn invalid(field: &'static str, value: u64) -> DecodeError {
    DecodeError::InvalidValue { field, value }
}

const MISMATCH: EncodeError = EncodeError::Invalid("parameter value does not match its type");

/// Read a Subscription Filter (Filter Type, then the fields it names); draft-14 carries it in
/// SUBSCRIBE, TRACK_STATUS and PUBLISH_OK, draft-16 in SUBSCRIPTION_FILTER. End Group is the
/// last group, at or after the Start Location's.
pub(super) fn get_filter(buf: &mut Bytes) -> Result<SubscriptionFilter, DecodeError> {
    Ok(match get(buf)? {
        0x1 => SubscriptionFilter::NextGroupStart,
        0x2 => SubscriptionFilter::LargestObject,
        0x3 => SubscriptionFilter::AbsoluteStart(get_location(buf)?),
        0x4 => {
            let start = get_location(buf)?;
            let end_group = get(buf)?;
            let end_group_delta = end_group
                .checked_sub(start.group)
                .ok_or(invalid("End Group (before the Start Location)", end_group))?;
            SubscriptionFilter::AbsoluteRange {
                start,
                end_group_delta,
            }
        }
        value => return Err(invalid("Filter Type", value)),
    })
}

/// Write a Subscription Filter.
pub(super) fn put_filter(f: &SubscriptionFilter, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match *f {
        SubscriptionFilter::NextGroupStart => put(0x1, out),
        SubscriptionFilter::LargestObject => put(0x2, out),
        SubscriptionFilter::AbsoluteStart(start) => {
            put(0x3, out)?;
            put_location(start, out)
        }
        SubscriptionFilter::AbsoluteRange {
            start,
            end_group_delta,
        } => {
            let end = start
                .group
                .checked_add(end_group_delta)
                .ok_or(EncodeError::Invalid("End Group beyond 2^64 - 1"))?;
            put(0x4, out)?;
            put_location(start, out)?;
            put(end, out)
        }
        SubscriptionFilter::RelativeStart { .. }
        | SubscriptionFilter::AbsoluteRangeToObject { .. } => Err(EncodeError::Invalid(
            "drafts 14 and 16 have no subscription filter for a relative start or an end object",
        )),
    }
}

/// The model's value of one draft-16 Message Parameter.
fn value16(kind: u64, value: KvpValue) -> Result<ParameterValue, DecodeError> {
    let uint8 = |field, v: u64, ok: bool| {
        if ok {
            Ok(ParameterValue::Uint8(v as u8))
        } else {
            Err(invalid(field, v))
        }
    };
    Ok(match (kind, value) {
        (pt::OBJECT_DELIVERY_TIMEOUT, KvpValue::Varint(0)) => {
            return Err(invalid("DELIVERY_TIMEOUT", 0));
        }
        (
            pt::OBJECT_DELIVERY_TIMEOUT | pt::EXPIRES | pt::NEW_GROUP_REQUEST,
            KvpValue::Varint(v),
        ) => ParameterValue::Varint(v),
        (pt::FORWARD, KvpValue::Varint(v)) => uint8("FORWARD", v, v <= 1)?,
        (pt::SUBSCRIBER_PRIORITY, KvpValue::Varint(v)) => {
            uint8("SUBSCRIBER_PRIORITY", v, v <= 255)?
        }
        (pt::GROUP_ORDER, KvpValue::Varint(v)) => uint8("GROUP_ORDER", v, v == 1 || v == 2)?,
        (pt::AUTHORIZATION_TOKEN, KvpValue::Bytes(b)) => {
            ParameterValue::Bytes(get_token(&b, kind)?)
        }
        (pt::LARGEST_OBJECT, KvpValue::Bytes(mut b)) => {
            let bad = DecodeError::KeyValueFormatting {
                key: kind,
                what: "LARGEST_OBJECT is not a Location",
            };
            let l = get_location(&mut b).map_err(|_| bad.clone())?;
            if b.has_remaining() {
                return Err(bad);
            }
            ParameterValue::Location(l)
        }
        (pt::SUBSCRIPTION_FILTER, KvpValue::Bytes(mut b)) => {
            let len = b.len() as u64;
            let length = || invalid("SUBSCRIPTION_FILTER length", len);
            let f = get_filter(&mut b).map_err(|e| match e {
                DecodeError::Short => length(),
                e => e,
            })?;
            if b.has_remaining() {
                return Err(length());
            }
            ParameterValue::Filter(f)
        }
        (kind, _) => return Err(invalid("Message Parameter Type (not in draft-16)", kind)),
    })
}

/// Read draft-16's `Number of Parameters` and Message Parameters.
pub(super) fn get_params16(buf: &mut Bytes) -> Result<Parameters, DecodeError> {
    let count = get(buf)?;
    let mut out = Parameters::new();
    let mut prev = 0;
    for i in 0..count {
        let before = prev;
        let kvp = get_kvp(buf, &mut prev, Types::Delta)?;
        if i > 0 && kvp.kind == before && kvp.kind != pt::AUTHORIZATION_TOKEN {
            return Err(invalid("repeated Message Parameter Type", kvp.kind));
        }
        out.push(kvp.kind, value16(kvp.kind, kvp.value)?);
    }
    Ok(out)
}

/// The draft-16 Key-Value-Pair value of one model parameter; `None` for a type draft-16 does
/// not define (left out).
fn kvp16(p: &Parameter) -> Result<Option<KvpValue>, EncodeError> {
    let v = &p.value;
    Ok(Some(match (p.kind, v) {
        (pt::OBJECT_DELIVERY_TIMEOUT, ParameterValue::Varint(0)) => {
            return Err(EncodeError::Invalid("draft-16 DELIVERY_TIMEOUT of 0"));
        }
        (
            pt::OBJECT_DELIVERY_TIMEOUT | pt::EXPIRES | pt::NEW_GROUP_REQUEST,
            ParameterValue::Varint(x),
        ) => KvpValue::Varint(*x),
        (pt::FORWARD, ParameterValue::Uint8(x @ (0 | 1)))
        | (pt::GROUP_ORDER, ParameterValue::Uint8(x @ (1 | 2)))
        | (pt::SUBSCRIBER_PRIORITY, ParameterValue::Uint8(x)) => KvpValue::Varint(u64::from(*x)),
        (pt::FORWARD, ParameterValue::Uint8(_)) => {
            return Err(EncodeError::Invalid("FORWARD other than 0 or 1"));
        }
        (pt::GROUP_ORDER, ParameterValue::Uint8(_)) => {
            return Err(EncodeError::Invalid("GROUP_ORDER other than 1 or 2"));
        }
        (pt::AUTHORIZATION_TOKEN, ParameterValue::Bytes(b)) => KvpValue::Bytes(put_token(b)?),
        (pt::LARGEST_OBJECT, ParameterValue::Location(l)) => {
            let mut b = Vec::new();
            put_location(*l, &mut b)?;
            KvpValue::Bytes(b.into())
        }
        (pt::SUBSCRIPTION_FILTER, ParameterValue::Filter(f)) => {
            let mut b = Vec::new();
            put_filter(f, &mut b)?;
            KvpValue::Bytes(b.into())
        }
        (
            pt::OBJECT_DELIVERY_TIMEOUT
            | pt::EXPIRES
            | pt::NEW_GROUP_REQUEST
            | pt::FORWARD
            | pt::GROUP_ORDER
            | pt::SUBSCRIBER_PRIORITY
            | pt::AUTHORIZATION_TOKEN
            | pt::LARGEST_OBJECT
            | pt::SUBSCRIPTION_FILTER,
            _,
        ) => return Err(MISMATCH),
        _ => return Ok(None),
    }))
}

/// Write draft-16's `Number of Parameters` and Message Parameters, leaving out the model
/// parameters draft-16 does not define.
pub(super) fn put_params16(p: &Parameters, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let mut kvps = Vec::with_capacity(p.len());
    for param in p.iter() {
        if let Some(v) = kvp16(param)? {
            kvps.push((param.kind, v));
        }
    }
    put(kvps.len() as u64, out)?;
    let mut prev = 0;
    for (i, (kind, v)) in kvps.iter().enumerate() {
        if i > 0 && *kind == prev && *kind != pt::AUTHORIZATION_TOKEN {
            return Err(EncodeError::Invalid("a Message Parameter repeated"));
        }
        put_kvp(*kind, v, &mut prev, Types::Delta, out)?;
    }
    Ok(())
}

/// Setup Parameters that may not repeat: the ones the draft defines but AUTHORIZATION TOKEN
/// (and, on draft-14, 0x05, which it gives to AUTHORITY and MOQT_IMPLEMENTATION both).
fn single_setup_parameter(kind: u64, types: Types) -> bool {
    match kind {
        sp::PATH | sp::MAX_REQUEST_ID | sp::MAX_AUTH_TOKEN_CACHE_SIZE => true,
        sp::AUTHORITY | sp::MOQT_IMPLEMENTATION => types == Types::Delta,
        _ => false,
    }
}

/// Read `Number of Parameters` and the Setup Parameters (draft-16: `Types::Delta`, draft-14:
/// `Types::Absolute`) as SETUP options; unknown ones are kept, repeats of them allowed.
pub(super) fn get_setup(buf: &mut Bytes, types: Types) -> Result<Setup, DecodeError> {
    let count = get(buf)?;
    let mut options = KeyValuePairs::new();
    let mut prev = 0;
    for _ in 0..count {
        let mut kvp = get_kvp(buf, &mut prev, types)?;
        if single_setup_parameter(kvp.kind, types) && options.get(kvp.kind).is_some() {
            return Err(invalid("repeated Setup Parameter Type", kvp.kind));
        }
        if let (sp::AUTHORIZATION_TOKEN, KvpValue::Bytes(b)) = (kvp.kind, &kvp.value) {
            kvp.value = KvpValue::Bytes(get_token(b, kvp.kind)?);
        }
        options.push(kvp.kind, kvp.value);
    }
    Ok(Setup { options })
}

/// Write `Number of Parameters` and the Setup Parameters.
pub(super) fn put_setup(s: &Setup, types: Types, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    put(s.options.len() as u64, out)?;
    let mut prev = 0;
    for (i, kvp) in s.options.iter().enumerate() {
        if i > 0 && kvp.kind == prev && single_setup_parameter(kvp.kind, types) {
            return Err(EncodeError::Invalid("a Setup Parameter repeated"));
        }
        let value = match (kvp.kind, &kvp.value) {
            (sp::AUTHORIZATION_TOKEN, KvpValue::Bytes(b)) => KvpValue::Bytes(put_token(b)?),
            (_, v) => v.clone(),
        };
        put_kvp(kvp.kind, &value, &mut prev, types, out)?;
    }
    Ok(())
}

/// Track Extensions draft-16 restricts: DELIVERY_TIMEOUT above 0,
/// DEFAULT_PUBLISHER_GROUP_ORDER 1 or 2, DYNAMIC_GROUPS 0 or 1; in the run and inside its
/// Immutable Extensions (0x0B).
fn check_extensions(pairs: &KeyValuePairs, nested: bool) -> Result<(), (&'static str, u64)> {
    for p in pairs.iter() {
        match (p.kind, &p.value) {
            (0x02, KvpValue::Varint(0)) => return Err(("DELIVERY_TIMEOUT", 0)),
            (0x22, KvpValue::Varint(v)) if !(1..=2).contains(v) => {
                return Err(("DEFAULT_PUBLISHER_GROUP_ORDER", *v));
            }
            (0x30, KvpValue::Varint(v)) if *v > 1 => return Err(("DYNAMIC_GROUPS", *v)),
            (0x0B, KvpValue::Bytes(b)) if !nested => {
                if let Ok(inner) = KeyValuePairs::decode_all(&mut b.clone()) {
                    check_extensions(&inner, true)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Read draft-16's Track Extensions (the rest of the message) as Track Properties: the types
/// keep their numbers, and Immutable Extensions (0x0B) are re-encoded as the data plane does
/// ([`crate::data::draft16::extensions`]).
pub(super) fn get_extensions(buf: &mut Bytes) -> Result<Properties, DecodeError> {
    let block = buf.copy_to_bytes(buf.remaining());
    let p = extensions::from_block(block, Version::Draft16)?;
    check_extensions(p.pairs(), false).map_err(|(field, value)| invalid(field, value))?;
    Ok(p)
}

/// Write Track Properties as draft-16's Track Extensions.
pub(super) fn put_extensions(p: &Properties, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    check_extensions(p.pairs(), false)
        .map_err(|_| EncodeError::Invalid("a Track Property outside the range draft-16 allows"))?;
    out.extend_from_slice(&extensions::to_block(p, Version::Draft16)?);
    Ok(())
}
