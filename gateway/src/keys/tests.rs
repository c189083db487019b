//! Keys files read, publishers judged, mistakes named by file and line (never by key), and the
//! file reloaded while it changes.

use std::path::Path;
use std::time::Duration;

use super::*;

const FILE: &str = "stream-keys.toml";

fn parse(text: &str) -> Result<StreamKeys, KeysError> {
    StreamKeys::parse(Path::new(FILE), text)
}

const EXAMPLE: &str = r#"
# Every live path, and cam1 with a key of its own (two while it rolls over).
[[key]]
path = "live/"
key = "every-live-path"

[[key]]
path = "live/cam1"
key = "cam1-key-of-2025"
name = "studio encoder"

[[key]]
path = "live/cam1"
key = "cam1-key-of-2026"
name = "studio encoder"
"#;

#[test]
fn the_longest_path_decides_and_any_of_its_keys_admits() {
    let keys = parse(EXAMPLE).unwrap();
    assert_eq!(keys.len(), 3);
    // live/cam1's own keys, not live/'s.
    for key in ["cam1-key-of-2025", "cam1-key-of-2026"] {
        let a = keys.judge("live/cam1", Some(key)).unwrap().unwrap();
        assert_eq!(a.name.as_deref(), Some("studio encoder"));
        assert_eq!(a.describe(), " with stream key \"studio encoder\"");
    }
    assert_eq!(
        keys.judge("live/cam1", Some("every-live-path")),
        Err(Refusal::Wrong {
            rule: "live/cam1".into()
        })
    );
    // Another live path takes live/'s key.
    let a = keys
        .judge("live/cam2", Some("every-live-path"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (a.name.as_deref(), a.describe().as_str()),
        (None, " with a stream key")
    );
    assert_eq!(
        keys.judge("live/cam2", None),
        Err(Refusal::Missing {
            rule: "live/".into()
        })
    );
    assert!(keys.judge("live/cam2", Some("")).is_err());
    // Paths no rule covers are not keyed, whatever they send.
    assert_eq!(keys.judge("other/cam", None), Ok(None));
    assert_eq!(keys.judge("live", Some("every-live-path")), Ok(None));
    assert_eq!(
        keys.judge("live/cam10", None).unwrap_err(),
        Refusal::Missing {
            rule: "live/".into()
        }
    );
}

#[test]
fn the_identity_is_the_name_or_else_the_key() {
    let keys = parse(EXAMPLE).unwrap();
    let named = |k| keys.judge("live/cam1", Some(k)).unwrap().unwrap().identity;
    // The two keys of one name are one publisher (a key rolled over takes its broadcast back).
    assert_eq!(named("cam1-key-of-2025"), named("cam1-key-of-2026"));
    let unnamed = keys
        .judge("live/a", Some("every-live-path"))
        .unwrap()
        .unwrap();
    assert_ne!(unnamed.identity, named("cam1-key-of-2025"));
    let other = parse(
        "[[key]]\npath = \"live/\"\nkey = \"every-live-path\"\n\
         [[key]]\npath = \"live/\"\nkey = \"another-live-key\"\n",
    )
    .unwrap();
    assert_ne!(
        other
            .judge("live/a", Some("every-live-path"))
            .unwrap()
            .unwrap()
            .identity,
        other
            .judge("live/a", Some("another-live-key"))
            .unwrap()
            .unwrap()
            .identity,
        "two unnamed keys are two publishers"
    );
}

#[test]
fn an_empty_path_keys_every_broadcast() {
    let keys = parse("[[key]]\npath = \"\"\nkey = \"the-one-key-for-all\"\n").unwrap();
    assert!(
        keys.judge("any/path", Some("the-one-key-for-all"))
            .is_ok_and(|a| a.is_some())
    );
    let r = keys.judge("any/path", None).unwrap_err();
    assert!(
        r.reason("HOW").contains("every path"),
        "{}",
        r.reason("HOW")
    );
    assert!(parse("").unwrap().is_empty());
    assert_eq!(parse("").unwrap().judge("any/path", None), Ok(None));
}

#[test]
fn refusals_say_what_to_do_and_never_quote_a_key() {
    let keys = parse(EXAMPLE).unwrap();
    let missing = keys
        .judge("live/cam1", None)
        .unwrap_err()
        .reason("add ?key=KEY");
    assert!(
        missing.contains("\"live/cam1\"") && missing.ends_with("add ?key=KEY"),
        "{missing}"
    );
    let wrong = keys
        .judge("live/cam1", Some("a-guessed-key-1"))
        .unwrap_err()
        .reason("add ?key=KEY");
    assert!(
        !wrong.contains("a-guessed") && !wrong.contains("add ?key"),
        "{wrong}"
    );
    let shown = format!(
        "{keys:?} {:?}",
        keys.judge("live/x", Some("every-live-path"))
    );
    assert!(
        !shown.contains("every-live-path") && !shown.contains("cam1-key"),
        "{shown}"
    );
}

#[test]
fn mistakes_name_the_file_and_line_and_never_the_key() {
    let ok = "[[key]]\npath = \"live/a\"\nkey = \"SECRET-long-key\"\n";
    parse(ok).unwrap();
    // (the file, the line of the mistake, what its message says)
    let cases = [
        (ok.replace("SECRET-long-key", "SECRET"), 3, "12 to 256"),
        (ok.replace("-long-", " long "), 3, "A-Z a-z 0-9"),
        (
            format!("{ok}[[key]]\npath = \"live//a\"\nkey = \"SECRET-other\"\n"),
            5,
            "empty segment",
        ),
        (
            format!("{ok}\n[[key]]\nkee = \"SECRET-long-key\"\n"),
            6,
            "\"kee\"",
        ),
        (format!("{ok}[[key]]\npath = \"live/b\"\n"), 4, "no key"),
        (
            format!("{ok}[[key]]\nkey = \"SECRET-long-key\"\n"),
            4,
            "without a path",
        ),
        (
            ok.replace("\"SECRET-long-key\"", "12345678901234"),
            3,
            "must be a string",
        ),
        (format!("{ok}{ok}"), 4, "again (line 1)"),
        (format!("{ok}name = \"\"\n"), 4, "name"),
        // Not [[key]] tables, not TOML.
        ("key = \"SECRET-long-key\"\n".to_owned(), 1, "[[key]]"),
        (
            "\n[[keys]]\npath = \"a\"\n".to_owned(),
            2,
            "unknown setting \"keys\"",
        ),
        (ok.replace("key\"\n", "key\n"), 3, ""),
    ];
    for (text, line, says) in cases {
        let shown = parse(&text).unwrap_err().to_string();
        assert!(
            shown.starts_with(&format!("{FILE}:{line}: ")) && shown.contains(says),
            "line {line}, {says:?}: {shown}"
        );
        assert!(
            !shown.contains("SECRET"),
            "a key reached the message: {shown}"
        );
    }
}

#[test]
fn shared_keys_are_swapped_whole() {
    let shared = SharedKeys::default();
    assert!(shared.current().is_empty());
    let before = shared.current();
    shared.replace(parse(EXAMPLE).unwrap());
    assert_eq!(shared.current().len(), 3);
    assert!(
        before.is_empty(),
        "a judgement in progress keeps the keys it started with"
    );
}

/// Write `text` to `file` as deployments do: a new file renamed over the old one.
fn install(file: &Path, text: &str) {
    let next = file.with_extension("new");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, file).unwrap();
}

