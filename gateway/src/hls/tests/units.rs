//! The decisions of §6.2.5.2 and §6.2.6 case by case, the directives read, what pushes and
//! configs are refused, and the text primitives.

use std::time::{Duration, Instant};

use super::golden::{JAN_2024, config, live, quarter};
use super::*;

#[test]
fn blocking_reloads_are_decided_as_the_spec_says() {
    // Parts of 0.5 s: the Advance Part Limit is 3 / 0.5 = 6 parts. Segment 103 is the last
    // complete one; 104 is in progress with parts 0 and 1.
    let playlist = live();
    let t0 = Instant::now();
    let hold = Duration::from_secs(6);
    let ask = |query: &str, now: Instant| {
        decide(&ReloadRequest::parse(query).unwrap(), &playlist, t0, now)
    };
    let wait = Answer::Wait {
        deadline: t0 + hold,
    };
    let cases = [
        ("", Answer::Now),
        ("_HLS_skip=YES", Answer::Now),
        ("_HLS_part=1", Answer::BadRequest(Refusal::PartWithoutMsn)),
        ("_HLS_msn=103", Answer::Now),
        ("_HLS_msn=50", Answer::Now),
        ("_HLS_msn=104", wait),
        ("_HLS_msn=105", wait),
        (
            "_HLS_msn=106",
            Answer::BadRequest(Refusal::MsnTooFar {
                msn: 106,
                limit: 105,
            }),
        ),
        ("_HLS_msn=104&_HLS_part=1", Answer::Now),
        ("_HLS_msn=104&_HLS_part=2", wait),
        // Part 7 of 104 is six past the last listed (part 1): at the limit, held.
        ("_HLS_msn=104&_HLS_part=7", wait),
        (
            "_HLS_msn=104&_HLS_part=8",
            Answer::BadRequest(Refusal::PartTooFar { ahead: 7 }),
        ),
        ("_HLS_msn=105&_HLS_part=5", wait),
        (
            "_HLS_msn=105&_HLS_part=6",
            Answer::BadRequest(Refusal::PartTooFar { ahead: 7 }),
        ),
        // Segment 103 has four parts: its part 4 is part 0 of 104, which is there.
        ("_HLS_msn=103&_HLS_part=4", Answer::Now),
        ("_HLS_msn=103&_HLS_part=99", Answer::Now),
        ("_HLS_msn=7&_HLS_part=0", Answer::Now),
    ];
    for (query, answer) in cases {
        assert_eq!(ask(query, t0 + Duration::from_secs(1)), answer, "{query}");
    }
    assert_eq!(
        ask("_HLS_msn=104&_HLS_part=2", t0 + hold),
        Answer::Unavailable
    );
    assert_eq!(ask("_HLS_msn=104&_HLS_part=1", t0 + hold * 2), Answer::Now);

    assert_eq!(decide_part(&playlist, 103, 3), PartAnswer::Ready);
    assert_eq!(decide_part(&playlist, 104, 1), PartAnswer::Ready);
    assert_eq!(decide_part(&playlist, 104, 2), PartAnswer::Hold);
    assert_eq!(decide_part(&playlist, 104, 3), PartAnswer::NotFound);
    assert_eq!(decide_part(&playlist, 105, 0), PartAnswer::NotFound);
    assert_eq!(decide_part(&playlist, 100, 0), PartAnswer::NotFound);
}

#[test]
fn a_playlist_of_parts_only_is_held_for_its_first_segment() {
    // Segment 100 in progress with two parts, none complete: a request without `_HLS_msn`
    // waits for segment 100 (a client reading segments only has nothing to play), then, past
    // the hold, gets the playlist as it is. A blocking reload for a part is answered as ever.
    let mut playlist = MediaPlaylist::new(config(2, 6, 100)).unwrap();
    playlist.open(SegmentStart::default()).unwrap();
    playlist.push_part(quarter(true)).unwrap();
    playlist.push_part(quarter(false)).unwrap();
    let t0 = Instant::now();
    let hold = Duration::from_secs(6);
    let ask = |query: &str, playlist: &MediaPlaylist, now: Instant| {
        decide(&ReloadRequest::parse(query).unwrap(), playlist, t0, now)
    };
    let wait = Answer::Wait {
        deadline: t0 + hold,
    };
    assert_eq!(ask("", &playlist, t0), wait);
    assert_eq!(ask("_HLS_skip=YES", &playlist, t0 + hold / 2), wait);
    assert_eq!(ask("", &playlist, t0 + hold), Answer::Now);
    assert_eq!(ask("_HLS_msn=100&_HLS_part=1", &playlist, t0), Answer::Now);
    playlist.push_part(quarter(false)).unwrap();
    playlist.close().unwrap();
    assert_eq!(ask("", &playlist, t0), Answer::Now);
    let mut ended = MediaPlaylist::new(config(2, 6, 100)).unwrap();
    ended.end();
    assert_eq!(ask("", &ended, t0), Answer::Now);
}

