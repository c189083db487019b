use super::*;

/// A 1280x720 High profile SPS.
const SPS: &[u8] = b"gd\0\x1f\xac$\x84\x01@\x16\xec\x04@\0\0\x03\0@\0\0\x0c#\xc6\x0c\x92";

fn idr() -> Vec<u8> {
    let mut au = vec![0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1];
    au.extend_from_slice(SPS);
    au.extend_from_slice(&[
        0, 0, 0, 1, 0x68, 0xee, 0x3c, 0x80, 0, 0, 0, 1, 0x65, 1, 2, 3,
    ]);
    au
}

const P: &[u8] = &[0, 0, 0, 1, 0x41, 9, 9];

/// A VP8 keyframe header for 640x480.
const VP8_KEY: &[u8] = &[
    0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01, 0xff,
];

fn frame(track: usize, codec: Codec, rtp: u64, at: Instant, key: bool, data: &[u8]) -> Frame<'_> {
    Frame {
        track,
        codec,
        rtp_time: rtp,
        arrival: at,
        keyframe: key,
        contiguous: true,
        channels: 2,
        data,
    }
}

fn drain(m: &mut Media) -> Vec<Event> {
    std::iter::from_fn(|| m.poll()).collect()
}

fn samples(events: &[Event]) -> Vec<&Sample> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Sample(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[test]
fn h264_and_opus_become_tracks_in_sync() {
    let t0 = Instant::now();
    let mut m = Media::new(Limits::default());
    let (v, a) = (m.add_track(true).unwrap(), m.add_track(false).unwrap());
    // Random RTP bases; audio arrives 100 ms after video started.
    let key = idr();
    m.push(frame(v, Codec::H264, 1_000_000, t0, true, &key))
        .unwrap();
    m.push(frame(
        a,
        Codec::Opus,
        7_777,
        t0 + Duration::from_millis(100),
        false,
        &[0xfc, 1],
    ))
    .unwrap();
    m.push(frame(
        v,
        Codec::H264,
        1_003_000,
        t0 + Duration::from_millis(133),
        false,
        P,
    ))
    .unwrap();
    m.push(frame(
        a,
        Codec::Opus,
        7_777 + 960,
        t0 + Duration::from_millis(120),
        false,
        &[0xfc, 2],
    ))
    .unwrap();
    let events = drain(&mut m);
    let Event::Tracks(tracks) = &events[0] else {
        panic!("tracks first: {events:?}");
    };
    assert_eq!(tracks.len(), 2);
    assert_eq!(tracks[0].codec, "avc1.64001F");
    assert_eq!((tracks[0].width, tracks[0].height), (1280, 720));
    assert_eq!(tracks[1].codec, "opus");
    assert_eq!(tracks[1].timescale, 48_000);
    let s = samples(&events);
    assert_eq!(s.len(), 2, "one sample held per track: {s:?}");
    let video = s.iter().find(|s| s.track == 1).unwrap();
    assert_eq!((video.dts, video.duration, video.keyframe), (0, 3000, true));
    // The parameter sets stay in band, the delimiter goes.
    assert_eq!(&video.data[..4], &(SPS.len() as u32).to_be_bytes());
    assert_eq!(video.data.len(), 4 + SPS.len() + 4 + 4 + 4 + 4);
    let audio = s.iter().find(|s| s.track == 2).unwrap();
    // 100 ms after the session's first frame, at 48 kHz.
    assert_eq!((audio.dts, audio.duration), (4800, 960));
}

#[test]
fn frames_before_the_first_keyframe_and_after_a_gap_are_dropped() {
    let t0 = Instant::now();
    let mut m = Media::new(Limits::default());
    let v = m.add_track(true).unwrap();
    assert_eq!(
        m.push(frame(v, Codec::H264, 0, t0, false, P)),
        Err(Dropped::AwaitingKeyframe(v))
    );
    let key = idr();
    m.push(frame(v, Codec::H264, 3000, t0, true, &key)).unwrap();
    m.push(frame(v, Codec::H264, 6000, t0, false, P)).unwrap();
    let mut gap = frame(v, Codec::H264, 12000, t0, false, P);
    gap.contiguous = false;
    assert_eq!(m.push(gap), Err(Dropped::AwaitingKeyframe(v)));
    assert_eq!(
        m.push(frame(v, Codec::H264, 15000, t0, false, P)),
        Err(Dropped::AwaitingKeyframe(v))
    );
    // The keyframe is asked for at once.
    assert_eq!(m.keyframes_due(t0), vec![v]);
    assert_eq!(
        m.keyframes_due(t0 + Duration::from_millis(100)),
        Vec::<usize>::new()
    );
    m.push(frame(v, Codec::H264, 18000, t0, true, &key))
        .unwrap();
    m.flush();
    let events = drain(&mut m);
    let s = samples(&events);
    assert_eq!(
        s.iter().map(|s| (s.dts, s.keyframe)).collect::<Vec<_>>(),
        [(0, true), (3000, false), (15000, true)]
    );
    // The frame before the gap lasts until the next one published.
    assert_eq!(s[1].duration, 12000);
}

#[test]
fn a_keyframe_is_asked_for_every_interval() {
    let t0 = Instant::now();
    let limits = Limits {
        keyframe_interval: Duration::from_secs(2),
        ..Limits::default()
    };
    let mut m = Media::new(limits);
    let v = m.add_track(true).unwrap();
    let a = m.add_track(false).unwrap();
    // Nothing is asked for before the track starts (an encoder starts with a keyframe)...
    assert!(m.keyframes_due(t0).is_empty());
    // ...but a track that starts without one gets asked at once, not again within the retry
    // delay.
    assert_eq!(
        m.push(frame(v, Codec::H264, 0, t0, false, P)),
        Err(Dropped::AwaitingKeyframe(v))
    );
    assert_eq!(m.keyframes_due(t0), vec![v]);
    assert!(m.keyframes_due(t0 + Duration::from_millis(200)).is_empty());
    let key = idr();
    let at = t0 + Duration::from_millis(300);
    m.push(frame(v, Codec::H264, 9000, at, true, &key)).unwrap();
    assert!(m.keyframes_due(t0 + Duration::from_millis(1900)).is_empty());
    assert_eq!(m.keyframes_due(t0 + Duration::from_millis(2300)), vec![v]);
    assert_ne!(v, a);
}

#[test]
fn a_track_that_never_starts_does_not_hold_the_broadcast() {
    let t0 = Instant::now();
    let mut m = Media::new(Limits::default());
    let v = m.add_track(true).unwrap();
    let a = m.add_track(false).unwrap();
    m.push(frame(v, Codec::Vp8, 0, t0, true, VP8_KEY)).unwrap();
    m.tick(t0 + Duration::from_millis(1900));
    assert!(m.poll().is_none());
    m.tick(t0 + TRACKS_WAIT);
    let Some(Event::Tracks(tracks)) = m.poll() else {
        panic!("tracks after the wait");
    };
    assert_eq!(tracks.len(), 1);
    assert_eq!(tracks[0].codec, "vp8");
    assert_eq!((tracks[0].width, tracks[0].height), (640, 480));
    // The late track joins the broadcast: the tracks are told again, with it.
    let late = t0 + TRACKS_WAIT;
    m.push(frame(a, Codec::Opus, 0, late, false, &[1])).unwrap();
    m.push(frame(a, Codec::Opus, 960, late, false, &[2]))
        .unwrap();
    let events = drain(&mut m);
    let Some(Event::Tracks(tracks)) = events.iter().find(|e| matches!(e, Event::Tracks(_))) else {
        panic!("the tracks again: {events:?}");
    };
    let codecs: Vec<&str> = tracks.iter().map(|t| t.codec.as_str()).collect();
    assert_eq!(codecs, ["vp8", "opus"]);
    assert!(samples(&events).iter().any(|s| s.track == tracks[1].id));
}

/// An encoder that changes its resolution at a keyframe (as browsers do when the network
/// tightens): the tracks are told again, after the old size's last frame and before the new
/// size's first, and the same size again tells nothing.
#[test]
fn a_new_size_at_a_keyframe_retells_the_tracks() {
    let t0 = Instant::now();
    let mut m = Media::new(Limits::default());
    let v = m.add_track(true).unwrap();
    m.push(frame(v, Codec::Vp8, 0, t0, true, VP8_KEY)).unwrap();
    m.push(frame(v, Codec::Vp8, 3000, t0, false, &[0x11, 0, 0]))
        .unwrap();
    m.tick(t0 + TRACKS_WAIT);
    // The same size at the next keyframe.
    m.push(frame(v, Codec::Vp8, 6000, t0, true, VP8_KEY))
        .unwrap();
    let before = drain(&mut m);
    assert_eq!(
        before
            .iter()
            .filter(|e| matches!(e, Event::Tracks(_)))
            .count(),
        1
    );
    // 320x240.
    let small = [
        0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 0xff,
    ];
    m.push(frame(v, Codec::Vp8, 9000, t0, true, &small))
        .unwrap();
    m.push(frame(v, Codec::Vp8, 12000, t0, false, &[0x11, 0, 0]))
        .unwrap();
    let events = drain(&mut m);
    let at = |p: &dyn Fn(&Event) -> bool| events.iter().position(p).expect("an event");
    let tracks = at(&|e| matches!(e, Event::Tracks(_)));
    let Event::Tracks(t) = &events[tracks] else {
        unreachable!()
    };
    assert_eq!((t[0].width, t[0].height), (320, 240));
    // The first frame arrived at the session's start: decode times are RTP times here.
    let old_key = at(&|e| matches!(e, Event::Sample(s) if s.dts == 6000));
    let new_key = at(&|e| matches!(e, Event::Sample(s) if s.dts == 9000));
    assert!(old_key < tracks && tracks < new_key, "{events:?}");
}

#[test]
fn a_keyframe_without_parameter_sets_is_not_a_start() {
    let t0 = Instant::now();
    let mut m = Media::new(Limits::default());
    let v = m.add_track(true).unwrap();
    let bare = [0, 0, 0, 1, 0x65, 1, 2];
    assert!(matches!(
        m.push(frame(v, Codec::H264, 0, t0, true, &bare)),
        Err(Dropped::Unconfigured { .. })
    ));
    assert!(matches!(
        m.push(frame(v, Codec::Vp8, 0, t0, true, &[0x11, 0, 0])),
        Err(Dropped::Unconfigured { .. })
    ));
}

#[test]
fn vp8_sizes() {
    assert_eq!(vp8_size(VP8_KEY), Some((640, 480)));
    // An interframe (bit 0 set) has no size; nor has a short or unmarked frame.
    assert_eq!(
        vp8_size(&[0x11, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]),
        None
    );
    assert_eq!(vp8_size(&VP8_KEY[..9]), None);
    assert_eq!(
        vp8_size(&[0x10, 0x02, 0x00, 0, 0, 0, 0x80, 0x02, 0xe0, 0x01]),
        None
    );
}

#[test]
fn tracks_are_bounded() {
    let mut m = Media::new(Limits {
        max_tracks: 2,
        ..Limits::default()
    });
    assert!(m.add_track(true).is_some());
    assert!(m.add_track(false).is_some());
    assert!(m.add_track(true).is_none());
}
