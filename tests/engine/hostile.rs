//! Hostile and broken input: truncated gzip, binary, empty objects, huge
//! lines, bad values, CRLF, multi-member gzip. Every case asserts the exact
//! counts (`records = ok + nodata + skipdata + malformed`) and nothing
//! panics. Also the memory bound of the engine's per-address state.

use std::io::Cursor;

use flowguard::analyze::Engine;
use flowguard::flowlog::MAX_LINE_BYTES;
use flowguard::{analyze_reader, analyze_text, AnalyzeError, Config, Counts, Report, SourceRef};

use super::support::{
    analyze, assert_counts_add_up, gzip, path_source, rec, v2_text, Rec, NOW, T0, V2_HEADER,
};

fn read(bytes: Vec<u8>, name: &str) -> Result<Report, AnalyzeError> {
    analyze_reader(
        Cursor::new(bytes),
        path_source(name),
        &Config::default(),
        NOW,
        None,
    )
}

fn counts(records: u64, ok: u64, nodata: u64, skipdata: u64, malformed: u64) -> Counts {
    Counts {
        records,
        ok,
        nodata,
        skipdata,
        malformed,
    }
}

/// Ten good records: 8 OK, 1 NODATA, 1 SKIPDATA.
fn good_lines() -> Vec<String> {
    let mut v: Vec<String> = (0..8)
        .map(|i| rec("203.0.113.9", "10.0.1.10", 443).sp(40000 + i).v2())
        .collect();
    v.push(rec("203.0.113.9", "10.0.1.10", 443).status("NODATA").v2());
    v.push(rec("203.0.113.9", "10.0.1.10", 443).status("SKIPDATA").v2());
    v
}

fn good_text() -> String {
    format!("{V2_HEADER}\n{}\n", good_lines().join("\n"))
}

#[test]
fn truncated_gzip_is_a_read_error_naming_the_object() {
    let gz = gzip(good_text().repeat(200).as_bytes());
    for cut in [gz.len() / 2, gz.len() - 4, 12] {
        let err = read(gz[..cut].to_vec(), "AWSLogs/1/x.log.gz").unwrap_err();
        match &err {
            AnalyzeError::Read { object, .. } => {
                assert_eq!(object, &path_source("AWSLogs/1/x.log.gz"))
            }
            other => panic!("cut at {cut}: expected a read error, got {other:?}"),
        }
        assert!(err.to_string().starts_with("AWSLogs/1/x.log.gz: "), "{err}");
        assert!(
            !err.is_retryable(),
            "a truncated object never gets better: {err}"
        );
    }
}

#[test]
fn random_bytes_are_not_a_flow_log() {
    // Deterministic pseudo-random bytes (xorshift), with a NUL early on.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes: Vec<u8> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    bytes[0] = 0x00; // not the gzip magic
    for result in [
        read(bytes.clone(), "random.log"),
        analyze_text(&bytes, path_source("random.log"), &Config::default(), NOW),
    ] {
        match result {
            Err(e @ AnalyzeError::NotFlowLog { .. }) => {
                assert!(
                    e.to_string().starts_with("random.log: not a flow log"),
                    "{e}"
                );
                assert!(!e.is_retryable());
            }
            other => panic!("expected NotFlowLog, got {other:?}"),
        }
    }
    // Prose and a headerless line of the wrong width.
    for text in [
        "hello world, this is not a flow log\n",
        "2 123 eni-1 1.2.3.4\n",
        "Version Account-Id srcaddr\n",
    ] {
        let r = analyze_text(
            text.as_bytes(),
            path_source("t.log"),
            &Config::default(),
            NOW,
        );
        assert!(
            matches!(r, Err(AnalyzeError::NotFlowLog { .. })),
            "{text:?}: {r:?}"
        );
    }
}

