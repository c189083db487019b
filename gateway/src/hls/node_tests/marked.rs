//! A watermarked rendition stays watermarked over HLS: the origin publishes variants A and B
//! of `video-360p`, the node's watermark plugin marks that track for every viewer (the viewer's
//! id is its token), and each HLS viewer's playlist names, per segment and part, the variant
//! the plugin picks for that viewer and group, exactly the variant a MoQ viewer with the same
//! id gets of that group, byte for byte.

use std::collections::{BTreeMap, HashMap};

use tern_peer::{ConnectOptions, Session};

use super::*;

const KEY: &str = "hls watermark test key";
const GROUP_MS: u64 = 333;
const RENDITION: &str = "video-360p";

fn plugin() -> Plugin {
    Plugin {
        name: "watermark",
        config: format!(r#"{{"key": "{KEY}", "tracks": ["{RENDITION}"], "group_ms": {GROUP_MS}}}"#),
    }
}

/// The variant letter a viewer's URI names (`../video-360p.wm-b/seg-5.m4s`).
fn named_letter(uri: &str) -> char {
    let marker = format!("{RENDITION}.wm-");
    let at = uri
        .find(&marker)
        .unwrap_or_else(|| panic!("no variant named: {uri}"))
        + marker.len();
    uri[at..]
        .chars()
        .next()
        .expect("a letter")
        .to_ascii_uppercase()
}

/// The one variant and the group of a segment's or part's bytes.
fn letter_and_group(bytes: &[u8], gop: u64) -> (char, u64) {
    let frames = frames_in(bytes);
    assert!(!frames.is_empty(), "no frames");
    let letter = frames[0].0;
    assert!(
        frames.iter().all(|(l, _)| *l == letter),
        "one variant per segment: {frames:?}"
    );
    (letter, group_of_frame(frames[0].1 / gop * gop))
}

/// The whole groups a MoQ viewer `viewer` receives of the rendition, until it has `n`.
async fn moq_groups(setup: &Setup, ns: &str, viewer: &str, n: usize) -> BTreeMap<u64, Vec<u8>> {
    let opts = ConnectOptions {
        cert_hashes: vec![setup.node.fingerprint],
        ..ConnectOptions::default()
    };
    let url = format!("moqt://{}/live?jwt={viewer}", setup.node.addr);
    let session = Session::connect(&url, &opts).await.expect("MoQ viewer");
    let mut sub = session
        .subscribe(TrackNamespace::from_path(ns), RENDITION, None)
        .await
        .expect("subscribed");
    let mut groups: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut whole = Vec::new();
    tokio::time::timeout(STEP, async {
        while whole.len() <= n {
            let object = sub.next().await.expect("an object").expect("not ended");
            let g = object.location.group;
            if object.location.object == 0 {
                whole.push(g);
            }
            if whole.contains(&g) {
                groups
                    .entry(g)
                    .or_default()
                    .extend_from_slice(&object.payload);
            }
        }
    })
    .await
    .expect("MoQ groups in time");
    // The last group may be incomplete.
    groups.remove(&whole[n]);
    groups
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hls_viewer_gets_its_own_variant_of_every_segment_as_a_moq_viewer_does() {
    let mut setup = start(Some(plugin()), config()).await;
    let ns = "live/marked";
    let gop = 10;
    setup.publish(
        ns,
        Stream {
            watermark: true,
            gop,
            heights: &[],
        },
    );
    let rule = watermark_rule(KEY, GROUP_MS);

    // Both viewers' playlists first (the feeds of both variants start), then a MoQ viewer
    // with alice's id takes a few groups, which the HLS window then holds.
    let media = |viewer: &str| format!("/hls/{ns}/.t/{RENDITION}/media.m3u8?token={viewer}");
    let index = setup
        .get_ok(&format!("/hls/{ns}/index.m3u8?token=alice"))
        .await
        .text();
    assert!(
        index.contains(&format!(".t/{RENDITION}/media.m3u8?token=alice")),
        "{index}"
    );
    setup.get_ok(&media("alice")).await;
    setup.get_ok(&media("bob")).await;
    let moq = moq_groups(&setup, ns, "alice", 3).await;
    assert_eq!(moq.len(), 3);

    let mut sequences: HashMap<&str, BTreeMap<u64, char>> = HashMap::new();
    let mut uris: HashMap<(&str, u64), String> = HashMap::new();
    for viewer in ["alice", "bob"] {
        let answer = setup.get_ok(&media(viewer)).await;
        // The playlist is this viewer's alone.
        assert!(
            answer
                .header("cache-control")
                .is_some_and(|c| c.starts_with("private")),
            "{:?}",
            answer.header("cache-control")
        );
        let playlist = setup.playlist_with(&media(viewer), 6).await;
        let sequence = sequences.entry(viewer).or_default();
        for uri in segment_uris(&playlist) {
            let path = resolve(&media(viewer), &uri);
            let a = setup.get(&path).await;
            assert_eq!(a.status, 200, "{path}: {}", a.text());
            let (letter, group) = letter_and_group(&a.body, gop);
            // The URI names the variant served, which is the plugin's pick for this viewer.
            assert_eq!(named_letter(&uri), letter, "{uri}");
            assert_eq!(letter, rule(viewer, group), "{viewer}, group {group}");
            sequence.insert(group, letter);
            uris.insert((viewer, group), path);
            // A MoQ viewer with the same id got exactly these bytes of that group.
            if viewer == "alice"
                && let Some(moq) = moq.get(&group)
            {
                assert!(moq == &a.body, "group {group}: HLS and MoQ bytes differ");
            }
        }
        // Parts name their segment's variant too.
        for uri in tag_uris(&playlist, "#EXT-X-PART:") {
            let a = setup.get(&resolve(&media(viewer), &uri)).await;
            assert_eq!(a.status, 200, "{uri}: {}", a.text());
            let (letter, group) = letter_and_group(&a.body, gop);
            assert_eq!(named_letter(&uri), letter, "{uri}");
            assert_eq!(
                letter,
                rule(viewer, group),
                "{viewer}, part of group {group}"
            );
        }
    }
    // Every group the MoQ viewer took was compared.
    let alice = &sequences["alice"];
    assert!(
        moq.keys().all(|g| alice.contains_key(g)),
        "{moq:?} {alice:?}"
    );
    // Two ids, two A/B sequences over the same groups.
    let bob = &sequences["bob"];
    let common: Vec<u64> = alice
        .keys()
        .filter(|g| bob.contains_key(g))
        .copied()
        .collect();
    assert!(common.len() >= 5, "{alice:?} {bob:?}");
    let differs: Vec<u64> = common
        .iter()
        .copied()
        .filter(|g| alice[g] != bob[g])
        .collect();
    assert!(!differs.is_empty(), "alice {alice:?} and bob {bob:?}");

    // A viewer asking for another viewer's variant of a group is refused; a viewer never gets
    // a variant's playlist by name.
    let g = differs[0];
    let bobs = uris[&("bob", g)].replace("token=bob", "token=alice");
    let refused = setup.get(&bobs).await;
    assert_eq!(refused.status, 403, "{bobs}: {}", refused.text());
    let by_name = setup
        .get(&format!(
            "/hls/{ns}/.t/{RENDITION}.wm-b/media.m3u8?token=alice"
        ))
        .await;
    assert_eq!(by_name.status, 404, "{}", by_name.text());
    // One feed (one subscription to each variant) serves both viewers.
    assert_eq!(setup.hls.running(), 1);
}
