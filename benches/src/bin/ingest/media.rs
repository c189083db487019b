//! The inputs: a test pattern and a tone encoded once by ffmpeg into an FLV file (what the RTMP
//! publishers send) and remuxed into an MPEG-TS file (what the SRT publisher sends), then read
//! back as FLV tags, as 1316-byte SRT payloads, each with the time it is due, and as the H.264
//! access units in Annex-B that the WHIP publisher sends.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use bytes::Bytes;

/// What an input is made of.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Its file names' stem.
    pub name: &'static str,
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Video bitrate, kbit/s (constant: x264 `nal-hrd=cbr`).
    pub video_kbps: u32,
    /// AAC bitrate, kbit/s.
    pub audio_kbps: u32,
    /// Length, seconds.
    pub seconds: u32,
}

/// The 720p input of the latency and CPU runs: about 6 Mbit/s in all.
pub const MAIN: Spec = Spec {
    name: "testsrc2-720p30-6M",
    width: 1280,
    height: 720,
    fps: 30,
    video_kbps: 5850,
    audio_kbps: 128,
    seconds: 50,
};

/// The 360p input of the many-publishers run: about 1 Mbit/s in all, looped.
pub const SMALL: Spec = Spec {
    name: "testsrc2-360p30-1M",
    width: 640,
    height: 360,
    fps: 30,
    video_kbps: 900,
    audio_kbps: 96,
    seconds: 20,
};

/// The prepared files of one [`Spec`].
#[derive(Debug, Clone)]
pub struct Files {
    /// H.264 and AAC in FLV.
    pub flv: PathBuf,
    /// The same streams in MPEG-TS.
    pub ts: PathBuf,
}

