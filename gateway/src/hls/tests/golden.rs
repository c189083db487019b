//! Small playlists written out by hand after the spec's examples (RFC 8216bis §9.4, §9.6,
//! §9.11).

use std::time::Instant;

use super::*;

pub(super) const JAN_2024: i64 = 1_704_067_200_000;

pub(super) fn quarter(independent: bool) -> Part {
    Part {
        duration: 500,
        independent,
    }
}

pub(super) fn config(target_duration: u32, window: u32, first_msn: u64) -> PlaylistConfig {
    PlaylistConfig {
        part_target_ms: 500,
        window,
        first_msn,
        ..PlaylistConfig::new(target_duration, 1000)
    }
}

/// Segments 100 to 103 (2 s, four 0.5 s parts each), one program date-time each, and segment
/// 104 in progress with two parts.
pub(super) fn live() -> MediaPlaylist {
    let mut playlist = MediaPlaylist::new(config(2, 6, 100)).unwrap();
    for n in 0..4 {
        let start = SegmentStart {
            program_date_time: Some(JAN_2024 + n * 2000),
            init: 1,
            ..Default::default()
        };
        let parts = [
            quarter(true),
            quarter(false),
            quarter(false),
            quarter(false),
        ];
        assert_eq!(playlist.push(start, &parts), Ok(100 + n as u64));
    }
    let start = SegmentStart {
        program_date_time: Some(JAN_2024 + 8000),
        init: 1,
        ..Default::default()
    };
    assert_eq!(playlist.open(start), Ok(104));
    assert_eq!(playlist.push_part(quarter(true)), Ok((104, 0)));
    assert_eq!(playlist.push_part(quarter(false)), Ok((104, 1)));
    playlist
}

#[test]
fn a_live_window_lists_parts_for_the_last_three_target_durations() {
    let playlist = live();
    let query = QuerySuffix::new("?token=abc").unwrap();
    let report = RenditionReport {
        uri: "../audio/index.m3u8".into(),
        last_msn: 104,
        last_part: Some(1),
    };
    let options = RenderOptions {
        skip: None,
        reports: &[report],
        query: &query,
    };
    // Segment 100 left the window (the other three still fill its 6 s); segment 101 starts 7 s
    // before the end of the last part, beyond three Target Durations, so its parts are gone.
    let expected = "\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500,CAN-SKIP-UNTIL=12.000
#EXT-X-PART-INF:PART-TARGET=0.500
#EXT-X-MEDIA-SEQUENCE:101
#EXT-X-MAP:URI=\"init1.mp4?token=abc\"
#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:02.000Z
#EXTINF:2.00000,
seg101.m4s?token=abc
#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:04.000Z
#EXT-X-PART:DURATION=0.50000,URI=\"seg102.0.m4s?token=abc\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.50000,URI=\"seg102.1.m4s?token=abc\"
#EXT-X-PART:DURATION=0.50000,URI=\"seg102.2.m4s?token=abc\"
#EXT-X-PART:DURATION=0.50000,URI=\"seg102.3.m4s?token=abc\"
#EXTINF:2.00000,
seg102.m4s?token=abc
#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:06.000Z
#EXT-X-PART:DURATION=0.50000,URI=\"seg103.0.m4s?token=abc\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.50000,URI=\"seg103.1.m4s?token=abc\"
#EXT-X-PART:DURATION=0.50000,URI=\"seg103.2.m4s?token=abc\"
#EXT-X-PART:DURATION=0.50000,URI=\"seg103.3.m4s?token=abc\"
#EXTINF:2.00000,
seg103.m4s?token=abc
#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:08.000Z
#EXT-X-PART:DURATION=0.50000,URI=\"seg104.0.m4s?token=abc\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.50000,URI=\"seg104.1.m4s?token=abc\"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg104.2.m4s?token=abc\"
#EXT-X-RENDITION-REPORT:URI=\"../audio/index.m3u8?token=abc\",LAST-MSN=104,LAST-PART=1
";
    assert_eq!(
        playlist.render(&Names { own_query: false }, &options),
        expected
    );
    assert_eq!(
        RenditionReport::of(&playlist, "x"),
        Some(RenditionReport {
            uri: "x".into(),
            last_msn: 104,
            last_part: Some(1)
        })
    );
}

/// Segments 0 to 10 of 1 s (two parts each): 0, with a discontinuity, left the window; 5
/// brings a new init section; 11 is open without parts.
fn long() -> MediaPlaylist {
    let mut playlist = MediaPlaylist::new(config(1, 10, 0)).unwrap();
    for msn in 0..=10 {
        let start = SegmentStart {
            discontinuity: msn == 0 || msn == 2,
            init: if msn < 5 { 1 } else { 2 },
            ..Default::default()
        };
        playlist
            .push(start, &[quarter(true), quarter(false)])
            .unwrap();
    }
    playlist
        .open(SegmentStart {
            init: 2,
            ..Default::default()
        })
        .unwrap();
    playlist
}

