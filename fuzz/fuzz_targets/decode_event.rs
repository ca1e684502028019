//! Lambda event payloads: arbitrary bytes, parsed as JSON, then through
//! `event::decode`. Invariant: nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

// `flowguard::event` exists only with the crate's `aws` feature, which also
// builds the AWS SDK and the Lambda runtime (more than 8 minutes with
// sanitizers on this machine). The module itself needs only serde,
// serde_json and aws_lambda_events, so by default the very same source file
// is compiled into this target. With `--features aws` the crate's own module
// is used instead.
#[cfg(feature = "aws")]
use flowguard::event;
#[cfg(not(feature = "aws"))]
#[path = "../../src/event.rs"]
#[allow(dead_code, unused_imports, missing_docs)]
mod event;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = event::decode(&v);
    }
});
