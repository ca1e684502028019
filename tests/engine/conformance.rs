//! The conformance fixtures of `tests/fixtures/conformance` (see its
//! README): every expected field of every record equals the parser's typed
//! value, malformed lines are parse errors, and the engine's counts agree.

use std::net::IpAddr;

use flowguard::flowlog::{FirstLine, Format, LineParser, Value, DEFAULT_V2};
use flowguard::{analyze_text, AnalyzeError, Config};
use serde_json::Value as Json;

use super::support::{fixture, path_source, NOW};

struct Fixture {
    name: String,
    header: Option<String>,
    lines: Vec<String>,
    expected: Vec<Json>,
    object_error: bool,
}

fn load_all() -> Vec<Fixture> {
    let dir = fixture("conformance");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let v: Json =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            Fixture {
                name: p.file_name().unwrap().to_string_lossy().into_owned(),
                header: v["header"].as_str().map(str::to_string),
                lines: v["lines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap().to_string())
                    .collect(),
                expected: v["expected"].as_array().unwrap().clone(),
                object_error: v["object_error"].as_bool().unwrap(),
            }
        })
        .collect()
}

impl Fixture {
    /// The object text: header (if any) and lines joined with `\n`.
    fn text(&self) -> String {
        let mut all: Vec<&str> = Vec::new();
        if let Some(h) = &self.header {
            all.push(h);
        }
        all.extend(self.lines.iter().map(String::as_str));
        all.join("\n")
    }

    /// Field names in column order.
    fn fields(&self) -> Vec<String> {
        match &self.header {
            Some(h) => h
                .split(' ')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
            None => DEFAULT_V2.iter().map(|f| f.name().to_string()).collect(),
        }
    }

    fn is_malformed(e: &Json) -> bool {
        e.get("malformed") == Some(&Json::Bool(true))
    }

    fn count(&self, pred: impl Fn(&Json) -> bool) -> u64 {
        self.expected.iter().filter(|e| pred(e)).count() as u64
    }
}

const ADDR_FIELDS: [&str; 4] = ["srcaddr", "dstaddr", "pkt-srcaddr", "pkt-dstaddr"];

/// The typed value a fixture's JSON value stands for.
fn want_value<'a>(field: &str, v: &'a Json) -> Value<'a> {
    match v {
        Json::Null => Value::Null,
        Json::Number(n) => Value::Int(
            n.as_u64()
                .unwrap_or_else(|| panic!("{field}: {n} is not a u64")),
        ),
        Json::String(s) if ADDR_FIELDS.contains(&field) => Value::Addr(
            s.parse::<IpAddr>()
                .unwrap_or_else(|e| panic!("{field}: {s}: {e}")),
        ),
        Json::String(s) => Value::Text(s),
        other => panic!("{field}: unexpected JSON {other}"),
    }
}

#[test]
fn fixtures_are_present() {
    let all = load_all();
    assert!(
        all.len() >= 50,
        "only {} conformance fixtures found",
        all.len()
    );
    assert!(all.iter().any(|f| f.object_error));
    assert!(all
        .iter()
        .any(|f| f.expected.iter().any(Fixture::is_malformed)));
}

#[test]
fn line_parser_gives_every_expected_typed_value() {
    let mut fields_checked = 0usize;
    let mut records_checked = 0usize;
    let mut malformed_checked = 0usize;
    for fx in load_all().iter().filter(|f| !f.object_error) {
        let format = match &fx.header {
            Some(h) => match Format::detect(h.as_bytes()) {
                FirstLine::Header(f) => f,
                other => panic!("{}: header not recognised: {other:?}", fx.name),
            },
            None => match Format::detect(fx.lines[0].as_bytes()) {
                FirstLine::Headerless(f) => f,
                other => panic!(
                    "{}: first line should be a headerless v2 record: {other:?}",
                    fx.name
                ),
            },
        };
        assert_eq!(format.has_header(), fx.header.is_some(), "{}", fx.name);
        let names = fx.fields();
        assert_eq!(
            format
                .columns()
                .iter()
                .map(|c| c.name().to_string())
                .collect::<Vec<_>>(),
            names,
            "{}: columns",
            fx.name
        );
        let mut parser = LineParser::new(format);
        assert_eq!(fx.lines.len(), fx.expected.len(), "{}", fx.name);
        for (i, (line, want)) in fx.lines.iter().zip(&fx.expected).enumerate() {
            let at = format!("{} line {}: {line:?}", fx.name, i + 1);
            let got = parser.parse(line.as_bytes());
            if Fixture::is_malformed(want) {
                assert!(got.is_err(), "{at}: expected a parse error, got {got:?}");
                malformed_checked += 1;
                continue;
            }
            let view = got.unwrap_or_else(|e| panic!("{at}: {e}"));
            let obj = want
                .as_object()
                .unwrap_or_else(|| panic!("{at}: expected entry is not an object"));
            assert_eq!(
                obj.len(),
                names.len(),
                "{at}: expected entry has the header's fields"
            );
            for (col, name) in names.iter().enumerate() {
                let w = obj
                    .get(name)
                    .unwrap_or_else(|| panic!("{at}: no expected value for {name}"));
                let want_v = want_value(name, w);
                let got_v = view.value(col);
                assert_eq!(got_v, Some(want_v), "{at}: field {name} (column {col})");
                fields_checked += 1;
            }
            assert_eq!(
                view.value(names.len()),
                None,
                "{at}: no column past the last"
            );
            records_checked += 1;
        }
    }
    // Lower bounds at the fixtures' size when written: a fixture that is
    // silently skipped shows up here.
    assert!(
        fields_checked >= 3143 && records_checked >= 166 && malformed_checked >= 20,
        "checked {fields_checked} fields of {records_checked} records and {malformed_checked} malformed lines"
    );
    eprintln!("conformance: {fields_checked} fields of {records_checked} records, {malformed_checked} malformed lines");
}

