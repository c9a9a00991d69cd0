//! A big-endian bit reader over an RBSP (emulation prevention bytes removed), with exp-Golomb.

use crate::RecordError;

/// Removes emulation prevention bytes (`00 00 03` → `00 00`).
pub(crate) fn rbsp(nal: &[u8]) -> Vec<u8> {
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

/// Reads bits most-significant first.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    pub(crate) fn bit(&mut self) -> Result<u32, RecordError> {
        let byte = self
            .data
            .get(self.pos / 8)
            .ok_or_else(|| RecordError::bitstream("parameter set is truncated"))?;
        let b = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(u32::from(b))
    }

    pub(crate) fn bits(&mut self, n: u32) -> Result<u64, RecordError> {
        let mut v = 0u64;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bit()?);
        }
        Ok(v)
    }

    pub(crate) fn flag(&mut self) -> Result<bool, RecordError> {
        Ok(self.bit()? == 1)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), RecordError> {
        if self.pos + n > self.data.len() * 8 {
            return Err(RecordError::bitstream("parameter set is truncated"));
        }
        self.pos += n;
        Ok(())
    }

    /// Unsigned exp-Golomb.
    pub(crate) fn ue(&mut self) -> Result<u32, RecordError> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(RecordError::bitstream("exp-Golomb code too long"));
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + rest) as u32)
    }

    /// Signed exp-Golomb.
    pub(crate) fn se(&mut self) -> Result<i32, RecordError> {
        let k = i64::from(self.ue()?);
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) } as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_and_emulation_prevention() {
        assert_eq!(rbsp(&[0, 0, 3, 1, 0, 0, 3]), [0, 0, 1, 0, 0]);
        // 1 | 010 | 011 | 00100 | 00101 → ue 0,1,2,3 then se(4) = -2
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut r = BitReader::new(&data);
        assert_eq!(r.ue().unwrap(), 0);
        assert_eq!(r.ue().unwrap(), 1);
        assert_eq!(r.ue().unwrap(), 2);
        assert_eq!(r.ue().unwrap(), 3);
        assert_eq!(r.se().unwrap(), -2);
        assert!(r.bits(16).is_err());
    }
}
