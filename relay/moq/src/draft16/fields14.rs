//! Draft-14's message fields and parameters in the model.
//!
//! Draft-14 carries as fields what later drafts carry as parameters: Subscriber Priority,
//! Group Order, Forward, the filter, Expires, Content Exists and Largest Location. Read, each
//! becomes the model's parameter of the same meaning (SUBSCRIBER_PRIORITY, GROUP_ORDER, FORWARD,
//! SUBSCRIPTION_FILTER, EXPIRES, LARGEST_OBJECT), always present but for a request's Group Order
//! of 0 ("the original publisher's Group Order": no GROUP_ORDER) and a Content Exists of 0 (no
//! LARGEST_OBJECT). Written, an absent parameter takes the model's default where it has one:
//! SUBSCRIBER_PRIORITY 128, FORWARD 1, no filter (AbsoluteStart {0, 0}), EXPIRES 0, a request's
//! Group Order 0, and a reply's the track's DEFAULT_PUBLISHER_GROUP_ORDER, else Ascending
//! (PUBLISH_OK's included). SUBSCRIBE_UPDATE's fields have no default: they replace the
//! subscription's, and one left out is an error (see [`super::d14_write`]).
//!
//! Draft-14's own parameters are Key-Value-Pairs with types in full, ignored when unknown or
//! outside the messages their definition names: AUTHORIZATION TOKEN (0x03), DELIVERY TIMEOUT
//! (0x02) and MAX_CACHE_DURATION (0x04). What the publisher sends (PUBLISH, SUBSCRIBE_OK,
//! TRACK_STATUS_OK, FETCH_OK) is a Track Property in the model (draft-18: "The publisher
//! communicates both timeout values as a Track Property"): DELIVERY TIMEOUT is
//! OBJECT_DELIVERY_TIMEOUT (0x02), MAX_CACHE_DURATION is MAX_CACHE_DURATION (0x04), and
//! PUBLISH's Group Order, the publisher's preference, is DEFAULT_PUBLISHER_GROUP_ORDER (0x22).
//! What the subscriber sends (SUBSCRIBE, SUBSCRIBE_UPDATE, TRACK_STATUS, PUBLISH_OK) is the
//! OBJECT_DELIVERY_TIMEOUT parameter.
//!
//! Written, a model parameter or Track Property the message has no field or parameter for is
//! left out (draft-14 has no word for it); one it has a place for but whose value that place
//! cannot hold (a GROUP_ORDER of 3, a FORWARD of 2, a token that is not bytes) is refused.

use bytes::Bytes;

use super::wire::{Types, get, get_kvp, get_token, get_u8, put, put_kvp, put_token};
use crate::coding::{DecodeError, EncodeError, KeyValuePairs, KvpValue, Location};
use crate::data::Properties;
use crate::message::{ParameterValue, Parameters, SubscriptionFilter, parameter_type as pt};

/// Draft-14's parameter types.
const DELIVERY_TIMEOUT: u64 = 0x02;
const AUTHORIZATION_TOKEN: u64 = 0x03;
const MAX_CACHE_DURATION: u64 = 0x04;
/// The Track Property DEFAULT_PUBLISHER_GROUP_ORDER.
pub(super) const DEFAULT_PUBLISHER_GROUP_ORDER: u64 = 0x22;

/// Where DELIVERY TIMEOUT goes in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// Not a parameter of this message: ignored.
    Ignored,
    /// The OBJECT_DELIVERY_TIMEOUT parameter (the subscriber's).
    Parameter,
    /// The OBJECT_DELIVERY_TIMEOUT Track Property (the publisher's).
    Property,
}

/// Which draft-14 parameters a message carries, and where they go.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scope {
    /// AUTHORIZATION TOKEN.
    pub token: bool,
    /// DELIVERY TIMEOUT.
    pub delivery: Place,
    /// MAX_CACHE_DURATION (a Track Property).
    pub cache: bool,
    /// The Track Property DEFAULT_PUBLISHER_GROUP_ORDER says the Group Order field: PUBLISH's
    /// (read as it), and, written when GROUP_ORDER is absent, SUBSCRIBE_OK's,
    /// TRACK_STATUS_OK's and FETCH_OK's.
    pub default_order: bool,
}

/// SUBSCRIBE, SUBSCRIBE_UPDATE and TRACK_STATUS.
pub(super) const SUBSCRIBER: Scope = Scope {
    token: true,
    delivery: Place::Parameter,
    cache: false,
    default_order: false,
};
/// PUBLISH_OK.
pub(super) const PUBLISH_OK: Scope = Scope {
    token: false,
    ..SUBSCRIBER
};
/// PUBLISH.
pub(super) const PUBLISH: Scope = Scope {
    token: true,
    delivery: Place::Property,
    cache: true,
    default_order: true,
};
/// SUBSCRIBE_OK and TRACK_STATUS_OK.
pub(super) const TRACK_OK: Scope = Scope {
    token: false,
    ..PUBLISH
};
/// FETCH, PUBLISH_NAMESPACE and SUBSCRIBE_NAMESPACE.
pub(super) const TOKEN_ONLY: Scope = Scope {
    token: true,
    delivery: Place::Ignored,
    cache: false,
    default_order: false,
};
/// FETCH_OK.
pub(super) const FETCH_OK: Scope = Scope {
    token: false,
    cache: true,
    default_order: true,
    ..TOKEN_ONLY
};

