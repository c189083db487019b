//! Replays `fuzz/corpus/ts/` through the MPEG-TS fuzz entry point on stable, with prefixes and
//! seeded random mutations of each seed (flipped bits, overwritten header fields, lost packets,
//! spliced ranges): malformed MPEG-TS from a publisher must never panic the gateway. The same
//! for `fuzz/corpus/srt_streamid/` through the SRT stream ID parser, and for the SRT listener's
//! handshake and connection (`fuzz/corpus/srt_packets/`, seeds made here from srt-protocol's own
//! packet types: `TERN_WRITE_SEEDS=1` rewrites the files for cargo-fuzz), for FLV tags
//! (`fuzz/corpus/flv_tags/`, from ffmpeg-made FLV files: H.264 and AAC, and FFmpeg 8.1's
//! Enhanced RTMP HEVC or AV1 with Opus) and for an RTMP server session (seeds made here:
//! rml_rtmp's client publishing those tags to a server session in memory), for WHIP offers
//! (`fuzz/corpus/whip_offer/`: a browser's offer with simulcast, FFmpeg's passive one) and the
//! WHIP media stage (`fuzz/corpus/whip_frames/`). Before that stage, str0m's RTP depacketizers
//! (H.264, VP8, Opus and the rest), its RTP header and RTCP parsers get what a WHIP publisher
//! sends: their fuzz entry points (str0m's `_internal_test_exports`, a test-only feature) run on
//! seeded random inputs here. LL-HLS: a publisher's objects through the segmenter
//! (`fuzz/corpus/hls_objects/`, seeds made here from `tern_cmaf`'s muxer: `TERN_WRITE_SEEDS=1`
//! rewrites them), a viewer's request target (`fuzz/corpus/hls_request/`) and a publisher's
//! catalog read for HLS (`fuzz/corpus/hls_catalog/`).

use std::path::PathBuf;

use srt_protocol::options::KeySize;
use srt_protocol::packet::{ControlTypes, ShakeType, SocketId, SrtControlPacket};
use tern_cmaf::fuzz::corpus;
use tern_gateway::fuzz;

mod srt_packets;
use srt_packets::*;

/// MPEG-TS packet size: a lossy link loses whole packets.
const TS_PACKET: usize = 188;

fn seeds() -> Vec<Vec<u8>> {
    corpus_of("ts")
}

/// A number from the environment: `TERN_FUZZ_SEED` (another mutation seed) and
/// `TERN_FUZZ_RUNS` (mutations per seed) make a deeper run by hand.
fn from_env(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// Mutations of `seeds` from generator `rng`, about `total` runs (at most `max` per seed),
/// ranges of at most `max_range` bytes; `TERN_FUZZ_SEED` and `TERN_FUZZ_RUNS` override.
fn mutations(
    seeds: &[Vec<u8>],
    rng: u64,
    (total, max): (usize, usize),
    max_range: usize,
) -> corpus::Mutations {
    corpus::Mutations {
        rng: from_env("TERN_FUZZ_SEED").unwrap_or(rng),
        per_seed: from_env("TERN_FUZZ_RUNS")
            .map(|n| n as usize)
            .unwrap_or_else(|| corpus::per_seed(seeds, total, max)),
        max_range,
        packet: None,
    }
}

fn corpus_of(target: &str) -> Vec<Vec<u8>> {
    corpus::seeds(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target),
    )
}

#[test]
fn corpus_and_prefixes_never_panic() {
    let seeds = seeds();
    assert!(seeds.len() >= 3, "the corpus has its seeds");
    corpus::replay(&seeds, 97, fuzz::ts);
}

#[test]
fn mutations_never_panic() {
    let seeds = seeds();
    let how = corpus::Mutations {
        rng: 0x7e57_c0de_0188_0047,
        per_seed: corpus::per_seed(&seeds, 20_000, 300),
        max_range: 400,
        packet: Some(TS_PACKET),
    };
    corpus::mutate(&seeds, &how, fuzz::ts);
}

