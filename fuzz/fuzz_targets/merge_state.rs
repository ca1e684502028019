//! `merge_state`: see `checks::merge_state` for the invariants.
#![no_main]

#[allow(dead_code)] // each target uses part of it
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    checks::merge_state(data);
});
