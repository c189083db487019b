//! The LL-HLS core checked: playlists written by hand from the spec's examples ([`golden`]),
//! decisions and refusals case by case ([`units`]), and properties over hundreds of random
//! windows ([`props`], checked against what was pushed in [`oracle`]). This module reads
//! playlists back, independently of the writer.

mod golden;
mod oracle;
mod props;
mod units;

use super::*;

/// URIs as a packager might name them; with `own_query`, they carry a query of their own.
pub(super) struct Names {
    pub own_query: bool,
}

impl Names {
    fn name(&self, name: String) -> String {
        if self.own_query { name + "?v=1" } else { name }
    }
}

impl Uris for Names {
    fn segment(&self, msn: u64) -> String {
        self.name(format!("seg{msn}.m4s"))
    }
    fn part(&self, msn: u64, index: u32) -> String {
        self.name(format!("seg{msn}.{index}.m4s"))
    }
    fn init(&self, init: u64) -> String {
        self.name(format!("init{init}.mp4"))
    }
}

/// A decimal-floating-point in units of 10 µs (the writer's five decimals).
pub(super) fn units(decimal: &str) -> u128 {
    let (whole, fraction) = decimal.split_once('.').unwrap_or((decimal, ""));
    let fraction = format!("{fraction:0<5}");
    whole.parse::<u128>().expect("whole seconds") * 100_000
        + fraction[..5].parse::<u128>().expect("fraction")
}

/// An attribute-list, quotes removed.
pub(super) fn attributes(list: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        let (name, value) = rest.split_once('=').expect("name=value");
        let (value, next) = match value.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"').expect("closing quote");
                (
                    &quoted[..end],
                    quoted[end + 1..].strip_prefix(',').unwrap_or(""),
                )
            }
            None => value.split_once(',').unwrap_or((value, "")),
        };
        out.push((name.to_owned(), value.to_owned()));
        rest = next;
    }
    out
}

pub(super) fn attribute<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A part as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ReadPart {
    pub uri: String,
    pub duration: u128,
    pub independent: bool,
}

/// A segment as read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ReadSegment {
    pub uri: String,
    pub duration: u128,
    pub parts: Vec<ReadPart>,
    pub discontinuity: bool,
    pub map: Option<String>,
}

/// A media playlist's text, read back.
#[derive(Debug, Default)]
pub(super) struct Read {
    pub version: u64,
    pub target: u64,
    pub part_target: u128,
    pub part_hold_back: u128,
    pub can_skip_until: u128,
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    pub skipped: Option<u64>,
    pub segments: Vec<ReadSegment>,
    /// The parts after the last segment: the segment in progress.
    pub trailing: ReadSegment,
    pub hint: Option<String>,
    /// `EXT-X-INDEPENDENT-SEGMENTS`.
    pub independent_segments: bool,
    pub reports: Vec<Vec<(String, String)>>,
    pub uris: Vec<String>,
    pub ended: bool,
}

pub(super) fn read(text: &str) -> Read {
    let mut read = Read::default();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("#EXTM3U"));
    let mut current = ReadSegment::default();
    let mut extinf = None;
    for line in lines {
        let (tag, value) = line.split_once(':').unwrap_or((line, ""));
        let list = || attributes(value);
        match tag {
            "#EXT-X-VERSION" => read.version = value.parse().unwrap(),
            "#EXT-X-TARGETDURATION" => read.target = value.parse().unwrap(),
            "#EXT-X-INDEPENDENT-SEGMENTS" => read.independent_segments = true,
            "#EXT-X-SERVER-CONTROL" => {
                let list = list();
                assert_eq!(attribute(&list, "CAN-BLOCK-RELOAD"), Some("YES"));
                read.part_hold_back = units(attribute(&list, "PART-HOLD-BACK").unwrap());
                read.can_skip_until = units(attribute(&list, "CAN-SKIP-UNTIL").unwrap());
            }
            "#EXT-X-PART-INF" => {
                read.part_target = units(attribute(&list(), "PART-TARGET").unwrap())
            }
            "#EXT-X-MEDIA-SEQUENCE" => read.media_sequence = value.parse().unwrap(),
            "#EXT-X-DISCONTINUITY-SEQUENCE" => read.discontinuity_sequence = value.parse().unwrap(),
            "#EXT-X-SKIP" => {
                read.skipped = Some(
                    attribute(&list(), "SKIPPED-SEGMENTS")
                        .unwrap()
                        .parse()
                        .unwrap(),
                )
            }
            "#EXT-X-DISCONTINUITY" => current.discontinuity = true,
            "#EXT-X-MAP" => {
                let uri = attribute(&list(), "URI").unwrap().to_owned();
                read.uris.push(uri.clone());
                current.map = Some(uri);
            }
            "#EXT-X-PROGRAM-DATE-TIME" => {
                assert!(value.ends_with('Z') && value.len() == 24, "{value}")
            }
            "#EXT-X-PART" => {
                let list = list();
                let uri = attribute(&list, "URI").unwrap().to_owned();
                read.uris.push(uri.clone());
                current.parts.push(ReadPart {
                    uri,
                    duration: units(attribute(&list, "DURATION").unwrap()),
                    independent: match attribute(&list, "INDEPENDENT") {
                        None => false,
                        Some("YES") => true,
                        Some(other) => panic!("INDEPENDENT={other}"),
                    },
                });
            }
            "#EXTINF" => extinf = Some(units(value.strip_suffix(',').unwrap())),
            "#EXT-X-PRELOAD-HINT" => {
                let list = list();
                assert_eq!(attribute(&list, "TYPE"), Some("PART"));
                let uri = attribute(&list, "URI").unwrap().to_owned();
                read.uris.push(uri.clone());
                read.hint = Some(uri);
            }
            "#EXT-X-RENDITION-REPORT" => {
                let list = list();
                read.uris.push(attribute(&list, "URI").unwrap().to_owned());
                read.reports.push(list);
            }
            "#EXT-X-ENDLIST" => read.ended = true,
            _ if !line.starts_with('#') => {
                current.uri = line.to_owned();
                current.duration = extinf.take().expect("EXTINF before the URI");
                read.uris.push(line.to_owned());
                read.segments.push(std::mem::take(&mut current));
            }
            _ => panic!("unexpected line {line:?}"),
        }
    }
    read.trailing = current;
    read
}

/// The Media Sequence Number and Part Index in a part URI that [`Names`] made.
pub(super) fn part_of(uri: &str) -> (u64, u32) {
    let name = uri.strip_prefix("seg").unwrap();
    let name = &name[..name.find(".m4s").unwrap()];
    let (msn, index) = name.split_once('.').unwrap();
    (msn.parse().unwrap(), index.parse().unwrap())
}

/// The Media Sequence Number in a segment URI that [`Names`] made.
pub(super) fn segment_of(uri: &str) -> u64 {
    let name = uri.strip_prefix("seg").unwrap();
    name[..name.find(".m4s").unwrap()].parse().unwrap()
}
