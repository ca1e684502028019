//! The three shapes of object (SPEC §1): text, Parquet and CloudWatch Logs
//! subscription exports give the same records, counts, rules and
//! summaries; Parquet is read one row group at a time; bad input of every
//! shape is an error naming the object or a malformed record with its
//! number.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use flowguard::flowlog::parquet::{ByteRanges, ParquetFile};
use flowguard::generate::{generate, GenFormat, GenOptions};
use flowguard::{
    analyze_object, analyze_parquet, analyze_reader, AnalyzeError, Config, Report, SourceRef,
};
use parquet::basic::Compression;
use serde_json::Value;

use super::shapes::{cwl_documents, text_to_cwl, text_to_parquet, write_parquet, Col, ParquetOpts};
use super::support::{fixture, gzip, ndjson, rec, v2_text, v5_text, NOW, T0};

const OBJECT: &str = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/06/26/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f67890_20250626T1820Z_5f3c2a1b.log.gz";

fn source() -> SourceRef {
    SourceRef::S3 {
        bucket: "flow-logs".into(),
        key: OBJECT.into(),
    }
}

fn text_report(text: &[u8], config: &Config) -> Report {
    analyze_reader(text, source(), config, NOW, None).expect("text analyses")
}

fn parquet_report(bytes: Vec<u8>, config: &Config) -> Report {
    analyze_parquet(bytes, source(), config, NOW, None).expect("Parquet analyses")
}

fn cwl_report(bytes: &[u8], config: &Config) -> Result<Report, AnalyzeError> {
    analyze_reader(bytes, source(), config, NOW, None)
}

/// Every summary object of a report, decoded, with what may differ between
/// shapes taken out: `processed_at`, the byte counts, and the unit of the
/// malformed samples (`line 14`, `row 13`, `event 13`).
fn summaries(r: &Report) -> Vec<(String, Vec<Value>)> {
    r.summary_objects("flowguard/")
        .iter()
        .map(|o| {
            let mut rows = ndjson(&o.body);
            for row in &mut rows {
                if let Some(m) = row.as_object_mut() {
                    for k in ["processed_at", "compressed_bytes", "uncompressed_bytes"] {
                        m.remove(k);
                    }
                    if let Some(Value::Array(samples)) = m.get_mut("malformed_samples") {
                        for s in samples {
                            let text = s.as_str().unwrap_or_default();
                            let reason = text.split_once(": ").map_or(text, |(_, r)| r);
                            *s = Value::String(reason.to_string());
                        }
                    }
                }
            }
            (o.key.clone(), rows)
        })
        .collect()
}

fn config_for(fields: &[String]) -> Config {
    Config::from_pairs([("cwl_fields", fields.join(" "))]).expect("cwl_fields parses")
}

/// A v5 object with something for every rule: an SSH brute force from the
/// internet, a vertical scan, rejected noise, SKIPDATA and NODATA, IPv6,
/// flow-direction and tcp-flags, nulls.
fn busy_v5() -> String {
    let mut recs = Vec::new();
    for i in 0..25 {
        recs.push(
            rec("198.51.100.7", "10.0.1.20", 22)
                .sp(40000 + i)
                .times(T0 + i as u64, T0 + 60),
        );
    }
    for p in 0..30 {
        recs.push(
            rec("203.0.113.9", "10.0.1.30", 1000 + p)
                .reject()
                .flags(2)
                .direction("ingress"),
        );
    }
    for i in 0..100 {
        recs.push(rec("192.0.2.99", "10.0.1.10", 8080).sp(30000 + i).reject());
    }
    recs.push(rec("2001:db8::5", "fd12::5", 3389).eni("eni-0a1b2c3d4e5f60006"));
    recs.push(
        rec("10.0.2.30", "10.0.1.20", 443)
            .direction("egress")
            .packets(7)
            .bytes(9000),
    );
    recs.push(rec("10.0.1.20", "10.0.2.30", 50000).sp(443).flags(18));
    let mut nodata = rec("-", "-", 0).status("NODATA");
    nodata.dp = "-".into();
    nodata.sp = "-".into();
    nodata.proto = "-".into();
    nodata.packets = "-".into();
    nodata.bytes = "-".into();
    nodata.src = "-".into();
    nodata.dst = "-".into();
    recs.push(nodata.clone().eni("eni-0a1b2c3d4e5f60004"));
    recs.push(nodata.status("SKIPDATA").eni("eni-0a1b2c3d4e5f60005"));
    v5_text(&recs)
}

