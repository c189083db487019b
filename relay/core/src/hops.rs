//! The hop list: tern's loop-prevention extension between tern relays (draft-18 has none).
//!
//! - SETUP option [`TERN_RELAY`] (0x7E71, bytes: the sender's relay id). A tern relay sends it
//!   only in its answer to a peer whose SETUP named a `tern/` MOQT_IMPLEMENTATION, so a foreign
//!   peer never receives it; a relay that receives it knows the peer is a tern relay and who.
//! - Message Parameter [`TERN_HOPS`] (0x7E73, bytes: the relay ids a namespace announcement has
//!   passed through, oldest first). Sent on PUBLISH_NAMESPACE (the path) and SUBSCRIBE_NAMESPACE
//!   (the subscriber's own id) only on sessions where the option was exchanged.
//!
//! Both code points sit in the two-byte varint space far from anything draft-18 defines and are
//! odd, so a generic key-value parser reads them as length-prefixed bytes. Pure encode/decode.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// SETUP option: the sender is a tern relay with this id.
pub const TERN_RELAY: u64 = 0x7E71;
/// Message Parameter: the hop list of an announcement.
pub const TERN_HOPS: u64 = 0x7E73;
/// Longest relay id accepted.
pub const MAX_ID_LEN: usize = 255;

/// The first "hop" of an announcement that entered the tree from a publisher outside the
/// cluster: the member relay that took it puts it there, every relay above keeps it, and each
/// ranks the route below member routes (a relay id can never be this: `relay.name` may not
/// start with `!`).
pub const OUTSIDER: &[u8] = b"!outsider";

/// Whether a hop list says its announcement entered the tree from outside the cluster.
pub fn from_outsider(hops: &[Bytes]) -> bool {
    hops.first().is_some_and(|h| h.as_ref() == OUTSIDER)
}

/// The `MOQT_IMPLEMENTATION` prefix that marks a tern peer.
pub const TERN_IMPLEMENTATION_PREFIX: &[u8] = b"tern/";

/// A hop list: relay ids, oldest first.
pub type Hops = Vec<Bytes>;

/// Encode as (varint length, bytes) per id.
pub fn encode(hops: &[Bytes]) -> Bytes {
    let mut buf = BytesMut::new();
    for id in hops {
        tern_moq::coding::encode_varint(id.len() as u64, &mut buf);
        buf.put_slice(id);
    }
    buf.freeze()
}

/// Decode, refusing more than `max` ids, an empty or overlong id, or trailing bytes.
pub fn decode(mut value: Bytes, max: usize) -> Result<Hops, &'static str> {
    let mut out = Vec::new();
    while value.has_remaining() {
        if out.len() >= max {
            return Err("hop list longer than the maximum depth");
        }
        let len = tern_moq::coding::decode_varint(&mut value).map_err(|_| "truncated hop list")?;
        let len = usize::try_from(len).map_err(|_| "hop id too long")?;
        if len == 0 || len > MAX_ID_LEN {
            return Err("hop id empty or too long");
        }
        if value.remaining() < len {
            return Err("truncated hop list");
        }
        out.push(value.split_to(len));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let hops = vec![Bytes::from_static(b"edge-a"), Bytes::from_static(b"mid")];
        assert_eq!(decode(encode(&hops), 8).unwrap(), hops);
        assert!(decode(encode(&hops), 1).is_err());
        assert!(decode(Bytes::from_static(&[5, b'a']), 8).is_err());
        assert!(decode(Bytes::from_static(&[0]), 8).is_err());
        assert_eq!(decode(Bytes::new(), 8).unwrap(), Hops::new());
    }
}
