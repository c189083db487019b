//! An RTMP publisher on the gateway's vendored RTMP crate (`rml_rtmp`: its handshake and client
//! session): connects, publishes `APP/KEY`, then sends an FLV file's tags each at its own
//! time, noting when each video frame's last byte was handed to the socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
    PublishRequestType, StreamMetadata,
};
use rml_rtmp::time::RtmpTimestamp;

use crate::media::{AUDIO, Spec, Tag, VIDEO};

/// Every wait on the server.
const STEP: Duration = Duration::from_secs(10);

/// A video frame sent: its decode time (90 kHz, from the first frame sent) and when its last
/// byte was written.
pub type Sent = (u64, Instant);

/// An RTMP connection that publishes.
struct Publisher {
    stream: TcpStream,
    incoming: mpsc::Receiver<Vec<u8>>,
    session: ClientSession,
}

impl Publisher {
    /// Connect, shake hands, `connect` to `app` and `publish` `key`.
    fn open(addr: SocketAddr, app: &str, key: &str) -> anyhow::Result<Self> {
        let mut stream = TcpStream::connect_timeout(&addr, STEP)
            .with_context(|| format!("connect to RTMP {addr}"))?;
        stream.set_nodelay(true)?;
        let mut reader = stream.try_clone()?;
        let (tx, incoming) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut handshake = Handshake::new(PeerType::Client);
        let c0c1 = handshake
            .generate_outbound_p0_and_p1()
            .map_err(|e| anyhow!("RTMP handshake: {e:?}"))?;
        stream.write_all(&c0c1)?;
        let leftover = loop {
            let bytes = incoming
                .recv_timeout(STEP)
                .context("RTMP handshake: no answer within 10 s")?;
            match handshake
                .process_bytes(&bytes)
                .map_err(|e| anyhow!("RTMP handshake: {e:?}"))?
            {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    stream.write_all(&response_bytes)?;
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    stream.write_all(&response_bytes)?;
                    break remaining_bytes;
                }
            }
        };
        let mut config = ClientSessionConfig::new();
        config.tc_url = Some(format!("rtmp://{addr}/{app}"));
        let (session, initial) =
            ClientSession::new(config).map_err(|e| anyhow!("RTMP session: {e:?}"))?;
        let mut publisher = Self {
            stream,
            incoming,
            session,
        };
        publisher.handle(initial)?;
        if !leftover.is_empty() {
            publisher.input(&leftover)?;
        }
        let connect = publisher
            .session
            .request_connection(app.to_owned())
            .map_err(|e| anyhow!("RTMP connect: {e:?}"))?;
        publisher.handle(vec![connect])?;
        publisher.wait_for("connect", |e| {
            matches!(e, ClientSessionEvent::ConnectionRequestAccepted)
        })?;
        let publish = publisher
            .session
            .request_publishing(key.to_owned(), PublishRequestType::Live)
            .map_err(|e| anyhow!("RTMP publish: {e:?}"))?;
        publisher.handle(vec![publish])?;
        publisher.wait_for("publish", |e| {
            matches!(e, ClientSessionEvent::PublishRequestAccepted)
        })?;
        Ok(publisher)
    }

    /// Write what the session wants sent; return the events it raised.
    fn handle(
        &mut self,
        results: Vec<ClientSessionResult>,
    ) -> anyhow::Result<Vec<ClientSessionEvent>> {
        let mut events = Vec::new();
        for r in results {
            match r {
                ClientSessionResult::OutboundResponse(p) => self.stream.write_all(&p.bytes)?,
                ClientSessionResult::RaisedEvent(e) => events.push(e),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(events)
    }

    fn input(&mut self, bytes: &[u8]) -> anyhow::Result<Vec<ClientSessionEvent>> {
        let results = self
            .session
            .handle_input(bytes)
            .map_err(|e| anyhow!("RTMP from the server: {e:?}"))?;
        let events = self.handle(results)?;
        for e in &events {
            match e {
                ClientSessionEvent::ConnectionRequestRejected { description } => {
                    bail!("RTMP connect refused: {description}")
                }
                ClientSessionEvent::UnhandleableOnStatusCode { code }
                    if code.contains("Failed")
                        || code.contains("BadName")
                        || code.contains("Unauthorized") =>
                {
                    bail!("RTMP refused: {code}")
                }
                _ => {}
            }
        }
        Ok(events)
    }

    /// Read the server until an event `done` says so (at most 10 s).
    fn wait_for(
        &mut self,
        what: &str,
        done: impl Fn(&ClientSessionEvent) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let bytes = self
                .incoming
                .recv_timeout(left)
                .with_context(|| format!("RTMP {what}: no answer within 10 s"))?;
            if self.input(&bytes)?.iter().any(&done) {
                return Ok(());
            }
        }
    }

    /// Answer whatever the server sent meanwhile (acknowledgements, pings).
    fn drain(&mut self) -> anyhow::Result<()> {
        while let Ok(bytes) = self.incoming.try_recv() {
            self.input(&bytes)?;
        }
        Ok(())
    }
}

/// Publish `tags` to `rtmp://addr/app/key`, each tag when its time comes (the first at once),
/// for `limit` of media. Returns every video frame sent, with its send time.
pub fn publish(
    addr: SocketAddr,
    app: &str,
    key: &str,
    spec: &Spec,
    tags: &[Tag],
    limit: Duration,
) -> anyhow::Result<Vec<Sent>> {
    let mut p = Publisher::open(addr, app, key)?;
    let mut metadata = StreamMetadata::new();
    metadata.video_width = Some(spec.width);
    metadata.video_height = Some(spec.height);
    metadata.video_codec_id = Some(7);
    metadata.video_frame_rate = Some(spec.fps as f32);
    metadata.video_bitrate_kbps = Some(spec.video_kbps);
    metadata.audio_codec_id = Some(10);
    metadata.audio_bitrate_kbps = Some(spec.audio_kbps);
    metadata.audio_sample_rate = Some(48_000);
    metadata.audio_channels = Some(1);
    metadata.audio_is_stereo = Some(false);
    let meta = p
        .session
        .publish_metadata(&metadata)
        .map_err(|e| anyhow!("RTMP metadata: {e:?}"))?;
    p.handle(vec![meta])?;
    let first_ms = tags.first().map_or(0, |t| t.ms);
    let first_frame_ms = tags.iter().find(|t| t.is_video_frame()).map_or(0, |t| t.ms);
    let start = Instant::now();
    let mut sent = Vec::new();
    for tag in tags {
        let offset = Duration::from_millis(u64::from(tag.ms.saturating_sub(first_ms)));
        if offset > limit {
            break;
        }
        let due = start + offset;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        p.drain()?;
        let ts = RtmpTimestamp::new(tag.ms);
        let packet = match tag.kind {
            VIDEO => p.session.publish_video_data(tag.data.clone(), ts, false),
            AUDIO => p.session.publish_audio_data(tag.data.clone(), ts, false),
            _ => continue,
        }
        .map_err(|e| anyhow!("RTMP media: {e:?}"))?;
        p.handle(vec![packet])?;
        if tag.is_video_frame() {
            let dts = u64::from(tag.ms.saturating_sub(first_frame_ms)) * 90;
            sent.push((dts, Instant::now()));
        }
    }
    let stop = p
        .session
        .stop_publishing()
        .map_err(|e| anyhow!("RTMP stop: {e:?}"))?;
    p.handle(stop)?;
    let _ = p.stream.shutdown(std::net::Shutdown::Both);
    Ok(sent)
}
