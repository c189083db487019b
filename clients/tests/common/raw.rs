//! A MoQ peer written message by message, for tests whose client misbehaves on purpose
//! (withholds credit, never reads, holds groups open): only SETUP and the messages the test
//! writes, nothing a library would add.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use tern_moq::data::{
    SubgroupHeader, SubgroupId, SubgroupObject, encode_subgroup_header,
    encode_subgroup_object_header,
};
use tern_moq::message::Setup;
use tern_moq::{ControlReader, Limits, Message};
use tern_quic::{Client, ClientConfig, RecvStream, SendStream, Session, TransportLimits};

/// A session with SETUP sent; its control stream is kept open.
pub struct RawPeer {
    pub client: Client,
    pub session: Session,
    pub control: SendStream,
}

impl RawPeer {
    /// Connect to `url` (certificate not verified: a test relay) and send SETUP naming the
    /// implementation `name`.
    pub async fn connect(url: &str, name: &str) -> Self {
        Self::connect_with(url, name, TransportLimits::default()).await
    }

    /// [`RawPeer::connect`] with these transport limits (a small stream window: a reader that
    /// stalls the relay sooner).
    pub async fn connect_with(url: &str, name: &str, transport: TransportLimits) -> Self {
        let client = Client::new(ClientConfig {
            disable_verify: true,
            system_roots: false,
            transport,
            // This peer writes and reads draft-18's wire by hand.
            protocols: vec![tern_quic::MOQT_18.to_owned()],
            ..ClientConfig::default()
        })
        .expect("client");
        let session = client.connect(url).await.expect("connected");
        let mut control = session.open_uni().await.expect("control stream");
        let mut setup = Setup::default();
        setup.set_moqt_implementation(Bytes::copy_from_slice(name.as_bytes()));
        write(&mut control, setup).await;
        Self {
            client,
            session,
            control,
        }
    }

    /// Open a request stream and write `msg` on it.
    pub async fn request(&self, msg: impl Into<Message>) -> (SendStream, RecvStream) {
        let (mut send, recv) = self.session.open_bi().await.expect("request stream");
        write(&mut send, msg).await;
        (send, recv)
    }
}

/// Write one control message.
pub async fn write(send: &mut SendStream, msg: impl Into<Message>) {
    let mut buf = BytesMut::new();
    msg.into().encode(&mut buf).expect("encodes");
    send.write_chunk(buf.freeze()).await.expect("written");
}

/// The first message on a request stream, within 10 s.
pub async fn answer(recv: &mut RecvStream) -> Message {
    try_answer(recv, Duration::from_secs(10))
        .await
        .expect("answered within 10 s")
}

/// The first message on a request stream, if one comes within `limit` (`None`: none came, or
/// the stream ended or broke first).
pub async fn try_answer(recv: &mut RecvStream, limit: Duration) -> Option<Message> {
    let mut reader = ControlReader::new(Limits::default());
    tokio::time::timeout(limit, async {
        loop {
            if let Ok(Some(m)) = reader.pop() {
                break Some(m);
            }
            let chunk = recv.read_chunk(4096).await.ok()??;
            reader.push(&chunk).ok()?;
        }
    })
    .await
    .ok()?
}

/// A subgroup stream of `alias`'s group `group` (subgroup 0, objects from 0), carrying each of
/// `objects` and then finished, ending the group; with `hold`, left open after the objects
/// instead. An error (the relay stopping the stream) ends it quietly; returns the objects
/// written whole.
pub async fn group(
    session: &Session,
    alias: u64,
    group: u64,
    objects: impl IntoIterator<Item = Bytes>,
    hold: bool,
) -> u64 {
    let Ok(mut send) = session.open_uni().await else {
        return 0;
    };
    let header = SubgroupHeader {
        track_alias: alias,
        group_id: group,
        subgroup_id: SubgroupId::Zero,
        publisher_priority: Some(128),
        has_properties: false,
        end_of_group: !hold,
        first_object: true,
    };
    if send
        .write_chunk(encode_subgroup_header(&header))
        .await
        .is_err()
    {
        return 0;
    }
    let mut written = 0;
    let mut previous = None;
    for (id, payload) in objects.into_iter().enumerate() {
        let object = SubgroupObject {
            object_id: id as u64,
            payload_length: payload.len() as u64,
            ..SubgroupObject::default()
        };
        let head = encode_subgroup_object_header(&header, previous, &object).expect("header");
        previous = Some(id as u64);
        if send.write_chunk(head).await.is_err() || send.write_chunk(payload).await.is_err() {
            return written;
        }
        written += 1;
    }
    if hold {
        std::future::pending::<()>().await;
    }
    let _ = send.finish();
    written
}
