//! The multivariant playlist (RFC 8216bis §4.4.6): one `EXT-X-STREAM-INF` per variant, the
//! audio renditions as `EXT-X-MEDIA:TYPE=AUDIO` groups the variants name in `AUDIO=`. Every
//! URI carries the viewer's [`QuerySuffix`].
//!
//! No `EXT-X-INDEPENDENT-SEGMENTS` here: in a multivariant playlist it would promise that every
//! segment of every rendition, to come too, starts with a keyframe, and a group longer than the
//! Target Duration is cut into segments that do not. Each media playlist states it while it
//! holds for its window ([`MediaPlaylist::independent_segments`](super::MediaPlaylist::independent_segments)).

use std::fmt::Write as _;

use super::text::{QuerySuffix, quotable};

/// A presentation's renditions, as the multivariant playlist lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Multivariant {
    /// The variant streams, in order of preference.
    pub variants: Vec<Variant>,
    /// The audio renditions, by group.
    pub audio: Vec<AudioRendition>,
}

/// A variant stream (`EXT-X-STREAM-INF`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// Its media playlist's URI.
    pub uri: String,
    /// Its peak segment bit rate, bits per second (`BANDWIDTH`), with its audio.
    pub bandwidth: u64,
    /// Its average segment bit rate, bits per second (`AVERAGE-BANDWIDTH`).
    pub average_bandwidth: Option<u64>,
    /// Its own formats, RFC 6381 (`avc1.64001f`); the audio group's are added to `CODECS`.
    pub codecs: String,
    /// Its video's size in pixels (`RESOLUTION`).
    pub resolution: Option<Resolution>,
    /// Its video's maximum frame rate (`FRAME-RATE`).
    pub frame_rate: Option<FrameRate>,
    /// The `GROUP-ID` of the audio renditions played with it (`AUDIO`).
    pub audio: Option<String>,
}

/// A video size, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// A frame rate, `num / den` frames per second (30000/1001 for 29.97).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRate {
    /// Numerator.
    pub num: u32,
    /// Denominator, not zero.
    pub den: u32,
}

/// An audio rendition (`EXT-X-MEDIA:TYPE=AUDIO`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioRendition {
    /// Its group (`GROUP-ID`).
    pub group_id: String,
    /// Its name, unique in its group (`NAME`).
    pub name: String,
    /// Its language, RFC 5646 (`LANGUAGE`).
    pub language: Option<String>,
    /// The one a client plays without other preference (`DEFAULT=YES`; implies `AUTOSELECT`).
    pub default: bool,
    /// A client may choose it on its own (`AUTOSELECT=YES`).
    pub autoselect: bool,
    /// Its channel count (`CHANNELS`).
    pub channels: Option<u32>,
    /// Its formats, RFC 6381 (`mp4a.40.2`, `opus`): listed in the `CODECS` of its variants.
    pub codecs: String,
    /// Its media playlist's URI.
    pub uri: String,
}

/// A multivariant playlist that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MultivariantError {
    /// There is no variant.
    #[error("no variant to list")]
    NoVariants,
    /// A string holds a `"` or a control character, which no quoted-string can.
    #[error("{what} {value:?} cannot be a quoted-string")]
    Unquotable {
        /// Which attribute.
        what: &'static str,
        /// Its value.
        value: String,
    },
    /// A variant names an audio group no rendition is in.
    #[error("audio group {0:?} has no rendition")]
    UnknownGroup(String),
    /// Two renditions of a group share a name.
    #[error("audio group {group:?} has two renditions named {name:?}")]
    DuplicateName {
        /// The group.
        group: String,
        /// The name.
        name: String,
    },
    /// Two renditions of a group are both its default.
    #[error("audio group {0:?} has two default renditions")]
    TwoDefaults(String),
    /// A frame rate has a zero denominator.
    #[error("frame rate {num}/0")]
    FrameRate {
        /// Its numerator.
        num: u32,
    },
}

