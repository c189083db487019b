//! A rendition watermarked for its viewers (forensic A/B watermarking) over WHEP: each viewer
//! gets, group by group, the variant the node picks for it, exactly the variant a MoQ viewer
//! with the same identity gets of that group (the plugin's object phase, through
//! [`LocalApi::variant`]).
//!
//! The variants are read and packetised once per node, as any track ([`Sources`]); a viewer's
//! own [`Source`] takes each group's frames from its variant of that group and nothing from
//! the others, so the rest of the session sees one rendition. A group whose choice failed
//! (the plugin trapped, or named a variant the set lacks) is not sent to that viewer, as it
//! ends for a MoQ viewer; the viewer resumes at the next group it has a variant of.
//!
//! [`Sources`]: super::source::Sources

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::FutureExt;
use tern_model::TrackName;
use tern_model::local::LocalApi;
use tokio::sync::broadcast::{self, error::RecvError};

use super::source::{Frame, Source, Status};

/// The variants of a marked rendition: A and B.
pub(crate) const VARIANTS: u32 = 2;

/// Choices remembered (the groups a viewer's frames can straddle are two).
const REMEMBERED: usize = 8;

/// Who the viewer is and which track's variants it is marked on.
pub(crate) struct Viewer {
    /// The node's reader of the track, to ask for the viewer's variants.
    pub api: LocalApi,
    /// The viewer's identity (the plugin's subject).
    pub subject: String,
    /// Variant A of the rendition (the track the node pointed the viewer at).
    pub track: TrackName,
}

/// The viewer's own source of a rendition whose variants are `variants` (A first): started
/// once every variant's status is known (within `wait`).
pub(crate) async fn source(
    viewer: Viewer,
    variants: Vec<Arc<Source>>,
    wait: Duration,
) -> Arc<Source> {
    let (clock, name) = variants
        .first()
        .map_or((90_000, String::new()), |a| (a.clock, a.track.clone()));
    let out = Arc::new(Source::new(&name, clock));
    let mut reorders = false;
    for v in &variants {
        match v.status(wait).await {
            Status::Running { reorders: r } => reorders |= r,
            Status::Starting => {
                out.set(Status::Over(format!("{} sent no frame yet", v.track)));
                return out;
            }
            Status::Over(why) => {
                out.set(Status::Over(format!("{}: {why}", v.track)));
                return out;
            }
        }
    }
    let mut marking = Marking {
        viewer,
        choices: VecDeque::new(),
        out: Arc::downgrade(&out),
        current: None,
        skipping: false,
    };
    let joins: Vec<_> = variants.iter().map(|v| v.join()).collect();
    // The current group, from the viewer's variant of it.
    if let Some(group) = joins.first().and_then(|j| j.group.first()).map(|f| f.group) {
        let choice = marking.choose(group).await;
        let start = choice.and_then(|c| joins.get(c as usize)).filter(|j| {
            j.group
                .first()
                .is_some_and(|f| f.group == group && f.keyframe)
        });
        marking.current = Some(group);
        match start {
            Some(j) => j.group.iter().for_each(|f| out.push(f.clone())),
            None => marking.skipping = true,
        }
    }
    out.set(Status::Running { reorders });
    let receivers = joins.into_iter().map(|j| j.rx).collect();
    tokio::spawn(async move {
        let why = marking.run(receivers).await;
        if let Some(out) = marking.out.upgrade() {
            tracing::debug!("whep: {} for {}: {why}", out.track, marking.viewer.subject);
            out.set(Status::Over(why));
        }
    });
    out
}

/// One viewer's marking of one rendition.
struct Marking {
    viewer: Viewer,
    /// The variant of the groups last asked about (`None`: none could be chosen).
    choices: VecDeque<(u64, Option<u32>)>,
    /// The viewer's source (gone when the viewer is).
    out: Weak<Source>,
    /// The newest group sent from.
    current: Option<u64>,
    /// The current group is not sent (no variant, or its start was missed).
    skipping: bool,
}

impl Marking {
    /// Forward the viewer's frames until the variants end or the viewer leaves; why it stopped.
    async fn run(&mut self, mut receivers: Vec<broadcast::Receiver<Arc<Frame>>>) -> String {
        loop {
            if receivers.is_empty() {
                return "no variant to read".into();
            }
            let (r, variant) = {
                let next = receivers.iter_mut().map(|rx| rx.recv().boxed());
                let (r, i, _) = futures::future::select_all(next).await;
                (r, i)
            };
            match r {
                Ok(frame) => {
                    if self.out.strong_count() == 0 {
                        return "the viewer left".into();
                    }
                    self.frame(variant as u32, frame, &mut receivers).await;
                }
                // Frames lost: the group goes on only from its next keyframe.
                Err(RecvError::Lagged(_)) => {
                    if self.known(self.current) == Some(variant as u32) {
                        self.skipping = true;
                    }
                }
                Err(RecvError::Closed) => return "a variant of the track ended".into(),
            }
        }
    }

    /// A frame of variant `variant`: sent if it is of the viewer's variant of its group.
    async fn frame(
        &mut self,
        variant: u32,
        frame: Arc<Frame>,
        receivers: &mut [broadcast::Receiver<Arc<Frame>>],
    ) {
        if self.current.is_some_and(|c| frame.group < c) {
            // A late frame of a group already left (the variants' readers race).
            return;
        }
        let choice = self.choose(frame.group).await;
        if choice != Some(variant) {
            return;
        }
        if self.current != Some(frame.group) {
            // The previous group's frames already here go first.
            if let (Some(c), Some(prev)) = (self.current, self.known(self.current))
                && prev != variant
                && let Some(rx) = receivers.get_mut(prev as usize)
            {
                while let Ok(f) = rx.try_recv() {
                    if f.group == c && !self.skipping {
                        self.send(f);
                    }
                }
            }
            self.current = Some(frame.group);
            self.skipping = !frame.keyframe;
        }
        if !self.skipping {
            self.send(frame);
        }
    }

    fn send(&self, frame: Arc<Frame>) {
        if let Some(out) = self.out.upgrade() {
            out.push(frame);
        }
    }

    /// The variant already chosen for `group`, if known.
    fn known(&self, group: Option<u64>) -> Option<u32> {
        let group = group?;
        self.choices
            .iter()
            .find(|(g, _)| *g == group)
            .and_then(|(_, c)| *c)
    }

    /// The viewer's variant of `group`, asked of the node once.
    async fn choose(&mut self, group: u64) -> Option<u32> {
        if let Some((_, c)) = self.choices.iter().find(|(g, _)| *g == group) {
            return *c;
        }
        let v = &self.viewer;
        let choice = v
            .api
            .variant(v.subject.clone(), v.track.clone(), group)
            .await
            .ok();
        if self.choices.len() >= REMEMBERED {
            self.choices.pop_front();
        }
        self.choices.push_back((group, choice));
        choice
    }
}
