//! A small raw MoQ (draft-18) test client for the relay's integration tests, built on
//! `tern-quic` and `tern-moq` only: connect + SETUP, one bidirectional stream per request,
//! a publisher that answers the relay's SUBSCRIBEs, subgroup writers, and a reader of every
//! unidirectional stream the relay opens. Everything is bounded by a timeout.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::{Mutex, mpsc};

use tern_moq::data::{
    FetchHeader, FetchObject, FetchObjectHeader, FetchObjectState, SubgroupHeader, SubgroupId,
    SubgroupObject, encode_subgroup_header, encode_subgroup_object_header,
};
use tern_moq::message::codes::RequestErrorCode;
use tern_moq::message::{
    Fetch, FetchOk, FetchType, GroupOrder, Parameters, PublishNamespace, RequestError, RequestOk,
    Setup, Subscribe, SubscribeOk, SubscriptionFilter,
};
use tern_moq::{ControlReader, DataStreamEvent, DataStreamReader, Limits, Location, Message};
use tern_moq::{ReasonPhrase, TrackNamespace, Version};
use tern_quic::{
    Client, ClientConfig, RecvStream, SendStream, ServerConfig, Session, SessionError,
};
use tern_quic::{StreamError, TransportLimits};
use tern_relay::core::router::RouterConfig;
use tern_relay::node::{Node, NodeSettings};

/// Default bound for one step of a test.
pub const STEP: Duration = Duration::from_secs(5);

/// Await `fut`, panicking with `what` if it takes longer than `limit`.
pub async fn within<T>(
    limit: Duration,
    what: &str,
    fut: impl std::future::Future<Output = T>,
) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?}: {what}"),
    }
}

/// Relay settings as `tern relay` uses them by default.
pub fn default_settings() -> (RouterConfig, NodeSettings) {
    tern_relay::run::node_settings(&tern_relay::config::Config::default())
}

/// Start an in-process relay on a loopback port chosen by the OS.
pub fn start_relay(router: RouterConfig, settings: NodeSettings) -> Node {
    let server = ServerConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        max_sessions_per_ip: 256,
        // Every viewer of the test comes from 127.0.0.1.
        new_sessions_per_ip: 100_000,
        retry_threshold: 1024,
        ..ServerConfig::default()
    };
    Node::start(server, router, settings).expect("relay starts")
}

/// `moqt://` URL of a relay.
pub fn url(node: &Node) -> String {
    format!("moqt://127.0.0.1:{}", node.addr.port())
}

/// A namespace from `a/b` form.
pub fn ns(path: &str) -> TrackNamespace {
    TrackNamespace::from_path(path)
}

/// Payload bytes unique to (seed, group, object), `len` long.
pub fn payload(seed: u8, group: u64, object: u64, len: usize) -> Bytes {
    let mut v = Vec::with_capacity(len);
    let mut x = (seed as u64) << 32 ^ group << 16 ^ object;
    for _ in 0..len {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        v.push((x >> 56) as u8);
    }
    v.into()
}

/// Something read from a unidirectional stream the relay opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataEvent {
    /// An object on a subgroup stream.
    Object {
        /// Track alias from the subgroup header.
        alias: u64,
        /// Group ID.
        group: u64,
        /// Subgroup ID (0 when absent from the header).
        subgroup: u64,
        /// Object ID.
        object: u64,
        /// Payload.
        payload: Bytes,
    },
    /// A subgroup stream ended: FIN (`reset: None`) or RESET_STREAM with a code.
    SubgroupEnd {
        /// Track alias.
        alias: u64,
        /// Group ID.
        group: u64,
        /// Reset code, if reset.
        reset: Option<u32>,
    },
    /// An object on a fetch stream.
    Fetched {
        /// Request ID of the FETCH.
        request: u64,
        /// Location.
        location: Location,
        /// Payload.
        payload: Bytes,
    },
    /// A fetch stream ended (FIN or reset).
    FetchEnd {
        /// Request ID of the FETCH.
        request: u64,
        /// Reset code, if reset.
        reset: Option<u32>,
    },
}

