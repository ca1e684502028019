//! Tests of the engine through its public API and the `flowguard` CLI:
//! parser conformance, rules, summaries, hostile input, the command line and
//! property tests. Everything reads only `tests/fixtures`.

mod cli;
mod conformance;
mod fuzz_regressions;
mod hostile;
mod property;
mod rules;
mod summaries;
mod support;
