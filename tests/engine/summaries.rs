//! The summaries of SPEC §3: a golden test of every table for a small
//! object, the key layout, and how the partition is derived.
//!
//! The golden files live in `tests/fixtures/golden/` (`input.log` and one
//! `{table}.ndjson` per table). After a deliberate change to the output,
//! regenerate them with
//!
//!     UPDATE_GOLDEN=1 cargo test --no-default-features --test tests golden
//!
//! and check every changed number by hand before committing them.

use std::collections::BTreeMap;

use flowguard::analyze::ANALYZER_VERSION;
use flowguard::{analyze_text, Config, Report, SourceRef};
use serde_json::Value;

use super::support::{analyze, fixture, ndjson, path_source, rec, v2_text, NOW, T0, V2_HEADER};

const GOLDEN_BUCKET: &str = "example-flow-logs";
const GOLDEN_KEY: &str = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/06/26/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f67890_20250626T1820Z_5f3c2a1b.log.gz";
const GOLDEN_STEM: &str =
    "123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f67890_20250626T1820Z_5f3c2a1b";

fn golden_report() -> Report {
    let text = std::fs::read(fixture("golden/input.log")).unwrap();
    let source = SourceRef::S3 {
        bucket: GOLDEN_BUCKET.into(),
        key: GOLDEN_KEY.into(),
    };
    analyze_text(&text, source, &Config::default(), NOW).unwrap()
}

/// Rows with the analyser version replaced by a placeholder, so a version
/// bump does not break the golden files.
fn normalise(mut rows: Vec<Value>) -> Vec<Value> {
    for row in &mut rows {
        if let Some(v) = row.get_mut("analyzer_version") {
            assert_eq!(v.as_str(), Some(ANALYZER_VERSION));
            *v = Value::String("ANALYZER_VERSION".into());
        }
    }
    rows
}

#[test]
fn golden_tables() {
    let report = golden_report();
    let objects = report.summary_objects("flowguard/");
    let tables: Vec<&str> = objects.iter().map(|o| o.table.name()).collect();
    assert_eq!(
        tables,
        ["ports", "talkers", "admin", "services", "rejected", "findings", "files"],
        "files last"
    );
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for obj in &objects {
        assert_eq!(
            obj.key,
            format!(
                "flowguard/{}/account=123456789012/region=us-east-1/dt=2025-06-26/hour=18/{GOLDEN_STEM}.json.gz",
                obj.table
            )
        );
        let rows = normalise(ndjson(&obj.body));
        let path = fixture(&format!("golden/{}.ndjson", obj.table));
        if update {
            let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
            std::fs::write(&path, text).unwrap();
            continue;
        }
        let want: Vec<Value> = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), want.len(), "{}: row count", obj.table);
        for (i, (got, want)) in rows.iter().zip(&want).enumerate() {
            assert_eq!(got, want, "{} row {i}", obj.table);
        }
    }
    assert!(
        !update,
        "golden files rewritten; unset UPDATE_GOLDEN and check them by hand"
    );
}

#[test]
fn golden_report_in_rust_terms() {
    // The numbers of the golden files, checked once more through the API.
    let r = golden_report();
    let c = r.files.counts;
    assert_eq!(
        (c.records, c.ok, c.nodata, c.skipdata, c.malformed),
        (13, 10, 1, 1, 1)
    );
    assert_eq!(r.files.first_start, Some(1_750_961_380));
    assert_eq!(r.files.last_end, Some(1_750_961_760));
    assert_eq!(r.files.findings, 3);
    assert_eq!(r.files.processed_at, "2025-06-26T18:20:00Z");
    assert_eq!(
        r.files.malformed_samples,
        vec!["line 14: invalid value 'x' for field 'packets'".to_string()]
    );
    let rules: Vec<&str> = r.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(
        rules,
        [
            "admin-port-exposed",
            "sensitive-port-exposed",
            "skipped-records"
        ]
    );
    let ssh = &r.tables.admin[0];
    assert_eq!(
        (
            ssh.srcaddr.to_string().as_str(),
            ssh.dstaddr.to_string().as_str(),
            ssh.dstport
        ),
        ("198.51.100.7", "10.0.1.20", 22)
    );
    assert_eq!((ssh.flows, ssh.packets, ssh.bytes), (2, 22, 3300));
    assert_eq!(
        (ssh.first_start, ssh.last_end),
        (Some(1_750_961_400), Some(1_750_961_520))
    );
    let ports_flows: u64 = r.tables.ports.iter().map(|p| p.flows).sum();
    let ports_bytes: u64 = r.tables.ports.iter().map(|p| p.bytes).sum();
    assert_eq!(ports_flows, 10);
    assert_eq!(
        ports_bytes,
        1800 + 1500 + 2400 + 120 + 8000 + 30000 + 80 + 160 + 240 + 720
    );
    let top = &r.tables.talkers[0];
    assert_eq!(
        (top.rank, top.address.as_str(), top.bytes_in, top.bytes_out),
        (1, "203.0.113.9", 30000, 8120)
    );
}