/// A connected MoQ client session that has sent its SETUP.
pub struct Peer {
    /// The transport session.
    pub session: Session,
    _client: Client,
    _control: SendStream,
    next_request: AtomicU64,
    /// Events from the relay's data streams (when the peer reads them).
    pub data: Mutex<mpsc::UnboundedReceiver<DataEvent>>,
    /// Streams the peer holds without reading (when created with `read_data = false`).
    pub held: Arc<std::sync::Mutex<Vec<RecvStream>>>,
    /// The draft its messages are written and read in.
    pub version: Version,
}

impl Peer {
    /// Connect with default transport limits, reading every data stream.
    pub async fn connect(url: &str) -> Peer {
        Self::connect_with(url, TransportLimits::default(), true).await
    }

    /// Connect with `transport` limits; when `read_data` is false, the relay's unidirectional
    /// streams are accepted and kept but never read (a stalled viewer).
    pub async fn connect_with(url: &str, transport: TransportLimits, read_data: bool) -> Peer {
        let mut setup = Setup::default();
        setup.set_moqt_implementation("tern-relay-tests");
        // As a raw QUIC client does: the URL's path and query travel in SETUP's PATH.
        if let Some(rest) = url.strip_prefix("moqt://")
            && let Some(at) = rest.find('/')
        {
            setup.set_path(rest[at..].to_owned());
        }
        Self::connect_setup(url, transport, read_data, setup).await
    }

    /// Like [`Peer::connect_with`], sending `setup` as the SETUP (with a PATH or an
    /// AUTHORIZATION TOKEN, say).
    pub async fn connect_setup(
        url: &str,
        transport: TransportLimits,
        read_data: bool,
        setup: Setup,
    ) -> Peer {
        Self::connect_setup_as(url, transport, read_data, setup, Version::Draft18).await
    }

    /// Like [`Peer::connect_setup`], speaking `version` (offered alone).
    pub async fn connect_setup_as(
        url: &str,
        transport: TransportLimits,
        read_data: bool,
        setup: Setup,
        version: Version,
    ) -> Peer {
        let config = ClientConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            disable_verify: true,
            system_roots: false,
            connect_timeout: STEP,
            transport,
            // This peer writes and reads its draft's wire by hand.
            protocols: vec![version.alpn().to_owned()],
            ..ClientConfig::default()
        };
        let client = Client::new(config).expect("client endpoint");
        let session = within(STEP, "connect", client.connect(url))
            .await
            .expect("connected");
        let mut control = within(STEP, "open control stream", session.open_uni())
            .await
            .expect("control stream");
        write_as(&mut control, setup, version)
            .await
            .expect("SETUP written");

