//! What a WHEP viewer is sent: the renditions of the broadcast's catalog its offer can take
//! (one video codec, a ladder from the highest bit rate down; the Opus track), and the rung of
//! the ladder its bandwidth estimate affords. Pure.

use std::time::{Duration, Instant};

use crate::hls::catalog::Rendition;

/// A video codec both sides may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoCodec {
    /// H.264 (packetization-mode 1).
    H264,
    /// VP8.
    Vp8,
}

impl VideoCodec {
    /// The codec of a catalog's RFC 6381 codec string, if WebRTC carries it.
    pub fn of(codec: &str) -> Option<Self> {
        let c = codec.to_ascii_lowercase();
        if c.starts_with("avc1") || c.starts_with("avc3") {
            Some(Self::H264)
        } else if c == "vp8" || c.starts_with("vp08") {
            Some(Self::Vp8)
        } else {
            None
        }
    }
}

/// What an SDP offer can receive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Offered {
    /// It has a video section taking H.264 with packetization-mode 1.
    pub h264: bool,
    /// It has a video section taking VP8.
    pub vp8: bool,
    /// It has an audio section taking Opus.
    pub opus: bool,
    /// It has a video section at all.
    pub video: bool,
    /// It has an audio section at all.
    pub audio: bool,
}

/// Read an offer for the codecs it receives.
pub fn offered(sdp: &str) -> Offered {
    let mut o = Offered::default();
    let mut section = "";
    let mut h264_pts = Vec::new();
    for line in sdp.lines() {
        let line = line.trim_end();
        if let Some(m) = line.strip_prefix("m=") {
            section = m.split_whitespace().next().unwrap_or("");
            match section {
                "video" => o.video = true,
                "audio" => o.audio = true,
                _ => {}
            }
            continue;
        }
        let Some(rtpmap) = line.strip_prefix("a=rtpmap:") else {
            if let Some(fmtp) = line.strip_prefix("a=fmtp:") {
                let (pt, params) = fmtp.split_once(' ').unwrap_or((fmtp, ""));
                if h264_pts.contains(&pt.to_owned())
                    && params
                        .split(';')
                        .any(|p| p.trim() == "packetization-mode=1")
                {
                    o.h264 = true;
                }
            }
            continue;
        };
        let (pt, name) = rtpmap.split_once(' ').unwrap_or((rtpmap, ""));
        let name = name.split('/').next().unwrap_or("").to_ascii_lowercase();
        match (section, name.as_str()) {
            ("video", "h264") => h264_pts.push(pt.to_owned()),
            ("video", "vp8") => o.vp8 = true,
            ("audio", "opus") => o.opus = true,
            _ => {}
        }
    }
    o
}

/// The renditions chosen for a viewer.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The video codec, when video is sent.
    pub codec: Option<VideoCodec>,
    /// The video renditions of that codec, highest bit rate first.
    pub ladder: Vec<Rendition>,
    /// The Opus track.
    pub audio: Option<Rendition>,
    /// Why no audio is sent, when none is.
    pub no_audio: Option<String>,
}

/// The renditions of `catalog` that `offer` can take; an error says why none can be sent.
pub fn plan(catalog: &[Rendition], offer: &Offered) -> Result<Plan, String> {
    let videos: Vec<&Rendition> = catalog.iter().filter(|r| r.video).collect();
    let takes = |c: VideoCodec| match c {
        VideoCodec::H264 => offer.h264,
        VideoCodec::Vp8 => offer.vp8,
    };
    let mut codec = None;
    for c in [VideoCodec::H264, VideoCodec::Vp8] {
        if takes(c) && videos.iter().any(|r| VideoCodec::of(&r.codec) == Some(c)) {
            codec = Some(c);
            break;
        }
    }
    let mut ladder: Vec<Rendition> = videos
        .iter()
        .filter(|r| codec.is_some() && VideoCodec::of(&r.codec) == codec)
        .map(|r| (*r).clone())
        .collect();
    ladder.sort_by_key(|r| std::cmp::Reverse(bitrate(r)));
    let opus = catalog
        .iter()
        .find(|r| !r.video && r.codec.eq_ignore_ascii_case("opus"));
    let (audio, no_audio) = match (opus, offer.audio, offer.opus) {
        (_, false, _) => (None, Some("the offer has no audio section".to_owned())),
        (_, true, false) => (None, Some("the offer does not take Opus".to_owned())),
        (None, true, true) => {
            let has_audio = catalog.iter().any(|r| !r.video);
            let why = if has_audio {
                "the broadcast has no Opus track (WebRTC carries Opus; enable the ingest's \
                 Opus transcode)"
            } else {
                "the broadcast has no audio"
            };
            (None, Some(why.to_owned()))
        }
        (Some(r), true, true) => (Some(r.clone()), None),
    };
    if ladder.is_empty() && audio.is_none() {
        let codecs: Vec<&str> = videos.iter().map(|r| r.codec.as_str()).collect();
        return Err(if videos.is_empty() {
            format!(
                "nothing to send: {}",
                no_audio.unwrap_or_else(|| "no track".into())
            )
        } else if !offer.video {
            "the offer has no video section and the broadcast no Opus audio".to_owned()
        } else {
            format!(
                "the offer takes neither H.264 (packetization-mode 1) nor VP8 in a form the \
                 broadcast has (its video: {})",
                codecs.join(", ")
            )
        });
    }
    Ok(Plan {
        codec: if ladder.is_empty() { None } else { codec },
        ladder,
        audio,
        no_audio,
    })
}

