//! The 188-byte transport packet.

/// Bytes in one transport packet.
pub const PACKET_SIZE: usize = 188;
/// The first byte of every packet.
pub const SYNC_BYTE: u8 = 0x47;
/// The PID of the program association table.
pub const PAT_PID: u16 = 0;
/// The PID of null (stuffing) packets.
pub const NULL_PID: u16 = 0x1fff;

/// One transport packet's header and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Packet identifier.
    pub pid: u16,
    /// payload_unit_start_indicator: a PES packet or a PSI section starts in this payload.
    pub unit_start: bool,
    /// transport_error_indicator: the packet is known to be damaged.
    pub transport_error: bool,
    /// continuity_counter (4 bits), incremented per packet with a payload.
    pub continuity: u8,
    /// The adaptation field's discontinuity_indicator: the counter (and the time base) may
    /// jump here.
    pub discontinuity: bool,
    /// The adaptation field's random_access_indicator.
    pub random_access: bool,
    /// Whether the packet carries a payload (adaptation_field_control bit 0).
    pub has_payload: bool,
    /// The payload (empty when there is none).
    pub payload: &'a [u8],
}

/// Why a packet could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketError {
    /// The first byte is not 0x47.
    Sync(u8),
    /// The adaptation field claims more bytes than the packet holds.
    AdaptationLength(u8),
}

impl<'a> Packet<'a> {
    /// Read one 188-byte packet.
    pub fn parse(b: &'a [u8; PACKET_SIZE]) -> Result<Self, PacketError> {
        if b[0] != SYNC_BYTE {
            return Err(PacketError::Sync(b[0]));
        }
        let pid = u16::from(b[1] & 0x1f) << 8 | u16::from(b[2]);
        let control = (b[3] >> 4) & 0x3;
        let mut packet = Packet {
            pid,
            unit_start: b[1] & 0x40 != 0,
            transport_error: b[1] & 0x80 != 0,
            continuity: b[3] & 0x0f,
            discontinuity: false,
            random_access: false,
            has_payload: control & 0x1 != 0,
            payload: &[],
        };
        let mut at = 4;
        if control & 0x2 != 0 {
            let len = b[4];
            // 183 bytes at most: with a payload, at least one byte must remain for it.
            let max = if packet.has_payload { 182 } else { 183 };
            if usize::from(len) > max {
                return Err(PacketError::AdaptationLength(len));
            }
            if len > 0 {
                packet.discontinuity = b[5] & 0x80 != 0;
                packet.random_access = b[5] & 0x40 != 0;
            }
            at = 5 + usize::from(len);
        }
        if packet.has_payload {
            packet.payload = &b[at..];
        }
        Ok(packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(head: &[u8]) -> [u8; PACKET_SIZE] {
        let mut b = [0xffu8; PACKET_SIZE];
        b[..head.len()].copy_from_slice(head);
        b
    }

    #[test]
    fn reads_header_and_adaptation_field() {
        let b = packet(&[0x47, 0x41, 0x00, 0x35, 0x07, 0xc0]);
        let p = Packet::parse(&b).expect("packet");
        assert_eq!(p.pid, 0x100);
        assert!(p.unit_start && !p.transport_error);
        assert_eq!(p.continuity, 5);
        assert!(p.discontinuity && p.random_access && p.has_payload);
        assert_eq!(p.payload.len(), 188 - 4 - 1 - 7);
    }

    #[test]
    fn refuses_bad_sync_and_oversized_adaptation() {
        assert_eq!(
            Packet::parse(&packet(&[0x48])),
            Err(PacketError::Sync(0x48))
        );
        let b = packet(&[0x47, 0x01, 0x00, 0x30, 183]);
        assert_eq!(Packet::parse(&b), Err(PacketError::AdaptationLength(183)));
        let b = packet(&[0x47, 0x01, 0x00, 0x20, 183]);
        let p = Packet::parse(&b).expect("adaptation only");
        assert!(!p.has_payload && p.payload.is_empty());
    }
}