        let (tx, rx) = mpsc::unbounded_channel();
        let held = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, h) = (session.clone(), held.clone());
        tokio::spawn(async move {
            while let Ok(recv) = s.accept_uni().await {
                if read_data {
                    tokio::spawn(read_uni(recv, tx.clone()));
                } else {
                    h.lock().unwrap().push(recv);
                }
            }
        });
        Peer {
            session,
            _client: client,
            _control: control,
            next_request: AtomicU64::new(0),
            data: Mutex::new(rx),
            held,
            version,
        }
    }

    /// A fresh client Request ID (even).
    pub fn request_id(&self) -> u64 {
        self.next_request.fetch_add(2, Ordering::Relaxed)
    }

    /// Open a bidirectional stream and send `msg` as its first message.
    pub async fn request(&self, msg: impl Into<Message>) -> Request {
        let (mut send, recv) = within(STEP, "open request stream", self.session.open_bi())
            .await
            .expect("request stream");
        write_as(&mut send, msg, self.version)
            .await
            .expect("request written");
        Request::with_version(send, recv, self.version)
    }

    /// Open a bidirectional stream and write raw bytes on it (malformed input), then FIN.
    pub async fn raw_request(&self, bytes: &[u8]) -> Request {
        let (mut send, recv) = within(STEP, "open request stream", self.session.open_bi())
            .await
            .expect("request stream");
        send.write_all(bytes).await.expect("bytes written");
        let _ = send.finish();
        Request::new(send, recv)
    }

    /// PUBLISH_NAMESPACE and wait for REQUEST_OK; the returned stream keeps it alive.
    pub async fn publish_namespace(&self, namespace: &str) -> Request {
        let mut req = self
            .request(PublishNamespace {
                request_id: self.request_id(),
                track_namespace: ns(namespace),
                parameters: Parameters::new(),
            })
            .await;
        match req.next().await {
            Some(Message::RequestOk(_)) => req,
            other => panic!("PUBLISH_NAMESPACE {namespace}: expected REQUEST_OK, got {other:?}"),
        }
    }

    /// PUBLISH `namespace`/`track` on `alias`; panics unless the relay accepts it. The returned
    /// request keeps the publication open.
    pub async fn publish_track(&self, namespace: &str, track: &str, alias: u64) -> Request {
        let mut req = self
            .request(tern_moq::message::Publish {
                request_id: self.request_id(),
                track_namespace: ns(namespace),
                track_name: Bytes::copy_from_slice(track.as_bytes()),
                track_alias: alias,
                parameters: Parameters::new(),
                track_properties: Default::default(),
            })
            .await;
        match req.next_within(STEP).await {
            Some(Message::RequestOk(_)) => req,
            other => panic!("PUBLISH {namespace}/{track}: {other:?}"),
        }
    }

    /// Send a SUBSCRIBE (filter `None`: no filter parameter) and wait for the first answer.
    pub async fn subscribe(
        &self,
        namespace: &str,
        track: &str,
        filter: Option<SubscriptionFilter>,
    ) -> (Request, Result<SubscribeOk, RequestError>) {
        let mut parameters = Parameters::new();
        if let Some(f) = filter {
            parameters.set_subscription_filter(&f);
        }
        let (_, req, answer) = self.subscribe_with(namespace, track, parameters).await;
        (req, answer)
    }

    /// Send a SUBSCRIBE with `parameters` and wait for the first answer (up to [`STEP`] past
    /// its RENDEZVOUS_TIMEOUT, if it has one); also returns the SUBSCRIBE's Request ID (for a
    /// Joining FETCH).
    pub async fn subscribe_with(
        &self,
        namespace: &str,
        track: &str,
        parameters: Parameters,
    ) -> (u64, Request, Result<SubscribeOk, RequestError>) {
        let wait = STEP + Duration::from_millis(parameters.rendezvous_timeout().unwrap_or(0));
        let id = self.request_id();
        let mut req = self
            .request(Subscribe {
                request_id: id,
                track_namespace: ns(namespace),
                track_name: Bytes::copy_from_slice(track.as_bytes()),
                parameters,
            })
            .await;
        let answer = match req.next_within(wait).await {
            Some(Message::SubscribeOk(ok)) => Ok(ok),
            Some(Message::RequestError(e)) => Err(e),
            other => panic!("SUBSCRIBE {namespace}/{track}: unexpected answer {other:?}"),
        };
        (id, req, answer)
    }

    /// SUBSCRIBE that must succeed.
    pub async fn subscribe_ok(
        &self,
        namespace: &str,
        track: &str,
        filter: Option<SubscriptionFilter>,
    ) -> (Request, SubscribeOk) {
        let (req, answer) = self.subscribe(namespace, track, filter).await;
        match answer {
            Ok(ok) => (req, ok),
            Err(e) => panic!("SUBSCRIBE {namespace}/{track} refused: {e:?}"),
        }
    }

    /// Standalone FETCH of `[start, end)` (end object 0: the whole end group).
    pub async fn fetch(
        &self,
        namespace: &str,
        track: &str,
        start: Location,
        end: Location,
    ) -> (u64, Request) {
        let id = self.request_id();
        let req = self
            .request(Fetch {
                request_id: id,
                fetch_type: FetchType::Standalone {
                    track_namespace: ns(namespace),
                    track_name: Bytes::copy_from_slice(track.as_bytes()),
                    start_location: start,
                    end_location: end,
                },
                parameters: Parameters::new(),
            })
            .await;
        (id, req)
    }

    /// Joining FETCH for the subscription with Request ID `joining`: `relative` counts
    /// `start` groups back from its Joining Location, otherwise `start` is a group ID.
    pub async fn joining_fetch(&self, joining: u64, relative: bool, start: u64) -> (u64, Request) {
        let id = self.request_id();
        let fetch_type = if relative {
            FetchType::RelativeJoining {
                joining_request_id: joining,
                joining_start: start,
            }
        } else {
            FetchType::AbsoluteJoining {
                joining_request_id: joining,
                joining_start: start,
            }
        };
        let req = self
            .request(Fetch {
                request_id: id,
                fetch_type,
                parameters: Parameters::new(),
            })
            .await;
        (id, req)
    }

    /// Open a subgroup stream (subgroup 0, priority 128, END_OF_GROUP set: the stream holds
    /// the whole group).
    pub async fn subgroup(&self, alias: u64, group: u64) -> SubgroupWriter {
        let mut send = within(STEP, "open subgroup stream", self.session.open_uni())
            .await
            .expect("subgroup stream");
        let header = SubgroupHeader {
            track_alias: alias,
            group_id: group,
            subgroup_id: SubgroupId::Zero,
            publisher_priority: Some(128),
            has_properties: false,
            end_of_group: true,
            first_object: false,
        };
        send.write_chunk(encode_subgroup_header(&header))
            .await
            .expect("subgroup header written");
        SubgroupWriter {
            send,
            header,
            previous: None,
        }
    }

    /// Write a whole group (objects `0..payloads.len()`) on one stream and FIN it.
    pub async fn write_group(&self, alias: u64, group: u64, payloads: &[Bytes]) {
        let mut w = self.subgroup(alias, group).await;
        for (i, p) in payloads.iter().enumerate() {
            w.object(i as u64, p.clone()).await.expect("object written");
        }
        w.finish();
    }

    /// The next data event, or `None` when nothing arrives within `limit`.
    pub async fn next_data(&self, limit: Duration) -> Option<DataEvent> {
        let mut rx = self.data.lock().await;
        tokio::time::timeout(limit, rx.recv()).await.ok().flatten()
    }

    /// Collect objects until `n` have arrived (panics after `limit`); other events are dropped.
    pub async fn objects(&self, n: usize, limit: Duration) -> Vec<(Location, Bytes)> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut out = Vec::new();
        let mut rx = self.data.lock().await;
        while out.len() < n {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(DataEvent::Object {
                    group,
                    object,
                    payload,
                    ..
                })) => out.push((Location::new(group, object), payload)),
                Ok(Some(DataEvent::Fetched {
                    location, payload, ..
                })) => out.push((location, payload)),
                Ok(Some(_)) => {}
                Ok(None) => panic!("data channel closed after {} objects", out.len()),
                Err(_) => panic!(
                    "only {} of {n} objects after {limit:?}: {:?}",
                    out.len(),
                    out.iter().map(|(l, _)| *l).collect::<Vec<_>>()
                ),
            }
        }
        out
    }

    /// Every object that arrives within `quiet` of the previous event.
    pub async fn drain_objects(&self, quiet: Duration) -> Vec<(Location, Bytes)> {
        let mut out = Vec::new();
        while let Some(ev) = self.next_data(quiet).await {
            match ev {
                DataEvent::Object {
                    group,
                    object,
                    payload,
                    ..
                } => out.push((Location::new(group, object), payload)),
                DataEvent::Fetched {
                    location, payload, ..
                } => out.push((location, payload)),
                _ => {}
            }
        }
        out
    }

    /// Wait for the session to close; returns why.
    pub async fn closed(&self, limit: Duration) -> SessionError {
        within(limit, "session close", self.session.closed()).await
    }
}

