//! FETCH and FETCH_OK.

use bytes::{Buf, BufMut, Bytes};

use super::{Parameters, SubscriptionFilter};
use crate::Version;
use crate::coding::{
    DecodeError, EncodeError, Location, TrackNamespace, decode_track_name, decode_varint,
    encode_track_name, encode_varint, read_u8,
};
use crate::data::Properties;

/// The Fetch Type and its structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchType {
    /// 0x1 Standalone Fetch.
    Standalone {
        /// Track Namespace.
        track_namespace: TrackNamespace,
        /// Track Name.
        track_name: Bytes,
        /// Start Location.
        start_location: Location,
        /// End Location, plus 1 (Object 0: the whole group).
        end_location: Location,
    },
    /// 0x2 Relative Joining Fetch.
    RelativeJoining {
        /// Joining Request ID.
        joining_request_id: u64,
        /// Joining Start: groups before the Joining Location's group.
        joining_start: u64,
    },
    /// 0x3 Absolute Joining Fetch.
    AbsoluteJoining {
        /// Joining Request ID.
        joining_request_id: u64,
        /// Joining Start: the absolute start group.
        joining_start: u64,
    },
    /// A draft-20 FETCH whose range depends on the track's Largest Object: no
    /// LOCATION_FILTER (`{0, 0}` to Largest), a relative start, the Next Object or an
    /// open-ended absolute start (each to Largest). The publisher resolves it; a FETCH with
    /// an absolute end is read as [`FetchType::Standalone`].
    Ranged {
        /// Track Namespace.
        track_namespace: TrackNamespace,
        /// Track Name.
        track_name: Bytes,
        /// The LOCATION_FILTER, if any.
        filter: Option<SubscriptionFilter>,
    },
}

impl FetchType {
    /// Fetch Type code.
    pub fn code(&self) -> u64 {
        match self {
            Self::Standalone { .. } => 0x1,
            Self::RelativeJoining { .. } => 0x2,
            Self::AbsoluteJoining { .. } => 0x3,
            Self::Ranged { .. } => 0x1,
        }
    }

    /// The track a standalone or draft-20 FETCH names (a joining FETCH names a subscription).
    pub fn track(&self) -> Option<(&TrackNamespace, &Bytes)> {
        match self {
            Self::Standalone {
                track_namespace,
                track_name,
                ..
            }
            | Self::Ranged {
                track_namespace,
                track_name,
                ..
            } => Some((track_namespace, track_name)),
            Self::RelativeJoining { .. } | Self::AbsoluteJoining { .. } => None,
        }
    }

    /// The Track Name of a standalone or draft-20 FETCH, to change.
    pub fn track_name_mut(&mut self) -> Option<&mut Bytes> {
        match self {
            Self::Standalone { track_name, .. } | Self::Ranged { track_name, .. } => {
                Some(track_name)
            }
            Self::RelativeJoining { .. } | Self::AbsoluteJoining { .. } => None,
        }
    }

    /// The FETCH a draft-20 LOCATION_FILTER names: [`FetchType::Standalone`] when the filter
    /// has an absolute end, else [`FetchType::Ranged`].
    pub fn from_filter(
        track_namespace: TrackNamespace,
        track_name: Bytes,
        filter: Option<SubscriptionFilter>,
    ) -> Self {
        let end = match filter {
            Some(SubscriptionFilter::AbsoluteRange {
                start,
                end_group_delta,
            }) => Some((
                start,
                Location::new(start.group.saturating_add(end_group_delta), 0),
            )),
            Some(SubscriptionFilter::AbsoluteRangeToObject {
                start,
                end_group_delta,
                end_object,
            }) => Some((
                start,
                // The last object plus one; past the last possible object, the whole group.
                Location::new(
                    start.group.saturating_add(end_group_delta),
                    end_object.checked_add(1).unwrap_or(0),
                ),
            )),
            _ => None,
        };
        match end {
            Some((start_location, end_location)) => Self::Standalone {
                track_namespace,
                track_name,
                start_location,
                end_location,
            },
            None => Self::Ranged {
                track_namespace,
                track_name,
                filter,
            },
        }
    }

    /// The draft-20 LOCATION_FILTER of a standalone range.
    fn to_filter(start: Location, end: Location) -> Result<SubscriptionFilter, EncodeError> {
        let end_group_delta = end
            .group
            .checked_sub(start.group)
            .ok_or(EncodeError::Invalid("FETCH End Location before its Start"))?;
        Ok(match end.object {
            0 => SubscriptionFilter::AbsoluteRange {
                start,
                end_group_delta,
            },
            o => SubscriptionFilter::AbsoluteRangeToObject {
                start,
                end_group_delta,
                end_object: o - 1,
            },
        })
    }
}

/// FETCH (0x16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// Request ID.
    pub request_id: u64,
    /// Fetch Type with its Standalone or Joining structure.
    pub fetch_type: FetchType,
    /// Parameters.
    pub parameters: Parameters,
}

