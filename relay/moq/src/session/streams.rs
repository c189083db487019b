//! Per-stream state of a [`Session`]: what each stream is, and the reader parsing it.

use bytes::Bytes;

use crate::DecodeError;
use crate::message::{Message, Parameters};
use crate::reader::{ControlReader, DataStreamEvent, DataStreamReader};

use super::state::StreamState;
use super::{Event, RequestHandle, Role, Session, SessionError, StreamId};
use crate::message::codes::SessionError as Code;

/// The Request ID a request message carries (REQUEST_UPDATE included: it consumes one).
pub fn request_id(m: &Message) -> Option<u64> {
    Some(match m {
        Message::Subscribe(m) => m.request_id,
        Message::Publish(m) => m.request_id,
        Message::PublishNamespace(m) => m.request_id,
        Message::SubscribeNamespace(m) => m.request_id,
        Message::SubscribeTracks(m) => m.request_id,
        Message::TrackStatus(m) => m.request_id,
        Message::Fetch(m) => m.request_id,
        Message::RequestUpdate(m) => m.request_id,
        _ => return None,
    })
}

/// The parameters of a message that carries them.
fn parameters(m: &Message) -> Option<&Parameters> {
    Some(match m {
        Message::Subscribe(m) => &m.parameters,
        Message::SubscribeOk(m) => &m.parameters,
        Message::Publish(m) => &m.parameters,
        Message::PublishOk(m) => &m.parameters,
        Message::PublishNamespace(m) => &m.parameters,
        Message::SubscribeNamespace(m) => &m.parameters,
        Message::SubscribeTracks(m) => &m.parameters,
        Message::TrackStatus(m) => &m.parameters,
        Message::Fetch(m) => &m.parameters,
        Message::FetchOk(m) => &m.parameters,
        Message::RequestUpdate(m) => &m.parameters,
        Message::RequestOk(m) => &m.parameters,
        Message::PublishStateNotify(m) => &m.parameters,
        _ => return None,
    })
}

fn decode(e: DecodeError, what: &str) -> SessionError {
    SessionError::new(e.wire_code(), format!("{what}: {e}"))
}

/// Check a peer's new Request ID: right parity for its role, never reused.
fn check_request_id(s: &mut Session, id: u64) -> Result<(), SessionError> {
    let peer_parity = match s.role {
        Role::Server => 0, // the peer is a client: even
        Role::Client => 1,
    };
    if id % 2 != peer_parity {
        return Err(SessionError::new(
            Code::INVALID_REQUEST_ID,
            format!("request ID {id} has the wrong parity"),
        ));
    }
    s.peer_request_ids.insert(id)
}

fn check_parameters(s: &Session, m: &Message) -> Result<(), SessionError> {
    if let Some(p) = parameters(m)
        && let Some(unknown) = p
            .unknown_in(s.version)
            .find(|p| !s.extension_parameters.contains(&p.kind))
    {
        return Err(SessionError::violation(format!(
            "unknown parameter {:#x} in {}",
            unknown.kind,
            m.name()
        )));
    }
    Ok(())
}

pub(super) fn handle_data(
    s: &mut Session,
    stream: StreamId,
    data: Bytes,
    fin: bool,
) -> Result<(), SessionError> {
    let Some(mut state) = s.streams.remove(&stream) else {
        // Data for a stream the session forgot (cancelled): ignore.
        return Ok(());
    };
    let result = feed(s, stream, &mut state, data, fin);
    if !fin && result.is_ok() {
        s.streams.insert(stream, state);
    } else if fin
        && let StreamState::Request { request, .. } | StreamState::Request16 { request, .. } = state
    {
        s.streams.insert(stream, StreamState::Closed { request });
    }
    result
}

