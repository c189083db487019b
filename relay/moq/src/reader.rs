//! Incremental, allocation-bounded readers: push received `Bytes`, poll items.
//! No I/O: the session's transport driver feeds them.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use crate::coding::{DecodeError, decode_quic_varint, decode_varint, peek_varint};
use crate::data::{
    Decoded, FetchHeader, FetchObject, FetchObjectState, StreamType, SubgroupHeader, SubgroupId,
    SubgroupObject,
};
use crate::message::{GroupOrder, Message};
use crate::{Limits, Version};

/// Reads control messages from a control or request stream.
#[derive(Debug)]
pub struct ControlReader {
    buf: BytesMut,
    limits: Limits,
    version: Version,
}

impl ControlReader {
    /// An empty reader of draft-18 messages.
    pub fn new(limits: Limits) -> Self {
        Self::with_version(limits, Version::Draft18)
    }

    /// An empty reader of `version`'s messages.
    pub fn with_version(limits: Limits, version: Version) -> Self {
        Self {
            buf: BytesMut::new(),
            limits,
            version,
        }
    }

    /// Append received bytes; refused when more than
    /// `limits.max_control_buffer` bytes would be buffered.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), DecodeError> {
        let buffered = self.buf.len() + chunk.len();
        if buffered > self.limits.max_control_buffer {
            return Err(DecodeError::BufferFull {
                buffered,
                max: self.limits.max_control_buffer,
            });
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// The next complete message, `None` when more bytes are needed.
    pub fn pop(&mut self) -> Result<Option<Message>, DecodeError> {
        match Message::decode_as(&mut self.buf, self.version, &self.limits) {
            Ok(m) => Ok(Some(m)),
            Err(DecodeError::Short) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The next complete control message of drafts 14 and 16 ([`crate::draft16`]; the
    /// reader's version is one of them), `None` when more bytes are needed.
    pub fn pop_draft16(&mut self) -> Result<Option<crate::draft16::ControlMessage>, DecodeError> {
        match crate::draft16::decode(&mut self.buf, self.version, &self.limits) {
            Ok(m) => Ok(Some(m)),
            Err(DecodeError::Short) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Bytes received but not yet returned as messages.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The stream ended (FIN): an incomplete message is a violation.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TruncatedStream)
        }
    }
}

/// One item from a unidirectional stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataStreamEvent {
    /// The stream is a subgroup stream with this header.
    SubgroupHeader(SubgroupHeader),
    /// The stream is a fetch stream with this header. Call
    /// [`DataStreamReader::set_fetch_group_order`] now if the FETCH was descending.
    FetchHeader(FetchHeader),
    /// The stream is the peer's control stream (it starts with SETUP):
    /// continue with [`DataStreamReader::into_control_reader`].
    Control,
    /// A padding stream: everything after is discarded.
    Padding,
    /// An object on a subgroup stream.
    SubgroupObject {
        /// Object fields.
        object: SubgroupObject,
        /// Payload: a zero-copy slice when it arrived in one chunk.
        payload: Bytes,
    },
    /// An entry on a fetch stream (End of Range entries have an empty payload).
    FetchObject {
        /// Object fields or range marker.
        object: FetchObject,
        /// Payload: a zero-copy slice when it arrived in one chunk.
        payload: Bytes,
    },
}

#[derive(Debug)]
enum State {
    Type,
    Subgroup {
        header: SubgroupHeader,
        prev_object_id: Option<u64>,
    },
    Fetch(FetchObjectState),
    Control,
    Padding,
}

#[derive(Debug)]
enum Pending {
    Subgroup(SubgroupObject),
    Fetch(FetchObject),
}

/// Reads a unidirectional stream: detects its type, yields the header, then
/// objects with their payloads.
#[derive(Debug)]
pub struct DataStreamReader {
    chunks: VecDeque<Bytes>,
    len: usize,
    limits: Limits,
    version: Version,
    state: State,
    pending: Option<(Pending, usize)>,
    /// Object headers read so far (numbers the partial objects).
    headers: u64,
}

impl DataStreamReader {
    /// A reader for a new stream of draft-18 (whose data plane drafts 20 and 22 share).
    pub fn new(limits: Limits) -> Self {
        Self::with_version(limits, Version::Draft18)
    }

    /// A reader for a new stream of `version`. On drafts 14 and 16 a unidirectional stream is
    /// a subgroup or fetch stream only (their control stream is bidirectional), and the
    /// objects the model has no form for (draft-14's Object Does Not Exist, and its fetch
    /// objects with a status) are left out.
    pub fn with_version(limits: Limits, version: Version) -> Self {
        Self {
            chunks: VecDeque::new(),
            len: 0,
            limits,
            version,
            state: State::Type,
            pending: None,
            headers: 0,
        }
    }

    /// Append received bytes (kept as-is, no copy); refused when more than
    /// `limits.max_stream_buffer` bytes would be buffered.
    pub fn push(&mut self, chunk: Bytes) -> Result<(), DecodeError> {
        if matches!(self.state, State::Padding) || chunk.is_empty() {
            return Ok(());
        }
        let buffered = self.len + chunk.len();
        if buffered > self.limits.max_stream_buffer {
            return Err(DecodeError::BufferFull {
                buffered,
                max: self.limits.max_stream_buffer,
            });
        }
        self.len = buffered;
        self.chunks.push_back(chunk);
        Ok(())
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.len
    }

    /// The object whose header was read and whose payload is still arriving: its number on
    /// this stream (counting from 1) and its declared payload length. `None` between objects.
    pub fn partial_object(&self) -> Option<(u64, usize)> {
        self.pending.as_ref().map(|(_, n)| (self.headers, *n))
    }

    /// Set the group order used to decode fetch Group ID deltas.
    pub fn set_fetch_group_order(&mut self, order: GroupOrder) {
        if let State::Fetch(s) = &mut self.state {
            s.set_order(order);
        }
    }

    /// Hand a control stream's bytes (starting with SETUP) to a [`ControlReader`].
    pub fn into_control_reader(self, version: Version) -> Result<ControlReader, DecodeError> {
        let mut reader = ControlReader::with_version(self.limits, version);
        for c in &self.chunks {
            reader.push(c)?;
        }
        Ok(reader)
    }

    /// The stream ended (FIN): a partial header or object is a violation.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.pending.is_some()
            || (self.len > 0 && !matches!(self.state, State::Control) && !self.header_only())
        {
            Err(DecodeError::TruncatedStream)
        } else {
            Ok(())
        }
    }

    /// A whole draft-14 SUBGROUP_HEADER and nothing else is buffered (one waiting for its first
    /// object, see `subgroup_header`).
    fn header_only(&self) -> bool {
        if self.version != Version::Draft14 || !matches!(self.state, State::Type) {
            return false;
        }
        let bytes: Vec<u8> = self.chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let mut rest = &bytes[..];
        SubgroupHeader::decode_as(&mut rest, self.version).is_ok() && rest.is_empty()
    }

    fn consume(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                return;
            };
            if front.len() > n {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.chunks.pop_front();
        }
    }