/// Text objects whose every record a Parquet row can hold: the golden
/// input (one malformed value), a busy v5 object, and every conformance
/// fixture without a record of another column count.
fn corpus() -> Vec<(String, String)> {
    let mut out = vec![
        (
            "golden".to_string(),
            std::fs::read_to_string(fixture("golden/input.log")).expect("golden input"),
        ),
        ("busy-v5".to_string(), busy_v5()),
    ];
    let dir = fixture("conformance");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("conformance fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    for path in names {
        let f: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if f["object_error"].as_bool() == Some(true) {
            continue;
        }
        let mut text = String::new();
        if let Some(h) = f["header"].as_str() {
            text.push_str(h);
            text.push('\n');
        }
        for l in f["lines"].as_array().unwrap() {
            text.push_str(l.as_str().unwrap());
            text.push('\n');
        }
        let (fields, rows) = super::shapes::split_text(&text);
        if rows.iter().all(|r| r.len() == fields.len()) {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            out.push((name, text));
        }
    }
    out
}

#[test]
fn every_shape_gives_the_same_summaries() {
    let corpus = corpus();
    assert!(
        corpus.len() >= 30,
        "only {} objects to compare",
        corpus.len()
    );
    let mut with_findings = 0;
    for (name, text) in &corpus {
        let (fields, _) = super::shapes::split_text(text);
        let config = config_for(&fields);
        let want = text_report(text.as_bytes(), &config);
        assert!(want.counts().records > 0, "{name}");
        with_findings += usize::from(!want.findings.is_empty());
        let parquet = parquet_report(text_to_parquet(text, &ParquetOpts::default()), &config);
        let cwl = cwl_report(&text_to_cwl(text, "123456789012", 3), &config)
            .unwrap_or_else(|e| panic!("{name}: CloudWatch export: {e}"));
        for (shape, got) in [("Parquet", &parquet), ("CloudWatch", &cwl)] {
            assert_eq!(got.counts(), want.counts(), "{name}: {shape} counts");
            assert_eq!(
                got.files.fields, want.files.fields,
                "{name}: {shape} fields"
            );
            let (a, b) = (summaries(got), summaries(&want));
            assert_eq!(a.len(), b.len());
            for ((ka, ra), (kb, rb)) in a.iter().zip(&b) {
                assert_eq!(ka, kb, "{name}: {shape} key");
                assert_eq!(ra, rb, "{name}: {shape} {ka}");
            }
        }
    }
    assert!(with_findings >= 3, "the corpus should exercise the rules");
}

#[test]
fn malformed_samples_name_the_row_and_the_event() {
    let text = std::fs::read_to_string(fixture("golden/input.log")).unwrap();
    let config = Config::default();
    let p = parquet_report(text_to_parquet(&text, &ParquetOpts::default()), &config);
    assert_eq!(
        p.files.malformed_samples,
        ["row 13: invalid value 'x' for field 'packets'"]
    );
    let c = cwl_report(&text_to_cwl(&text, "123456789012", 5), &config).unwrap();
    assert_eq!(
        c.files.malformed_samples,
        ["event 13: invalid value 'x' for field 'packets'"]
    );
    let t = text_report(text.as_bytes(), &config);
    assert_eq!(
        t.files.malformed_samples,
        ["line 14: invalid value 'x' for field 'packets'"]
    );
}

/// A generated object: 20,000 v5 records with injected attacks.
fn generated(records: u64) -> String {
    let mut out = Vec::new();
    let opts = GenOptions {
        records,
        seed: 11,
        format: GenFormat::V5,
        ..GenOptions::default()
    };
    generate(&mut out, &opts).expect("generates");
    String::from_utf8(out).expect("generated text is UTF-8")
}

/// Byte ranges of a buffer that records every read.
struct Recorded {
    bytes: Vec<u8>,
    reads: Mutex<Vec<(u64, usize)>>,
    total: AtomicU64,
}

