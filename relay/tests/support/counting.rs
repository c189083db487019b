//! A counting global allocator for tests that assert on allocation: bytes allocated in total,
//! bytes live now, the peak of live bytes, and the largest single request. Include it with
//! `#[path = "support/counting.rs"] mod counting;` and install it with `#[global_allocator]`.
//!
//! Threads can be tagged ([`tag_thread`], e.g. every worker of the relay's own runtime): the
//! bytes allocated on tagged threads are also counted apart ([`Snapshot::tagged`]), which
//! separates what the relay allocates from what the test's clients do in the same process.

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The system allocator, counted.
pub struct Counting;

static TOTAL: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);
static TAGGED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static TAG: Cell<bool> = const { Cell::new(false) };
}

/// Count what this thread allocates in [`Snapshot::tagged`] too.
pub fn tag_thread() {
    TAG.with(|t| t.set(true));
}

fn on_alloc(size: usize) {
    TOTAL.fetch_add(size, Relaxed);
    // `try_with`: a thread being torn down has no thread-locals left.
    if TAG.try_with(Cell::get).unwrap_or(false) {
        TAGGED.fetch_add(size, Relaxed);
    }
    let live = LIVE.fetch_add(size, Relaxed) + size;
    PEAK.fetch_max(live, Relaxed);
    LARGEST.fetch_max(size, Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            on_alloc(new_size - layout.size());
            LARGEST.fetch_max(new_size, Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    /// Bytes allocated since the process started (never decreases).
    pub total: usize,
    /// Bytes live now.
    pub live: usize,
    /// Bytes allocated on tagged threads since the process started (never decreases).
    pub tagged: usize,
}

/// Read the counters now.
pub fn snapshot() -> Snapshot {
    Snapshot {
        total: TOTAL.load(Relaxed),
        live: LIVE.load(Relaxed),
        tagged: TAGGED.load(Relaxed),
    }
}

/// Start a measurement window: the peak and the largest request restart from now.
pub fn reset_peaks() {
    PEAK.store(LIVE.load(Relaxed), Relaxed);
    LARGEST.store(0, Relaxed);
}

/// Peak live bytes since [`reset_peaks`].
pub fn peak() -> usize {
    PEAK.load(Relaxed)
}

/// Largest single allocation (or growth by realloc) since [`reset_peaks`].
pub fn largest() -> usize {
    LARGEST.load(Relaxed)
}
