//! `build_asff`: see `checks::build_asff` for the invariants.
#![no_main]

#[allow(dead_code)] // each target uses part of it
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    checks::build_asff(data);
});
