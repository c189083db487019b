//! Error and status codes (draft-18 §3.4, §10.6, §10.9, IANA §16.13).
//!
//! Codes are newtypes over `u64` so unknown (and GREASE) values survive a
//! round trip; draft-18 says an unknown code is treated as INTERNAL_ERROR.

use std::fmt;

macro_rules! code_type {
    ($(#[$doc:meta])* $name:ident { $($(#[$cdoc:meta])* $c:ident = $v:expr,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u64);

        impl $name {
            $($(#[$cdoc])* pub const $c: $name = $name($v);)*

            /// Spec name of a known code.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some(stringify!($c)),)*
                    _ => None,
                }
            }

            /// True for a code draft-18 defines.
            pub fn is_known(self) -> bool {
                self.name().is_some()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{n}"),
                    None => write!(f, "{}({:#x})", stringify!($name), self.0),
                }
            }
        }

        impl From<u64> for $name {
            fn from(v: u64) -> Self {
                $name(v)
            }
        }

        impl From<$name> for u64 {
            fn from(c: $name) -> u64 {
                c.0
            }
        }
    };
}

code_type!(
    /// Session termination error codes.
    SessionError {
        /// The session is being terminated without an error.
        NO_ERROR = 0x0,
        /// An implementation specific error occurred.
        INTERNAL_ERROR = 0x1,
        /// The client is not authorized to establish a session.
        UNAUTHORIZED = 0x2,
        /// The peer did something the specification disallows.
        PROTOCOL_VIOLATION = 0x3,
        /// Wrong Request ID parity or a duplicate Request ID.
        INVALID_REQUEST_ID = 0x4,
        /// A Track Alias already in use.
        DUPLICATE_TRACK_ALIAS = 0x5,
        /// A key-value pair has a formatting error.
        KEY_VALUE_FORMATTING_ERROR = 0x6,
        /// A Request ID at or above the MAX_REQUEST_ID granted (drafts 14 and 16).
        TOO_MANY_REQUESTS = 0x7,
        /// PATH used wrongly or not supported.
        INVALID_PATH = 0x8,
        /// PATH does not conform to RFC 3986.
        MALFORMED_PATH = 0x9,
        /// Peer did not close in time after GOAWAY.
        GOAWAY_TIMEOUT = 0x10,
        /// Peer did not answer a control message in time.
        CONTROL_MESSAGE_TIMEOUT = 0x11,
        /// Peer did not send expected data stream bytes in time.
        DATA_STREAM_TIMEOUT = 0x12,
        /// MAX_AUTH_TOKEN_CACHE_SIZE exceeded.
        AUTH_TOKEN_CACHE_OVERFLOW = 0x13,
        /// A token alias registered twice.
        DUPLICATE_AUTH_TOKEN_ALIAS = 0x14,
        /// No common version.
        VERSION_NEGOTIATION_FAILED = 0x15,
        /// Invalid auth token serialization during registration.
        MALFORMED_AUTH_TOKEN = 0x16,
        /// A token alias that is not registered.
        UNKNOWN_AUTH_TOKEN_ALIAS = 0x17,
        /// An expired token.
        EXPIRED_AUTH_TOKEN = 0x18,
        /// AUTHORITY not served here or used wrongly.
        INVALID_AUTHORITY = 0x19,
        /// AUTHORITY syntactically invalid.
        MALFORMED_AUTHORITY = 0x1A,
    }
);

code_type!(
    /// REQUEST_ERROR codes.
    RequestErrorCode {
        /// Implementation specific or generic error.
        INTERNAL_ERROR = 0x0,
        /// Not authorized for this action.
        UNAUTHORIZED = 0x1,
        /// Could not complete in time.
        TIMEOUT = 0x2,
        /// Request type not supported.
        NOT_SUPPORTED = 0x3,
        /// Invalid auth token serialization.
        MALFORMED_AUTH_TOKEN = 0x4,
        /// Token expired.
        EXPIRED_AUTH_TOKEN = 0x5,
        /// The endpoint has sent or received GOAWAY.
        GOING_AWAY = 0x6,
        /// Overloaded; retry after Retry Interval.
        EXCESSIVE_LOAD = 0x9,
        /// Track or namespace not available.
        DOES_NOT_EXIST = 0x10,
        /// Filter or range cannot be satisfied.
        INVALID_RANGE = 0x11,
        /// Track detected malformed.
        MALFORMED_TRACK = 0x12,
        /// A second subscription to a track with the same role.
        DUPLICATE_SUBSCRIPTION = 0x19,
        /// Subscriber not interested.
        UNINTERESTED = 0x20,
        /// Namespace prefix overlaps another subscription.
        PREFIX_OVERLAP = 0x30,
        /// Prefix matches too many publishers.
        NAMESPACE_TOO_LARGE = 0x31,
        /// Joining FETCH refers to a request that is not a subscription.
        INVALID_JOINING_REQUEST_ID = 0x32,
        /// Unknown Mandatory Track Property.
        UNSUPPORTED_EXTENSION = 0x33,
        /// Retry elsewhere; REQUEST_ERROR carries a Redirect.
        REDIRECT = 0x34,
    }
);

code_type!(
    /// PUBLISH_DONE status codes.
    PublishDoneCode {
        /// Implementation specific or generic error.
        INTERNAL_ERROR = 0x0,
        /// No longer authorized.
        UNAUTHORIZED = 0x1,
        /// The track is no longer published.
        TRACK_ENDED = 0x2,
        /// The end of the subscription filter was reached.
        SUBSCRIPTION_ENDED = 0x3,
        /// GOAWAY was issued.
        GOING_AWAY = 0x4,
        /// The subscriber's queue exceeded the publisher's limit.
        TOO_FAR_BEHIND = 0x5,
        /// The EXPIRES time was reached.
        EXPIRED = 0x6,
        /// REQUEST_UPDATE failed.
        UPDATE_FAILED = 0x8,
        /// Publisher overloaded.
        EXCESSIVE_LOAD = 0x9,
        /// Track detected malformed.
        MALFORMED_TRACK = 0x12,
    }
);

code_type!(
    /// Stream reset (RESET_STREAM / STOP_SENDING) error codes.
    StreamResetCode {
        /// Implementation specific error.
        INTERNAL_ERROR = 0x0,
        /// Cancelled by either endpoint.
        CANCELLED = 0x1,
        /// A delivery timeout was exceeded.
        DELIVERY_TIMEOUT = 0x2,
        /// The session is closing.
        SESSION_CLOSED = 0x3,
        /// GOAWAY was sent or received.
        GOING_AWAY = 0x4,
        /// Subscription exceeded the publisher's resource limits.
        TOO_FAR_BEHIND = 0x5,
        /// FETCH: status of the next object is unknown.
        UNKNOWN_OBJECT_STATUS = 0x6,
        /// Authorization token expired.
        EXPIRED_AUTH_TOKEN = 0x7,
        /// Endpoint overloaded.
        EXCESSIVE_LOAD = 0x9,
        /// Track detected malformed.
        MALFORMED_TRACK = 0x12,
    }
);

/// True for a GREASE value `0x7f * N + 0x9D`.
pub fn is_grease(v: u64) -> bool {
    v >= 0x9D && (v - 0x9D).is_multiple_of(0x7f)
}
