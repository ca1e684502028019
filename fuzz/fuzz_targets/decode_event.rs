//! Lambda event payloads: arbitrary bytes, parsed as JSON, then through
//! `event::decode`. Invariant: nothing panics.
#![no_main]

use flowguard::event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = event::decode(&v);
    }
});