impl ByteRanges for Recorded {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn read_range(&self, start: u64, len: usize) -> io::Result<Vec<u8>> {
        self.reads.lock().unwrap().push((start, len));
        self.total.fetch_add(len as u64, Ordering::Relaxed);
        self.bytes.read_range(start, len)
    }
}

#[test]
fn parquet_is_read_one_row_group_at_a_time() {
    let text = generated(20_000);
    let config = Config::default();
    let want = text_report(text.as_bytes(), &config);
    assert!(want.findings.len() >= 5, "{}", want.findings.len());
    for opts in [
        ParquetOpts {
            row_group_rows: 2_000,
            page_rows: 300,
            ..ParquetOpts::default()
        },
        ParquetOpts {
            compression: Compression::SNAPPY,
            row_group_rows: 7_000,
            dictionary: false,
            ..ParquetOpts::default()
        },
        ParquetOpts {
            compression: Compression::UNCOMPRESSED,
            ..ParquetOpts::default()
        },
    ] {
        let file = Arc::new(Recorded {
            bytes: text_to_parquet(&text, &opts),
            reads: Mutex::new(Vec::new()),
            total: AtomicU64::new(0),
        });
        let got = analyze_parquet(file.clone(), source(), &config, NOW, None).unwrap();
        assert_eq!(summaries(&got), summaries(&want), "{opts:?}");
        assert_eq!(
            got.files.compressed_bytes,
            file.total.load(Ordering::Relaxed)
        );
        let reads = file.reads.lock().unwrap().clone();
        let groups = 20_000usize.div_ceil(opts.row_group_rows);
        // The footer, then one read per row group (its column chunks lie
        // next to each other), none of them the whole file.
        assert_eq!(reads.len(), 1 + groups, "{opts:?}: {reads:?}");
        let (tail_start, tail_len) = reads[0];
        assert_eq!(tail_start + tail_len as u64, file.bytes.len() as u64);
        let largest = reads[1..].iter().map(|r| r.1).max().unwrap();
        assert!(
            largest <= file.bytes.len() / groups + file.bytes.len() / 10,
            "{opts:?}: a read of {largest} bytes in a {}-byte file of {groups} row groups",
            file.bytes.len()
        );
    }
}

#[test]
fn a_row_group_above_the_budget_is_read_through_windows() {
    let text = generated(12_000);
    let opts = ParquetOpts {
        compression: Compression::UNCOMPRESSED,
        row_group_rows: 6_000,
        page_rows: 250,
        ..ParquetOpts::default()
    };
    let recorded = || {
        Arc::new(Recorded {
            bytes: text_to_parquet(&text, &opts),
            reads: Mutex::new(Vec::new()),
            total: AtomicU64::new(0),
        })
    };
    let rows = |file: &mut ParquetFile<Arc<Recorded>>| {
        let mut out = Vec::new();
        for g in 0..file.row_groups() {
            file.read_row_group(g, |row| out.push(format!("{row:?}")))
                .unwrap();
        }
        out
    };
    let whole = recorded();
    let mut loaded = ParquetFile::open(whole.clone()).unwrap();
    let want = rows(&mut loaded);
    assert_eq!(want.len(), 12_000);
    assert_eq!(
        whole.reads.lock().unwrap().len(),
        1 + 2,
        "the footer, then each row group at once"
    );

    let windowed = recorded();
    let mut file = ParquetFile::open(windowed.clone()).unwrap();
    file.set_row_group_budget(32 * 1024);
    assert_eq!(rows(&mut file), want);
    let reads = windowed.reads.lock().unwrap().clone();
    let largest = reads[1..].iter().map(|r| r.1).max().unwrap();
    assert!(reads.len() > 2 * 20, "{} reads", reads.len());
    // A window is 32 KiB split between the columns; only a single page
    // larger than that (a dictionary page) is read beyond it, whole.
    assert!(
        largest <= 64 * 1024,
        "a read of {largest} bytes with a 32 KiB budget"
    );
    assert_eq!(file.bytes_read(), windowed.total.load(Ordering::Relaxed));
    // No byte of a chunk is read twice: the windows read no more than the
    // whole row groups did (which also read the small gaps between them).
    let loaded_bytes = loaded.bytes_read();
    assert!(
        file.bytes_read() <= loaded_bytes,
        "windows read {} bytes, whole row groups {loaded_bytes}",
        file.bytes_read()
    );
}

