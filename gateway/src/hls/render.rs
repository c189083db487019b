//! The text of a media playlist (RFC 8216bis §4.4, the LL-HLS tags of §4.4.3.7, §4.4.3.8,
//! §4.4.4.9 and §4.4.5), in full or as a Playlist Delta Update (§6.2.5.1).

use std::fmt::Write as _;

use super::playlist::{MediaPlaylist, Segment};
use super::reload::Skip;
use super::text::{QuerySuffix, Uris, write_date_time, write_millis, write_seconds};

/// The most segments of a playlist that list their parts (the trailing parts and preload hint
/// counting as one).
const PARTS_SEGMENTS: usize = 3;

/// Another rendition of the same presentation, as `EXT-X-RENDITION-REPORT` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenditionReport {
    /// Its media playlist's URI, relative to this playlist's.
    pub uri: String,
    /// The Media Sequence Number of its last part (`LAST-MSN`).
    pub last_msn: u64,
    /// The Part Index of that part (`LAST-PART`); None if it has no parts.
    pub last_part: Option<u32>,
}

impl RenditionReport {
    /// The report of `playlist` under `uri`: None while it has no part.
    pub fn of(playlist: &MediaPlaylist, uri: impl Into<String>) -> Option<Self> {
        let (last_msn, last_part) = playlist.last_part()?;
        Some(Self {
            uri: uri.into(),
            last_msn,
            last_part: Some(last_part),
        })
    }
}

/// What one request asks of the text.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions<'a> {
    /// `_HLS_skip`: a Playlist Delta Update, when the window has segments to skip.
    pub skip: Option<Skip>,
    /// The other renditions' reports.
    pub reports: &'a [RenditionReport],
    /// Appended to every URI written.
    pub query: &'a QuerySuffix,
}

impl MediaPlaylist {
    /// How many segments a Playlist Delta Update skips: those further than the Skip Boundary
    /// (`CAN-SKIP-UNTIL`, six Target Durations) from the end of the last complete segment,
    /// counting from a segment's end. What remains thus spans more than the Skip Boundary.
    /// Zero once the playlist has ended (§6.2.5.1: `_HLS_skip` is then ignored).
    pub fn skippable(&self) -> usize {
        if self.is_ended() {
            return 0;
        }
        let config = self.config();
        let boundary = u128::from(config.target_duration) * 6 * u128::from(config.timescale);
        let mut after: u128 = self.segments().map(|s| u128::from(s.duration)).sum();
        let mut skipped = 0;
        for segment in self.segments() {
            after -= u128::from(segment.duration);
            if after <= boundary {
                break;
            }
            skipped += 1;
        }
        skipped
    }

    /// Whether every segment of the window, complete or in progress, starts with an
    /// independent part (a keyframe; any audio): then the text says so with
    /// `EXT-X-INDEPENDENT-SEGMENTS` (§4.4.2.1). A segment cut from a group longer than the
    /// Target Duration does not, nor does the playlist while such a segment is in its window.
    /// False while the window is empty: nothing is stated about segments to come.
    pub fn independent_segments(&self) -> bool {
        let mut segments = self
            .segments()
            .chain(self.in_progress())
            .filter(|segment| !segment.parts.is_empty())
            .peekable();
        segments.peek().is_some()
            && segments.all(|segment| segment.parts.first().is_some_and(|part| part.independent))
    }

    /// The playlist's text. Every URI comes from `uris` and carries `options.query`.
    ///
    /// `EXT-X-VERSION` is the least the tags need: 6 for `EXT-X-MAP`, 9 with `EXT-X-SKIP`, 10
    /// when `_HLS_skip=v2` asked to skip date ranges too. An `EXT-X-MAP` precedes the first
    /// segment written (after an `EXT-X-SKIP` too, so a delta update names the init section in
    /// effect) and every change of init section. `EXT-X-DISCONTINUITY-SEQUENCE` is written once
    /// a discontinuity has left the window. `EXT-X-INDEPENDENT-SEGMENTS` is written while
    /// [`independent_segments`](Self::independent_segments) holds.
    pub fn render(&self, uris: &dyn Uris, options: &RenderOptions<'_>) -> String {
        let config = self.config();
        let skipped = options.skip.map_or(0, |_| self.skippable());
        let open = self.in_progress().filter(|open| !open.parts.is_empty());
        let version = match options.skip {
            _ if skipped == 0 => {
                if self.last_msn().is_some() || open.is_some() {
                    6
                } else {
                    3
                }
            }
            // An EXT-X-SKIP that may replace EXT-X-DATERANGE tags (there are none here).
            Some(Skip::V2) => 10,
            _ => 9,
        };

        let mut w = Writer {
            out: String::with_capacity(4096),
            uris,
            query: options.query,
            init: None,
        };
        let out = &mut w.out;
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:{}\n",
            config.target_duration
        );
        if self.independent_segments() {
            out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        }
        out.push_str("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=");
        write_millis(out, u64::from(config.part_target_ms) * 3);
        out.push_str(",CAN-SKIP-UNTIL=");
        write_millis(out, u64::from(config.target_duration) * 6000);
        out.push_str("\n#EXT-X-PART-INF:PART-TARGET=");
        write_millis(out, u64::from(config.part_target_ms));
        let _ = writeln!(out, "\n#EXT-X-MEDIA-SEQUENCE:{}", self.first_msn());
        if self.discontinuity_sequence() > 0 {
            let _ = writeln!(
                out,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence()
            );
        }
        if skipped > 0 {
            let _ = write!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
            if options.skip == Some(Skip::V2) {
                out.push_str(",RECENTLY-REMOVED-DATERANGES=\"\"");
            }
            out.push('\n');
        }

