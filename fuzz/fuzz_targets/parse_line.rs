//! The line parser on arbitrary text: the first line is a header (also run
//! through `Format::detect`), every later line is a record of that format.
//! Invariants (see `checks.rs`): nothing panics, and a line that parses has a
//! typed value for every column (`RecordView::value(i)` is `Some`).
#![no_main]

#[allow(dead_code)] // each target uses part of it
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    checks::parse_line(data);
});
