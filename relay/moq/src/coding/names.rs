//! Track Namespace, Full Track Name, Location and Reason Phrase (draft-18 §1.4, §2.4.1).

use std::fmt;

use bytes::{Buf, BufMut, Bytes};

use super::{DecodeError, EncodeError, decode_varint, encode_varint, read_bytes};

/// Maximum number of Track Namespace Fields.
pub const MAX_NAMESPACE_FIELDS: usize = 32;
/// Maximum length of a Full Track Name (and of a Track Namespace) in bytes.
pub const MAX_FULL_TRACK_NAME_LEN: usize = 4096;
/// Maximum length of a Reason Phrase in bytes.
pub const MAX_REASON_PHRASE_LEN: usize = 1024;

/// A Track Namespace: 0 to 32 non-empty byte fields.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackNamespace(Vec<Bytes>);

impl TrackNamespace {
    /// A namespace from its fields (validated when encoded or decoded).
    pub fn new(fields: Vec<Bytes>) -> Self {
        Self(fields)
    }

    /// Split a `/`-separated path into fields; empty segments are skipped.
    pub fn from_path(path: &str) -> Self {
        Self(
            path.split('/')
                .filter(|s| !s.is_empty())
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect(),
        )
    }

    /// The fields in order.
    pub fn fields(&self) -> &[Bytes] {
        &self.0
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty (zero-field) namespace.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sum of the field lengths.
    pub fn byte_len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }

    /// True when `prefix`'s fields are the first fields of `self`.
    pub fn starts_with(&self, prefix: &TrackNamespace) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// The fields after `prefix`, if it is a prefix.
    pub fn strip_prefix(&self, prefix: &TrackNamespace) -> Option<TrackNamespace> {
        self.starts_with(prefix)
            .then(|| TrackNamespace(self.0[prefix.0.len()..].to_vec()))
    }

    /// Check the draft-18 limits (≤ 32 fields, none empty, ≤ 4096 bytes).
    pub fn validate(&self) -> Result<(), EncodeError> {
        if self.0.len() > MAX_NAMESPACE_FIELDS {
            return Err(EncodeError::Invalid("more than 32 namespace fields"));
        }
        if self.0.iter().any(Bytes::is_empty) {
            return Err(EncodeError::Invalid("empty namespace field"));
        }
        if self.byte_len() > MAX_FULL_TRACK_NAME_LEN {
            return Err(EncodeError::Invalid("namespace longer than 4096 bytes"));
        }
        Ok(())
    }

    /// Read a Track Namespace, refusing violations before buffering them.
    pub fn decode(buf: &mut impl Buf) -> Result<Self, DecodeError> {
        let count = decode_varint(buf)?;
        if count > MAX_NAMESPACE_FIELDS as u64 {
            return Err(DecodeError::TooManyNamespaceFields(count));
        }
        let mut fields = Vec::with_capacity(count as usize);
        let mut total = 0u64;
        for _ in 0..count {
            let len = decode_varint(buf)?;
            if len == 0 {
                return Err(DecodeError::EmptyNamespaceField);
            }
            total = total.saturating_add(len);
            if total > MAX_FULL_TRACK_NAME_LEN as u64 {
                return Err(DecodeError::TrackNameTooLong(total));
            }
            fields.push(read_bytes(buf, len)?);
        }
        Ok(Self(fields))
    }

    /// Write the namespace.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        self.validate()?;
        encode_varint(self.0.len() as u64, buf);
        for f in &self.0 {
            encode_varint(f.len() as u64, buf);
            buf.put_slice(f);
        }
        Ok(())
    }
}

/// Write bytes in the spec's safe form ("Representing Namespace and Track Names"):
/// `[a-zA-Z0-9_]` literal, others `.xx`.
pub fn write_safe(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b == b'_' {
            write!(f, "{}", b as char)?;
        } else {
            write!(f, ".{b:02x}")?;
        }
    }
    Ok(())
}

impl fmt::Display for TrackNamespace {
    /// The spec's safe form: fields separated by `-`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, field) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            write_safe(f, field)?;
        }
        Ok(())
    }
}

impl fmt::Debug for TrackNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrackNamespace({self})")
    }
}

/// Read a Track Name whose namespace is `namespace`, checking the 4096-byte limit.
pub fn decode_track_name(
    buf: &mut impl Buf,
    namespace: &TrackNamespace,
) -> Result<Bytes, DecodeError> {
    let len = decode_varint(buf)?;
    let total = (namespace.byte_len() as u64).saturating_add(len);
    if total > MAX_FULL_TRACK_NAME_LEN as u64 {
        return Err(DecodeError::TrackNameTooLong(total));
    }
    read_bytes(buf, len)
}

/// Write a Track Name, checking the 4096-byte Full Track Name limit.
pub fn encode_track_name(
    name: &[u8],
    namespace: &TrackNamespace,
    buf: &mut impl BufMut,
) -> Result<(), EncodeError> {
    if namespace.byte_len() + name.len() > MAX_FULL_TRACK_NAME_LEN {
        return Err(EncodeError::Invalid(
            "full track name longer than 4096 bytes",
        ));
    }
    encode_varint(name.len() as u64, buf);
    buf.put_slice(name);
    Ok(())
}

/// A Full Track Name: namespace plus track name.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FullTrackName {
    /// Track Namespace.
    pub namespace: TrackNamespace,
    /// Track Name (possibly empty).
    pub name: Bytes,
}

impl FullTrackName {
    /// Build from parts.
    pub fn new(namespace: TrackNamespace, name: impl Into<Bytes>) -> Self {
        Self {
            namespace,
            name: name.into(),
        }
    }

