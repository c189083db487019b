//! Fuzz entry points, shared by `fuzz/` (cargo-fuzz, nightly) and the corpus replay test that
//! runs on stable.

use crate::ingest::{Limits, TsIngest};
use crate::ts;

mod hls;
pub use hls::{hls_catalog, hls_objects, hls_request};

/// Demux `data` as MPEG-TS (split into pieces whose sizes come from the data itself) into
/// tracks and samples. Never panics; errors end the run as they would end a publisher's
/// session.
pub fn ts(data: &[u8]) {
    let limits = Limits {
        ts: ts::Limits {
            max_pes: 1 << 20,
            psi_within: 1000,
        },
        max_pending: 200,
    };
    let mut ingest = TsIngest::new(limits);
    let step = data.first().map_or(1, |b| usize::from(*b) * 3 + 1);
    for piece in data.chunks(step) {
        if ingest.push(piece).is_err() {
            return;
        }
        while ingest.poll().is_some() {}
    }
    let _ = ingest.finish();
    while ingest.poll().is_some() {}
}

/// Parse `data` as an H.265 sequence parameter set NAL unit and build its `hvcC`. Never
/// panics; what it accepts has a size a sample entry can hold.
pub fn hevc_sps(data: &[u8]) {
    if let Ok(sps) = crate::codec::h265::Sps::parse(data) {
        assert!(sps.width > 0 && sps.width <= 16_384 && sps.height > 0 && sps.height <= 16_384);
        let hvcc = sps.hvcc(&[0x40, 0x01], data, &[0x44, 0x01]);
        assert_eq!(hvcc.arrays.len(), 3);
    }
}

/// Parse `data` as an SRT stream ID (lossily decoded, as the listener reads it). Never panics.
pub fn srt_streamid(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    if let Ok(id) = crate::srt::streamid::parse(&raw) {
        // What a parsed ID yields is always a valid broadcast path.
        let fields = id.namespace();
        assert!(!fields.is_empty() && fields.iter().all(|f| !f.is_empty()));
        assert!(fields.len() <= crate::srt::streamid::MAX_SEGMENTS);
    }
}

/// Drive an SRT listener's handshake and, once a caller is accepted, its connection, with
/// packets from `data`: records of a big-endian `u16` length and that many bytes, each parsed as
/// an SRT packet (a record that does not parse is dropped, as the listener drops it). The first
/// byte picks the listener's key: none, a passphrase with AES-128, or one with the caller's
/// key length. Handshakes get the listener's real cookie (from an induction made first), so
/// that conclusions reach the HSv5 negotiation, and packets after the connection opened get its
/// socket ID, so that they reach the connection. Never panics.
pub fn srt_packets(data: &[u8]) {
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use srt_protocol::connection::{DuplexConnection, Input};
    use srt_protocol::options::{KeySize, Passphrase};
    use srt_protocol::packet::{ControlTypes, Packet, SocketId};
    use srt_protocol::protocol::pending_connection::listen::Listen;
    use srt_protocol::protocol::pending_connection::{AccessControlResponse, ConnectionResult};
    use srt_protocol::settings::{ConnInitSettings, KeySettings};

    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let key = match mode % 3 {
        0 => None,
        n => Some(KeySettings {
            key_size: if n == 1 {
                KeySize::AES128
            } else {
                KeySize::Unspecified
            },
            passphrase: Passphrase::from("a fuzzing passphrase"),
        }),
    };
    let from = SocketAddr::from(([127, 0, 0, 1], 5000));
    let mut now = Instant::now();
    let mut listen = Listen::new(ConnInitSettings::default(), true);
    let mut cookie = None;
    let mut connection: Option<(DuplexConnection, SocketId)> = None;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let take = len.min(rest.len() - 2);
        let record = &rest[2..2 + take];
        rest = &rest[2 + take..];
        now += Duration::from_millis(1);
        let Ok(mut packet) = Packet::parse(&mut &record[..], false) else {
            continue;
        };
        if let Some((c, id)) = connection.as_mut() {
            match &mut packet {
                Packet::Data(d) => d.dest_sockid = *id,
                Packet::Control(c) => c.dest_sockid = *id,
            }
            let _ = c.handle_input(now, Input::Packet(Ok((packet, from))));
            let _ = c.handle_input(now, Input::Timer);
            continue;
        }
        if let (Packet::Control(control), Some(cookie)) = (&mut packet, cookie)
            && let ControlTypes::Handshake(hs) = &mut control.control_type
            && hs.syn_cookie != 0
        {
            hs.syn_cookie = cookie;
        }
        let result = match listen.handle_packet(now, Ok((packet, from))) {
            ConnectionResult::RequestAccess(_) => listen
                .handle_access_control_response(now, AccessControlResponse::Accepted(key.clone())),
            r => r,
        };
        match result {
            ConnectionResult::SendPacket((Packet::Control(c), _)) => {
                if let ControlTypes::Handshake(hs) = c.control_type {
                    cookie = Some(hs.syn_cookie);
                }
            }
            ConnectionResult::Connected(_, c) => {
                let id = c.settings.local_sockid;
                connection = Some((DuplexConnection::new(c), id));
            }
            _ => {}
        }
    }
}

