//! Durations as operators write them: `"30s"`, `"500ms"`, `"1m30s"`, `"2h"`, `"365d"`.

use std::fmt::Write as _;
use std::time::Duration;

/// Parses a duration: one or more `<integer><unit>` parts, units `ns`, `us`, `ms`, `s`, `m`, `h`, `d`,
/// spaces allowed between them (`"1m 30s"`, `"30 s"`). A bare number is refused: the unit is required.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("empty duration (write e.g. \"30s\")".to_owned());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("expected a number in \"{text}\""));
        }
        let number: u128 = rest[..digits]
            .parse()
            .map_err(|_| format!("number too large in \"{text}\""))?;
        rest = rest[digits..].trim_start();
        let letters = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let nanos_per_unit: u128 = match &rest[..letters] {
            "ns" => 1,
            "us" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3600 * 1_000_000_000,
            "d" => 86_400 * 1_000_000_000,
            "" => return Err(format!("missing unit in \"{text}\" (use ms, s, m or h)")),
            unit => {
                return Err(format!(
                    "unknown unit \"{unit}\" in \"{text}\" (use ms, s, m or h)"
                ));
            }
        };
        total = number
            .checked_mul(nanos_per_unit)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(|| format!("duration too large: \"{text}\""))?;
        rest = rest[letters..].trim_start();
    }
    let nanos = u64::try_from(total).map_err(|_| format!("duration too large: \"{text}\""))?;
    Ok(Duration::from_nanos(nanos))
}

/// Formats a duration in the largest unit that represents it exactly (`"30s"`, `"2m"`,
/// `"1500ms"`); [`parse_duration`] reads it back unchanged.
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    let units: [(u128, &str); 6] = [
        (3600 * 1_000_000_000, "h"),
        (60 * 1_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    let mut out = String::new();
    if nanos == 0 {
        out.push_str("0s");
    } else if let Some((size, unit)) = units.iter().find(|(size, _)| nanos.is_multiple_of(*size)) {
        let _ = write!(out, "{}{unit}", nanos / size);
    }
    out
}

/// `#[serde(with = "duration::human")]`: a [`Duration`] as a string such as `"30s"`.
pub mod human {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    /// Writes the duration with [`super::format_duration`].
    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_duration(*duration))
    }

    /// Reads the duration with [`super::parse_duration`].
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        struct DurationVisitor;

        impl Visitor<'_> for DurationVisitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"30s\" or \"500ms\"")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
                super::parse_duration(text).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(DurationVisitor)
    }
}
