//! Variant track names: variant `n` of track `T` is `T.wm-a`, `T.wm-b`, … (`a` + n). The origin
//! publishes them, relays carry them unmarked between each other, and the last hop serves a
//! viewer's subscription to `T` from them, one variant per group.

/// What separates a track's name from its variant letter.
pub const VARIANT_SUFFIX: &[u8] = b".wm-";

/// Variants a set may have (`a` to `z`).
const MAX_VARIANTS: u32 = 26;

/// The name of variant `variant` of `track`; `None` past `z`.
pub fn variant_track(track: &[u8], variant: u32) -> Option<Vec<u8>> {
    if variant >= MAX_VARIANTS {
        return None;
    }
    let mut name = Vec::with_capacity(track.len() + VARIANT_SUFFIX.len() + 1);
    name.extend_from_slice(track);
    name.extend_from_slice(VARIANT_SUFFIX);
    name.push(b'a' + variant as u8);
    Some(name)
}

/// A variant track's base name and variant index; `None` for any other name.
pub fn split_variant(name: &[u8]) -> Option<(&[u8], u32)> {
    let (&letter, rest) = name.split_last()?;
    let base = rest.strip_suffix(VARIANT_SUFFIX)?;
    (letter.is_ascii_lowercase() && !base.is_empty()).then(|| (base, u32::from(letter - b'a')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(variant_track(b"video-720p", 1).unwrap(), b"video-720p.wm-b");
        assert_eq!(
            split_variant(b"video-720p.wm-a"),
            Some((&b"video-720p"[..], 0))
        );
        assert_eq!(split_variant(b"video-720p"), None);
        assert_eq!(split_variant(b".wm-a"), None);
        assert_eq!(split_variant(b"x.wm-A"), None);
        assert_eq!(variant_track(b"t", 26), None);
    }
}
