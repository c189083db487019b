//! SRT packets as a caller (or a hostile peer) sends them, built with srt-protocol's own types:
//! shared by the hostile-packet tests and the fuzz corpus seeds.

#![allow(dead_code)]

use std::net::IpAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use srt_protocol::options::{KeySize, PacketCount, PacketSize, Passphrase, SrtVersion};
use srt_protocol::packet::{
    ControlPacket, ControlTypes, DataEncryption, DataPacket, HandshakeControlInfo, HandshakeVsInfo,
    HsV5Info, KeyingMaterialMessage, MsgNumber, Packet, PacketLocation, SeqNumber, ShakeType,
    SocketId, SrtControlPacket, SrtHandshake, SrtShakeFlags, TimeStamp,
};
use srt_protocol::settings::{CipherSettings, KeyMaterialRefreshSettings, KeySettings};

/// The bytes of `packet` on the wire.
pub fn bytes_of(packet: &Packet) -> BytesMut {
    let mut b = BytesMut::new();
    packet.serialize(&mut b);
    b
}

/// A handshake packet from socket `id`.
pub fn handshake(shake_type: ShakeType, id: SocketId, cookie: i32, info: HsV5Info) -> Packet {
    Packet::Control(ControlPacket {
        timestamp: TimeStamp::from_micros(0),
        dest_sockid: SocketId(0),
        control_type: ControlTypes::Handshake(HandshakeControlInfo {
            init_seq_num: SeqNumber::new_truncate(1234),
            max_packet_size: PacketSize(1500),
            max_flow_size: PacketCount(8192),
            shake_type,
            socket_id: id,
            syn_cookie: cookie,
            peer_addr: IpAddr::from([127, 0, 0, 1]),
            info: HandshakeVsInfo::V5(info),
        }),
    })
}

/// A caller's conclusion extensions: HSREQ and the stream ID.
pub fn hsv5(sid: &str) -> HsV5Info {
    HsV5Info {
        ext_hs: Some(SrtControlPacket::HandshakeRequest(SrtHandshake {
            version: SrtVersion::CURRENT,
            flags: SrtShakeFlags::SUPPORTED,
            send_latency: Duration::from_millis(120),
            recv_latency: Duration::from_millis(120),
        })),
        sid: Some(sid.to_owned()),
        ..Default::default()
    }
}

/// Key material a caller with `passphrase` and `size` sends.
pub fn key_material(size: KeySize, passphrase: &str) -> KeyingMaterialMessage {
    let settings = KeySettings {
        key_size: size,
        passphrase: Passphrase::from(passphrase),
    };
    CipherSettings::new_random(&settings, &KeyMaterialRefreshSettings::default())
        .wrap_keying_material()
        .expect("key material")
}

/// A raw handshake extension: type, length in 32-bit words, then the words.
pub fn extension(kind: u16, words: &[u8]) -> Vec<u8> {
    assert_eq!(words.len() % 4, 0);
    let mut v = kind.to_be_bytes().to_vec();
    v.extend_from_slice(&((words.len() / 4) as u16).to_be_bytes());
    v.extend_from_slice(words);
    v
}

/// A control packet to socket `to`.
pub fn control(to: SocketId, control_type: ControlTypes) -> Packet {
    Packet::Control(ControlPacket {
        timestamp: TimeStamp::from_micros(1000),
        dest_sockid: to,
        control_type,
    })
}

/// A data packet (one whole message) to socket `to`.
pub fn data(to: SocketId, seq: u32, payload: &'static [u8]) -> Packet {
    Packet::Data(DataPacket {
        seq_number: SeqNumber::new_truncate(seq),
        message_loc: PacketLocation::ONLY,
        in_order_delivery: false,
        encryption: DataEncryption::None,
        retransmitted: false,
        message_number: MsgNumber::new_truncate(1),
        timestamp: TimeStamp::from_micros(2000),
        dest_sockid: to,
        payload: Bytes::from_static(payload),
    })
}