#[test]
fn a_delta_update_skips_the_segments_beyond_the_skip_boundary() {
    let playlist = long();
    let none = QuerySuffix::none();
    let names = Names { own_query: false };
    // Segments 1 to 3 end more than CAN-SKIP-UNTIL (6 s) before the end of segment 10; 4 ends
    // exactly 6 s before it and stays. The skipped discontinuity of segment 2 does not change
    // the Discontinuity Sequence (§4.4.5.2); the init section in effect is named again. Parts:
    // the last three segments' at most, the preload hint counting as one (segment 8 is within
    // three Target Durations but not among them).
    let expected = "\
#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:1
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500,CAN-SKIP-UNTIL=6.000
#EXT-X-PART-INF:PART-TARGET=0.500
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-DISCONTINUITY-SEQUENCE:1
#EXT-X-SKIP:SKIPPED-SEGMENTS=3
#EXT-X-MAP:URI=\"init1.mp4\"
#EXTINF:1.00000,
seg4.m4s
#EXT-X-MAP:URI=\"init2.mp4\"
#EXTINF:1.00000,
seg5.m4s
#EXTINF:1.00000,
seg6.m4s
#EXTINF:1.00000,
seg7.m4s
#EXTINF:1.00000,
seg8.m4s
#EXT-X-PART:DURATION=0.50000,URI=\"seg9.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.50000,URI=\"seg9.1.m4s\"
#EXTINF:1.00000,
seg9.m4s
#EXT-X-PART:DURATION=0.50000,URI=\"seg10.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.50000,URI=\"seg10.1.m4s\"
#EXTINF:1.00000,
seg10.m4s
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg11.0.m4s\"
";
    let delta = RenderOptions {
        skip: Some(Skip::Yes),
        reports: &[],
        query: &none,
    };
    assert_eq!(playlist.render(&names, &delta), expected);

    // v2 skips date ranges too (there are none): version 10, an empty removal list.
    let v2 = playlist.render(
        &names,
        &RenderOptions {
            skip: Some(Skip::V2),
            ..delta
        },
    );
    assert!(v2.contains("#EXT-X-VERSION:10\n"));
    assert!(v2.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=3,RECENTLY-REMOVED-DATERANGES=\"\"\n"));

    let full = read(&playlist.render(
        &names,
        &RenderOptions {
            skip: None,
            ..delta
        },
    ));
    assert_eq!(full.segments.len(), 10);
    assert!(full.segments[1].discontinuity);
    assert_eq!(full.version, 6);
}

#[test]
fn a_short_window_is_not_skipped_and_an_ended_one_has_no_hint() {
    let mut playlist = live();
    let none = QuerySuffix::none();
    let names = Names { own_query: false };
    let delta = RenderOptions {
        skip: Some(Skip::Yes),
        reports: &[],
        query: &none,
    };
    let text = playlist.render(&names, &delta);
    assert!(
        !text.contains("EXT-X-SKIP") && text.contains("#EXT-X-VERSION:6\n"),
        "{text}"
    );

    playlist.end();
    assert_eq!(playlist.push_part(quarter(true)), Err(PushError::Ended));
    let text = playlist.render(&names, &delta);
    assert!(
        text.ends_with("#EXTINF:1.00000,\nseg104.m4s\n#EXT-X-ENDLIST\n"),
        "{text}"
    );
    assert!(!text.contains("PRELOAD-HINT"));
    let request = ReloadRequest::parse("_HLS_msn=900&_HLS_part=3").unwrap();
    let t0 = Instant::now();
    assert_eq!(decide(&request, &playlist, t0, t0), Answer::Now);
}