/// Ranges whose reads fail (connection reset) after the first `ok`.
struct Flaky {
    bytes: Vec<u8>,
    ok: usize,
    reads: AtomicU64,
}

impl ByteRanges for Flaky {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn read_range(&self, start: u64, len: usize) -> io::Result<Vec<u8>> {
        if self.reads.fetch_add(1, Ordering::Relaxed) as usize >= self.ok {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection reset",
            ));
        }
        self.bytes.read_range(start, len)
    }
}

#[test]
fn a_failed_read_is_retryable_in_every_mode() {
    let text = generated(12_000);
    let opts = ParquetOpts {
        compression: Compression::UNCOMPRESSED,
        row_group_rows: 6_000,
        page_rows: 250,
        ..ParquetOpts::default()
    };
    let bytes = text_to_parquet(&text, &opts);
    for (budget, ok) in [(None, 0), (None, 2), (Some(32 * 1024), 7)] {
        let flaky = Flaky {
            bytes: bytes.clone(),
            ok,
            reads: AtomicU64::new(0),
        };
        let e = match budget {
            None => analyze_parquet(flaky, source(), &Config::default(), NOW, None).unwrap_err(),
            Some(b) => {
                let mut file = match ParquetFile::open(flaky) {
                    Ok(f) => f,
                    Err(e) => panic!("{e}"),
                };
                file.set_row_group_budget(b);
                let mut failed = None;
                for g in 0..file.row_groups() {
                    if let Err(e) = file.read_row_group(g, |_| {}) {
                        failed = Some(e);
                        break;
                    }
                }
                match failed {
                    Some(flowguard::flowlog::parquet::ParquetInputError::Read {
                        error, ..
                    }) => {
                        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
                        continue;
                    }
                    other => panic!("budget {b}: {other:?}"),
                }
            }
        };
        assert!(
            matches!(e, AnalyzeError::Read { .. }),
            "{ok} good reads: {e}"
        );
        assert!(e.is_retryable(), "{ok} good reads: {e}");
        assert!(e.to_string().contains("connection reset"), "{e}");
    }
}

#[test]
fn a_small_parquet_file_is_read_once() {
    let text = busy_v5();
    let file = Arc::new(Recorded {
        bytes: text_to_parquet(&text, &ParquetOpts::default()),
        reads: Mutex::new(Vec::new()),
        total: AtomicU64::new(0),
    });
    let r = analyze_parquet(file.clone(), source(), &Config::default(), NOW, None).unwrap();
    assert_eq!(*file.reads.lock().unwrap(), [(0, file.bytes.len())]);
    assert_eq!(r.files.compressed_bytes, file.bytes.len() as u64);
}

fn i32s(v: &[Option<i32>]) -> Col {
    Col::I32(v.to_vec())
}

fn i64s(v: &[Option<i64>]) -> Col {
    Col::I64(v.to_vec())
}

fn strs(v: &[Option<&str>]) -> Col {
    Col::Str(v.iter().map(|s| s.map(str::to_string)).collect())
}

