//! Token checks, in the order that keeps the cheap refusals first: size, then header, then
//! signature and claims. No refusal carries token text.

use jsonwebtoken::{Validation, decode, decode_header};
use serde::Deserialize;

use crate::config::Config;

/// Scope lists longer than this, or scopes longer than [`MAX_SCOPE_BYTES`], are refused.
pub const MAX_SCOPES: usize = 64;
/// Longest scope prefix.
pub const MAX_SCOPE_BYTES: usize = 256;

/// Why a token was refused. `Display` is the log reason and never quotes the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Oversized { len: usize, max: usize },
    Malformed(&'static str),
    UnknownKey,
    WrongAlgorithm,
    BadSignature,
    WrongAudience,
    WrongIssuer,
    Expired,
    NotYetValid,
    BadScopes,
}

impl Refusal {
    /// The deny code the host maps onto MoQ errors (see `tern_edge_wasm::deny_code`).
    pub fn code(&self) -> u32 {
        match self {
            Self::Missing
            | Self::UnknownKey
            | Self::WrongAlgorithm
            | Self::BadSignature
            | Self::WrongAudience
            | Self::WrongIssuer => 1,
            Self::Oversized { .. } | Self::Malformed(_) | Self::BadScopes => 2,
            Self::Expired | Self::NotYetValid => 3,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => write!(f, "no token"),
            Self::Oversized { len, max } => write!(f, "token of {len} bytes exceeds {max}"),
            Self::Malformed(what) => write!(f, "malformed token: {what}"),
            Self::UnknownKey => write!(f, "token names an unknown key"),
            Self::WrongAlgorithm => write!(f, "token algorithm does not match its key"),
            Self::BadSignature => write!(f, "token signature does not verify"),
            Self::WrongAudience => write!(f, "token audience is not this relay's"),
            Self::WrongIssuer => write!(f, "token issuer is not trusted"),
            Self::Expired => write!(f, "token expired"),
            Self::NotYetValid => write!(f, "token not valid yet"),
            Self::BadScopes => write!(f, "token scopes are malformed or too many"),
        }
    }
}

/// The claims tern reads; `aud` and `iss` are checked by the validation.
#[derive(Debug, Deserialize)]
struct TokenClaims {
    #[serde(default)]
    sub: String,
    exp: u64,
    nbf: Option<u64>,
    #[serde(default)]
    publish: Vec<String>,
    #[serde(default)]
    subscribe: Vec<String>,
}

/// What an admitted token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub subject: String,
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
    /// When the grant ends (Unix ms); `None` for an anonymous session, which has no token to
    /// expire.
    pub expires_at_ms: Option<u64>,
}

/// Subject of a session admitted without a token (see `Config::anonymous_subscribe`).
pub const ANONYMOUS: &str = "anonymous";

/// Verify `token` at `now_ms` (Unix milliseconds). Without a token, the configuration's
/// `anonymous_subscribe` scopes are granted when there are any.
pub fn verify(config: &Config, token: Option<&[u8]>, now_ms: u64) -> Result<Grant, Refusal> {
    let Some(token) = token else {
        if config.anonymous_subscribe.is_empty() {
            return Err(Refusal::Missing);
        }
        return Ok(Grant {
            subject: ANONYMOUS.into(),
            publish: Vec::new(),
            subscribe: config.anonymous_subscribe.clone(),
            expires_at_ms: None,
        });
    };
    if token.len() > config.max_token_bytes {
        return Err(Refusal::Oversized {
            len: token.len(),
            max: config.max_token_bytes,
        });
    }
    let token = std::str::from_utf8(token).map_err(|_| Refusal::Malformed("not UTF-8"))?;
    let header = decode_header(token).map_err(|_| Refusal::Malformed("header"))?;
    let key = match header.kid.as_deref() {
        Some(kid) => config.keys.iter().find(|k| k.kid == kid),
        None if config.keys.len() == 1 => config.keys.first(),
        None => None,
    }
    .ok_or(Refusal::UnknownKey)?;
    if header.alg != key.alg {
        return Err(Refusal::WrongAlgorithm);
    }
    let mut validation = Validation::new(key.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    validation.set_audience(&[&config.audience]);
    validation.set_issuer(&[&config.issuer]);
    let claims = decode::<TokenClaims>(token, &key.key, &validation)
        .map_err(|error| {
            use jsonwebtoken::errors::ErrorKind;
            match error.kind() {
                ErrorKind::InvalidSignature => Refusal::BadSignature,
                ErrorKind::InvalidAudience => Refusal::WrongAudience,
                ErrorKind::InvalidIssuer => Refusal::WrongIssuer,
                ErrorKind::InvalidAlgorithm => Refusal::WrongAlgorithm,
                ErrorKind::MissingRequiredClaim(_) => Refusal::Malformed("missing claim"),
                _ => Refusal::Malformed("payload"),
            }
        })?
        .claims;
    let now_s = now_ms / 1000;
    if claims.exp.saturating_add(config.leeway_s) <= now_s {
        return Err(Refusal::Expired);
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now_s.saturating_add(config.leeway_s))
    {
        return Err(Refusal::NotYetValid);
    }
    let scopes_ok = |scopes: &[String]| {
        scopes.len() <= MAX_SCOPES
            && scopes
                .iter()
                .all(|s| s.len() <= MAX_SCOPE_BYTES && tern_edge_sdk::Scope::parse(s).is_ok())
    };
    if !scopes_ok(&claims.publish) || !scopes_ok(&claims.subscribe) {
        return Err(Refusal::BadScopes);
    }
    Ok(Grant {
        subject: claims.sub,
        publish: claims.publish,
        subscribe: claims.subscribe,
        expires_at_ms: Some(
            claims
                .exp
                .saturating_add(config.leeway_s)
                .saturating_mul(1000),
        ),
    })
}