impl Multivariant {
    /// The playlist's text; every URI carries `query`.
    pub fn render(&self, query: &QuerySuffix) -> Result<String, MultivariantError> {
        self.check()?;
        let mut out = String::from("#EXTM3U\n");
        for rendition in &self.audio {
            let _ = write!(
                out,
                "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{}\"",
                rendition.group_id
            );
            if let Some(language) = &rendition.language {
                let _ = write!(out, ",LANGUAGE=\"{language}\"");
            }
            let _ = write!(
                out,
                ",NAME=\"{}\",DEFAULT={},AUTOSELECT={}",
                rendition.name,
                yes(rendition.default),
                yes(rendition.default || rendition.autoselect)
            );
            if let Some(channels) = rendition.channels {
                let _ = write!(out, ",CHANNELS=\"{channels}\"");
            }
            out.push_str(",URI=\"");
            query.write(&mut out, &rendition.uri);
            out.push_str("\"\n");
        }
        for variant in &self.variants {
            let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", variant.bandwidth);
            if let Some(average) = variant.average_bandwidth {
                let _ = write!(out, ",AVERAGE-BANDWIDTH={average}");
            }
            let codecs = self.codecs(variant);
            if !codecs.is_empty() {
                let _ = write!(out, ",CODECS=\"{}\"", codecs.join(","));
            }
            if let Some(Resolution { width, height }) = variant.resolution {
                let _ = write!(out, ",RESOLUTION={width}x{height}");
            }
            if let Some(FrameRate { num, den }) = variant.frame_rate {
                // Rounded to three decimals, halves up; check() refused a zero denominator.
                let millis = (u64::from(num) * 2000 + u64::from(den)) / (u64::from(den.max(1)) * 2);
                let _ = write!(out, ",FRAME-RATE={}.{:03}", millis / 1000, millis % 1000);
            }
            if let Some(group) = &variant.audio {
                let _ = write!(out, ",AUDIO=\"{group}\"");
            }
            out.push('\n');
            query.write(&mut out, &variant.uri);
            out.push('\n');
        }
        Ok(out)
    }

    /// A variant's formats: its own, then its audio group's (§6.2.4: `CODECS` lists every
    /// format of every rendition the variant may play), each once.
    fn codecs<'a>(&'a self, variant: &'a Variant) -> Vec<&'a str> {
        let group = self
            .audio
            .iter()
            .filter(|r| variant.audio.as_deref() == Some(&r.group_id));
        let mut codecs: Vec<&str> = Vec::new();
        for codec in std::iter::once(variant.codecs.as_str())
            .chain(group.map(|r| r.codecs.as_str()))
            .flat_map(|list| list.split(','))
            .map(str::trim)
            .filter(|codec| !codec.is_empty())
        {
            if !codecs.contains(&codec) {
                codecs.push(codec);
            }
        }
        codecs
    }

    fn check(&self) -> Result<(), MultivariantError> {
        let quoted = |what, value: &str| {
            if quotable(value) {
                Ok(())
            } else {
                Err(MultivariantError::Unquotable {
                    what,
                    value: value.to_owned(),
                })
            }
        };
        if self.variants.is_empty() {
            return Err(MultivariantError::NoVariants);
        }
        for (at, rendition) in self.audio.iter().enumerate() {
            quoted("GROUP-ID", &rendition.group_id)?;
            quoted("NAME", &rendition.name)?;
            quoted("LANGUAGE", rendition.language.as_deref().unwrap_or(""))?;
            quoted("CODECS", &rendition.codecs)?;
            for other in &self.audio[..at] {
                if other.group_id != rendition.group_id {
                    continue;
                }
                if other.name == rendition.name {
                    return Err(MultivariantError::DuplicateName {
                        group: rendition.group_id.clone(),
                        name: rendition.name.clone(),
                    });
                }
                if other.default && rendition.default {
                    return Err(MultivariantError::TwoDefaults(rendition.group_id.clone()));
                }
            }
        }
        for variant in &self.variants {
            quoted("CODECS", &variant.codecs)?;
            if let Some(group) = &variant.audio {
                quoted("AUDIO", group)?;
                if !self.audio.iter().any(|r| &r.group_id == group) {
                    return Err(MultivariantError::UnknownGroup(group.clone()));
                }
            }
            if let Some(FrameRate { num, den: 0 }) = variant.frame_rate {
                return Err(MultivariantError::FrameRate { num });
            }
        }
        Ok(())
    }
}

fn yes(flag: bool) -> &'static str {
    if flag { "YES" } else { "NO" }
}