    /// Read namespace and name.
    pub fn decode(buf: &mut impl Buf) -> Result<Self, DecodeError> {
        let namespace = TrackNamespace::decode(buf)?;
        let name = decode_track_name(buf, &namespace)?;
        Ok(Self { namespace, name })
    }

    /// Write namespace and name.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        self.namespace.encode(buf)?;
        encode_track_name(&self.name, &self.namespace, buf)
    }
}

impl fmt::Display for FullTrackName {
    /// The spec's safe form: `ns1-ns2--name`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}--", self.namespace)?;
        write_safe(f, &self.name)
    }
}

impl fmt::Debug for FullTrackName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FullTrackName({self})")
    }
}

/// A Location `{group, object}`; ordered by group, then object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// Group ID.
    pub group: u64,
    /// Object ID.
    pub object: u64,
}

impl Location {
    /// Build a Location.
    pub const fn new(group: u64, object: u64) -> Self {
        Self { group, object }
    }

    /// Read two varints.
    pub fn decode(buf: &mut impl Buf) -> Result<Self, DecodeError> {
        let group = decode_varint(buf)?;
        let object = decode_varint(buf)?;
        Ok(Self { group, object })
    }

    /// Write two varints.
    pub fn encode(&self, buf: &mut impl BufMut) {
        encode_varint(self.group, buf);
        encode_varint(self.object, buf);
    }
}

/// A Reason Phrase: at most 1024 bytes, UTF-8 by convention.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ReasonPhrase(Bytes);

impl ReasonPhrase {
    /// Wrap bytes (checked against the limit when encoded).
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        Self(bytes.into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The phrase as text, replacing invalid UTF-8.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }

    /// Read a Reason Phrase, refusing more than 1024 bytes before buffering.
    pub fn decode(buf: &mut impl Buf) -> Result<Self, DecodeError> {
        let len = decode_varint(buf)?;
        if len > MAX_REASON_PHRASE_LEN as u64 {
            return Err(DecodeError::ReasonPhraseTooLong(len));
        }
        Ok(Self(read_bytes(buf, len)?))
    }

    /// Write the phrase.
    pub fn encode(&self, buf: &mut impl BufMut) -> Result<(), EncodeError> {
        if self.0.len() > MAX_REASON_PHRASE_LEN {
            return Err(EncodeError::Invalid("reason phrase longer than 1024 bytes"));
        }
        encode_varint(self.0.len() as u64, buf);
        buf.put_slice(&self.0);
        Ok(())
    }
}

impl From<&str> for ReasonPhrase {
    fn from(s: &str) -> Self {
        Self(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl fmt::Debug for ReasonPhrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns_wire(count: u64, fields: &[&[u8]]) -> Vec<u8> {
        let mut w = Vec::new();
        encode_varint(count, &mut w);
        for f in fields {
            encode_varint(f.len() as u64, &mut w);
            w.extend_from_slice(f);
        }
        w
    }

    #[test]
    fn thirty_three_fields_refused() {
        let fields: Vec<&[u8]> = vec![b"a"; 33];
        let wire = ns_wire(33, &fields);
        assert_eq!(
            TrackNamespace::decode(&mut &wire[..]),
            Err(DecodeError::TooManyNamespaceFields(33))
        );
        let ok = ns_wire(32, &fields[..32]);
        assert_eq!(
            TrackNamespace::decode(&mut &ok[..]).map(|n| n.len()),
            Ok(32)
        );
        let too_many = TrackNamespace::new(vec![Bytes::from_static(b"a"); 33]);
        assert!(too_many.encode(&mut Vec::new()).is_err());
    }

    #[test]
    fn empty_field_refused() {
        let wire = ns_wire(2, &[b"a", b""]);
        assert_eq!(
            TrackNamespace::decode(&mut &wire[..]),
            Err(DecodeError::EmptyNamespaceField)
        );
    }

    #[test]
    fn name_over_4096_refused() {
        let ns = TrackNamespace::new(vec![Bytes::from(vec![b'x'; 4000])]);
        let mut wire = Vec::new();
        ns.encode(&mut wire).expect("4000-byte namespace is fine");
        encode_varint(97, &mut wire); // 4097 in total
        wire.extend_from_slice(&[b'y'; 97]);
        assert_eq!(
            FullTrackName::decode(&mut &wire[..]),
            Err(DecodeError::TrackNameTooLong(4097))
        );
        let full = FullTrackName::new(ns, vec![b'y'; 97]);
        assert!(full.encode(&mut Vec::new()).is_err());
    }

    #[test]
    fn reason_over_1024_refused() {
        let mut wire = Vec::new();
        encode_varint(1025, &mut wire);
        wire.extend_from_slice(&[b'r'; 1025]);
        assert_eq!(
            ReasonPhrase::decode(&mut &wire[..]),
            Err(DecodeError::ReasonPhraseTooLong(1025))
        );
        assert!(
            ReasonPhrase::new(vec![b'r'; 1025])
                .encode(&mut Vec::new())
                .is_err()
        );
    }

    #[test]
    fn safe_string_form() {
        let full = FullTrackName::new(
            TrackNamespace::new(vec![
                Bytes::from_static(b"example.net"),
                Bytes::from_static(b"team2"),
                Bytes::from_static(b"project_x"),
            ]),
            Bytes::from_static(b"report"),
        );
        assert_eq!(full.to_string(), "example.2enet-team2-project_x--report");
        assert_eq!(TrackNamespace::from_path("/live//name/").len(), 2);
    }

    #[test]
    fn location_order() {
        assert!(Location::new(1, 9) < Location::new(2, 0));
        assert!(Location::new(2, 0) < Location::new(2, 1));
    }
}
