//! Bounded maps: per-address state that stops growing at a configured
//! size, so a hostile object cannot exhaust memory.

use std::hash::{BuildHasher, Hash};

use rustc_hash::FxBuildHasher;

/// A map whose entries sit densely in one vector, in insertion order, with
/// a small open-addressing index of 8-byte slots beside it, bounded by the
/// caller's `cap`.
///
/// Per-source rule state is most of the memory an object with many
/// internet sources needs. A hash table of entries keeps a third to a half
/// of its slots empty, and doubles them all at once when it grows; here
/// only the index has empty slots, and the entries grow by `Vec`, whose
/// unused tail is never written, so it is never resident.
#[derive(Debug, Clone)]
pub struct DenseMap<K, V> {
    /// 0 for an empty slot, else 32 bits of the hash above the entry's
    /// position + 1.
    index: Vec<u64>,
    /// 64 - log2(index.len()).
    shift: u32,
    entries: Vec<(K, V)>,
}

impl<K, V> Default for DenseMap<K, V> {
    fn default() -> DenseMap<K, V> {
        DenseMap {
            index: Vec::new(),
            shift: 64,
            entries: Vec::new(),
        }
    }
}

/// Index slots of a new map.
const FIRST_INDEX: usize = 64;

impl<K: Hash + Eq, V: Default> DenseMap<K, V> {
    #[inline]
    fn hash(key: &K) -> u64 {
        // Fx is fast but weak in its low bits: spread them before the top
        // bits pick a slot and the low half becomes the tag.
        crate::hash::mix64(FxBuildHasher.hash_one(key))
    }

