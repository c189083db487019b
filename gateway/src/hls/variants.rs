//! The other watermark variants of a marked rendition (B, …), kept as objects by group: the
//! segmenter cuts variant A into segments and parts, and a viewer whose variant of a group is
//! another gets the same objects ([`Span`]) of that variant, byte for byte what a MoQ viewer
//! gets of that group. Sans-IO: the feed hands in the variants' objects in order.
//!
//! The origin makes the variants with identical timestamps and GOPs, so their objects line up
//! with A's one to one; a variant's group is kept until A's oldest kept group passes it, and
//! the oldest leave first beyond a byte budget.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::store::Span;

/// One group of one variant: its objects from object 0, in order.
#[derive(Debug)]
struct Group {
    variant: u32,
    group: u64,
    objects: Vec<Bytes>,
}

/// The objects of the variants other than A. See the [module](self) documentation.
#[derive(Debug)]
pub struct Variants {
    groups: VecDeque<Group>,
    bytes: usize,
    max_bytes: usize,
}

impl Variants {
    /// Nothing kept yet; at most `max_bytes` of objects.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            groups: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Object `object` of `group` of variant `variant` arrived. Objects of a group come in
    /// order from 0: one that does not follow the last kept is not kept (the group's later
    /// objects cannot be served in this variant).
    pub fn handle_object(&mut self, variant: u32, group: u64, object: u64, payload: Bytes) {
        let at = self
            .groups
            .iter()
            .rposition(|g| g.variant == variant && g.group == group);
        let entry = match at {
            Some(at) => &mut self.groups[at],
            None if object == 0 => {
                self.groups.push_back(Group {
                    variant,
                    group,
                    objects: Vec::new(),
                });
                let Some(back) = self.groups.back_mut() else {
                    return;
                };
                back
            }
            None => return,
        };
        if entry.objects.len() as u64 != object {
            return;
        }
        self.bytes += payload.len();
        entry.objects.push(payload);
        self.trim_bytes();
    }

    /// The objects of `span` in variant `variant`, concatenated; `None` while one is missing.
    pub fn bytes(&self, variant: u32, span: Span) -> Option<Bytes> {
        let group = self
            .groups
            .iter()
            .rev()
            .find(|g| g.variant == variant && g.group == span.group)?;
        let first = usize::try_from(span.first).ok()?;
        let end = first.checked_add(usize::try_from(span.count).ok()?)?;
        let objects = group.objects.get(first..end)?;
        let mut out = BytesMut::with_capacity(objects.iter().map(Bytes::len).sum());
        for object in objects {
            out.extend_from_slice(object);
        }
        Some(out.freeze())
    }

    /// Forgets the groups before `oldest` (variant A no longer keeps them).
    pub fn trim(&mut self, oldest: u64) {
        let before = self.groups.len();
        self.groups.retain(|g| g.group >= oldest);
        if self.groups.len() != before {
            self.bytes = self.count_bytes();
        }
    }

    fn trim_bytes(&mut self) {
        while self.bytes > self.max_bytes && self.groups.len() > 1 {
            if let Some(g) = self.groups.pop_front() {
                self.bytes -= g.objects.iter().map(Bytes::len).sum::<usize>();
            }
        }
    }

    fn count_bytes(&self) -> usize {
        self.groups
            .iter()
            .flat_map(|g| &g.objects)
            .map(Bytes::len)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(group: u64, first: u64, count: u64) -> Span {
        Span {
            group,
            first,
            count,
        }
    }

    #[test]
    fn a_span_of_a_variant_is_its_objects_concatenated() {
        let mut v = Variants::new(1 << 20);
        for o in 0..3 {
            v.handle_object(1, 2000, o, Bytes::from(format!("B{o}")));
        }
        assert_eq!(v.bytes(1, span(2000, 1, 2)).as_deref(), Some(&b"B1B2"[..]));
        // A missing object, another variant, another group: not there.
        assert_eq!(v.bytes(1, span(2000, 2, 2)), None);
        assert_eq!(v.bytes(2, span(2000, 0, 1)), None);
        assert_eq!(v.bytes(1, span(3000, 0, 1)), None);
        // A gap leaves the rest of its group out; a group joined late is not kept.
        v.handle_object(1, 2000, 4, Bytes::from_static(b"B4"));
        assert_eq!(v.bytes(1, span(2000, 4, 1)), None);
        v.handle_object(1, 3000, 1, Bytes::from_static(b"late"));
        assert_eq!(v.bytes(1, span(3000, 1, 1)), None);
        // Groups A no longer keeps leave.
        v.handle_object(1, 3000, 0, Bytes::from_static(b"C0"));
        v.trim(3000);
        assert_eq!(v.bytes(1, span(2000, 0, 1)), None);
        assert_eq!(v.bytes(1, span(3000, 0, 1)).as_deref(), Some(&b"C0"[..]));
    }

    #[test]
    fn the_oldest_groups_leave_beyond_the_budget() {
        let mut v = Variants::new(10);
        v.handle_object(1, 1, 0, Bytes::from(vec![0; 8]));
        v.handle_object(1, 2, 0, Bytes::from(vec![0; 8]));
        assert_eq!(v.bytes(1, span(1, 0, 1)), None);
        assert!(v.bytes(1, span(2, 0, 1)).is_some());
    }
}
