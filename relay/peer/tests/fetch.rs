//! FETCH answered by a tern-peer publisher from its track's history, checked on the wire: a
//! bare draft-18 server (tern-quic + tern-moq only) connects the publisher, then sends it
//! standalone and Joining FETCHes and reads FETCH_OK, REQUEST_ERROR and the fetch data streams.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tern_moq::data::FetchObject;
use tern_moq::message::codes::RequestErrorCode;
use tern_moq::message::{
    Fetch, FetchType, GroupOrder, Parameters, RequestError, Setup, Subscribe, SubscriptionFilter,
};
use tern_moq::{
    ControlReader, DataStreamEvent, DataStreamReader, Limits, Location, Message, TrackNamespace,
};
use tern_peer::{ConnectOptions, History, Session, TrackWriter};
use tern_quic::{RecvStream, SendStream, Server, ServerConfig};

const STEP: Duration = Duration::from_secs(5);

fn loc(group: u64, object: u64) -> Location {
    Location::new(group, object)
}

/// Payload bytes unique to (group, object).
fn payload(group: u64, object: u64) -> Bytes {
    let mut v = vec![(group * 16 + object) as u8; 300];
    v[..16].copy_from_slice(&group.to_be_bytes().repeat(2));
    v[16..24].copy_from_slice(&object.to_be_bytes());
    Bytes::from(v)
}

/// The server side: a session with the publisher, its SETUP sent.
struct Peer {
    session: tern_quic::Session,
    _server: Server,
    _control: SendStream,
    next_request: u64,
}

async fn write(send: &mut SendStream, msg: impl Into<Message>) {
    let mut buf = BytesMut::new();
    msg.into().encode(&mut buf).expect("encodes");
    send.write_chunk(buf.freeze()).await.expect("written");
}

async fn read(recv: &mut RecvStream) -> Option<Message> {
    let mut reader = ControlReader::new(Limits::default());
    loop {
        if let Some(m) = reader.pop().expect("well-formed") {
            return Some(m);
        }
        let chunk = tokio::time::timeout(STEP, recv.read_chunk(16 * 1024))
            .await
            .expect("an answer in time")
            .ok()??;
        reader.push(&chunk).expect("within limits");
    }
}

/// What a fetch data stream carried: its request, entries and whether it ended with FIN.
#[derive(Debug)]
struct FetchStream {
    request: u64,
    objects: Vec<(Location, Bytes)>,
    unknown: Vec<Location>,
    fin: bool,
}

impl Peer {
    /// Bind, let the publisher connect, exchange SETUP.
    async fn connect_publisher() -> (Peer, Session) {
        // This test's server writes and reads draft-18's wire by hand.
        let mut server = Server::bind(ServerConfig {
            protocols: vec![tern_quic::MOQT_18.to_owned()],
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..ServerConfig::default()
        })
        .expect("server binds");
        let url = format!("moqt://{}", server.local_addr().expect("addr"));
        let opts = ConnectOptions {
            disable_verify: true,
            ..ConnectOptions::default()
        };
        let client = tokio::spawn(async move { Session::connect(&url, &opts).await });
        let incoming = tokio::time::timeout(STEP, server.accept())
            .await
            .expect("publisher connects")
            .expect("session");
        let session = incoming.session;
        let mut control = session.open_uni().await.expect("control stream");
        write(&mut control, Setup::default()).await;
        let publisher = client.await.expect("task").expect("SETUP exchanged");
        // The publisher's control stream: keep reading it so that it stays open.
        let s = session.clone();
        tokio::spawn(async move {
            if let Ok(mut recv) = s.accept_uni().await {
                while let Ok(Some(_)) = recv.read_chunk(4096).await {}
            }
        });
        let peer = Peer {
            session,
            _server: server,
            _control: control,
            next_request: 1,
        };
        (peer, publisher)
    }

    /// Send `build(request_id)` on a new request stream; its first answer and the streams.
    async fn request(
        &mut self,
        build: impl FnOnce(u64) -> Message,
    ) -> (u64, Message, SendStream, RecvStream) {
        let id = self.next_request;
        self.next_request += 2;
        let (mut send, mut recv) = self.session.open_bi().await.expect("request stream");
        write(&mut send, build(id)).await;
        let answer = read(&mut recv).await.expect("an answer");
        (id, answer, send, recv)
    }

    async fn fetch(&mut self, fetch_type: FetchType, order: GroupOrder) -> (u64, Message) {
        let mut parameters = Parameters::new();
        parameters.set_group_order(order);
        let (id, answer, _, _) = self
            .request(|request_id| {
                Fetch {
                    request_id,
                    fetch_type,
                    parameters,
                }
                .into()
            })
            .await;
        (id, answer)
    }