/// Wait (at most 5 s) until `done` holds for the keys in force.
async fn until(shared: &SharedKeys, what: &str, done: impl Fn(&StreamKeys) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done(&shared.current()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_file_is_reloaded_when_it_changes_and_a_bad_one_keeps_the_keys() {
    let dir = std::env::temp_dir().join(format!("tern-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("keys.toml");
    let one = "[[key]]\npath = \"live/\"\nkey = \"the-first-key\"\n";
    install(&file, one);
    let (shared, _watch) = watch(file.clone(), Duration::from_millis(50)).unwrap();
    assert_eq!(shared.current().len(), 1);
    let admits = |k: &StreamKeys, key: &str| matches!(k.judge("live/a", Some(key)), Ok(Some(_)));

    install(
        &file,
        "[[key]]\npath = \"live/\"\nkey = \"the-second-key\"\n",
    );
    until(&shared, "the second key", |k| admits(k, "the-second-key")).await;
    assert!(!admits(&shared.current(), "the-first-key"));

    // A file that no longer parses, then one that cannot be read: the second key stays.
    install(&file, "[[key]]\npath = \"live/\"\nkey = \"short\"\n");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(admits(&shared.current(), "the-second-key"));
    std::fs::remove_file(&file).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(admits(&shared.current(), "the-second-key"));

    // Fixed: in force at once.
    install(
        &file,
        "[[key]]\npath = \"other/\"\nkey = \"the-third-key\"\n",
    );
    until(&shared, "the third key", |k| {
        k.judge("live/a", None) == Ok(None)
    })
    .await;
    // A file that cannot be loaded at start is an error naming the file and line.
    std::fs::write(&file, "[[key]]\npath = \"live/\"\nkey = \"short\"\n").unwrap();
    let e = watch(file.clone(), Duration::from_millis(50)).unwrap_err();
    assert!(e.contains("keys.toml:3:"), "{e}");
    let e = watch(dir.join("missing.toml"), Duration::from_millis(50)).unwrap_err();
    assert!(e.contains("missing.toml: cannot read"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
