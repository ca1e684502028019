//! Property tests: (a) no input makes the engine panic, and the counts
//! always add up; (b) any valid record written under any subset and order
//! of the v2..v5 fields parses back to the same typed values.

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use flowguard::flowlog::{FirstLine, Format, LineParser, Value};
use flowguard::{analyze_reader, analyze_text, AnalyzeError, Config, Report};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

use super::support::{gzip, path_source, NOW, V2_HEADER};

/// `cases` per property, or `PROPTEST_CASES` for a longer run.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        // Keep failures reproducible from the printed seed, without writing
        // regression files into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn counts_add_up(r: &Result<Report, AnalyzeError>) -> Result<(), TestCaseError> {
    if let Ok(r) = r {
        let c = r.files.counts;
        prop_assert_eq!(
            c.records,
            c.ok + c.nodata + c.skipdata + c.malformed,
            "{:?}",
            c
        );
    }
    Ok(())
}

/// Non-blank lines of `text` (blank: only spaces, tabs and `\r`).
fn non_blank_lines(text: &[u8]) -> u64 {
    text.split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')))
        .count() as u64
}

/// Tokens that look like flow-log values, good and bad, so random lines
/// reach the parser's value checks and not only the column count.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-".to_string()),
        Just("2".to_string()),
        Just("ACCEPT".to_string()),
        Just("REJECT".to_string()),
        Just("OK".to_string()),
        Just("NODATA".to_string()),
        Just("SKIPDATA".to_string()),
        Just("ingress".to_string()),
        Just("srcaddr".to_string()),
        Just("\r".to_string()),
        Just("".to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<u16>().prop_map(|n| n.to_string()),
        any::<Ipv4Addr>().prop_map(|a| a.to_string()),
        any::<Ipv6Addr>().prop_map(|a| a.to_string()),
        "[a-z0-9.:-]{1,12}",
        any::<u8>().prop_map(|b| String::from_utf8_lossy(&[b]).into_owned()),
    ]
}

/// A line of 0..20 tokens (14 more often than chance).
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(token(), 0..20),
        proptest::collection::vec(token(), 14..=14),
    ]
    .prop_map(|t| t.join(" "))
}

/// Arbitrary bytes, or lines of flow-log-like tokens.
fn object_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        proptest::collection::vec(line(), 0..30).prop_map(|l| l.join("\n").into_bytes()),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_bytes_never_panic_and_counts_add_up(body in object_body(), with_header in any::<bool>()) {
        let mut text = Vec::new();
        if with_header {
            text.extend_from_slice(V2_HEADER.as_bytes());
            text.push(b'\n');
        }
        text.extend_from_slice(&body);
        let cfg = Config::default();
        let from_text = analyze_text(&text, path_source("p.log"), &cfg, NOW);
        counts_add_up(&from_text)?;
        let plain = analyze_reader(Cursor::new(text.clone()), path_source("p.log"), &cfg, NOW, None);
        counts_add_up(&plain)?;
        let zipped = analyze_reader(Cursor::new(gzip(&text)), path_source("p.log"), &cfg, NOW, None);
        counts_add_up(&zipped)?;
        // Plain bytes that happen to start with the gzip magic are a read error.
        if !text.starts_with(&[0x1f, 0x8b]) {
            for other in [&plain, &zipped] {
                match (&from_text, other) {
                    (Ok(a), Ok(b)) => {
                        prop_assert_eq!(a.files.counts, b.files.counts);
                        prop_assert_eq!(&a.findings, &b.findings);
                    }
                    (Err(AnalyzeError::NotFlowLog { .. }), Err(AnalyzeError::NotFlowLog { .. })) => {}
                    (a, b) => prop_assert!(false, "text and reader disagree: {:?} vs {:?}", a.as_ref().err(), b.as_ref().err()),
                }
            }
        }
        if with_header {
            // Every non-blank line after the header is a record.
            let r = from_text.expect("a valid header makes a flow log");
            prop_assert_eq!(r.files.counts.records, non_blank_lines(&text) - 1);
        }
    }

    #[test]
    fn gzip_garbage_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        // gzip magic followed by noise: a read error or, rarely, a result.
        let mut bytes = vec![0x1f, 0x8b];
        bytes.extend_from_slice(&body);
        let r = analyze_reader(Cursor::new(bytes), path_source("g.log.gz"), &Config::default(), NOW, None);
        counts_add_up(&r)?;
    }
}