#[test]
fn parquet_values_are_typed_like_text() {
    // Columns in their own order, a subset, nulls, integers as INT64 or as
    // strings of digits, an unknown column.
    let file = write_parquet(
        &[
            (
                "dstport",
                i32s(&[Some(22), Some(70000), Some(443), None, Some(22)]),
            ),
            (
                "srcaddr",
                strs(&[
                    Some("198.51.100.7"),
                    Some("198.51.100.7"),
                    Some("not-an-ip"),
                    Some("2001:db8::1"),
                    Some("198.51.100.8"),
                ]),
            ),
            ("dstaddr", strs(&[Some("10.0.0.5"); 5])),
            (
                "packets",
                i64s(&[
                    Some(3),
                    Some(1),
                    Some(1),
                    Some(-5),
                    Some(u32::MAX as i64 * 4),
                ]),
            ),
            (
                "bytes",
                strs(&[Some("180"), Some("60"), Some("60"), Some("60"), None]),
            ),
            (
                "action",
                strs(&[
                    Some("ACCEPT"),
                    Some("ACCEPT"),
                    Some("ACCEPT"),
                    Some("ACCEPT"),
                    Some("ACCEPT"),
                ]),
            ),
            (
                "log_status",
                strs(&[
                    Some("OK"),
                    Some("OK"),
                    Some("OK"),
                    Some("OK"),
                    Some("NODATA"),
                ]),
            ),
            (
                "some_future_field",
                strs(&[Some("a"), None, None, None, None]),
            ),
            (
                "Account_ID",
                strs(&[Some("210987654321"), None, None, None, None]),
            ),
        ],
        &ParquetOpts::default(),
    );
    let source = SourceRef::Path {
        path: "flows.parquet".into(),
    };
    let r = analyze_parquet(file, source, &Config::default(), NOW, None).unwrap();
    let c = r.counts();
    assert_eq!(
        (c.records, c.ok, c.nodata, c.skipdata, c.malformed),
        (5, 1, 1, 0, 3)
    );
    assert_eq!(
        r.files.malformed_samples,
        [
            "row 2: invalid value '70000' for field 'dstport'",
            "row 3: invalid value 'not-an-ip' for field 'srcaddr'",
            "row 4: invalid value '-5' for field 'packets'",
        ]
    );
    assert_eq!(
        r.files.fields,
        [
            "dstport",
            "srcaddr",
            "dstaddr",
            "packets",
            "bytes",
            "action",
            "log-status",
            "some-future-field",
            "account-id"
        ]
    );
    assert_eq!(
        r.warnings,
        ["unknown field 'some-future-field' carried through as text"]
    );
    // The account comes from the (mixed-case) account_id column.
    assert_eq!(r.partition.account, "210987654321");
    let ports = &r.tables.ports;
    assert_eq!(ports.len(), 1, "{ports:?}");
    let exposed: Vec<_> = r.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(exposed, ["admin-port-exposed"]);
}

fn parquet_error(bytes: Vec<u8>) -> AnalyzeError {
    match analyze_parquet(bytes, source(), &Config::default(), NOW, None) {
        Ok(r) => panic!("expected an error, got {:?}", r.counts()),
        Err(e) => e,
    }
}

#[test]
fn bad_parquet_objects_are_errors_that_name_the_object() {
    let good = text_to_parquet(&busy_v5(), &ParquetOpts::default());
    let no_addresses = write_parquet(
        &[
            ("account_id", strs(&[Some("123456789012")])),
            ("action", strs(&[Some("ACCEPT")])),
        ],
        &ParquetOpts::default(),
    );
    let wrong_type = write_parquet(
        &[
            ("srcaddr", i32s(&[Some(1)])),
            ("dstport", i32s(&[Some(22)])),
        ],
        &ParquetOpts::default(),
    );
    let mut bad_magic = good.clone();
    let n = bad_magic.len();
    bad_magic[n - 1] = b'X';
    let mut bad_footer = good.clone();
    let n = bad_footer.len();
    for b in &mut bad_footer[n - 60..n - 8] {
        *b = 0xff;
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "cut in half",
            good[..good.len() / 2].to_vec(),
            "truncated Parquet file",
        ),
        (
            "last byte missing",
            good[..good.len() - 1].to_vec(),
            "truncated Parquet file",
        ),
        ("only the magic", b"PAR1".to_vec(), "truncated Parquet file"),
        ("not PAR1 at the end", bad_magic, "truncated Parquet file"),
        ("garbage footer", bad_footer, "Parquet"),
        (
            "no address column",
            no_addresses,
            "no address or port column",
        ),
        (
            "an address as INT32",
            wrong_type,
            "column 'srcaddr' has Parquet type INT32",
        ),
    ];
    for (what, bytes, says) in cases {
        let e = parquet_error(bytes);
        let text = e.to_string();
        assert!(
            text.starts_with("s3://flow-logs/AWSLogs/"),
            "{what}: {text}"
        );
        assert!(text.contains(says), "{what}: {text}");
        assert!(!e.is_retryable(), "{what}: {text}");
        assert!(
            !matches!(e, AnalyzeError::Internal { .. }),
            "{what}: {text}"
        );
    }
}