/// Encode `spec` into `dir` unless it is there already (ffmpeg: `testsrc2`, libx264 with a
/// keyframe every 60 frames, no B-frames, `-tune zerolatency`, AAC).
pub fn prepare(dir: &Path, spec: &Spec) -> anyhow::Result<Files> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let flv = dir.join(format!("{}.flv", spec.name));
    let ts = dir.join(format!("{}.ts", spec.name));
    if !flv.is_file() {
        let part = dir.join(format!("{}.part.flv", spec.name));
        let (w, h, fps, secs) = (spec.width, spec.height, spec.fps, spec.seconds);
        let v = spec.video_kbps;
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
            .args(["-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size={w}x{h}:rate={fps}:duration={secs}"))
            .args(["-f", "lavfi", "-i"])
            .arg(format!(
                "sine=frequency=440:sample_rate=48000:duration={secs}"
            ))
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
            ])
            .args(["-pix_fmt", "yuv420p", "-g", "60", "-keyint_min", "60"])
            .args(["-sc_threshold", "0", "-bf", "0"])
            .args(["-b:v", &format!("{v}k"), "-minrate", &format!("{v}k")])
            .args([
                "-maxrate",
                &format!("{v}k"),
                "-bufsize",
                &format!("{}k", v / 2),
            ])
            .args(["-x264-params", "nal-hrd=cbr"])
            .args(["-c:a", "aac", "-b:a", &format!("{}k", spec.audio_kbps)])
            .args(["-f", "flv"])
            .arg(&part);
        run(&mut cmd, "encode the input (ffmpeg with libx264)")?;
        std::fs::rename(&part, &flv).context("rename the encoded input")?;
    }
    if !ts.is_file() {
        let part = dir.join(format!("{}.part.ts", spec.name));
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
            .arg(&flv)
            .args(["-c", "copy", "-f", "mpegts"])
            .arg(&part);
        run(&mut cmd, "remux the input into MPEG-TS")?;
        std::fs::rename(&part, &ts).context("rename the remuxed input")?;
    }
    Ok(Files { flv, ts })
}

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{what}: run ffmpeg (apt-get install ffmpeg)"))?;
    ensure!(
        out.status.success(),
        "{what}: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// FLV tag types.
pub const AUDIO: u8 = 8;
/// A video tag.
pub const VIDEO: u8 = 9;

/// One FLV tag.
#[derive(Debug, Clone)]
pub struct Tag {
    /// 8 audio, 9 video, 18 script data.
    pub kind: u8,
    /// Decode time, milliseconds.
    pub ms: u32,
    /// The tag's body (an RTMP message's payload).
    pub data: Bytes,
}

impl Tag {
    /// Whether this is an H.264 frame (not the decoder configuration).
    pub fn is_video_frame(&self) -> bool {
        self.kind == VIDEO && self.data.len() > 1 && self.data[0] & 0x0f == 7 && self.data[1] == 1
    }
}

/// The tags of an FLV file.
pub fn flv_tags(path: &Path) -> anyhow::Result<Vec<Tag>> {
    let data =
        Bytes::from(std::fs::read(path).with_context(|| format!("read {}", path.display()))?);
    ensure!(data.len() >= 13 && &data[..3] == b"FLV", "not an FLV file");
    let mut at = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize + 4;
    let mut tags = Vec::new();
    while at + 11 <= data.len() {
        let h = &data[at..at + 11];
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let ms = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let body = at + 11;
        if body + size > data.len() {
            break; // a truncated last tag
        }
        tags.push(Tag {
            kind: h[0] & 0x1f,
            ms,
            data: data.slice(body..body + size),
        });
        at = body + size + 4;
    }
    ensure!(
        tags.iter().any(Tag::is_video_frame),
        "{}: no H.264 frames",
        path.display()
    );
    Ok(tags)
}

/// The H.264 access units of FLV `tags` in Annex-B, in decode order, as a WebRTC encoder hands
/// them to its packetiser: each frame's NAL units behind start codes, a keyframe with the SPS
/// and PPS of the decoder configuration (the sequence header tag) in front. The same frames
/// the RTMP publisher sends, one per 1/fps s.
pub fn annexb_frames(tags: &[Tag]) -> anyhow::Result<Vec<Arc<[u8]>>> {
    const START: [u8; 4] = [0, 0, 0, 1];
    let config = tags
        .iter()
        .find(|t| t.kind == VIDEO && t.data.len() > 5 && t.data[0] & 0x0f == 7 && t.data[1] == 0)
        .context("no H.264 sequence header tag")?;
    let (length_size, parameter_sets) = avc_config(&config.data[5..])?;
    let mut frames = Vec::new();
    for tag in tags.iter().filter(|t| t.is_video_frame()) {
        let mut out = Vec::with_capacity(tag.data.len() + 64);
        if tag.data[0] >> 4 == 1 {
            for set in &parameter_sets {
                out.extend_from_slice(&START);
                out.extend_from_slice(set);
            }
        }
        let mut nals = tag.data.get(5..).unwrap_or_default();
        while nals.len() >= length_size {
            let len = nals[..length_size]
                .iter()
                .fold(0usize, |n, b| (n << 8) | usize::from(*b));
            let nal = nals
                .get(length_size..length_size + len)
                .context("an FLV video tag with a truncated NAL unit")?;
            out.extend_from_slice(&START);
            out.extend_from_slice(nal);
            nals = &nals[length_size + len..];
        }
        frames.push(Arc::from(out));
    }
    Ok(frames)
}

/// The NAL length size and the parameter sets (SPS, then PPS) of an
/// AVCDecoderConfigurationRecord.
fn avc_config(record: &[u8]) -> anyhow::Result<(usize, Vec<Vec<u8>>)> {
    ensure!(
        record.len() >= 7 && record[0] == 1,
        "not an AVCDecoderConfigurationRecord"
    );
    let length_size = usize::from(record[4] & 3) + 1;
    let mut sets = Vec::new();
    let mut at = 5;
    // SPS count (5 bits), then PPS count (a byte) after the SPSs.
    for mask in [0x1f, 0xff] {
        let count = record.get(at).context("a short decoder configuration")? & mask;
        at += 1;
        for _ in 0..count {
            let len = record
                .get(at..at + 2)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .context("a short decoder configuration")?;
            let set = record
                .get(at + 2..at + 2 + len)
                .context("a short decoder configuration")?;
            sets.push(set.to_vec());
            at += 2 + len;
        }
    }
    Ok((length_size, sets))
}

/// TS packets per SRT payload (1316 bytes, what libsrt's live mode carries).
pub const PACKETS_PER_CHUNK: usize = 7;
const PACKET: usize = 188;

/// One SRT payload of the TS file, due at `due` after the start.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// When it is written, from the stream's start.
    pub due: Duration,
    /// [`PACKETS_PER_CHUNK`] TS packets.
    pub bytes: Vec<u8>,
    /// The decode time (90 kHz) of the video frame whose last packet it holds.
    pub frame_dts: Option<u64>,
}

