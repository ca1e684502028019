//! The `flowguard` command line (SPEC §6): exit statuses, JSON output,
//! standard input, directory walking, and `generate` | `analyze` finding
//! exactly the injected attacks.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::shapes::{text_to_cwl, text_to_parquet, ParquetOpts};
use super::support::{gzip, ndjson, rec, v2_text};

fn flowguard() -> Command {
    super::support::flowguard_command()
}

fn run(args: &[&str]) -> Output {
    flowguard().args(args).output().expect("runs flowguard")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A quiet object: one accepted HTTPS flow.
fn quiet() -> String {
    v2_text(&[rec("198.51.100.7", "10.0.1.10", 443)])
}

/// An object with one high finding (SSH exposed).
fn exposed() -> String {
    v2_text(&[rec("198.51.100.7", "10.0.1.20", 22)])
}

/// An object with only a low finding (rejected traffic).
fn low_only() -> String {
    v2_text(
        &(0..100)
            .map(|i| rec("192.0.2.99", "10.0.1.10", 8080).sp(30000 + i).reject())
            .collect::<Vec<_>>(),
    )
}

/// Relative paths of every file under `dir`, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(
                    p.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    let mut v = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut v);
    }
    v.sort();
    v
}

/// The `files` rows under an --out directory.
fn files_rows(out: &Path) -> Vec<Value> {
    tree(out)
        .iter()
        .filter(|p| p.starts_with("flowguard/files/"))
        .flat_map(|p| ndjson(&std::fs::read(out.join(p)).unwrap()))
        .collect()
}

#[test]
fn exit_0_when_everything_is_processed() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.log");
    std::fs::write(&f, exposed()).unwrap();
    let o = run(&["analyze", s(&f)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("admin-port-exposed") && text.contains("198.51.100.7"),
        "{text}"
    );
}

#[test]
fn exit_1_when_one_input_fails_and_the_others_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    std::fs::write(inputs.join("good1.log"), exposed()).unwrap();
    std::fs::write(inputs.join("good2.log.gz"), gzip(quiet().as_bytes())).unwrap();
    let bad = gzip(exposed().repeat(50).as_bytes());
    let bad_path = inputs.join("bad.log.gz");
    std::fs::write(&bad_path, &bad[..bad.len() / 2]).unwrap();
    let out = dir.path().join("out");
    let o = run(&["analyze", "--out", s(&out), "--format", "json", s(&inputs)]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(s(&bad_path)),
        "stderr names the bad file: {err}"
    );
    assert!(
        !err.contains("good1.log:") && !err.contains("good2.log.gz:"),
        "{err}"
    );
    let rows = files_rows(&out);
    let mut paths: Vec<&str> = rows.iter().map(|r| r["path"].as_str().unwrap()).collect();
    paths.sort();
    let g1 = inputs.join("good1.log");
    let g2 = inputs.join("good2.log.gz");
    assert_eq!(paths, vec![s(&g1), s(&g2)]);
    assert!(
        tree(&out).iter().all(|p| !p.contains("bad")),
        "{:?}",
        tree(&out)
    );
    // The good files' findings were still printed.
    assert_eq!(stdout(&o).lines().count(), 1);

    // A missing path is a failed input too.
    let o = run(&["analyze", s(&g1), s(&dir.path().join("missing.log"))]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("missing.log"), "{}", stderr(&o));
}

