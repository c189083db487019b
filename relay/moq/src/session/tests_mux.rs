//! Drafts 14 and 16 between two sessions in memory: one control stream carries every request.

use bytes::Bytes;

use super::*;
use crate::TrackNamespace;
use crate::message::codes::RequestErrorCode;
use crate::message::{Parameters, PublishNamespace, RequestError, Subscribe, SubscribeOk};
use crate::{Limits, ReasonPhrase};

/// The control stream's name on both sides.
const CONTROL: StreamId = StreamId(0);

struct Pair {
    client: Session,
    server: Session,
}

impl Pair {
    /// A client and a server of `version` with the control stream open and SETUP exchanged.
    fn new(version: Version) -> Self {
        let mut pair = Self {
            client: Session::new(version, Role::Client, Limits::default()),
            server: Session::new(version, Role::Server, Limits::default()),
        };
        pair.client
            .open_control(CONTROL, Setup::default())
            .expect("CLIENT_SETUP");
        pair.server.handle_bi_opened(CONTROL);
        pair.pump_to_server().expect("CLIENT_SETUP arrives");
        assert!(matches!(pair.server.poll_event(), Some(Event::Setup(_))));
        pair.server
            .open_control(CONTROL, Setup::default())
            .expect("SERVER_SETUP");
        pair.pump_to_client().expect("SERVER_SETUP arrives");
        assert!(matches!(pair.client.poll_event(), Some(Event::Setup(_))));
        pair
    }

    fn pump_to_server(&mut self) -> Result<(), SessionError> {
        move_control(&mut self.client, &mut self.server)
    }

    fn pump_to_client(&mut self) -> Result<(), SessionError> {
        move_control(&mut self.server, &mut self.client)
    }

    fn subscribe(&mut self) -> RequestHandle {
        let id = self.client.next_request_id();
        self.client
            .send_request(mux_stream(id), subscribe(id).into())
            .expect("SUBSCRIBE")
    }
}

fn subscribe(id: u64) -> Subscribe {
    Subscribe {
        request_id: id,
        track_namespace: TrackNamespace::new(vec![Bytes::from_static(b"live")]),
        track_name: Bytes::from_static(b"video"),
        parameters: Parameters::new(),
    }
}