#[test]
fn engine_counts_match_every_fixture() {
    let config = Config::default();
    let mut objects = 0;
    let mut rejected = 0;
    for fx in load_all() {
        let text = fx.text();
        let result = analyze_text(text.as_bytes(), path_source(&fx.name), &config, NOW);
        if fx.object_error {
            match result {
                Err(AnalyzeError::NotFlowLog { object, reason }) => {
                    assert_eq!(object, path_source(&fx.name));
                    assert!(!reason.is_empty());
                    let msg = AnalyzeError::NotFlowLog { object, reason }.to_string();
                    assert!(msg.contains(&fx.name), "{msg}");
                }
                other => panic!("{}: expected NotFlowLog, got {other:?}", fx.name),
            }
            rejected += 1;
            continue;
        }
        let report = result.unwrap_or_else(|e| panic!("{}: {e}", fx.name));
        let c = report.files.counts;
        let status =
            |s: &'static str| move |e: &Json| e.get("log-status") == Some(&Json::String(s.into()));
        let malformed = fx.count(Fixture::is_malformed);
        let nodata = fx.count(status("NODATA"));
        let skipdata = fx.count(status("SKIPDATA"));
        let records = fx.lines.len() as u64;
        assert_eq!(c.records, records, "{}: records", fx.name);
        assert_eq!(c.malformed, malformed, "{}: malformed", fx.name);
        assert_eq!(c.nodata, nodata, "{}: nodata", fx.name);
        assert_eq!(c.skipdata, skipdata, "{}: skipdata", fx.name);
        assert_eq!(
            c.ok,
            records - malformed - nodata - skipdata,
            "{}: ok",
            fx.name
        );
        assert_eq!(
            c.records,
            c.ok + c.nodata + c.skipdata + c.malformed,
            "{}",
            fx.name
        );
        assert_eq!(
            report.files.malformed_samples.len() as u64,
            malformed.min(5),
            "{}: samples {:?}",
            fx.name,
            report.files.malformed_samples
        );
        // Samples carry the line number in the object (the header is line 1).
        let offset = u64::from(fx.header.is_some());
        let first_bad = fx.expected.iter().position(Fixture::is_malformed);
        if let Some(i) = first_bad {
            let want = format!("line {}: ", i as u64 + 1 + offset);
            assert!(
                report.files.malformed_samples[0].starts_with(&want),
                "{}: sample {:?} should start with {want:?}",
                fx.name,
                report.files.malformed_samples[0]
            );
        }
        assert_eq!(report.files.fields, fx.fields(), "{}: fields", fx.name);
        if skipdata > 0 {
            let f = report
                .findings
                .iter()
                .find(|f| f.rule.as_str() == "skipped-records")
                .unwrap_or_else(|| {
                    panic!("{}: SKIPDATA without a skipped-records finding", fx.name)
                });
            assert_eq!(f.flows, skipdata, "{}", fx.name);
        } else {
            assert!(
                report
                    .findings
                    .iter()
                    .all(|f| f.rule.as_str() != "skipped-records"),
                "{}",
                fx.name
            );
        }
        objects += 1;
    }
    assert!(
        objects >= 40 && rejected >= 5,
        "{objects} objects analysed, {rejected} rejected"
    );
}
