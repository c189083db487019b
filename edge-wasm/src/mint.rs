//! Tokens for the token plugin, made on the operator's side (`tern token mint`) and in tests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde::Serialize;

/// The signing algorithm; the token plugin fixes one per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// HMAC-SHA256 with a shared secret.
    Hs256,
    /// ECDSA P-256 with a private key (PKCS#8 PEM).
    Es256,
}

impl std::str::FromStr for Alg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "HS256" | "hs256" => Ok(Self::Hs256),
            "ES256" | "es256" => Ok(Self::Es256),
            other => Err(format!(
                "algorithm `{other}` is not supported (HS256, ES256)"
            )),
        }
    }
}

/// What a token grants, and for how long.
#[derive(Debug, Clone)]
pub struct Mint {
    /// Signing algorithm.
    pub alg: Alg,
    /// HS256: the shared secret; ES256: the private key, PKCS#8 PEM.
    pub key: Vec<u8>,
    /// Key id the plugin looks the key up by.
    pub kid: Option<String>,
    /// `sub`: who the viewer or publisher is.
    pub subject: String,
    /// `aud`: the relays that accept it.
    pub audience: String,
    /// `iss`: who issued it.
    pub issuer: String,
    /// Namespace prefixes (`live/room`) the holder may publish under.
    pub publish: Vec<String>,
    /// Namespace prefixes the holder may subscribe under.
    pub subscribe: Vec<String>,
    /// Issue time (`iat`, `nbf`).
    pub now: SystemTime,
    /// Lifetime: `exp` is `now` plus this.
    pub valid_for: Duration,
}

/// A token could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// The key does not fit the algorithm.
    #[error("signing key: {0}")]
    Key(String),
    /// Signing failed.
    #[error("signing: {0}")]
    Sign(String),
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    aud: &'a str,
    iss: &'a str,
    iat: u64,
    nbf: u64,
    exp: u64,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    publish: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    subscribe: &'a [String],
}

/// Make a signed token (compact JWS).
pub fn mint(m: &Mint) -> Result<String, MintError> {
    let (alg, key) = match m.alg {
        Alg::Hs256 => {
            if m.key.len() < 32 {
                return Err(MintError::Key(
                    "an HS256 secret needs 32 bytes or more".into(),
                ));
            }
            (Algorithm::HS256, EncodingKey::from_secret(&m.key))
        }
        Alg::Es256 => (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(&m.key).map_err(|e| MintError::Key(e.to_string()))?,
        ),
    };
    let now = m
        .now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = Claims {
        sub: &m.subject,
        aud: &m.audience,
        iss: &m.issuer,
        iat: now,
        nbf: now,
        exp: now.saturating_add(m.valid_for.as_secs()),
        publish: &m.publish,
        subscribe: &m.subscribe,
    };
    let mut header = Header::new(alg);
    header.kid = m.kid.clone();
    encode(&header, &claims, &key).map_err(|e| MintError::Sign(e.to_string()))
}
