//! The plugin's decisions on the host: sessions, the rewrite to the variant set, the per-group
//! variant, configuration errors.

use super::*;

const CONFIG: &str = r#"{"key": "test key", "tracks": ["video-180p"], "group_ms": 200}"#;

fn config() -> Config {
    Config::parse(CONFIG).unwrap()
}

fn ns() -> Vec<Vec<u8>> {
    vec![b"live".to_vec(), b"demo".to_vec()]
}

#[test]
fn the_session_token_is_the_viewer_without_a_token_section() {
    let c = config();
    let v = c.open(Some(b"viewer-7"), 0).unwrap();
    assert_eq!(v.subject, "viewer-7");
    assert_eq!(c.open(None, 0).unwrap_err().0, 1);
    assert_eq!(c.open(Some(b""), 0).unwrap_err().0, 2);
    assert_eq!(c.open(Some(b"a\nb"), 0).unwrap_err().0, 2);
    assert_eq!(c.open(Some(&[0xff, 0xfe]), 0).unwrap_err().0, 2);
}

#[test]
fn a_marked_track_goes_to_its_variant_set() {
    let c = config();
    let v = c.open(Some(b"viewer-7"), 0).unwrap();
    assert_eq!(
        c.subscribe(&v, &ns(), Some(b"video-180p"), 0),
        Decision::UseTrack(b"video-180p.wm-a".to_vec())
    );
    assert_eq!(
        c.subscribe(&v, &ns(), Some(b"audio-aac"), 0),
        Decision::Allow
    );
    // Variant tracks asked for by name are the relay's business (relay links carry them).
    assert_eq!(
        c.subscribe(&v, &ns(), Some(b"video-180p.wm-b"), 0),
        Decision::Allow
    );
    assert_eq!(c.publish(&v, &ns(), 0), Decision::Allow);
}

#[test]
fn each_group_follows_the_viewers_codeword() {
    let c = config();
    let track = b"video-180p.wm-a";
    let id = c.code.viewer_id("viewer-7");
    let word = c.code.codeword(id);
    let mut seen = [0; 2];
    for i in 0..64u64 {
        let group = 1_000_000 + i * 200;
        let v = c.object("viewer-7", track, group).unwrap();
        assert_eq!(u128::from(v), word >> c.code.position(group) & 1);
        seen[v as usize] += 1;
    }
    assert!(seen[0] > 10 && seen[1] > 10, "{seen:?}");
    // Another viewer differs somewhere in the cycle.
    assert!((0..64u64).any(|i| {
        let g = i * 200;
        c.object("viewer-8", track, g) != c.object("viewer-7", track, g)
    }));
    assert_eq!(c.object("viewer-7", b"video-360p.wm-a", 0), None);
    assert_eq!(c.object("viewer-7", b"video-180p", 0), None);
}

#[test]
fn configuration_errors_name_the_field() {
    let bad = |json: &str| Config::parse(json).err().unwrap();
    assert!(bad(r#"{"key": "", "tracks": ["v"], "group_ms": 200}"#).contains("key is empty"));
    assert!(bad(r#"{"key": "k", "tracks": [], "group_ms": 200}"#).contains("tracks"));
    assert!(bad(r#"{"key": "k", "tracks": ["v.wm-a"], "group_ms": 200}"#).contains("variant"));
    assert!(bad(r#"{"key": "k", "tracks": ["v"], "group_ms": 0}"#).contains("group_ms"));
    assert!(
        bad(r#"{"key": "k", "tracks": ["v"], "group_ms": 9, "id_bits": 8}"#).contains("id_bits")
    );
    assert!(
        bad(r#"{"key": "k", "tracks": ["v"], "group_ms": 9, "token": {"keys": []}}"#)
            .contains("token config")
    );
    assert!(
        bad(r#"{"key": "k", "tracks": ["v"], "group_ms": 9, "extra": 1}"#)
            .contains("unknown field")
    );
}

#[test]
fn with_a_token_section_the_viewer_is_the_jwt_subject() {
    let json = r#"{"key": "k", "tracks": ["v"], "group_ms": 200, "token": {
        "keys": [{"kid": "hs", "alg": "HS256", "secret": "an HS256 secret of thirty-two bytes or more"}],
        "audience": "tern-relay", "issuer": "ops"}}"#;
    let c = Config::parse(json).unwrap();
    // A bare viewer string is no JWT.
    assert!(c.open(Some(b"viewer-7"), 0).is_err());
    assert!(c.open(None, 0).is_err());
}
