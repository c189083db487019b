//! What the moqtap interop tests share: random values on tern's side (varints of `bits` bits:
//! 62 for drafts 14 and 16's RFC 9000 varints, 64 from draft-18 on) and moqtap's forms of them.

// Each test file uses its own share of these.
#![allow(dead_code)]

use bytes::Bytes;
use moqtap_codec::auth_token::{AuthorizationToken, TokenAliasType};
use moqtap_codec::types::TrackNamespace as TNs;
use rand::Rng;
use rand::rngs::StdRng;
use tern_moq::coding::KvpValue;
use tern_moq::message::{AuthToken, FetchType, Setup};
use tern_moq::{Location, ReasonPhrase, TrackNamespace};

/// A value of a `bits`-bit varint: every encoded length, the largest values included.
pub fn varint(rng: &mut StdRng, bits: i32) -> u64 {
    let max = u64::MAX >> (64 - bits);
    match rng.random_range(0..6) {
        0 => rng.random_range(0..64),
        1 => rng.random_range(0..20_000),
        2 => (rng.random::<u64>() & max) >> rng.random_range(0..bits),
        3 => max - rng.random_range(0..3),
        4 => 1u64 << rng.random_range(0..bits),
        _ => rng.random::<u64>() & max,
    }
}

pub fn bytes(rng: &mut StdRng, min: usize, max: usize) -> Bytes {
    let n = rng.random_range(min..=max);
    (0..n)
        .map(|_| rng.random::<u8>())
        .collect::<Vec<_>>()
        .into()
}

pub fn location(rng: &mut StdRng, bits: i32) -> Location {
    if rng.random_bool(0.1) {
        Location::new(0, 0)
    } else {
        Location::new(varint(rng, bits), varint(rng, bits))
    }
}

/// A Track Name; sometimes filling the 4096-byte Full Track Name exactly.
pub fn track_name(rng: &mut StdRng, ns: &TrackNamespace) -> Bytes {
    let room = 4096 - ns.byte_len();
    if rng.random_bool(0.05) {
        bytes(rng, room, room)
    } else {
        bytes(rng, 0, room.min(40))
    }
}

pub fn reason(rng: &mut StdRng) -> ReasonPhrase {
    let max = if rng.random_bool(0.1) { 1024 } else { 40 };
    ReasonPhrase::new(bytes(rng, 0, max))
}

pub fn token(rng: &mut StdRng, bits: i32) -> AuthToken {
    match rng.random_range(0..4) {
        0 => AuthToken::Delete {
            alias: varint(rng, bits),
        },
        1 => AuthToken::Register {
            alias: varint(rng, bits),
            token_type: varint(rng, bits),
            token_value: bytes(rng, 0, 40),
        },
        2 => AuthToken::UseAlias {
            alias: varint(rng, bits),
        },
        _ => AuthToken::UseValue {
            token_type: varint(rng, bits),
            token_value: bytes(rng, 0, 40),
        },
    }
}

/// Sometimes each of SETUP's path, authority, implementation and token cache size.
pub fn setup_fields(rng: &mut StdRng, bits: i32, s: &mut Setup) {
    if rng.random() {
        s.set_path(bytes(rng, 0, 100));
    }
    if rng.random() {
        s.set_authority(bytes(rng, 0, 100));
    }
    if rng.random() {
        s.set_moqt_implementation(bytes(rng, 0, 30));
    }
    if rng.random() {
        s.set_max_auth_token_cache_size(varint(rng, bits));
    }
}

/// Up to two unknown (GREASE) SETUP options, each type once: moqtap's encoder refuses any
/// repeat but AUTHORIZATION TOKEN's ("Senders MUST NOT repeat the same Option Type").
pub fn unknown_setup_options(rng: &mut StdRng, bits: i32, s: &mut Setup) {
    for _ in 0..rng.random_range(0..3) {
        let k = 0x9D + 0x7f * rng.random_range(0..1000u64);
        let value = if k.is_multiple_of(2) {
            KvpValue::Varint(varint(rng, bits))
        } else {
            KvpValue::Bytes(bytes(rng, 0, 20))
        };
        s.options.set(k, value);
    }
}

/// A joining FETCH: relative for Fetch Type 2, absolute otherwise.
pub fn joining(rng: &mut StdRng, bits: i32, fetch_type: u64) -> FetchType {
    let (joining_request_id, joining_start) = (varint(rng, bits), varint(rng, bits));
    if fetch_type == 2 {
        FetchType::RelativeJoining {
            joining_request_id,
            joining_start,
        }
    } else {
        FetchType::AbsoluteJoining {
            joining_request_id,
            joining_start,
        }
    }
}

pub fn their_ns(ns: &TrackNamespace) -> TNs {
    TNs(ns.fields().iter().map(|f| f.to_vec()).collect())
}

/// The Token as moqtap holds it, from tern's encoding `raw` of a generated token.
pub fn their_token_fields(raw: &Bytes) -> AuthorizationToken {
    let t = AuthToken::decode(raw.clone()).expect("generated token");
    let (alias_type, alias, token_type, value) = match t {
        AuthToken::Delete { alias } => (TokenAliasType::Delete, Some(alias), None, Bytes::new()),
        AuthToken::Register {
            alias,
            token_type,
            token_value,
        } => (
            TokenAliasType::Register,
            Some(alias),
            Some(token_type),
            token_value,
        ),
        AuthToken::UseAlias { alias } => {
            (TokenAliasType::UseAlias, Some(alias), None, Bytes::new())
        }
        AuthToken::UseValue {
            token_type,
            token_value,
        } => (
            TokenAliasType::UseValue,
            None,
            Some(token_type),
            token_value,
        ),
    };
    AuthorizationToken {
        alias_type,
        alias,
        token_type,
        value: value.to_vec(),
    }
}
