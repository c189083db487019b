//! Ids, codewords and the group schedule.

/// Variant index of A (codeword bit 0).
pub const VARIANT_A: u32 = 0;
/// Variant index of B (codeword bit 1).
pub const VARIANT_B: u32 = 1;

/// Shortest and longest ids; the decoder tries every id, so 2^20 is the ceiling.
const ID_BITS: std::ops::RangeInclusive<u32> = 16..=20;
/// Longest codeword (bits, one per group of a cycle).
const MAX_LENGTH: u32 = 128;

/// What both sides of the mark must agree on (the plugin's configuration and the detector's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// The secret the codewords and ids derive from.
    pub key: String,
    /// Bits of a viewer id (16..=20).
    pub id_bits: u32,
    /// Bits of a codeword: groups per cycle (at least twice `id_bits`, at most 128).
    pub length: u32,
    /// Duration of a group (GOP) in milliseconds: group IDs are a base plus media time in ms,
    /// and group `g` sits at position `(g / group_ms) % length`.
    pub group_ms: u64,
}

impl Params {
    /// `id_bits` 16, `length` 64, `group_ms` 1000 (a keyframe every second).
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            id_bits: 16,
            length: 64,
            group_ms: 1000,
        }
    }
}

/// A parameter out of range.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeError {
    /// The key is empty.
    EmptyKey,
    /// `id_bits` outside 16..=20.
    IdBits(u32),
    /// `length` below twice `id_bits` or above 128.
    Length {
        /// The length asked for.
        length: u32,
        /// The shortest allowed for the id size.
        min: u32,
    },
    /// `group_ms` is 0.
    GroupMs,
}

impl std::fmt::Display for CodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::EmptyKey => write!(f, "the watermark key is empty"),
            Self::IdBits(b) => write!(f, "id_bits is {b}; it must be 16 to 20"),
            Self::Length { length, min } => write!(
                f,
                "code length is {length}; it must be {min} to {MAX_LENGTH} (twice id_bits or more)"
            ),
            Self::GroupMs => write!(f, "group_ms must be above 0"),
        }
    }
}

impl std::error::Error for CodeError {}

/// FNV-1a, 64 bits.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // Separate the parts so that ("ab", "c") and ("a", "bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// splitmix64: the next value of a generator whose state is `state`.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Rank of a set of rows over GF(2).
fn rank(rows: &[u128]) -> usize {
    let mut basis: Vec<u128> = Vec::new();
    for &row in rows {
        let mut r = row;
        for b in &basis {
            r = r.min(r ^ b);
        }
        if r != 0 {
            basis.push(r);
            basis.sort_unstable_by(|a, b| b.cmp(a));
        }
    }
    basis.len()
}

/// A keyed watermark code (see the crate documentation).
#[derive(Debug, Clone)]
pub struct Code {
    params: Params,
    seed: u64,
    /// Generator rows, one per id bit, `length` bits each.
    pub(crate) rows: Vec<u128>,
    /// Added to every codeword.
    pub(crate) coset: u128,
}

impl Code {
    /// Check `params` and derive the code from the key.
    pub fn new(params: Params) -> Result<Self, CodeError> {
        if params.key.is_empty() {
            return Err(CodeError::EmptyKey);
        }
        if !ID_BITS.contains(&params.id_bits) {
            return Err(CodeError::IdBits(params.id_bits));
        }
        let min = params.id_bits * 2;
        if params.length < min || params.length > MAX_LENGTH {
            return Err(CodeError::Length {
                length: params.length,
                min,
            });
        }
        if params.group_ms == 0 {
            return Err(CodeError::GroupMs);
        }
        let seed = fnv1a(&[b"tern-watermark/1", params.key.as_bytes()]);
        let mask = if params.length == 128 {
            u128::MAX
        } else {
            (1u128 << params.length) - 1
        };
        let mut state = seed;
        let mut draw =
            || (u128::from(splitmix(&mut state)) << 64 | u128::from(splitmix(&mut state))) & mask;
        // Draw until the rows are independent (distinct ids, distinct codewords).
        let rows = loop {
            let rows: Vec<u128> = (0..params.id_bits).map(|_| draw()).collect();
            if rank(&rows) == rows.len() {
                break rows;
            }
        };
        let coset = draw();
        Ok(Self {
            params,
            seed,
            rows,
            coset,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Codeword length in bits.
    pub fn length(&self) -> usize {
        self.params.length as usize
    }

    /// Number of distinct ids.
    pub fn ids(&self) -> u32 {
        1 << self.params.id_bits
    }

    /// The id of a viewer's subject (a keyed hash, so ids cannot be chosen without the key).
    pub fn viewer_id(&self, subject: &str) -> u32 {
        let mut state = fnv1a(&[&self.seed.to_le_bytes(), subject.as_bytes()]);
        (splitmix(&mut state) as u32) & (self.ids() - 1)
    }

    /// The codeword of `id` (bit `p` is position `p`).
    pub fn codeword(&self, id: u32) -> u128 {
        self.rows
            .iter()
            .enumerate()
            .filter(|(i, _)| id >> i & 1 == 1)
            .fold(self.coset, |c, (_, row)| c ^ row)
    }

    /// Codeword position of group `group`.
    pub fn position(&self, group: u64) -> usize {
        ((group / self.params.group_ms) % u64::from(self.params.length)) as usize
    }

    /// The variant ([`VARIANT_A`] or [`VARIANT_B`]) group `group` carries for viewer `id`.
    pub fn variant(&self, id: u32, group: u64) -> u32 {
        (self.codeword(id) >> self.position(group) & 1) as u32
    }

    /// Smallest distance between two codewords (the weight of the lightest non-zero codeword of
    /// the linear part). Tries every id: for tests and `tern watermark` reports.
    pub fn min_distance(&self) -> u32 {
        let mut word = 0u128;
        let mut best = u32::MAX;
        for k in 1..self.ids() {
            word ^= self.rows[k.trailing_zeros() as usize];
            best = best.min(word.count_ones());
        }
        best
    }
}
