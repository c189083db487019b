//! A playlist's text read back as a viewer reads it: tags, attribute lists, decimal seconds and
//! dates, without the writer's types. Malformed text is a [`Violation`].

use super::Violation;

/// Microseconds: every duration read.
pub(super) type Micros = u64;

/// One `EXT-X-PART`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Part {
    pub uri: String,
    pub duration: Micros,
    pub independent: bool,
}

/// One Media Segment: its tags, its parts if listed, its `EXTINF` and URI (none for the
/// trailing parts of the segment in progress).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Segment {
    pub uri: String,
    pub duration: Micros,
    pub parts: Vec<Part>,
    pub program_date_time: Option<i64>,
    pub discontinuity: bool,
}

/// A media playlist.
#[derive(Clone, Debug, Default)]
pub(super) struct Media {
    pub version: Option<u64>,
    pub target: Option<u64>,
    pub part_target: Option<Micros>,
    pub part_hold_back: Option<Micros>,
    pub can_skip_until: Option<Micros>,
    pub can_block_reload: bool,
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    pub skipped: u64,
    pub independent_segments: bool,
    pub has_map: bool,
    pub segments: Vec<Segment>,
    /// The parts after the last segment: those of the segment in progress.
    pub trailing: Vec<Part>,
    /// `EXT-X-PRELOAD-HINT:TYPE=PART`'s URI.
    pub hint: Option<String>,
    pub ended: bool,
}

/// One `EXT-X-STREAM-INF` and its URI.
#[derive(Clone, Debug, Default)]
pub(super) struct Variant {
    pub attributes: Vec<(String, String)>,
    pub uri: String,
}

/// A multivariant playlist.
#[derive(Clone, Debug, Default)]
pub(super) struct Multivariant {
    pub independent_segments: bool,
    /// The `EXT-X-MEDIA` tags' attributes.
    pub media: Vec<Vec<(String, String)>>,
    pub variants: Vec<Variant>,
}

/// Either kind.
pub(super) enum Playlist {
    Media(Media),
    Multivariant(Multivariant),
}

fn bad(rule: &'static str, detail: impl Into<String>) -> Violation {
    Violation {
        rule,
        detail: detail.into(),
    }
}

/// Reads `text`: a multivariant playlist if it has `EXT-X-STREAM-INF`, else a media playlist.
pub(super) fn playlist(text: &str) -> Result<Playlist, Violation> {
    let mut lines = text.lines();
    if lines.next() != Some("#EXTM3U") {
        return Err(bad("4.4.1.1 the first line is #EXTM3U", first_line(text)));
    }
    if text.contains(|c: char| c.is_control() && c != '\n' && c != '\r') {
        return Err(bad("4.1 no control characters", "a control character"));
    }
    if text.contains("\n#EXT-X-STREAM-INF:") {
        multivariant(lines).map(Playlist::Multivariant)
    } else {
        media(lines).map(Playlist::Media)
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(80)
        .collect()
}

fn multivariant<'a>(lines: impl Iterator<Item = &'a str>) -> Result<Multivariant, Violation> {
    let mut out = Multivariant::default();
    let mut pending: Option<Vec<(String, String)>> = None;
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let (tag, value) = line.split_once(':').unwrap_or((line, ""));
        match tag {
            "#EXT-X-INDEPENDENT-SEGMENTS" => out.independent_segments = true,
            "#EXT-X-MEDIA" => out.media.push(attributes(value)?),
            "#EXT-X-STREAM-INF" => {
                if pending.is_some() {
                    return Err(bad("4.4.6.2 a URI follows EXT-X-STREAM-INF", line));
                }
                pending = Some(attributes(value)?);
            }
            _ if line.starts_with('#') => {}
            uri => {
                let attributes = pending
                    .take()
                    .ok_or_else(|| bad("4.4.6.2 a URI follows EXT-X-STREAM-INF", uri))?;
                out.variants.push(Variant {
                    attributes,
                    uri: uri.to_owned(),
                });
            }
        }
    }
    if pending.is_some() {
        return Err(bad("4.4.6.2 a URI follows EXT-X-STREAM-INF", "the end"));
    }
    Ok(out)
}

