//! Distinct counts that stay exact while small and become an estimate
//! after, and that merge: the same set counted in two objects, or in two
//! invocations, merges into the count of the union. Findings use them for
//! `distinct_src_addrs`, `distinct_dst_addrs` and `distinct_dst_ports`,
//! and the correlation state keeps them across objects.
//!
//! Items are 32-bit values: the upper half of a 64-bit hash from
//! [`crate::hash`], or a port. Up to [`EXACT_MAX`] of them are kept
//! exactly (sorted, 4 bytes each); beyond that a HyperLogLog sketch of
//! [`REGISTERS`] one-byte registers takes over (about 2.3 % standard error,
//! and within about 1 % below `2.5 * REGISTERS` items, where linear
//! counting decides).

use serde::{Deserialize, Serialize};

/// Items counted exactly before the sketch takes over.
pub const EXACT_MAX: usize = 256;
/// Registers of the sketch.
pub const REGISTERS: usize = 2048;
const INDEX_BITS: u32 = REGISTERS.trailing_zeros();

/// A mergeable distinct counter of 32-bit items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DistinctCount {
    /// Up to [`EXACT_MAX`] items, sorted and unique.
    Exact(Vec<u32>),
    /// A HyperLogLog sketch: [`REGISTERS`] ranks.
    Sketch(Box<[u8; REGISTERS]>),
}

impl Default for DistinctCount {
    fn default() -> DistinctCount {
        DistinctCount::Exact(Vec::new())
    }
}

/// The 32-bit item of a 64-bit hash.
#[inline]
pub fn item_of_hash(h: u64) -> u32 {
    (h >> 32) as u32
}

impl DistinctCount {
    /// Adds one item.
    pub fn add(&mut self, item: u32) {
        match self {
            DistinctCount::Exact(items) => {
                if let Err(at) = items.binary_search(&item) {
                    if items.len() < EXACT_MAX {
                        items.insert(at, item);
                    } else {
                        let mut regs = Box::new([0u8; REGISTERS]);
                        for &old in items.iter() {
                            insert(&mut regs, old);
                        }
                        insert(&mut regs, item);
                        *self = DistinctCount::Sketch(regs);
                    }
                }
            }
            DistinctCount::Sketch(regs) => insert(regs, item),
        }
    }

    /// Adds every item of `other`: the count of the union.
    pub fn merge(&mut self, other: &DistinctCount) {
        match other {
            DistinctCount::Exact(items) => {
                for &i in items {
                    self.add(i);
                }
            }
            DistinctCount::Sketch(theirs) => {
                if let DistinctCount::Exact(items) = self {
                    let mut regs = Box::new([0u8; REGISTERS]);
                    for &i in items.iter() {
                        insert(&mut regs, i);
                    }
                    *self = DistinctCount::Sketch(regs);
                }
                if let DistinctCount::Sketch(mine) = self {
                    for (m, t) in mine.iter_mut().zip(theirs.iter()) {
                        *m = (*m).max(*t);
                    }
                }
            }
        }
    }

    /// The count: exact up to [`EXACT_MAX`], estimated above.
    pub fn count(&self) -> u64 {
        match self {
            DistinctCount::Exact(items) => items.len() as u64,
            DistinctCount::Sketch(regs) => estimate(regs),
        }
    }

    /// Whether `item` was added (exact sets only; a sketch answers `false`).
    pub fn contains_exactly(&self, item: u32) -> bool {
        matches!(self, DistinctCount::Exact(items) if items.binary_search(&item).is_ok())
    }
}

#[inline]
fn insert(regs: &mut [u8; REGISTERS], item: u32) {
    // Items are hashes or small numbers (ports): mix them so both spread.
    let h = crate::hash::mix64(u64::from(item) | 0x5bd1_e995_0000_0000);
    let idx = (h >> (64 - INDEX_BITS)) as usize;
    let rank = ((h << INDEX_BITS) | (1 << (INDEX_BITS - 1))).leading_zeros() as u8 + 1;
    if let Some(r) = regs.get_mut(idx) {
        *r = (*r).max(rank);
    }
}

fn estimate(regs: &[u8; REGISTERS]) -> u64 {
    let m = REGISTERS as f64;
    let mut sum = 0.0;
    let mut zeros = 0usize;
    for &r in regs.iter() {
        sum += 1.0 / f64::from(1u32 << r.min(31));
        if r == 0 {
            zeros += 1;
        }
    }
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let raw = alpha * m * m / sum;
    let est = if raw <= 2.5 * m && zeros > 0 {
        m * (m / zeros as f64).ln()
    } else {
        raw
    };
    est.round() as u64
}

