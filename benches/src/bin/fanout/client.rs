//! A minimal draft-18 publisher and subscriber for load generation, built on tern-quic and the
//! tern-moq codec. Bounded: every read has a limit, every wait a timeout.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use tern_moq::ReasonPhrase;
use tern_moq::data::{
    SubgroupHeader, SubgroupId, SubgroupObject, encode_subgroup_header,
    encode_subgroup_object_header,
};
use tern_moq::message::codes::RequestErrorCode;
use tern_moq::message::{
    Parameters, PublishNamespace, RequestError, Setup, Subscribe, SubscribeOk, SubscriptionFilter,
};
use tern_moq::{ControlReader, DataStreamEvent, DataStreamReader, Limits, Message, TrackNamespace};
use tern_quic::{ClientConfig, RecvStream, SendStream, Session};

/// Connect and exchange SETUP.
pub async fn connect(url: &str) -> anyhow::Result<Session> {
    let config = ClientConfig {
        disable_verify: true,
        system_roots: false,
        ..ClientConfig::default()
    };
    let session = tern_quic::connect(url, &config)
        .await
        .with_context(|| format!("connect {url}"))?;
    let mut control = session.open_uni().await?;
    let mut setup = Setup::default();
    setup.set_moqt_implementation("tern-bench");
    write(&mut control, setup).await?;
    // The server's control stream: read its SETUP, then keep draining it.
    let mut recv = tokio::time::timeout(Duration::from_secs(5), session.accept_uni()).await??;
    let mut reader = DataStreamReader::new(Limits::default());
    loop {
        match reader.poll()? {
            Some(DataStreamEvent::Control) => break,
            Some(other) => bail!("expected the server's control stream, got {other:?}"),
            None => match recv.read_chunk(4096).await? {
                Some(c) => reader.push(c)?,
                None => bail!("server control stream ended"),
            },
        }
    }
    let mut control_reader = reader.into_control_reader(tern_moq::Version::Draft18)?;
    loop {
        if let Some(m) = control_reader.pop()? {
            if !matches!(m, Message::Setup(_)) {
                bail!("expected SETUP, got {}", m.name());
            }
            break;
        }
        match recv.read_chunk(4096).await? {
            Some(c) => control_reader.push(&c)?,
            None => bail!("server control stream ended"),
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = recv.read_chunk(4096).await {} });
    // Keep our control stream open for the session's life.
    std::mem::forget(control);
    Ok(session)
}

async fn write(send: &mut SendStream, m: impl Into<Message>) -> anyhow::Result<()> {
    let mut buf = BytesMut::new();
    m.into().encode(&mut buf)?;
    send.write_chunk(buf.freeze()).await?;
    Ok(())
}

async fn read(recv: &mut RecvStream, reader: &mut ControlReader) -> anyhow::Result<Message> {
    loop {
        if let Some(m) = reader.pop()? {
            return Ok(m);
        }
        match tokio::time::timeout(Duration::from_secs(10), recv.read_chunk(4096)).await?? {
            Some(c) => reader.push(&c)?,
            None => bail!("request stream ended"),
        }
    }
}

/// A publisher of one track at a fixed object rate.
pub struct Publisher {
    session: Session,
    /// Track aliases of accepted subscriptions.
    subscribers: Arc<Mutex<Vec<u64>>>,
    /// SUBSCRIBEs received.
    pub subscribes: Arc<Mutex<u64>>,
}

impl Publisher {
    /// Announce `namespace` and accept SUBSCRIBEs for any track in it.
    pub async fn start(url: &str, namespace: &str) -> anyhow::Result<Self> {
        let session = connect(url).await?;
        let (mut send, mut recv) = session.open_bi().await?;
        let ns = TrackNamespace::from_path(namespace);
        write(
            &mut send,
            PublishNamespace {
                request_id: 0,
                track_namespace: ns,
                parameters: Parameters::new(),
            },
        )
        .await?;
        let mut reader = ControlReader::new(Limits::default());
        match read(&mut recv, &mut reader).await? {
            Message::RequestOk(_) => {}
            other => bail!("PUBLISH_NAMESPACE answered with {}", other.name()),
        }
        tokio::spawn(async move {
            let _keep = send;
            while let Ok(Some(_)) = recv.read_chunk(4096).await {}
        });
        let subscribers = Arc::new(Mutex::new(Vec::new()));
        let subscribes = Arc::new(Mutex::new(0));
        let (s, subs, count) = (session.clone(), subscribers.clone(), subscribes.clone());
        tokio::spawn(async move {
            let mut alias = 1;
            while let Ok((mut send, mut recv)) = s.accept_bi().await {
                let mut reader = ControlReader::new(Limits::default());
                match read(&mut recv, &mut reader).await {
                    Ok(Message::Subscribe(_)) => {}
                    Ok(_) => {
                        // Other requests (a relay's SUBSCRIBE_NAMESPACE, say): say so, do not hang.
                        let refuse = RequestError {
                            error_code: RequestErrorCode::NOT_SUPPORTED,
                            retry_interval: 0,
                            error_reason: ReasonPhrase::new(
                                "not supported by this publisher".to_owned(),
                            ),
                            redirect: None,
                        };
                        let _ = write(&mut send, refuse).await;
                        let _ = send.finish();
                        continue;
                    }
                    Err(_) => continue,
                }
                *count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                let ok = SubscribeOk {
                    track_alias: alias,
                    parameters: Parameters::new(),
                    track_properties: Default::default(),
                };
                if write(&mut send, ok).await.is_ok() {
                    subs.lock().unwrap_or_else(|e| e.into_inner()).push(alias);
                }
                alias += 1;
                tokio::spawn(async move {
                    let _keep = send;
                    while let Ok(Some(_)) = recv.read_chunk(4096).await {}
                });
            }
        });
        Ok(Self {
            session,
            subscribers,
            subscribes,
        })
    }

