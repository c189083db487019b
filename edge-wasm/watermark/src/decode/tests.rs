//! Decoding under erasures and errors, with the code's parameters as the plugin uses them.

use crate::{Code, DecodeError, Observation, Params, VARIANT_B};

fn code(key: &str) -> Code {
    Code::new(Params {
        group_ms: 200,
        ..Params::new(key)
    })
    .unwrap()
}

/// A small deterministic generator for the tests' choices.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// One observation per group of `groups` consecutive groups from `first`, as a detector with
/// perfect pixels would make them for `id`.
fn observe(code: &Code, id: u32, first: u64, groups: u64) -> Vec<Observation> {
    (0..groups)
        .map(|i| {
            let group = first + i * code.params().group_ms;
            let b = code.variant(id, group) == VARIANT_B;
            Observation {
                group,
                soft: if b { 1.0 } else { -1.0 },
            }
        })
        .collect()
}

#[test]
fn codes_keep_ids_apart() {
    for key in ["k1", "another key", "ops-2026"] {
        let c = code(key);
        let d = c.min_distance();
        assert!(d >= 12, "key {key}: minimum distance {d}");
    }
}

#[test]
fn ids_depend_on_key_and_subject() {
    let (a, b) = (code("k1"), code("k2"));
    assert_ne!(a.viewer_id("viewer-1"), a.viewer_id("viewer-2"));
    assert_ne!(a.viewer_id("viewer-1"), b.viewer_id("viewer-1"));
    assert_ne!(a.codeword(5), b.codeword(5));
    assert!(a.viewer_id("x") < a.ids());
}

#[test]
fn every_position_is_used_once_per_cycle() {
    let c = code("k1");
    let base = 1_733_000_000_123u64;
    let positions: std::collections::BTreeSet<usize> =
        (0..64).map(|i| c.position(base + i * 200)).collect();
    assert_eq!(positions.len(), 64);
}

#[test]
fn a_clean_cycle_decodes() {
    let c = code("k1");
    for id in [0, 1, 0xbeef, 65535] {
        let d = c.decode(&observe(&c, id, 0, 64)).unwrap();
        assert_eq!(d.id, id);
        assert!((d.score - 1.0).abs() < 1e-9);
        assert!(d.reliable(), "{d:?}");
        assert_eq!(d.disagreements, 0);
    }
}

#[test]
fn erasures_and_errors_are_corrected() {
    let c = code("ops");
    let mut rng = Lcg(7);
    for trial in 0..40 {
        let id = (rng.next() as u32) & 0xffff;
        let mut obs = observe(&c, id, 1_000_000 + trial * 200, 70);
        // 10 % of the groups missing, then 4 wrong decisions among the rest, weaker than most.
        for _ in 0..7 {
            let at = rng.next() as usize % obs.len();
            obs.remove(at);
        }
        for _ in 0..4 {
            let at = rng.next() as usize % obs.len();
            obs[at].soft = -obs[at].soft * 0.5;
        }
        let d = c.decode(&obs).unwrap();
        assert_eq!(d.id, id, "trial {trial}: {d:?}");
        assert!(d.reliable(), "trial {trial}: {d:?}");
    }
}

#[test]
fn noise_is_not_reliable() {
    let c = code("k1");
    let mut rng = Lcg(99);
    let obs: Vec<Observation> = (0..64)
        .map(|i| Observation {
            group: i * 200,
            soft: (rng.next() % 1000) as f64 / 500.0 - 1.0,
        })
        .collect();
    let d = c.decode(&obs).unwrap();
    assert!(d.disagreements > 0);
    // All-A (a capture of one variant only) picks no id clearly either.
    let all_a: Vec<Observation> = (0..64)
        .map(|i| Observation {
            group: i * 200,
            soft: -1.0,
        })
        .collect();
    let d = c.decode(&all_a).unwrap();
    assert!(d.disagreements >= 12, "{d:?}");
}

#[test]
fn too_few_groups_is_an_error() {
    let c = code("k1");
    let obs = observe(&c, 3, 0, 10);
    assert_eq!(
        c.decode(&obs),
        Err(DecodeError::TooFewGroups {
            observed: 10,
            needed: 16
        })
    );
}

#[test]
fn parameters_are_checked() {
    use crate::CodeError;
    let p = Params::new("k");
    assert_eq!(
        Code::new(Params {
            id_bits: 12,
            ..p.clone()
        })
        .unwrap_err(),
        CodeError::IdBits(12)
    );
    assert!(matches!(
        Code::new(Params {
            length: 20,
            ..p.clone()
        })
        .unwrap_err(),
        CodeError::Length { .. }
    ));
    assert_eq!(Code::new(Params::new("")).unwrap_err(), CodeError::EmptyKey);
    assert_eq!(
        Code::new(Params { group_ms: 0, ..p }).unwrap_err(),
        CodeError::GroupMs
    );
}

#[test]
fn an_unknown_base_is_found_by_shifting() {
    let c = code("k1");
    let id = 0x5a5a;
    // The broadcast's groups start at a base the detector does not know.
    let base = 1_733_000_000_000u64;
    let mut obs = observe(&c, id, base, 60);
    obs.retain(|o| (o.group / 200) % 10 != 3);
    for o in &mut obs {
        o.group -= base;
    }
    let (d, shift) = c.decode_unaligned(&obs).unwrap();
    assert_eq!(d.id, id, "{d:?}");
    assert!(d.reliable(), "{d:?}");
    assert_eq!((shift as usize + c.position(0)) % 64, c.position(base));
}