/// The TS file as 1316-byte payloads, paced as a live encoder sends: each video frame at its
/// decode time (from the first frame's), the audio muxed between frames with the frame before
/// it. (ffmpeg writes a PCR every third frame only: paced by the PCR, three frames would go
/// out at once every 100 ms.) The payload that ends a video frame is padded with null packets
/// and written at once, so a frame's send time is when its last byte went out.
pub fn ts_chunks(path: &Path) -> anyhow::Result<Vec<Chunk>> {
    let data = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    ensure!(data.len() % PACKET == 0, "not a whole number of TS packets");
    let packets: Vec<&[u8]> = data.chunks(PACKET).collect();
    let video = video_pid(&packets)?;
    // Each video frame's decode time, at its first packet and at its last (the packet before
    // the next frame's start, or the stream's last).
    let video_at: Vec<usize> = (0..packets.len())
        .filter(|&i| pid(packets[i]) == video)
        .collect();
    let (mut starts, mut ends) = (vec![None; packets.len()], vec![None; packets.len()]);
    let mut dts = None;
    for (n, &i) in video_at.iter().enumerate() {
        if pusi(packets[i]) {
            dts = pes_dts(payload(packets[i])).or(dts);
            starts[i] = dts;
        }
        if video_at.get(n + 1).is_none_or(|&j| pusi(packets[j])) {
            ends[i] = dts;
        }
    }
    let first = starts
        .iter()
        .flatten()
        .next()
        .copied()
        .context("no video frame")?;
    let null = null_packet();
    let (mut chunks, mut current) = (Vec::new(), Vec::with_capacity(PACKET * 7));
    let mut due = Duration::ZERO;
    for (i, p) in packets.iter().enumerate() {
        if let Some(dts) = starts[i] {
            let ticks = dts.wrapping_sub(first) & ((1 << 33) - 1);
            due = Duration::from_micros(ticks * 100 / 9);
        }
        current.extend_from_slice(p);
        let full = current.len() == PACKET * PACKETS_PER_CHUNK;
        if full || ends[i].is_some() {
            while current.len() < PACKET * PACKETS_PER_CHUNK {
                current.extend_from_slice(&null);
            }
            chunks.push(Chunk {
                due,
                bytes: std::mem::replace(&mut current, Vec::with_capacity(PACKET * 7)),
                frame_dts: ends[i],
            });
        }
    }
    Ok(chunks)
}

fn pid(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[1] & 0x1f, p[2]])
}

fn pusi(p: &[u8]) -> bool {
    p[1] & 0x40 != 0
}

/// The packet's payload (after the adaptation field).
fn payload(p: &[u8]) -> &[u8] {
    let start = match p[3] & 0x30 {
        0x10 => 4,
        0x30 => 5 + p[4] as usize,
        _ => return &[],
    };
    p.get(start..).unwrap_or(&[])
}