impl Fetch {
    pub(crate) fn decode_payload(buf: &mut impl Buf, v: Version) -> Result<Self, DecodeError> {
        let request_id = decode_varint(buf)?;
        if v.has_location_fields() {
            let track_namespace = TrackNamespace::decode(buf)?;
            let track_name = decode_track_name(buf, &track_namespace)?;
            let mut parameters = Parameters::decode_in(buf, v)?;
            let filters = parameters
                .iter()
                .filter(|p| p.kind == super::parameter_type::SUBSCRIPTION_FILTER)
                .count();
            if filters > 1 {
                return Err(DecodeError::InvalidValue {
                    field: "LOCATION_FILTER count",
                    value: filters as u64,
                });
            }
            let filter = parameters.take_subscription_filter();
            return Ok(Self {
                request_id,
                fetch_type: FetchType::from_filter(track_namespace, track_name, filter),
                parameters,
            });
        }
        let fetch_type = match decode_varint(buf)? {
            0x1 => {
                let track_namespace = TrackNamespace::decode(buf)?;
                let track_name = decode_track_name(buf, &track_namespace)?;
                FetchType::Standalone {
                    track_namespace,
                    track_name,
                    start_location: Location::decode(buf)?,
                    end_location: Location::decode(buf)?,
                }
            }
            0x2 => FetchType::RelativeJoining {
                joining_request_id: decode_varint(buf)?,
                joining_start: decode_varint(buf)?,
            },
            0x3 => FetchType::AbsoluteJoining {
                joining_request_id: decode_varint(buf)?,
                joining_start: decode_varint(buf)?,
            },
            value => {
                return Err(DecodeError::InvalidValue {
                    field: "Fetch Type",
                    value,
                });
            }
        };
        Ok(Self {
            request_id,
            fetch_type,
            parameters: Parameters::decode_in(buf, v)?,
        })
    }

    pub(crate) fn encode_payload(
        &self,
        buf: &mut impl BufMut,
        v: Version,
    ) -> Result<(), EncodeError> {
        encode_varint(self.request_id, buf);
        if v.has_location_fields() {
            let (track_namespace, track_name, filter) = match &self.fetch_type {
                FetchType::Standalone {
                    track_namespace,
                    track_name,
                    start_location,
                    end_location,
                } => (
                    track_namespace,
                    track_name,
                    Some(FetchType::to_filter(*start_location, *end_location)?),
                ),
                FetchType::Ranged {
                    track_namespace,
                    track_name,
                    filter,
                } => (track_namespace, track_name, *filter),
                FetchType::RelativeJoining { .. } | FetchType::AbsoluteJoining { .. } => {
                    return Err(EncodeError::Invalid(
                        "draft-20 and later have no joining FETCH",
                    ));
                }
            };
            track_namespace.encode(buf)?;
            encode_track_name(track_name, track_namespace, buf)?;
            let mut parameters = self.parameters.clone();
            if let Some(filter) = filter {
                parameters.set_subscription_filter(&filter);
            }
            return parameters.encode_in(buf, v);
        }
        encode_varint(self.fetch_type.code(), buf);
        match &self.fetch_type {
            FetchType::Standalone {
                track_namespace,
                track_name,
                start_location,
                end_location,
            } => {
                track_namespace.encode(buf)?;
                encode_track_name(track_name, track_namespace, buf)?;
                start_location.encode(buf);
                end_location.encode(buf);
            }
            FetchType::RelativeJoining {
                joining_request_id,
                joining_start,
            }
            | FetchType::AbsoluteJoining {
                joining_request_id,
                joining_start,
            } => {
                encode_varint(*joining_request_id, buf);
                encode_varint(*joining_start, buf);
            }
            FetchType::Ranged { .. } => {
                return Err(EncodeError::Invalid(
                    "draft-18 has no FETCH to the Largest Object: resolve it first",
                ));
            }
        }
        self.parameters.encode_in(buf, v)
    }
}

/// FETCH_OK (0x18).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchOk {
    /// End Of Track.
    pub end_of_track: bool,
    /// End Location (last object plus 1, or Object 0 for the whole group).
    pub end_location: Location,
    /// Parameters.
    pub parameters: Parameters,
    /// Track Properties (rest of the message).
    pub track_properties: Properties,
}

impl FetchOk {
    pub(crate) fn decode_payload(buf: &mut impl Buf, v: Version) -> Result<Self, DecodeError> {
        let end_of_track = match read_u8(buf)? {
            0 => false,
            1 => true,
            v => {
                return Err(DecodeError::InvalidValue {
                    field: "End Of Track",
                    value: u64::from(v),
                });
            }
        };
        let mut end_location = Location::decode(buf)?;
        if v.has_location_fields() {
            // Draft-20's End Location is the last Object covered; draft-18's is one past it.
            end_location.object = end_location.object.checked_add(1).unwrap_or(0);
        }
        Ok(Self {
            end_of_track,
            end_location,
            parameters: Parameters::decode_in(buf, v)?,
            track_properties: Properties::decode_rest(buf)?,
        })
    }

    pub(crate) fn encode_payload(
        &self,
        buf: &mut impl BufMut,
        v: Version,
    ) -> Result<(), EncodeError> {
        buf.put_u8(u8::from(self.end_of_track));
        let mut end = self.end_location;
        if v.has_location_fields() {
            // One past the last Object → the last Object (object 0, the whole group: the
            // largest possible Object of it).
            end.object = end.object.checked_sub(1).unwrap_or(u64::MAX);
        }
        end.encode(buf);
        self.parameters.encode_in(buf, v)?;
        buf.put_slice(self.track_properties.raw());
        Ok(())
    }
}