#[test]
fn hevc_sequence_parameter_sets_never_panic() {
    let seeds = corpus_of("hevc_sps");
    assert!(seeds.len() >= 2, "the corpus has its seeds");
    corpus::replay(&seeds, 1, fuzz::hevc_sps);
    let how = mutations(&seeds, 0x4e7c_5b50_0033_0265, (20_000, 5_000), 16);
    corpus::mutate(&seeds, &how, fuzz::hevc_sps);
}

#[test]
fn whip_offers_never_panic() {
    let seeds = corpus_of("whip_offer");
    assert!(seeds.len() >= 2, "the corpus has its seeds");
    corpus::replay(&seeds, 1, fuzz::whip_offer);
    let how = mutations(&seeds, 0x3a1f_0000_9725_0001, (1_000, 500), 64);
    corpus::mutate(&seeds, &how, fuzz::whip_offer);
}

#[test]
fn whip_frames_never_panic() {
    let seeds = corpus_of("whip_frames");
    assert!(!seeds.is_empty(), "the corpus has its seeds");
    corpus::replay(&seeds, 1, fuzz::whip_frames);
    let how = mutations(&seeds, 0x3a1f_0000_9725_0002, (5_000, 5_000), 32);
    corpus::mutate(&seeds, &how, fuzz::whip_frames);
}

#[test]
fn srt_streamids_never_panic() {
    let seeds = corpus_of("srt_streamid");
    assert!(seeds.len() >= 5, "the corpus has its seeds");
    corpus::replay(&seeds, 1, fuzz::srt_streamid);
    let how = mutations(&seeds, 0x5e7_5721_d000_0512, (20_000, 300), 64);
    corpus::mutate(&seeds, &how, fuzz::srt_streamid);
}

/// An input of [`fuzz::srt_packets`]: the key mode, then length-prefixed packets.
fn records(mode: u8, packets: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![mode];
    for p in packets {
        v.extend_from_slice(&(p.len() as u16).to_be_bytes());
        v.extend_from_slice(p);
    }
    v
}

fn srt_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let id = SocketId(0x1234_5678);
    let induction = bytes_of(&handshake(ShakeType::Induction, id, 0, Default::default())).to_vec();
    // The harness puts the listener's cookie into any handshake whose cookie is not zero.
    let conclusion = |info, extra: &[u8]| {
        let mut b = bytes_of(&handshake(ShakeType::Conclusion, id, 1, info)).to_vec();
        b.extend_from_slice(extra);
        b
    };
    let to = SocketId(0);
    let connected: Vec<Vec<u8>> = [
        data(to, 1234, b"\x47 one TS packet's worth"),
        control(to, ControlTypes::KeepAlive),
        control(to, ControlTypes::CongestionWarning),
        control(to, ControlTypes::PeerError(4000)),
        control(
            to,
            ControlTypes::Srt(SrtControlPacket::StreamId("x".into())),
        ),
        data(to, 1236, b"after a gap"),
        control(to, ControlTypes::Shutdown),
    ]
    .iter()
    .map(|p| bytes_of(p).to_vec())
    .collect();
    let mut plain = vec![induction.clone(), conclusion(hsv5("live/a"), &[])];
    plain.extend(connected.clone());
    let mut keyed = hsv5("live/a");
    keyed.key_size = KeySize::AES128;
    keyed.ext_km = Some(SrtControlPacket::KeyRefreshRequest(key_material(
        KeySize::AES128,
        "a fuzzing passphrase",
    )));
    let mut encrypted = vec![induction.clone(), conclusion(keyed, &[])];
    encrypted.extend(connected);
    let mut group = extension(8, &[]);
    group.extend(extension(5, b"abcd"));
    vec![
        ("plain", records(0, &plain)),
        ("encrypted", records(1, &encrypted)),
        ("encrypted_any_length", records(2, &encrypted)),
        (
            "congestion_file",
            records(
                0,
                &[
                    induction.clone(),
                    conclusion(hsv5("live/a"), &extension(6, b"elif")),
                ],
            ),
        ),
        (
            "short_group",
            records(0, &[induction, conclusion(hsv5("live/a"), &group)]),
        ),
    ]
}

