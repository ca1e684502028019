//! A whole object through the streaming reader (`analyze_reader`), as plain
//! bytes and gzip-wrapped.
//!
//! Invariants: nothing panics; an analysed object's counts add up
//! (`records = ok + nodata + skipdata + malformed`); and wrapping the bytes
//! in gzip changes nothing: the same outcome (analysed or rejected) and the
//! same counts.
#![no_main]

use std::io::{Cursor, Write};

use flate2::write::GzEncoder;
use flate2::Compression;
use flowguard::stream::{detect_encoding, Encoding};
use flowguard::{analyze_reader, AnalyzeError, Config, Counts, Report, SourceRef};
use libfuzzer_sys::fuzz_target;

/// 2025-06-26T18:20:00Z, as in the integration tests.
const NOW: u64 = 1_750_962_000;

fn run(bytes: &[u8], config: &Config) -> Result<Report, AnalyzeError> {
    analyze_reader(
        Cursor::new(bytes),
        SourceRef::Path {
            path: "fuzz/AWSLogs/123456789012/vpcflowlogs/us-east-1/x.log.gz".into(),
        },
        config,
        NOW,
        None,
    )
}

fn counts(result: &Result<Report, AnalyzeError>, what: &str) -> Option<Counts> {
    let report = result.as_ref().ok()?;
    let c = report.counts();
    assert_eq!(
        c.records,
        c.ok + c.nodata + c.skipdata + c.malformed,
        "{what}: counts do not add up: {c:?}"
    );
    Some(c)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    let plain = run(data, &config);
    let plain_counts = counts(&plain, "plain");

    let wrapped = run(&gzip(data), &config);
    let wrapped_counts = counts(&wrapped, "gzip");

    // Bytes that do not start with the gzip magic are read as text, so the
    // gzip-wrapped copy must decode to the very same object.
    if detect_encoding(data) == Encoding::Plain {
        assert_eq!(
            plain_counts, wrapped_counts,
            "plain and gzip-wrapped copies differ: plain {:?}, gzip {:?}",
            plain.as_ref().map(|_| ()).map_err(|e| e.to_string()),
            wrapped.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        );
    }
});
