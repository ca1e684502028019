//! Bounded maps: per-address state that stops growing at a configured
//! size, so a hostile object cannot exhaust memory.

use std::hash::Hash;

use rustc_hash::FxHashMap;

/// The value for `key`, inserted with `Default` if the map holds fewer than
/// `cap` entries; `None` when the map is full and the key is new. One hash
/// lookup in the common case.
#[inline]
pub fn entry<K: Hash + Eq, V: Default>(
    map: &mut FxHashMap<K, V>,
    key: K,
    cap: usize,
) -> Option<&mut V> {
    if map.len() < cap {
        Some(map.entry(key).or_default())
    } else {
        map.get_mut(&key)
    }
}

/// Slots for a table bounded at `cap` entries: a power of two, at most
/// 7/8 full.
fn slots_for(cap: usize) -> usize {
    (cap.saturating_mul(8) / 7).max(16).next_power_of_two()
}

/// A set of 64-bit hashes in one fixed array, allocated at its bound on the
/// first insert: its memory does not grow with the object and never spikes
/// on a rehash. Open addressing with linear probing. A slot keeps 32 bits
/// of the hash and its index holds more (51 bits in all at the default
/// bound), so two attempts are confused about once in 10^15 lookups.
/// 0 marks an empty slot.
#[derive(Debug, Default)]
pub struct HashSet64 {
    slots: Vec<u32>,
    len: usize,
    cap: usize,
}

impl HashSet64 {
    /// Inserts `h`: `Some(true)` if new, `Some(false)` if present, `None`
    /// when the set holds `cap` entries and `h` is new.
    #[inline]
    pub fn insert(&mut self, h: u64, cap: usize) -> Option<bool> {
        if self.slots.is_empty() {
            self.cap = cap;
            self.slots = vec![0; slots_for(cap)];
        }
        let fingerprint = ((h >> 32) as u32).max(1);
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            match self.slots[i] {
                0 if self.len >= self.cap => return None,
                0 => {
                    self.slots[i] = fingerprint;
                    self.len += 1;
                    return Some(true);
                }
                s if s == fingerprint => return Some(false),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Counters keyed by 64-bit hashes, packed in one fixed array like
/// [`HashSet64`]: each slot holds 40 bits of the hash (the slot index holds
/// more of it) and a 24-bit count that saturates.
#[derive(Debug, Default)]
pub struct HashCounter {
    slots: Vec<u64>,
    len: usize,
    cap: usize,
}

const COUNT_BITS: u32 = 24;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;

impl HashCounter {
    /// Adds one to the counter of `h` and returns it; `None` when the table
    /// holds `cap` counters and `h` is new.
    #[inline]
    pub fn increment(&mut self, h: u64, cap: usize) -> Option<u32> {
        if self.slots.is_empty() {
            self.cap = cap;
            self.slots = vec![0; slots_for(cap)];
        }
        // The tag is the hash's high 40 bits with the lowest forced on, so
        // an occupied slot is never 0.
        let tag = (h >> COUNT_BITS) | 1;
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                if self.len >= self.cap {
                    return None;
                }
                self.slots[i] = tag << COUNT_BITS | 1;
                self.len += 1;
                return Some(1);
            }
            if s >> COUNT_BITS == tag {
                let n = ((s & COUNT_MAX) + 1).min(COUNT_MAX);
                self.slots[i] = tag << COUNT_BITS | n;
                return Some(n as u32);
            }
            i = (i + 1) & mask;
        }
    }

    /// Counters held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no counter is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_is_exact_and_stops_at_its_bound() {
        let h = crate::summary::mix64;
        let mut s = HashSet64::default();
        for i in 0..100u64 {
            assert_eq!(s.insert(h(i), 100), Some(true));
        }
        for i in 0..100u64 {
            assert_eq!(s.insert(h(i), 100), Some(false));
        }
        assert_eq!(s.insert(h(1000), 100), None, "full: a new hash is refused");
        assert_eq!(s.len(), 100);
        // Hashes that share a slot index are told apart by their fingerprint.
        let mut s = HashSet64::default();
        assert_eq!(s.insert(1 << 40, 10), Some(true));
        assert_eq!(s.insert(2 << 40, 10), Some(true));
        assert_eq!(s.insert(1 << 40, 10), Some(false));
    }

    #[test]
    fn counter_counts_per_hash_and_stops_at_its_bound() {
        let mut c = HashCounter::default();
        let key = |i: u64| crate::summary::mix64(i);
        for round in 1..=3u32 {
            for i in 0..50 {
                assert_eq!(c.increment(key(i), 50), Some(round));
            }
        }
        assert_eq!(c.increment(key(99), 50), None);
        assert_eq!(c.len(), 50);
        // Keys that share a slot index still count apart.
        let mut c = HashCounter::default();
        assert_eq!(c.increment(1 << 40, 10), Some(1));
        assert_eq!(c.increment(2 << 40, 10), Some(1));
        assert_eq!(c.increment(1 << 40, 10), Some(2));
    }
}
