//! LL-HLS egress, the sans-IO core: the playlists a relay serves to HLS viewers and the
//! decisions around them, after RFC 8216bis (HLS 2nd edition) and Apple's LL-HLS. No sockets,
//! no clock: the HTTP driver passes the time in where it matters.
//!
//! - [`playlist`], one rendition's media playlist window: segments, their Partial Segments, the
//!   segment in progress and the part hinted next. [`MediaPlaylist::render`] writes it in full
//!   or as a Playlist Delta Update (`_HLS_skip`), with the other renditions' reports.
//! - [`reload`], a playlist request's Delivery Directives (`_HLS_msn`, `_HLS_part`,
//!   `_HLS_skip`) and the Blocking Playlist Reload decision (answer now, wait, 400 or 503);
//!   and whether a part request is served, held (the preload hint) or 404.
//! - [`multivariant`], the multivariant playlist: variants and their audio group.
//! - [`invariants`], the spec's rules checked on served playlists as a viewer receives them
//!   (for tests and fuzzing; it reads text only).
//! - [`segmenter`], one track's objects (CMAF chunks) into segments, parts and their bytes;
//!   [`chunk`] reads what it needs of a chunk, [`catalog`] a broadcast's renditions; `variants`
//!   the other watermark variants' objects beside a marked rendition's segmenter.
//! - `admission` (each viewer's verdict, kept briefly), `watermark` (each viewer's variant of
//!   each group, remembered) and [`metrics`] (viewers and requests in `/metrics`).
//!
//! And the thin driver around them: [`serve`] (every request judged by its own token, the
//! running renditions, one subscription per track whatever the number of viewers, stopped when
//! idle), `files` (a rendition's files for one viewer: playlists, and media from the feed or
//! fetched from the node) and [`routes`] (`GET /hls/...` on the node's HTTP listener, paths
//! in [`path`]).
//!
//! Paths are the caller's: the writer asks a [`Uris`] for every segment, part and init section
//! URI, and appends the viewer's [`QuerySuffix`] to every URI it writes.

mod admission;
pub mod catalog;
pub mod chunk;
mod config;
pub mod feed;
mod files;
pub mod invariants;
pub mod metrics;
pub mod multivariant;
pub mod path;
pub mod playlist;
pub mod reload;
mod render;
mod request;
pub mod routes;
pub mod segmenter;
pub mod serve;
mod store;
mod text;
mod variants;
mod watermark;

#[cfg(test)]
mod driver_tests;
#[cfg(test)]
pub(crate) mod node_tests;
#[cfg(test)]
mod segmenter_tests;
#[cfg(test)]
mod tests;

pub use metrics::describe;
pub use multivariant::{
    AudioRendition, FrameRate, Multivariant, MultivariantError, Resolution, Variant,
};
pub use playlist::{
    ConfigError, MediaPlaylist, Part, PlaylistConfig, PushError, Segment, SegmentStart,
};
pub use reload::{
    Answer, DirectiveError, PartAnswer, Refusal, ReloadRequest, Skip, decide, decide_part,
};
pub use render::{RenderOptions, RenditionReport};
pub use routes::router;
pub use segmenter::Segmenter;
pub use serve::{Admitted, Hls, HlsConfig};
pub use store::Span;
pub use text::{BadQuerySuffix, MAX_PROGRAM_DATE_TIME, QuerySuffix, Uris};