#[test]
fn exit_2_for_usage_and_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.log");
    std::fs::write(&f, exposed()).unwrap();
    let bad_value = dir.path().join("bad-value.toml");
    std::fs::write(&bad_value, "admin_ports = [\"ssh\"]\n").unwrap();
    let unknown_key = dir.path().join("unknown-key.toml");
    std::fs::write(&unknown_key, "brute_force_treshold = 5\n").unwrap();
    let empty_prefix = dir.path().join("empty-prefix.toml");
    std::fs::write(&empty_prefix, "summary_prefix = \"\"\n").unwrap();
    let not_toml = dir.path().join("not.toml");
    std::fs::write(&not_toml, "this is = = not toml\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["analyze", "--config", s(&bad_value), s(&f)],
            "admin_ports",
        ),
        (
            vec!["analyze", "--config", s(&unknown_key), s(&f)],
            "brute_force_treshold",
        ),
        (
            vec!["analyze", "--config", s(&empty_prefix), s(&f)],
            "summary_prefix: must not be empty",
        ),
        (vec!["analyze", "--config", s(&not_toml), s(&f)], "not.toml"),
        (
            vec!["analyze", "--config", "/nonexistent/flowguard.toml", s(&f)],
            "/nonexistent/flowguard.toml",
        ),
        (vec!["analyze", "--frobnicate", s(&f)], "--frobnicate"),
        (vec!["analyze", "--format", "yaml", s(&f)], "yaml"),
        (vec!["analyze", "--fail-on", "urgent", s(&f)], "urgent"),
        (vec!["analyze"], "PATH"),
        (vec!["frobnicate"], "frobnicate"),
    ];
    for (args, needle) in cases {
        let o = run(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(needle),
            "{args:?}: stderr should mention {needle}: {}",
            stderr(&o)
        );
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn exit_3_when_fail_on_is_reached() {
    let dir = tempfile::tempdir().unwrap();
    let high = dir.path().join("high.log");
    let low = dir.path().join("low.log");
    std::fs::write(&high, exposed()).unwrap();
    std::fs::write(&low, low_only()).unwrap();
    let none = dir.path().join("none.log");
    std::fs::write(&none, quiet()).unwrap();
    let cases: [(&str, &Path, i32); 6] = [
        ("high", &high, 3),
        ("medium", &high, 3),
        ("high", &low, 0),
        ("medium", &low, 0),
        ("low", &low, 3),
        ("low", &none, 0),
    ];
    for (level, path, want) in cases {
        let o = run(&["analyze", "--format", "json", "--fail-on", level, s(path)]);
        assert_eq!(
            code(&o),
            want,
            "--fail-on {level} {}: {}",
            path.display(),
            stderr(&o)
        );
    }
    // A failed input takes precedence over --fail-on.
    let o = run(&[
        "analyze",
        "--fail-on",
        "low",
        s(&high),
        s(&dir.path().join("missing.log")),
    ]);
    assert_eq!(code(&o), 1);
}

#[test]
fn json_output_has_the_spec_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.log");
    let mut recs: Vec<_> = (0..25)
        .map(|i| rec("203.0.113.50", "10.0.1.10", 2000 + i).reject())
        .collect();
    recs.push(rec("198.51.100.7", "10.0.1.20", 22));
    recs.push(rec("198.51.100.7", "10.0.1.20", 22).status("SKIPDATA"));
    std::fs::write(&path, v2_text(&recs)).unwrap();
    let o = run(&["analyze", "--format", "json", s(&path)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let rules: Vec<&str> = lines.iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert_eq!(
        rules,
        ["admin-port-exposed", "port-scan", "skipped-records"]
    );
    for f in &lines {
        let is_str = |k: &str| f[k].is_string();
        let is_arr = |k: &str| f[k].is_array();
        let is_u64 = |k: &str| f[k].is_u64();
        assert!(
            is_str("finding_id") && f["finding_id"].as_str().unwrap().starts_with("fg-"),
            "{f}"
        );
        for k in [
            "rule",
            "severity",
            "title",
            "account",
            "region",
            "first_seen",
            "last_seen",
        ] {
            assert!(is_str(k), "{k} in {f}");
        }
        for k in ["interface_ids", "dst_addrs", "dst_ports", "mitre_attack"] {
            assert!(is_arr(k), "{k} in {f}");
        }
        for k in ["flows", "packets", "bytes"] {
            assert!(is_u64(k), "{k} in {f}");
        }
        assert!(f["protocol"].is_u64() || f["protocol"].is_null(), "{f}");
        // The actor: none for an exposed service or an interface.
        let actor = !matches!(
            f["rule"].as_str(),
            Some("admin-port-exposed" | "sensitive-port-exposed" | "skipped-records")
        );
        assert_eq!(f["src_addr"].is_string(), actor, "{f}");
        assert!(f.as_object().unwrap().contains_key("src_addr"));
        assert!(is_arr("src_addrs") && is_str("subject"), "{f}");
        for k in [
            "distinct_src_addrs",
            "distinct_dst_addrs",
            "distinct_dst_ports",
            "occurrences",
            "window_flows",
        ] {
            assert!(is_u64(k), "{k} in {f}");
        }
        assert!(f["notified"].is_boolean(), "{f}");
        assert_eq!(f["source"], serde_json::json!({ "path": s(&path) }));
        assert!(matches!(
            f["severity"].as_str(),
            Some("low" | "medium" | "high")
        ));
        let seen = f["first_seen"].as_str().unwrap();
        assert!(
            seen.len() == 20 && seen.ends_with('Z') && seen.as_bytes()[10] == b'T',
            "{seen}"
        );
    }
    let exposed = &lines[0];
    assert_eq!(exposed["severity"], "high");
    assert_eq!(exposed["src_addr"], serde_json::Value::Null);
    assert_eq!(exposed["src_addrs"], serde_json::json!(["198.51.100.7"]));
    assert_eq!(exposed["subject"], "10.0.1.20:22/tcp");
    assert_eq!(exposed["distinct_src_addrs"], 1);
    assert_eq!(exposed["dst_addrs"], serde_json::json!(["10.0.1.20"]));
    assert_eq!(exposed["dst_ports"], serde_json::json!([22]));
    assert_eq!(exposed["protocol"], 6);
    assert_eq!(exposed["account"], "123456789012");
    assert_eq!(exposed["region"], "unknown");
    assert_eq!(
        exposed["mitre_attack"],
        serde_json::json!(["T1133", "T1021.004"])
    );
    assert_eq!(lines[1]["flows"], 25);
    assert_eq!(lines[1]["mitre_attack"], serde_json::json!(["T1046"]));
    assert_eq!(lines[2]["src_addr"], Value::Null);

    // --min-severity filters what is printed.
    let o = run(&[
        "analyze",
        "--format",
        "json",
        "--min-severity",
        "medium",
        s(&path),
    ]);
    let rules: Vec<String> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["rule"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(rules, ["admin-port-exposed", "port-scan"]);
}

#[test]
fn stdin_is_read_for_dash() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for (name, body) in [
        ("plain", exposed().into_bytes()),
        ("gzip", gzip(exposed().as_bytes())),
        // Parquet needs random access: stdin is read into memory first.
        (
            "parquet",
            text_to_parquet(&exposed(), &ParquetOpts::default()),
        ),
        ("cloudwatch", text_to_cwl(&exposed(), "123456789012", 2)),
    ] {
        let mut child = flowguard()
            .args(["analyze", "--format", "json", "--out", s(&out), "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&body).unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(code(&o), 0, "{name}: {}", stderr(&o));
        let lines: Vec<Value> = stdout(&o)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{name}");
        assert_eq!(lines[0]["rule"], "admin-port-exposed");
        assert_eq!(lines[0]["source"], serde_json::json!({"path": "-"}));
    }
    assert!(
        tree(&out).contains(&"flowguard/files/account=123456789012/region=unknown/dt=2025-06-26/hour=18/stdin.json.gz".to_string()),
        "{:?}",
        tree(&out)
    );
}

#[test]
fn directories_are_walked_for_flow_logs_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("logs");
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    let files: [(&str, bool); 10] = [
        ("a.log", true),
        ("b.log.gz", true),
        ("sub/c.log", true),
        ("sub/deeper/d.log.gz", true),
        ("sub/h.log.parquet", true),
        ("i.parquet", true),
        ("notes.txt", false),
        ("e.json", false),
        ("f.gz", false),
        ("g.log.bak", false),
    ];
    for (name, _) in files {
        let body = if name.ends_with(".gz") {
            gzip(exposed().as_bytes())
        } else if name.ends_with(".parquet") {
            text_to_parquet(&exposed(), &ParquetOpts::default())
        } else {
            exposed().into_bytes()
        };
        std::fs::write(root.join(name), body).unwrap();
    }
    let out = dir.path().join("out");
    let o = run(&["analyze", "--format", "json", "--out", s(&out), s(&root)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // The same service is exposed in every file: one notification for the
    // run, and a `files` row per file read.
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
    let mut sources: Vec<String> = files_rows(&out)
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    sources.sort();
    let mut want: Vec<String> = files
        .iter()
        .filter(|(_, walked)| *walked)
        .map(|(n, _)| s(&root.join(n)).to_string())
        .collect();
    want.sort();
    assert_eq!(sources, want);
    let mut stems: Vec<String> = tree(&out)
        .into_iter()
        .filter(|p| p.starts_with("flowguard/files/"))
        .map(|p| p.rsplit('/').next().unwrap().to_string())
        .collect();
    stems.sort();
    assert_eq!(
        stems,
        [
            "a.json.gz",
            "b.json.gz",
            "c.json.gz",
            "d.json.gz",
            "h.json.gz",
            "i.json.gz"
        ]
    );
    // A file named explicitly is analysed whatever its name.
    let o = run(&["analyze", "--format", "json", s(&root.join("notes.txt"))]);
    assert_eq!(code(&o), 0);
    assert_eq!(stdout(&o).lines().count(), 1);
}

/// (rule, subject).
type Key = (String, String);
#[test]
fn every_shape_under_any_name_and_the_aws_name_gives_the_partition() {
    let dir = tempfile::tempdir().unwrap();
    let name = "123456789012_vpcflowlogs_us-west-2_fl-0a1b2c3d4e5f67890_20250626T1820Z_5f3c2a1b";
    let out = dir.path().join("out");
    // Outside the AWSLogs/ folders, named as AWS names objects: account
    // and region come from the name, whatever the shape of the content.
    for (file, body) in [
        (format!("{name}.log.gz"), gzip(exposed().as_bytes())),
        (
            format!("{name}.log.parquet"),
            text_to_parquet(&exposed(), &ParquetOpts::default()),
        ),
        (
            format!("{name}.cwl"),
            text_to_cwl(&exposed(), "123456789012", 1),
        ),
        // The shape is never taken from the name.
        (
            format!("{name}-parquet.log"),
            text_to_parquet(&exposed(), &ParquetOpts::default()),
        ),
    ] {
        let path = dir.path().join(&file);
        std::fs::write(&path, body).unwrap();
        let o = run(&["analyze", "--format", "json", "--out", s(&out), s(&path)]);
        assert_eq!(code(&o), 0, "{file}: {}", stderr(&o));
        let f: Value = serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
        assert_eq!(
            (f["rule"].as_str(), f["region"].as_str()),
            (Some("admin-port-exposed"), Some("us-west-2")),
            "{file}"
        );
    }
    let files: Vec<String> = tree(&out)
        .into_iter()
        .filter(|p| p.starts_with("flowguard/files/"))
        .collect();
    let prefix = "flowguard/files/account=123456789012/region=us-west-2/dt=2025-06-26/hour=18/";
    assert_eq!(
        files,
        [
            format!("{prefix}{name}-parquet.json.gz"),
            format!("{prefix}{name}.cwl.json.gz"),
            format!("{prefix}{name}.json.gz"),
        ],
        "the .log.gz and .log.parquet of one name share their summaries (a retry overwrites)"
    );
}

fn generate_and_analyze(format: &str, seed: &str) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join(format!("gen-{format}.log.gz"));
    let manifest = dir.path().join("manifest.json");
    let o = run(&[
        "generate",
        "--records",
        "200000",
        "--seed",
        seed,
        "--format",
        format,
        "-o",
        s(&log),
        "--manifest",
        s(&manifest),
    ]);
    assert_eq!(code(&o), 0, "generate: {}", stderr(&o));
    let m: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(m["records"], 200_000);
    let want: BTreeSet<Key> = m["expected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["rule"].as_str().unwrap().to_string(),
                e["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(want.len(), 10);

    let out = dir.path().join("out");
    let o = run(&["analyze", "--format", "json", "--out", s(&out), s(&log)]);
    assert_eq!(code(&o), 0, "analyze: {}", stderr(&o));
    let findings: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<Key> = findings
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let got_set: BTreeSet<Key> = got.iter().cloned().collect();
    assert_eq!(got.len(), got_set.len(), "one finding per key: {got:?}");
    assert_eq!(
        got_set, want,
        "{format} seed {seed}: findings must equal the injected attacks"
    );

    let files = files_rows(&out);
    assert_eq!(files.len(), 1);
    let f = &files[0];
    assert_eq!(f["records"], 200_000);
    assert_eq!(f["malformed"], 0);
    assert_eq!(f["nodata"], m["nodata"]);
    assert_eq!(f["skipdata"], m["skipdata"]);
    assert_eq!(f["findings"], findings.len());
    assert_eq!(
        f["compressed_bytes"],
        std::fs::metadata(&log).unwrap().len()
    );
    assert_eq!(f["limits_hit"], serde_json::json!([]));
}

#[test]
fn generated_v2_attacks_are_found_exactly() {
    generate_and_analyze("v2", "7");
}

#[test]
fn generated_v5_attacks_are_found_exactly() {
    generate_and_analyze("v5", "11");
}

/// `flowguard generate --objects N` into `dir`; returns the objects' paths
/// in time order.
fn scenario(dir: &Path, objects: u64, records: u64) -> Vec<std::path::PathBuf> {
    let o = run(&[
        "generate",
        "--objects",
        &objects.to_string(),
        "--records",
        &records.to_string(),
        "--seed",
        "3",
        "-o",
        s(dir),
    ]);
    assert_eq!(code(&o), 0, "generate: {}", stderr(&o));
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                found.push(p);
            }
        }
    }
    found.sort();
    assert_eq!(found.len() as u64, objects);
    found
}

/// The finding ids printed (one JSON line per notification).
fn notified_ids(o: &Output) -> Vec<String> {
    stdout(o)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["finding_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn a_state_file_notifies_each_finding_once_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let objects = scenario(&dir.path().join("in"), 36, 400);
    let state = dir.path().join("state.redb");
    let paths = |range: std::ops::Range<usize>| -> Vec<&str> {
        objects[range].iter().map(|p| s(p)).collect()
    };
    let analyze = |files: Vec<&str>, state: Option<&Path>| {
        let mut args = vec!["analyze", "--format", "json"];
        if let Some(st) = state {
            args.extend(["--state", s(st)]);
        }
        args.extend(files);
        let o = run(&args);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        notified_ids(&o)
    };
    // One run over all the objects: the reference.
    let mut all = analyze(paths(0..36), None);
    all.sort();
    assert!(all.len() >= 4, "{all:?}");
    // Three scheduled runs over new files, keeping the state in a file.
    let mut runs = Vec::new();
    for part in [0..12, 12..24, 24..36] {
        runs.extend(analyze(paths(part), Some(&state)));
    }
    runs.sort();
    assert_eq!(runs, all, "each finding notified once across runs");
    // Files seen again (a replay): nothing is notified a second time.
    assert_eq!(analyze(paths(0..12), Some(&state)), Vec::<String>::new());
    // Without the state file, the same files notify again.
    assert!(!analyze(paths(0..12), None).is_empty());
}

#[test]
fn a_damaged_or_foreign_state_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.log");
    std::fs::write(&f, exposed()).unwrap();
    let garbage = dir.path().join("garbage.redb");
    std::fs::write(
        &garbage,
        b"this is not a database at all, just bytes\n".repeat(200),
    )
    .unwrap();
    let foreign = dir.path().join("foreign.redb");
    {
        let db = redb::Database::create(&foreign).unwrap();
        let txn = db.begin_write().unwrap();
        let table: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("other");
        txn.open_table(table).unwrap().insert("x", 1).unwrap();
        txn.commit().unwrap();
    }
    let older = dir.path().join("older.redb");
    {
        let db = redb::Database::create(&older).unwrap();
        let txn = db.begin_write().unwrap();
        let meta: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("flowguard");
        txn.open_table(meta)
            .unwrap()
            .insert("format", "flowguard-state/0")
            .unwrap();
        txn.commit().unwrap();
    }
    let garbage_bytes = std::fs::read(&garbage).unwrap();
    for (file, says) in [
        (&garbage, "not a flowguard state file"),
        (&foreign, "not a flowguard state file"),
        (&older, "flowguard-state/0"),
    ] {
        let o = run(&["analyze", "--state", s(file), s(&f)]);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert!(
            stderr(&o).contains(s(file)) && stderr(&o).contains(says),
            "{}",
            stderr(&o)
        );
        assert!(o.stdout.is_empty());
    }
    // Never reset: the bytes of the damaged file, and what the others held.
    assert!(
        std::fs::read(&garbage).unwrap() == garbage_bytes,
        "garbage changed"
    );
    let db = redb::Database::open(&foreign).unwrap();
    let table: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("other");
    let t = redb::ReadableDatabase::begin_read(&db)
        .unwrap()
        .open_table(table)
        .unwrap();
    assert_eq!(
        redb::ReadableTable::get(&t, "x")
            .unwrap()
            .map(|v| v.value()),
        Some(1)
    );
    let db = redb::Database::open(&older).unwrap();
    let meta: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("flowguard");
    let t = redb::ReadableDatabase::begin_read(&db)
        .unwrap()
        .open_table(meta)
        .unwrap();
    assert_eq!(
        redb::ReadableTable::get(&t, "format")
            .unwrap()
            .map(|v| v.value().to_string()),
        Some("flowguard-state/0".to_string())
    );
}

#[test]
fn an_interrupted_run_leaves_a_usable_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let objects = scenario(&dir.path().join("in"), 96, 3000);
    let state = dir.path().join("state.redb");
    let mut child = flowguard()
        .args([
            "analyze",
            "--format",
            "json",
            "--state",
            s(&state),
            s(&dir.path().join("in")),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed part-way through (once it has notified something).
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut first,
    )
    .unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    assert!(first.contains("finding_id"), "{first}");
    let last = objects.last().unwrap();
    let o = run(&["analyze", "--state", s(&state), s(last)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// Eight hours of one flow log (96 five-minute objects) with seven attacks
/// and exposures that no single object shows: the run finds each under
/// one finding id, nothing for the noise, and notifies few times.
#[test]
fn the_eight_hour_scenario_is_correlated_across_objects() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let manifest = dir.path().join("manifest.json");
    let o = run(&[
        "generate",
        "--objects",
        "96",
        "--records",
        "3000",
        "--seed",
        "3",
        "-o",
        s(&input),
        "--manifest",
        s(&manifest),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let m: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let want: BTreeSet<(String, String)> = m["expected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["rule"].as_str().unwrap().into(),
                e["subject"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(want.len(), 7);
    let out = dir.path().join("out");
    let o = run(&["analyze", "--format", "json", "--out", s(&out), s(&input)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let notified: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(notified.len() <= 14, "{} notifications", notified.len());
    let rows: Vec<Value> = tree(&out)
        .into_iter()
        .filter(|p| p.starts_with("flowguard/findings/"))
        .flat_map(|p| ndjson(&std::fs::read(out.join(p)).unwrap()))
        .collect();
    let mut ids: std::collections::BTreeMap<(String, String), BTreeSet<String>> =
        Default::default();
    for r in &rows {
        ids.entry((
            r["rule"].as_str().unwrap().into(),
            r["subject"].as_str().unwrap().into(),
        ))
        .or_default()
        .insert(r["finding_id"].as_str().unwrap().into());
    }
    let found: BTreeSet<_> = ids.keys().cloned().collect();
    assert_eq!(found, want, "every attack, and nothing for the noise");
    assert!(
        ids.values().all(|v| v.len() == 1),
        "one id per attack: {ids:?}"
    );
    let sent: BTreeSet<(String, String)> = notified
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().into(),
                f["subject"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(sent, want, "every attack notified");
}

/// A day of five-minute objects from two accounts (`generate --objects 288
/// --outbound`): six outbound attacks spread so that no single object
/// crosses a threshold, among look-alikes. The CLI, given the objects
/// shuffled, notifies each of the six once and nothing else, in both the
/// default format (v2) and v5.
#[test]
fn a_day_of_outbound_attacks_is_found_once_each_in_any_order() {
    for format in ["v2", "v5"] {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        let manifest = dir.path().join("manifest.json");
        let o = run(&[
            "generate",
            "--objects",
            "288",
            "--records",
            "300",
            "--seed",
            "5",
            "--format",
            format,
            "--outbound",
            "-o",
            s(&input),
            "--manifest",
            s(&manifest),
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let mut files: Vec<String> = tree(&input)
            .into_iter()
            .map(|p| s(&input.join(p)).to_string())
            .collect();
        assert_eq!(files.len(), 576, "288 objects of each of two accounts");
        // A fixed shuffle: a stride coprime to the count.
        let n = files.len();
        files = (0..n).map(|i| files[(i * 389) % n].clone()).collect();
        let mut args = vec!["analyze", "--format", "json"];
        args.extend(files.iter().map(String::as_str));
        let o = run(&args);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let printed: Vec<(String, String)> = json_lines(&stdout(&o))
            .iter()
            .map(|f| {
                (
                    f["rule"].as_str().unwrap().to_string(),
                    f["subject"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: Vec<(String, String)> =
            serde_json::from_str::<Value>(&std::fs::read_to_string(&manifest).unwrap()).unwrap()
                ["expected"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["rule"].as_str().unwrap().to_string(),
                        e["subject"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
        let mut got = printed.clone();
        got.sort();
        assert_eq!(got, want, "{format}: each of the six once, nothing else");
        let rules: BTreeSet<&str> = want.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(rules.len(), 6, "{rules:?}");
        // The accounts: the uploader and the flooder are the second one's.
        assert!(want
            .iter()
            .any(|(r, s)| r == "large-upload" && s.starts_with("210987654321/")));
    }
}

/// `generate --outbound` in one object: five outbound attacks found beside
/// the inbound ones, and neither the crawler nor the S3 backup.
#[test]
fn generated_outbound_attacks_are_found_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.log.gz");
    let manifest = dir.path().join("m.json");
    let o = run(&[
        "generate",
        "--records",
        "60000",
        "--seed",
        "9",
        "--format",
        "v5",
        "--outbound",
        "-o",
        s(&path),
        "--manifest",
        s(&manifest),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(&["analyze", "--format", "json", s(&path)]);
    let mut got: Vec<(String, String)> = json_lines(&stdout(&o))
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().into(),
                f["subject"].as_str().unwrap().into(),
            )
        })
        .collect();
    got.sort();
    let want: Vec<(String, String)> =
        serde_json::from_str::<Value>(&std::fs::read_to_string(&manifest).unwrap()).unwrap()
            ["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["rule"].as_str().unwrap().into(),
                    e["subject"].as_str().unwrap().into(),
                )
            })
            .collect();
    assert_eq!(got, want);
    let outbound = got
        .iter()
        .filter(|(r, _)| {
            r.starts_with("instance-") || r == "large-upload" || r == "suspicious-egress-port"
        })
        .count();
    assert_eq!(outbound, 5, "{got:?}");
}

/// One JSON value per line of `text`.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}
