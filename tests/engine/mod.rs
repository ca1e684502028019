//! Tests of the engine through its public API and the `flowguard` CLI:
//! parser conformance, rules, summaries, hostile input, the command line,
//! property tests, and the three shapes of object (text, Parquet,
//! CloudWatch Logs exports). Everything reads only `tests/fixtures`.

mod cli;
mod conformance;
mod docs;
mod formats;
mod fuzz_regressions;
mod hostile;
mod intel;
mod outbound;
mod property;
mod rules;
mod shapes;
mod summaries;
mod support;
mod untrusted;
