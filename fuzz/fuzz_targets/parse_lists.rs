//! Threat and suppression lists (SPEC section 8) on arbitrary bytes.
//! Invariants (see `checks.rs`): nothing panics; every entry of a threat
//! list that parses is found by a lookup of its own address.
#![no_main]

#[allow(dead_code)] // each target uses part of it
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    checks::parse_lists(data);
});
