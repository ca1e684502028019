//! The invariants the fuzz targets check, shared with the replay test
//! `tests/engine/fuzz_regressions.rs` (which includes this file by path), so
//! a saved input goes through exactly the code path that found it.
//!
//! Depends only on `flowguard` and `flate2` (a dependency of flowguard).

use std::io::{Cursor, Write};

use flate2::write::GzEncoder;
use flate2::Compression;
use flowguard::flowlog::{FirstLine, Format, LineParser, RecordView};
use flowguard::intel::{parse_suppress_list, parse_threat_list, ThreatSet};
use flowguard::stream::{detect_encoding, Encoding};
use flowguard::{analyze_reader, analyze_text, AnalyzeError, Config, Counts, Report, SourceRef};

/// 2025-06-26T18:20:00Z, as in the integration tests.
pub const NOW: u64 = 1_750_962_000;

/// `parse_line`: the first line is a header (also run through
/// `Format::detect`), every later line a record of that format. Nothing may
/// panic, and a line that parses has a typed value for every column.
pub fn parse_line(data: &[u8]) {
    let mut lines = data.split(|b| *b == b'\n');
    let first = lines.next().unwrap_or_default();

    // What the engine does with the first line of an object.
    let detected = match Format::detect(first) {
        FirstLine::Header(f) | FirstLine::Headerless(f) => Some(f),
        FirstLine::NotFlowLog(_) => None,
    };
    // The header parsed directly (no trimming), then every other line with
    // it; if it is no header, the detected format, else the default one.
    let from_header = std::str::from_utf8(first)
        .ok()
        .and_then(|t| Format::from_header(t).ok());
    let format = from_header.or(detected).unwrap_or_else(Format::default_v2);

    let mut parser = LineParser::new(format);
    for line in lines {
        if let Ok(view) = parser.parse(line) {
            check_view(&view, line);
        }
    }
}

fn check_view(view: &RecordView<'_>, line: &[u8]) {
    let columns = view.format().columns();
    for (i, column) in columns.iter().enumerate() {
        assert!(
            view.column_text(i).is_some(),
            "column {i} ('{}') has no text on a line that parsed: {:?}",
            column.name(),
            String::from_utf8_lossy(line)
        );
        assert!(
            view.value(i).is_some(),
            "column {i} ('{}', text {:?}) has no typed value on a line that parsed: {:?}",
            column.name(),
            view.column_text(i),
            String::from_utf8_lossy(line)
        );
    }
    assert!(
        view.value(columns.len()).is_none(),
        "a value past the last column"
    );
}

/// `analyze_object`: the bytes through `analyze_reader`, as they are and
/// gzip-wrapped. Nothing may panic; an analysed object's counts add up
/// (`records = ok + nodata + skipdata + malformed`); and bytes that are not
/// gzip themselves give the same outcome and counts both ways, and the same
/// as the in-memory `analyze_text`. Returns the counts of the plain run
/// (`None` if the object was rejected).
pub fn analyze_object(data: &[u8]) -> Option<Counts> {
    let config = Config::default();
    let plain = run(data, &config);
    let plain_counts = counts(&plain, "plain");

    let wrapped = run(&gzip(data), &config);
    let wrapped_counts = counts(&wrapped, "gzip-wrapped");

    // Bytes without the gzip magic are read as text, so the gzip-wrapped
    // copy decodes to the very same object.
    if detect_encoding(data) == Encoding::Plain {
        assert_eq!(
            plain_counts,
            wrapped_counts,
            "plain and gzip-wrapped copies differ: plain {:?}, gzip-wrapped {:?}",
            plain.as_ref().map(|_| ()).map_err(|e| e.to_string()),
            wrapped.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        );
        // The streaming reader and the in-memory engine agree.
        let text = analyze_text(data, source(), &config, NOW);
        assert_eq!(
            plain_counts,
            counts(&text, "analyze_text"),
            "analyze_reader and analyze_text differ: reader {:?}, text {:?}",
            plain.as_ref().map(|_| ()).map_err(|e| e.to_string()),
            text.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        );
    }
    plain_counts
}

fn run(bytes: &[u8], config: &Config) -> Result<Report, AnalyzeError> {
    analyze_reader(Cursor::new(bytes), source(), config, NOW, None)
}

fn source() -> SourceRef {
    SourceRef::Path {
        path: "fuzz/AWSLogs/123456789012/vpcflowlogs/us-east-1/x.log.gz".into(),
    }
}

fn counts(result: &Result<Report, AnalyzeError>, what: &str) -> Option<Counts> {
    let c = result.as_ref().ok()?.counts();
    assert_eq!(
        c.records,
        c.ok + c.nodata + c.skipdata + c.malformed,
        "{what}: counts do not add up: {c:?}"
    );
    Some(c)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

/// `parse_lists`: the bytes as a suppression list and as a threat list (lists
/// come from S3 objects an operator or a feed job writes). Nothing may
/// panic, and every entry of a threat list that parses is found by a lookup
/// of its own address once the list is merged.
pub fn parse_lists(data: &[u8]) {
    let _ = parse_suppress_list("fuzz.csv", "fuzz.csv", data);
    let Ok(list) = parse_threat_list("fuzz.csv", "fuzz.csv", data) else {
        return;
    };
    let set = ThreatSet::build([&list]);
    for e in &list.entries {
        let found = set.lookup(e.net.addr());
        assert!(found.is_some(), "{} is listed but not found", e.net);
        assert!(set.listing(found.unwrap_or_default()).is_some());
    }
}
