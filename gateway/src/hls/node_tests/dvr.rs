//! Segments whose bytes a feed no longer holds (its byte budget dropped them, or they left
//! the playlist's window) are fetched from the node, which still caches them (or gets them
//! from the origin's DVR): their URIs keep answering with the same bytes.

use super::*;

/// The Media Sequence Number of a segment URI (`seg-{msn}.m4s`).
fn msn_of(uri: &str) -> u64 {
    uri.strip_prefix("seg-")
        .and_then(|u| u.strip_suffix(".m4s"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a segment URI: {uri}"))
}

/// A whole GOP of unmarked frames, from its first.
fn assert_whole_gop(bytes: &[u8], gop: u64) {
    let frames = frames_in(bytes);
    assert_eq!(frames.len() as u64, gop, "{frames:?}");
    assert_eq!(frames[0].1 % gop, 0, "{frames:?}");
    for (i, (letter, n)) in frames.iter().enumerate() {
        assert_eq!((*letter, *n), ('V', frames[0].1 + i as u64));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_the_feed_no_longer_holds_are_fetched_from_the_node() {
    // A window of 3 s of 500 ms segments; bytes for about two of them.
    let config = HlsConfig {
        max_bytes: 6000,
        ..config()
    };
    let mut setup = start(None, config).await;
    let ns = "live/dvr";
    let gop = 15;
    setup.publish(
        ns,
        Stream {
            watermark: false,
            gop,
            heights: &[360],
        },
    );
    let media = format!("/hls/{ns}/.t/video-360p/media.m3u8");
    let playlist = setup.playlist_with(&media, 5).await;
    let listed = segment_uris(&playlist);
    let feed = setup
        .hls
        .running_feed(ns, "video-360p")
        .expect("a running feed");

    // The oldest listed segment is past the feed's byte budget: fetched, it is whole.
    let oldest = msn_of(&listed[0]);
    assert!(
        feed.state.lock().unwrap().segment(oldest).is_none(),
        "the feed still holds segment {oldest}"
    );
    let a = setup.get(&resolve(&media, &listed[0])).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_whole_gop(&a.body, gop);

    // The newest complete segment, held; once it left the window, its URI still answers with
    // the same bytes.
    let newest = listed.last().unwrap();
    let path = resolve(&media, newest);
    let held = setup.get(&path).await;
    assert_eq!(held.status, 200, "{}", held.text());
    assert_whole_gop(&held.body, gop);
    let deadline = Instant::now() + STEP;
    loop {
        let text = setup.get_ok(&media).await.text();
        if segment_uris(&text)
            .first()
            .is_some_and(|first| msn_of(first) > msn_of(newest))
        {
            break;
        }
        assert!(Instant::now() < deadline, "segment {newest} stays listed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let later = setup.get(&path).await;
    assert_eq!(later.status, 200, "{}", later.text());
    assert!(later.body == held.body, "other bytes for {newest}");
    assert_eq!(later.header("content-type"), Some("video/mp4"));

    // A number the feed never listed is still a 404.
    let unknown = setup
        .get(&format!(
            "/hls/{ns}/.t/video-360p/seg-{}.m4s",
            oldest - 1000
        ))
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text());
}
