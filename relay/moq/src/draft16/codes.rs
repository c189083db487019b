//! Error and status codes of drafts 14 and 16 in the model's (draft-18's) numbering.
//!
//! Each table pairs a code of the draft with the model's code of the same meaning. The mapping
//! is a permutation of `u64`, so every code survives a round trip: a code of one side that has
//! no counterpart on the other is exchanged, in ascending order, with a code the table frees
//! (one the other side leaves unassigned for that message), and every other code is unchanged.

/// `(wire, model)` pairs of one message's codes.
pub(super) struct CodeMap(&'static [(u64, u64)]);

impl CodeMap {
    /// The draft's codes in the pairs.
    fn wire(&self) -> Vec<u64> {
        self.0.iter().map(|p| p.0).collect()
    }

    /// The model's codes in the pairs.
    fn model(&self) -> Vec<u64> {
        self.0.iter().map(|p| p.1).collect()
    }

    /// Sorted members of `a` not in `b`.
    fn only(a: Vec<u64>, b: Vec<u64>) -> Vec<u64> {
        let mut v: Vec<u64> = a.into_iter().filter(|x| !b.contains(x)).collect();
        v.sort_unstable();
        v
    }

    /// The model's code for the draft's `code`.
    pub(super) fn to_model(&self, code: u64) -> u64 {
        if let Some(&(_, m)) = self.0.iter().find(|p| p.0 == code) {
            return m;
        }
        // A model code the pairs map to, arriving as a draft code: exchanged for a freed one.
        let taken = Self::only(self.model(), self.wire());
        match taken.iter().position(|&x| x == code) {
            Some(i) => Self::only(self.wire(), self.model())[i],
            None => code,
        }
    }

    /// The draft's code for the model's `code`.
    pub(super) fn to_wire(&self, code: u64) -> u64 {
        if let Some(&(w, _)) = self.0.iter().find(|p| p.1 == code) {
            return w;
        }
        let freed = Self::only(self.wire(), self.model());
        match freed.iter().position(|&x| x == code) {
            Some(i) => Self::only(self.model(), self.wire())[i],
            None => code,
        }
    }
}

/// Draft-14 SUBSCRIBE_ERROR and TRACK_STATUS_ERROR: TRACK_DOES_NOT_EXIST, INVALID_RANGE,
/// MALFORMED_AUTH_TOKEN, EXPIRED_AUTH_TOKEN.
pub(super) const SUBSCRIBE_ERROR: CodeMap =
    CodeMap(&[(0x4, 0x10), (0x5, 0x11), (0x10, 0x4), (0x12, 0x5)]);

/// Draft-14 PUBLISH_ERROR: UNINTERESTED.
pub(super) const PUBLISH_ERROR: CodeMap = CodeMap(&[(0x4, 0x20)]);

/// Draft-14 FETCH_ERROR: TRACK_DOES_NOT_EXIST, INVALID_RANGE, NO_OBJECTS (no model code: the
/// unassigned 0x7, keeping it off GOING_AWAY), INVALID_JOINING_REQUEST_ID, MALFORMED_TRACK,
/// MALFORMED_AUTH_TOKEN, EXPIRED_AUTH_TOKEN. UNKNOWN_STATUS_IN_RANGE (0x8) has no model code
/// and keeps its number, which the model leaves unassigned.
pub(super) const FETCH_ERROR: CodeMap = CodeMap(&[
    (0x4, 0x10),
    (0x5, 0x11),
    (0x6, 0x7),
    (0x7, 0x32),
    (0x9, 0x12),
    (0x10, 0x4),
    (0x12, 0x5),
]);

/// Draft-14 PUBLISH_NAMESPACE_ERROR and PUBLISH_NAMESPACE_CANCEL: UNINTERESTED,
/// MALFORMED_AUTH_TOKEN, EXPIRED_AUTH_TOKEN.
pub(super) const PUBLISH_NAMESPACE_ERROR: CodeMap =
    CodeMap(&[(0x4, 0x20), (0x10, 0x4), (0x12, 0x5)]);

/// Draft-14 SUBSCRIBE_NAMESPACE_ERROR: NAMESPACE_PREFIX_UNKNOWN (DOES_NOT_EXIST),
/// NAMESPACE_PREFIX_OVERLAP (PREFIX_OVERLAP), MALFORMED_AUTH_TOKEN, EXPIRED_AUTH_TOKEN.
pub(super) const SUBSCRIBE_NAMESPACE_ERROR: CodeMap =
    CodeMap(&[(0x4, 0x10), (0x5, 0x30), (0x10, 0x4), (0x12, 0x5)]);

/// Draft-16 REQUEST_ERROR and PUBLISH_NAMESPACE_CANCEL: the model's numbers.
pub(super) const REQUEST_ERROR: CodeMap = CodeMap(&[]);

/// Draft-14 PUBLISH_DONE: EXPIRED, TOO_FAR_BEHIND, MALFORMED_TRACK.
pub(super) const PUBLISH_DONE_14: CodeMap = CodeMap(&[(0x5, 0x6), (0x6, 0x5), (0x7, 0x12)]);

/// Draft-16 PUBLISH_DONE: EXPIRED (0x5) and TOO_FAR_BEHIND (0x6) swap places in draft-18.
pub(super) const PUBLISH_DONE_16: CodeMap = CodeMap(&[(0x5, 0x6), (0x6, 0x5)]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_a_permutation() {
        for map in [
            &SUBSCRIBE_ERROR,
            &PUBLISH_ERROR,
            &FETCH_ERROR,
            &PUBLISH_NAMESPACE_ERROR,
            &SUBSCRIBE_NAMESPACE_ERROR,
            &REQUEST_ERROR,
            &PUBLISH_DONE_14,
            &PUBLISH_DONE_16,
        ] {
            let mut seen = std::collections::HashSet::new();
            for code in (0..0x80).chain([u64::MAX, (1 << 62) - 1]) {
                let m = map.to_model(code);
                assert!(seen.insert(m), "{code:#x} maps onto a taken {m:#x}");
                assert_eq!(map.to_wire(m), code);
                assert_eq!(map.to_model(map.to_wire(code)), code);
            }
        }
    }

    #[test]
    fn named_codes_keep_their_meaning() {
        assert_eq!(SUBSCRIBE_ERROR.to_model(0x4), 0x10);
        assert_eq!(SUBSCRIBE_ERROR.to_wire(0x11), 0x5);
        assert_eq!(FETCH_ERROR.to_model(0x7), 0x32);
        // GOING_AWAY has no draft-14 FETCH_ERROR code: it does not become NO_OBJECTS.
        assert_ne!(FETCH_ERROR.to_wire(0x6), 0x6);
        assert_eq!(SUBSCRIBE_NAMESPACE_ERROR.to_model(0x5), 0x30);
        assert_eq!(PUBLISH_DONE_16.to_model(0x5), 0x6);
        assert_eq!(PUBLISH_DONE_14.to_model(0x7), 0x12);
        assert_eq!(REQUEST_ERROR.to_model(0x34), 0x34);
    }
}
