//! Two sessions talking in memory: no transport, no runtime.

use std::collections::HashSet;

use bytes::{Bytes, BytesMut};

use super::*;
use crate::TrackNamespace;
use crate::data::{
    SubgroupHeader, SubgroupId, SubgroupObject, encode_subgroup_header,
    encode_subgroup_object_header,
};
use crate::message::{Parameters, RequestOk, Subscribe, SubscribeOk};

/// A client and a server session with a loss-free pipe between them. Stream IDs are shared:
/// even IDs are opened by the client, odd by the server; bidi streams are tagged by the caller.
struct Pair {
    client: Session,
    server: Session,
    known_client: HashSet<StreamId>,
    known_server: HashSet<StreamId>,
    bidi: HashSet<StreamId>,
}

impl Pair {
    fn new() -> Self {
        Self {
            client: Session::new(Version::Draft18, Role::Client, Limits::default()),
            server: Session::new(Version::Draft18, Role::Server, Limits::default()),
            known_client: HashSet::new(),
            known_server: HashSet::new(),
            bidi: HashSet::new(),
        }
    }

    /// Move every pending transmit to the other side.
    fn pump(&mut self) -> Result<(), SessionError> {
        loop {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit() {
                moved = true;
                self.known_client.insert(stream_of(&t));
                deliver(&mut self.server, &mut self.known_server, &self.bidi, t)?;
            }
            while let Some(t) = self.server.poll_transmit() {
                moved = true;
                self.known_server.insert(stream_of(&t));
                deliver(&mut self.client, &mut self.known_client, &self.bidi, t)?;
            }
            if !moved {
                return Ok(());
            }
        }
    }

    fn setup(&mut self) {
        self.client
            .open_control(StreamId(0), Setup::default())
            .expect("client setup");
        self.server
            .open_control(StreamId(1), Setup::default())
            .expect("server setup");
        self.pump().expect("pump");
        assert!(matches!(self.client.poll_event(), Some(Event::Setup(_))));
        assert!(matches!(self.server.poll_event(), Some(Event::Setup(_))));
    }
}

fn stream_of(t: &Transmit) -> StreamId {
    match t {
        Transmit::Write { stream, .. }
        | Transmit::Finish { stream }
        | Transmit::Reset { stream, .. } => *stream,
    }
}

fn deliver(
    to: &mut Session,
    known: &mut HashSet<StreamId>,
    bidi: &HashSet<StreamId>,
    t: Transmit,
) -> Result<(), SessionError> {
    let stream = stream_of(&t);
    if known.insert(stream) && !matches!(t, Transmit::Reset { .. }) {
        if bidi.contains(&stream) {
            to.handle_bi_opened(stream);
        } else {
            to.handle_uni_opened(stream);
        }
    }
    match t {
        Transmit::Write { stream, data } => to.handle_data(stream, data, false),
        Transmit::Finish { stream } => to.handle_data(stream, Bytes::new(), true),
        Transmit::Reset { stream, code } => to.handle_reset(stream, code),
    }
}

fn subscribe(id: u64) -> Message {
    Subscribe {
        request_id: id,
        track_namespace: TrackNamespace::from_path("live/demo"),
        track_name: Bytes::from_static(b"video"),
        parameters: Parameters::new(),
    }
    .into()
}

#[test]
fn setup_subscribe_and_objects() {
    let mut p = Pair::new();
    p.setup();
    // Client subscribes on bidi stream 4.
    p.bidi.insert(StreamId(4));
    let id = p.client.next_request_id();
    assert_eq!(id, 0);
    let req = p
        .client
        .send_request(StreamId(4), subscribe(id))
        .expect("send");
    p.pump().expect("pump");
    let Some(Event::Request {
        request,
        message: Message::Subscribe(sub),
        ..
    }) = p.server.poll_event()
    else {
        panic!("server saw no SUBSCRIBE");
    };
    assert_eq!(sub.track_name.as_ref(), b"video");
    // Server accepts with alias 7 and sends one object on a subgroup stream (uni stream 3).
    let ok = SubscribeOk {
        track_alias: 7,
        parameters: Parameters::new(),
        track_properties: Default::default(),
    };
    p.server.send(request, ok.into()).expect("ok");
    p.pump().expect("pump");
    let Some(Event::Message {
        request: r,
        message: Message::SubscribeOk(ok),
    }) = p.client.poll_event()
    else {
        panic!("client saw no SUBSCRIBE_OK");
    };
    assert_eq!(r, req);
    p.client.register_alias(ok.track_alias, req).expect("alias");
    let header = SubgroupHeader {
        track_alias: 7,
        group_id: 3,
        subgroup_id: SubgroupId::Zero,
        publisher_priority: Some(1),
        has_properties: false,
        end_of_group: true,
        first_object: true,
    };
    let object = SubgroupObject {
        object_id: 0,
        properties: Default::default(),
        payload_length: 5,
        object_status: Default::default(),
    };
    let mut bytes = BytesMut::new();
    bytes.extend_from_slice(&encode_subgroup_header(&header));
    bytes.extend_from_slice(&encode_subgroup_object_header(&header, None, &object).expect("obj"));
    bytes.extend_from_slice(b"hello");
    p.client.handle_uni_opened(StreamId(3));
    // Split across two chunks: the payload arrives later.
    let all = bytes.freeze();
    p.client
        .handle_data(StreamId(3), all.slice(..all.len() - 2), false)
        .expect("data");
    p.client
        .handle_data(StreamId(3), all.slice(all.len() - 2..), true)
        .expect("data");
    let Some(Event::Subgroup { header: h, .. }) = p.client.poll_event() else {
        panic!("no header")
    };
    assert_eq!(p.client.alias(h.track_alias), Some(req));
    let Some(Event::Object { payload, .. }) = p.client.poll_event() else {
        panic!("no object")
    };
    assert_eq!(payload.as_ref(), b"hello");
    assert!(matches!(
        p.client.poll_event(),
        Some(Event::DataEnd { reset: None, .. })
    ));
}