/// Write one draft-18 control message.
pub async fn write(send: &mut SendStream, msg: impl Into<Message>) -> Result<(), StreamError> {
    write_as(send, msg, Version::Draft18).await
}

/// Write one control message in `version`'s shape.
pub async fn write_as(
    send: &mut SendStream,
    msg: impl Into<Message>,
    version: Version,
) -> Result<(), StreamError> {
    let mut buf = BytesMut::new();
    msg.into().encode_as(version, &mut buf).expect("encodes");
    send.write_chunk(buf.freeze()).await
}

/// Read every unidirectional stream the relay opens and report its contents.
async fn read_uni(mut recv: RecvStream, tx: mpsc::UnboundedSender<DataEvent>) {
    let mut reader = DataStreamReader::new(Limits::default());
    let mut subgroup: Option<SubgroupHeader> = None;
    let mut fetch: Option<u64> = None;
    loop {
        loop {
            match reader.poll() {
                Ok(Some(DataStreamEvent::Control)) => {
                    // The relay's control stream: SETUP (and maybe GOAWAY). Keep it open.
                    while let Ok(Some(_)) = recv.read_chunk(64 * 1024).await {}
                    return;
                }
                Ok(Some(DataStreamEvent::SubgroupHeader(h))) => subgroup = Some(h),
                Ok(Some(DataStreamEvent::FetchHeader(h))) => fetch = Some(h.request_id),
                Ok(Some(DataStreamEvent::SubgroupObject { object, payload })) => {
                    let h = subgroup.expect("header before objects");
                    let _ = tx.send(DataEvent::Object {
                        alias: h.track_alias,
                        group: h.group_id,
                        subgroup: h.resolved_subgroup_id(object.object_id),
                        object: object.object_id,
                        payload,
                    });
                }
                Ok(Some(DataStreamEvent::FetchObject { object, payload })) => {
                    if let FetchObject::Object(o) = object {
                        let _ = tx.send(DataEvent::Fetched {
                            request: fetch.expect("fetch header"),
                            location: o.location(),
                            payload,
                        });
                    }
                }
                Ok(Some(DataStreamEvent::Padding)) => return,
                Ok(None) => break,
                Err(e) => panic!("relay sent a malformed data stream: {e}"),
            }
        }
        let end = |reset: Option<u32>| {
            if let Some(h) = subgroup {
                Some(DataEvent::SubgroupEnd {
                    alias: h.track_alias,
                    group: h.group_id,
                    reset,
                })
            } else {
                fetch.map(|request| DataEvent::FetchEnd { request, reset })
            }
        };
        match recv.read_chunk(64 * 1024).await {
            Ok(Some(chunk)) => reader.push(chunk).expect("stream within limits"),
            Ok(None) => {
                if let Some(ev) = end(None) {
                    let _ = tx.send(ev);
                }
                return;
            }
            Err(StreamError::Reset(code)) => {
                if let Some(ev) = end(Some(code)) {
                    let _ = tx.send(ev);
                }
                return;
            }
            Err(_) => return,
        }
    }
}