fn feed(
    s: &mut Session,
    stream: StreamId,
    state: &mut StreamState,
    data: Bytes,
    fin: bool,
) -> Result<(), SessionError> {
    match state {
        StreamState::OurControl | StreamState::Closed { .. } => Ok(()),
        StreamState::MuxControl(reader) => super::mux::control_data(s, reader, &data, fin),
        StreamState::Request16 { request, reader } => {
            super::mux::request_stream_data(s, stream, request, reader, &data, fin)
        }
        StreamState::PeerControl(reader) => {
            reader
                .push(&data)
                .map_err(|e| decode(e, "control stream"))?;
            control_messages(s, reader)?;
            if fin {
                return Err(SessionError::violation("control stream closed"));
            }
            Ok(())
        }
        StreamState::Uni(reader) => {
            reader.push(data).map_err(|e| decode(e, "data stream"))?;
            loop {
                match reader.poll().map_err(|e| decode(e, "data stream"))? {
                    Some(DataStreamEvent::Control) => {
                        if s.peer_control.is_some() {
                            return Err(SessionError::violation("second control stream"));
                        }
                        s.peer_control = Some(stream);
                        let old =
                            std::mem::replace(reader, Box::new(DataStreamReader::new(s.limits)));
                        let mut control = old
                            .into_control_reader(s.version)
                            .map_err(|e| decode(e, "control stream"))?;
                        control_messages(s, &mut control)?;
                        if fin {
                            return Err(SessionError::violation("control stream closed"));
                        }
                        *state = StreamState::PeerControl(control);
                        return Ok(());
                    }
                    Some(DataStreamEvent::Padding) => {}
                    Some(DataStreamEvent::SubgroupHeader(header)) => {
                        s.events.push_back(Event::Subgroup { stream, header });
                    }
                    Some(DataStreamEvent::FetchHeader(header)) => {
                        s.events.push_back(Event::Fetch { stream, header });
                    }
                    Some(DataStreamEvent::SubgroupObject { object, payload }) => {
                        s.events.push_back(Event::Object {
                            stream,
                            object,
                            payload,
                        });
                    }
                    Some(DataStreamEvent::FetchObject { object, payload }) => {
                        s.events.push_back(Event::FetchObject {
                            stream,
                            object,
                            payload,
                        });
                    }
                    None => break,
                }
            }
            if fin {
                reader.finish().map_err(|e| decode(e, "data stream"))?;
                s.events.push_back(Event::DataEnd {
                    stream,
                    reset: None,
                });
            }
            Ok(())
        }
        StreamState::Request { request, reader } => {
            reader
                .push(&data)
                .map_err(|e| decode(e, "request stream"))?;
            while let Some(m) = reader.pop().map_err(|e| decode(e, "request stream"))? {
                check_parameters(s, &m)?;
                match *request {
                    None => {
                        let Some(id) =
                            request_id(&m).filter(|_| !matches!(m, Message::RequestUpdate(_)))
                        else {
                            return Err(SessionError::violation(format!(
                                "request stream opened with {}",
                                m.name()
                            )));
                        };
                        check_request_id(s, id)?;
                        let handle = RequestHandle(id);
                        *request = Some(handle);
                        s.requests.insert(handle, stream);
                        s.events.push_back(Event::Request {
                            request: handle,
                            stream,
                            message: m,
                        });
                    }
                    Some(handle) => {
                        if let Message::RequestUpdate(u) = &m {
                            check_request_id(s, u.request_id)?;
                        }
                        if matches!(m, Message::Setup(_))
                            || request_id(&m).is_some() && !matches!(m, Message::RequestUpdate(_))
                        {
                            return Err(SessionError::violation(format!(
                                "{} in the middle of a request stream",
                                m.name()
                            )));
                        }
                        s.events.push_back(Event::Message {
                            request: handle,
                            message: m,
                        });
                    }
                }
            }
            if fin {
                reader.finish().map_err(|e| decode(e, "request stream"))?;
                if let Some(handle) = *request {
                    s.events.push_back(Event::RequestClosed {
                        request: handle,
                        reset: None,
                    });
                }
            }
            Ok(())
        }
    }
}

fn control_messages(s: &mut Session, reader: &mut ControlReader) -> Result<(), SessionError> {
    while let Some(m) = reader.pop().map_err(|e| decode(e, "control stream"))? {
        match m {
            Message::Setup(setup) if !s.setup_received => {
                s.setup_received = true;
                s.events.push_back(Event::Setup(setup));
            }
            Message::GoAway(g) if s.setup_received && !s.goaway_received => {
                if s.role == Role::Server && !g.new_session_uri.is_empty() {
                    return Err(SessionError::violation("a client GOAWAY carried a URI"));
                }
                s.goaway_received = true;
                s.events.push_back(Event::GoAway(g));
            }
            other => {
                return Err(SessionError::violation(format!(
                    "unexpected {} on the control stream",
                    other.name()
                )));
            }
        }
    }
    Ok(())
}

pub(super) fn handle_reset(
    s: &mut Session,
    stream: StreamId,
    code: u64,
) -> Result<(), SessionError> {
    match s.streams.remove(&stream) {
        Some(StreamState::PeerControl(_) | StreamState::MuxControl(_)) => {
            Err(SessionError::violation("control stream reset"))
        }
        Some(
            StreamState::Request {
                request: Some(request),
                ..
            }
            | StreamState::Request16 {
                request: Some(request),
                ..
            },
        ) => {
            s.events.push_back(Event::RequestClosed {
                request,
                reset: Some(code),
            });
            s.streams.insert(
                stream,
                StreamState::Closed {
                    request: Some(request),
                },
            );
            Ok(())
        }
        Some(StreamState::Uni(_)) => {
            s.events.push_back(Event::DataEnd {
                stream,
                reset: Some(code),
            });
            Ok(())
        }
        _ => Ok(()),
    }
}