#[test]
fn keys_follow_the_athena_layout() {
    let r = analyze(&v2_text(&[rec("198.51.100.7", "10.0.1.20", 22)]));
    let keys: Vec<String> = r
        .summary_objects("custom/prefix/")
        .into_iter()
        .map(|o| o.key)
        .collect();
    let want: Vec<String> = ["ports", "talkers", "admin", "services", "rejected", "findings", "files"]
        .iter()
        .map(|t| format!("custom/prefix/{t}/account=123456789012/region=unknown/dt=2025-06-26/hour=18/test.json.gz"))
        .collect();
    assert_eq!(keys, want);
    // Every row of every table names its object (findings as an object).
    for obj in r.summary_objects("flowguard/") {
        for row in ndjson(&obj.body) {
            if obj.table.name() == "findings" {
                assert_eq!(row["source"], serde_json::json!({"path": "test.log"}));
            } else {
                assert_eq!(row["source"], "test.log", "{}", obj.table);
            }
        }
    }
}

/// (account, region, dt, hour, stem) of an object.
type Placement = (String, String, String, String, String);

fn partition_of(text: &str, source: SourceRef) -> Placement {
    let r = analyze_text(text.as_bytes(), source, &Config::default(), NOW).unwrap();
    let p = r.partition;
    (p.account, p.region, p.dt, p.hour, r.stem)
}

fn s3(key: &str) -> SourceRef {
    SourceRef::S3 {
        bucket: "bkt".into(),
        key: key.into(),
    }
}