#[test]
fn damaged_parquet_never_panics() {
    // Every byte of a small file, one at a time, set to a bad value: an
    // error or (when the byte was a value) a report, never a crash.
    let text = v2_text(&[
        rec("198.51.100.7", "10.0.0.5", 22),
        rec("198.51.100.8", "10.0.0.6", 3389).reject(),
    ]);
    for opts in [
        ParquetOpts::default(),
        ParquetOpts {
            compression: Compression::UNCOMPRESSED,
            dictionary: false,
            ..ParquetOpts::default()
        },
    ] {
        let good = text_to_parquet(&text, &opts);
        // The smallest state bound: thousands of analyses, each cheap.
        let config = Config::from_pairs([("max_tracked", "1000")]).unwrap();
        for i in 0..good.len() {
            for value in [0x00, 0xff, good[i] ^ 0x10] {
                let mut bad = good.clone();
                bad[i] = value;
                if let Err(e) = analyze_parquet(bad, source(), &config, NOW, None) {
                    assert!(
                        !matches!(e, AnalyzeError::Internal { .. }),
                        "byte {i} = {value:#x}: {e}"
                    );
                    assert!(e.to_string().starts_with("s3://flow-logs/"), "{e}");
                }
            }
        }
    }
}

#[test]
fn parquet_through_any_stream_needs_random_access() {
    let bytes = text_to_parquet(&busy_v5(), &ParquetOpts::default());
    // As a stream alone it is refused, with a message that says why.
    let e = analyze_reader(&bytes[..], source(), &Config::default(), NOW, None).unwrap_err();
    assert!(e.to_string().contains("needs random access"), "{e}");
    // analyze_object switches to random access on the magic bytes.
    let want = parquet_report(bytes.clone(), &Config::default());
    let got = analyze_object(
        &bytes[..],
        |sniffed| {
            assert!(sniffed.is_parquet());
            Ok(bytes.clone())
        },
        source(),
        &Config::default(),
        NOW,
        None,
    )
    .unwrap();
    assert_eq!(summaries(&got), summaries(&want));
    // Text through analyze_object never asks for random access.
    let text = busy_v5();
    let got = analyze_object(
        text.as_bytes(),
        |_| -> io::Result<Vec<u8>> { panic!("text asked for random access") },
        source(),
        &Config::default(),
        NOW,
        None,
    )
    .unwrap();
    assert_eq!(
        summaries(&got),
        summaries(&text_report(text.as_bytes(), &Config::default()))
    );
}

#[test]
fn cloudwatch_exports_in_every_packing() {
    let text = busy_v5();
    let (fields, _) = super::shapes::split_text(&text);
    let config = config_for(&fields);
    let want = summaries(&text_report(text.as_bytes(), &config));
    let docs = cwl_documents(&text, "123456789012", 7);
    let packings: Vec<(&str, Vec<u8>)> = vec![
        ("gzip members", text_to_cwl(&text, "123456789012", 7)),
        ("one gzip member", gzip(docs.concat().as_bytes())),
        ("plain, back to back", docs.concat().into_bytes()),
        (
            "plain, newline-delimited",
            docs.iter()
                .map(|d| format!("{d}\n"))
                .collect::<String>()
                .into_bytes(),
        ),
        (
            "gzip, CRLF and blank lines",
            gzip(
                docs.iter()
                    .map(|d| format!("\r\n\r\n{d}"))
                    .collect::<String>()
                    .as_bytes(),
            ),
        ),
    ];
    for (what, bytes) in packings {
        let got = cwl_report(&bytes, &config).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(summaries(&got), want, "{what}");
    }
}

