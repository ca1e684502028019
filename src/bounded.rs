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
