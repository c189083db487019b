//! The host-side harness: builds the plugin workspace (`edge-wasm/plugins`) for
//! `wasm32-wasip2` once and finds its components, for this crate's tests, the relay's and a
//! plugin author's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The plugin workspace's manifest.
pub fn plugins_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/Cargo.toml")
}

fn build() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("TERN_PLUGINS_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let cache = std::env::var_os("TERN_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/tern")))
        .ok_or("neither TERN_PLUGINS_DIR, TERN_CACHE nor HOME is set")?;
    let target = cache.join("target-plugins");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(plugins_manifest())
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the plugins failed ({status})"));
    }
    Ok(target.join("wasm32-wasip2/release"))
}

/// The component of plugin crate `tern-plugin-<name>` (`token`, `template`, `testbed`), built
/// on first use (`cargo build --release --target wasm32-wasip2` into
/// `$TERN_CACHE/target-plugins`) unless `TERN_PLUGINS_DIR` names a folder that has it. Panics
/// when the build fails: this is for tests.
pub fn plugin(name: &str) -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(build) {
        Ok(dir) => dir.join(format!("tern_plugin_{name}.wasm")),
        Err(why) => panic!("{why}"),
    }
}

/// The ES256 test key pair of the token plugin's tests (private PKCS#8 PEM, public PEM).
pub fn es256_test_keys() -> (&'static str, &'static str) {
    (
        include_str!("../plugins/token/testdata/es256-private.pem"),
        include_str!("../plugins/token/testdata/es256-public.pem"),
    )
}

/// The HS256 secret (key id `hs`) of [`token_config`].
pub const TEST_SECRET: &str = "an HS256 secret of thirty-two bytes or more";

/// A token plugin configuration for tests: keys `hs` (HS256, [`TEST_SECRET`]) and `es` (ES256,
/// [`es256_test_keys`]), audience `tern-relay`, issuer `ops`, tokens up to 2048 bytes (so that
/// oversized ones fit a SETUP), and `leeway_s`.
pub fn token_config(leeway_s: u64) -> String {
    let (_, public) = es256_test_keys();
    let public = public.replace('\n', "\\n");
    format!(
        r#"{{"keys": [{{"kid": "hs", "alg": "HS256", "secret": "{TEST_SECRET}"}},
            {{"kid": "es", "alg": "ES256", "public_key_pem": "{public}"}}],
            "audience": "tern-relay", "issuer": "ops", "leeway_s": {leeway_s},
            "max_token_bytes": 2048}}"#
    )
}
