//! Distinct counting in bounded memory: exact up to a few items, then a
//! HyperLogLog sketch of 128 four-bit registers packed in 64 bytes (about
//! 9 % standard error; linear counting keeps small sets within a few %).
//! `ports` can have tens of thousands of rows (every ephemeral port of
//! server replies), so the per-row cost matters more than precision.

/// Items kept exactly before switching to the sketch.
const EXACT: usize = 5;
/// Registers of the sketch (a power of two).
const REGISTERS: usize = 128;

/// A distinct counter of addresses.
#[derive(Debug, Clone)]
pub enum Distinct {
    /// Up to [`EXACT`] 64-bit address hashes.
    Exact {
        /// Items held.
        len: u8,
        /// The upper halves of the hashes.
        items: [u32; EXACT],
    },
    /// A HyperLogLog sketch, two registers a byte.
    Sketch(Box<[u8; REGISTERS / 2]>),
}

impl Default for Distinct {
    fn default() -> Distinct {
        Distinct::Exact {
            len: 0,
            items: [0; EXACT],
        }
    }
}

impl Distinct {
    /// Adds an item by its hash.
    #[inline]
    pub fn add(&mut self, h: u64) {
        match self {
            Distinct::Exact { len, items } => {
                let n = usize::from(*len);
                let top = (h >> 32) as u32;
                if items[..n].contains(&top) {
                    return;
                }
                if n < EXACT {
                    items[n] = top;
                    *len += 1;
                    return;
                }
                let mut regs = Box::new([0u8; REGISTERS / 2]);
                for &old in items.iter() {
                    // The register uses the top bits, the rank the next
                    // ones: the upper half of the hash is enough.
                    insert(&mut regs, u64::from(old) << 32 | 0xFFFF_FFFF);
                }
                insert(&mut regs, h);
                *self = Distinct::Sketch(regs);
            }
            Distinct::Sketch(regs) => insert(regs, h),
        }
    }

    /// The count (exact below the sketch, estimated above).
    pub fn count(&self) -> u64 {
        match self {
            Distinct::Exact { len, .. } => u64::from(*len),
            Distinct::Sketch(regs) => estimate(regs),
        }
    }

    /// Whether the counter has switched to its (heap) sketch.
    pub fn is_sketch(&self) -> bool {
        matches!(self, Distinct::Sketch(_))
    }
}

#[inline]
fn get(regs: &[u8; REGISTERS / 2], i: usize) -> u8 {
    (regs[i / 2] >> ((i % 2) * 4)) & 0x0F
}

#[inline]
fn insert(regs: &mut [u8; REGISTERS / 2], h: u64) {
    let idx = (h >> 57) as usize; // top 7 bits pick the register
    let rank = (((h << 7) | 0x40).leading_zeros() as u8 + 1).min(15);
    if rank > get(regs, idx) {
        let shift = (idx % 2) * 4;
        regs[idx / 2] = (regs[idx / 2] & !(0x0F << shift)) | (rank << shift);
    }
}

fn estimate(regs: &[u8; REGISTERS / 2]) -> u64 {
    let m = REGISTERS as f64;
    let mut sum = 0.0;
    let mut zeros = 0usize;
    for r in (0..REGISTERS).map(|i| get(regs, i)) {
        sum += 1.0 / f64::from(1u32 << r.min(31));
        if r == 0 {
            zeros += 1;
        }
    }
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let raw = alpha * m * m / sum;
    let est = if raw <= 2.5 * m && zeros > 0 {
        m * (m / zeros as f64).ln() // linear counting for small sets
    } else {
        raw
    };
    est.round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::addr_hash;
    use std::net::IpAddr;

    #[test]
    fn exact_then_estimated() {
        let mut d = Distinct::default();
        for i in 0..5u32 {
            d.add(addr_hash(IpAddr::from([10, 0, 0, i as u8])));
            d.add(addr_hash(IpAddr::from([10, 0, 0, i as u8])));
        }
        assert_eq!(d.count(), 5);
        assert!(!d.is_sketch());
        for (n, tolerance) in [(50u32, 0.1), (1000, 0.2), (100_000, 0.25)] {
            let mut d = Distinct::default();
            for i in 0..n {
                d.add(addr_hash(IpAddr::from((0x0a00_0000 + i).to_be_bytes())));
            }
            let got = d.count() as f64;
            assert!(
                (got - f64::from(n)).abs() <= f64::from(n) * tolerance,
                "{n}: {got}"
            );
        }
    }
}
