//! The LL-HLS egress in the node's `/metrics`: requests by kind, errors by class, viewers and
//! feeds move as viewers play.

use tern_relay::admin::prometheus;

use super::*;

/// The value of the sample `name` (with its labels) in a Prometheus text page; 0 if absent.
fn sample(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn requests(page: &str, kind: &str) -> f64 {
    sample(page, &format!("tern_hls_requests_total{{kind=\"{kind}\"}}"))
}

fn errors(page: &str, class: &str) -> f64 {
    sample(page, &format!("tern_hls_errors_total{{class=\"{class}\"}}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_errors_viewers_and_feeds_reach_metrics() {
    let metrics = prometheus().expect("a recorder");
    let mut setup = start(None, config()).await;
    let ns = "live/counted";
    setup.publish(
        ns,
        Stream {
            watermark: false,
            gop: 15,
            heights: &[360],
        },
    );
    let index = format!("/hls/{ns}/index.m3u8?token=one");
    setup.get_ok(&index).await;
    let before = metrics.render();

    // One viewer plays: playlists, a blocking reload, the init section, a part, a segment.
    let media = format!("/hls/{ns}/.t/video-360p/media.m3u8?token=one");
    let playlist = setup.playlist_with(&media, 1).await;
    let part = tag_uris(&playlist, "#EXT-X-PART:")[0].clone();
    let map = tag_uris(&playlist, "#EXT-X-MAP:")[0].clone();
    let segment = segment_uris(&playlist)[0].clone();
    let (msn, index_of) = part
        .strip_prefix("part-")
        .and_then(|p| p.split('?').next()?.strip_suffix(".m4s"))
        .and_then(|p| p.split_once('.'))
        .expect("a part URI");
    let blocking = format!("{media}&_HLS_msn={msn}&_HLS_part={index_of}");
    for path in [
        index.clone(),
        blocking,
        resolve(&media, &map),
        resolve(&media, &part),
        resolve(&media, &segment),
    ] {
        let a = setup.get(&path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text());
    }
    // Another viewer, and errors: no such broadcast (4xx); an egress that may run no
    // rendition (5xx).
    setup
        .get_ok(&format!("/hls/{ns}/.t/video-360p/media.m3u8?token=two"))
        .await;
    assert_eq!(setup.get("/hls/live/nobody/index.m3u8").await.status, 404);
    let full = Hls::new(
        setup.node.local(),
        HlsConfig {
            max_tracks: 0,
            ..config()
        },
    );
    let (addr, _server) = serve(&full).await;
    let refused = get(addr, &format!("/hls/{ns}/.t/video-360p/media.m3u8")).await;
    assert_eq!(refused.status, 503, "{}", refused.text());

    // Two viewers within the window, one feed.
    assert_eq!(setup.hls.viewers(), 2);
    assert_eq!(setup.hls.running(), 1);
    // Other tests of this process may count too: each count grew at least by ours.
    let deadline = Instant::now() + STEP;
    let after = loop {
        let page = metrics.render();
        if sample(&page, "tern_hls_viewers") >= 2.0 || Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let grew = |f: &dyn Fn(&str) -> f64| f(&after) - f(&before);
    assert!(grew(&|p| requests(p, "playlist")) >= 3.0, "{after}");
    assert!(
        grew(&|p| requests(p, "blocking_playlist")) >= 1.0,
        "{after}"
    );
    for kind in ["init", "part", "segment"] {
        assert!(grew(&|p| requests(p, kind)) >= 1.0, "{kind}: {after}");
    }
    assert!(grew(&|p| errors(p, "4xx")) >= 1.0, "{after}");
    assert!(grew(&|p| errors(p, "5xx")) >= 1.0, "{after}");
    assert!(sample(&after, "tern_hls_viewers") >= 2.0, "{after}");
    assert!(sample(&after, "tern_hls_feeds") >= 1.0, "{after}");
}
