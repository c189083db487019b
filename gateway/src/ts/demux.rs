//! The demuxer: packets in, the program's streams and PES packets out.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

use super::packet::{NULL_PID, PACKET_SIZE, PAT_PID, Packet, PacketError, SYNC_BYTE};
use super::pes::parse_header;
use super::psi::{SectionBuffer, parse_pat, parse_pmt};
use super::unwrap::Unwrapper;
use crate::Error;

/// Bounds on what one input may make the demuxer hold or wait for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest PES packet reassembled (one coded frame, or several audio frames).
    pub max_pes: usize,
    /// Packets read before a missing PAT or PMT is an error.
    pub psi_within: u64,
}

impl Default for Limits {
    /// 8 MiB PES packets; the PAT and PMT within 4,000 packets (752 kB).
    fn default() -> Self {
        Self {
            max_pes: 8 << 20,
            psi_within: 4000,
        }
    }
}

/// An elementary stream of the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    /// Its PID.
    pub pid: u16,
    /// The PMT's stream_type.
    pub stream_type: u8,
}

/// One reassembled PES packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pes {
    /// The stream's PID.
    pub pid: u16,
    /// The stream's type.
    pub stream_type: u8,
    /// Presentation time, 90 kHz, unwrapped (continuous past 2^33).
    pub pts: Option<u64>,
    /// Decode time, 90 kHz, unwrapped; `None` when equal to the PTS.
    pub dts: Option<u64>,
    /// The first packet carried the random_access_indicator.
    pub random_access: bool,
    /// The decode time (else the presentation time) of the stream's next PES packet, 90 kHz
    /// unwrapped, when this one was ended by the next one's start and that start's header
    /// came whole in its first packet: the frame's duration is known without waiting for the
    /// next frame's end.
    pub next_dts: Option<u64>,
    /// The elementary stream bytes (header removed).
    pub data: Bytes,
}

/// What the demuxer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The program's elementary streams, in PMT order (once, from the first PMT).
    Program(Vec<Stream>),
    /// A whole PES packet.
    Pes(Pes),
    /// Packets were lost or repeated out of order on `pid`: the PES packet being reassembled
    /// was dropped.
    ContinuityError {
        /// The PID.
        pid: u16,
        /// The continuity counter expected.
        expected: u8,
        /// The one found.
        found: u8,
    },
    /// A packet marked damaged (transport_error_indicator) was dropped with the PES packet
    /// it belonged to.
    Damaged {
        /// The PID.
        pid: u16,
    },
    /// Bytes lost in transit broke the packet alignment: `skipped` bytes were passed over to
    /// the next packet (see [`Demuxer::push`]).
    Resync {
        /// Bytes passed over.
        skipped: usize,
    },
}

#[derive(Debug, Default)]
struct PidState {
    /// The last continuity counter, and whether the last packet was a repeat of the one
    /// before (a second repeat is an error).
    continuity: Option<u8>,
    repeated: bool,
    /// The PES packet being reassembled and whether it started at a random access point.
    pes: Option<(Vec<u8>, bool)>,
}

/// The streaming demuxer.
#[derive(Debug, Default)]
pub struct Demuxer {
    limits: Limits,
    /// A partial packet carried to the next push.
    partial: Vec<u8>,
    offset: u64,
    packets: u64,
    pat: SectionBuffer,
    pmt_pid: Option<u16>,
    pmt: SectionBuffer,
    streams: Vec<Stream>,
    pids: HashMap<u16, PidState>,
    clock: Unwrapper,
    out: VecDeque<Event>,
}

