//! Plain data the relay core routes: track names, locations, objects, filters.

use bytes::Bytes;
use std::fmt;

/// A track namespace: an ordered tuple of non-empty byte fields.
pub type Namespace = Vec<Bytes>;

/// A full track name: namespace tuple plus track name. The relay's cache key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackName {
    /// Namespace fields.
    pub namespace: Namespace,
    /// Track name bytes (may be empty).
    pub name: Bytes,
}

impl TrackName {
    /// Build from `a/b` style namespace and a track name (tests and CLI).
    pub fn from_path(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace
                .split('/')
                .filter(|f| !f.is_empty())
                .map(|f| Bytes::copy_from_slice(f.as_bytes()))
                .collect(),
            name: Bytes::copy_from_slice(name.as_bytes()),
        }
    }
}

/// A namespace in the `live/cam1` form operators and front-ends name broadcasts by: its fields
/// joined with `/`, bytes that are not UTF-8 replaced.
pub fn namespace_path(namespace: &[Bytes]) -> String {
    namespace
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Render bytes in the spec's safe form ("Representing Namespace and Track Names"): the codec's.
pub use tern_moq::coding::write_safe as safe_field;

impl fmt::Display for TrackName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, field) in self.namespace.iter().enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            safe_field(f, field)?;
        }
        f.write_str("--")?;
        safe_field(f, &self.name)
    }
}

impl fmt::Debug for TrackName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Whether `prefix` is a field-wise prefix of `namespace`.
pub fn is_prefix(prefix: &[Bytes], namespace: &[Bytes]) -> bool {
    prefix.len() <= namespace.len() && prefix.iter().zip(namespace).all(|(a, b)| a == b)
}

/// {Group, Object}, ordered by group then object: the codec's type, one for the whole relay.
pub use tern_moq::Location;

/// Object status (draft-18 "Object Status").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ObjectStatus {
    /// A normal object with a payload.
    #[default]
    Normal,
    /// The object does not exist.
    DoesNotExist,
    /// Marks the end of a group: no object with a larger ID exists in it.
    EndOfGroup,
    /// Marks the end of the track.
    EndOfTrack,
}

/// An object as the relay caches and forwards it: payload and properties are shared, never
/// copied per subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// Where it sits in the track.
    pub location: Location,
    /// Status (Normal unless the publisher signalled otherwise).
    pub status: ObjectStatus,
    /// Serialized object Properties (key-value pairs), forwarded unchanged.
    pub properties: Bytes,
    /// Payload bytes.
    pub payload: Bytes,
    /// This object is known to be the last of its group (a datagram's END_OF_GROUP bit).
    pub end_of_group: bool,
}

/// A subscription filter resolved against the track's Largest Object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// First location that passes.
    pub start: Location,
    /// Last group that passes (inclusive), if bounded.
    pub end_group: Option<u64>,
    /// Last object of the end group that passes (inclusive); `None`: the whole group.
    pub end_object: Option<u64>,
}

impl Range {
    /// Whether an object at `loc` passes.
    pub fn contains(&self, loc: Location) -> bool {
        loc >= self.start
            && self.end_group.is_none_or(|g| {
                loc.group < g || (loc.group == g && self.end_object.is_none_or(|o| loc.object <= o))
            })
    }
}

/// Draft-18 subscription filter types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// 0x1: from the start of the group after the largest object.
    NextGroupStart,
    /// 0x2: from the object after the largest object.
    LargestObject,
    /// 0x3: from an explicit location, open ended.
    AbsoluteStart(Location),
    /// 0x4: from an explicit location to the end of `start.group + end_group_delta`.
    AbsoluteRange(Location, u64),
    /// Draft-20 on: from the start of the group `groups` before the next one, open ended.
    RelativeStart(u64),
    /// Draft-20 on: from an explicit location to object `end_object` (inclusive) of group
    /// `start.group + end_group_delta`.
    AbsoluteRangeToObject(Location, u64, u64),
}

impl From<tern_moq::message::SubscriptionFilter> for Filter {
    fn from(f: tern_moq::message::SubscriptionFilter) -> Self {
        use tern_moq::message::SubscriptionFilter as Wire;
        match f {
            Wire::NextGroupStart => Filter::NextGroupStart,
            Wire::LargestObject => Filter::LargestObject,
            Wire::AbsoluteStart(l) => Filter::AbsoluteStart(l),
            Wire::AbsoluteRange {
                start,
                end_group_delta,
            } => Filter::AbsoluteRange(start, end_group_delta),
            Wire::RelativeStart { groups } => Filter::RelativeStart(groups),
            Wire::AbsoluteRangeToObject {
                start,
                end_group_delta,
                end_object,
            } => Filter::AbsoluteRangeToObject(start, end_group_delta, end_object),
        }
    }
}

impl From<Filter> for tern_moq::message::SubscriptionFilter {
    fn from(f: Filter) -> Self {
        match f {
            Filter::NextGroupStart => Self::NextGroupStart,
            Filter::LargestObject => Self::LargestObject,
            Filter::AbsoluteStart(l) => Self::AbsoluteStart(l),
            Filter::AbsoluteRange(start, end_group_delta) => Self::AbsoluteRange {
                start,
                end_group_delta,
            },
            Filter::RelativeStart(groups) => Self::RelativeStart { groups },
            Filter::AbsoluteRangeToObject(start, end_group_delta, end_object) => {
                Self::AbsoluteRangeToObject {
                    start,
                    end_group_delta,
                    end_object,
                }
            }
        }
    }
}

impl Filter {
    /// The filter of a SUBSCRIBE that may carry none (absent: unfiltered, from {0, 0}).
    pub fn of(wire: Option<tern_moq::message::SubscriptionFilter>) -> Self {
        wire.map_or(Filter::AbsoluteStart(Location::new(0, 0)), Filter::from)
    }

    /// Resolve against the publisher's Largest Object. Returns `None` when the range end
    /// overflows (a protocol violation).
    pub fn resolve(self, largest: Option<Location>) -> Option<Range> {
        Some(match self {
            Filter::LargestObject => Range {
                start: largest.map_or(Location::new(0, 0), |l| {
                    Location::new(l.group, l.object.saturating_add(1))
                }),
                end_group: None,
                end_object: None,
            },
            Filter::NextGroupStart => Range {
                start: largest.map_or(Location::new(0, 0), |l| {
                    Location::new(l.group.saturating_add(1), 0)
                }),
                end_group: None,
                end_object: None,
            },
            Filter::AbsoluteStart(start) => Range {
                start,
                end_group: None,
                end_object: None,
            },
            Filter::AbsoluteRange(start, delta) => Range {
                start,
                end_group: Some(start.group.checked_add(delta)?),
                end_object: None,
            },
            Filter::RelativeStart(groups) => Range {
                start: Location::new(
                    largest.map_or(0, |l| l.group.saturating_add(1).saturating_sub(groups)),
                    0,
                ),
                end_group: None,
                end_object: None,
            },
            Filter::AbsoluteRangeToObject(start, delta, end_object) => Range {
                start,
                end_group: Some(start.group.checked_add(delta)?),
                end_object: Some(end_object),
            },
        })
    }
}
