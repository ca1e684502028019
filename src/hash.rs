//! Stable hash functions shared by the rules, the summaries and the bounded
//! maps: a leaf module, so every layer can use them without importing
//! another.

use std::net::IpAddr;

/// The SplitMix64 finaliser: spreads any 64-bit value over all bits.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A well-mixed 64-bit hash of an address (SplitMix64 finaliser over its
/// bits), so sketch registers are uniform.
#[inline]
pub fn addr_hash(a: IpAddr) -> u64 {
    let x: u128 = match a {
        IpAddr::V4(v) => u128::from(u32::from(v)) | (1u128 << 100),
        IpAddr::V6(v) => u128::from(v),
    };
    mix64((x as u64) ^ ((x >> 64) as u64).rotate_left(29) ^ 0x9E37_79B9_7F4A_7C15)
}

/// FNV-1a, 64 bit: a stable hash that does not depend on the platform or
/// the Rust version, for identifiers that must not change (finding ids).
pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_the_reference_function() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn address_families_hash_apart() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let v6: IpAddr = "::a00:1".parse().unwrap_or(IpAddr::from([0u8; 16]));
        assert_ne!(addr_hash(v4), addr_hash(v6));
        assert_eq!(mix64(0), 0);
    }
}
