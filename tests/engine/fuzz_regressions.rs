//! Replays every saved fuzz input in `tests/fixtures/fuzz-regressions/`
//! (`<target>-<n>.bin`) through the same checks as the cargo-fuzz target
//! that found it: nothing panics, counts add up, gzip-wrapping changes
//! nothing. The checks are the fuzzers' own (`fuzz/fuzz_targets/checks.rs`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use flowguard::flowlog::{FirstLine, Format, LineError, LineParser};
use flowguard::Counts;

use super::support::fixture;

#[path = "../../fuzz/fuzz_targets/checks.rs"]
mod checks;

/// Every `*.bin` in the folder with its target name, sorted.
fn saved_inputs() -> Vec<(String, PathBuf)> {
    let dir = fixture("fuzz-regressions");
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            let target = stem
                .rsplit_once('-')
                .map_or(stem.as_str(), |(t, _)| t)
                .to_string();
            (target, p)
        })
        .collect();
    out.sort();
    out
}

fn read(name: &str) -> Vec<u8> {
    let path = fixture("fuzz-regressions").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[cfg(feature = "aws")]
fn decode_event(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = flowguard::event::decode(&v);
    }
}

#[cfg(not(feature = "aws"))]
fn decode_event(data: &[u8]) {
    // The event decoder is built only with the `aws` feature; the input must
    // still be there and readable.
    let _ = data;
}

#[test]
fn every_saved_fuzz_input_replays_cleanly() {
    let inputs = saved_inputs();
    assert!(
        !inputs.is_empty(),
        "no saved inputs in tests/fixtures/fuzz-regressions"
    );
    let mut failures = Vec::new();
    for (target, path) in &inputs {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let run = catch_unwind(AssertUnwindSafe(|| match target.as_str() {
            "parse_line" => checks::parse_line(&data),
            "analyze_object" => {
                checks::analyze_object(&data);
            }
            "decode_event" => decode_event(&data),
            "parse_lists" => checks::parse_lists(&data),
            "build_asff" => checks::build_asff(&data),
            "build_event" => checks::build_event(&data),
            "merge_state" => checks::merge_state(&data),
            other => panic!("unknown fuzz target '{other}': name files <target>-<n>.bin"),
        }));
        if let Err(panic) = run {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "replays failed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn hostile_header_and_lines_are_rejected_not_fatal() {
    let data = read("parse_line-1.bin");
    let mut lines = data.split(|b| *b == b'\n');
    let header = lines.next().unwrap();
    assert_eq!(header.split(|b| *b == b' ').count(), 300);
    let err = Format::from_header(std::str::from_utf8(header).unwrap()).unwrap_err();
    assert!(err.contains("256"), "{err}");
    assert!(matches!(Format::detect(header), FirstLine::NotFlowLog(_)));

    let mut parser = LineParser::new(Format::default_v2());
    let results: Vec<Result<(), LineError>> = lines
        .filter(|l| !l.is_empty())
        .map(|l| parser.parse(l).map(|_| ()))
        .collect();
    assert_eq!(
        results,
        vec![
            Err(LineError::TooLong), // 100,000 spaces
            Err(LineError::TooLong), // 100,000-byte token
            Ok(()),
            Err(LineError::ColumnCount {
                expected: 14,
                found: 300
            }),
            Err(LineError::InvalidUtf8),
            Ok(()), // CRLF
        ]
    );
}

#[test]
fn hostile_object_counts_add_up_exactly() {
    assert_eq!(
        checks::analyze_object(&read("analyze_object-1.bin")),
        Some(Counts {
            records: 9,
            ok: 3,
            nodata: 1,
            skipdata: 1,
            malformed: 4,
        })
    );
    // A 300-field header: not a flow log, plain or gzip-wrapped.
    assert_eq!(checks::analyze_object(&read("analyze_object-2.bin")), None);
}

/// The checks of the sink and state targets (`build_asff`, `build_event`,
/// `merge_state`) on pseudo-random inputs of every length up to 8 KiB, so
/// `make test` runs them even when no fuzzer has.
#[test]
fn sink_and_merge_checks_hold_on_pseudo_random_inputs() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..300 {
        let len = (next() % 8192) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let long_texts: Vec<u8> = data.iter().map(|b| b | 0xc0).collect();
        for d in [&data, &long_texts] {
            let run = catch_unwind(AssertUnwindSafe(|| {
                checks::build_asff(d);
                checks::build_event(d);
                checks::merge_state(d);
            }));
            assert!(run.is_ok(), "input {i} of {len} bytes");
        }
    }
}
