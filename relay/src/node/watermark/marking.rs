//! The marking of one viewer's watermarked subscription: which variant of each group it gets
//! (the plugin's object phase, asked once per group) and that variant's cached object. Also the
//! session's marked subscriptions ([`Markings`]), for Joining FETCH.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tern_edge_wasm::{ObjectDecision, PluginHost};
use tern_model::TrackConsumer;

use crate::core::types::{Object, ObjectStatus};

use crate::node::plugin::object::{PLUGIN_DECISIONS, object_phase};

/// Counter, label `reason` (`plugin`, `variant_missing`): groups a viewer did not get because
/// the watermark could not be applied.
pub const WATERMARK_FAILURES: &str = "tern_watermark_group_failures_total";

/// Variants of a set: A and B.
pub const VARIANTS: u32 = 2;
/// Groups whose choice a [`Marking`] remembers (the fan-out never goes back further).
const REMEMBERED_GROUPS: usize = 16;

/// A request the plugin pointed at a variant set, for a viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variants {
    /// The viewer's subject, as the object phase sees it.
    pub viewer: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Variant(u32),
    Failed,
}

/// One viewer's request served from a variant set: the plugin's choice per group, and the
/// chosen variant's objects.
pub struct Marking {
    plugin: Arc<PluginHost>,
    viewer: String,
    /// Variant `n`'s cached track at index `n` (A first).
    variants: Vec<TrackConsumer>,
    /// How long an object waits for its variant's copy.
    wait: Duration,
    choices: Mutex<VecDeque<(u64, Choice)>>,
}

impl std::fmt::Debug for Marking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Marking")
            .field("viewer", &self.viewer)
            .field(
                "track",
                &self.variants.first().map(|v| v.name().to_string()),
            )
            .finish_non_exhaustive()
    }
}

fn failed(reason: &'static str) {
    metrics::counter!(WATERMARK_FAILURES, "reason" => reason).increment(1);
}

impl Marking {
    /// Serve `viewer` from `variants` (A first), choosing with `plugin`.
    pub fn new(
        plugin: Arc<PluginHost>,
        viewer: String,
        variants: Vec<TrackConsumer>,
        wait: Duration,
    ) -> Self {
        Self {
            plugin,
            viewer,
            variants,
            wait,
            choices: Mutex::new(VecDeque::with_capacity(REMEMBERED_GROUPS)),
        }
    }

    fn remembered(&self, group: u64) -> Option<Choice> {
        let choices = self.choices.lock().unwrap_or_else(|e| e.into_inner());
        choices.iter().find(|(g, _)| *g == group).map(|(_, c)| *c)
    }

    fn remember(&self, group: u64, choice: Choice) {
        let mut choices = self.choices.lock().unwrap_or_else(|e| e.into_inner());
        if choices.iter().any(|(g, _)| *g == group) {
            return;
        }
        if choices.len() == REMEMBERED_GROUPS {
            choices.pop_front();
        }
        choices.push_back((group, choice));
    }

    /// The variant of `group` for this viewer, asking the plugin the first time; `None` when the
    /// group ends for this viewer (the plugin failed or named a variant the set lacks).
    pub async fn choose(&self, group: u64) -> Option<u32> {
        if let Some(choice) = self.remembered(group) {
            return match choice {
                Choice::Variant(v) => Some(v),
                Choice::Failed => None,
            };
        }
        let track = self.variants[0].name();
        let decision = object_phase(&self.plugin, &self.viewer, track, group).await;
        let choice = match decision {
            Ok(ObjectDecision::Pass) => Choice::Variant(0),
            Ok(ObjectDecision::UseVariant(v)) if (v as usize) < self.variants.len() => {
                Choice::Variant(v)
            }
            Ok(ObjectDecision::UseVariant(v)) => {
                tracing::warn!(
                    viewer = self.viewer,
                    group,
                    variant = v,
                    "plugin chose a variant the set lacks"
                );
                Choice::Failed
            }
            Err(error) => {
                tracing::warn!(viewer = self.viewer, group, %error, "watermark choice failed: the group ends for this viewer");
                Choice::Failed
            }
        };
        let outcome = if choice == Choice::Failed {
            failed("plugin");
            "error"
        } else {
            "allow"
        };
        metrics::counter!(PLUGIN_DECISIONS, "phase" => "object", "outcome" => outcome).increment(1);
        self.remember(group, choice);
        match choice {
            Choice::Variant(v) => Some(v),
            Choice::Failed => None,
        }
    }

    /// Give up on the rest of `group` for this viewer.
    fn fail(&self, group: u64) {
        let mut choices = self.choices.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = choices.iter_mut().find(|(g, _)| *g == group) {
            entry.1 = Choice::Failed;
        }
        failed("variant_missing");
    }

    /// The object to send instead of variant A's `object` of `group`: the chosen variant's
    /// object at the same location, waiting a little for it when it trails A. `None` when the
    /// group ends for this viewer.
    pub async fn object(&self, group: u64, object: Object) -> Option<Object> {
        let variant = self.choose(group).await?;
        // Status objects (end of group, end of track) carry no media: A's stand for every variant.
        if variant == 0 || object.status != ObjectStatus::Normal {
            return Some(object);
        }
        let handle = &self.variants[variant as usize];
        let found =
            handle.wait_for(|t| t.read(|t| t.object(object.location).map(|(o, _, _)| o.clone())));
        match tokio::time::timeout(self.wait, found).await {
            Ok(Some(o)) => Some(o),
            _ => {
                self.fail(group);
                None
            }
        }
    }
}

impl tern_peer::writer::Variants for Marking {
    fn choose(&self, group: u64) -> tern_peer::writer::Choice<'_, Option<u32>> {
        Box::pin(Marking::choose(self, group))
    }

    fn object(&self, group: u64, object: Object) -> tern_peer::writer::Choice<'_, Option<Object>> {
        Box::pin(Marking::object(self, group, object))
    }
}

/// Markings of a session's subscriptions, by Request ID, for Joining FETCH: a FETCH that joins a
/// marked subscription makes the same choice per group.
#[derive(Debug, Default)]
pub struct Markings(Mutex<HashMap<u64, Arc<Marking>>>);

impl Markings {
    /// Remember the marking of subscription `request`.
    pub fn insert(&self, request: u64, marking: Arc<Marking>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(request, marking);
    }

    /// The marking of subscription `request`, if it is marked.
    pub fn get(&self, request: u64) -> Option<Arc<Marking>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&request)
            .cloned()
    }

    /// Forget subscription `request`.
    pub fn remove(&self, request: u64) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&request);
    }
}