/// An endless-looking source that counts what is taken from it.
struct Counted<R> {
    inner: R,
    taken: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.taken
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

#[test]
fn reading_stops_at_the_first_sign_of_a_non_flow_log() {
    use std::io::Read;
    const TOTAL: u64 = 200 * 1024 * 1024;
    // 200 MB of prose, and 32 MB of it gzip'd, read through a counter.
    let line = b"this is a web server access log, not a flow log at all\n";
    // Numbered lines, so the gzip is megabytes, not a few kilobytes.
    let mut text = String::new();
    for i in 0..600_000u64 {
        text.push_str(&format!(
            "{i:x} {} access log line\n",
            i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ));
    }
    let gz = gzip(text.as_bytes());
    for (name, reader) in [
        (
            "plain",
            Box::new(Repeat(line).take(TOTAL)) as Box<dyn Read + Send>,
        ),
        ("gzip", Box::new(Cursor::new(gz.clone()))),
    ] {
        let taken = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = Counted {
            inner: reader,
            taken: taken.clone(),
        };
        let r = analyze_reader(
            counted,
            path_source("big.log"),
            &Config::default(),
            NOW,
            None,
        );
        assert!(
            matches!(r, Err(AnalyzeError::NotFlowLog { .. })),
            "{name}: {r:?}"
        );
        let taken = taken.load(std::sync::atomic::Ordering::Relaxed);
        let total = if name == "plain" {
            TOTAL
        } else {
            gz.len() as u64
        };
        assert!(
            taken < total / 8 && taken < 4 * 1024 * 1024,
            "{name}: read {taken} of {total} bytes before giving up"
        );
    }
}

/// A line repeated forever.
struct Repeat(&'static [u8]);

impl std::io::Read for Repeat {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            let take = (buf.len() - n).min(self.0.len());
            buf[n..n + take].copy_from_slice(&self.0[..take]);
            n += take;
        }
        Ok(n)
    }
}

#[test]
fn empty_blank_and_header_only_objects_have_no_records() {
    let cases: [(&str, Vec<u8>); 6] = [
        ("empty", Vec::new()),
        ("empty gzip", gzip(b"")),
        ("blank lines", b"\n\n   \r\n\n".to_vec()),
        ("header only", format!("{V2_HEADER}\n").into_bytes()),
        ("header only, no newline", V2_HEADER.as_bytes().to_vec()),
        (
            "header and blank lines",
            format!("{V2_HEADER}\r\n\r\n\n").into_bytes(),
        ),
    ];
    for (name, bytes) in cases {
        for (how, r) in [
            ("reader", read(bytes.clone(), "e.log")),
            (
                "text",
                analyze_text(&bytes, path_source("e.log"), &Config::default(), NOW),
            ),
        ] {
            if how == "text" && name == "empty gzip" {
                continue; // analyze_text takes decompressed text
            }
            let r = r.unwrap_or_else(|e| panic!("{name} ({how}): {e}"));
            assert_eq!(r.files.counts, Counts::default(), "{name} ({how})");
            assert!(r.findings.is_empty() && r.tables.ports.is_empty(), "{name}");
            // No record time and no key facts: the partition falls back to now.
            assert_eq!(
                (r.partition.dt.as_str(), r.partition.hour.as_str()),
                ("2025-06-26", "18"),
                "{name}"
            );
        }
    }
    let r = read(Vec::new(), "e.log").unwrap();
    assert_eq!(r.warnings, vec!["object is empty".to_string()]);
    assert!(r.files.fields.is_empty());
    let r = read(V2_HEADER.as_bytes().to_vec(), "e.log").unwrap();
    assert_eq!(r.files.fields.len(), 14);
}

/// A line of `len` bytes that looks like a record gone wrong.
fn huge_line(len: usize) -> String {
    let mut s = String::from("2 123456789012 eni-00000001 10.0.0.1 10.0.0.2 1 2 6 1 1 1 1 ACCEPT ");
    while s.len() < len {
        s.push_str("OKOKOKOKOK");
    }
    s.truncate(len);
    s
}

