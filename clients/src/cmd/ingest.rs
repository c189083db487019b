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
    /// The RTMPS listener, if `rtmp.tls_bind` is set (held until the listeners stop).
    _rtmps: Option<RtmpServer>,
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

/// Turn the audio companions (`ingest.transcode_audio`) and the ladder (`ingest.ladder`) on when
/// asked and their ffmpeg runs (said at start either way).
fn transcoding(config: &Config) {
    use tern_gateway::transcode::{self, ladder};
    transcode::supervise::describe();
    let ingest = &config.ingest;
    if !ingest.transcode_audio && ingest.ladder.is_empty() {
        transcode::set_ffmpeg(None);
        return;
    }
    let ffmpeg = std::path::PathBuf::from(&ingest.ffmpeg);
    let checked = transcode::check_ffmpeg(&ffmpeg, !ingest.ladder.is_empty());
    if let Err(e) = checked {
        eprintln!(
            "transcoding is off: {e} (ingest.ffmpeg; set ingest.transcode_audio = false and \
             ingest.ladder = [] to silence this)"
        );
        transcode::set_ffmpeg(None);
        return;
    }
    transcode::set_audio(ingest.transcode_audio);
    if ingest.transcode_audio {
        println!(
            "audio transcoding: every AAC track gets an Opus one and every Opus track an AAC one \
             ({})",
            ffmpeg.display()
        );
    }
    // Validated with the configuration.
    let rungs: Vec<ladder::Rung> = ingest
        .ladder
        .iter()
        .filter_map(|r| tern_relay::config::ladder_rung(r).ok())
        .map(|(height, bitrate)| ladder::Rung { height, bitrate })
        .collect();
    if !rungs.is_empty() {
        println!(
            "ladder: every ingested broadcast's video also at {} (H.264, one ffmpeg per \
             broadcast)",
            ingest.ladder.join(", ")
        );
    }
    ladder::set_ladder(rungs);
    transcode::set_ffmpeg(Some(ffmpeg));
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
    let mut rtmp = None;
    let mut rtmps = None;
    let binds = [(config.rtmp.bind, false), (config.rtmp.tls_bind, true)];
    for (bind, tls) in binds.into_iter().filter_map(|(b, t)| Some((b?, t))) {
        let (key, scheme) = if tls {
            ("rtmp.tls_bind", "rtmps")
        } else {
            ("rtmp.bind", "rtmp")
        };
        let mut c = rtmp::Config::new(bind);
        c.max_publishers = usize::try_from(config.rtmp.max_publishers).unwrap_or(usize::MAX);
        c.stream_keys = stream_keys.clone();
        let mut self_signed = false;
        if tls {
            let (server_config, issued_here) = super::tls::server_config(config, ("RTMPS", key))?;
            c.tls = Some(server_config);
            self_signed = issued_here;
        }
        let server = rtmp::serve(c, node.local(), Default::default(), resumes.clone())
            .await
            .with_context(|| format!("{key}: cannot listen on {bind}"))?;
        if self_signed {
            let refusers = "OBS and other verifying encoders";
            super::tls::warn_self_signed("RTMPS", server.local_addr(), refusers);
        }
        println!(
            "{} ingest listening on {} ({scheme}://HOST:PORT/APP/NAME publishes APP/NAME)",
            scheme.to_uppercase(),
            server.local_addr()
        );
        match tls {
            true => rtmps = Some(server),
            false => rtmp = Some(server),
        }
    }
    let http = super::http::start(config, node, &resumes, &stream_keys).await?;
    Ok(Ingest {
        srt,
        rtmp,
        _rtmps: rtmps,
        _keys: keys,
        http,
    })
}
