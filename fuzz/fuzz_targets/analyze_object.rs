//! A whole object through the streaming reader (`analyze_reader`), as plain
//! bytes and gzip-wrapped. Invariants (see `checks.rs`): nothing panics, an
//! analysed object's counts add up (`records = ok + nodata + skipdata +
//! malformed`), and for plain bytes neither gzip-wrapping nor the in-memory
//! `analyze_text` changes the outcome or the counts.
#![no_main]

#[allow(dead_code)] // each target uses part of it
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    checks::analyze_object(data);
});