#[test]
fn huge_lines_are_malformed_and_the_rest_is_counted() {
    let good = good_lines();
    for len in [
        MAX_LINE_BYTES + 1,
        200 * 1024,
        2 * 1024 * 1024,
        5 * 1024 * 1024 + 17,
    ] {
        // In the middle, with good lines on both sides.
        let text = format!(
            "{V2_HEADER}\n{}\n{}\n{}\n",
            good.join("\n"),
            huge_line(len),
            good.join("\n")
        );
        let want = counts(21, 16, 2, 2, 1);
        for (how, r) in [
            ("reader", read(text.clone().into_bytes(), "big.log")),
            ("reader gzip", read(gzip(text.as_bytes()), "big.log")),
            (
                "text",
                analyze_text(
                    text.as_bytes(),
                    path_source("big.log"),
                    &Config::default(),
                    NOW,
                ),
            ),
        ] {
            let r = r.unwrap_or_else(|e| panic!("{len} ({how}): {e}"));
            assert_eq!(r.files.counts, want, "{len} bytes ({how})");
            assert_eq!(
                r.files.malformed_samples,
                vec![format!("line 12: line longer than {MAX_LINE_BYTES} bytes")],
                "{len} bytes ({how})"
            );
            assert_eq!(
                r.files.uncompressed_bytes,
                text.len() as u64,
                "{len} ({how})"
            );
        }
        // Last, without a final newline.
        let text = format!("{V2_HEADER}\n{}\n{}", good.join("\n"), huge_line(len));
        let r = read(text.clone().into_bytes(), "big.log").unwrap();
        assert_eq!(
            r.files.counts,
            counts(11, 8, 1, 1, 1),
            "{len} bytes, last line"
        );
        assert_eq!(r.files.uncompressed_bytes, text.len() as u64);
    }
    // A huge first line is not a flow log.
    let text = format!("{}\n{}\n", huge_line(2 * 1024 * 1024), good.join("\n"));
    assert!(matches!(
        read(text.into_bytes(), "big.log"),
        Err(AnalyzeError::NotFlowLog { .. })
    ));
}

#[test]
fn bad_values_are_malformed_and_counted() {
    let base = rec("203.0.113.9", "10.0.1.10", 443);
    let max = u64::MAX.to_string();
    let bad: Vec<Rec> = vec![
        rec("203.0.113.9", "10.0.1.10", 443)
            .sp(1)
            .tap(|r| r.dp = "70000".into()),
        base.clone().tap(|r| r.sp = "65536".into()),
        base.clone().tap(|r| r.packets = "-1".into()),
        base.clone().tap(|r| r.bytes = "-44".into()),
        base.clone()
            .tap(|r| r.bytes = "18446744073709551616".into()),
        base.clone().tap(|r| r.packets = "1.5".into()),
        base.clone().tap(|r| r.proto = "256".into()),
        base.clone().tap(|r| r.src = "256.1.1.1".into()),
        base.clone().tap(|r| r.dst = "10.0.1".into()),
        base.clone().tap(|r| r.src = "2001:db8::g".into()),
        base.clone().tap(|r| r.action = "MAYBE"),
        base.clone().tap(|r| r.status = "FINE"),
        base.clone().tap(|r| r.start = "yesterday".into()),
    ];
    let good: Vec<Rec> = vec![
        base.clone()
            .tap(|r| r.packets = max.clone())
            .tap(|r| r.bytes = max.clone()),
        base.clone()
            .tap(|r| r.dp = "65535".into())
            .tap(|r| r.proto = "255".into()),
        base.clone()
            .tap(|r| r.start = max.clone())
            .tap(|r| r.end = max.clone()),
    ];
    let mut lines: Vec<String> = bad.iter().map(Rec::v2).collect();
    lines.extend(good.iter().map(Rec::v2));
    lines.push("2 123456789012 eni-1 10.0.0.1".to_string()); // too few columns
    lines.push(format!("{} extra", base.v2())); // too many
    let mut text = format!("{V2_HEADER}\n{}\n", lines.join("\n")).into_bytes();
    // Invalid UTF-8 inside an otherwise good line.
    text.extend_from_slice(
        b"2 123456789012 eni-\xff\xfe 203.0.113.9 10.0.1.10 40000 443 6 1 44 1 2 ACCEPT OK\n",
    );
    let r = analyze_text(&text, path_source("bad.log"), &Config::default(), NOW).unwrap();
    assert_eq!(r.files.counts, counts(19, 3, 0, 0, 16));
    assert_eq!(r.files.malformed_samples.len(), 5, "samples are capped");
    assert_eq!(
        r.files.malformed_samples[0],
        "line 2: invalid value '70000' for field 'dstport'"
    );
    assert_eq!(
        r.files.malformed_samples[2],
        "line 4: invalid value '-1' for field 'packets'"
    );
    // u64::MAX is valid and the sums saturate instead of wrapping.
    let row = r
        .tables
        .talkers
        .iter()
        .find(|t| t.address == "203.0.113.9")
        .unwrap();
    assert_eq!(row.bytes_out, u64::MAX);
    assert_eq!(row.packets_out, u64::MAX);
    assert_eq!(row.flows_out, 3);
    let r2 = read(text, "bad.log").unwrap();
    assert_eq!(r2.files.counts, r.files.counts);
}