#[test]
fn cloudwatch_owner_gives_the_account_and_fields_the_columns() {
    // A custom format without account-id: the owner names the account.
    let fields = [
        "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "action",
    ];
    let messages = [
        "198.51.100.7 10.0.1.20 40000 22 6 ACCEPT",
        "198.51.100.7 10.0.1.20 40001 22 6 ACCEPT",
        "198.51.100.7 10.0.1.20 40002 22 6",
        "198.51.100.7 10.0.1.20 40003 22 6 ACCEPT\nsecond line",
        "",
    ];
    let doc = serde_json::json!({
        "messageType": "DATA_MESSAGE", "owner": "210987654321", "logGroup": "g", "logStream": "s",
        "subscriptionFilters": ["f"],
        "logEvents": messages.iter().enumerate().map(|(i, m)| serde_json::json!({"id": i.to_string(), "timestamp": 0, "message": m})).collect::<Vec<_>>(),
    });
    let bytes = gzip(doc.to_string().as_bytes());
    let source = SourceRef::S3 {
        bucket: "central-logs".into(),
        key: "firehose/2025/06/26/18/flowlogs-1-2025-06-26-18-20-00-abc".into(),
    };
    let config = Config::from_pairs([("cwl_fields", fields.join(","))]).unwrap();
    let r = analyze_reader(&bytes[..], source, &config, NOW, None).unwrap();
    let c = r.counts();
    // The blank message is ignored like a blank line; a message holding a
    // newline stays one record (malformed: more columns).
    assert_eq!((c.records, c.ok, c.malformed), (4, 2, 2));
    assert_eq!(
        r.files.malformed_samples,
        [
            "event 3: 5 columns where the format has 6",
            "event 4: 8 columns where the format has 6"
        ]
    );
    assert_eq!(r.partition.account, "210987654321");
    assert_eq!(r.files.fields, fields);
    // With the default (v2) format every message is malformed: the report
    // says what to change.
    let r = analyze_reader(
        &bytes[..],
        SourceRef::Path { path: "x".into() },
        &Config::default(),
        NOW,
        None,
    )
    .unwrap();
    assert_eq!(r.counts().malformed, 4);
    assert!(
        r.warnings.iter().any(|w| w.contains("cwl_fields")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn bad_cloudwatch_exports_are_errors_that_name_the_object() {
    let text = busy_v5();
    let docs = cwl_documents(&text, "123456789012", 50);
    let whole = docs.concat();
    let cut = &whole[..whole.len() - docs[docs.len() - 1].len() / 2];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a document cut in the middle",
            gzip(cut.as_bytes()),
            "cut short",
        ),
        // JSON of another kind is text (here of 2 columns): not a flow log.
        (
            "JSON of another kind",
            gzip(b"{\"hello\": \"world\"}"),
            "2 columns",
        ),
        (
            "no messageType",
            gzip(b"{\"owner\":\"1\",\"logEvents\":[],\"x\":\"messageType\"}"),
            "missing field `messageType`",
        ),
        (
            "another message type",
            gzip(b"{\"messageType\":\"DATA\",\"logEvents\":[]}"),
            "messageType 'DATA'",
        ),
        (
            "JSON that is not an object",
            gzip(b"{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[1]}"),
            "invalid type",
        ),
    ];
    for (what, bytes, says) in cases {
        let e = cwl_report(&bytes, &Config::default()).unwrap_err();
        let t = e.to_string();
        assert!(t.starts_with("s3://flow-logs/AWSLogs/"), "{what}: {t}");
        assert!(
            t.contains("not a flow log") && t.contains(says),
            "{what}: {t}"
        );
        assert!(!e.is_retryable(), "{what}");
    }
    // A gzip stream cut short is a read error, as for text.
    let members = text_to_cwl(&text, "123456789012", 50);
    let e = cwl_report(&members[..members.len() - 20], &Config::default()).unwrap_err();
    assert!(matches!(e, AnalyzeError::Read { .. }), "{e}");
}

#[test]
fn a_huge_message_is_one_malformed_record() {
    let long = "9".repeat(70_000);
    let doc = format!(
        r#"{{"messageType":"DATA_MESSAGE","owner":"123456789012","logEvents":[{{"message":"{}"}},{{"message":"{long}"}},{{"message":"{}"}}]}}"#,
        rec("198.51.100.7", "10.0.0.5", 22).v2(),
        rec("198.51.100.7", "10.0.0.5", 22).sp(2).v2()
    );
    let r = cwl_report(doc.as_bytes(), &Config::default()).unwrap();
    let c = r.counts();
    assert_eq!((c.records, c.ok, c.malformed), (3, 2, 1));
    assert_eq!(
        r.files.malformed_samples,
        ["event 2: line longer than 65536 bytes"]
    );
}