#[test]
fn wrong_parity_or_reused_request_id_is_invalid_request_id() {
    let mut p = Pair::new();
    p.setup();
    p.bidi.insert(StreamId(4));
    p.bidi.insert(StreamId(8));
    // A client must use even IDs.
    p.client
        .send_request(StreamId(4), subscribe(1))
        .expect("send");
    let err = p.pump().expect_err("odd client request ID");
    assert_eq!(err.code, Code::INVALID_REQUEST_ID);

    let mut p = Pair::new();
    p.setup();
    p.bidi.insert(StreamId(4));
    p.bidi.insert(StreamId(8));
    p.client
        .send_request(StreamId(4), subscribe(0))
        .expect("send");
    p.client
        .send_request(StreamId(8), subscribe(0))
        .expect("send");
    let err = p.pump().expect_err("reused request ID");
    assert_eq!(err.code, Code::INVALID_REQUEST_ID);
}

#[test]
fn request_stream_must_open_with_a_request() {
    let mut p = Pair::new();
    p.setup();
    let mut s = Session::new(Version::Draft18, Role::Server, Limits::default());
    s.handle_bi_opened(StreamId(4));
    let mut buf = BytesMut::new();
    Message::from(RequestOk {
        parameters: Parameters::new(),
        track_properties: Default::default(),
    })
    .encode(&mut buf)
    .expect("encode");
    let err = s
        .handle_data(StreamId(4), buf.freeze(), false)
        .expect_err("REQUEST_OK first");
    assert_eq!(err.code, Code::PROTOCOL_VIOLATION);
    assert!(err.reason.contains("opened with"), "{err}");
    drop(p);
}