#[test]
fn byte_sums_saturate_never_wrap() {
    let big = |sp| {
        rec("203.0.113.9", "10.0.1.10", 22)
            .sp(sp)
            .bytes(u64::MAX)
            .packets(u64::MAX)
    };
    let r = analyze(&v2_text(&[
        big(40000),
        big(40001),
        rec("203.0.113.9", "10.0.1.10", 22).sp(40002).bytes(5),
    ]));
    assert_counts_add_up(&r);
    let src = r
        .tables
        .talkers
        .iter()
        .find(|t| t.address == "203.0.113.9")
        .unwrap();
    assert_eq!(
        (src.bytes_out, src.packets_out, src.flows_out),
        (u64::MAX, u64::MAX, 3)
    );
    let dst = r
        .tables
        .talkers
        .iter()
        .find(|t| t.address == "10.0.1.10")
        .unwrap();
    assert_eq!((dst.bytes_in, dst.flows_in), (u64::MAX, 3));
    assert_eq!(r.tables.ports[0].bytes, u64::MAX);
    assert_eq!(r.tables.ports[0].flows, 3);
    assert_eq!(r.tables.admin[0].bytes, u64::MAX);
    assert_eq!(r.tables.services[0].bytes, u64::MAX);
    let f = super::support::only(&r, "admin-port-exposed");
    assert_eq!((f.bytes, f.packets, f.flows), (u64::MAX, u64::MAX, 3));
}

#[test]
fn duplicate_and_unknown_header_fields() {
    let text = "srcaddr dstaddr dstport srcaddr some-future-field action\n\
                203.0.113.9 10.0.1.20 22 198.51.100.1 whatever ACCEPT\n\
                203.0.113.9 10.0.1.20 22 not-an-address x ACCEPT\n\
                203.0.113.9 10.0.1.20 22 x\n";
    let r = analyze(text);
    // The repeated srcaddr is a text column: the first one is used.
    assert_eq!(r.files.counts, counts(3, 2, 0, 0, 1));
    assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
    assert!(
        r.warnings[0].contains("'srcaddr' appears twice"),
        "{:?}",
        r.warnings
    );
    assert!(
        r.warnings[1].contains("unknown field 'some-future-field'"),
        "{:?}",
        r.warnings
    );
    let f = super::support::only(&r, "admin-port-exposed");
    assert_eq!(f.src_addrs, vec!["203.0.113.9".to_string()]);
    assert_eq!(f.flows, 2);
    assert_eq!(
        r.files.fields,
        [
            "srcaddr",
            "dstaddr",
            "dstport",
            "srcaddr",
            "some-future-field",
            "action"
        ]
        .map(String::from)
    );
}