/// The model's parameters and Track Properties of a draft-14 message, as read.
#[derive(Debug, Default)]
pub(super) struct Read14 {
    /// The parameters, fields included.
    pub params: Parameters,
    /// The Track Properties.
    pub props: KeyValuePairs,
}

impl Read14 {
    /// Add a uint8 parameter.
    pub fn uint8(&mut self, kind: u64, v: u8) {
        self.params.push(kind, ParameterValue::Uint8(v));
    }

    /// Read `Number of Parameters` and the parameters.
    pub fn parameters(&mut self, buf: &mut Bytes, scope: Scope) -> Result<(), DecodeError> {
        let count = get(buf)?;
        let mut prev = 0;
        let mut seen = [false; 2];
        for _ in 0..count {
            let kvp = get_kvp(buf, &mut prev, Types::Absolute)?;
            if let k @ (DELIVERY_TIMEOUT | MAX_CACHE_DURATION) = kvp.kind {
                let once = &mut seen[usize::from(k == MAX_CACHE_DURATION)];
                if std::mem::replace(once, true) {
                    return Err(DecodeError::InvalidValue {
                        field: "repeated parameter type",
                        value: k,
                    });
                }
            }
            match (kvp.kind, kvp.value, scope.delivery) {
                (DELIVERY_TIMEOUT, v, Place::Parameter) => {
                    self.params.push(pt::OBJECT_DELIVERY_TIMEOUT, param(v));
                }
                (DELIVERY_TIMEOUT, v, Place::Property) => self.props.push(DELIVERY_TIMEOUT, v),
                (MAX_CACHE_DURATION, v, _) if scope.cache => self.props.push(MAX_CACHE_DURATION, v),
                (AUTHORIZATION_TOKEN, KvpValue::Bytes(b), _) if scope.token => {
                    let token = get_token(&b, AUTHORIZATION_TOKEN)?;
                    self.params
                        .push(pt::AUTHORIZATION_TOKEN, ParameterValue::Bytes(token));
                }
                // "Receivers ignore unrecognized parameters", and one outside its messages.
                _ => {}
            }
        }
        Ok(())
    }

    /// The Track Properties.
    pub fn properties(self) -> Result<(Parameters, Properties), DecodeError> {
        let props =
            Properties::from_pairs(self.props).map_err(|_| DecodeError::KeyValueFormatting {
                key: 0,
                what: "track properties",
            })?;
        Ok((self.params, props))
    }
}

fn param(v: KvpValue) -> ParameterValue {
    match v {
        KvpValue::Varint(v) => ParameterValue::Varint(v),
        KvpValue::Bytes(b) => ParameterValue::Bytes(b),
    }
}

/// Read a Group Order: a request's may be 0 (the publisher's: `None`), a reply's is 1 or 2.
pub(super) fn get_group_order(buf: &mut Bytes, request: bool) -> Result<Option<u8>, DecodeError> {
    match get_u8(buf)? {
        0 if request => Ok(None),
        v @ (1 | 2) => Ok(Some(v)),
        v => Err(DecodeError::InvalidValue {
            field: "Group Order",
            value: u64::from(v),
        }),
    }
}

const MISMATCH: EncodeError = EncodeError::Invalid("parameter value does not match its type");
const REPEATED: EncodeError = EncodeError::Invalid("a parameter repeated");

/// The model's parameters and Track Properties of a message to write in draft-14: its fields,
/// and its draft-14 parameters.
#[derive(Debug, Default)]
pub(super) struct Write14 {
    /// Subscriber Priority (SUBSCRIBER_PRIORITY).
    pub priority: Option<u8>,
    /// Forward (FORWARD).
    pub forward: Option<u8>,
    /// Group Order (GROUP_ORDER).
    pub group_order: Option<u8>,
    /// Filter Type, Start Location, End Group (SUBSCRIPTION_FILTER).
    pub filter: Option<SubscriptionFilter>,
    /// Expires (EXPIRES).
    pub expires: Option<u64>,
    /// Content Exists and Largest Location (LARGEST_OBJECT).
    pub largest: Option<Location>,
    /// DEFAULT_PUBLISHER_GROUP_ORDER.
    pub default_order: Option<u8>,
    /// Draft-14 parameters, by type.
    kvps: Vec<(u64, KvpValue)>,
}

