//! The line parser on arbitrary text: the first line is a header (also run
//! through `Format::detect`), every later line is a record of that format.
//!
//! Invariants: nothing panics, and a line that parses has a typed value for
//! every column of its format (`RecordView::value(i)` is `Some`).
#![no_main]

use flowguard::flowlog::{FirstLine, Format, LineParser, RecordView};
use libfuzzer_sys::fuzz_target;

fn check(view: &RecordView<'_>, line: &[u8]) {
    let columns = view.format().columns().len();
    for i in 0..columns {
        assert!(
            view.column_text(i).is_some(),
            "column {i} of {columns} has no text on a line that parsed: {:?}",
            String::from_utf8_lossy(line)
        );
        assert!(
            view.value(i).is_some(),
            "column {i} ('{}', text {:?}) has no typed value on a line that parsed: {:?}",
            view.format().columns()[i].name(),
            view.column_text(i),
            String::from_utf8_lossy(line)
        );
    }
    assert!(view.value(columns).is_none(), "a value past the last column");
}

fn parse_all<'a>(format: Format, lines: impl Iterator<Item = &'a [u8]>) {
    let mut parser = LineParser::new(format);
    for line in lines {
        if let Ok(view) = parser.parse(line) {
            check(&view, line);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|b| *b == b'\n');
    let first = lines.next().unwrap_or_default();
    let rest = lines;

    // What the engine does with the first line of an object.
    let detected = match Format::detect(first) {
        FirstLine::Header(f) | FirstLine::Headerless(f) => Some(f),
        FirstLine::NotFlowLog(_) => None,
    };

    // The header parsed directly (no trimming), then every other line with it.
    let from_header = std::str::from_utf8(first)
        .ok()
        .and_then(|t| Format::from_header(t).ok());
    match (from_header, detected) {
        (Some(f), _) | (None, Some(f)) => parse_all(f, rest),
        // Not a flow log: still exercise the parser with the default format.
        (None, None) => parse_all(Format::default_v2(), rest),
    }
});
