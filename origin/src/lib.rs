//! The origin: media in, a MoQ broadcast out.
//!
//! - [`Broadcast`]: the publish side, a library the gateways reuse. It takes the tracks of a
//!   broadcast and then [`Sample`](tern_cmaf::Sample)s, packages them with
//!   [`tern_cmaf::packager`] (one group per GOP, one object per frame, a `prft` publish stamp)
//!   and publishes the media tracks, the init track and both catalogs on a relay session. The
//!   media tracks keep a window of recent groups ([`Dvr`]) and answer FETCH from it.
//! - [`source`]: where samples come from: fragmented MP4 on a pipe (an ffmpeg process), an MP4
//!   file or the embedded sample clip looped with continuous timestamps.
//! - [`ladder`]: a live ffmpeg encoding ladder (three renditions, AAC and Opus).
//! - [`watermark`]: forensic A/B variants of a rendition from one ffmpeg run (`T.wm-a`,
//!   `T.wm-b`), chosen per group for each viewer by the last relay.
//! - [`publish`]: a source driven into a broadcast, once or in a loop.
//! - [`events`]: viewers' events (chat, reactions, bids) put in one order by a sans-IO
//!   sequencer and republished as the broadcast's `events` track.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod broadcast;
mod error;
pub mod events;
pub mod ladder;
pub mod publish;
pub mod source;
pub mod watermark;

pub use broadcast::{Announced, Broadcast, Dvr, Options, Priorities, Target};
pub use error::{Error, Result};
