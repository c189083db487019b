//! Which session a datagram on the shared UDP port belongs to. Sans-IO.
//!
//! A session's first datagrams are the publisher's STUN binding requests, whose USERNAME is
//! `<our ufrag>:<its ufrag>` (RFC 8445 §7.2.2): the ufrag the session's answer gave routes them,
//! and the address they came from is remembered for the session's DTLS, RTP and RTCP.
//! Bounded: at most [`MAX_ADDRS`] addresses per session (a publisher's candidates), dropped
//! with the session.

use std::collections::HashMap;
use std::net::SocketAddr;

/// Remote addresses remembered per session.
pub const MAX_ADDRS: usize = 8;

#[derive(Debug)]
struct Entry<T> {
    to: T,
    addrs: Vec<SocketAddr>,
}

/// The routes of one UDP port.
#[derive(Debug)]
pub struct Routes<T> {
    by_ufrag: HashMap<String, Entry<T>>,
    by_addr: HashMap<SocketAddr, String>,
}

impl<T> Default for Routes<T> {
    fn default() -> Self {
        Self {
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
        }
    }
}

impl<T> Routes<T> {
    /// Route STUN for `ufrag` (a session's local ICE ufrag) to `to`.
    pub fn insert(&mut self, ufrag: &str, to: T) {
        self.by_ufrag.insert(
            ufrag.to_owned(),
            Entry {
                to,
                addrs: Vec::new(),
            },
        );
    }

    /// Forget the session of `ufrag` and its addresses.
    pub fn remove(&mut self, ufrag: &str) {
        if let Some(e) = self.by_ufrag.remove(ufrag) {
            for a in e.addrs {
                self.by_addr.remove(&a);
            }
        }
    }

    /// The session of `ufrag`.
    pub fn get(&self, ufrag: &str) -> Option<&T> {
        self.by_ufrag.get(ufrag).map(|e| &e.to)
    }

    /// Where `datagram` from `source` goes, if anywhere.
    pub fn find(&mut self, source: SocketAddr, datagram: &[u8]) -> Option<&T> {
        if let Some(ufrag) = self.by_addr.get(&source) {
            return self.by_ufrag.get(ufrag).map(|e| &e.to);
        }
        let ufrag = stun_recipient(datagram)?;
        let entry = self.by_ufrag.get_mut(ufrag)?;
        if entry.addrs.len() < MAX_ADDRS {
            entry.addrs.push(source);
            self.by_addr.insert(source, ufrag.to_owned());
        }
        Some(&entry.to)
    }
}

/// The recipient's ufrag of a STUN message's USERNAME (`recipient:sender`), if `datagram` is
/// a STUN message with one (RFC 5389 §15.3; RFC 7983 demultiplexing: first byte 0 or 1).
pub fn stun_recipient(datagram: &[u8]) -> Option<&str> {
    const HEADER: usize = 20;
    const USERNAME: u16 = 0x0006;
    const MAGIC: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
    if datagram.len() < HEADER || datagram[0] > 1 || datagram[4..8] != MAGIC {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    let mut attrs = datagram.get(HEADER..HEADER + len)?;
    while attrs.len() >= 4 {
        let kind = u16::from_be_bytes([attrs[0], attrs[1]]);
        let n = usize::from(u16::from_be_bytes([attrs[2], attrs[3]]));
        let value = attrs.get(4..4 + n)?;
        if kind == USERNAME {
            let name = std::str::from_utf8(value).ok()?;
            return name.split(':').next().filter(|u| !u.is_empty());
        }
        // Attributes are padded to 4 bytes.
        let padded = 4 + n.div_ceil(4) * 4;
        attrs = attrs.get(padded..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(username: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        // A PRIORITY attribute first, then USERNAME, padded.
        attrs.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 1, 2, 3, 4]);
        attrs.extend_from_slice(&0x0006u16.to_be_bytes());
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&attrs);
        m
    }

    #[test]
    fn stun_routes_by_ufrag_then_by_address() {
        let mut r = Routes::default();
        r.insert("abcd", 1);
        r.insert("wxyz", 2);
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        assert_eq!(
            r.find(a, &[0x80, 0, 0, 0]),
            None,
            "RTP before STUN goes nowhere"
        );
        assert_eq!(r.find(a, &binding("wxyz:peer")), Some(&2));
        assert_eq!(r.find(a, &[0x80, 0x60, 0, 0]), Some(&2), "then by address");
        assert_eq!(r.find(b, &binding("nope:peer")), None);
        assert_eq!(r.find(b, &binding("abcd:peer")), Some(&1));
        r.remove("wxyz");
        assert_eq!(r.find(a, &[0x80, 0x60, 0, 0]), None);
        assert_eq!(r.by_ufrag.len(), 1);
    }

    #[test]
    fn addresses_per_session_are_bounded() {
        let mut r = Routes::default();
        r.insert("abcd", 1);
        for port in 0..100u16 {
            let a = SocketAddr::from(([127, 0, 0, 1], 6000 + port));
            assert_eq!(r.find(a, &binding("abcd:x")), Some(&1));
        }
        assert_eq!(r.by_addr.len(), MAX_ADDRS);
    }

    #[test]
    fn malformed_stun_is_no_route() {
        let good = binding("abcd:x");
        assert_eq!(stun_recipient(&good), Some("abcd"));
        for cut in 0..good.len() {
            let _ = stun_recipient(&good[..cut]);
        }
        let mut bad_len = good.clone();
        bad_len[3] = 0xff;
        assert_eq!(stun_recipient(&bad_len), None);
        let mut no_magic = good.clone();
        no_magic[4] = 0;
        assert_eq!(stun_recipient(&no_magic), None);
        assert_eq!(stun_recipient(&binding(":x")), None);
    }
}