/// One column of a generated record: the header name, the text written and
/// the typed value it must parse to.
#[derive(Debug, Clone)]
struct Col {
    name: &'static str,
    text: String,
    want: Want,
}

#[derive(Debug, Clone, PartialEq)]
enum Want {
    Null,
    Int(u64),
    Addr(IpAddr),
    Text(String),
}

fn addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<Ipv4Addr>().prop_map(IpAddr::V4),
        any::<Ipv6Addr>().prop_map(IpAddr::V6)
    ]
}

fn text_value() -> impl Strategy<Value = String> {
    // Any characters but separators; `-` alone means null.
    "[^ \r\n]{1,16}".prop_filter("not the null marker", |s| s != "-")
}

fn col(name: &'static str, value: impl Strategy<Value = Want> + 'static) -> BoxedStrategy<Col> {
    prop_oneof![
        1 => Just(Want::Null),
        6 => value,
    ]
    .prop_map(move |want| {
        let text = match &want {
            Want::Null => "-".to_string(),
            Want::Int(n) => n.to_string(),
            Want::Addr(a) => a.to_string(),
            Want::Text(t) => t.clone(),
        };
        Col { name, text, want }
    })
    .boxed()
}

fn int(max: u64) -> impl Strategy<Value = Want> {
    prop_oneof![Just(0), Just(max), 0..=max].prop_map(Want::Int)
}

fn word(words: &'static [&'static str]) -> impl Strategy<Value = Want> {
    proptest::sample::select(words).prop_map(|w| Want::Text(w.to_string()))
}

/// The 29 fields of versions 2 to 5, each with a value.
fn v5_record() -> impl Strategy<Value = Vec<Col>> {
    let text = || text_value().prop_map(Want::Text);
    let ip = || addr().prop_map(Want::Addr);
    let cols: Vec<BoxedStrategy<Col>> = vec![
        col("version", int(u64::from(u8::MAX))),
        col("account-id", "[0-9]{12}".prop_map(Want::Text)),
        col("interface-id", text()),
        col("srcaddr", ip()),
        col("dstaddr", ip()),
        col("srcport", int(u64::from(u16::MAX))),
        col("dstport", int(u64::from(u16::MAX))),
        col("protocol", int(u64::from(u8::MAX))),
        col("packets", int(u64::MAX)),
        col("bytes", int(u64::MAX)),
        col("start", int(u64::MAX)),
        col("end", int(u64::MAX)),
        col("action", word(&["ACCEPT", "REJECT"])),
        col("log-status", word(&["OK", "NODATA", "SKIPDATA"])),
        col("vpc-id", text()),
        col("subnet-id", text()),
        col("instance-id", text()),
        col("tcp-flags", int(u64::from(u16::MAX))),
        col("type", word(&["IPv4", "IPv6", "EFA"])),
        col("pkt-srcaddr", ip()),
        col("pkt-dstaddr", ip()),
        col("region", text()),
        col("az-id", text()),
        col(
            "sublocation-type",
            word(&["wavelength", "outpost", "localzone"]),
        ),
        col("sublocation-id", text()),
        col("pkt-src-aws-service", text()),
        col("pkt-dst-aws-service", text()),
        col("flow-direction", word(&["ingress", "egress"])),
        col("traffic-path", int(u64::from(u8::MAX))),
    ];
    cols
}

