//! Every HLS request is judged by its own token, as a MoQ subscriber's request is: a viewer
//! with a token the node's token plugin refuses, or with none, is not served from the feed
//! another viewer's good token started.

use std::time::{Duration, SystemTime};

use tern_edge_wasm::testing::{TEST_SECRET, token_config};
use tern_edge_wasm::{Alg, Mint, mint};

use super::*;

/// A token of the token plugin's tests that may subscribe under `scopes`.
fn token(scopes: &[&str]) -> String {
    mint(&Mint {
        alg: Alg::Hs256,
        key: TEST_SECRET.as_bytes().to_vec(),
        kid: Some("hs".into()),
        subject: "viewer".into(),
        audience: "tern-relay".into(),
        issuer: "ops".into(),
        publish: Vec::new(),
        subscribe: scopes.iter().map(|s| s.to_string()).collect(),
        now: SystemTime::now(),
        valid_for: Duration::from_secs(3600),
    })
    .expect("a token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hls_request_is_judged_by_the_token_it_carries() {
    let logs = logs();
    let plugin = Plugin {
        name: "token",
        config: token_config(0),
    };
    let mut setup = start(Some(plugin), config()).await;
    let ns = "live/judged";
    setup.publish(
        ns,
        Stream {
            watermark: false,
            gop: 15,
            heights: &[360],
        },
    );

    // A viewer whose token may watch `live/judged` plays: the multivariant and media
    // playlists, a part and a segment, every URI carrying its token.
    let good = token(&[ns]);
    let index = format!("/hls/{ns}/index.m3u8?token={good}");
    let multivariant = setup.get_ok(&index).await.text();
    let media = first_variant(&index, &multivariant);
    assert!(
        media.ends_with(&format!("media.m3u8?token={good}")),
        "{media}"
    );
    let playlist = setup.playlist_with(&media, 1).await;
    let part = resolve(&media, &tag_uris(&playlist, "#EXT-X-PART:")[0]);
    let segment = resolve(&media, &segment_uris(&playlist)[0]);
    for path in [&part, &segment] {
        assert!(path.ends_with(&format!("?token={good}")), "{path}");
        let a = setup.get(path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text());
        assert!(!a.body.is_empty());
    }
    assert_eq!(setup.hls.running(), 1);

    // While that feed runs, the same URIs with a token scoped to another broadcast are 403,
    // and without a token 401, each with the reason; nothing is served from the feed.
    let bad = token(&["live/other"]);
    let with = |path: &str, query: &str| format!("{}{query}", path.split('?').next().unwrap());
    for path in [&index, &media, &part, &segment] {
        let refused = setup.get(&with(path, &format!("?token={bad}"))).await;
        assert_eq!(refused.status, 403, "{path}: {}", refused.text());
        assert!(refused.text().contains(ns), "{}", refused.text());
        assert_eq!(refused.header("cache-control"), Some("no-store"));
        let anonymous = setup.get(&with(path, "")).await;
        assert_eq!(anonymous.status, 401, "{path}: {}", anonymous.text());
        assert!(anonymous.text().contains("token"), "{}", anonymous.text());
        assert!(anonymous.header("www-authenticate").is_some());
    }
    // The good viewer still plays, from the one feed.
    let a = setup.get(&media).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(setup.hls.running(), 1);

    // Each refusal was logged once with its reason, however many requests it answered (the
    // verdict is kept a few seconds): the rendition's three requests, one line.
    let rendition = media
        .split("/.t/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let refused = |status: &str, track: &str| {
        logs.lines_with(&[
            "hls: viewer refused",
            &format!("namespace=\"{ns}\""),
            &format!("track=\"{track}\""),
            &format!("status={status}"),
        ])
    };
    let lines = refused("403", rendition);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("live/judged"), "{}", lines[0]);
    assert_eq!(refused("401", rendition).len(), 1);
    assert_eq!(refused("403", "").len(), 1);
    assert!(logs.lines_with(&[&bad]).is_empty(), "a token was logged");
}