#[test]
fn multi_member_gzip_is_read_to_the_end() {
    let body = good_lines().join("\n") + "\n";
    let mut gz = gzip(format!("{V2_HEADER}\n{body}").as_bytes());
    gz.extend(gzip(body.as_bytes()));
    gz.extend(gzip(b""));
    gz.extend(gzip(body.as_bytes()));
    let r = read(gz.clone(), "multi.log.gz").unwrap();
    assert_eq!(r.files.counts, counts(30, 24, 3, 3, 0));
    assert_eq!(r.files.compressed_bytes, gz.len() as u64);
    assert_eq!(
        r.files.uncompressed_bytes,
        (V2_HEADER.len() + 1 + 3 * body.len()) as u64
    );
}

#[test]
fn crlf_lines_parse_like_lf_lines() {
    let lf = good_text();
    let crlf = lf.replace('\n', "\r\n");
    let a = read(lf.into_bytes(), "a.log").unwrap();
    let b = read(crlf.into_bytes(), "a.log").unwrap();
    assert_eq!(b.files.counts, counts(10, 8, 1, 1, 0));
    assert_eq!(a.files.counts, b.files.counts);
    assert_eq!(a.tables, b.tables);
    assert_eq!(
        b.files.fields.last().map(String::as_str),
        Some("log-status")
    );
    assert_eq!(
        a.findings.iter().map(|f| &f.finding_id).collect::<Vec<_>>(),
        b.findings.iter().map(|f| &f.finding_id).collect::<Vec<_>>()
    );
}

#[test]
fn gzip_is_detected_by_magic_bytes_not_by_name() {
    let text = good_text();
    let gz = gzip(text.as_bytes());
    for name in ["flows.log", "flows.txt", "flows", "flows.log.gz"] {
        let r = read(gz.clone(), name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.files.counts, counts(10, 8, 1, 1, 0), "gzip named {name}");
        assert_eq!(r.files.compressed_bytes, gz.len() as u64);
        assert_eq!(r.files.uncompressed_bytes, text.len() as u64);
    }
    let r = read(text.clone().into_bytes(), "flows.log.gz").unwrap();
    assert_eq!(
        r.files.counts,
        counts(10, 8, 1, 1, 0),
        "plain text named .gz"
    );
    assert_eq!(r.files.compressed_bytes, text.len() as u64);
}

#[test]
fn reader_and_text_agree_across_chunk_boundaries() {
    // Over 1 MB of text, so the reader cuts it into several chunks.
    let mut recs = Vec::new();
    for i in 0..12_000u32 {
        let r = rec(
            &format!("198.51.{}.{}", i / 250, i % 250),
            "10.0.1.10",
            8000 + (i % 50) as u16,
        )
        .sp(40000);
        recs.push(if i % 7 == 0 { r.reject() } else { r });
    }
    let text = v2_text(&recs);
    assert!(text.len() > 1_000_000);
    let a = analyze_text(
        text.as_bytes(),
        path_source("c.log"),
        &Config::default(),
        NOW,
    )
    .unwrap();
    let b = read(text.clone().into_bytes(), "c.log").unwrap();
    let c = read(gzip(text.as_bytes()), "c.log").unwrap();
    assert_eq!(a.files.counts, counts(12_000, 12_000, 0, 0, 0));
    for r in [&b, &c] {
        assert_eq!(r.files.counts, a.files.counts);
        assert_eq!(r.tables, a.tables);
        assert_eq!(r.findings, a.findings);
    }
}

/// An engine for local file `path` that has read the v2 header.
fn v2_engine<'c>(config: &'c Config, path: &str) -> Engine<'c> {
    let mut engine = Engine::new(config, SourceRef::Path { path: path.into() });
    engine.push_line(V2_HEADER.as_bytes());
    engine
}

