//! Phase 3 of the edge plugin, the object phase: which variant a viewer gets of a group of a
//! watermarked track. Called by the watermark's marking (`watermark/marking.rs`) once per group;
//! the order of all phases is in [`super`].

use tern_edge_wasm::PluginHost;

/// Counter, labels `phase` and `outcome` (`allow`, `deny`, `error`): plugin decisions.
pub const PLUGIN_DECISIONS: &str = "tern_plugin_decisions_total";

/// Phase 3: which variant `viewer` gets of `group` of the watermarked track whose variant A is
/// `track`.
pub async fn object_phase(
    plugin: &PluginHost,
    viewer: &str,
    track: &crate::core::types::TrackName,
    group: u64,
) -> Result<tern_edge_wasm::ObjectDecision, tern_edge_wasm::PluginError> {
    let req = tern_edge_wasm::ObjectRequest {
        viewer: viewer.to_owned(),
        namespace: track.namespace.iter().map(|f| f.to_vec()).collect(),
        track: track.name.to_vec(),
        group,
        object: 0,
    };
    plugin.object(req).await
}