    /// Publish `fps` objects/s of `object_size` bytes, a group every `gop` objects, until
    /// `until`. Returns every location sent with its send time.
    pub async fn run(
        &self,
        fps: u32,
        object_size: usize,
        gop: u64,
        until: Instant,
    ) -> anyhow::Result<Vec<((u64, u64), Instant)>> {
        let mut sent = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / fps as f64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut streams: Vec<(SendStream, SubgroupHeader)> = Vec::new();
        let mut seq: u64 = 0;
        let filler = Bytes::from(vec![0x5au8; object_size.saturating_sub(24)]);
        while Instant::now() < until {
            tick.tick().await;
            let (group, object) = (seq / gop, seq % gop);
            seq += 1;
            if object == 0 {
                for (mut s, _) in streams.drain(..) {
                    let _ = s.finish();
                }
                let aliases = self
                    .subscribers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                for alias in aliases {
                    let header = SubgroupHeader {
                        track_alias: alias,
                        group_id: group,
                        subgroup_id: SubgroupId::Zero,
                        publisher_priority: Some(128),
                        has_properties: false,
                        end_of_group: true,
                        first_object: true,
                    };
                    let mut s = self.session.open_uni().await?;
                    s.write_chunk(encode_subgroup_header(&header)).await?;
                    streams.push((s, header));
                }
            }
            let mut payload = BytesMut::with_capacity(object_size);
            payload.extend_from_slice(&group.to_be_bytes());
            payload.extend_from_slice(&object.to_be_bytes());
            payload.extend_from_slice(&0u64.to_be_bytes());
            payload.extend_from_slice(&filler);
            let payload = payload.freeze();
            for (s, header) in streams.iter_mut() {
                let obj = SubgroupObject {
                    object_id: object,
                    properties: Default::default(),
                    payload_length: payload.len() as u64,
                    object_status: Default::default(),
                };
                let prev = object.checked_sub(1);
                s.write_chunk(encode_subgroup_object_header(header, prev, &obj)?)
                    .await?;
                s.write_chunk(payload.clone()).await?;
            }
            sent.push(((group, object), Instant::now()));
        }
        for (mut s, _) in streams.drain(..) {
            let _ = s.finish();
        }
        Ok(sent)
    }
}

/// What one subscriber received.
#[derive(Debug, Default)]
pub struct Received {
    /// Locations received.
    pub locations: HashSet<(u64, u64)>,
    /// Payload bytes received inside the measurement window.
    pub window_bytes: u64,
    /// Whether the measurement window is open.
    pub counting: bool,
}

/// Subscribe to `namespace`/`track` and record everything received.
pub async fn subscribe(
    url: &str,
    namespace: &str,
    track: &str,
) -> anyhow::Result<(Session, Arc<Mutex<Received>>)> {
    let session = connect(url).await?;
    let (mut send, mut recv) = session.open_bi().await?;
    let mut params = Parameters::new();
    params.set_subscription_filter(&SubscriptionFilter::LargestObject);
    let sub = Subscribe {
        request_id: 0,
        track_namespace: TrackNamespace::from_path(namespace),
        track_name: Bytes::copy_from_slice(track.as_bytes()),
        parameters: params,
    };
    write(&mut send, sub).await?;
    let mut reader = ControlReader::new(Limits::default());
    match read(&mut recv, &mut reader).await? {
        Message::SubscribeOk(_) => {}
        other => bail!("SUBSCRIBE answered with {other:?}"),
    }
    tokio::spawn(async move {
        let _keep = send;
        while let Ok(Some(_)) = recv.read_chunk(4096).await {}
    });
    let received = Arc::new(Mutex::new(Received::default()));
    let (s, rec) = (session.clone(), received.clone());
    tokio::spawn(async move {
        while let Ok(mut stream) = s.accept_uni().await {
            let rec = rec.clone();
            tokio::spawn(async move {
                let mut reader = DataStreamReader::new(Limits::default());
                let mut group = 0;
                loop {
                    match reader.poll() {
                        Ok(Some(DataStreamEvent::SubgroupHeader(h))) => group = h.group_id,
                        Ok(Some(DataStreamEvent::SubgroupObject { object, payload })) => {
                            let mut r = rec.lock().unwrap_or_else(|e| e.into_inner());
                            r.locations.insert((group, object.object_id));
                            if r.counting {
                                r.window_bytes += payload.len() as u64;
                            }
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => match stream.read_chunk(64 * 1024).await {
                            Ok(Some(c)) => {
                                if reader.push(c).is_err() {
                                    return;
                                }
                            }
                            _ => return,
                        },
                        Err(_) => return,
                    }
                }
            });
        }
    });
    Ok((session, received))
}
