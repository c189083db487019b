//! Maximum-likelihood decoding of soft per-group decisions.

use crate::Code;

/// What the detector measured for one group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Group ID.
    pub group: u64,
    /// Evidence: positive for B, negative for A, its size the confidence (0: no idea).
    pub soft: f64,
}

/// The decoder's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The most likely id.
    pub id: u32,
    /// Its agreement with the evidence: 1 when every decision agrees, −1 when all disagree.
    pub score: f64,
    /// The runner-up id and its score.
    pub runner_up: (u32, f64),
    /// Codeword positions with evidence and without (erasures).
    pub observed: usize,
    /// Positions without evidence.
    pub erased: usize,
    /// Observed positions whose decision disagrees with the id's codeword.
    pub disagreements: usize,
}

impl Decoded {
    /// Score of the id minus the runner-up's (0..=2): how clearly the evidence picks it.
    pub fn margin(&self) -> f64 {
        self.score - self.runner_up.1
    }

    /// A margin this large is not what noise gives: at least [`Decoded::MIN_MARGIN`].
    pub fn reliable(&self) -> bool {
        self.margin() >= Self::MIN_MARGIN
    }

    /// Smallest margin [`Decoded::reliable`] accepts.
    pub const MIN_MARGIN: f64 = 0.1;
}

/// Why nothing could be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer positions carry evidence than an id has bits: no code can tell ids apart then.
    TooFewGroups {
        /// Positions with evidence.
        observed: usize,
        /// Needed at least.
        needed: usize,
    },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooFewGroups { observed, needed } => write!(
                f,
                "only {observed} codeword positions carry evidence; at least {needed} are needed \
                 (a longer capture, or a group_ms that matches the broadcast's GOP)"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

impl Code {
    /// The id whose codeword agrees best with `observations` (several of one position add up;
    /// positions without any are erasures), trying every id.
    pub fn decode(&self, observations: &[Observation]) -> Result<Decoded, DecodeError> {
        let n = self.length();
        let mut soft = vec![0.0f64; n];
        let mut seen = vec![false; n];
        for o in observations.iter().filter(|o| o.soft.is_finite()) {
            let p = self.position(o.group);
            soft[p] += o.soft;
            seen[p] = true;
        }
        let observed = seen.iter().filter(|s| **s).count();
        let needed = self.params().id_bits as usize;
        if observed < needed {
            return Err(DecodeError::TooFewGroups { observed, needed });
        }
        let total: f64 = soft.iter().map(|s| s.abs()).sum();
        let total = if total > 0.0 { total } else { 1.0 };
        // Agreement of a codeword c: Σ s_p (2 c_p − 1) = 2 Σ_{c_p = 1} s_p − Σ s_p. The sum over
        // set bits comes from one table per nibble of the codeword.
        let sum: f64 = soft.iter().sum();
        let nibbles = n.div_ceil(4);
        let mut table = vec![[0.0f64; 16]; nibbles];
        for (j, t) in table.iter_mut().enumerate() {
            for (v, slot) in t.iter_mut().enumerate() {
                *slot = (0..4)
                    .filter(|b| v >> b & 1 == 1)
                    .filter_map(|b| soft.get(4 * j + b))
                    .sum();
            }
        }
        let agreement = |word: u128| {
            let ones: f64 = table
                .iter()
                .enumerate()
                .map(|(j, t)| t[(word >> (4 * j) & 15) as usize])
                .sum();
            (2.0 * ones - sum) / total
        };
        // Every id in Gray-code order: one generator row changes per step.
        let mut word = self.coset;
        let mut best = (0u32, agreement(word));
        let mut second = (u32::MAX, f64::NEG_INFINITY);
        for k in 1..self.ids() {
            word ^= self.rows[k.trailing_zeros() as usize];
            let id = k ^ (k >> 1);
            let a = agreement(word);
            if a > best.1 {
                second = best;
                best = (id, a);
            } else if a > second.1 {
                second = (id, a);
            }
        }
        let codeword = self.codeword(best.0);
        let disagreements = (0..n)
            .filter(|&p| seen[p] && soft[p] != 0.0)
            .filter(|&p| (soft[p] > 0.0) != (codeword >> p & 1 == 1))
            .count();
        Ok(Decoded {
            id: best.0,
            score: best.1,
            runner_up: second,
            observed,
            erased: n - observed,
            disagreements,
        })
    }
}

impl Code {
    /// [`Code::decode`] for observations whose group IDs lack the broadcast's base (media time
    /// only): every codeword shift is tried and the best (id, shift) wins; the runner-up is the
    /// best other pair. Returns the decoding and the shift in groups.
    pub fn decode_unaligned(
        &self,
        observations: &[Observation],
    ) -> Result<(Decoded, u64), DecodeError> {
        let step = self.params().group_ms;
        let mut best: Option<(Decoded, u64)> = None;
        let mut others = f64::NEG_INFINITY;
        for shift in 0..self.length() as u64 {
            let shifted: Vec<Observation> = observations
                .iter()
                .map(|o| Observation {
                    group: o.group + shift * step,
                    ..*o
                })
                .collect();
            let d = self.decode(&shifted)?;
            match &best {
                Some((b, _)) if b.score >= d.score => others = others.max(d.score),
                _ => {
                    if let Some((b, _)) = &best {
                        others = others.max(b.score);
                    }
                    best = Some((d, shift));
                }
            }
        }
        let (mut d, shift) = best.expect("a code has at least one position");
        if others > d.runner_up.1 {
            d.runner_up = (u32::MAX, others);
        }
        Ok((d, shift))
    }
}

#[cfg(test)]
mod tests;
