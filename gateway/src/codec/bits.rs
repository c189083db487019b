//! A bit reader for parameter sets: fixed-width fields and Exp-Golomb codes.

/// Reads bits most significant first from a byte slice (emulation prevention already removed).
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

/// The data ended inside a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBits;

impl<'a> BitReader<'a> {
    /// Read from the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// One bit.
    pub fn bit(&mut self) -> Result<bool, OutOfBits> {
        let byte = self.data.get(self.pos / 8).ok_or(OutOfBits)?;
        let bit = byte >> (7 - self.pos % 8) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// `n` bits (at most 32) as an unsigned number.
    pub fn bits(&mut self, n: u32) -> Result<u32, OutOfBits> {
        debug_assert!(n <= 32);
        let mut v = 0u32;
        for _ in 0..n {
            v = v << 1 | u32::from(self.bit()?);
        }
        Ok(v)
    }

    /// `ue(v)`: unsigned Exp-Golomb. Codes longer than 32 bits are refused.
    pub fn ue(&mut self) -> Result<u32, OutOfBits> {
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(OutOfBits);
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + u64::from(rest)) as u32)
    }

    /// `se(v)`: signed Exp-Golomb.
    pub fn se(&mut self) -> Result<i32, OutOfBits> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        Ok(v as i32)
    }
}

/// The RBSP of a NAL unit: its bytes with each emulation prevention byte (the 0x03 of
/// 0x00 0x00 0x03) removed.
pub fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Why a parameter set could not be read: it ends inside a field, or a field is out of range.
pub(super) enum SpsError {
    Cut,
    Bad(String),
}

impl From<OutOfBits> for SpsError {
    fn from(_: OutOfBits) -> Self {
        Self::Cut
    }
}

impl SpsError {
    /// The error of a `codec` (`H.264`, `H.265`) SPS.
    pub(super) fn of(self, codec: &'static str) -> crate::Error {
        crate::Error::BadSps {
            codec,
            reason: match self {
                Self::Cut => "the SPS ends inside a field".into(),
                Self::Bad(reason) => reason,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_codes() {
        // 1 | 010 | 011 | 00100 | 00101 -> ue 0, 1, 2, 3, 4
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut r = BitReader::new(&data);
        let got: Vec<u32> = (0..5).map(|_| r.ue().expect("ue")).collect();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        // se: 010 -> 1, 011 -> -1, 00100 -> 2
        let data = [0b0100_1100, 0b1000_0000];
        let mut r = BitReader::new(&data);
        assert_eq!((r.se(), r.se(), r.se()), (Ok(1), Ok(-1), Ok(2)));
    }

    #[test]
    fn runs_out_cleanly() {
        let mut r = BitReader::new(&[0, 0, 0, 0, 0]);
        assert_eq!(r.ue(), Err(OutOfBits));
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.bits(8), Ok(0xff));
        assert_eq!(r.bit(), Err(OutOfBits));
    }

    #[test]
    fn removes_emulation_prevention() {
        assert_eq!(rbsp(&[0, 0, 3, 1, 0, 0, 3, 0, 3]), [0, 0, 1, 0, 0, 0, 3]);
    }
}
