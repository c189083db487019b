//! The `TERN_<TABLE>_<KEY>` environment layer.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{DeserializeOwned, IntoDeserializer};
use url::Url;

use super::{
    Config, ConfigError, Congestion, KEYS, LogFormat, Origin, Origins, closest, set_from_str,
};

/// The process environment as `(name, value)` pairs for [`Config::load`], skipping the entries
/// that are not valid UTF-8 (which `std::env::vars` would panic on).
pub fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
}

/// The variable that sets `key` (`cache.max_bytes` → `TERN_CACHE_MAX_BYTES`).
pub(super) fn var_name(key: &str) -> String {
    format!("TERN_{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Applies every `TERN_<TABLE>_<KEY>` variable of `env`, in name order.
pub(super) fn apply(
    config: &mut Config,
    env: impl IntoIterator<Item = (String, String)>,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let tables: BTreeSet<&str> = KEYS
        .iter()
        .filter_map(|key| key.split_once('.').map(|(table, _)| table))
        .collect();
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with("TERN_"))
        .collect();
    vars.sort();

    for (var, value) in vars {
        let Some(key) = config_key(&var, &tables) else {
            // TERN_CACHE, TERN_PEERS_BIN, ...: not configuration.
            continue;
        };
        match set_from_str(config, &key, &value) {
            None => {
                let names: Vec<String> = KEYS.iter().map(|key| var_name(key)).collect();
                let suggestion = closest(&var, names.iter().map(String::as_str)).map(str::to_owned);
                return Err(ConfigError::UnknownEnv { var, suggestion });
            }
            Some(Err(message)) => {
                return Err(ConfigError::InvalidEnv {
                    var,
                    value,
                    message,
                });
            }
            Some(Ok(())) => {
                if let Some(known) = KEYS.iter().find(|known| **known == key) {
                    origins.insert(known, Origin::Env(var));
                }
            }
        }
    }
    Ok(())
}

/// `TERN_CACHE_MAX_BYTES` → `cache.max_bytes`; `None` when the name does not start with
/// `TERN_<known table>_` (and is not `TERN_UPSTREAMS`).
fn config_key(var: &str, tables: &BTreeSet<&str>) -> Option<String> {
    let rest = var.strip_prefix("TERN_")?.to_ascii_lowercase();
    if rest == "upstreams" {
        return Some(rest);
    }
    let (table, field) = rest.split_once('_')?;
    (tables.contains(table) && !field.is_empty()).then(|| format!("{table}.{field}"))
}

/// A setting's type, parsed from an environment value. Each parse accepts what the TOML file
/// accepts for the same key, written without TOML quoting.
pub(super) trait FromEnv: Sized {
    fn from_env(value: &str) -> Result<Self, String>;
}

macro_rules! from_str_env {
    ($($ty:ty => $expected:literal),* $(,)?) => {$(
        impl FromEnv for $ty {
            fn from_env(value: &str) -> Result<Self, String> {
                value.trim().parse().map_err(|_| concat!("expected ", $expected).to_owned())
            }
        }
    )*};
}

from_str_env! {
    u64 => "a non-negative integer",
    u32 => "a non-negative integer up to 4294967295",
    bool => "true or false",
    SocketAddr => "an address and port such as 127.0.0.1:9464 or [::]:4443",
}

impl FromEnv for String {
    fn from_env(value: &str) -> Result<Self, String> {
        Ok(value.to_owned())
    }
}

/// An empty value clears an optional path set by the file.
impl FromEnv for Option<PathBuf> {
    fn from_env(value: &str) -> Result<Self, String> {
        Ok((!value.is_empty()).then(|| PathBuf::from(value)))
    }
}

/// An empty value turns off a listener the file turned on.
impl FromEnv for Option<SocketAddr> {
    fn from_env(value: &str) -> Result<Self, String> {
        if value.trim().is_empty() {
            return Ok(None);
        }
        SocketAddr::from_env(value).map(Some)
    }
}

impl FromEnv for Duration {
    fn from_env(value: &str) -> Result<Self, String> {
        super::parse_duration(value)
    }
}

impl FromEnv for LogFormat {
    fn from_env(value: &str) -> Result<Self, String> {
        value.trim().parse()
    }
}

impl FromEnv for super::ClusterPublish {
    fn from_env(value: &str) -> Result<Self, String> {
        value.trim().parse()
    }
}

impl FromEnv for super::TakeOverPolicy {
    fn from_env(value: &str) -> Result<Self, String> {
        value.trim().parse()
    }
}

impl FromEnv for Congestion {
    fn from_env(value: &str) -> Result<Self, String> {
        value.trim().parse()
    }
}

/// Comma-separated; empty means none.
impl FromEnv for Vec<String> {
    fn from_env(value: &str) -> Result<Self, String> {
        Ok(value
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect())
    }
}

/// Comma-separated integers (`relay.drafts`).
impl FromEnv for Vec<u32> {
    fn from_env(value: &str) -> Result<Self, String> {
        value
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse()
                    .map_err(|_| format!("'{item}' is not a draft number such as 18"))
            })
            .collect()
    }
}

/// Comma-separated; empty means no upstreams.
impl FromEnv for Vec<Url> {
    fn from_env(value: &str) -> Result<Self, String> {
        value
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| Url::parse(item).map_err(|e| format!("'{item}' is not a URL: {e}")))
            .collect()
    }
}

/// Parses a unit-variant enum from its serde name, so the file, the environment and the command
/// line accept the same words.
pub(super) fn from_serde_str<T: DeserializeOwned>(value: &str) -> Result<T, String> {
    T::deserialize(IntoDeserializer::<serde::de::value::Error>::into_deserializer(value))
        .map_err(|e| e.to_string())
}