/// One request stream (bidirectional).
pub struct Request {
    /// Send half.
    pub send: SendStream,
    /// Receive half.
    pub recv: RecvStream,
    reader: ControlReader,
}

impl Request {
    pub fn new(send: SendStream, recv: RecvStream) -> Self {
        Self::with_version(send, recv, Version::Draft18)
    }

    /// A request stream whose messages are `version`'s.
    pub fn with_version(send: SendStream, recv: RecvStream, version: Version) -> Self {
        Self {
            send,
            recv,
            reader: ControlReader::with_version(Limits::default(), version),
        }
    }

    /// The next message on the stream; `None` at FIN, reset, or after [`STEP`].
    pub async fn next(&mut self) -> Option<Message> {
        self.next_within(STEP).await
    }

    /// The next message within `limit`; `None` at FIN, reset or timeout.
    pub async fn next_within(&mut self, limit: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(m) = self.reader.pop().expect("relay sent a valid message") {
                return Some(m);
            }
            match tokio::time::timeout_at(deadline, self.recv.read_chunk(16 * 1024)).await {
                Ok(Ok(Some(chunk))) => self.reader.push(&chunk).expect("within limits"),
                _ => return None,
            }
        }
    }

    /// FIN our side (cancels a SUBSCRIBE), then wait up to `limit` for the relay's FIN.
    pub async fn close(mut self, limit: Duration) {
        let _ = self.send.finish();
        let _ = tokio::time::timeout(limit, async {
            while let Ok(Some(_)) = self.recv.read_chunk(16 * 1024).await {}
        })
        .await;
    }
}

