//! FILL (draft-20 on): a SUBSCRIBE carrying FILL_PARAMETERS also asks for the objects before
//! its start, as a FETCH of its LOCATION_FILTER would (a relative start of 1: the current
//! group up to where the subscription begins). They go on a fill fetch stream whose header
//! names the SUBSCRIBE's Request ID. moq-dev's clients join a track this way on drafts 20 and
//! 22, where the joining FETCH is gone. Served from this relay's cache.

use std::sync::Arc;
use std::time::Duration;

use tern_moq::message::{Parameters, SubscriptionFilter, parameter_type};
use tern_moq::{Location, Version};
use tern_peer::fetch_writer::{FetchRange, write_fetch};

use super::session::SessionShared;

/// The inclusive range a SUBSCRIBE's FILL_PARAMETERS asks for, given the Largest Object its
/// SUBSCRIBE_OK named; `None` when it asks for none (or nothing was published). A malformed
/// block is the peer's fault: `Err` with what is wrong.
pub fn range(
    version: Version,
    parameters: &Parameters,
    largest: Option<Location>,
) -> Result<Option<(Location, Location)>, String> {
    let Some(value) = parameters.get(parameter_type::FILL_PARAMETERS) else {
        return Ok(None);
    };
    if !version.has_location_fields() {
        return Ok(None);
    }
    let tern_moq::message::ParameterValue::Bytes(bytes) = value else {
        return Err("FILL_PARAMETERS is not a parameter block".into());
    };
    let mut block = &bytes[..];
    let inner =
        Parameters::decode_in(&mut block, version).map_err(|e| format!("FILL_PARAMETERS: {e}"))?;
    if !block.is_empty() {
        return Err("FILL_PARAMETERS: bytes after its parameters".into());
    }
    let filter = inner.subscription_filter();
    Ok(SubscriptionFilter::fetch_range(filter, largest).filter(|(start, end)| start <= end))
}

/// Write the fill of `range` from `track` on a fetch stream named `request_id`, in the
/// background; what the cache no longer holds is skipped (logged). Whether a stream is sent
/// (it counts in PUBLISH_DONE's Stream Count).
pub fn spawn(
    s: &Arc<SessionShared>,
    request_id: u64,
    track: &tern_model::TrackProducer,
    (start, end): (Location, Location),
) -> bool {
    let Some(last) = track.read(|t| t.last_in(start, end)) else {
        tracing::debug!(
            session = s.id,
            request = request_id,
            ?start,
            ?end,
            "FILL: nothing cached"
        );
        return false;
    };
    let first = track
        .read(|t| t.page(start, last, 1, 0).first().map(|(_, _, p)| *p))
        .unwrap_or(128);
    let range = FetchRange {
        start,
        last,
        descending: false,
        unknown: None,
    };
    let (s, consumer) = (s.clone(), track.consumer());
    tokio::spawn(async move {
        tracing::debug!(session = s.id, request = request_id, ?range.start, ?range.last, "FILL from cache");
        let written = write_fetch(
            &s.session,
            s.proto(|p| p.version()),
            request_id,
            &consumer,
            range,
            first,
            s.timeouts.peer_stall,
            None,
            Duration::ZERO,
        )
        .await;
        if let Err(e) = written {
            tracing::debug!(
                session = s.id,
                request = request_id,
                "FILL stream ended short: {e}"
            );
        }
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_moq::message::ParameterValue;

    /// SUBSCRIBE parameters with FILL_PARAMETERS holding `inner`, framed for `version`.
    fn with_fill(version: Version, inner: &Parameters) -> Parameters {
        let mut block = Vec::new();
        inner.encode_in(&mut block, version).expect("encodes");
        let mut p = Parameters::new();
        p.set(
            parameter_type::FILL_PARAMETERS,
            ParameterValue::Bytes(block.into()),
        );
        p
    }

    #[test]
    fn a_relative_fill_of_one_group_is_the_current_group_up_to_the_largest_object() {
        let mut inner = Parameters::new();
        inner.set_subscription_filter(&SubscriptionFilter::RelativeStart { groups: 1 });
        let largest = Some(Location::new(7, 4));
        for version in [Version::Draft20, Version::Draft22] {
            let p = with_fill(version, &inner);
            assert_eq!(
                range(version, &p, largest),
                Ok(Some((Location::new(7, 0), Location::new(7, 4)))),
                "{version}"
            );
            // Nothing published yet: nothing to fill.
            assert_eq!(range(version, &p, None), Ok(None));
        }
        // No FILL_PARAMETERS, or draft-18 (which has none): no fill.
        assert_eq!(
            range(Version::Draft22, &Parameters::new(), largest),
            Ok(None)
        );
        let p = with_fill(Version::Draft20, &inner);
        assert_eq!(range(Version::Draft18, &p, largest), Ok(None));
    }

    #[test]
    fn a_malformed_fill_block_is_named() {
        let mut p = Parameters::new();
        p.set(
            parameter_type::FILL_PARAMETERS,
            ParameterValue::Bytes(vec![1, 0x21, 9].into()),
        );
        let err = range(Version::Draft22, &p, Some(Location::new(1, 1))).expect_err("malformed");
        assert!(err.contains("FILL_PARAMETERS"), "{err}");
    }
}
