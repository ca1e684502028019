//! A map from 32-bit keys (IPv4 addresses, packed port keys) to counters,
//! for the tables every record touches (`talkers` twice, `ports` once).
//! Open addressing in one array of slots, with a prefetch hint: the
//! aggregator names the keys of a record a few records ahead, so the cache
//! misses of tables larger than the CPU caches overlap instead of queueing.

/// Fibonacci hashing: the multiplier spreads consecutive addresses.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
const FIRST_SLOTS: usize = 1024;

#[derive(Debug, Clone, Default)]
struct Slot<V> {
    /// 0 for an empty slot, else the key with bit 32 set.
    key: u64,
    value: V,
}

/// A `u32` key to `V`, growing by doubling, bounded by the caller's `cap`.
#[derive(Debug, Clone)]
pub struct U32Map<V> {
    slots: Vec<Slot<V>>,
    /// 64 - log2(slots.len()).
    shift: u32,
    len: usize,
}

impl<V> Default for U32Map<V> {
    fn default() -> U32Map<V> {
        U32Map {
            slots: Vec::new(),
            shift: 64,
            len: 0,
        }
    }
}

impl<V: Clone + Default> U32Map<V> {
    /// The first slot to probe (only once slots are allocated).
    #[inline]
    fn home(&self, addr: u32) -> usize {
        (u64::from(addr).wrapping_mul(GOLDEN) >> self.shift) as usize
    }

    /// Asks the CPU to start loading the slot of `addr` (a hint only).
    #[inline]
    pub fn prefetch(&self, addr: u32) {
        if !self.slots.is_empty() {
            if let Some(slot) = self.slots.get(self.home(addr)) {
                prefetch_read(slot);
            }
        }
    }

    /// The value of `addr`, inserted as `V::default()` while the map holds
    /// fewer than `cap` entries; `None` when it is full and `addr` is new.
    #[inline]
    pub fn entry(&mut self, addr: u32, cap: usize) -> Option<&mut V> {
        if self.slots.is_empty() {
            self.resize(FIRST_SLOTS);
        }
        let key = u64::from(addr) | 1 << 32;
        let mut i = self.find(key, addr);
        if self.slots[i].key == 0 {
            if self.len >= cap {
                return None;
            }
            if (self.len + 1) * 8 > self.slots.len() * 7 {
                self.resize(self.slots.len() * 2);
                i = self.find(key, addr);
            }
            self.slots[i].key = key;
            self.len += 1;
        }
        Some(&mut self.slots[i].value)
    }

    /// The slot holding `key`, or the empty slot where it would go.
    #[inline]
    fn find(&self, key: u64, addr: u32) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = self.home(addr);
        loop {
            let k = self.slots[i].key;
            if k == key || k == 0 {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    fn resize(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); slots]);
        self.shift = 64 - slots.trailing_zeros();
        for s in old.into_iter().filter(|s| s.key != 0) {
            let i = self.find(s.key, s.key as u32);
            self.slots[i] = s;
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Every value, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().filter(|s| s.key != 0).map(|s| &s.value)
    }

    /// Every key and value, in no particular order.
    pub fn into_entries(self) -> impl Iterator<Item = (u32, V)> {
        self.slots
            .into_iter()
            .filter(|s| s.key != 0)
            .map(|s| (s.key as u32, s.value))
    }
}

#[inline]
fn prefetch_read<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that cannot fault or change memory, and
    // SSE (which provides it) is part of the x86_64 baseline.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((p as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
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
        m.prefetch(42);
        U32Map::<u64>::default().prefetch(42);
    }
}
