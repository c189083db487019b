//! Drafts 14 and 16 data plane: round trips, truncation, refusals.

mod datagram;
mod fetch;
mod subgroup;

use bytes::Bytes;

use super::*;
use crate::coding::{EncodeError, KeyValuePairs, KvpValue, encode_quic_varint, encode_varint};
use crate::data::{
    Datagram, DatagramPayload, FetchHeader, FetchObject, FetchObjectHeader, FetchObjectState,
    ObjectDatagram, ObjectStatus, Properties, SubgroupHeader, SubgroupId, SubgroupObject,
    decode_datagram_as, encode_datagram_header_as, encode_subgroup_header_as,
    encode_subgroup_object_header_as,
};
use crate::{Limits, Location, Version};

const BOTH: [Version; 2] = [Version::Draft14, Version::Draft16];

fn q(values: &[u64]) -> Vec<u8> {
    let mut v = Vec::new();
    for x in values {
        encode_quic_varint(*x, &mut v).expect("fits");
    }
    v
}

fn props(pairs: &[(u64, KvpValue)]) -> Properties {
    let mut k = KeyValuePairs::new();
    for (kind, value) in pairs {
        k.push(*kind, value.clone());
    }
    Properties::from_pairs(k).expect("valid")
}

fn trace() -> Properties {
    props(&[
        (4, KvpValue::Varint(2_186_796_243)),
        (77, KvpValue::Bytes(Bytes::from_static(b"traceID:123456"))),
    ])
}