#[test]
fn partition_comes_from_the_key_then_the_records_then_now() {
    // Records of account 111122223333, 2025-06-25T07:xx (earliest start).
    let early = 1_750_835_000; // 2025-06-25T07:03:20Z
    let recs = [
        rec("198.51.100.7", "10.0.1.20", 443).times(early + 500, early + 560),
        rec("198.51.100.7", "10.0.1.20", 443).times(early, early + 60),
    ];
    let mut body = v2_text(&recs);
    body = body.replace("123456789012", "111122223333");
    let v4 = format!(
        "account-id region srcaddr dstaddr start end\n111122223333 eu-north-1 198.51.100.7 10.0.1.20 {early} {}\n",
        early + 60
    );
    let none = "srcaddr dstaddr dstport\n198.51.100.7 10.0.1.20 443\n";
    let t = |a: &str, r: &str, d: &str, h: &str, s: &str| {
        (a.into(), r.into(), d.into(), h.into(), s.into())
    };
    let cases: Vec<(&str, String, SourceRef, Placement)> = vec![
        (
            "AWSLogs key with a delivery time",
            body.clone(),
            s3("AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/06/26/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f67890_20250626T1820Z_5f3c2a1b.log.gz"),
            t("123456789012", "us-east-1", "2025-06-26", "18", "123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f67890_20250626T1820Z_5f3c2a1b"),
        ),
        (
            "AWSLogs key under a prefix, local path",
            body.clone(),
            path_source("/data/exports/AWSLogs/210987654321/vpcflowlogs/ap-southeast-2/2024/12/31/210987654321_vpcflowlogs_ap-southeast-2_fl-1_20241231T2355Z_ab12.log.gz"),
            t("210987654321", "ap-southeast-2", "2024-12-31", "23", "210987654321_vpcflowlogs_ap-southeast-2_fl-1_20241231T2355Z_ab12"),
        ),
        (
            "Hive-style key",
            body.clone(),
            s3("flows/AWSLogs/aws-account-id=210987654321/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2025/month=06/day=26/hour=18/210987654321_vpcflowlogs_eu-west-1_fl-1_20250626T1805Z_ab.log.gz"),
            t("210987654321", "eu-west-1", "2025-06-26", "18", "210987654321_vpcflowlogs_eu-west-1_fl-1_20250626T1805Z_ab"),
        ),
        (
            "no key facts: account from the records, dt/hour from the earliest start",
            body.clone(),
            path_source("exports/flows.log"),
            t("111122223333", "unknown", "2025-06-25", "07", "flows"),
        ),
        (
            "account and region from v4 records",
            v4,
            path_source("custom.log"),
            t("111122223333", "eu-north-1", "2025-06-25", "07", "custom"),
        ),
        (
            "nothing known: unknown, and the processing time",
            none.to_string(),
            path_source("bare.log"),
            t("unknown", "unknown", "2025-06-26", "18", "bare"),
        ),
        (
            "key account wins over the records",
            body.clone(),
            s3("AWSLogs/999988887777/vpcflowlogs/us-west-2/x.log"),
            t("999988887777", "us-west-2", "2025-06-25", "07", "x"),
        ),
        (
            "stdin",
            body,
            path_source("-"),
            t("111122223333", "unknown", "2025-06-25", "07", "stdin"),
        ),
    ];
    for (name, text, source, want) in cases {
        assert_eq!(partition_of(&text, source), want, "{name}");
    }
    // Unsafe account values in records never become path components.
    let text = format!(
        "{V2_HEADER}\n{}\n",
        rec("198.51.100.7", "10.0.1.20", 443)
            .v2()
            .replace("123456789012", "../../etc")
    );
    assert_eq!(partition_of(&text, path_source("x.log")).0, "unknown");
}

#[test]
fn files_row_has_the_spec_columns() {
    let recs = [
        rec("198.51.100.7", "10.0.1.20", 22).times(T0, T0 + 60),
        rec("198.51.100.7", "10.0.1.20", 22)
            .times(T0 + 30, T0 + 90)
            .status("NODATA"),
    ];
    let r = analyze(&v2_text(&recs));
    let files = r.summary_objects("flowguard/").pop().unwrap();
    assert_eq!(files.table.name(), "files");
    let rows = ndjson(&files.body);
    assert_eq!(rows.len(), 1);
    let row = rows[0].as_object().unwrap();
    let want: BTreeMap<&str, Value> = [
        ("source", serde_json::json!("test.log")),
        ("path", serde_json::json!("test.log")),
        ("records", serde_json::json!(2)),
        ("ok", serde_json::json!(1)),
        ("nodata", serde_json::json!(1)),
        ("skipdata", serde_json::json!(0)),
        ("malformed", serde_json::json!(0)),
        ("first_start", serde_json::json!(T0)),
        ("last_end", serde_json::json!(T0 + 90)),
        ("findings", serde_json::json!(1)),
        ("analyzer_version", serde_json::json!(ANALYZER_VERSION)),
        ("processed_at", serde_json::json!("2025-06-26T18:20:00Z")),
    ]
    .into_iter()
    .collect();
    for (k, v) in want {
        assert_eq!(row.get(k), Some(&v), "files.{k}");
    }
    let len = v2_text(&recs).len() as u64;
    assert_eq!(row["compressed_bytes"], len);
    assert_eq!(row["uncompressed_bytes"], len);
    // snake_case column names everywhere.
    for obj in r.summary_objects("flowguard/") {
        for row in ndjson(&obj.body) {
            for k in row.as_object().unwrap().keys() {
                assert!(
                    k.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{}.{k}",
                    obj.table
                );
            }
        }
    }
}
