//! The driver's pure parts: the paths it serves and the catalog it reads.

use tern_cmaf::catalog::msf;
use tern_cmaf::packager::Packager;

use super::catalog::{multivariant, renditions, uri_safe};
use super::path::{File, Resource, media_from_multivariant, parse};
use super::text::QuerySuffix;
use crate::ingest::trak;

fn rendition(namespace: &str, track: &str, file: File) -> Resource {
    Resource::Rendition {
        namespace: namespace.into(),
        track: track.into(),
        file,
    }
}

#[test]
fn paths_name_a_broadcast_or_a_rendition() {
    let multivariant = |ns: &str| Resource::Multivariant {
        namespace: ns.into(),
    };
    assert_eq!(parse("live/cam1/index.m3u8"), Ok(multivariant("live/cam1")));
    // A longer namespace whose last field is a file name of ours does not collide.
    assert_eq!(
        parse("live/cam1/index.m3u8/index.m3u8"),
        Ok(multivariant("live/cam1/index.m3u8"))
    );
    assert_eq!(
        parse("live/cam1/.t/video-720p/media.m3u8"),
        Ok(rendition("live/cam1", "video-720p", File::Media))
    );
    assert_eq!(
        parse("live/cam1/.t/video-720p/part-170000.3.m4s"),
        Ok(rendition("live/cam1", "video-720p", File::Part(170_000, 3)))
    );
    assert_eq!(
        parse("a/.t/audio-aac/seg-12.m4s"),
        Ok(rendition("a", "audio-aac", File::Segment(12)))
    );
    assert_eq!(
        parse("a/.t/audio-aac/init.mp4"),
        Ok(rendition("a", "audio-aac", File::CurrentInit))
    );
    assert_eq!(
        parse("a/.t/audio-aac/init-99.mp4"),
        Ok(rendition("a", "audio-aac", File::Init(99)))
    );
    assert_eq!(
        parse("live%20room/index.m3u8"),
        Ok(multivariant("live room"))
    );
    for bad in [
        "",
        "index.m3u8",
        "live/cam1",
        "live/cam1/other.m3u8",
        "live//cam1/index.m3u8",
        "live/../cam1/index.m3u8",
        "live/.hidden/index.m3u8",
        ".t/video/media.m3u8",
        "live/.t/video",
        "live/.t/a/b/media.m3u8",
        "live/.t/video/seg-01.m4s",
        "live/.t/video/seg-.m4s",
        "live/.t/video/seg-+1.m4s",
        "live/.t/video/part-1.m4s",
        "live/.t/video/part-1.99999999999.m4s",
        "live/.t/video/seg-99999999999999999999999.m4s",
        "live%2Fcam1/index.m3u8",
        "live%0acam/index.m3u8",
        "live%zz/index.m3u8",
        "live%e2/index.m3u8",
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
    assert!(parse(&"a/".repeat(600)).is_err());
    assert!(parse(&format!("{}index.m3u8", "a/".repeat(33))).is_err());
}

#[test]
fn the_catalog_makes_the_multivariant_playlist() {
    let tracks = vec![
        trak::vp8(1, 640, 360),
        trak::vp8(2, 1280, 720),
        trak::opus(3, 2, 312),
    ];
    let packager = Packager::new(tracks).expect("tracks");
    let catalog = msf("live/cam1", packager.tracks(), 0).to_string();
    let list = renditions(catalog.as_bytes()).expect("a catalog");
    let names: Vec<&str> = list.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["video-360p", "video-720p", "audio-opus"]);
    assert!(list[0].video && !list[2].video);
    assert_eq!(list[2].channels, Some(2));
    assert_eq!(list[2].timescale, 48_000);
    assert!(list.iter().all(|r| !r.init.is_empty()));

    let playlist = multivariant(&list, media_from_multivariant).expect("variants");
    let text = playlist
        .render(&QuerySuffix::new("token=abc").expect("query"))
        .expect("text");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "#EXTM3U");
    assert!(
        text.contains("URI=\".t/audio-opus/media.m3u8?token=abc\""),
        "{text}"
    );
    // The largest variant first, each with its audio group's codec.
    let first = lines
        .iter()
        .position(|l| l.starts_with("#EXT-X-STREAM-INF"))
        .expect("a variant");
    assert!(lines[first].contains("RESOLUTION=1280x720"), "{text}");
    assert!(lines[first].contains("CODECS=\"vp8,opus\""), "{text}");
    assert!(lines[first].contains("AUDIO=\"audio\""), "{text}");
    assert_eq!(lines[first + 1], ".t/video-720p/media.m3u8?token=abc");
}