/// Writes objects on one subgroup stream.
pub struct SubgroupWriter {
    /// The stream.
    pub send: SendStream,
    header: SubgroupHeader,
    previous: Option<u64>,
}

impl SubgroupWriter {
    /// Write one object (header, then the payload without copying).
    pub async fn object(&mut self, id: u64, payload: Bytes) -> Result<(), StreamError> {
        let fields = SubgroupObject {
            object_id: id,
            payload_length: payload.len() as u64,
            ..SubgroupObject::default()
        };
        let head = encode_subgroup_object_header(&self.header, self.previous, &fields)
            .expect("object header encodes");
        self.previous = Some(id);
        self.send.write_chunk(head).await?;
        if !payload.is_empty() {
            self.send.write_chunk(payload).await?;
        }
        Ok(())
    }

    /// Write an object header declaring `declared` payload bytes, without the payload.
    pub async fn declare(&mut self, id: u64, declared: u64) -> Result<(), StreamError> {
        let fields = SubgroupObject {
            object_id: id,
            payload_length: declared,
            ..SubgroupObject::default()
        };
        let head = encode_subgroup_object_header(&self.header, self.previous, &fields)
            .expect("object header encodes");
        self.previous = Some(id);
        self.send.write_chunk(head).await
    }

    /// Write a status object (no payload): the end of the group or of the track.
    pub async fn status(
        &mut self,
        id: u64,
        status: tern_moq::data::ObjectStatus,
    ) -> Result<(), StreamError> {
        let fields = SubgroupObject {
            object_id: id,
            payload_length: 0,
            object_status: status,
            ..SubgroupObject::default()
        };
        let head = encode_subgroup_object_header(&self.header, self.previous, &fields)
            .expect("status object header encodes");
        self.previous = Some(id);
        self.send.write_chunk(head).await
    }

    /// FIN the stream.
    pub fn finish(mut self) {
        let _ = self.send.finish();
    }
}

/// A SUBSCRIBE the relay sent to a [`Publisher`].
#[derive(Debug, Clone)]
pub struct Subscribed {
    /// Track name.
    pub track: Bytes,
    /// The alias the publisher gave it in SUBSCRIBE_OK.
    pub alias: u64,
    /// The filter the relay asked for.
    pub filter: Option<SubscriptionFilter>,
}

/// A publisher peer: announces a namespace and answers every SUBSCRIBE the relay sends with
/// SUBSCRIBE_OK (a fresh alias). Without history (see [`Publisher::with_history`]) it answers
/// every FETCH with REQUEST_ERROR INVALID_RANGE (a live source keeps no history) and every
/// TRACK_STATUS with a REQUEST_OK carrying no Largest Object.
pub struct Publisher {
    /// The session.
    pub peer: Arc<Peer>,
    /// SUBSCRIBEs received.
    pub subscribes: Arc<AtomicUsize>,
    /// FETCHes received.
    pub fetches: Arc<AtomicUsize>,
    /// TRACK_STATUS requests received.
    pub track_statuses: Arc<AtomicUsize>,
    subscribed: Mutex<mpsc::UnboundedReceiver<Subscribed>>,
    _namespace: Request,
}

/// Objects a [`Publisher`] keeps for FETCH, in location order.
pub type History = Vec<(Location, Bytes)>;

impl Publisher {
    /// Connect, announce `namespace` and start answering requests.
    pub async fn start(url: &str, namespace: &str) -> Publisher {
        Self::with_history(url, namespace, History::new()).await
    }