fn media<'a>(lines: impl Iterator<Item = &'a str>) -> Result<Media, Violation> {
    let mut out = Media::default();
    let mut current = Segment::default();
    let mut extinf: Option<Micros> = None;
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let (tag, value) = line.split_once(':').unwrap_or((line, ""));
        match tag {
            "#EXT-X-VERSION" => out.version = Some(integer(value, "EXT-X-VERSION")?),
            "#EXT-X-TARGETDURATION" => {
                out.target = Some(integer(value, "EXT-X-TARGETDURATION")?);
            }
            "#EXT-X-INDEPENDENT-SEGMENTS" => out.independent_segments = true,
            "#EXT-X-SERVER-CONTROL" => {
                let list = attributes(value)?;
                out.can_block_reload = attribute(&list, "CAN-BLOCK-RELOAD") == Some("YES");
                out.part_hold_back = attribute(&list, "PART-HOLD-BACK")
                    .map(|v| seconds(v, "PART-HOLD-BACK"))
                    .transpose()?;
                out.can_skip_until = attribute(&list, "CAN-SKIP-UNTIL")
                    .map(|v| seconds(v, "CAN-SKIP-UNTIL"))
                    .transpose()?;
            }
            "#EXT-X-PART-INF" => {
                let list = attributes(value)?;
                let target = attribute(&list, "PART-TARGET")
                    .ok_or_else(|| bad("4.4.3.7 PART-TARGET is required", line))?;
                out.part_target = Some(seconds(target, "PART-TARGET")?);
            }
            "#EXT-X-MEDIA-SEQUENCE" => {
                out.media_sequence = integer(value, "EXT-X-MEDIA-SEQUENCE")?;
            }
            "#EXT-X-DISCONTINUITY-SEQUENCE" => {
                out.discontinuity_sequence = integer(value, "EXT-X-DISCONTINUITY-SEQUENCE")?;
            }
            "#EXT-X-SKIP" => {
                let list = attributes(value)?;
                let n = attribute(&list, "SKIPPED-SEGMENTS")
                    .ok_or_else(|| bad("4.4.5.2 SKIPPED-SEGMENTS is required", line))?;
                out.skipped = integer(n, "SKIPPED-SEGMENTS")?;
            }
            "#EXT-X-MAP" => out.has_map = true,
            "#EXT-X-DISCONTINUITY" => current.discontinuity = true,
            "#EXT-X-PROGRAM-DATE-TIME" => current.program_date_time = Some(date_time(value)?),
            "#EXT-X-PART" => {
                let list = attributes(value)?;
                let (Some(uri), Some(duration)) =
                    (attribute(&list, "URI"), attribute(&list, "DURATION"))
                else {
                    return Err(bad("4.4.4.9 URI and DURATION are required", line));
                };
                current.parts.push(Part {
                    uri: without_query(uri).to_owned(),
                    duration: seconds(duration, "EXT-X-PART DURATION")?,
                    independent: attribute(&list, "INDEPENDENT") == Some("YES"),
                });
            }
            "#EXTINF" => {
                let duration = value.split(',').next().unwrap_or_default();
                extinf = Some(seconds(duration, "EXTINF")?);
            }
            "#EXT-X-PRELOAD-HINT" => {
                let list = attributes(value)?;
                if attribute(&list, "TYPE") == Some("PART") {
                    if out.hint.is_some() {
                        return Err(bad("4.4.5.3 one preload hint of a type", line));
                    }
                    let uri = attribute(&list, "URI")
                        .ok_or_else(|| bad("4.4.5.3 URI is required", line))?;
                    out.hint = Some(without_query(uri).to_owned());
                }
            }
            "#EXT-X-ENDLIST" => out.ended = true,
            _ if line.starts_with('#') => {}
            uri => {
                current.duration = extinf
                    .take()
                    .ok_or_else(|| bad("4.4.4.1 EXTINF precedes every segment's URI", uri))?;
                current.uri = without_query(uri).to_owned();
                out.segments.push(std::mem::take(&mut current));
            }
        }
    }
    out.trailing = current.parts;
    Ok(out)
}