/// FLV tags as an RTMP publisher sends them, from `data`: records of a kind byte (0 audio, 1
/// video, 2 `onMetaData` saying audio and video), a big-endian `u32` timestamp, a `u16` length
/// and that many bytes, through [`crate::flv::FlvIngest`]. Never panics; what it makes is
/// always tracks first, then samples of those tracks.
pub fn flv_tags(data: &[u8]) {
    use crate::ingest::Event;
    let mut flv = crate::flv::FlvIngest::new();
    let mut rest = data;
    let mut tracks: Option<Vec<u32>> = None;
    while rest.len() >= 7 {
        let kind = rest[0];
        let ts = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]);
        let len = usize::from(u16::from_be_bytes([rest[5], rest[6]])).min(rest.len() - 7);
        let body = &rest[7..7 + len];
        rest = &rest[7 + len..];
        let r = match kind % 3 {
            0 => flv.audio(ts, body),
            1 => flv.video(ts, body),
            _ => {
                flv.metadata(true, true);
                Ok(())
            }
        };
        if r.is_err() {
            return;
        }
        while let Some(e) = flv.poll() {
            match e {
                Event::Tracks(t) => {
                    let ids: Vec<u32> = t.iter().map(|t| t.id).collect();
                    let before = tracks.as_deref().unwrap_or_default();
                    assert!(before.iter().all(|id| ids.contains(id)), "a track vanished");
                    tracks = Some(ids);
                }
                Event::Sample(s) => {
                    let known = tracks.as_ref().expect("tracks before samples");
                    assert!(known.contains(&s.track));
                }
                Event::Loss { .. } => {}
            }
        }
    }
    let _ = flv.finish();
}

/// An RTMP server session (after the handshake) fed `data` as a publisher's bytes, in pieces
/// whose sizes come from the data: every connection and publish request accepted, the media
/// through [`crate::flv::FlvIngest`]. Never panics.
pub fn rtmp_session(data: &[u8]) {
    use rml_rtmp::sessions::{
        ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
    };
    let Ok((mut session, _)) = ServerSession::new(ServerSessionConfig::new()) else {
        return;
    };
    let mut flv = crate::flv::FlvIngest::new();
    let step = data.first().map_or(1, |b| usize::from(*b) * 7 + 1);
    for piece in data.chunks(step) {
        let Ok(mut results) = session.handle_input(piece) else {
            return;
        };
        while let Some(r) = results.pop() {
            let ServerSessionResult::RaisedEvent(e) = r else {
                continue;
            };
            match e {
                ServerSessionEvent::ConnectionRequested { request_id, .. }
                | ServerSessionEvent::PublishStreamRequested { request_id, .. } => {
                    if let Ok(more) = session.accept_request(request_id) {
                        results.extend(more);
                    }
                }
                ServerSessionEvent::VideoDataReceived {
                    data, timestamp, ..
                } => {
                    let _ = flv.video(timestamp.value, &data);
                }
                ServerSessionEvent::AudioDataReceived {
                    data, timestamp, ..
                } => {
                    let _ = flv.audio(timestamp.value, &data);
                }
                _ => {}
            }
            while flv.poll().is_some() {}
        }
    }
}