impl Demuxer {
    /// A demuxer with these bounds.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Feed bytes (any split). An error ends the input: it is not a stream tern can read.
    ///
    /// Once the input has shown itself to be MPEG-TS (its PAT was read), bytes lost in transit
    /// (an SRT message dropped too late, a UDP datagram) cost only the packets they hit: the
    /// demuxer finds the next sync byte that a second one follows a packet later and goes on
    /// ([`Event::Resync`]; the continuity counters then drop the PES packets that lost bytes).
    /// Before that, a byte other than the sync byte where a packet begins is an error: the
    /// input is not MPEG-TS.
    pub fn push(&mut self, mut data: &[u8]) -> Result<(), Error> {
        if !self.partial.is_empty() {
            let need = PACKET_SIZE - self.partial.len();
            let take = need.min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            if self.partial.len() < PACKET_SIZE {
                return Ok(());
            }
            // A lost stretch ends inside the packet begun last time if the next packet does not
            // start right after it.
            let next_ok = data.len() <= take || data[take] == SYNC_BYTE;
            if next_ok || !self.resyncable() {
                data = &data[take..];
                let mut packet = [0u8; PACKET_SIZE];
                packet.copy_from_slice(&self.partial);
                self.partial.clear();
                self.on_packet(&packet)?;
            } else {
                // Drop the partial packet and look for sync in what arrived.
                let dropped = self.partial.len() - take;
                self.partial.clear();
                self.skip(dropped);
            }
        }
        let mut pos = 0;
        while data.len() - pos >= PACKET_SIZE {
            if data[pos] != SYNC_BYTE {
                let skipped = self.resync(&data[pos..])?;
                pos += skipped;
                continue;
            }
            let packet: &[u8; PACKET_SIZE] = data[pos..pos + PACKET_SIZE]
                .try_into()
                .expect("a packet's length");
            self.on_packet(packet)?;
            pos += PACKET_SIZE;
        }
        let mut rest = &data[pos..];
        // A packet's first byte is known before the rest of it: refuse what is not TS at once.
        if let Some(&found) = rest.first()
            && found != SYNC_BYTE
        {
            if !self.resyncable() {
                return Err(Error::LostSync {
                    offset: self.offset,
                    found,
                });
            }
            let skip = rest
                .iter()
                .position(|&b| b == SYNC_BYTE)
                .unwrap_or(rest.len());
            self.skip(skip);
            rest = &rest[skip..];
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    /// Whether lost sync is recovered from: the input was MPEG-TS.
    fn resyncable(&self) -> bool {
        self.pmt_pid.is_some()
    }

    /// `data` does not begin with a packet: skip to the first sync byte that a second one
    /// follows a packet later (or that ends `data` too soon to tell). Returns the bytes skipped;
    /// an error when the input never was MPEG-TS.
    fn resync(&mut self, data: &[u8]) -> Result<usize, Error> {
        if !self.resyncable() {
            return Err(Error::LostSync {
                offset: self.offset,
                found: data[0],
            });
        }
        let at = (1..data.len())
            .find(|&i| {
                data[i] == SYNC_BYTE
                    && data
                        .get(i + PACKET_SIZE)
                        .is_none_or(|&next| next == SYNC_BYTE)
            })
            .unwrap_or(data.len());
        self.skip(at);
        Ok(at)
    }

    fn skip(&mut self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        self.offset += bytes as u64;
        match self.out.back_mut() {
            Some(Event::Resync { skipped }) => *skipped += bytes,
            _ => self.out.push_back(Event::Resync { skipped: bytes }),
        }
    }

    /// The input ended: PES packets still open are complete now.
    pub fn finish(&mut self) -> Result<(), Error> {
        if self.pmt_pid.is_none() {
            return Err(if self.packets == 0 {
                Error::Truncated("a single MPEG-TS packet")
            } else {
                Error::NoPat {
                    packets: self.packets,
                }
            });
        }
        if self.streams.is_empty() {
            return Err(Error::NoPmt {
                pid: self.pmt_pid.unwrap_or_default(),
                packets: self.packets,
            });
        }
        for s in self.streams.clone() {
            if let Some((data, ra)) = self.pids.get_mut(&s.pid).and_then(|p| p.pes.take()) {
                self.emit_pes(s, data, ra, None)?;
            }
        }
        Ok(())
    }

    /// The next event.
    pub fn poll(&mut self) -> Option<Event> {
        self.out.pop_front()
    }

    fn on_packet(&mut self, bytes: &[u8; PACKET_SIZE]) -> Result<(), Error> {
        let offset = self.offset;
        self.offset += PACKET_SIZE as u64;
        self.packets += 1;
        let packet = match Packet::parse(bytes) {
            Ok(p) => p,
            Err(PacketError::Sync(found)) => return Err(Error::LostSync { offset, found }),
            Err(PacketError::AdaptationLength(len)) => {
                return Err(Error::BadPes {
                    pid: u16::from(bytes[1] & 0x1f) << 8 | u16::from(bytes[2]),
                    reason: format!("adaptation_field_length {len} beyond the packet"),
                });
            }
        };
        if self.pmt_pid.is_none() && self.packets > self.limits.psi_within {
            return Err(Error::NoPat {
                packets: self.packets,
            });
        }
        if let Some(pid) = self.pmt_pid
            && self.streams.is_empty()
            && self.packets > self.limits.psi_within
        {
            return Err(Error::NoPmt {
                pid,
                packets: self.packets,
            });
        }
        if packet.pid == NULL_PID {
            return Ok(());
        }
        let known = packet.pid == PAT_PID
            || Some(packet.pid) == self.pmt_pid
            || self.streams.iter().any(|s| s.pid == packet.pid);
        if !known {
            return Ok(());
        }
        if packet.transport_error {
            self.lose(packet.pid);
            self.out.push_back(Event::Damaged { pid: packet.pid });
            return Ok(());
        }
        if !self.check_continuity(&packet) {
            return Ok(());
        }
        if !packet.has_payload {
            return Ok(());
        }
        if packet.pid == PAT_PID {
            self.on_pat(&packet)
        } else if Some(packet.pid) == self.pmt_pid {
            self.on_pmt(&packet)
        } else {
            self.on_es(&packet)
        }
    }

    /// Whether the packet is to be read: a repeated packet is skipped; a gap is reported and
    /// drops what was being reassembled on that PID.
    fn check_continuity(&mut self, packet: &Packet<'_>) -> bool {
        let state = self.pids.entry(packet.pid).or_default();
        let previous = state.continuity;
        if !packet.has_payload {
            return true;
        }
        state.continuity = Some(packet.continuity);
        let Some(last) = previous else {
            return true;
        };
        if packet.discontinuity {
            state.repeated = false;
            return true;
        }
        let expected = (last + 1) & 0x0f;
        if packet.continuity == expected {
            state.repeated = false;
            return true;
        }
        if packet.continuity == last && !state.repeated {
            state.repeated = true;
            return false;
        }
        state.repeated = false;
        let pid = packet.pid;
        self.lose(pid);
        self.out.push_back(Event::ContinuityError {
            pid,
            expected,
            found: packet.continuity,
        });
        // The packet itself may start a new unit; it is read.
        true
    }

    fn lose(&mut self, pid: u16) {
        if let Some(state) = self.pids.get_mut(&pid) {
            state.pes = None;
        }
        if pid == PAT_PID {
            self.pat.reset();
        } else if Some(pid) == self.pmt_pid {
            self.pmt.reset();
        }
    }

    fn on_pat(&mut self, packet: &Packet<'_>) -> Result<(), Error> {
        let bad = |reason| Error::BadSection {
            table: "PAT",
            reason,
        };
        let Some(section) = self
            .pat
            .push(packet.unit_start, packet.payload)
            .map_err(bad)?
        else {
            return Ok(());
        };
        if self.pmt_pid.is_some() {
            return Ok(());
        }
        let programs = parse_pat(&section).map_err(bad)?;
        let first = programs
            .first()
            .ok_or_else(|| bad("no program listed".into()))?;
        self.pmt_pid = Some(first.pmt_pid);
        Ok(())
    }

    fn on_pmt(&mut self, packet: &Packet<'_>) -> Result<(), Error> {
        let bad = |reason| Error::BadSection {
            table: "PMT",
            reason,
        };
        let Some(section) = self
            .pmt
            .push(packet.unit_start, packet.payload)
            .map_err(bad)?
        else {
            return Ok(());
        };
        if !self.streams.is_empty() {
            return Ok(());
        }
        let pmt = parse_pmt(&section).map_err(bad)?;
        let mut streams: Vec<Stream> = Vec::new();
        for es in pmt.streams {
            if es.pid == PAT_PID || Some(es.pid) == self.pmt_pid || es.pid == NULL_PID {
                return Err(bad(format!("stream on reserved PID {}", es.pid)));
            }
            if streams.iter().any(|s| s.pid == es.pid) {
                return Err(bad(format!("two streams on PID {}", es.pid)));
            }
            streams.push(Stream {
                pid: es.pid,
                stream_type: es.stream_type,
            });
        }
        if streams.is_empty() {
            return Err(bad("the program has no elementary streams".into()));
        }
        self.streams = streams.clone();
        self.out.push_back(Event::Program(streams));
        Ok(())
    }

    fn on_es(&mut self, packet: &Packet<'_>) -> Result<(), Error> {
        let pid = packet.pid;
        let stream = *self
            .streams
            .iter()
            .find(|s| s.pid == pid)
            .expect("known PID");
        let max = self.limits.max_pes;
        let state = self.pids.entry(pid).or_default();
        if packet.unit_start {
            if let Some((data, ra)) = state.pes.take() {
                // The next PES packet's header, when its first packet holds it whole.
                let next = parse_header(packet.payload)
                    .ok()
                    .and_then(|h| h.dts.or(h.pts));
                self.emit_pes(stream, data, ra, next)?;
            }
            let state = self.pids.entry(pid).or_default();
            state.pes = Some((
                Vec::with_capacity(packet.payload.len() * 8),
                packet.random_access,
            ));
        }
        let state = self.pids.entry(pid).or_default();
        // Payload before the first unit start (joining mid-stream) is skipped.
        let Some((data, _)) = state.pes.as_mut() else {
            return Ok(());
        };
        if data.len() + packet.payload.len() > max {
            state.pes = None;
            return Err(Error::TooLarge {
                what: "PES packet",
                pid,
                max,
            });
        }
        data.extend_from_slice(packet.payload);
        // A PES packet with a declared length is complete as soon as it is all in.
        if data.len() >= 6 {
            let declared = usize::from(u16::from_be_bytes([data[4], data[5]]));
            if declared > 0 && data.len() >= 6 + declared {
                let (mut data, ra) = state.pes.take().expect("open PES");
                data.truncate(6 + declared);
                self.emit_pes(stream, data, ra, None)?;
            }
        }
        Ok(())
    }

    fn emit_pes(
        &mut self,
        stream: Stream,
        data: Vec<u8>,
        random_access: bool,
        next: Option<u64>,
    ) -> Result<(), Error> {
        let header = parse_header(&data).map_err(|reason| Error::BadPes {
            pid: stream.pid,
            reason,
        })?;
        let dts = header.dts.map(|t| self.clock.extend(t));
        let pts = header.pts.map(|t| self.clock.extend(t));
        let next_dts = next.map(|t| self.clock.extend(t));
        let data = Bytes::from(data).slice(header.header_len..);
        self.out.push_back(Event::Pes(Pes {
            pid: stream.pid,
            stream_type: stream.stream_type,
            pts,
            dts,
            random_access,
            next_dts,
            data,
        }));
        Ok(())
    }
}