#[test]
fn srt_handshakes_and_connections_never_panic() {
    let seeds = srt_seeds();
    if std::env::var_os("TERN_WRITE_SEEDS").is_some() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/srt_packets");
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for (name, seed) in &seeds {
            std::fs::write(dir.join(name), seed).expect("write seed");
        }
    }
    let mut seeds: Vec<Vec<u8>> = seeds.into_iter().map(|(_, s)| s).collect();
    seeds.extend(corpus_of("srt_packets"));
    corpus::replay(&seeds, 13, fuzz::srt_packets);
    let how = mutations(&seeds, 0x5e7_0bad_9ac4_e750, (20_000, 400), 96);
    corpus::mutate(&seeds, &how, fuzz::srt_packets);
}

#[test]
fn flv_tags_never_panic() {
    let seeds = corpus_of("flv_tags");
    assert!(!seeds.is_empty(), "the corpus has its seeds");
    corpus::replay(&seeds, 7, fuzz::flv_tags);
    let how = mutations(&seeds, 0xf17_7a65_0000_0009, (20_000, 10_000), 64);
    corpus::mutate(&seeds, &how, fuzz::flv_tags);
}

/// A publisher's bytes after the handshake: rml_rtmp's client connects to `live`, publishes
/// `cam1` and sends the FLV `records` (as [`fuzz::flv_tags`] reads them), each message answered
/// by a server session in memory.
fn rtmp_publisher_bytes(records: &[u8]) -> Vec<u8> {
    use rml_rtmp::sessions::{
        ClientSession, ClientSessionConfig, ClientSessionResult, PublishRequestType, ServerSession,
        ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
    };
    use rml_rtmp::time::RtmpTimestamp;

    let (mut client, _) = ClientSession::new(ClientSessionConfig::new()).expect("client");
    let (mut server, initial) = ServerSession::new(ServerSessionConfig::new()).expect("server");
    let mut wire = Vec::new();
    let mut to_client: Vec<Vec<u8>> = initial
        .into_iter()
        .filter_map(|r| match r {
            ServerSessionResult::OutboundResponse(p) => Some(p.bytes),
            _ => None,
        })
        .collect();
    let mut exchange =
        |client: &mut ClientSession, first: Vec<u8>, to_client: &mut Vec<Vec<u8>>| {
            let mut to_server = vec![first];
            for _ in 0..20 {
                for bytes in std::mem::take(&mut to_server) {
                    wire.extend_from_slice(&bytes);
                    for r in server.handle_input(&bytes).expect("server input") {
                        match r {
                            ServerSessionResult::OutboundResponse(p) => to_client.push(p.bytes),
                            ServerSessionResult::RaisedEvent(
                                ServerSessionEvent::ConnectionRequested { request_id, .. }
                                | ServerSessionEvent::PublishStreamRequested { request_id, .. },
                            ) => {
                                for r in server.accept_request(request_id).expect("accept") {
                                    if let ServerSessionResult::OutboundResponse(p) = r {
                                        to_client.push(p.bytes);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                for bytes in std::mem::take(to_client) {
                    for r in client.handle_input(&bytes).expect("client input") {
                        if let ClientSessionResult::OutboundResponse(p) = r {
                            to_server.push(p.bytes);
                        }
                    }
                }
                if to_server.is_empty() {
                    return;
                }
            }
        };
    let packet = |r: Result<ClientSessionResult, _>| match r.expect("client request") {
        ClientSessionResult::OutboundResponse(p) => p.bytes,
        other => panic!("not a packet: {other:?}"),
    };
    let connect = packet(client.request_connection("live".into()));
    exchange(&mut client, connect, &mut to_client);
    let publish = packet(client.request_publishing("cam1".into(), PublishRequestType::Live));
    exchange(&mut client, publish, &mut to_client);
    let mut rest = records;
    while rest.len() >= 7 {
        let kind = rest[0];
        let ts = RtmpTimestamp::new(u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]));
        let len = usize::from(u16::from_be_bytes([rest[5], rest[6]])).min(rest.len() - 7);
        let body = bytes::Bytes::copy_from_slice(&rest[7..7 + len]);
        rest = &rest[7 + len..];
        let sent = match kind {
            0 => client.publish_audio_data(body, ts, false),
            _ => client.publish_video_data(body, ts, false),
        };
        exchange(&mut client, packet(sent), &mut to_client);
    }
    wire
}

#[test]
fn rtmp_sessions_never_panic() {
    let records = corpus_of("flv_tags");
    let seeds: Vec<Vec<u8>> = records.iter().map(|r| rtmp_publisher_bytes(r)).collect();
    // The seed is a real publication: the session raises the publisher's video.
    assert!(seeds[0].len() > 4000, "{} bytes", seeds[0].len());
    if std::env::var_os("TERN_WRITE_SEEDS").is_some() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/rtmp_session");
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for (n, seed) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("publish-{n}")), seed).expect("write seed");
        }
    }
    corpus::replay(&seeds, 11, fuzz::rtmp_session);
    let how = mutations(&seeds, 0x47e5_5e55_1011_0935, (4_000, 4_000), 64);
    corpus::mutate(&seeds, &how, fuzz::rtmp_session);
}