/// A URI without its query: a viewer's token and other parameters ride on every URI.
pub(super) fn without_query(uri: &str) -> &str {
    uri.split(['?', '#']).next().unwrap_or(uri)
}

/// An attribute-list (§4.2), quotes removed.
pub(super) fn attributes(list: &str) -> Result<Vec<(String, String)>, Violation> {
    let mut out = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        let (name, value) = rest
            .split_once('=')
            .ok_or_else(|| bad("4.2 an attribute is NAME=VALUE", list))?;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad("4.2 attribute names are A-Z, 0-9 and -", list));
        }
        let (value, next) = match value.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted
                    .find('"')
                    .ok_or_else(|| bad("4.2 a quoted-string ends with a quote", list))?;
                let next = &quoted[end + 1..];
                if !next.is_empty() && !next.starts_with(',') {
                    return Err(bad("4.2 attributes are separated by commas", list));
                }
                (&quoted[..end], next.strip_prefix(',').unwrap_or(""))
            }
            None => value.split_once(',').unwrap_or((value, "")),
        };
        if out.iter().any(|(n, _)| n == name) {
            return Err(bad("4.2 an attribute appears once", list));
        }
        out.push((name.to_owned(), value.to_owned()));
        rest = next;
    }
    Ok(out)
}

/// Attribute `name`'s value.
pub(super) fn attribute<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn integer(text: &str, what: &'static str) -> Result<u64, Violation> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("4.2 a decimal-integer", format!("{what}: {text:?}")));
    }
    text.parse()
        .map_err(|_| bad("4.2 a decimal-integer", format!("{what}: {text:?}")))
}

/// A decimal-floating-point number of seconds, in microseconds (rounded down).
pub(super) fn seconds(text: &str, what: &'static str) -> Result<Micros, Violation> {
    let fail = || bad("4.2 a decimal-floating-point", format!("{what}: {text:?}"));
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail());
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail());
    }
    let micros: String = fraction.chars().chain("000000".chars()).take(6).collect();
    let whole: u64 = whole.parse().map_err(|_| fail())?;
    let micros: u64 = micros.parse().map_err(|_| fail())?;
    whole
        .checked_mul(1_000_000)
        .and_then(|w| w.checked_add(micros))
        .ok_or_else(fail)
}

/// An ISO 8601 date-time with a time zone (§4.4.4.6), in Unix milliseconds.
pub(super) fn date_time(text: &str) -> Result<i64, Violation> {
    let fail = || bad("4.4.4.6 an ISO 8601 date-time with a time zone", text);
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(fail());
    }
    let number = |range: std::ops::Range<usize>| -> Result<i64, Violation> {
        let part = text.get(range).ok_or_else(fail)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(fail());
        }
        part.parse().map_err(|_| fail())
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return Err(fail());
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(fail());
        }
        let padded: String = fraction[..digits]
            .chars()
            .chain("000".chars())
            .take(3)
            .collect();
        millis = padded.parse::<i64>().map_err(|_| fail())?;
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let field = |range| {
                rest.get(range)
                    .filter(|f: &&str| f.bytes().all(|c| c.is_ascii_digit()))
                    .and_then(|f| f.parse::<i64>().ok())
                    .ok_or_else(fail)
            };
            let (hours, minutes) = (field(1..3)?, field(4..6)?);
            sign * (hours * 60 + minutes) * 60_000
        }
        _ => return Err(fail()),
    };
    let days = days_from_civil(year, month, day);
    Ok(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis - offset)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
