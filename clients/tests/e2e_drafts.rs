//! One `tern relay` bridging MoQ Transport drafts 14, 16, 18, 20 and 22 (14 and 16 with every
//! request on one control stream, 18 on with a stream per request): a publisher on each draft
//! reaches subscribers on every draft, objects and FETCHes intact (a draft-18 standalone FETCH
//! is a LOCATION_FILTER range on 20 and 22; a joining FETCH, which 20 and 22 removed, becomes
//! the standalone FETCH of the same range; a relative FETCH resolves at the relay), and
//! `/metrics` counts the sessions by draft. A two-relay tree's link speaks the newest draft
//! both relays speak.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use common::{Lines, Relay, admin_address, http_get, sample, tern};
use tern::client::{ConnectOptions, FetchEntry, JoiningStart, Session, TrackWriter};
use tern_moq::message::SubscriptionFilter;
use tern_moq::{Location, TrackNamespace, Version};

const DRAFTS: [u32; 5] = [14, 16, 18, 20, 22];

fn options(fingerprint: &str, draft: u32) -> ConnectOptions {
    let version = Version::from_number(draft).expect("a draft tern speaks");
    ConnectOptions {
        cert_hashes: vec![tern_quic::Fingerprint::from_hex(fingerprint).expect("hex")],
        protocols: vec![version.alpn().to_owned()],
        ..ConnectOptions::default()
    }
}

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("{what} within 10 s"))
}

/// `(group, object, payload)` of every object a FETCH returns.
async fn read_fetch(mut fetch: tern::client::Fetch) -> Vec<(u64, u64, Bytes)> {
    let mut got = Vec::new();
    while let Some(entry) = bounded("a FETCH entry", fetch.next()).await.expect("entry") {
        if let FetchEntry::Object(o) = entry {
            got.push((o.location.group, o.location.object, o.payload));
        }
    }
    got
}

fn objects(groups: std::ops::RangeInclusive<u64>) -> Vec<(u64, u64, Bytes)> {
    groups
        .flat_map(|g| (0..3).map(move |i| (g, i, Bytes::from(format!("{g}/{i}")))))
        .collect()
}

