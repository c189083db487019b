//! The watermark plugin's configuration (JSON from the relay's `[plugin]` `config_file`). The
//! same file is what `tern watermark detect --config` reads, so that both sides derive the same
//! code.

use serde::Deserialize;
use tern_watermark::{Code, Params};

/// Longest viewer string accepted as an id when no token section is configured.
pub const MAX_VIEWER_BYTES: usize = 256;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    key: String,
    tracks: Vec<String>,
    group_ms: u64,
    #[serde(default = "default_id_bits")]
    id_bits: u32,
    #[serde(default = "default_length")]
    code_length: u32,
    /// The token plugin's configuration: sessions are admitted on a JWT and the viewer is its
    /// `sub`. Without it the session's token is the viewer string as is.
    #[serde(default)]
    token: Option<serde_json::Value>,
}

fn default_id_bits() -> u32 {
    16
}

fn default_length() -> u32 {
    64
}

/// Checked configuration.
pub struct Config {
    /// The code viewers' ids and groups map through.
    pub code: Code,
    /// Track names served as A/B variants (`video-720p` → `video-720p.wm-a`/`.wm-b`).
    pub tracks: Vec<String>,
    /// JWT checks, when sessions carry tokens.
    pub token: Option<tern_edge_jwt::config::Config>,
}

impl Config {
    /// Parse and check; the error names the problem.
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: Raw = serde_json::from_str(json).map_err(|e| format!("watermark config: {e}"))?;
        let code = Code::new(Params {
            key: raw.key,
            id_bits: raw.id_bits,
            length: raw.code_length,
            group_ms: raw.group_ms,
        })
        .map_err(|e| format!("watermark config: {e}"))?;
        if raw.tracks.is_empty() || raw.tracks.iter().any(|t| t.is_empty()) {
            return Err("watermark config: `tracks` must name at least one track".into());
        }
        if let Some(t) = raw
            .tracks
            .iter()
            .find(|t| tern_watermark::split_variant(t.as_bytes()).is_some())
        {
            return Err(format!(
                "watermark config: `{t}` is a variant name; list the track viewers subscribe to"
            ));
        }
        let token = raw
            .token
            .map(|v| tern_edge_jwt::config::Config::parse(&v.to_string()))
            .transpose()
            .map_err(|e| format!("watermark config: {e}"))?;
        Ok(Self {
            code,
            tracks: raw.tracks,
            token,
        })
    }
}