fn set<T>(slot: &mut Option<T>, v: T) -> Result<(), EncodeError> {
    match slot.replace(v) {
        None => Ok(()),
        Some(_) => Err(REPEATED),
    }
}

impl Write14 {
    /// Split `params`, whose types in `fields` are the message's fields, and `props`. What the
    /// message has no field or draft-14 parameter for is left out; a value its field or
    /// parameter cannot hold, a type mismatch or a repeat is refused.
    pub fn new(
        params: &Parameters,
        fields: &[u64],
        props: Option<&Properties>,
        scope: Scope,
    ) -> Result<Self, EncodeError> {
        let mut w = Self::default();
        for p in params.iter() {
            let field = fields.contains(&p.kind);
            match (p.kind, &p.value) {
                (pt::SUBSCRIBER_PRIORITY, ParameterValue::Uint8(v)) if field => {
                    set(&mut w.priority, *v)?;
                }
                (pt::FORWARD, ParameterValue::Uint8(v @ (0 | 1))) if field => {
                    set(&mut w.forward, *v)?;
                }
                (pt::GROUP_ORDER, ParameterValue::Uint8(v @ (1 | 2))) if field => {
                    set(&mut w.group_order, *v)?;
                }
                (pt::SUBSCRIPTION_FILTER, ParameterValue::Filter(f)) if field => {
                    set(&mut w.filter, *f)?;
                }
                (pt::EXPIRES, ParameterValue::Varint(v)) if field => set(&mut w.expires, *v)?,
                (pt::LARGEST_OBJECT, ParameterValue::Location(l)) if field => {
                    set(&mut w.largest, *l)?;
                }
                (pt::OBJECT_DELIVERY_TIMEOUT, ParameterValue::Varint(v))
                    if scope.delivery == Place::Parameter =>
                {
                    w.push(DELIVERY_TIMEOUT, KvpValue::Varint(*v))?;
                }
                (pt::AUTHORIZATION_TOKEN, ParameterValue::Bytes(b)) if scope.token => {
                    w.kvps
                        .push((AUTHORIZATION_TOKEN, KvpValue::Bytes(put_token(b)?)));
                }
                (kind, _) if field => {
                    return Err(match kind {
                        pt::FORWARD => EncodeError::Invalid("FORWARD other than 0 or 1"),
                        pt::GROUP_ORDER => EncodeError::Invalid("GROUP_ORDER other than 1 or 2"),
                        _ => MISMATCH,
                    });
                }
                (pt::OBJECT_DELIVERY_TIMEOUT, _) if scope.delivery == Place::Parameter => {
                    return Err(MISMATCH);
                }
                (pt::AUTHORIZATION_TOKEN, _) if scope.token => return Err(MISMATCH),
                // No field or parameter of this message says it: left out.
                _ => {}
            }
        }
        for p in props.iter().flat_map(|p| p.pairs().iter()) {
            // The three Track Properties draft-14 can say have even types: varints.
            let KvpValue::Varint(v) = p.value else {
                continue;
            };
            match p.kind {
                DELIVERY_TIMEOUT if scope.delivery == Place::Property => {
                    w.push(DELIVERY_TIMEOUT, p.value.clone())?;
                }
                MAX_CACHE_DURATION if scope.cache => w.push(MAX_CACHE_DURATION, p.value.clone())?,
                DEFAULT_PUBLISHER_GROUP_ORDER if scope.default_order && (1..=2).contains(&v) => {
                    set(&mut w.default_order, v as u8)?;
                }
                DEFAULT_PUBLISHER_GROUP_ORDER if scope.default_order => {
                    return Err(EncodeError::Invalid(
                        "DEFAULT_PUBLISHER_GROUP_ORDER other than 1 or 2",
                    ));
                }
                // DYNAMIC_GROUPS, DEFAULT_PUBLISHER_PRIORITY, IMMUTABLE_PROPERTIES, unknown
                // types, and the three outside their messages: left out.
                _ => {}
            }
        }
        Ok(w)
    }

    /// Add a parameter that may not repeat.
    fn push(&mut self, kind: u64, v: KvpValue) -> Result<(), EncodeError> {
        if self.kvps.iter().any(|(k, _)| *k == kind) {
            return Err(REPEATED);
        }
        self.kvps.push((kind, v));
        Ok(())
    }

    /// Write `Number of Parameters` and the parameters, in ascending type order.
    pub fn put_parameters(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut kvps: Vec<&(u64, KvpValue)> = self.kvps.iter().collect();
        kvps.sort_by_key(|(k, _)| *k);
        put(kvps.len() as u64, out)?;
        let mut prev = 0;
        for (kind, v) in kvps {
            put_kvp(*kind, v, &mut prev, Types::Absolute, out)?;
        }
        Ok(())
    }
}