    /// The next fetch data stream the publisher opens, read to its end.
    async fn fetch_stream(&self, order: GroupOrder) -> FetchStream {
        let mut recv = tokio::time::timeout(STEP, self.session.accept_uni())
            .await
            .expect("a data stream in time")
            .expect("data stream");
        let mut reader = DataStreamReader::new(Limits::default());
        let mut out = FetchStream {
            request: u64::MAX,
            objects: Vec::new(),
            unknown: Vec::new(),
            fin: false,
        };
        loop {
            while let Some(ev) = reader.poll().expect("well-formed fetch stream") {
                match ev {
                    DataStreamEvent::FetchHeader(h) => {
                        out.request = h.request_id;
                        reader.set_fetch_group_order(order);
                    }
                    DataStreamEvent::FetchObject { object, payload } => match object {
                        FetchObject::Object(o) => out.objects.push((o.location(), payload)),
                        FetchObject::EndOfUnknownRange(l) => out.unknown.push(l),
                        other => panic!("unexpected {other:?}"),
                    },
                    other => panic!("not a fetch stream: {other:?}"),
                }
            }
            match tokio::time::timeout(STEP, recv.read_chunk(64 * 1024))
                .await
                .expect("data in time")
            {
                Ok(Some(chunk)) => reader.push(chunk).expect("within limits"),
                Ok(None) => {
                    out.fin = true;
                    return out;
                }
                Err(_) => return out,
            }
        }
    }
}

fn standalone(start: Location, end: Location) -> FetchType {
    FetchType::Standalone {
        track_namespace: TrackNamespace::from_path("live/dvr"),
        track_name: Bytes::from_static(b"video"),
        start_location: start,
        end_location: end,
    }
}

fn refusal(m: Message) -> RequestError {
    match m {
        Message::RequestError(e) => e,
        other => panic!("expected REQUEST_ERROR, got {other:?}"),
    }
}