/// The engine's state is bounded by `max_tracked`, whatever the object.
///
/// Documented bound: the tables hold at most 12 × `max_tracked` entries
/// (ports, talkers, admin, services: 1× each; the distinct-address sets of
/// `ports`: 4× each) and the rules at most 8 × `max_tracked` plus 8,192
/// (brute force and rejected traffic 1× each; `port-scan` 2× for each of
/// its two pair tables, 1× for promoted pairs and 1× for attempts; the two
/// exposure rules 4,096 services each), so under 24 × `max_tracked`.
#[test]
fn per_address_state_is_bounded_by_max_tracked() {
    const MAX_TRACKED: usize = 10_000;
    const BOUND: usize = 6 * 4 * MAX_TRACKED;
    let config = Config::from_pairs([("max_tracked", MAX_TRACKED.to_string())]).unwrap();
    let mut engine = v2_engine(&config, "adversarial.log");
    let mut at_100k = 0;
    let mut peak = 0;
    for i in 0..300_000u32 {
        // A distinct internet source per flow, each one rejected flow on a
        // port that varies, to a few hosts.
        let src = format!("{}.{}.{}.{}", 11 + i / 65536, (i / 256) % 256, i % 256, 7);
        let line = format!(
            "2 123456789012 eni-00000001 {src} 10.0.{}.10 40000 {} 6 1 40 {T0} {} REJECT OK",
            i % 4,
            10_000 + i % 5_000,
            T0 + 60
        );
        engine.push_line(line.as_bytes());
        if i % 10_000 == 9_999 {
            let n = engine.tracked_entries();
            peak = peak.max(n);
            assert!(
                n <= BOUND,
                "{n} entries after {} records exceed {BOUND}",
                i + 1
            );
            if i + 1 == 100_000 {
                at_100k = n;
            }
        }
    }
    let at_300k = engine.tracked_entries();
    assert_eq!(
        at_300k, at_100k,
        "state stops growing once the bound is reached"
    );
    assert_eq!(peak, at_300k);
    // The rules' state is counted too, not only the tables'.
    assert!(at_300k > 8 * MAX_TRACKED, "{at_300k}");
    let report = engine.finish(0, NOW).unwrap();
    assert_eq!(report.files.counts, counts(300_000, 300_000, 0, 0, 0));
    let limits = &report.files.limits_hit;
    // `ports` counts distinct addresses with fixed-size sketches, so only
    // the per-address maps reach their bound.
    for want in ["talkers", "rule:rejected-traffic", "rule:port-scan"] {
        assert!(
            limits.iter().any(|l| l == want),
            "{want} missing from {limits:?}"
        );
    }
    let mut dedup = limits.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(
        &dedup.len(),
        &limits.len(),
        "limits are listed once: {limits:?}"
    );
    assert!(limits.len() <= 16, "{limits:?}");
    assert!(report.tables.talkers.len() <= config.detect.top_talkers);
}

/// `Rec` edits in place, for one-off bad values.
trait Tap: Sized {
    fn tap(self, f: impl FnOnce(&mut Self)) -> Self;
}

impl Tap for Rec {
    fn tap(mut self, f: impl FnOnce(&mut Rec)) -> Rec {
        f(&mut self);
        self
    }
}