    /// Like [`Publisher::start`], but FETCHes are served from `history` (one fetch stream
    /// with the objects in the requested range, the same for every track), and TRACK_STATUS
    /// names its last object as the Largest Object. A range with none of its objects gets
    /// INVALID_RANGE.
    pub async fn with_history(url: &str, namespace: &str, history: History) -> Publisher {
        let peer = Arc::new(Peer::connect(url).await);
        let subscribes = Arc::new(AtomicUsize::new(0));
        let fetches = Arc::new(AtomicUsize::new(0));
        let track_statuses = Arc::new(AtomicUsize::new(0));
        let history = Arc::new(history);
        let (tx, rx) = mpsc::unbounded_channel();
        let counters = (subscribes.clone(), fetches.clone(), track_statuses.clone());
        let p = peer.clone();
        tokio::spawn(async move {
            let next_alias = Arc::new(AtomicU64::new(1));
            while let Ok((send, recv)) = p.session.accept_bi().await {
                let (tx, counters, next_alias) = (tx.clone(), counters.clone(), next_alias.clone());
                let (p, history) = (p.clone(), history.clone());
                tokio::spawn(async move {
                    let (subs, fetch, status) = counters;
                    let mut req = Request::new(send, recv);
                    match req.next().await {
                        Some(Message::Subscribe(s)) => {
                            subs.fetch_add(1, Ordering::SeqCst);
                            let alias = next_alias.fetch_add(1, Ordering::Relaxed);
                            let ok = SubscribeOk {
                                track_alias: alias,
                                parameters: Parameters::new(),
                                track_properties: Default::default(),
                            };
                            if write(&mut req.send, ok).await.is_ok() {
                                let _ = tx.send(Subscribed {
                                    track: s.track_name.clone(),
                                    alias,
                                    filter: s.parameters.subscription_filter(),
                                });
                            }
                            // Keep the subscription open until the relay cancels it.
                            while req.next_within(Duration::from_secs(3600)).await.is_some() {}
                        }
                        Some(Message::Fetch(f)) => {
                            fetch.fetch_add(1, Ordering::SeqCst);
                            serve_fetch(&p, f, &history, req).await;
                        }
                        Some(Message::TrackStatus(_)) => {
                            status.fetch_add(1, Ordering::SeqCst);
                            let mut parameters = Parameters::new();
                            if let Some((l, _)) = history.last() {
                                parameters.set_largest_object(*l);
                            }
                            let ok = RequestOk {
                                parameters,
                                track_properties: Default::default(),
                            };
                            let _ = write(&mut req.send, ok).await;
                            let _ = req.send.finish();
                        }
                        _ => {}
                    }
                });
            }
        });
        let namespace_req = peer.publish_namespace(namespace).await;
        Publisher {
            peer,
            subscribes,
            fetches,
            track_statuses,
            subscribed: Mutex::new(rx),
            _namespace: namespace_req,
        }
    }

    /// The next SUBSCRIBE the relay sends within `limit`, if one comes.
    pub async fn subscribed_within(&self, limit: Duration) -> Option<Subscribed> {
        let mut rx = self.subscribed.lock().await;
        tokio::time::timeout(limit, rx.recv()).await.ok().flatten()
    }

    /// The next SUBSCRIBE the relay sent (panics after [`STEP`]).
    pub async fn subscribed(&self) -> Subscribed {
        let mut rx = self.subscribed.lock().await;
        within(STEP, "relay SUBSCRIBE at the publisher", rx.recv())
            .await
            .expect("publisher running")
    }
}

