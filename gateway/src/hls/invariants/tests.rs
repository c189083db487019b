//! The checker passes what the writer serves across a live window's reloads, and names the
//! rule of every break made by hand.

use super::*;
use crate::hls::path::RenditionUris;
use crate::hls::{
    MediaPlaylist, Part, PlaylistConfig, QuerySuffix, RenderOptions, SegmentStart, Skip,
};

const URL: &str = "/hls/live/a/.t/video/media.m3u8";

/// A live rendition: target 1 s, parts of 0.3 s, three parts a segment, a date each.
fn playlist() -> MediaPlaylist {
    let config = PlaylistConfig {
        first_msn: 500,
        part_target_ms: 333,
        window: 10,
        ..PlaylistConfig::new(1, 1000)
    };
    MediaPlaylist::new(config).expect("config")
}

fn part(independent: bool) -> Part {
    Part {
        duration: 300,
        independent,
    }
}

fn render(playlist: &MediaPlaylist, skip: Option<Skip>) -> String {
    let query = QuerySuffix::new("token=t").expect("query");
    playlist.render(
        &RenditionUris,
        &RenderOptions {
            skip,
            reports: &[],
            query: &query,
        },
    )
}

#[test]
fn what_the_writer_serves_across_reloads_keeps_the_rules() {
    let mut playlist = playlist();
    let mut checker = Checker::new();
    for n in 0..40i64 {
        let start = SegmentStart {
            program_date_time: Some(1_764_000_000_000 + n * 900),
            ..Default::default()
        };
        let msn = playlist.open(start).expect("open");
        for index in 0..3u32 {
            playlist.push_part(part(index == 0)).expect("part");
            let blocking = format!("{URL}?token=t&_HLS_msn={msn}&_HLS_part={index}");
            checker
                .check(&blocking, &render(&playlist, None))
                .unwrap_or_else(|v| panic!("{v}\n{}", render(&playlist, None)));
        }
        playlist.close().expect("close");
        let text = render(&playlist, Some(Skip::Yes));
        checker
            .check(&format!("{URL}?_HLS_msn={msn}&_HLS_skip=YES"), &text)
            .unwrap_or_else(|v| panic!("{v}\n{text}"));
        checker
            .check(URL, &render(&playlist, None))
            .unwrap_or_else(|v| panic!("{v}"));
    }
    playlist.end();
    checker
        .check(URL, &render(&playlist, None))
        .expect("the ended playlist");
    let tally = checker.tally();
    assert_eq!((tally.media, tally.blocking), (40 * 5 + 1, 40 * 4));
    assert!(tally.delta > 20, "{tally:?}");
}

/// A live window by hand: segments 10 and 11 of 1 s, segment 12 in progress.
const GOOD: &str = "#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:1
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500,CAN-SKIP-UNTIL=6.000
#EXT-X-PART-INF:PART-TARGET=0.500
#EXT-X-MEDIA-SEQUENCE:10
#EXT-X-MAP:URI=\"init.mp4\"
#EXT-X-PROGRAM-DATE-TIME:2025-01-01T00:00:00.000Z
#EXT-X-PART:DURATION=0.50000,URI=\"p10.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.50000,URI=\"p10.1.m4s\"
#EXTINF:1.00000,
s10.m4s
#EXT-X-PROGRAM-DATE-TIME:2025-01-01T00:00:01.000Z
#EXT-X-PART:DURATION=0.50000,URI=\"p11.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.50000,URI=\"p11.1.m4s\"
#EXTINF:1.00000,
s11.m4s
#EXT-X-PROGRAM-DATE-TIME:2025-01-01T00:00:02.000Z
#EXT-X-PART:DURATION=0.50000,URI=\"p12.0.m4s\",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p12.1.m4s\"
";

/// A break by hand: the URL read at, the edits (from, to) of `GOOD`, the rule broken.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

