//! The bytes of a rendition's parts, by Media Sequence Number and Part Index: what the
//! segmenter keeps for the segments of its window, at most a byte budget of them (the oldest
//! leave first). Each part also keeps which objects of which group it holds ([`Span`]): the
//! same objects of another variant of the track make that variant's part.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// The objects a part or a segment holds: `count` consecutive objects of `group` from
/// `first`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// The group.
    pub group: u64,
    /// Its first object.
    pub first: u64,
    /// How many objects.
    pub count: u64,
}

/// The bytes of one segment's parts, and their spans.
#[derive(Debug)]
struct Stored {
    msn: u64,
    parts: Vec<Bytes>,
    spans: Vec<Span>,
}

/// The parts' bytes, oldest segment first.
#[derive(Debug)]
pub struct Store {
    segments: VecDeque<Stored>,
    bytes: usize,
    max_bytes: usize,
}

impl Store {
    /// An empty store keeping at most `max_bytes` (and always the newest segment's parts).
    pub fn new(max_bytes: usize) -> Self {
        Self {
            segments: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Keeps part `index` of segment `msn`, its `chunks` (the objects of `span`)
    /// concatenated. Parts come in order: one that does not follow the last kept is not kept.
    pub fn push(&mut self, msn: u64, index: u32, span: Span, chunks: &[Bytes]) {
        if self.segments.back().is_none_or(|s| s.msn != msn) {
            self.segments.push_back(Stored {
                msn,
                parts: Vec::new(),
                spans: Vec::new(),
            });
        }
        let Some(stored) = self.segments.back_mut() else {
            return;
        };
        if stored.parts.len() != index as usize {
            return;
        }
        let mut bytes = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
        for chunk in chunks {
            bytes.extend_from_slice(chunk);
        }
        self.bytes += bytes.len();
        stored.parts.push(bytes.freeze());
        stored.spans.push(span);
    }

    /// The objects of part `index` of segment `msn`, if kept.
    pub fn part_span(&self, msn: u64, index: u32) -> Option<Span> {
        let stored = self.stored(msn)?;
        stored.spans.get(usize::try_from(index).ok()?).copied()
    }

    /// The objects of segment `msn`'s parts so far, if kept (a segment is consecutive objects
    /// of one group).
    pub fn segment_span(&self, msn: u64) -> Option<Span> {
        let stored = self.stored(msn)?;
        let first = stored.spans.first()?;
        Some(Span {
            count: stored.spans.iter().map(|s| s.count).sum(),
            ..*first
        })
    }

    /// The oldest group kept.
    pub fn oldest_group(&self) -> Option<u64> {
        self.segments
            .iter()
            .find_map(|s| s.spans.first())
            .map(|s| s.group)
    }

    /// Part `index` of segment `msn`, if kept.
    pub fn part(&self, msn: u64, index: u32) -> Option<Bytes> {
        let stored = self.stored(msn)?;
        stored.parts.get(usize::try_from(index).ok()?).cloned()
    }

    /// Segment `msn`'s parts, concatenated, if kept.
    pub fn segment(&self, msn: u64) -> Option<Bytes> {
        let stored = self.stored(msn).filter(|s| !s.parts.is_empty())?;
        let mut out = BytesMut::with_capacity(stored.parts.iter().map(Bytes::len).sum());
        for part in &stored.parts {
            out.extend_from_slice(part);
        }
        Some(out.freeze())
    }

    /// Drops the segments before `first` (they left the window), and the oldest while over
    /// the byte budget.
    pub fn trim(&mut self, first: u64) {
        while let Some(front) = self.segments.front() {
            let over = self.bytes > self.max_bytes && self.segments.len() > 1;
            if front.msn >= first && !over {
                break;
            }
            self.bytes -= front.parts.iter().map(Bytes::len).sum::<usize>();
            self.segments.pop_front();
        }
    }

    fn stored(&self, msn: u64) -> Option<&Stored> {
        let first = self.segments.front()?.msn;
        let stored = self
            .segments
            .get(usize::try_from(msn.checked_sub(first)?).ok()?)?;
        (stored.msn == msn).then_some(stored)
    }
}