#[test]
fn directives_are_read_and_mistakes_name_the_parameter() {
    let request = ReloadRequest::parse("?token=x&_HLS_msn=12&_HLS_part=0&_HLS_skip=v2").unwrap();
    assert_eq!(
        request,
        ReloadRequest {
            msn: Some(12),
            part: Some(0),
            skip: Some(Skip::V2)
        }
    );
    assert_eq!(ReloadRequest::parse(""), Ok(ReloadRequest::default()));
    for (query, parameter, reason) in [
        ("_HLS_msn=+1", "_HLS_msn", "not a decimal-integer"),
        ("_HLS_msn=", "_HLS_msn", "not a decimal-integer"),
        ("_HLS_msn", "_HLS_msn", "not a decimal-integer"),
        (
            "_HLS_part=-1&_HLS_msn=1",
            "_HLS_part",
            "not a decimal-integer",
        ),
        ("_HLS_msn=99999999999999999999", "_HLS_msn", "out of range"),
        ("_HLS_msn=1&_HLS_msn=1", "_HLS_msn", "given twice"),
        ("_HLS_skip=yes", "_HLS_skip", "must be YES or v2"),
        ("_HLS_skip=YES&_HLS_skip=YES", "_HLS_skip", "given twice"),
    ] {
        assert_eq!(
            ReloadRequest::parse(query),
            Err(DirectiveError { parameter, reason }),
            "{query}"
        );
    }
}

#[test]
fn bad_pushes_and_configs_are_refused() {
    let new = |config| MediaPlaylist::new(config).map(|_| ());
    let base = PlaylistConfig::new(2, 1000);
    assert_eq!(base.part_target_ms, 333);
    assert_eq!(
        new(PlaylistConfig {
            part_target_ms: 199,
            ..base.clone()
        }),
        Err(ConfigError::PartTargetTooShort(199))
    );
    assert_eq!(
        new(PlaylistConfig {
            part_target_ms: 200,
            ..base.clone()
        }),
        Ok(())
    );
    assert!(matches!(
        new(PlaylistConfig {
            part_target_ms: 2001,
            ..base.clone()
        }),
        Err(ConfigError::PartTargetTooLong { .. })
    ));
    assert_eq!(
        new(PlaylistConfig {
            target_duration: 0,
            ..base.clone()
        }),
        Err(ConfigError::TargetDuration(0))
    );
    assert_eq!(
        new(PlaylistConfig {
            window: 5,
            ..base.clone()
        }),
        Err(ConfigError::Window { window: 5, min: 6 })
    );
    assert_eq!(
        new(PlaylistConfig {
            timescale: 0,
            ..base.clone()
        }),
        Err(ConfigError::Timescale)
    );

    let mut playlist = MediaPlaylist::new(config(2, 6, 0)).unwrap();
    let start = SegmentStart::default();
    assert_eq!(playlist.push_part(quarter(true)), Err(PushError::NotOpen));
    assert_eq!(
        playlist.push(start, &[]),
        Err(PushError::EmptySegment { msn: 0 })
    );
    // 2.499 s rounds to 2 s; 2.5 s to 3 s, above the Target Duration.
    let parts = [
        quarter(true),
        quarter(false),
        quarter(false),
        quarter(false),
        Part {
            duration: 499,
            independent: false,
        },
    ];
    assert_eq!(playlist.push(start, &parts), Ok(0));
    let parts = [
        quarter(true),
        quarter(false),
        quarter(false),
        quarter(false),
        quarter(false),
    ];
    assert!(matches!(
        playlist.push(start, &parts),
        Err(PushError::SegmentTooLong {
            msn: 1,
            duration_ms: 2500,
            ..
        })
    ));
    assert_eq!(playlist.open(start), Ok(1));
    assert_eq!(playlist.close(), Err(PushError::EmptySegment { msn: 1 }));
    let long = Part {
        duration: 501,
        independent: true,
    };
    assert!(matches!(
        playlist.push_part(long),
        Err(PushError::PartTooLong {
            msn: 1,
            index: 0,
            ..
        })
    ));
    assert_eq!(
        playlist.push_part(Part {
            duration: 0,
            independent: true
        }),
        Err(PushError::EmptyPart { msn: 1, index: 0 })
    );
    // A short part may end its segment, or be independent; otherwise it is too short.
    assert_eq!(
        playlist.push_part(Part {
            duration: 100,
            independent: true
        }),
        Ok((1, 0))
    );
    assert_eq!(
        playlist.push_part(Part {
            duration: 424,
            independent: false
        }),
        Ok((1, 1))
    );
    assert_eq!(
        playlist.push_part(quarter(false)),
        Err(PushError::PartTooShort { msn: 1, index: 1 })
    );
    assert_eq!(
        playlist.push(start, &[quarter(true)]),
        Err(PushError::InProgress { msn: 1 })
    );
    let late = SegmentStart {
        program_date_time: Some(MAX_PROGRAM_DATE_TIME + 1),
        ..start
    };
    assert_eq!(
        playlist.open(late),
        Err(PushError::DateTime(MAX_PROGRAM_DATE_TIME + 1))
    );
    assert_eq!(playlist.open(start), Ok(2));
    assert_eq!(playlist.last_part(), Some((1, 1)));
}