/// A subset of the columns in a random order, with random separators.
fn custom_record() -> impl Strategy<Value = (Vec<Col>, Vec<usize>, bool)> {
    v5_record()
        .prop_flat_map(|cols| {
            let n = cols.len();
            let order =
                proptest::sample::subsequence((0..n).collect::<Vec<_>>(), 1..=n).prop_shuffle();
            (
                Just(cols),
                order,
                proptest::collection::vec(1usize..4, n + 1),
                any::<bool>(),
            )
        })
        .prop_map(|(cols, order, gaps, crlf)| {
            let picked: Vec<Col> = order.iter().map(|&i| cols[i].clone()).collect();
            (picked, gaps, crlf)
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_valid_record_round_trips_under_any_custom_format((cols, gaps, crlf) in custom_record()) {
        let header = cols.iter().map(|c| c.name).collect::<Vec<_>>().join(" ");
        let mut line = String::new();
        for (i, c) in cols.iter().enumerate() {
            line.push_str(&" ".repeat(if i == 0 { gaps[i] - 1 } else { gaps[i] }));
            line.push_str(&c.text);
        }
        line.push_str(&" ".repeat(gaps[cols.len()] - 1));
        if crlf {
            line.push('\r');
        }
        let format = match Format::detect(header.as_bytes()) {
            FirstLine::Header(f) => f,
            other => return Err(TestCaseError::fail(format!("{header}: {other:?}"))),
        };
        prop_assert!(format.warnings().is_empty());
        let mut parser = LineParser::new(format);
        let view = parser.parse(line.as_bytes()).map_err(|e| TestCaseError::fail(format!("{line:?}: {e}")))?;
        for (i, c) in cols.iter().enumerate() {
            let got = view.value(i);
            let want = match &c.want {
                Want::Null => Value::Null,
                Want::Int(n) => Value::Int(*n),
                Want::Addr(a) => Value::Addr(*a),
                Want::Text(t) => Value::Text(t),
            };
            prop_assert_eq!(got, Some(want), "column {} ({})", i, c.name);
        }
        prop_assert_eq!(view.value(cols.len()), None);
        // The typed core agrees with the columns.
        let find = |name: &str| cols.iter().find(|c| c.name == name).map(|c| c.want.clone());
        let int_of = |name: &str| match find(name) { Some(Want::Int(n)) => Some(n), _ => None };
        let addr_of = |name: &str| match find(name) { Some(Want::Addr(a)) => Some(a), _ => None };
        let r = view.record;
        prop_assert_eq!(r.srcaddr, addr_of("srcaddr"));
        prop_assert_eq!(r.dstaddr, addr_of("dstaddr"));
        prop_assert_eq!(r.srcport.map(u64::from), int_of("srcport"));
        prop_assert_eq!(r.dstport.map(u64::from), int_of("dstport"));
        prop_assert_eq!(r.protocol.map(u64::from), int_of("protocol"));
        prop_assert_eq!(r.packets, int_of("packets"));
        prop_assert_eq!(r.bytes, int_of("bytes"));
        prop_assert_eq!(r.start, int_of("start"));
        prop_assert_eq!(r.end, int_of("end"));
        prop_assert_eq!(r.tcp_flags.map(u64::from), int_of("tcp-flags"));

        // Through the engine: one record, classified by its log-status.
        let object = format!("{header}\n{line}\n");
        let report = analyze_text(object.as_bytes(), path_source("r.log"), &Config::default(), NOW)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let c = report.files.counts;
        let status = match find("log-status") { Some(Want::Text(s)) => s, _ => "OK".to_string() };
        let want = match status.as_str() { "NODATA" => (0, 1, 0), "SKIPDATA" => (0, 0, 1), _ => (1, 0, 0) };
        prop_assert_eq!((c.records, c.malformed), (1, 0));
        prop_assert_eq!((c.ok, c.nodata, c.skipdata), want);
    }
}