        // Parts are listed for the segments that start within three Target Durations of the
        // end of the last part (§6.2.2), the segment in progress always; and, as players and
        // validators count it (hls-parser's strict mode), for the last three segments of the
        // playlist at most, the trailing parts and preload hint counting as one: where segments
        // are shorter than the target, the time rule alone keeps more than they accept.
        let timescale = u128::from(config.timescale);
        let complete: u128 = self.segments().map(|s| u128::from(s.duration)).sum();
        let end = complete + open.map_or(0, |open| u128::from(open.duration));
        let parts_from = end.saturating_sub(u128::from(config.target_duration) * 3 * timescale);
        let trailing = usize::from(open.is_some() || self.preload_hint().is_some());
        let count = self.segments().count();
        let parts_from_index = count.saturating_sub(PARTS_SEGMENTS.saturating_sub(trailing));
        let mut start = 0u128;
        for (at, segment) in self.segments().enumerate() {
            let listed = start >= parts_from && at >= parts_from_index;
            start += u128::from(segment.duration);
            if at < skipped {
                continue;
            }
            w.segment(segment, listed, config.timescale);
            w.out.push_str("#EXTINF:");
            write_seconds(&mut w.out, segment.duration, config.timescale);
            w.out.push_str(",\n");
            w.uri(&uris.segment(segment.msn));
            w.out.push('\n');
        }
        if let Some(open) = open {
            w.segment(open, true, config.timescale);
        }

        if let Some((msn, index)) = self.preload_hint() {
            w.out.push_str("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"");
            w.uri(&uris.part(msn, index));
            w.out.push_str("\"\n");
        }
        for report in options.reports {
            w.out.push_str("#EXT-X-RENDITION-REPORT:URI=\"");
            w.uri(&report.uri);
            let _ = write!(w.out, "\",LAST-MSN={}", report.last_msn);
            if let Some(part) = report.last_part {
                let _ = write!(w.out, ",LAST-PART={part}");
            }
            w.out.push('\n');
        }
        if self.is_ended() {
            w.out.push_str("#EXT-X-ENDLIST\n");
        }
        w.out
    }
}

/// The text being written, and the init section in effect.
struct Writer<'a> {
    out: String,
    uris: &'a dyn Uris,
    query: &'a QuerySuffix,
    init: Option<u64>,
}

impl Writer<'_> {
    fn uri(&mut self, uri: &str) {
        self.query.write(&mut self.out, uri);
    }

    /// A segment's tags, then its parts if `listed`. An `EXT-X-MAP` is written for the first
    /// segment written (after an `EXT-X-SKIP` too) and wherever the init section changes.
    fn segment(&mut self, segment: &Segment, listed: bool, timescale: u32) {
        let start = &segment.start;
        if start.discontinuity {
            self.out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if self.init != Some(start.init) {
            self.init = Some(start.init);
            self.out.push_str("#EXT-X-MAP:URI=\"");
            self.uri(&self.uris.init(start.init));
            self.out.push_str("\"\n");
        }
        if let Some(ms) = start.program_date_time {
            self.out.push_str("#EXT-X-PROGRAM-DATE-TIME:");
            write_date_time(&mut self.out, ms);
            self.out.push('\n');
        }
        if !listed {
            return;
        }
        for (index, part) in segment.parts.iter().enumerate() {
            self.out.push_str("#EXT-X-PART:DURATION=");
            write_seconds(&mut self.out, part.duration, timescale);
            self.out.push_str(",URI=\"");
            // MAX_PARTS keeps the index far below u32::MAX.
            self.uri(&self.uris.part(segment.msn, index as u32));
            self.out.push('"');
            if part.independent {
                self.out.push_str(",INDEPENDENT=YES");
            }
            self.out.push('\n');
        }
    }
}