    /// Make the front chunk hold at least `min(want, len)` bytes.
    fn make_contiguous(&mut self, want: usize) {
        let want = want.min(self.len);
        let front_len = self.chunks.front().map_or(0, Bytes::len);
        if front_len >= want {
            return;
        }
        let mut merged = BytesMut::with_capacity(want);
        while merged.len() < want {
            let Some(mut c) = self.chunks.pop_front() else {
                break;
            };
            let take = (want - merged.len()).min(c.len());
            merged.extend_from_slice(&c.split_to(take));
            if !c.is_empty() {
                self.chunks.push_front(c);
            }
        }
        self.chunks.push_front(merged.freeze());
    }

    /// Run `parse` on the front bytes, merging chunks while it reports Short.
    fn parse<T>(
        &mut self,
        mut parse: impl FnMut(&mut &[u8]) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        loop {
            let Some(front) = self.chunks.front().cloned() else {
                return Ok(None);
            };
            let mut s = &front[..];
            match parse(&mut s) {
                Ok(v) => {
                    let used = front.len() - s.len();
                    self.consume(used);
                    return Ok(Some(v));
                }
                Err(DecodeError::Short) if front.len() < self.len => {
                    self.make_contiguous((front.len() * 2).max(64));
                }
                Err(DecodeError::Short) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Take `n` payload bytes if all are buffered: zero-copy when they sit in
    /// one chunk; otherwise one allocation of exactly `n` bytes.
    fn take_payload(&mut self, n: usize) -> Option<Bytes> {
        if self.len < n {
            return None;
        }
        if n == 0 {
            return Some(Bytes::new());
        }
        if let Some(front) = self.chunks.front_mut()
            && front.len() >= n
        {
            let out = front.split_to(n);
            if front.is_empty() {
                self.chunks.pop_front();
            }
            self.len -= n;
            return Some(out);
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            let mut c = self.chunks.pop_front()?;
            let take = (n - out.len()).min(c.len());
            out.extend_from_slice(&c.split_to(take));
            if !c.is_empty() {
                self.chunks.push_front(c);
            }
        }
        self.len -= n;
        Some(out.freeze())
    }

    /// The next item, `None` when more bytes are needed.
    pub fn poll(&mut self) -> Result<Option<DataStreamEvent>, DecodeError> {
        loop {
            if let Some((pending, n)) = self.pending.take() {
                let Some(payload) = self.take_payload(n) else {
                    self.pending = Some((pending, n));
                    return Ok(None);
                };
                return Ok(Some(match pending {
                    Pending::Subgroup(object) => {
                        DataStreamEvent::SubgroupObject { object, payload }
                    }
                    Pending::Fetch(object) => DataStreamEvent::FetchObject { object, payload },
                }));
            }
            let (limits, version) = (self.limits, self.version);
            match &mut self.state {
                State::Type => return self.stream_header(),
                State::Subgroup {
                    header,
                    prev_object_id,
                } => {
                    let (header, prev) = (*header, *prev_object_id);
                    let Some(obj) = self
                        .parse(|b| SubgroupObject::decode_as(b, &header, prev, &limits, version))?
                    else {
                        return Ok(None);
                    };
                    let (object_id, pending) = match obj {
                        Decoded::Model(o) => (o.object_id, Some(o)),
                        Decoded::Omitted { location, .. } => (location.object, None),
                    };
                    if let State::Subgroup { prev_object_id, .. } = &mut self.state {
                        *prev_object_id = Some(object_id);
                    }
                    if let Some(obj) = pending {
                        let n = payload_len(obj.payload_length)?;
                        self.pending = Some((Pending::Subgroup(obj), n));
                        self.headers += 1;
                    }
                }
                State::Fetch(state) => {
                    let mut st = state.clone();
                    let Some(obj) = self.parse(|b| st.decode_as(b, &limits, version))? else {
                        return Ok(None);
                    };
                    self.state = State::Fetch(st);
                    if let Decoded::Model(obj) = obj {
                        let n = match &obj {
                            FetchObject::Object(o) => payload_len(o.payload_length)?,
                            _ => 0,
                        };
                        self.pending = Some((Pending::Fetch(obj), n));
                        self.headers += 1;
                    }
                }
                State::Control | State::Padding => return Ok(None),
            }
        }
    }

    /// The stream type and header.
    fn stream_header(&mut self) -> Result<Option<DataStreamEvent>, DecodeError> {
        let version = self.version;
        let peek = |b: &mut &[u8]| {
            if version.has_request_streams() {
                peek_varint(b).map(|(v, _)| v)
            } else {
                decode_quic_varint(&mut &b[..])
            }
        };
        let Some(t) = self.parse(peek)? else {
            return Ok(None);
        };
        match StreamType::from_wire_as(t, version)? {
            StreamType::Setup => {
                self.state = State::Control;
                Ok(Some(DataStreamEvent::Control))
            }
            StreamType::Padding => {
                self.state = State::Padding;
                self.chunks.clear();
                self.len = 0;
                Ok(Some(DataStreamEvent::Padding))
            }
            StreamType::Fetch => {
                let Some(h) = self.parse(|b| FetchHeader::decode_as(b, version))? else {
                    return Ok(None);
                };
                self.state = State::Fetch(FetchObjectState::new(GroupOrder::Ascending));
                Ok(Some(DataStreamEvent::FetchHeader(h)))
            }
            StreamType::Subgroup(_) => {
                let limits = self.limits;
                let Some(h) = self.parse(|b| subgroup_header(b, version, &limits))? else {
                    return Ok(None);
                };
                self.state = State::Subgroup {
                    header: h,
                    prev_object_id: None,
                };
                Ok(Some(DataStreamEvent::SubgroupHeader(h)))
            }
        }
    }
}

/// A SUBGROUP_HEADER. On draft-14 a Subgroup ID that is the first object's Object ID is named
/// when that object does not exist (it is left out, so the first object read is another): the
/// header waits for the first object's fields.
fn subgroup_header(
    b: &mut &[u8],
    version: Version,
    limits: &Limits,
) -> Result<SubgroupHeader, DecodeError> {
    let mut h = SubgroupHeader::decode_as(b, version)?;
    if version == Version::Draft14 && h.subgroup_id == SubgroupId::FirstObject {
        let mut first = *b;
        if let Decoded::Omitted { location, .. } =
            SubgroupObject::decode_as(&mut first, &h, None, limits, version)?
        {
            h.subgroup_id = SubgroupId::Explicit(location.object);
        }
    }
    Ok(h)
}

fn payload_len(n: u64) -> Result<usize, DecodeError> {
    usize::try_from(n).map_err(|_| DecodeError::ObjectTooLarge {
        len: n,
        max: usize::MAX as u64,
    })
}

/// Read just the stream type of a unidirectional stream from its first bytes.
pub fn peek_stream_type(first: &[u8]) -> Result<StreamType, DecodeError> {
    StreamType::from_wire(decode_varint(&mut &first[..])?)
}

/// Read just the stream type of a unidirectional stream of `version` from its first bytes.
pub fn peek_stream_type_as(first: &[u8], version: Version) -> Result<StreamType, DecodeError> {
    if version.has_request_streams() {
        peek_stream_type(first)
    } else {
        StreamType::from_wire_as(decode_quic_varint(&mut &first[..])?, version)
    }
}
