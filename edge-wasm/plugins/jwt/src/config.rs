//! The token plugin's configuration (JSON from the relay's `[plugin.config]`).

use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// Tokens longer than this are refused unread, unless configured otherwise.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 4096;
/// Clock skew allowed on `exp` and `nbf`, unless configured otherwise.
pub const DEFAULT_LEEWAY_S: u64 = 5;
/// Upper bound of `max_token_bytes`.
pub const MAX_TOKEN_BYTES_LIMIT: usize = 64 << 10;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    keys: Vec<RawKey>,
    audience: String,
    issuer: String,
    #[serde(default = "default_leeway")]
    leeway_s: u64,
    #[serde(default = "default_max")]
    max_token_bytes: usize,
    #[serde(default)]
    anonymous_subscribe: Vec<String>,
}

fn default_leeway() -> u64 {
    DEFAULT_LEEWAY_S
}

fn default_max() -> usize {
    DEFAULT_MAX_TOKEN_BYTES
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    kid: String,
    alg: String,
    /// HS256: the shared secret (its UTF-8 bytes).
    secret: Option<String>,
    /// ES256: the public key, PEM (`-----BEGIN PUBLIC KEY-----`).
    public_key_pem: Option<String>,
}

/// One verification key; its algorithm is fixed, whatever a token's header says.
pub struct Key {
    pub kid: String,
    pub alg: Algorithm,
    pub key: DecodingKey,
}

/// Checked configuration.
pub struct Config {
    pub keys: Vec<Key>,
    pub audience: String,
    pub issuer: String,
    pub leeway_s: u64,
    pub max_token_bytes: usize,
    /// Subscribe scopes of a session that shows no token (a public edge, whose viewers need
    /// none); empty: every session needs a token. Such a session may publish nothing.
    pub anonymous_subscribe: Vec<String>,
}

impl Config {
    /// Parse and check; the error names the problem.
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: Raw = serde_json::from_str(json).map_err(|e| format!("token config: {e}"))?;
        if raw.keys.is_empty() {
            return Err("token config: `keys` is empty".into());
        }
        if raw.audience.is_empty() || raw.issuer.is_empty() {
            return Err("token config: `audience` and `issuer` must not be empty".into());
        }
        if raw.leeway_s > 300 {
            return Err("token config: `leeway_s` must be at most 300".into());
        }
        if !(64..=MAX_TOKEN_BYTES_LIMIT).contains(&raw.max_token_bytes) {
            return Err(format!(
                "token config: `max_token_bytes` must be 64 to {MAX_TOKEN_BYTES_LIMIT}"
            ));
        }
        if raw.anonymous_subscribe.len() > crate::verify::MAX_SCOPES
            || raw.anonymous_subscribe.iter().any(|s| {
                s.len() > crate::verify::MAX_SCOPE_BYTES || tern_edge_sdk::Scope::parse(s).is_err()
            })
        {
            return Err(format!(
                "token config: `anonymous_subscribe` must be at most {} namespace prefixes \
                 (fields joined by `/`, as \"live\" or \"live/sports\") of at most {} bytes",
                crate::verify::MAX_SCOPES,
                crate::verify::MAX_SCOPE_BYTES
            ));
        }
        let mut keys = Vec::with_capacity(raw.keys.len());
        for key in raw.keys {
            if keys.iter().any(|k: &Key| k.kid == key.kid) {
                return Err(format!("token config: key `{}` appears twice", key.kid));
            }
            keys.push(parse_key(key)?);
        }
        Ok(Self {
            keys,
            audience: raw.audience,
            issuer: raw.issuer,
            leeway_s: raw.leeway_s,
            max_token_bytes: raw.max_token_bytes,
            anonymous_subscribe: raw.anonymous_subscribe,
        })
    }
}

fn parse_key(raw: RawKey) -> Result<Key, String> {
    let kid = raw.kid;
    let (alg, key) = match (raw.alg.as_str(), raw.secret, raw.public_key_pem) {
        ("HS256", Some(secret), None) if secret.len() >= 32 => (
            Algorithm::HS256,
            DecodingKey::from_secret(secret.as_bytes()),
        ),
        ("HS256", Some(_), None) => {
            return Err(format!(
                "token config: key `{kid}`: an HS256 secret needs 32 bytes or more"
            ));
        }
        ("ES256", None, Some(pem)) => {
            let key = DecodingKey::from_ec_pem(pem.as_bytes())
                .map_err(|e| format!("token config: key `{kid}`: bad ES256 public key: {e}"))?;
            (Algorithm::ES256, key)
        }
        ("HS256", ..) => {
            return Err(format!(
                "token config: key `{kid}`: HS256 takes `secret` only"
            ));
        }
        ("ES256", ..) => {
            return Err(format!(
                "token config: key `{kid}`: ES256 takes `public_key_pem` only"
            ));
        }
        (other, ..) => {
            return Err(format!(
                "token config: key `{kid}`: algorithm `{other}` is not supported (HS256, ES256)"
            ));
        }
    };
    Ok(Key { kid, alg, key })
}