/// Every transmit of `from` goes on the control stream, byte by byte into `to`.
fn move_control(from: &mut Session, to: &mut Session) -> Result<(), SessionError> {
    while let Some(t) = from.poll_transmit() {
        match t {
            Transmit::Write { stream, data } => {
                assert_eq!(stream, CONTROL, "every message on the control stream");
                for b in data.iter() {
                    to.handle_data(CONTROL, Bytes::copy_from_slice(&[*b]), false)?;
                }
            }
            other => panic!("{other:?} on the control stream"),
        }
    }
    Ok(())
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

#[test]
fn requests_and_answers_share_the_control_stream_on_drafts_14_and_16() {
    for version in [Version::Draft14, Version::Draft16] {
        let mut pair = Pair::new(version);
        let request = pair.subscribe();
        pair.pump_to_server().expect("SUBSCRIBE arrives");
        let got = events(&mut pair.server);
        assert!(
            matches!(&got[..], [Event::Request { request: r, stream, message: Message::Subscribe(_) }]
                if *r == request && *stream == mux_stream(request.0)),
            "{version}: {got:?}"
        );
        pair.server
            .send(
                request,
                SubscribeOk {
                    track_alias: 7,
                    ..Default::default()
                }
                .into(),
            )
            .expect("SUBSCRIBE_OK");
        pair.pump_to_client().expect("SUBSCRIBE_OK arrives");
        let got = events(&mut pair.client);
        assert!(
            matches!(&got[..], [Event::Message { request: r, message: Message::SubscribeOk(ok) }]
                if *r == request && ok.track_alias == 7),
            "{version}: {got:?}"
        );
        // The subscriber ends it (draft-18: FIN on the request stream): UNSUBSCRIBE.
        pair.client.finish(request);
        pair.pump_to_server().expect("UNSUBSCRIBE arrives");
        let got = events(&mut pair.server);
        assert!(
            matches!(&got[..], [Event::RequestClosed { request: r, reset: None }] if *r == request),
            "{version}: {got:?}"
        );
        // Once both ends forgot it, nothing of it is held.
        pair.client.forget_stream(mux_stream(request.0));
        pair.server.forget_stream(mux_stream(request.0));
        assert_eq!(pair.server.held().1, 0, "{version}");
        assert_eq!(pair.client.held().1, 0, "{version}");
    }
}

#[test]
fn a_request_error_closes_the_request_as_a_fin_would() {
    let mut pair = Pair::new(Version::Draft14);
    let id = pair.client.next_request_id();
    let request = pair
        .client
        .send_request(
            mux_stream(id),
            PublishNamespace {
                request_id: id,
                track_namespace: TrackNamespace::new(vec![Bytes::from_static(b"live")]),
                parameters: Parameters::new(),
            }
            .into(),
        )
        .expect("PUBLISH_NAMESPACE");
    pair.pump_to_server().expect("arrives");
    events(&mut pair.server);
    pair.server
        .send(
            request,
            RequestError {
                error_code: RequestErrorCode::UNAUTHORIZED,
                retry_interval: 0,
                error_reason: ReasonPhrase::new("no".to_owned()),
                redirect: None,
            }
            .into(),
        )
        .expect("PUBLISH_NAMESPACE_ERROR");
    pair.pump_to_client().expect("arrives");
    let got = events(&mut pair.client);
    assert!(
        matches!(
            &got[..],
            [
                Event::Message { message: Message::RequestError(e), .. },
                Event::RequestClosed { reset: None, .. }
            ] if e.error_code == RequestErrorCode::UNAUTHORIZED
        ),
        "{got:?}"
    );
}

#[test]
fn a_peer_beyond_max_request_id_is_closed_with_too_many_requests() {
    for version in [Version::Draft14, Version::Draft16] {
        let mut pair = Pair::new(version);
        // The client pretends the server granted more than it did.
        pair.client
            .mux
            .as_mut()
            .expect("mux")
            .peer_granted_for_tests(u64::MAX);
        let mut last = Ok(());
        for _ in 0..=REQUEST_WINDOW {
            pair.subscribe();
            last = pair.pump_to_server();
            if last.is_err() {
                break;
            }
        }
        let e = last.expect_err("closed");
        assert_eq!(e.code, Code::TOO_MANY_REQUESTS, "{version}: {e}");
        assert!(e.reason.contains("MAX_REQUEST_ID"), "{e}");
    }
}

#[test]
fn a_request_id_out_of_sequence_is_invalid() {
    let mut pair = Pair::new(Version::Draft16);
    pair.client.next_request_id(); // skips 0
    pair.subscribe();
    let e = pair.pump_to_server().expect_err("closed");
    assert_eq!(e.code, Code::INVALID_REQUEST_ID, "{e}");
}

#[test]
fn our_requests_stop_at_the_peers_grant_and_say_so() {
    let mut pair = Pair::new(Version::Draft16);
    pair.client
        .mux
        .as_mut()
        .expect("mux")
        .peer_granted_for_tests(2);
    pair.subscribe();
    let id = pair.client.next_request_id();
    let e = pair
        .client
        .send_request(mux_stream(id), subscribe(id).into())
        .expect_err("blocked");
    assert!(e.reason.contains("MAX_REQUEST_ID"), "{e}");
    // REQUESTS_BLOCKED went out, and the ID is taken by the next request.
    pair.pump_to_server()
        .expect("SUBSCRIBE and REQUESTS_BLOCKED arrive");
    assert_eq!(pair.client.next_request_id(), id);
}

#[test]
fn draft_14_setup_without_its_version_fails_negotiation() {
    let mut client = Session::new(Version::Draft16, Role::Client, Limits::default());
    let mut server = Session::new(Version::Draft14, Role::Server, Limits::default());
    client
        .open_control(CONTROL, Setup::default())
        .expect("setup");
    server.handle_bi_opened(CONTROL);
    let e = move_control(&mut client, &mut server).expect_err("refused");
    assert_eq!(e.code, Code::VERSION_NEGOTIATION_FAILED, "{e}");
    assert!(e.reason.contains("0xff00000e"), "{e}");
}
