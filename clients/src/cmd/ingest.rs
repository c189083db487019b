//! The ingest listeners of a relay node in this process, started from its configuration: the
//! gateways publish into the node through its local API (the relay crate never depends on
//! them; this binary wires the two together).

use anyhow::Context;
use tern_gateway::keys::{self, KeysWatch, SharedKeys};
use tern_gateway::publish::Resumes;
use tern_gateway::rtmp::{self, RtmpServer};
use tern_gateway::srt::{self, SrtServer};
use tern_relay::config::Config;
use tern_relay::node::Node;

/// The running ingest listeners; dropping it stops them.
#[derive(Debug)]
pub struct Ingest {
    /// The SRT listener, if `srt.bind` is set.
    pub srt: Option<SrtServer>,
    /// The RTMP listener, if `rtmp.bind` is set.
    pub rtmp: Option<RtmpServer>,
    /// What keeps the stream keys up to date with `ingest.keys_file`, if it is set (held
    /// until the listeners stop).
    _keys: Option<KeysWatch>,
    /// The HTTP listener (WHIP, pages), unless `http.enabled` is off.
    pub http: Option<super::http::Http>,
}

/// The stream keys of `ingest.keys_file` (none when unset), shared by the SRT and RTMP
/// listeners, and the watch that reloads them when the file changes. A file that cannot be
/// read or parsed at start stops the relay: the error names the file and line.
fn stream_keys(config: &Config) -> anyhow::Result<(SharedKeys, Option<KeysWatch>)> {
    let Some(file) = &config.ingest.keys_file else {
        return Ok((SharedKeys::default(), None));
    };
    let (shared, watch) = keys::watch(file.clone(), keys::RELOAD_EVERY)
        .map_err(|e| anyhow::anyhow!("ingest.keys_file: {e}"))?;
    println!(
        "stream keys: {} from {} (read again when it changes)",
        shared.current().len(),
        file.display()
    );
    Ok((shared, Some(watch)))
}

/// Turn the audio companions on when `ingest.transcode_audio` asks and its ffmpeg runs (said at
/// start either way).
fn transcoding(config: &Config) {
    if !config.ingest.transcode_audio {
        tern_gateway::transcode::set_ffmpeg(None);
        return;
    }
    let ffmpeg = std::path::PathBuf::from(&config.ingest.ffmpeg);
    match tern_gateway::transcode::check_ffmpeg(&ffmpeg) {
        Ok(()) => {
            println!(
                "audio transcoding: every AAC track gets an Opus one and every Opus track an AAC \
                 one ({})",
                ffmpeg.display()
            );
            tern_gateway::transcode::set_ffmpeg(Some(ffmpeg));
        }
        Err(e) => {
            eprintln!(
                "audio transcoding is off: {e} (ingest.ffmpeg; set ingest.transcode_audio = \
                 false to silence this)"
            );
            tern_gateway::transcode::set_ffmpeg(None);
        }
    }
}

/// Start the listeners `config` asks for, in front of `node`, printing where each listens.
pub async fn start(config: &Config, node: &Node) -> anyhow::Result<Ingest> {
    // One time line per broadcast, whichever protocol its publisher comes back over.
    let resumes = Resumes::default();
    {
        let config = config.clone();
        // Runs ffmpeg once: off the async workers.
        tokio::task::spawn_blocking(move || transcoding(&config)).await?;
    }
    let (stream_keys, keys) = stream_keys(config)?;
    let srt = match config.srt.bind {
        None => None,
        Some(bind) => {
            let mut c = srt::Config::new(bind);
            c.latency = config.srt.latency;
            c.max_publishers = usize::try_from(config.srt.max_publishers).unwrap_or(usize::MAX);
            c.stream_keys = stream_keys.clone();
            if let Some(file) = &config.srt.passphrases_file {
                let text = std::fs::read_to_string(file).with_context(|| {
                    format!("srt.passphrases_file: cannot read {}", file.display())
                })?;
                c.keys = srt::admit::parse_keys(file, &text)
                    .map_err(|e| anyhow::anyhow!("srt.passphrases_file: {e}"))?;
            }
            let keys = c.keys.len();
            let server = srt::serve(c, node.local(), Default::default(), resumes.clone())
                .await
                .with_context(|| format!("srt.bind: cannot listen on {bind}"))?;
            println!(
                "SRT ingest listening on {} (streamid #!::r=live/NAME,m=publish; {})",
                server.local_addr(),
                match keys {
                    0 => "no passphrases".to_owned(),
                    n => format!("{n} passphrase rules"),
                }
            );
            Some(server)
        }
    };
    let rtmp = match config.rtmp.bind {
        None => None,
        Some(bind) => {
            let mut c = rtmp::Config::new(bind);
            c.max_publishers = usize::try_from(config.rtmp.max_publishers).unwrap_or(usize::MAX);
            c.stream_keys = stream_keys.clone();
            let server = rtmp::serve(c, node.local(), Default::default(), resumes.clone())
                .await
                .with_context(|| format!("rtmp.bind: cannot listen on {bind}"))?;
            println!(
                "RTMP ingest listening on {} (rtmp://HOST:PORT/APP/NAME publishes APP/NAME)",
                server.local_addr()
            );
            Some(server)
        }
    };
    let http = super::http::start(config, node, &resumes, &stream_keys).await?;
    Ok(Ingest {
        srt,
        rtmp,
        _keys: keys,
        http,
    })
}