#[test]
fn an_unread_request_stream_is_refused_once_and_only_an_unread_one() {
    let mut s = Session::new(Version::Draft18, Role::Server, Limits::default());
    s.handle_bi_opened(StreamId(4));
    let refusal = Message::from(crate::message::RequestError {
        error_code: crate::message::codes::RequestErrorCode::EXCESSIVE_LOAD,
        retry_interval: 0,
        error_reason: crate::ReasonPhrase::new("too many requests".to_owned()),
        redirect: None,
    });
    s.refuse_unread(StreamId(4), refusal.clone())
        .expect("an unread request stream");
    let transmits: Vec<Transmit> = std::iter::from_fn(|| s.poll_transmit()).collect();
    assert!(
        matches!(
            &transmits[..],
            [
                Transmit::Write {
                    stream: StreamId(4),
                    ..
                },
                Transmit::Finish {
                    stream: StreamId(4)
                }
            ]
        ),
        "{transmits:?}"
    );
    let again = s.refuse_unread(StreamId(4), refusal.clone());
    assert!(again.is_err(), "refused twice");
    // A stream nobody opened, and a request stream already read, are not unread ones.
    assert!(s.refuse_unread(StreamId(9), refusal).is_err());
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn control_stream_rules() {
    // Closing the control stream is a violation.
    let mut p = Pair::new();
    p.setup();
    p.client.transmits.push_back(Transmit::Finish {
        stream: StreamId(0),
    });
    assert_eq!(p.pump().expect_err("fin").code, Code::PROTOCOL_VIOLATION);
    // A second SETUP is a violation.
    let mut p = Pair::new();
    p.setup();
    p.client
        .write(StreamId(0), Setup::default())
        .expect("write");
    assert_eq!(
        p.pump().expect_err("setup twice").code,
        Code::PROTOCOL_VIOLATION
    );
    // A second control stream is a violation.
    let mut p = Pair::new();
    p.setup();
    p.client
        .open_control(StreamId(2), Setup::default())
        .expect("second");
    assert_eq!(
        p.pump().expect_err("two control streams").code,
        Code::PROTOCOL_VIOLATION
    );
    // GOAWAY once is fine, twice is not.
    let mut p = Pair::new();
    p.setup();
    let g = GoAway {
        new_session_uri: Bytes::from_static(b"moqt://next:4443"),
        timeout: 1000,
        request_id: Some(0),
    };
    p.server.send_goaway(g.clone()).expect("goaway");
    p.pump().expect("first goaway");
    assert!(matches!(p.client.poll_event(), Some(Event::GoAway(_))));
    p.server.send_goaway(g).expect("goaway");
    assert_eq!(
        p.pump().expect_err("second goaway").code,
        Code::PROTOCOL_VIOLATION
    );
}

#[test]
fn duplicate_alias_is_refused() {
    let mut s = Session::new(Version::Draft18, Role::Client, Limits::default());
    s.register_alias(5, RequestHandle(0)).expect("first");
    s.register_alias(5, RequestHandle(0))
        .expect("same request again is fine");
    let err = s
        .register_alias(5, RequestHandle(2))
        .expect_err("second request");
    assert_eq!(err.code, Code::DUPLICATE_TRACK_ALIAS);
}

#[test]
fn huge_object_is_refused_before_allocating() {
    let mut s = Session::new(Version::Draft18, Role::Server, Limits::default());
    s.handle_uni_opened(StreamId(2));
    let header = SubgroupHeader {
        track_alias: 1,
        group_id: 0,
        subgroup_id: SubgroupId::Zero,
        publisher_priority: Some(0),
        has_properties: false,
        end_of_group: false,
        first_object: false,
    };
    let object = SubgroupObject {
        object_id: 0,
        properties: Default::default(),
        payload_length: 1 << 40,
        object_status: Default::default(),
    };
    let mut bytes = BytesMut::new();
    bytes.extend_from_slice(&encode_subgroup_header(&header));
    bytes.extend_from_slice(&encode_subgroup_object_header(&header, None, &object).expect("obj"));
    let err = s
        .handle_data(StreamId(2), bytes.freeze(), false)
        .expect_err("2^40 bytes");
    assert_eq!(err.code, Code::PROTOCOL_VIOLATION);
}

#[test]
fn reset_request_stream_is_reported() {
    let mut p = Pair::new();
    p.setup();
    p.bidi.insert(StreamId(4));
    let id = p.client.next_request_id();
    let req = p
        .client
        .send_request(StreamId(4), subscribe(id))
        .expect("send");
    p.pump().expect("pump");
    let Some(Event::Request { request, .. }) = p.server.poll_event() else {
        panic!()
    };
    p.client.cancel(req, 0x1);
    p.pump().expect("pump");
    assert_eq!(
        p.server.poll_event(),
        Some(Event::RequestClosed {
            request,
            reset: Some(0x1)
        })
    );
}

/// A server session with the client's SETUP received and `n` of its requests opened, each
/// SUBSCRIBE on its own stream with the client's FIN, and each stream forgotten by the driver
/// when `forget`. Request IDs in `order`.
fn churned(order: impl IntoIterator<Item = u64>, forget: bool) -> Session {
    let mut p = Pair::new();
    p.setup();
    let mut server = p.server;
    for (i, id) in order.into_iter().enumerate() {
        let stream = StreamId(1000 + 4 * i as u64);
        server.handle_bi_opened(stream);
        let mut buf = BytesMut::new();
        subscribe(id).encode(&mut buf).expect("encodes");
        server
            .handle_data(stream, buf.freeze(), true)
            .expect("a new request ID");
        while server.poll_event().is_some() {}
        if forget {
            server.forget_stream(stream);
        }
    }
    server
}

#[test]
fn a_session_holds_only_its_live_requests() {
    let control = churned([], false).held().0;
    // 20,000 requests in order, each forgotten when its task ends: nothing left behind.
    let s = churned((0..20_000).map(|i| 2 * i), true);
    assert_eq!(s.held(), (control, 0, 0));
    assert_eq!(s.next_peer_request_id(), 40_000);
    // Not forgotten, they stay (the driver's task still holds them).
    let s = churned((0..100).map(|i| 2 * i), false);
    assert_eq!(s.held(), (control + 100, 100, 0));
}

#[test]
fn request_ids_out_of_order_are_accepted_once_in_bounded_memory() {
    // Streams arrive in any order: 4 before 0 and 2 is fine, and only the gap is tracked.
    let s = churned([4, 0, 2, 8], true);
    assert_eq!(s.held().2, 1, "8 waits for 6");
    assert_eq!(s.next_peer_request_id(), 10);
    // An ID never used while 4,096 later ones arrived is given up; memory stays bounded.
    let s = churned((1..=5_000).map(|i| 2 * i), true);
    assert!(s.held().2 <= 4096, "{:?}", s.held());
    let mut s = s;
    let stream = StreamId(3);
    s.handle_bi_opened(stream);
    let mut buf = BytesMut::new();
    subscribe(0).encode(&mut buf).expect("encodes");
    let err = s
        .handle_data(stream, buf.freeze(), true)
        .expect_err("request ID 0, given up");
    assert_eq!(err.code, Code::INVALID_REQUEST_ID);
}
