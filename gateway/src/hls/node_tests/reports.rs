//! A media playlist reports every other rendition of the broadcast's catalog, those nobody
//! asked for yet included: their feeds start with the first playlist that reports them.

use super::*;

/// The `EXT-X-RENDITION-REPORT` lines of a playlist: (URI, LAST-MSN, LAST-PART).
fn reports(playlist: &str) -> Vec<(String, u64, u32)> {
    let value = |line: &str, name: &str| -> Option<u64> {
        let from = line.find(&format!("{name}="))? + name.len() + 1;
        line[from..].split(',').next()?.parse().ok()
    };
    playlist
        .lines()
        .filter(|l| l.starts_with("#EXT-X-RENDITION-REPORT:"))
        .map(|l| {
            let uri = tag_uris(l, "#EXT-X-RENDITION-REPORT:")[0].clone();
            let msn = value(l, "LAST-MSN").unwrap_or_else(|| panic!("LAST-MSN: {l}"));
            let part = value(l, "LAST-PART").unwrap_or_else(|| panic!("LAST-PART: {l}"));
            (uri, msn, part as u32)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playlist_reports_the_renditions_nobody_plays_yet() {
    let mut setup = start(None, config()).await;
    let ns = "live/ladder";
    setup.publish(
        ns,
        Stream {
            watermark: false,
            gop: 15,
            heights: &[360, 180],
        },
    );
    let index = setup.get_ok(&format!("/hls/{ns}/index.m3u8")).await.text();
    assert!(index.contains(".t/video-180p/media.m3u8"), "{index}");
    // Only the 360p rendition is asked for.
    let media = format!("/hls/{ns}/.t/video-360p/media.m3u8");
    let playlist = setup.get_ok(&media).await.text();
    let listed = reports(&playlist);
    assert_eq!(listed.len(), 1, "{playlist}");
    let (uri, msn, part) = &listed[0];
    assert_eq!(uri, "../video-180p/media.m3u8");
    // The 180p rendition's feed runs now, and the part reported is one of its playlist: a
    // blocking reload for it is answered at once and lists it.
    assert_eq!(setup.hls.running(), 2);
    let other = resolve(&media, uri);
    let reload = setup
        .get(&format!("{other}?_HLS_msn={msn}&_HLS_part={part}"))
        .await;
    assert_eq!(reload.status, 200, "{}", reload.text());
    assert!(
        reload.text().contains(&format!("part-{msn}.{part}.m4s")),
        "{}",
        reload.text()
    );
    // And it reports the 360p rendition in turn.
    let back = reports(&reload.text());
    assert_eq!(back.len(), 1, "{}", reload.text());
    assert_eq!(back[0].0, "../video-360p/media.m3u8");
}