#[test]
fn uris_carry_the_query_once_and_cannot_break_the_text() {
    let query = QuerySuffix::new("token=a.b-c_~%2F").unwrap();
    assert_eq!(query.apply("seg.m4s"), "seg.m4s?token=a.b-c_~%2F");
    assert_eq!(query.apply("seg.m4s?v=1"), "seg.m4s?v=1&token=a.b-c_~%2F");
    assert_eq!(query.apply("seg.m4s?"), "seg.m4s?token=a.b-c_~%2F");
    assert_eq!(query.apply("seg.m4s#t=1"), "seg.m4s?token=a.b-c_~%2F#t=1");
    assert_eq!(
        query.apply("a \"b\"\r\nc"),
        "a%20%22b%22%0D%0Ac?token=a.b-c_~%2F"
    );
    assert_eq!(QuerySuffix::none().apply("seg.m4s"), "seg.m4s");
    assert_eq!(QuerySuffix::new("&t=1").unwrap().as_str(), "t=1");
    assert_eq!(QuerySuffix::new("t=a b"), Err(BadQuerySuffix(' ')));
    assert_eq!(QuerySuffix::new("t=\""), Err(BadQuerySuffix('"')));
    assert_eq!(QuerySuffix::new("t=1#x"), Err(BadQuerySuffix('#')));
    assert_eq!(QuerySuffix::new("t=é"), Err(BadQuerySuffix('é')));
}

#[test]
fn program_date_times_are_iso_8601_in_utc() {
    let date = |ms| {
        let mut out = String::new();
        text::write_date_time(&mut out, ms);
        out
    };
    assert_eq!(date(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(date(951_868_799_999), "2000-02-29T23:59:59.999Z");
    assert_eq!(date(JAN_2024 + 1), "2024-01-01T00:00:00.001Z");
    assert_eq!(date(MAX_PROGRAM_DATE_TIME), "9999-12-31T23:59:59.999Z");
    assert_eq!(date(-1), "1970-01-01T00:00:00.000Z");
}

#[test]
fn any_query_or_uri_is_read_or_refused_without_panicking() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const PIECES: [&str; 16] = [
        "_HLS_msn",
        "_HLS_part",
        "_HLS_skip",
        "=",
        "&",
        "?",
        "#",
        "YES",
        "v2",
        "0",
        "7",
        "18446744073709551616",
        "\"",
        "\n",
        " ",
        "é",
    ];
    let mut rng = StdRng::seed_from_u64(7);
    let playlist = live();
    let t0 = Instant::now();
    for _ in 0..5000 {
        let text: String = (0..rng.random_range(0..12))
            .map(|_| PIECES[rng.random_range(0..PIECES.len())])
            .collect();
        if let Ok(request) = ReloadRequest::parse(&text) {
            decide(&request, &playlist, t0, t0);
        }
        let uri = QuerySuffix::new("t=1").unwrap().apply(&text);
        assert!(!uri.contains(['"', '\n', ' ']), "{uri:?}");
        if let Ok(query) = QuerySuffix::new(&text) {
            assert!(!query.apply("a").contains(['"', '\n', ' ', '#']));
        }
    }
}