#[test]
fn what_the_catalog_reader_leaves_out() {
    assert!(renditions(b"not json").is_none());
    assert!(renditions(b"{}").is_none());
    assert_eq!(renditions(br#"{"tracks":[]}"#), Some(Vec::new()));
    let odd = br#"{"tracks":[
        {"name":"x","packaging":"loc","role":"video","codec":"a","timescale":1,"initData":""},
        {"name":"../x","packaging":"cmaf","role":"video","codec":"a","timescale":1,"initData":""},
        {"name":"y","packaging":"cmaf","role":"video","codec":"a","timescale":0,"initData":""},
        {"name":"z","packaging":"cmaf","role":"video","codec":"a","timescale":1,"initData":"!"},
        {"name":"ok","packaging":"cmaf","role":"audio","codec":"mp4a.40.2","timescale":"48000","initData":"AAAA"}
    ]}"#;
    let list = renditions(odd).expect("a catalog");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "ok");
    // Audio only: the audio tracks are the variants.
    let playlist = multivariant(&list, media_from_multivariant).expect("variants");
    assert_eq!(playlist.variants.len(), 1);
    assert!(playlist.audio.is_empty());
    assert!(multivariant(&[], media_from_multivariant).is_none());
    assert!(uri_safe("video-720p") && !uri_safe(".t") && !uri_safe("a/b") && !uri_safe(""));
}

#[test]
fn a_viewers_query_is_its_directives_its_token_and_the_rest() {
    use super::reload::Skip;
    use super::request::viewer;
    use super::routes::finish;
    use axum::response::IntoResponse;
    use std::time::Instant;

    let peer = "127.0.0.1:5000".parse().expect("address");
    let v = viewer(
        "token=abc&_HLS_msn=5&_HLS_part=1&_HLS_skip=YES&lang=en",
        peer,
        Instant::now(),
    )
    .expect("a query");
    assert_eq!(v.reload.msn, Some(5));
    assert_eq!(v.reload.part, Some(1));
    assert_eq!(v.reload.skip, Some(Skip::Yes));
    assert_eq!(v.query.as_str(), "token=abc&lang=en");
    assert_eq!(v.credentials.token.as_deref(), Some("abc"));
    assert_eq!(v.credentials.via, "hls");
    assert!(v.private);
    let plain = viewer("", peer, Instant::now()).expect("no query");
    assert!(!plain.private && plain.query.is_empty() && plain.credentials.token.is_none());
    for bad in [
        "_HLS_msn=x",
        "_HLS_msn=1&_HLS_msn=2",
        "_HLS_skip=no",
        "a=\"b",
    ] {
        let f = viewer(bad, peer, Instant::now()).err().expect(bad);
        assert_eq!(f.status, 400, "{bad}");
    }

    // Cache-Control and CORS on every answer.
    let header = |r: &axum::response::Response, name| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let r = finish(().into_response(), "max-age=300", false);
    assert_eq!(
        header(&r, "cache-control").as_deref(),
        Some("public, max-age=300")
    );
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    let r = finish(().into_response(), "max-age=1", true);
    assert_eq!(
        header(&r, "cache-control").as_deref(),
        Some("private, max-age=1")
    );
    let r = finish(().into_response(), "no-store", true);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
}