/// The DTS (or the PTS when there is no DTS) of a PES header, 90 kHz.
fn pes_dts(pes: &[u8]) -> Option<u64> {
    if pes.len() < 14 || pes[..3] != [0, 0, 1] {
        return None;
    }
    let flags = pes[7] >> 6;
    let at = match flags {
        3 => 14,
        2 => 9,
        _ => return None,
    };
    let t = pes.get(at..at + 5)?;
    Some(
        (u64::from(t[0] & 0x0e) << 29)
            | (u64::from(t[1]) << 22)
            | (u64::from(t[2] & 0xfe) << 14)
            | (u64::from(t[3]) << 7)
            | (u64::from(t[4]) >> 1),
    )
}

fn null_packet() -> [u8; PACKET] {
    let mut p = [0xff; PACKET];
    p[..4].copy_from_slice(&[0x47, 0x1f, 0xff, 0x10]);
    p
}

/// The PID of the H.264 stream, from the PAT and the PMT.
fn video_pid(packets: &[&[u8]]) -> anyhow::Result<u16> {
    let section = |p: &[u8]| -> Option<Vec<u8>> {
        let pl = payload(p);
        let pointer = *pl.first()? as usize;
        pl.get(1 + pointer..).map(<[u8]>::to_vec)
    };
    let pat = packets
        .iter()
        .find(|p| pid(p) == 0 && pusi(p))
        .and_then(|p| section(p))
        .context("no PAT")?;
    // The first program's PMT PID (after the 8-byte header, 4 bytes per program).
    let pmt_pid = pat
        .chunks(4)
        .skip(2)
        .take_while(|c| c.len() == 4)
        .find(|c| u16::from_be_bytes([c[0], c[1]]) != 0)
        .map(|c| u16::from_be_bytes([c[2] & 0x1f, c[3]]))
        .context("no program in the PAT")?;
    let pmt = packets
        .iter()
        .find(|p| pid(p) == pmt_pid && pusi(p))
        .and_then(|p| section(p))
        .context("no PMT")?;
    ensure!(pmt.len() >= 12, "short PMT");
    let end = (3 + (usize::from(u16::from_be_bytes([pmt[1] & 0x0f, pmt[2]])))).min(pmt.len()) - 4;
    let mut at = 12 + usize::from(u16::from_be_bytes([pmt[10] & 0x0f, pmt[11]]));
    while at + 5 <= end {
        let (kind, es) = (
            pmt[at],
            u16::from_be_bytes([pmt[at + 1] & 0x1f, pmt[at + 2]]),
        );
        if kind == 0x1b {
            return Ok(es);
        }
        at += 5 + usize::from(u16::from_be_bytes([pmt[at + 3] & 0x0f, pmt[at + 4]]));
    }
    bail!("no H.264 stream in the PMT")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(data: &[u8]) -> Tag {
        Tag {
            kind: VIDEO,
            ms: 0,
            data: Bytes::copy_from_slice(data),
        }
    }

    #[test]
    fn flv_frames_as_annexb_with_parameter_sets_on_keyframes() {
        // Sequence header: 4-byte lengths, one SPS (67 64), one PPS (68 ee).
        let config = tag(&[
            0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 2, 0x67, 0x64, 1, 0, 2, 0x68, 0xee,
        ]);
        let key = tag(&[0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88]);
        let delta = tag(&[0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41, 0, 0, 0, 1, 0x0c]);
        let frames = annexb_frames(&[config, key, delta]).expect("frames");
        assert_eq!(frames.len(), 2);
        assert_eq!(
            &frames[0][..],
            &[
                0, 0, 0, 1, 0x67, 0x64, 0, 0, 0, 1, 0x68, 0xee, 0, 0, 0, 1, 0x65, 0x88
            ]
        );
        assert_eq!(&frames[1][..], &[0, 0, 0, 1, 0x41, 0, 0, 0, 1, 0x0c]);
    }
}