/// The rule `GOOD` with `edits` (from, to) made breaks, read at `url` after `GOOD` at [`URL`].
fn breaks(url: &str, edits: &[(&str, &str)]) -> &'static str {
    let mut checker = Checker::new();
    checker.check(URL, GOOD).expect("the good playlist");
    let mut text = GOOD.to_owned();
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    checker
        .check(url, &text)
        .expect_err(&format!("{edits:?} breaks a rule"))
        .rule
}

#[test]
fn every_rule_broken_by_hand_is_named() {
    let delta = format!("{URL}?_HLS_skip=YES");
    let skip_one = [
        ("#EXT-X-VERSION:6", "#EXT-X-VERSION:9"),
        (
            "#EXT-X-MEDIA-SEQUENCE:10\n",
            "#EXT-X-MEDIA-SEQUENCE:9\n#EXT-X-SKIP:SKIPPED-SEGMENTS=1\n",
        ),
    ];
    let cases: &[Case] = &[
        (URL, &[("#EXTM3U\n", "")], "4.4.1.1"),
        (URL, &[("#EXT-X-TARGETDURATION:1\n", "")], "4.4.3.1"),
        (
            URL,
            &[("#EXTINF:1.00000,\ns11", "#EXTINF:1.50000,\ns11")],
            "4.4.3.1",
        ),
        (
            URL,
            &[(
                "DURATION=0.50000,URI=\"p11.1",
                "DURATION=0.50100,URI=\"p11.1",
            )],
            "4.4.4.9 a Partial Segment is at most",
        ),
        (
            URL,
            &[(
                "DURATION=0.50000,URI=\"p10.0.m4s\",INDEPENDENT=YES",
                "DURATION=0.40000,URI=\"p10.0.m4s\"",
            )],
            "4.4.4.9 a Partial Segment, unless",
        ),
        (
            URL,
            &[("URI=\"p11.0.m4s\",INDEPENDENT=YES", "URI=\"p11.0.m4s\"")],
            "4.4.2.1",
        ),
        (
            URL,
            &[("PART-HOLD-BACK=1.500", "PART-HOLD-BACK=1.000")],
            "4.4.3.8 PART-HOLD-BACK",
        ),
        (
            URL,
            &[("CAN-SKIP-UNTIL=6.000", "CAN-SKIP-UNTIL=5.999")],
            "4.4.3.8 CAN-SKIP-UNTIL",
        ),
        (URL, &[("#EXT-X-VERSION:6", "#EXT-X-VERSION:5")], "4.4.4.5"),
        (URL, &[("00:00:01.000Z", "00:00:00.000Z")], "4.4.4.6"),
        (
            URL,
            &[("URI=\"p12.1.m4s\"", "URI=\"p11.1.m4s\"")],
            "4.4.5.3",
        ),
        (
            URL,
            &[
                ("TARGETDURATION:1", "TARGETDURATION:2"),
                ("CAN-SKIP-UNTIL=6.000", "CAN-SKIP-UNTIL=12.000"),
            ],
            "6.2.1 the Target Duration",
        ),
        (
            URL,
            &[
                ("PART-HOLD-BACK=1.500", "PART-HOLD-BACK=1.800"),
                ("PART-TARGET=0.500", "PART-TARGET=0.600"),
            ],
            "6.2.1 the Target Duration",
        ),
        (URL, &[("MEDIA-SEQUENCE:10", "MEDIA-SEQUENCE:9")], "6.2.2"),
        (
            URL,
            &[("s11.m4s", "s11b.m4s")],
            "6.2.1 a Media Sequence Number keeps",
        ),
        (
            URL,
            &[("00:00:01.000Z", "00:00:01.500Z")],
            "6.2.1 a segment keeps",
        ),
        (
            URL,
            &[("URI=\"p12.0.m4s\"", "URI=\"p11.1.m4s\"")],
            "6.2.1 a part keeps",
        ),
        (URL, &skip_one, "6.2.5.1 a Playlist Delta Update only when"),
        (&delta, &skip_one, "6.2.5.1 a Playlist Delta Update lists"),
        (&delta, &[skip_one[1]], "4.4.5.2"),
        // Segment 12's part 1 was asked for; part 0 is all there is.
        (&format!("{URL}?_HLS_msn=12&_HLS_part=1"), &[], "6.2.5.2"),
        (&format!("{URL}?_HLS_msn=12"), &[], "6.2.5.2"),
    ];
    for &(url, edits, rule) in cases {
        let broken = breaks(url, edits);
        assert!(broken.starts_with(rule), "{edits:?}: {broken}");
    }
    // What the playlist has is answered: part 2 of segment 11 is part 0 of 12, there.
    let mut checker = Checker::new();
    for query in [
        "_HLS_msn=11",
        "_HLS_msn=11&_HLS_part=2",
        "_HLS_msn=12&_HLS_part=0",
        "_HLS_msn=3&_HLS_part=9",
    ] {
        checker
            .check(&format!("{URL}?{query}"), GOOD)
            .unwrap_or_else(|v| panic!("{query}: {v}"));
    }
}