/// Answer a FETCH from `history`: FETCH_OK and one fetch stream, or INVALID_RANGE.
async fn serve_fetch(peer: &Peer, f: Fetch, history: &History, mut req: Request) {
    let FetchType::Standalone {
        start_location: start,
        end_location: end,
        ..
    } = f.fetch_type
    else {
        return;
    };
    // End Location is exclusive in its object; object 0 means the whole end group.
    let within = |l: &Location| {
        *l >= start
            && match end.object {
                0 => l.group <= end.group,
                o => *l < Location::new(end.group, o),
            }
    };
    let objects: Vec<&(Location, Bytes)> = history.iter().filter(|(l, _)| within(l)).collect();
    let Some((last, _)) = objects.last() else {
        let e = RequestError {
            error_code: RequestErrorCode::INVALID_RANGE,
            retry_interval: 0,
            error_reason: ReasonPhrase::new("no history".to_owned()),
            redirect: None,
        };
        let _ = write(&mut req.send, e).await;
        let _ = req.send.finish();
        return;
    };
    let ok = FetchOk {
        end_of_track: false,
        end_location: Location::new(last.group, last.object + 1),
        parameters: Parameters::new(),
        track_properties: Default::default(),
    };
    if write(&mut req.send, ok).await.is_err() {
        return;
    }
    let _ = req.send.finish();
    let Ok(mut data) = peer.session.open_uni().await else {
        return;
    };
    let mut head = BytesMut::new();
    FetchHeader {
        request_id: f.request_id,
    }
    .encode(&mut head);
    let _ = data.write_chunk(head.freeze()).await;
    let mut state = FetchObjectState::new(GroupOrder::Ascending);
    for (l, payload) in objects {
        let header = FetchObject::Object(FetchObjectHeader {
            group_id: l.group,
            subgroup_id: Some(0),
            object_id: l.object,
            publisher_priority: 128,
            properties: Default::default(),
            payload_length: payload.len() as u64,
        });
        let head = state.encode(&header).expect("fetch object header encodes");
        if data.write_chunk(head).await.is_err() || data.write_chunk(payload.clone()).await.is_err()
        {
            return;
        }
    }
    let _ = data.finish();
}

/// A UDP forwarder in front of the relay whose relay-to-client direction carries at most
/// `bytes_per_sec` (packets queue, none are dropped): a slow downlink, so the relay's sends
/// queue up behind its congestion controller and stream priorities decide what goes first.
pub struct SlowLink {
    /// Where clients connect.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl SlowLink {
    /// Start forwarding to `relay`.
    pub async fn start(relay: SocketAddr, bytes_per_sec: f64) -> SlowLink {
        use tokio::net::UdpSocket;
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind link"));
        let addr = front.local_addr().expect("link addr");
        let task = tokio::spawn(async move {
            // One upstream socket per client; its readers end with this task.
            let mut upstream: std::collections::HashMap<SocketAddr, Arc<UdpSocket>> =
                Default::default();
            let mut readers = tokio::task::JoinSet::new();
            let mut buf = vec![0u8; 65536];
            while let Ok((n, client)) = front.recv_from(&mut buf).await {
                let up = match upstream.get(&client) {
                    Some(up) => up.clone(),
                    None => {
                        let up = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
                        up.connect(relay).await.expect("connect relay");
                        upstream.insert(client, up.clone());
                        let (front, up2) = (front.clone(), up.clone());
                        readers.spawn(async move {
                            let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
                            let pace = tokio::spawn(async move {
                                let mut next = tokio::time::Instant::now();
                                while let Some(d) = rx.recv().await {
                                    next = next.max(tokio::time::Instant::now())
                                        + Duration::from_secs_f64(d.len() as f64 / bytes_per_sec);
                                    tokio::time::sleep_until(next).await;
                                    let _ = front.send_to(&d, client).await;
                                }
                            });
                            let mut buf = vec![0u8; 65536];
                            while let Ok(n) = up2.recv(&mut buf).await {
                                if tx.send(buf[..n].to_vec()).is_err() {
                                    break;
                                }
                            }
                            pace.abort();
                        });
                        up
                    }
                };
                let _ = up.send(&buf[..n]).await;
            }
        });
        SlowLink { addr, task }
    }

    /// `moqt://` URL through the link.
    pub fn url(&self) -> String {
        format!("moqt://127.0.0.1:{}", self.addr.port())
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `GET /metrics` from the admin port.
pub async fn scrape(addr: SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("admin port");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("response");
    out
}

/// The value of the first sample of metric `name` (with any labels) in a Prometheus text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