fn expected(locations: &[(u64, u64)]) -> Vec<(Location, Bytes)> {
    locations
        .iter()
        .map(|&(g, o)| (loc(g, o), payload(g, o)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_answers_fetch_from_its_history() {
    let (mut peer, publisher) = Peer::connect_publisher().await;
    // 900 bytes of payload a group, 1092 with the cache's 64 bytes an object, 3300 kept: the
    // three newest groups stay.
    let track = TrackWriter::new(TrackNamespace::from_path("live/dvr"), "video")
        .with_history(History::new(Duration::from_secs(60), 3300));
    track.set_priority(2);
    publisher.serve_track(&track);
    for g in 0..6 {
        track.new_group(g * 10).expect("group");
        for o in 0..3 {
            track.write_object(payload(g * 10, o)).expect("object");
        }
    }
    // Held: groups 30, 40 and 50 (the current one).

    // Inside the window, across groups; End Location {50, 0} asks for all of group 50.
    let (id, ok) = peer
        .fetch(standalone(loc(30, 1), loc(50, 0)), GroupOrder::Ascending)
        .await;
    match ok {
        Message::FetchOk(ok) => {
            assert_eq!(
                ok.end_location,
                loc(50, 3),
                "End Location: the last object sent + 1"
            );
            assert!(!ok.end_of_track);
        }
        other => panic!("expected FETCH_OK, got {other:?}"),
    }
    let data = peer.fetch_stream(GroupOrder::Ascending).await;
    assert_eq!(data.request, id);
    assert!(data.fin, "the fetch stream ends with FIN");
    assert!(data.unknown.is_empty());
    let want = expected(&[
        (30, 1),
        (30, 2),
        (40, 0),
        (40, 1),
        (40, 2),
        (50, 0),
        (50, 1),
        (50, 2),
    ]);
    assert!(
        data.objects == want,
        "objects byte for byte: {:?}",
        data.objects
    );

    // Entirely before the window.
    let (_, e) = peer
        .fetch(standalone(loc(0, 0), loc(20, 0)), GroupOrder::Ascending)
        .await;
    let e = refusal(e);
    assert_eq!(e.error_code, RequestErrorCode::INVALID_RANGE);
    let reason = e.error_reason.to_string_lossy();
    assert!(
        reason.contains("history window") && reason.contains("groups 30 to 50"),
        "the reason names the window: {reason:?}"
    );

    // Partly before: the evicted part is an unknown range, then what is held.
    let (id, ok) = peer
        .fetch(standalone(loc(10, 0), loc(30, 2)), GroupOrder::Ascending)
        .await;
    match ok {
        Message::FetchOk(ok) => assert_eq!(ok.end_location, loc(30, 2)),
        other => panic!("expected FETCH_OK, got {other:?}"),
    }
    let data = peer.fetch_stream(GroupOrder::Ascending).await;
    assert_eq!(data.request, id);
    assert_eq!(
        data.unknown,
        [loc(20, 2)],
        "groups 10 and 20 are no longer held"
    );
    assert_eq!(data.objects, expected(&[(30, 0), (30, 1)]));

    // Descending: newest group first, objects in order within a group.
    let (_, ok) = peer
        .fetch(standalone(loc(40, 0), loc(50, 2)), GroupOrder::Descending)
        .await;
    assert!(matches!(ok, Message::FetchOk(_)), "{ok:?}");
    let data = peer.fetch_stream(GroupOrder::Descending).await;
    assert_eq!(
        data.objects,
        expected(&[(50, 0), (50, 1), (40, 0), (40, 1), (40, 2)])
    );

    // After the Largest Object; an unknown track.
    let (_, e) = peer
        .fetch(standalone(loc(60, 0), loc(70, 0)), GroupOrder::Ascending)
        .await;
    assert_eq!(refusal(e).error_code, RequestErrorCode::INVALID_RANGE);
    let (_, e) = peer
        .fetch(
            FetchType::Standalone {
                track_namespace: TrackNamespace::from_path("live/dvr"),
                track_name: Bytes::from_static(b"nope"),
                start_location: loc(0, 0),
                end_location: loc(1, 0),
            },
            GroupOrder::Ascending,
        )
        .await;
    assert_eq!(refusal(e).error_code, RequestErrorCode::DOES_NOT_EXIST);
    assert!(peer.session.close_reason().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_fetch_reaches_back_from_the_subscription() {
    let (mut peer, publisher) = Peer::connect_publisher().await;
    let track = TrackWriter::new(TrackNamespace::from_path("live/dvr"), "video")
        .with_history(History::new(Duration::from_secs(60), 1 << 20));
    publisher.serve_track(&track);
    for g in 0..4 {
        track.new_group(g).expect("group");
        for o in 0..3 {
            track.write_object(payload(g, o)).expect("object");
        }
    }
    // Subscribe from the next object: the Joining Location is {3, 2}.
    let mut parameters = Parameters::new();
    parameters.set_subscription_filter(&SubscriptionFilter::LargestObject);
    let (sub_id, ok, _sub_send, _sub_recv) = peer
        .request(|request_id| {
            Subscribe {
                request_id,
                track_namespace: TrackNamespace::from_path("live/dvr"),
                track_name: Bytes::from_static(b"video"),
                parameters,
            }
            .into()
        })
        .await;
    match ok {
        Message::SubscribeOk(ok) => assert_eq!(ok.parameters.largest_object(), Some(loc(3, 2))),
        other => panic!("expected SUBSCRIBE_OK, got {other:?}"),
    }

    // Relative 1: group 2 and group 3 up to the Joining Location.
    let joining = FetchType::RelativeJoining {
        joining_request_id: sub_id,
        joining_start: 1,
    };
    let (id, ok) = peer.fetch(joining, GroupOrder::Ascending).await;
    match ok {
        Message::FetchOk(ok) => assert_eq!(ok.end_location, loc(3, 3)),
        other => panic!("expected FETCH_OK, got {other:?}"),
    }
    let data = peer.fetch_stream(GroupOrder::Ascending).await;
    assert_eq!(data.request, id);
    assert_eq!(
        data.objects,
        expected(&[(2, 0), (2, 1), (2, 2), (3, 0), (3, 1), (3, 2)])
    );

    // Absolute from group 1.
    let joining = FetchType::AbsoluteJoining {
        joining_request_id: sub_id,
        joining_start: 1,
    };
    let (_, ok) = peer.fetch(joining, GroupOrder::Ascending).await;
    assert!(matches!(ok, Message::FetchOk(_)), "{ok:?}");
    let data = peer.fetch_stream(GroupOrder::Ascending).await;
    assert_eq!(data.objects.first().map(|o| o.0), Some(loc(1, 0)));
    assert_eq!(data.objects.len(), 9);

    // A Request ID that is no subscription of this session.
    let joining = FetchType::RelativeJoining {
        joining_request_id: 999,
        joining_start: 0,
    };
    let (_, e) = peer.fetch(joining, GroupOrder::Ascending).await;
    assert_eq!(
        refusal(e).error_code,
        RequestErrorCode::INVALID_JOINING_REQUEST_ID
    );
    assert!(peer.session.close_reason().is_none());
}