/// A rendition's bit rate (bits per second): the catalog's, else a guess from its size.
pub fn bitrate(r: &Rendition) -> u64 {
    r.bitrate.unwrap_or_else(|| {
        let pixels = r
            .resolution
            .map_or(640 * 360, |s| u64::from(s.width) * u64::from(s.height));
        // About 0.1 bit per pixel at 30 fps.
        pixels * 3
    })
}

/// The headroom kept below the bandwidth estimate.
const HEADROOM: f64 = 0.85;
/// How long the estimate must afford a higher rung before the viewer moves up.
pub const UP_AFTER: Duration = Duration::from_secs(4);

/// Which rung of a ladder (highest bit rate first) a viewer should be on.
#[derive(Debug, Clone)]
pub struct Rungs {
    bitrates: Vec<u64>,
    /// Since when the estimate has afforded a rung above the current one.
    up_since: Option<Instant>,
}

impl Rungs {
    /// A ladder with these bit rates, highest first.
    pub fn new(bitrates: Vec<u64>) -> Self {
        Self {
            bitrates,
            up_since: None,
        }
    }

    /// The highest rung `estimate` (bits per second) affords with headroom; the lowest when
    /// none does.
    pub fn affords(&self, estimate: u64) -> usize {
        let budget = estimate as f64 * HEADROOM;
        self.bitrates
            .iter()
            .position(|b| *b as f64 <= budget)
            .unwrap_or(self.bitrates.len().saturating_sub(1))
    }

    /// The rung to be on, from `current`, given the estimate at `now`: down at once, up only
    /// after the estimate has afforded it for [`UP_AFTER`].
    pub fn decide(&mut self, current: usize, estimate: u64, now: Instant) -> usize {
        let want = self.affords(estimate);
        if want > current {
            self.up_since = None;
            return want;
        }
        if want == current {
            self.up_since = None;
            return current;
        }
        let since = *self.up_since.get_or_insert(now);
        if now.duration_since(since) >= UP_AFTER {
            self.up_since = None;
            want
        } else {
            current
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::hls::multivariant::Resolution;

    fn r(name: &str, video: bool, codec: &str, bitrate: Option<u64>) -> Rendition {
        Rendition {
            name: name.into(),
            video,
            codec: codec.into(),
            timescale: 90_000,
            init: Bytes::new(),
            bitrate,
            resolution: video.then_some(Resolution {
                width: 1280,
                height: 720,
            }),
            frame_rate_milli: None,
            channels: None,
        }
    }

    const CHROME: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n\
        a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n";

    #[test]
    fn an_offer_says_what_it_takes() {
        let o = offered(CHROME);
        assert_eq!(
            o,
            Offered {
                h264: true,
                vp8: true,
                opus: true,
                video: true,
                audio: true
            }
        );
        let no_pm1 = CHROME.replace("packetization-mode=1", "packetization-mode=0");
        assert!(!offered(&no_pm1).h264);
        assert_eq!(offered("garbage"), Offered::default());
    }

    #[test]
    fn the_ladder_is_one_codec_highest_first_with_the_opus_track() {
        let catalog = [
            r("video-360p", true, "avc1.42c01e", Some(800_000)),
            r("video", true, "avc1.640028", Some(3_000_000)),
            r("audio", false, "mp4a.40.2", None),
            r("audio-opus", false, "opus", None),
            r("video-540p", true, "avc1.42c01f", Some(1_500_000)),
        ];
        let p = plan(&catalog, &offered(CHROME)).unwrap();
        assert_eq!(p.codec, Some(VideoCodec::H264));
        let names: Vec<&str> = p.ladder.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["video", "video-540p", "video-360p"]);
        assert_eq!(p.audio.map(|a| a.name), Some("audio-opus".into()));
        assert_eq!(p.no_audio, None);
    }

    #[test]
    fn without_opus_audio_is_left_out_with_the_reason() {
        let catalog = [
            r("video", true, "vp8", Some(1_000_000)),
            r("audio", false, "mp4a.40.2", None),
        ];
        let p = plan(&catalog, &offered(CHROME)).unwrap();
        assert_eq!(p.codec, Some(VideoCodec::Vp8));
        assert!(p.audio.is_none());
        assert!(p.no_audio.unwrap().contains("no Opus track"));
    }

    #[test]
    fn nothing_sendable_is_an_error_naming_the_codecs() {
        let catalog = [r("video", true, "hvc1.1.6.L93.B0", None)];
        let e = plan(&catalog, &offered(CHROME)).unwrap_err();
        assert!(e.contains("hvc1.1.6.L93.B0"), "{e}");
    }

    #[test]
    fn rungs_go_down_at_once_and_up_after_a_while() {
        let mut rungs = Rungs::new(vec![3_000_000, 1_500_000, 800_000]);
        let t0 = Instant::now();
        assert_eq!(rungs.affords(10_000_000), 0);
        assert_eq!(rungs.affords(2_000_000), 1);
        assert_eq!(rungs.affords(100_000), 2);
        assert_eq!(rungs.decide(0, 1_000_000, t0), 2, "down at once");
        assert_eq!(rungs.decide(2, 5_000_000, t0), 2, "not up at once");
        assert_eq!(rungs.decide(2, 5_000_000, t0 + UP_AFTER / 2), 2);
        assert_eq!(
            rungs.decide(2, 5_000_000, t0 + UP_AFTER),
            0,
            "up after a while"
        );
        assert_eq!(rungs.decide(0, 5_000_000, t0 + UP_AFTER), 0);
        // A dip resets the wait.
        assert_eq!(rungs.decide(2, 5_000_000, t0), 2);
        assert_eq!(rungs.decide(2, 500_000, t0 + UP_AFTER / 2), 2);
        assert_eq!(rungs.decide(2, 5_000_000, t0 + UP_AFTER), 2);
    }
}
