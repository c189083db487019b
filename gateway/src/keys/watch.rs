//! The driver that keeps a keys file's rules in force: it looks at the file's modification
//! time, size and inode every [`RELOAD_EVERY`] and reads it again when one changed, or at once
//! on SIGHUP. A file that cannot be read or no longer parses leaves the rules in force and is
//! logged, naming the file and line.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;

use super::{SharedKeys, StreamKeys};

/// How often the file is looked at.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// A running watch of a keys file; dropping it stops it.
#[derive(Debug)]
pub struct KeysWatch(JoinHandle<()>);

impl Drop for KeysWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What tells a changed file: its modification time, size and inode (an editor's or a
/// deployment's rename puts a new inode in place).
fn stamp(file: &Path) -> Option<(SystemTime, u64, u64)> {
    let meta = std::fs::metadata(file).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.modified().ok()?, meta.len(), inode))
}

/// The rules of `file`, or why not (naming the file, and the line of a mistake).
fn load(file: &Path) -> Result<StreamKeys, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    StreamKeys::parse(file, &text).map_err(|e| e.to_string())
}

/// Read `file` again and put its rules in force in `keys`, or log why not.
fn reload(file: &Path, keys: &SharedKeys) {
    match load(file) {
        Ok(new) => {
            tracing::info!(
                "ingest.keys_file: reloaded {}: {} stream keys",
                file.display(),
                new.len()
            );
            keys.replace(new);
        }
        Err(e) => tracing::error!(
            "ingest.keys_file: {e}; the {} stream keys loaded before stay in force",
            keys.current().len()
        ),
    }
}

/// Load the keys file `file` and keep its rules in force, looking at it every `every`: the
/// keys (shared with the listeners) and the watch. The error (the file cannot be read or
/// parsed) names the file, and the line of a mistake.
pub fn watch(file: PathBuf, every: Duration) -> Result<(SharedKeys, KeysWatch), String> {
    // Looked at before it is read: a change in between is read again at the first look.
    let mut seen = stamp(&file);
    let keys = SharedKeys::new(load(&file)?);
    let shared = keys.clone();
    let task = tokio::spawn(async move {
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            #[cfg(unix)]
            let forced = match hangup.as_mut() {
                Some(h) => tokio::select! {
                    _ = tick.tick() => false,
                    _ = h.recv() => true,
                },
                None => {
                    tick.tick().await;
                    false
                }
            };
            #[cfg(not(unix))]
            let forced = {
                tick.tick().await;
                false
            };
            let now = stamp(&file);
            if now == seen && !forced {
                continue;
            }
            seen = now;
            reload(&file, &keys);
        }
    });
    Ok((shared, KeysWatch(task)))
}