/// Answer `data` (lossily decoded) as a WHIP session answers an offer: str0m's SDP parser, the
/// codec choice and its answer. Never panics; a malformed offer is an error (HTTP 400).
pub fn whip_offer(data: &[u8]) {
    use crate::whip::session;
    let text = String::from_utf8_lossy(data);
    let Ok(offer) = str0m::change::SdpOffer::from_sdp_string(&text) else {
        return;
    };
    let prefer_vp8 = session::preferred_video(&text) == Some("vp8");
    let ice = str0m::IceCreds {
        ufrag: "fuzzufrag".into(),
        pass: "fuzzpasswordfuzzpassword".into(),
    };
    let host = [std::net::SocketAddr::from(([127, 0, 0, 1], 5000))];
    if let Ok((_, answer)) = session::answer(
        offer,
        prefer_vp8,
        &host,
        Some(5000),
        &ice,
        std::time::Instant::now(),
    ) {
        assert!(
            answer.contains("a=ice-lite"),
            "an ICE-lite answer: {answer}"
        );
    }
}

/// Frames from `data` through the WHIP media stage (`whip::media`): records of a track (0-2:
/// H.264 video, Opus audio, VP8 video), flags (keyframe, contiguous), an RTP time step, a
/// length and that many bytes. Never panics; what comes out is the tracks, then samples of
/// tracks told whose decode times keep increasing per track; the tracks told again (a late
/// track, a new size) still hold every track told before.
pub fn whip_frames(data: &[u8]) {
    use crate::whip::media::{Codec, Frame, Limits, Media};
    use std::collections::HashMap;
    use std::time::{Duration, Instant};
    let mut media = Media::new(Limits {
        max_pending: 100,
        ..Limits::default()
    });
    let tracks = [
        (media.add_track(true), Codec::H264),
        (media.add_track(false), Codec::Opus),
        (media.add_track(true), Codec::Vp8),
    ];
    let start = Instant::now();
    let mut rtp = [0u64; 3];
    let mut at = start;
    let mut rest = data;
    let mut told: Vec<u32> = Vec::new();
    let mut last: HashMap<u32, u64> = HashMap::new();
    while rest.len() >= 6 {
        let which = usize::from(rest[0] % 3);
        let flags = rest[1];
        let step = u64::from(u16::from_be_bytes([rest[2], rest[3]]));
        let len = usize::from(u16::from_be_bytes([rest[4], rest[5]])).min(rest.len() - 6);
        let payload = &rest[6..6 + len];
        rest = &rest[6 + len..];
        rtp[which] = rtp[which].wrapping_add(step);
        at += Duration::from_millis(step % 100);
        let (Some(track), codec) = tracks[which] else {
            continue;
        };
        let _ = media.push(Frame {
            track,
            codec,
            rtp_time: rtp[which],
            arrival: at,
            keyframe: flags & 1 != 0,
            contiguous: flags & 2 != 0,
            channels: 2,
            data: payload,
        });
        media.tick(at);
        let _ = media.keyframes_due(at);
        while let Some(event) = media.poll() {
            match event {
                crate::ingest::Event::Tracks(t) => {
                    assert!(t.len() <= 3);
                    let ids: Vec<u32> = t.iter().map(|t| t.id).collect();
                    assert!(told.iter().all(|id| ids.contains(id)), "a track vanished");
                    told = ids;
                }
                crate::ingest::Event::Sample(s) => {
                    assert!(told.contains(&s.track), "a sample of a track not told");
                    if let Some(prev) = last.insert(s.track, s.dts) {
                        assert!(s.dts > prev, "decode times go forward");
                    }
                }
                crate::ingest::Event::Loss { .. } => {}
            }
        }
    }
}
