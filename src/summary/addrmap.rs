//! A map from 32-bit keys (IPv4 addresses, packed port keys) to counters,
//! for the tables every record touches (`talkers` twice, `ports` once).
//! Open addressing in one array of slots, with a prefetch hint: the
//! aggregator names the keys of a record a few records ahead, so the cache
//! misses of tables larger than the CPU caches overlap instead of queueing.

/// Fibonacci hashing: the multiplier spreads consecutive addresses.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
const FIRST_SLOTS: usize = 1024;

/// The stages of [`U32Map::prefetch`], each run a few records before the
/// next needs its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefetch {
    /// The keys a lookup probes.
    Keys,
    /// The value slot the keys lead to.
    Values,
}

/// A `u32` key to `V`, growing by doubling, bounded by the caller's `cap`.
///
/// Keys and values live in two parallel arrays: a probe walks the keys
/// (sixteen to a cache line), so even a long linear-probing run costs one
/// miss, and only the slot found touches the values. Key 0 marks an empty
/// slot; the value of key 0 itself is kept aside.
#[derive(Debug, Clone)]
pub struct U32Map<V> {
    keys: Vec<u32>,
    values: Vec<V>,
    /// 64 - log2(keys.len()).
    shift: u32,
    /// Entries in `keys`.
    len: usize,
    zero: Option<V>,
}

impl<V> Default for U32Map<V> {
    fn default() -> U32Map<V> {
        U32Map {
            keys: Vec::new(),
            values: Vec::new(),
            shift: 64,
            len: 0,
            zero: None,
        }
    }
}

impl<V: Clone + Default> U32Map<V> {
    /// The first slot to probe (only once slots are allocated).
    #[inline]
    fn home(&self, key: u32) -> usize {
        (u64::from(key).wrapping_mul(GOLDEN) >> self.shift) as usize
    }

    /// Asks the CPU to start loading what a lookup of `key` reads (a hint
    /// only): the keys it probes first, or, once those are loaded, the
    /// value slot they lead to.
    #[inline]
    pub fn prefetch(&self, key: u32, stage: Prefetch) {
        if self.keys.is_empty() {
            return;
        }
        match stage {
            Prefetch::Keys => {
                if let Some(k) = self.keys.get(self.home(key)) {
                    prefetch_read(k);
                }
            }
            Prefetch::Values if key != 0 => {
                if let Some(v) = self.values.get(self.find(key)) {
                    prefetch_read(v);
                }
            }
            Prefetch::Values => {}
        }
    }

    /// The value of `key`, inserted as `V::default()` while the map holds
    /// fewer than `cap` entries; `None` when it is full and `key` is new.
    #[inline]
    pub fn entry(&mut self, key: u32, cap: usize) -> Option<&mut V> {
        if key == 0 {
            if self.zero.is_none() {
                if self.len() >= cap {
                    return None;
                }
                self.zero = Some(V::default());
            }
            return self.zero.as_mut();
        }
        if self.keys.is_empty() {
            self.resize(FIRST_SLOTS);
        }
        let mut i = self.find(key);
        if self.keys[i] == 0 {
            if self.len() >= cap {
                return None;
            }
            if (self.len + 1) * 8 > self.keys.len() * 7 {
                self.resize(self.keys.len() * 2);
                i = self.find(key);
            }
            self.keys[i] = key;
            self.len += 1;
        }
        Some(&mut self.values[i])
    }

    /// The slot holding `key` (not 0), or the empty slot where it would go.
    #[inline]
    fn find(&self, key: u32) -> usize {
        let mask = self.keys.len() - 1;
        let mut i = self.home(key);
        loop {
            let k = self.keys[i];
            if k == key || k == 0 {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    fn resize(&mut self, slots: usize) {
        let keys = std::mem::replace(&mut self.keys, vec![0; slots]);
        let values = std::mem::replace(&mut self.values, vec![V::default(); slots]);
        self.shift = 64 - slots.trailing_zeros();
        for (k, v) in keys.into_iter().zip(values).filter(|(k, _)| *k != 0) {
            let i = self.find(k);
            self.keys[i] = k;
            self.values[i] = v;
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.len + usize::from(self.zero.is_some())
    }

    /// Every value, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.keys
            .iter()
            .zip(&self.values)
            .filter(|(k, _)| **k != 0)
            .map(|(_, v)| v)
            .chain(self.zero.as_ref())
    }

    /// Every key and value, in no particular order.
    pub fn into_entries(self) -> impl Iterator<Item = (u32, V)> {
        self.keys
            .into_iter()
            .zip(self.values)
            .filter(|(k, _)| *k != 0)
            .chain(self.zero.map(|v| (0, v)))
    }
}

/// Whether this target has a prefetch instruction. Where it has none, the
/// callers skip the prefetch stages entirely: the `Values` stage probes the
/// map to find its slot, work that only pays when the hint is real.
pub const HAS_PREFETCH: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// Asks the CPU to start loading the cache line of `p` (a hint only).
#[inline]
pub(crate) fn prefetch_read<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that cannot fault or change memory, and
    // SSE (which provides it) is part of the x86_64 baseline.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((p as *const T).cast::<i8>());
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: PRFM is a hint in the base AArch64 instruction set: it never
    // faults (even on an unmapped address), reads no register but the
    // address and writes no memory, register or flag.
    unsafe {
        std::arch::asm!(
            "prfm pldl1keep, [{addr}]",
            addr = in(reg) (p as *const T),
            options(nostack, readonly, preserves_flags)
        );
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_a_hash_map_through_growth_and_stops_at_cap() {
        let mut m: U32Map<u64> = U32Map::default();
        let mut reference = std::collections::HashMap::new();
        for i in 0..20_000u32 {
            let addr = i.wrapping_mul(2_654_435_761) % 5_000; // repeats
            let addr = if i % 7 == 0 { 0 } else { addr << 8 };
            *m.entry(addr, usize::MAX).unwrap() += u64::from(i);
            *reference.entry(addr).or_insert(0u64) += u64::from(i);
        }
        assert_eq!(m.len(), reference.len());
        let mut got: Vec<_> = m.clone().into_entries().collect();
        got.sort_unstable();
        let mut want: Vec<_> = reference.into_iter().collect();
        want.sort_unstable();
        assert_eq!(got, want);
        let n = m.len();
        assert!(
            m.entry(0xFFFF_FFFF, n).is_none(),
            "full: a new address is refused"
        );
        assert!(m.entry(0, n).is_some(), "a known address still counts");
        for stage in [Prefetch::Keys, Prefetch::Values] {
            m.prefetch(42, stage);
            m.prefetch(0, stage);
            U32Map::<u64>::default().prefetch(42, stage);
        }
    }
}
