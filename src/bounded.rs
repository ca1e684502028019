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

/// A pair of a [`PairTable`]: its first two distinct elements, or a mark
/// that a third moved it to a full set kept elsewhere (promoted).
#[derive(Debug)]
pub struct PairEntry<'a, E> {
    /// The pair's hash in the upper 62 bits, elements held (0, 1, 2, or
    /// [`PROMOTED`]) in the lower 2.
    tag: &'a mut u64,
    e: &'a mut [E; 2],
}

/// The element count of a promoted pair.
const PROMOTED: u64 = 3;

impl<E: Copy + PartialEq> PairEntry<'_, E> {
    /// Whether a third distinct element promoted the pair.
    pub fn promoted(&self) -> bool {
        *self.tag & 3 == PROMOTED
    }

    /// The elements held (none once promoted).
    pub fn elements(&self) -> &[E] {
        match *self.tag & 3 {
            n @ (1 | 2) => &self.e[..n as usize],
            _ => &[],
        }
    }

    /// Adds `x`: `true` when it is a third distinct element, so the pair
    /// is promoted (the caller moves [`PairEntry::elements`], read before,
    /// and `x` to a full set).
    #[inline]
    pub fn add(&mut self, x: E) -> bool {
        if self.promoted() || self.elements().contains(&x) {
            return false;
        }
        let n = *self.tag & 3;
        if n < 2 {
            self.e[n as usize] = x;
            *self.tag += 1;
            return false;
        }
        *self.tag |= PROMOTED;
        true
    }
}

/// Slots a new table starts with.
const FIRST_PAIR_SLOTS: usize = 512;

/// Pairs (a source and a destination, a source and a port) keyed by a
/// 64-bit hash, each with its first two distinct elements: the scan rules'
/// first stage. Most pairs of an object never see a third element, so they
/// cost an 8-byte tag and two elements in flat arrays, which grow with the
/// pairs held up to their bound: an object with few attempts pays for few.
#[derive(Debug, Default)]
pub struct PairTable<E> {
    /// 0 for an empty slot, else the hash's upper 62 bits and the count.
    tags: Vec<u64>,
    elements: Vec<[E; 2]>,
    len: usize,
}

impl<E: Copy + Default + PartialEq> PairTable<E> {
    /// The entry of pair `h`, created empty while fewer than `cap` pairs
    /// are held; `None` when full and `h` is new.
    #[inline]
    pub fn entry(&mut self, h: u64, cap: usize) -> Option<PairEntry<'_, E>> {
        // Never 0 (an empty slot): a hash of 0 is taken as 4.
        let key = (h & !3).max(4);
        if self.tags.is_empty() {
            self.resize(FIRST_PAIR_SLOTS.min(slots_for(cap)));
        }
        let i = match self.find(key) {
            Ok(i) => i,
            Err(_) if self.len >= cap => return None,
            Err(mut i) => {
                // At most 7/8 full, so probes stay short.
                if (self.len + 1) * 8 > self.tags.len() * 7 {
                    self.resize(self.tags.len() * 2);
                    i = match self.find(key) {
                        Ok(i) | Err(i) => i,
                    };
                }
                self.tags[i] = key;
                self.len += 1;
                i
            }
        };
        Some(PairEntry {
            tag: self.tags.get_mut(i)?,
            e: self.elements.get_mut(i)?,
        })
    }

    /// The slot of `key` (as `Ok`), or the empty slot where it would go.
    #[inline]
    fn find(&self, key: u64) -> Result<usize, usize> {
        let mask = self.tags.len() - 1;
        let mut i = (key >> 2) as usize & mask;
        loop {
            match self.tags[i] {
                0 => return Err(i),
                t if t & !3 == key => return Ok(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn resize(&mut self, slots: usize) {
        let tags = std::mem::replace(&mut self.tags, vec![0; slots]);
        let elements = std::mem::replace(&mut self.elements, vec![[E::default(); 2]; slots]);
        for (t, e) in tags.into_iter().zip(elements) {
            if t != 0 {
                if let Err(i) = self.find(t & !3) {
                    self.tags[i] = t;
                    self.elements[i] = e;
                }
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
    fn pairs_keep_two_elements_then_promote() {
        let mut t: PairTable<u16> = PairTable::default();
        let h = crate::hash::mix64;
        let mut s = t.entry(h(1), 10).unwrap();
        assert!(!s.add(22));
        assert!(!s.add(22), "a repeat is not new");
        assert!(!s.add(80));
        assert_eq!(s.elements(), [22, 80]);
        assert!(s.add(443), "the third distinct element promotes");
        assert!(!s.add(8080), "promoted pairs take no more");
        assert!(s.promoted() && s.elements().is_empty());
        assert!(t.entry(h(1), 10).is_some_and(|s| s.promoted()), "same pair");
        for i in 2..=10 {
            assert!(t.entry(h(i), 10).is_some_and(|s| !s.promoted()));
        }
        assert!(t.entry(h(11), 10).is_none(), "full: a new pair is refused");
        assert!(
            t.entry(h(5), 10).is_some(),
            "full: a known pair still counts"
        );
        assert_eq!(t.len(), 10);
    }
}