/// `n` inputs of `len` bytes from a seeded generator (xorshift), the first byte of each cycling
/// through `firsts` (str0m's entry points take their choices, the codec first, from the input).
fn random_inputs(seed: u64, n: usize, len: usize, firsts: &[u8]) -> Vec<Vec<u8>> {
    let mut x = seed | 1;
    (0..n)
        .map(|i| {
            let mut v: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect();
            v[0] = firsts[i % firsts.len()];
            v
        })
        .collect()
}

/// A named fuzz entry point.
type Entry = (&'static str, fn(&[u8]));

/// str0m's entry points, as the corpus helpers take them.
mod str0m_entries {
    use str0m::_internal_test_exports::fuzz;

    pub fn depack(d: &[u8]) {
        let _ = fuzz::depack(d);
    }
    pub fn depack_direct(d: &[u8]) {
        let _ = fuzz::depack_direct(d);
    }
    pub fn rtp_packet(d: &[u8]) {
        let _ = fuzz::rtp_packet(d);
    }
    pub fn rtcp(d: &[u8]) {
        let _ = fuzz::rtcp(d);
    }
    pub fn stun(d: &[u8]) {
        let _ = fuzz::stun(d);
    }
}

#[test]
fn rtp_depacketizers_and_parsers_never_panic() {
    // Every codec str0m depacketizes (the first byte picks it), WHIP's three among them.
    let firsts: Vec<u8> = (0..=12).collect();
    let seeds = random_inputs(0x3a1f_0000_3550_0001, 52, 4096, &firsts);
    let how = mutations(&seeds, 0x3a1f_0000_3550_0002, (4_000, 200), 256);
    let entries: [Entry; 5] = [
        ("depack", str0m_entries::depack),
        ("depack_direct", str0m_entries::depack_direct),
        ("rtp_packet", str0m_entries::rtp_packet),
        ("rtcp", str0m_entries::rtcp),
        ("stun", str0m_entries::stun),
    ];
    for (name, entry) in entries {
        eprintln!("str0m's {name}");
        corpus::replay(&seeds, 64, entry);
        corpus::mutate(&seeds, &how, entry);
    }
}

/// Appends a record of [`fuzz::hls_objects`]: an operation, a big-endian `u16` length, the bytes.
fn hls_record(out: &mut Vec<u8>, op: u8, bytes: &[u8]) {
    out.push(op);
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A track's frames as [`fuzz::hls_objects`] records: CMAF chunks as the packager writes them.
struct HlsTrack {
    records: Vec<u8>,
    timescale: u32,
    frame: u32,
    next: u64,
}

impl HlsTrack {
    /// A track of `frame`-tick frames at `timescale`, after set-up byte `setup`.
    fn new(setup: u8, timescale: u32, frame: u32) -> Self {
        Self {
            records: vec![setup],
            timescale,
            frame,
            next: 0,
        }
    }

    fn chunk(&mut self, keyframe: bool) -> bytes::Bytes {
        let n = self.next;
        self.next += 1;
        let sample = tern_cmaf::Sample {
            track: 1,
            dts: n * u64::from(self.frame),
            duration: self.frame,
            cts_offset: 0,
            keyframe,
            timescale: self.timescale,
            data: bytes::Bytes::from(vec![n as u8; 4]),
        };
        tern_cmaf::mux::chunk(&sample, n as u32 + 1, 1_764_000_000_000_000 + n * 33_333)
    }

    /// A new group of `frames` frames (all sync samples when `all_sync`), finished if `finish`.
    fn group(&mut self, frames: u64, all_sync: bool, finish: bool) -> &mut Self {
        for object in 0..frames {
            let chunk = self.chunk(all_sync || object == 0);
            hls_record(&mut self.records, u8::from(object == 0), &chunk);
        }
        if finish {
            hls_record(&mut self.records, 3, &[]);
        }
        self
    }

    fn op(&mut self, op: u8, bytes: &[u8]) -> &mut Self {
        hls_record(&mut self.records, op, bytes);
        self
    }
}

/// Set-up bytes: Target Duration − 1 s in bits 0-1, the playlist's timescale in 2-3 and the
/// track's in 4-5 (0: 90 kHz, 1: 48 kHz).
fn hls_object_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let video = |setup| HlsTrack::new(setup, 90_000, 3000);
    vec![
        (
            "video",
            video(1)
                .group(30, false, true)
                .group(30, false, true)
                .group(30, false, true)
                .records
                .clone(),
        ),
        // 2 s groups, a 1 s Target Duration: each group is cut into two segments.
        (
            "long_groups",
            video(0)
                .group(60, false, true)
                .group(60, false, true)
                .records
                .clone(),
        ),
        (
            "audio",
            HlsTrack::new(0x14, 48_000, 1024)
                .group(47, true, true)
                .group(47, true, true)
                .group(47, true, true)
                .records
                .clone(),
        ),
        // A stall (400 ms), a reset, a new init section, a lost object, the end.
        (
            "stall_reset_init_end",
            video(1)
                .group(12, false, false)
                .op((10 << 3) | 6, &[])
                .op(4, &[])
                .op(5, b"another init section")
                .group(20, false, false)
                .op((25 << 3) | 2, b"")
                .group(5, false, true)
                .op(7, &[])
                .records
                .clone(),
        ),
    ]
}

#[test]
fn hls_objects_never_panic() {
    // The seeds are real chunks: the HLS side reads their timing.
    let mut track = HlsTrack::new(0, 90_000, 3000);
    let timing = tern_gateway::hls::chunk::read_chunk(&track.chunk(true)).expect("a chunk");
    assert_eq!((timing.duration, timing.sync), (3000, true));
    assert!(timing.published.is_some());

    let seeds = hls_object_seeds();
    if std::env::var_os("TERN_WRITE_SEEDS").is_some() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/hls_objects");
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for (name, seed) in &seeds {
            std::fs::write(dir.join(name), seed).expect("write seed");
        }
    }
    let mut seeds: Vec<Vec<u8>> = seeds.into_iter().map(|(_, s)| s).collect();
    seeds.extend(corpus_of("hls_objects"));
    seeds.sort();
    seeds.dedup();
    corpus::replay(&seeds, 101, fuzz::hls_objects);
    let how = mutations(&seeds, 0x4c5_0b1e_c750_0001, (1_000, 250), 256);
    corpus::mutate(&seeds, &how, fuzz::hls_objects);
}

#[test]
fn hls_requests_never_panic() {
    let seeds = corpus_of("hls_request");
    assert!(seeds.len() >= 5, "the corpus has its seeds");
    corpus::replay(&seeds, 1, fuzz::hls_request);
    let how = mutations(&seeds, 0x4c5_0b1e_c750_0002, (20_000, 3_000), 32);
    corpus::mutate(&seeds, &how, fuzz::hls_request);
}

#[test]
fn hls_catalogs_never_panic() {
    let seeds = corpus_of("hls_catalog");
    assert!(seeds.len() >= 3, "the corpus has its seeds");
    // The seeds are catalogs the HLS side lists renditions of.
    for seed in &seeds {
        let list = tern_gateway::hls::catalog::renditions(seed).expect("a catalog");
        assert!(!list.is_empty());
    }
    corpus::replay(&seeds, 7, fuzz::hls_catalog);
    let how = mutations(&seeds, 0x4c5_0b1e_c750_0003, (10_000, 4_000), 64);
    corpus::mutate(&seeds, &how, fuzz::hls_catalog);
}