#[test]
fn a_multivariant_playlist_names_its_groups() {
    let good = "#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"aac\",URI=\"a/media.m3u8\"
#EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS=\"avc1.64001f,mp4a.40.2\",AUDIO=\"audio\"
v/media.m3u8
";
    let mut checker = Checker::new();
    checker.check("/hls/a/index.m3u8", good).expect("good");
    assert_eq!(checker.tally().multivariant, 1);
    for (from, to, rule) in [
        ("AUDIO=\"audio\"", "AUDIO=\"other\"", "4.4.6.2.1"),
        ("BANDWIDTH=900000,", "", "4.4.6.2 BANDWIDTH"),
        ("v/media.m3u8\n", "", "4.4.6.2 a URI"),
        ("NAME=\"aac\",", "", "4.4.6.1"),
    ] {
        let text = good.replace(from, to);
        let broken = Checker::new()
            .check("/hls/a/index.m3u8", &text)
            .expect_err(from)
            .rule;
        assert!(broken.starts_with(rule), "{from}: {broken}");
    }
    // A multivariant playlist's EXT-X-INDEPENDENT-SEGMENTS holds every media playlist to it.
    let mut checker = Checker::new();
    let promise = good.replace("#EXTM3U\n", "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    checker.check("/hls/a/index.m3u8", &promise).expect("good");
    let text = GOOD
        .replace("#EXT-X-INDEPENDENT-SEGMENTS\n", "")
        .replace("URI=\"p12.0.m4s\",INDEPENDENT=YES", "URI=\"p12.0.m4s\"");
    assert!(
        checker
            .check(URL, &text)
            .expect_err("a promise broken")
            .rule
            .starts_with("4.4.2.1")
    );
}

#[test]
fn dates_and_decimals_are_read_as_the_spec_writes_them() {
    assert_eq!(read::seconds("1.5", "x"), Ok(1_500_000));
    assert_eq!(read::seconds("0.33300", "x"), Ok(333_000));
    assert_eq!(read::seconds("7", "x"), Ok(7_000_000));
    for bad in ["", ".5", "-1", "1e3", "1.2.3"] {
        assert!(read::seconds(bad, "x").is_err(), "{bad}");
    }
    assert_eq!(read::date_time("1970-01-01T00:00:00Z"), Ok(0));
    assert_eq!(
        read::date_time("2024-01-01T00:00:02.000Z"),
        Ok(1_704_067_202_000)
    );
    assert_eq!(
        read::date_time("2024-01-01T01:00:02.5+01:00"),
        Ok(1_704_067_202_500)
    );
    for bad in [
        "2024-01-01",
        "2024-01-01T00:00:00",
        "2024-13-01T00:00:00Z",
        "2024-01-01T00:00-00Z",
        "2024-01-01T00:00:00+0\u{e9}00",
    ] {
        assert!(read::date_time(bad).is_err(), "{bad}");
    }
}