    /// The position of `key` in `entries` (as `Ok`), or the empty index
    /// slot where it would go (as `Err`). Only with an allocated index.
    #[inline]
    fn find(&self, key: &K, h: u64) -> Result<usize, usize> {
        let tag = h << 32;
        let mask = self.index.len() - 1;
        let mut i = (h >> self.shift) as usize;
        loop {
            let s = self.index[i];
            if s == 0 {
                return Err(i);
            }
            if s & !0xFFFF_FFFF == tag {
                let pos = (s as u32 - 1) as usize;
                if self.entries.get(pos).is_some_and(|(k, _)| k == key) {
                    return Ok(pos);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// The value of `key`, inserted as `V::default()` while the map holds
    /// fewer than `cap` entries; `None` when it is full and `key` is new.
    #[inline]
    pub fn entry(&mut self, key: K, cap: usize) -> Option<&mut V> {
        if self.index.is_empty() {
            if cap == 0 {
                return None;
            }
            self.grow(FIRST_INDEX);
        }
        let h = Self::hash(&key);
        let pos = match self.find(&key, h) {
            Ok(pos) => pos,
            Err(_) if self.entries.len() >= cap || self.entries.len() >= u32::MAX as usize - 1 => {
                return None
            }
            Err(mut i) => {
                // At most 3/4 full, so probes stay short.
                if (self.entries.len() + 1) * 4 > self.index.len() * 3 {
                    self.grow(self.index.len() * 2);
                    i = match self.find(&key, h) {
                        Ok(i) | Err(i) => i,
                    };
                }
                self.entries.push((key, V::default()));
                self.index[i] = h << 32 | self.entries.len() as u64;
                self.entries.len() - 1
            }
        };
        self.entries.get_mut(pos).map(|(_, v)| v)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &K) -> Option<&V> {
        if self.index.is_empty() {
            return None;
        }
        let pos = self.find(key, Self::hash(key)).ok()?;
        self.entries.get(pos).map(|(_, v)| v)
    }

    fn grow(&mut self, slots: usize) {
        self.index = vec![0; slots];
        self.shift = 64 - slots.trailing_zeros();
        let mask = slots - 1;
        for (pos, (k, _)) in self.entries.iter().enumerate() {
            let h = Self::hash(k);
            let mut i = (h >> self.shift) as usize;
            while self.index[i] != 0 {
                i = (i + 1) & mask;
            }
            self.index[i] = h << 32 | (pos as u64 + 1);
        }
    }
}

impl<K, V> DenseMap<K, V> {
    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Every entry, in insertion order, by value.
    pub fn into_entries(self) -> std::vec::IntoIter<(K, V)> {
        self.entries.into_iter()
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

/// The slot of a pair in a [`PairTable`]: up to two elements seen, or
/// [`PairSlot::PROMOTED`] once a third distinct one moved the pair to a
/// full set kept elsewhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairSlot<E> {
    /// Elements held (0, 1 or 2), or [`PairSlot::PROMOTED`].
    pub n: u8,
    /// The elements, first seen first.
    pub e: [E; 2],
}

impl<E: Copy + PartialEq> PairSlot<E> {
    /// `n` of a pair whose elements live in a full set elsewhere.
    pub const PROMOTED: u8 = 3;

    /// Adds `x`: `true` when it is a third distinct element, so the pair
    /// is promoted (the caller moves `e` and `x` to a full set).
    #[inline]
    pub fn add(&mut self, x: E) -> bool {
        let n = usize::from(self.n.min(2));
        if self.n == Self::PROMOTED || self.e[..n].contains(&x) {
            return false;
        }
        if n < 2 {
            self.e[n] = x;
            self.n += 1;
            return false;
        }
        self.n = Self::PROMOTED;
        true
    }
}

/// Pairs (a source and a destination, a source and a port) keyed by a
/// 64-bit hash, each with its first two distinct elements: the port-scan
/// rule's first stage. Most pairs of an object never see a third element,
/// so they cost 4 bytes of fingerprint and one [`PairSlot`] in a fixed
/// array allocated at its bound on first use.
#[derive(Debug, Default)]
pub struct PairTable<E> {
    tags: Vec<u32>,
    slots: Vec<PairSlot<E>>,
    len: usize,
    cap: usize,
}

impl<E: Copy + Default + PartialEq> PairTable<E> {
    /// The slot of pair `h`, created empty while fewer than `cap` pairs
    /// are held; `None` when full and `h` is new.
    #[inline]
    pub fn slot(&mut self, h: u64, cap: usize) -> Option<&mut PairSlot<E>> {
        if self.tags.is_empty() {
            self.cap = cap;
            let n = slots_for(cap);
            self.tags = vec![0; n];
            self.slots = vec![PairSlot::default(); n];
        }
        let fingerprint = ((h >> 32) as u32).max(1);
        let mask = self.tags.len() - 1;
        let mut i = h as usize & mask;
        loop {
            match self.tags[i] {
                0 if self.len >= self.cap => return None,
                0 => {
                    self.tags[i] = fingerprint;
                    self.len += 1;
                    return self.slots.get_mut(i);
                }
                t if t == fingerprint => return self.slots.get_mut(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Pairs held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no pair is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_map_counts_like_a_hash_map_and_stops_at_its_bound() {
        use std::collections::HashMap;
        use std::net::IpAddr;
        let mut m: DenseMap<IpAddr, u64> = DenseMap::default();
        let mut reference: HashMap<IpAddr, u64> = HashMap::new();
        for i in 0..50_000u32 {
            // Repeats, both families, and addresses that differ in one bit.
            let a = if i % 5 == 0 {
                IpAddr::from(u128::from(i % 3_000).to_be_bytes())
            } else {
                IpAddr::from((i.wrapping_mul(2_654_435_761) % 9_000).to_be_bytes())
            };
            *m.entry(a, usize::MAX).unwrap() += u64::from(i);
            *reference.entry(a).or_default() += u64::from(i);
        }
        assert_eq!(m.len(), reference.len());
        for (k, v) in m.iter() {
            assert_eq!(reference.get(k), Some(v));
            assert_eq!(m.get(k), Some(v));
        }
        let first: Vec<_> = m.iter().take(3).map(|(k, _)| *k).collect();
        let n = m.len();
        let new = IpAddr::from([203, 0, 113, 7]);
        assert!(m.entry(new, n).is_none(), "full: a new key is refused");
        assert_eq!(m.get(&new), None);
        assert!(
            m.entry(first[0], n).is_some(),
            "full: a known key still counts"
        );
        let order: Vec<_> = m.into_entries().take(3).map(|(k, _)| k).collect();
        assert_eq!(order, first, "insertion order");
        assert!(DenseMap::<u32, u8>::default().entry(1, 0).is_none());
        assert!(DenseMap::<u32, u8>::default().is_empty());
    }

    #[test]
    fn set_is_exact_and_stops_at_its_bound() {
        let h = crate::hash::mix64;
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
    fn pairs_keep_two_elements_then_promote() {
        let mut t: PairTable<u16> = PairTable::default();
        let h = crate::hash::mix64;
        let s = t.slot(h(1), 10).unwrap();
        assert!(!s.add(22));
        assert!(!s.add(22), "a repeat is not new");
        assert!(!s.add(80));
        assert_eq!((s.n, s.e), (2, [22, 80]));
        assert!(s.add(443), "the third distinct element promotes");
        assert!(!s.add(8080), "promoted pairs take no more");
        assert_eq!(s.n, PairSlot::<u16>::PROMOTED);
        assert_eq!(t.slot(h(1), 10).map(|s| s.n), Some(3), "same pair");
        for i in 2..=10 {
            assert!(t.slot(h(i), 10).is_some());
        }
        assert!(t.slot(h(11), 10).is_none(), "full: a new pair is refused");
        assert!(t.slot(h(5), 10).is_some(), "full: a known pair still counts");
        assert_eq!(t.len(), 10);
    }

    #[test]
    fn counter_counts_per_hash_and_stops_at_its_bound() {
        let mut c = HashCounter::default();
        let key = |i: u64| crate::hash::mix64(i);
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