#[test]
fn a_segment_cut_from_a_long_group_is_not_said_to_be_independent() {
    // Target 1 s: a 1.5 s group is cut into segment 0 (its keyframe) and segment 1 (its last
    // 0.5 s, no keyframe). Segment 1 depends on segment 0, so the playlist does not say every
    // segment is independent until segment 1 has left the window.
    let mut playlist = MediaPlaylist::new(config(1, 3, 0)).unwrap();
    let names = Names { own_query: false };
    let none = QuerySuffix::none();
    let options = RenderOptions {
        skip: None,
        reports: &[],
        query: &none,
    };
    let says = |playlist: &MediaPlaylist| {
        playlist
            .render(&names, &options)
            .contains("\n#EXT-X-INDEPENDENT-SEGMENTS\n")
    };
    assert!(!says(&playlist), "an empty window states nothing");
    let start = SegmentStart {
        init: 1,
        ..Default::default()
    };
    playlist
        .push(start, &[quarter(true), quarter(false)])
        .unwrap();
    assert!(says(&playlist));
    playlist.push(start, &[quarter(false)]).unwrap();
    let text = playlist.render(&names, &options);
    assert!(!text.contains("INDEPENDENT-SEGMENTS"), "{text}");
    assert!(text.contains("URI=\"seg1.0.m4s\"\n"), "{text}");
    // An open segment counts from its first part.
    playlist.open(start).unwrap();
    playlist.push_part(quarter(true)).unwrap();
    assert!(!says(&playlist));
    playlist.push_part(quarter(false)).unwrap();
    playlist.close().unwrap();
    for _ in 0..3 {
        playlist
            .push(start, &[quarter(true), quarter(false)])
            .unwrap();
    }
    assert!(playlist.first_msn() > 1, "segment 1 left the window");
    assert!(says(&playlist));
    // The multivariant playlist never promises it for segments to come.
    let presentation = Multivariant {
        variants: vec![Variant {
            uri: "v/index.m3u8".into(),
            bandwidth: 1,
            average_bandwidth: None,
            codecs: "avc1.64001f".into(),
            resolution: None,
            frame_rate: None,
            audio: None,
        }],
        audio: Vec::new(),
    };
    assert!(
        !presentation
            .render(&none)
            .unwrap()
            .contains("INDEPENDENT-SEGMENTS")
    );
}

#[test]
fn the_multivariant_playlist_names_its_audio_group() {
    let audio = AudioRendition {
        group_id: "audio".into(),
        name: "English".into(),
        language: Some("en".into()),
        default: true,
        autoselect: false,
        channels: Some(2),
        codecs: "mp4a.40.2".into(),
        uri: "audio/aac/index.m3u8".into(),
    };
    let hd = Variant {
        uri: "video/720p/index.m3u8".into(),
        bandwidth: 2_500_000,
        average_bandwidth: Some(2_000_000),
        codecs: "avc1.64001f".into(),
        resolution: Some(Resolution {
            width: 1280,
            height: 720,
        }),
        frame_rate: Some(FrameRate {
            num: 30_000,
            den: 1001,
        }),
        audio: Some("audio".into()),
    };
    let sd = Variant {
        uri: "video/360p/index.m3u8?v=2".into(),
        bandwidth: 800_000,
        average_bandwidth: None,
        codecs: "avc1.4d401e,mp4a.40.2".into(),
        resolution: Some(Resolution {
            width: 640,
            height: 360,
        }),
        frame_rate: Some(FrameRate { num: 30, den: 1 }),
        ..hd.clone()
    };
    let presentation = Multivariant {
        variants: vec![hd, sd],
        audio: vec![audio.clone()],
    };
    let expected = "\
#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",LANGUAGE=\"en\",NAME=\"English\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio/aac/index.m3u8?token=abc\"
#EXT-X-STREAM-INF:BANDWIDTH=2500000,AVERAGE-BANDWIDTH=2000000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=29.970,AUDIO=\"audio\"
video/720p/index.m3u8?token=abc
#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS=\"avc1.4d401e,mp4a.40.2\",RESOLUTION=640x360,FRAME-RATE=30.000,AUDIO=\"audio\"
video/360p/index.m3u8?v=2&token=abc
";
    assert_eq!(
        presentation
            .render(&QuerySuffix::new("token=abc").unwrap())
            .unwrap(),
        expected
    );

    let mut wrong = presentation.clone();
    wrong.variants[0].audio = Some("aac".into());
    assert_eq!(
        wrong.render(&QuerySuffix::none()),
        Err(MultivariantError::UnknownGroup("aac".into()))
    );
    let mut wrong = presentation.clone();
    wrong.audio.push(AudioRendition {
        name: "Commentary".into(),
        ..audio.clone()
    });
    assert_eq!(
        wrong.render(&QuerySuffix::none()),
        Err(MultivariantError::TwoDefaults("audio".into()))
    );
    let mut wrong = presentation.clone();
    wrong.audio[0].name = "Eng\"lish".into();
    assert!(matches!(
        wrong.render(&QuerySuffix::none()),
        Err(MultivariantError::Unquotable { what: "NAME", .. })
    ));
    let mut wrong = presentation;
    wrong.variants[1].frame_rate = Some(FrameRate { num: 25, den: 0 });
    assert_eq!(
        wrong.render(&QuerySuffix::none()),
        Err(MultivariantError::FrameRate { num: 25 })
    );
}