/// An object from a wide-open network (or a hostile one) can name a new
/// internet source on every line: one finding per attacker would not fit a
/// small Lambda, so each rule keeps `max_findings`, the most active first,
/// and counts the rest. An exposed service stays one finding however many
/// sources reach it.
#[test]
fn findings_per_rule_are_capped_and_the_cap_is_reported() {
    let addr = |i: u32| format!("198.51.{}.{}", i / 200, i % 200 + 1);
    let mut recs = Vec::new();
    for i in 0..250u32 {
        // 20 to 26 flows each: all brute forcers, of different strength.
        for k in 0..20 + i % 7 {
            recs.push(rec(&addr(i), "10.0.1.20", 22).sp(40000 + k as u16));
        }
    }
    let text = v2_text(&recs);
    let full = analyze(&text);
    let of = |r: &Report, rule: &str| -> Vec<flowguard::Finding> {
        r.findings
            .iter()
            .filter(|f| f.rule.as_str() == rule)
            .cloned()
            .collect()
    };
    assert_eq!(of(&full, "admin-port-brute-force").len(), 250);
    let exposed = of(&full, "admin-port-exposed");
    assert_eq!(exposed.len(), 1, "one exposed service");
    assert_eq!(exposed[0].distinct_src_addrs, 250);
    assert_eq!(exposed[0].src_addrs.len(), 10, "a capped list");
    assert!(!full
        .files
        .limits_hit
        .iter()
        .any(|l| l.starts_with("findings:")));

    let config = Config::from_pairs([("max_findings", "100")]).unwrap();
    let capped = super::support::analyze_with(&text, &config);
    assert_eq!(of(&capped, "admin-port-brute-force").len(), 100);
    assert_eq!(of(&capped, "admin-port-exposed"), exposed);
    assert_eq!(capped.files.findings, capped.findings.len() as u64);
    assert!(
        capped
            .files
            .limits_hit
            .contains(&"findings:admin-port-brute-force".to_string()),
        "{:?}",
        capped.files.limits_hit
    );
    assert!(
        capped.bounds.iter().any(|b| b
            .explain()
            .contains("admin-port-brute-force named 150 more subjects than max_findings (100)")),
        "{:?}",
        capped.bounds
    );
    // The kept findings are those of the most active sources (ties by
    // address), the same findings as without a cap.
    let mut ranked: Vec<(u32, std::net::IpAddr)> = (0..250u32)
        .map(|i| (20 + i % 7, addr(i).parse().unwrap()))
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut want: Vec<std::net::IpAddr> = ranked[..100].iter().map(|r| r.1).collect();
    want.sort();
    let mut kept: Vec<std::net::IpAddr> = of(&capped, "admin-port-brute-force")
        .iter()
        .filter_map(|f| f.src_addr.as_deref()?.parse().ok())
        .collect();
    kept.sort();
    assert_eq!(kept, want);
    for f in capped.findings.iter() {
        assert!(
            full.findings.contains(f),
            "{f:?} is not a finding without the cap"
        );
    }
}

/// Every outbound rule's per-object table stops at `max_tracked / 4`
/// keys, beaconing's (one key per host, peer and port) included: one host
/// making accepted connections to 20,000 peers on one port.
#[test]
fn outbound_tables_stop_at_a_quarter_of_max_tracked() {
    const MAX_TRACKED: usize = 4_000;
    let config = Config::from_pairs([("max_tracked", MAX_TRACKED.to_string())]).unwrap();
    let mut engine = v2_engine(&config, "many-peers.log");
    let flows = 20_000u32;
    for i in 0..flows {
        let peer = format!("52.{}.{}.9", (i / 256) % 256, i % 256);
        let line = format!(
            "2 123456789012 eni-00000001 10.0.0.5 {peer} 40000 443 6 10 4000 {T0} {} ACCEPT OK",
            T0 + 60
        );
        engine.push_line(line.as_bytes());
    }
    // The tables and inbound rules hold little here: the outbound keys are
    // most of what is tracked, and at most a quarter of max_tracked each.
    assert!(
        engine.tracked_entries() <= 6 * MAX_TRACKED,
        "{}",
        engine.tracked_entries()
    );
    let report = engine.finish(0, NOW).unwrap();
    assert_eq!(report.files.counts.ok, u64::from(flows));
    let limits = &report.files.limits_hit;
    for want in ["rule:beaconing", "rule:large-upload"] {
        assert!(
            limits.iter().any(|l| l == want),
            "{want} missing from {limits:?}"
        );
    }
    // The bound each reached, as the report and the log state it.
    for rule in [flowguard::RuleId::Beaconing, flowguard::RuleId::LargeUpload] {
        let want = flowguard::limits::Bound::Rule {
            rule,
            bound: MAX_TRACKED / 4,
        };
        assert!(report.bounds.contains(&want), "{rule}: {:?}", report.bounds);
    }
}