/// The stored form: `{"exact": [..]}` or `{"sketch": "<base64 registers>"}`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stored {
    Exact(Vec<u32>),
    Sketch(String),
}

impl Serialize for DistinctCount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DistinctCount::Exact(items) => Stored::Exact(items.clone()).serialize(s),
            DistinctCount::Sketch(regs) => Stored::Sketch(base64_encode(&regs[..])).serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for DistinctCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DistinctCount, D::Error> {
        use serde::de::Error;
        match Stored::deserialize(d)? {
            Stored::Exact(mut items) => {
                items.sort_unstable();
                items.dedup();
                if items.len() > EXACT_MAX {
                    let mut c = DistinctCount::Sketch(Box::new([0u8; REGISTERS]));
                    for i in items {
                        c.add(i);
                    }
                    return Ok(c);
                }
                Ok(DistinctCount::Exact(items))
            }
            Stored::Sketch(text) => {
                let bytes = base64_decode(&text)
                    .ok_or_else(|| D::Error::custom("sketch is not base64"))?;
                let regs: [u8; REGISTERS] = bytes.try_into().map_err(|_| {
                    D::Error::custom(format!("sketch is not {REGISTERS} registers"))
                })?;
                Ok(DistinctCount::Sketch(Box::new(regs)))
            }
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(B64[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes [`base64_encode`]'s output; `None` for anything else.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let t = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(t.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in t {
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::addr_hash;
    use std::net::IpAddr;

    fn addr_item(i: u32) -> u32 {
        item_of_hash(addr_hash(IpAddr::from((0x0a00_0000u32 + i).to_be_bytes())))
    }

    #[test]
    fn exact_then_estimated_within_bounds() {
        let mut d = DistinctCount::default();
        for i in 0..EXACT_MAX as u32 {
            d.add(addr_item(i));
            d.add(addr_item(i));
        }
        assert_eq!(d.count(), EXACT_MAX as u64);
        assert!(matches!(d, DistinctCount::Exact(_)));
        for (n, tolerance) in [(300u32, 0.02), (2_000, 0.02), (5_000, 0.03), (100_000, 0.06)] {
            let mut d = DistinctCount::default();
            for i in 0..n {
                d.add(addr_item(i));
            }
            let got = d.count() as f64;
            assert!(
                (got - f64::from(n)).abs() <= f64::from(n) * tolerance,
                "{n}: {got}"
            );
        }
        // Small numbers (ports) spread over the registers as well.
        let mut ports = DistinctCount::default();
        for p in 0..5000u32 {
            ports.add(p);
        }
        assert!((ports.count() as f64 - 5000.0).abs() < 150.0, "{}", ports.count());
    }

    #[test]
    fn merge_is_the_count_of_the_union() {
        for (a, b, overlap) in [(10u32, 20u32, 5u32), (200, 200, 100), (3_000, 4_000, 1_000)] {
            let mut x = DistinctCount::default();
            let mut y = DistinctCount::default();
            for i in 0..a {
                x.add(addr_item(i));
            }
            for i in (a - overlap)..(a - overlap + b) {
                y.add(addr_item(i));
            }
            let union = f64::from(a + b - overlap);
            let mut m = x.clone();
            m.merge(&y);
            let got = m.count() as f64;
            assert!((got - union).abs() <= union * 0.03, "{a}+{b}: {got} vs {union}");
            let mut n = y.clone();
            n.merge(&x);
            assert_eq!(n.count(), m.count(), "merge is symmetric");
        }
    }

    #[test]
    fn stored_form_round_trips() {
        let mut small = DistinctCount::default();
        small.add(7);
        small.add(3);
        let text = serde_json::to_string(&small).unwrap();
        assert_eq!(text, r#"{"exact":[3,7]}"#);
        let mut big = DistinctCount::default();
        for i in 0..1000 {
            big.add(addr_item(i));
        }
        for c in [small, big] {
            let text = serde_json::to_string(&c).unwrap();
            let back: DistinctCount = serde_json::from_str(&text).unwrap();
            assert_eq!(back, c);
        }
        assert!(serde_json::from_str::<DistinctCount>(r#"{"sketch":"AAAA"}"#).is_err());
        for data in [&b""[..], b"a", b"ab", b"abc", b"abcd", &[0xff, 0, 0x80]] {
            assert_eq!(base64_decode(&base64_encode(data)).as_deref(), Some(data));
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
    }
}