#[test]
fn a_publisher_on_each_draft_reaches_subscribers_and_fetches_on_every_draft() {
    let mut cmd = Command::new(tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0"]);
    let mut relay = Relay::start_cmd_with_stderr(cmd, &[], Stdio::piped());
    let mut log = Lines::new(relay.guard.child.stderr.take().expect("stderr"));
    let admin = admin_address(&mut log);
    let fp = relay.fingerprint.clone();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        for publisher_draft in DRAFTS {
            let publisher = bounded(
                "publisher connects",
                Session::connect(&relay.moqt_url(), &options(&fp, publisher_draft)),
            )
            .await
            .expect("publisher");
            let ns = TrackNamespace::from_path(&format!("drafts/from-{publisher_draft}"));
            let track = TrackWriter::new(ns.clone(), &b"objects"[..]);
            bounded("PUBLISH", publisher.publish(&track))
                .await
                .expect("PUBLISH accepted");
            // It answers the FETCHes the relay's cache cannot (the groups it cannot vouch for).
            publisher.serve_track(&track);

            // A subscriber on every draft, over raw QUIC and (22) WebTransport.
            let mut viewers = Vec::new();
            for (draft, url) in DRAFTS
                .iter()
                .map(|d| (*d, relay.moqt_url()))
                .chain([(22, relay.https_url())])
            {
                let session = Session::connect(&url, &options(&fp, draft))
                    .await
                    .unwrap_or_else(|e| panic!("subscriber on draft {draft}: {e}"));
                let sub = session
                    .subscribe(ns.clone(), &b"objects"[..], None)
                    .await
                    .unwrap_or_else(|e| panic!("SUBSCRIBE on draft {draft}: {e}"));
                viewers.push((draft, url, session, sub));
            }
            // The previous publisher's session closes as this one's viewers arrive.
            let series =
                |draft| format!("tern_sessions{{draft=\"moqt-{draft}\",transport=\"quic\"}}");
            let want = |draft| if draft == publisher_draft { 2.0 } else { 1.0 };
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            let page = loop {
                let page = http_get(&admin, "/metrics");
                let all = DRAFTS
                    .iter()
                    .all(|d| sample(&page, &series(*d)) == Some(want(*d)));
                if all || std::time::Instant::now() > deadline {
                    break page;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            for draft in DRAFTS {
                let (series, want) = (series(draft), want(draft));
                assert_eq!(sample(&page, &series), Some(want), "{series} in\n{page}");
            }

            // Group 6 ends when group 7 begins: the relay's cache can vouch for 5 and 6 whole.
            for group in [5u64, 6, 7] {
                track.new_group(group).expect("group");
                for i in 0..3 {
                    track
                        .write_object(format!("{group}/{i}").into())
                        .expect("object");
                }
            }
            for (draft, _url, _session, sub) in &mut viewers {
                let mut got = Vec::new();
                while got.len() < 9 {
                    match bounded("an object", sub.next()).await.expect("object") {
                        Some(o) => got.push((o.location.group, o.location.object, o.payload)),
                        None => break,
                    }
                }
                let why = format!("published on draft {publisher_draft}, read on {draft}");
                assert_eq!(got, objects(5..=7), "{why}");
            }
            for (draft, url, session, _sub) in &viewers {
                let why = format!("published on draft {publisher_draft}, read on {draft}");
                // A standalone FETCH of both groups (draft-18's End Location is one past the
                // last object; on 20 and 22 an inclusive LOCATION_FILTER range).
                let fetch = session
                    .fetch(
                        ns.clone(),
                        &b"objects"[..],
                        Location::new(5, 0),
                        Location::new(6, 3),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("FETCH, {why}: {e}"));
                assert_eq!(fetch.end_location(), Location::new(6, 3), "{why}");
                assert_eq!(read_fetch(fetch).await, objects(5..=6), "FETCH, {why}");

                // The previous and current groups by a joining FETCH of a late subscription (on
                // 20 and 22: the standalone FETCH of that range).
                // (A second SUBSCRIBE to the track on one session is refused on draft-18.)
                let late_session = Session::connect(url, &options(&fp, *draft))
                    .await
                    .expect("late viewer");
                let late = late_session
                    .subscribe(
                        ns.clone(),
                        &b"objects"[..],
                        Some(SubscriptionFilter::LargestObject),
                    )
                    .await
                    .expect("late SUBSCRIBE");
                assert_eq!(late.largest(), Some(Location::new(7, 2)), "{why}");
                let joining = late_session
                    .joining_fetch(&late, JoiningStart::Relative(1))
                    .await
                    .unwrap_or_else(|e| panic!("joining FETCH, {why}: {e}"));
                assert_eq!(read_fetch(joining).await, objects(6..=7), "joining, {why}");

                // The current group by a relative FETCH, resolved at the relay (20 and 22 only).
                let current = session
                    .fetch_filtered(
                        ns.clone(),
                        &b"objects"[..],
                        Some(SubscriptionFilter::RelativeStart { groups: 1 }),
                    )
                    .await;
                if *draft < 20 {
                    assert!(current.is_err(), "draft-{draft} has no relative FETCH");
                } else {
                    let current = current.unwrap_or_else(|e| panic!("relative FETCH, {why}: {e}"));
                    assert_eq!(read_fetch(current).await, objects(7..=7), "relative, {why}");
                }
            }
            track.finish();
            for (draft, _url, _session, sub) in &mut viewers {
                let end = bounded("PUBLISH_DONE", sub.next()).await;
                assert!(matches!(end, Ok(None)), "draft {draft}: {end:?}");
            }
        }
    });
}

#[test]
fn a_two_relay_tree_links_on_the_newest_draft_both_relays_speak() {
    // The root speaks 20 and 18; the edge offers 22, 20 and 18: the link speaks 20.
    let mut cmd = Command::new(tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0"])
        .env("TERN_RELAY_DRAFTS", "20,18");
    let mut root = Relay::start_cmd_with_stderr(cmd, &[], Stdio::piped());
    let mut root_log = Lines::new(root.guard.child.stderr.take().expect("stderr"));
    let root_admin = admin_address(&mut root_log);
    let mut cmd = Command::new(tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0"])
        .env("TERN_UPSTREAMS", root.moqt_url())
        .env("TERN_UPSTREAM_CERT_HASHES", &root.fingerprint);
    let edge = Relay::start_cmd(cmd, &[]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        // A draft-22 client of the root is refused: the root does not speak it.
        assert!(
            Session::connect(&root.moqt_url(), &options(&root.fingerprint, 22))
                .await
                .is_err(),
            "the root speaks 20 and 18 only"
        );
        let publisher = Session::connect(&root.moqt_url(), &options(&root.fingerprint, 18))
            .await
            .expect("publisher at the root");
        let ns = TrackNamespace::from_path("drafts/tree");
        let track = TrackWriter::new(ns.clone(), &b"objects"[..]);
        let _announced = publisher
            .publish_namespace(ns.clone())
            .await
            .expect("PUBLISH_NAMESPACE accepted");
        publisher.serve_track(&track);
        let viewer = Session::connect(&edge.moqt_url(), &options(&edge.fingerprint, 22))
            .await
            .expect("viewer at the edge");
        // The edge learns the track once the link is up.
        let mut tries = 0;
        let mut sub = loop {
            match viewer.subscribe(ns.clone(), &b"objects"[..], None).await {
                Ok(sub) => break sub,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("SUBSCRIBE through the tree: {e}"),
            }
        };
        let page = http_get(&root_admin, "/metrics");
        let link = "tern_sessions{draft=\"moqt-20\",transport=\"quic\"}";
        assert_eq!(sample(&page, link), Some(1.0), "the link in\n{page}");
        track.new_group(0).expect("group");
        for i in 0..3 {
            track.write_object(format!("0/{i}").into()).expect("object");
        }
        let mut got = Vec::new();
        while got.len() < 3 {
            match bounded("an object", sub.next()).await.expect("object") {
                Some(o) => got.push((o.location.group, o.location.object, o.payload)),
                None => break,
            }
        }
        assert_eq!(got, objects(0..=0));
    });
}
