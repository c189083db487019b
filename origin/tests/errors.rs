//! The origin's errors blame what is wrong and name it: a missing file, an input that is not
//! fragmented MP4, an input that ends before its init segment.

use std::path::Path;

use tern_origin::Error;
use tern_origin::source::{FileLoop, Fmp4Reader};

#[tokio::test]
async fn a_missing_file_is_a_read_error_naming_it() {
    let path = Path::new("/nonexistent/tern-origin-input.mp4");
    let Err(e) = FileLoop::open(path).await else {
        panic!("opened a missing file");
    };
    assert!(matches!(e, Error::Read { .. }), "{e:?}");
    assert!(e.to_string().contains("tern-origin-input.mp4"), "{e}");
}

#[tokio::test]
async fn an_input_that_is_not_mp4_is_a_media_error_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("tern-origin-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notes.txt");
    std::fs::write(&path, b"these are not the boxes you are looking for").unwrap();
    let Err(e) = FileLoop::open(&path).await else {
        panic!("a text file was taken as media");
    };
    let _ = std::fs::remove_dir_all(&dir);
    assert!(matches!(e, Error::Media { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("notes.txt"), "{text}");
    assert!(text.contains("not an MP4"), "{text}");
}

#[tokio::test]
async fn an_input_that_ends_before_its_init_segment_says_so() {
    // An ftyp box and nothing else: MP4, but no init segment.
    let ftyp = b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00";
    let mut reader = Fmp4Reader::new(&ftyp[..]);
    let e = reader
        .tracks()
        .await
        .expect_err("no tracks in an empty input")
        .of_input("stdin".into());
    assert!(matches!(e, Error::Media { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.starts_with("stdin: "), "{text}");
    assert!(text.contains("ended before a moov box"), "{text}");
}
