//! The MoQ viewer: reads the broadcast's catalog for its video track, subscribes to it from
//! the first object the relay holds, and notes for each object when it arrived, the decode
//! time of its frame (the CMAF chunk's `tfdt`) and the gateway's publish stamp (`prft`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use tern_moq::TrackNamespace;
use tern_peer::{ConnectOptions, Session};

/// One video object received.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// Its group and object IDs.
    pub location: (u64, u64),
    /// Its frame's decode time on the broadcast's time line (`tfdt`, 90 kHz).
    pub tfdt: u64,
    /// When it arrived.
    pub at: Instant,
    /// When it arrived, Unix microseconds.
    pub unix_us: u64,
    /// The gateway's publish stamp (`prft`), Unix microseconds.
    pub prft_us: Option<u64>,
}

/// What a viewer saw.
#[derive(Debug)]
pub struct Watched {
    /// The video track's name.
    pub track: String,
    /// When SUBSCRIBE_OK came.
    pub subscribed_at: Instant,
    /// Every object, in arrival order.
    pub objects: Vec<Received>,
}

/// Every wait on the relay.
const STEP: Duration = Duration::from_secs(10);

/// Watch broadcast `ns` at `url` from when its catalog appears (polled for 10 s) until `until`.
pub async fn watch(url: &str, ns: &str, until: Instant) -> anyhow::Result<Watched> {
    let opts = ConnectOptions {
        disable_verify: true,
        ..ConnectOptions::default()
    };
    let session = Session::connect(url, &opts)
        .await
        .with_context(|| format!("connect to {url}"))?;
    let ns = TrackNamespace::from_path(ns);
    let mut catalog = tokio::time::timeout(STEP, async {
        loop {
            match session.subscribe(ns.clone(), "catalog", None).await {
                Ok(s) => return s,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
    .context("no catalog within 10 s")?;
    let first = tokio::time::timeout(STEP, catalog.next())
        .await
        .context("no catalog object within 10 s")?
        .map_err(|e| anyhow!("catalog: {e}"))?
        .context("the catalog track ended")?;
    let track = video_track(&first.payload)?;
    drop(catalog);
    // No filter: from the oldest object the relay holds, so the first object is the first frame.
    let mut video = session
        .subscribe(ns, track.clone().into_bytes(), None)
        .await
        .map_err(|e| anyhow!("subscribe to {track}: {e}"))?;
    let subscribed_at = Instant::now();
    let mut objects = Vec::new();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let Ok(next) = tokio::time::timeout(left, video.next()).await else {
            break;
        };
        let Some(object) = next.map_err(|e| anyhow!("{track}: {e}"))? else {
            break;
        };
        let (at, unix_us) = (Instant::now(), unix_micros());
        let payload = &object.payload;
        objects.push(Received {
            location: (object.location.group, object.location.object),
            tfdt: tfdt(payload).with_context(|| format!("{track}: an object without tfdt"))?,
            at,
            unix_us,
            prft_us: tern_cmaf::mux::read_prft(payload).map(|(_, us, _)| us),
        });
    }
    session.close(0, "done");
    Ok(Watched {
        track,
        subscribed_at,
        objects,
    })
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The name of the first track whose role is `video` in an MSF catalog.
fn video_track(json: &[u8]) -> anyhow::Result<String> {
    let v: serde_json::Value = serde_json::from_slice(json).context("catalog JSON")?;
    let tracks = v["tracks"].as_array().context("catalog without tracks")?;
    for t in tracks {
        if t["role"] == "video"
            && let Some(name) = t["name"].as_str()
        {
            return Ok(name.to_owned());
        }
    }
    bail!("no video track in the catalog: {v}")
}

/// The boxes (type, body) at the top of `data`.
fn boxes(mut data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 8 {
            return None;
        }
        let size = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let kind = [data[4], data[5], data[6], data[7]];
        if size < 8 || size > data.len() {
            return None;
        }
        let body = &data[8..size];
        data = &data[size..];
        Some((kind, body))
    })
}

/// `moof/traf/tfdt`'s baseMediaDecodeTime of a CMAF chunk.
fn tfdt(chunk: &[u8]) -> Option<u64> {
    let (_, moof) = boxes(chunk).find(|(k, _)| k == b"moof")?;
    let (_, traf) = boxes(moof).find(|(k, _)| k == b"traf")?;
    let (_, t) = boxes(traf).find(|(k, _)| k == b"tfdt")?;
    let at = |i: usize| {
        t.get(i..i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    match t.first()? {
        1 => Some((u64::from(at(4)?) << 32) | u64::from(at(8)?)),
        _ => at(4).map(u64::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tfdt_and_prft_of_a_chunk_the_packager_writes() {
        let sample = tern_cmaf::Sample {
            track: 1,
            dts: 123_456_789_012,
            duration: 3000,
            cts_offset: 0,
            keyframe: true,
            timescale: 90_000,
            data: bytes::Bytes::from_static(b"frame"),
        };
        let chunk = tern_cmaf::mux::chunk(&sample, 7, 1_700_000_000_000_000);
        assert_eq!(tfdt(&chunk), Some(123_456_789_012));
        let (_, us, _) = tern_cmaf::mux::read_prft(&chunk).expect("prft");
        assert!(us.abs_diff(1_700_000_000_000_000) <= 1);
    }
}
