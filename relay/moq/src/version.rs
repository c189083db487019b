//! The MoQ Transport drafts this crate speaks, and what differs between them on the wire.
//!
//! Every message and stream type is draft-18's in memory; a [`Version`] picks the wire shape
//! at the codec's edge.
//!
//! Drafts 14 and 16 are another session shape ([`crate::draft16`]): one bidirectional control
//! stream carrying every request and answer by Request ID, CLIENT_SETUP / SERVER_SETUP,
//! request flow control (MAX_REQUEST_ID, REQUESTS_BLOCKED), cancel messages (UNSUBSCRIBE,
//! FETCH_CANCEL, …) and RFC 9000 varints. Draft-14 is offered under ALPN `moq-00` and picks
//! its version in SETUP.
//!
//! Draft-20 and draft-22 differ from draft-18 only in:
//! - FETCH (0x16): no Fetch Type; Track Namespace and Track Name inline, the range in the
//!   LOCATION_FILTER parameter, inclusive at both ends; joining FETCH removed;
//! - FETCH_OK's End Location is the last Object covered (draft-18: last plus one);
//! - LOCATION_FILTER (0x21, draft-18's SUBSCRIPTION_FILTER): a count of up to four fields
//!   (draft-20), or a Location Filter Type naming them, with no length (draft-22);
//! - GOAWAY has no Request ID (since draft-19);
//! - PUBLISH_STATE_NOTIFY (0x22), INCLUDE_PROPERTIES (0x35) and FILL_PARAMETERS (0x23) are new;
//!   so are the Range Filter parameters (0x25 to 0x29, length-prefixed), read but not implemented;
//! - a fetch stream may carry End of Timed-Out Range (0x20C).

/// A MoQ Transport draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Version {
    /// draft-ietf-moq-transport-14, ALPN `moq-00` with the version chosen in SETUP.
    Draft14,
    /// draft-ietf-moq-transport-16, `moqt-16`.
    Draft16,
    /// draft-ietf-moq-transport-18, ALPN / WebTransport protocol `moqt-18`.
    Draft18,
    /// draft-ietf-moq-transport-20, `moqt-20`.
    Draft20,
    /// draft-ietf-moq-transport-22, `moqt-22`.
    Draft22,
}

impl Version {
    /// Every draft spoken, newest first (the order a relay prefers them in).
    pub const ALL: [Version; 5] = [
        Version::Draft22,
        Version::Draft20,
        Version::Draft18,
        Version::Draft16,
        Version::Draft14,
    ];

    /// Draft-14's version number in CLIENT_SETUP / SERVER_SETUP (0xff000000 + draft).
    pub const DRAFT14_SETUP_VERSION: u64 = 0xff00_000e;

    /// The ALPN (raw QUIC) and `WT-Protocol` (WebTransport) token.
    pub fn alpn(self) -> &'static str {
        match self {
            Version::Draft14 => "moq-00",
            Version::Draft16 => "moqt-16",
            Version::Draft18 => "moqt-18",
            Version::Draft20 => "moqt-20",
            Version::Draft22 => "moqt-22",
        }
    }

    /// The version a negotiated protocol token names.
    pub fn from_alpn(alpn: &str) -> Option<Self> {
        Version::ALL.into_iter().find(|v| v.alpn() == alpn)
    }

    /// The draft's number (18, 20, 22).
    pub fn number(self) -> u32 {
        match self {
            Version::Draft14 => 14,
            Version::Draft16 => 16,
            Version::Draft18 => 18,
            Version::Draft20 => 20,
            Version::Draft22 => 22,
        }
    }

    /// The version a draft number names.
    pub fn from_number(n: u32) -> Option<Self> {
        Version::ALL.into_iter().find(|v| v.number() == n)
    }

    /// True from draft-17 on: each request runs on a bidirectional stream of its own, each
    /// peer opens a unidirectional control stream with SETUP, and varints count leading ones.
    /// Before: one client-opened bidirectional control stream ([`crate::draft16`]).
    pub fn has_request_streams(self) -> bool {
        self >= Version::Draft18
    }

    /// True from draft-20 on: FETCH carries its range in LOCATION_FILTER, the filter is a
    /// field list, and PUBLISH_STATE_NOTIFY, INCLUDE_PROPERTIES and FILL_PARAMETERS exist.
    pub fn has_location_fields(self) -> bool {
        self >= Version::Draft20
    }

    /// True from draft-19 on: GOAWAY carries no Request ID.
    pub fn goaway_without_request_id(self) -> bool {
        self >= Version::Draft20
    }

    /// True from draft-22 on: LOCATION_FILTER leads with its Location Filter Type and has
    /// no length.
    pub fn typed_location_filter(self) -> bool {
        self >= Version::Draft22
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "draft-{}", self.number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for v in Version::ALL {
            assert_eq!(Version::from_alpn(v.alpn()), Some(v));
            assert_eq!(Version::from_number(v.number()), Some(v));
        }
        assert_eq!(Version::from_alpn("moqt-19"), None);
        assert_eq!(Version::Draft14.alpn(), "moq-00");
    }
}
