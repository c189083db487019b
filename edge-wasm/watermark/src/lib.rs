//! The forensic A/B watermark code of tern, shared by the watermark plugin and the detector.
//!
//! - [`Code`]: from a secret key and a [`Params`], a viewer's subject becomes an id of
//!   `id_bits` bits ([`Code::viewer_id`]) and the id a codeword of `length` bits: a random
//!   binary linear code (generator rows drawn from the key) shifted by a keyed coset, so that
//!   no id maps to all-A or all-B. Group `g` carries codeword bit `(g / group_ms) % length`:
//!   0 sends variant A, 1 variant B ([`Code::variant`]).
//! - [`Code::decode`]: soft decisions per group (positive for B, negative for A, missing groups
//!   simply absent) → the maximum-likelihood id over every id, with its margin over the
//!   runner-up. Missing positions are erasures; wrong decisions are outvoted by the others.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod code;
mod decode;

pub use code::{Code, CodeError, Params, VARIANT_A, VARIANT_B};
pub use decode::{DecodeError, Decoded, Observation};

mod names;
pub use names::{VARIANT_SUFFIX, split_variant, variant_track};
