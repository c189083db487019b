//! The text primitives of a playlist: decimal seconds, ISO 8601 dates, and URIs with the
//! viewer's query suffix.

use std::fmt::Write as _;

/// Where the segments, parts and init sections of one rendition live. The writer never builds
/// a path: it asks here, then appends the viewer's [`QuerySuffix`].
pub trait Uris {
    /// The URI of the Media Segment with Media Sequence Number `msn`.
    fn segment(&self, msn: u64) -> String;
    /// The URI of the Partial Segment with Part Index `index` (from 0) of segment `msn`.
    fn part(&self, msn: u64, index: u32) -> String;
    /// The URI of the Media Initialization Section (`EXT-X-MAP`) numbered `init`.
    fn init(&self, init: u64) -> String;
}

/// A query carried on every URI a playlist names, such as a viewer's token (`token=…`): the
/// viewer's credentials ride along to every playlist, segment, part and init section it fetches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuerySuffix(String);

/// A query suffix that cannot ride in a playlist: it holds the character named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query suffix: {0:?} is not allowed (printable ASCII only, without spaces, '\"' or '#')")]
pub struct BadQuerySuffix(pub char);

impl QuerySuffix {
    /// No query: URIs are written as the [`Uris`] give them.
    pub fn none() -> Self {
        Self::default()
    }

    /// A query such as `token=abc` (a leading `?` or `&` is dropped). Printable ASCII only, and
    /// neither `"` (it would end the quoted-string), `#` (it would start a fragment) nor a space.
    pub fn new(query: &str) -> Result<Self, BadQuerySuffix> {
        let query = query.strip_prefix(['?', '&']).unwrap_or(query);
        match query
            .chars()
            .find(|&c| !c.is_ascii_graphic() || c == '"' || c == '#')
        {
            Some(c) => Err(BadQuerySuffix(c)),
            None => Ok(Self(query.to_owned())),
        }
    }

    /// The query, without a leading `?`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether there is no query to append.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `uri` with the query appended: after `?` if `uri` has no query yet, after `&` otherwise,
    /// and before a fragment.
    pub fn apply(&self, uri: &str) -> String {
        let mut out = String::with_capacity(uri.len() + self.0.len() + 1);
        self.write(&mut out, uri);
        out
    }

    /// Writes `uri` with the query appended (see [`QuerySuffix::apply`]). Characters that may
    /// not appear in a playlist's URI (`"`, spaces, control characters such as line breaks) are
    /// percent-encoded, so that no URI can end its quoted-string or line early.
    pub(crate) fn write(&self, out: &mut String, uri: &str) {
        let (base, fragment) = match uri.find('#') {
            Some(at) => uri.split_at(at),
            None => (uri, ""),
        };
        push_escaped(out, base);
        if !self.0.is_empty() {
            if !base.contains('?') {
                out.push('?');
            } else if !(base.ends_with('?') || base.ends_with('&')) {
                out.push('&');
            }
            out.push_str(&self.0);
        }
        push_escaped(out, fragment);
    }
}

/// Pushes `text`, percent-encoding what may not appear in a URI of a playlist.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        if c == '"' || c == ' ' || c.is_control() {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{byte:02X}");
            }
        } else {
            out.push(c);
        }
    }
}

/// Whether `text` can be a quoted-string's content (RFC 8216bis §4.2: no `"`, CR or LF; other
/// control characters are refused too).
pub(crate) fn quotable(text: &str) -> bool {
    !text.chars().any(|c| c == '"' || c.is_control())
}

/// `ticks / timescale` seconds in units of 10 µs (five decimals), rounded half up.
pub(crate) fn hundred_thousandths(ticks: u64, timescale: u32) -> u128 {
    let timescale = u128::from(timescale.max(1));
    (u128::from(ticks) * 100_000 + timescale / 2) / timescale
}

/// Writes `ticks / timescale` seconds with five decimals.
pub(crate) fn write_seconds(out: &mut String, ticks: u64, timescale: u32) {
    let value = hundred_thousandths(ticks, timescale);
    let _ = write!(out, "{}.{:05}", value / 100_000, value % 100_000);
}

/// Writes a number of milliseconds as seconds with three decimals.
pub(crate) fn write_millis(out: &mut String, millis: u64) {
    let _ = write!(out, "{}.{:03}", millis / 1000, millis % 1000);
}

/// The latest program date-time written, in Unix milliseconds: 9999-12-31T23:59:59.999Z.
pub const MAX_PROGRAM_DATE_TIME: i64 = 253_402_300_799_999;

/// Writes Unix milliseconds as `YYYY-MM-DDThh:mm:ss.SSSZ` (clamped to 1970 to 9999).
pub(crate) fn write_date_time(out: &mut String, unix_ms: i64) {
    let ms = unix_ms.clamp(0, MAX_PROGRAM_DATE_TIME);
    let (days, in_day) = (ms / 86_400_000, ms % 86_400_000);
    let (year, month, day) = civil_from_days(days);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    );
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
