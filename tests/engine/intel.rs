//! Threat lists and suppressions (SPEC section 8) through the engine, the
//! correlation and the CLI: `threat-intel-match` in both directions, for a
//! listed network and IPv6, rejected flows quiet on their own, suppressed
//! findings written but never notified, expired suppressions ignored, and
//! broken lists refused with their line.

use std::sync::Arc;

use flowguard::correlate::{block_on, correlate, settle, MemoryStore, Policy};
use flowguard::intel::{parse_suppress_list, parse_threat_list, Intel};
use flowguard::rules::all_rules;
use flowguard::{Config, Finding, Report, Severity};
use serde_json::Value;

use super::support::{analyze_with, ndjson, rec, v2_text, Rec, NOW};

const C2: &str = "198.51.100.250";
const HOST: &str = "10.0.0.15";

const INTEL: &str = "ip,label,severity\n\
                     198.51.100.250,c2 beacon host,\n\
                     203.0.113.0/24,scanner net,medium\n\
                     2001:db8:bad::/48,v6 c2,\n";

/// A configuration with lists given as `(name, text)`.
fn config(threats: &[(&str, &str)], suppressions: &[(&str, &str)]) -> Config {
    let t: Vec<_> = threats
        .iter()
        .map(|(n, text)| parse_threat_list(n, n, text.as_bytes()).unwrap())
        .collect();
    let s: Vec<_> = suppressions
        .iter()
        .map(|(n, text)| parse_suppress_list(n, n, text.as_bytes()).unwrap())
        .collect();
    Config {
        intel: Arc::new(Intel::new(&t, &s)),
        ..Config::default()
    }
}

fn run(recs: &[Rec], config: &Config) -> Report {
    analyze_with(&v2_text(recs), config)
}

fn matches(report: &Report) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == "threat-intel-match")
        .collect()
}

#[test]
fn matches_in_both_directions_name_the_listed_address_and_our_hosts() {
    let c = config(&[("intel.csv", INTEL)], &[]);
    // Our host to the C2 server, and its replies.
    let out = rec(HOST, C2, 443).bytes(4000).packets(8);
    let back = rec(C2, HOST, 40000).sp(443).bytes(12_000).packets(10);
    let cases: [(&str, Vec<Rec>, &str, u64); 3] = [
        (
            "outbound",
            vec![out.clone()],
            "Our host 10.0.0.15 opened 1 connection to 198.51.100.250 and sent 4 KB (c2 beacon host, intel.csv)",
            1,
        ),
        (
            "inbound",
            vec![back.clone()],
            "198.51.100.250 sent 12 KB to 10.0.0.15 (c2 beacon host, intel.csv)",
            1,
        ),
        (
            "both",
            vec![out, back],
            "Our host 10.0.0.15 opened 1 connection to 198.51.100.250 and sent 4 KB, receiving 12 KB (c2 beacon host, intel.csv)",
            2,
        ),
    ];
    for (name, recs, title, flows) in cases {
        let report = run(&recs, &c);
        let found = matches(&report);
        assert_eq!(found.len(), 1, "{name}: {:#?}", report.findings);
        let f = found[0];
        assert_eq!(f.title, title, "{name}");
        let direction = if name == "inbound" {
            "inbound"
        } else {
            "outbound"
        };
        assert_eq!(
            serde_json::to_value(f.direction).unwrap(),
            direction,
            "{name}: our host opened the connection, or the listed address did"
        );
        assert_eq!(f.subject, C2, "{name}");
        assert_eq!(
            f.src_addr.as_deref(),
            Some(C2),
            "{name}: the listed address"
        );
        assert_eq!(f.src_addrs, [C2], "{name}");
        assert_eq!(f.dst_addrs, [HOST], "{name}: our side");
        assert_eq!(
            f.dst_ports,
            [443],
            "{name}: the service port, also for replies"
        );
        assert_eq!(f.severity, Severity::High, "{name}");
        assert_eq!((f.flows, f.accepted_flows), (flows, flows), "{name}");
        assert_eq!(f.mitre_attack, ["T1071"], "{name}");
        assert_eq!(f.distinct_dst_addrs, 1, "{name}");
        assert_eq!(f.interface_ids, ["eni-0a1b2c3d4e5f60001"], "{name}");
        assert!(!f.suppressed && f.suppression_reason.is_none(), "{name}");
    }
}

#[test]
fn a_listed_network_gives_one_finding_per_address_seen() {
    let c = config(&[("intel.csv", INTEL)], &[]);
    let recs = [
        rec("203.0.113.7", "10.0.1.20", 8443),
        rec("203.0.113.7", "10.0.1.21", 8443),
        rec("10.0.1.30", "203.0.113.9", 443),
        rec("203.0.114.1", "10.0.1.30", 443), // next /24: not listed
    ];
    let report = run(&recs, &c);
    let found: Vec<(&str, &[String], Severity)> = matches(&report)
        .iter()
        .map(|f| (f.subject.as_str(), f.dst_addrs.as_slice(), f.severity))
        .collect();
    let hosts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        found,
        [
            (
                "203.0.113.7",
                &hosts(&["10.0.1.20", "10.0.1.21"])[..],
                Severity::Medium
            ),
            ("203.0.113.9", &hosts(&["10.0.1.30"])[..], Severity::Medium),
        ],
        "the list's severity column"
    );
    let f = matches(&report)[0];
    assert_eq!(
        f.title,
        "203.0.113.7 sent 88 bytes to 2 hosts (10.0.1.20, 10.0.1.21) (scanner net, intel.csv)"
    );
    assert_eq!(f.distinct_dst_addrs, 2);
}

#[test]
fn ipv6_addresses_match() {
    let c = config(&[("intel.csv", INTEL)], &[]);
    let report = run(&[rec("fd00::10", "2001:db8:bad::5", 443).bytes(2500)], &c);
    let found = matches(&report);
    assert_eq!(found.len(), 1, "{:#?}", report.findings);
    assert_eq!(found[0].subject, "2001:db8:bad::5");
    assert_eq!(
        found[0].title,
        "Our host fd00::10 opened 1 connection to 2001:db8:bad::5 and sent 2.5 KB (v6 c2, intel.csv)"
    );
    // A plain list, one address, no label: the list's name alone.
    let plain = config(&[("tor-exits.txt", "# tor\n2001:db8::7\n")], &[]);
    let report = run(&[rec("2001:db8::7", "fd00::10", 443)], &plain);
    assert_eq!(
        matches(&report)[0].title,
        "2001:db8::7 sent 44 bytes to fd00::10 (tor-exits.txt)"
    );
}

#[test]
fn rejected_flows_are_quiet_alone_and_counted_with_an_accepted_one() {
    let c = config(&[("intel.csv", INTEL)], &[]);
    let rejected: Vec<Rec> = (0..5)
        .map(|i| rec(C2, HOST, 22).sp(50000 + i).reject())
        .collect();
    let report = run(&rejected, &c);
    assert!(matches(&report).is_empty(), "{:#?}", report.findings);
    let mut with_one = rejected.clone();
    with_one.push(rec(HOST, C2, 443));
    let report = run(&with_one, &c);
    let f = matches(&report)[0];
    assert_eq!((f.flows, f.accepted_flows, f.rejected_flows), (6, 1, 5));
    assert_eq!(f.dst_ports, [22, 443]);
}

#[test]
fn without_a_list_no_rule_looks_anything_up() {
    assert_eq!(all_rules(&Config::default()).len(), 12);
    let c = config(&[("intel.csv", INTEL)], &[]);
    assert_eq!(all_rules(&c).len(), 13);
    // Suppressions alone add no rule.
    let s = config(&[], &[("ex.csv", "rule,cidr,reason\n*,10.0.0.5,bastion\n")]);
    assert_eq!(all_rules(&s).len(), 12);
    let report = run(&[rec(HOST, C2, 443)], &Config::default());
    assert!(report.findings.is_empty());
}

/// An SSH server open to the internet and a host talking to the C2 server.
fn exposed_and_c2() -> Vec<Rec> {
    vec![rec("192.0.2.44", "10.0.1.20", 22), rec(HOST, C2, 443)]
}

const EXCEPTIONS: &str = "rule,cidr,port,reason,expires\n\
    admin-port-exposed,10.0.1.20/32,3389,wrong port,\n\
    admin-port-exposed,10.0.1.20/32,22,the bastion is open by design,2026-12-31\n\
    threat-intel-match,198.51.100.0/24,,sinkholed by the DNS team,2025-06-01\n";

#[test]
fn suppressed_findings_are_marked_with_their_reason_and_expired_entries_ignored() {
    let c = config(&[("intel.csv", INTEL)], &[("exceptions.csv", EXCEPTIONS)]);
    let report = run(&exposed_and_c2(), &c);
    let by_rule = |rule: &str| {
        report
            .findings
            .iter()
            .find(|f| f.rule.as_str() == rule)
            .unwrap_or_else(|| panic!("no {rule}: {:#?}", report.findings))
    };
    let exposed = by_rule("admin-port-exposed");
    assert!(exposed.suppressed);
    assert_eq!(
        exposed.suppression_reason.as_deref(),
        Some("the bastion is open by design")
    );
    // Expired on 2025-06-01; the object is processed on 2025-06-26.
    let c2 = by_rule("threat-intel-match");
    assert!(!c2.suppressed && c2.suppression_reason.is_none());
    // Both are in the findings summary, with the two columns.
    let rows: Vec<Value> = report
        .summary_objects("flowguard/")
        .into_iter()
        .find(|o| o.table.name() == "findings")
        .map(|o| ndjson(&o.body))
        .unwrap();
    assert_eq!(rows.len(), 2);
    let flags: Vec<(&str, &Value, &Value)> = rows
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().unwrap(),
                &r["suppressed"],
                &r["suppression_reason"],
            )
        })
        .collect();
    assert!(flags.contains(&(
        "admin-port-exposed",
        &Value::Bool(true),
        &Value::String("the bastion is open by design".into())
    )));
    assert!(flags.contains(&("threat-intel-match", &Value::Bool(false), &Value::Null)));
}

#[test]
fn a_suppressed_finding_is_never_claimed_for_notification() {
    let mut c = config(&[("intel.csv", INTEL)], &[("exceptions.csv", EXCEPTIONS)]);
    c.correlate = true;
    let store = MemoryStore::default();
    let policy = Policy::of(&c, Severity::Low);
    for round in 0..2 {
        let mut report = run(&exposed_and_c2(), &c);
        let mut out = block_on(correlate(&store, &mut report, &c, &policy, NOW)).unwrap();
        let due: Vec<String> = out.due.iter().map(|f| f.rule.to_string()).collect();
        block_on(settle(
            &store,
            &mut out,
            true,
            &Default::default(),
            &policy,
            NOW,
        ))
        .unwrap();
        let exposed = report
            .findings
            .iter()
            .find(|f| f.rule.as_str() == "admin-port-exposed")
            .unwrap();
        assert!(exposed.suppressed && !exposed.notified, "round {round}");
        if round == 0 {
            assert_eq!(due, ["threat-intel-match"], "only the unsuppressed one");
        } else {
            assert!(due.is_empty(), "nothing new: {due:?}");
        }
    }
    // The suppression expires: the finding is notified as new.
    let mut report = run(&exposed_and_c2(), &c);
    let out = block_on(correlate(&store, &mut report, &c, &policy, 1_798_761_600)).unwrap();
    let due: Vec<String> = out.due.iter().map(|f| f.rule.to_string()).collect();
    assert_eq!(due, ["admin-port-exposed"]);
}

#[test]
fn every_shape_of_object_gives_the_same_matches_and_suppressions() {
    use super::shapes::{text_to_cwl, text_to_parquet, ParquetOpts};
    use flowguard::{analyze_parquet, analyze_reader, SourceRef};

    let c = config(&[("intel.csv", INTEL)], &[("exceptions.csv", EXCEPTIONS)]);
    let mut recs = exposed_and_c2();
    recs.push(rec("2001:db8:bad::5", "fd00::10", 40000).sp(443).bytes(900));
    recs.push(rec("203.0.113.7", "10.0.1.20", 22).reject());
    let text = v2_text(&recs);
    let source = || SourceRef::Path {
        path: "object".into(),
    };
    let shown = |r: &Report| -> Vec<(String, String, String, bool, u64)> {
        r.findings
            .iter()
            .map(|f| {
                (
                    f.rule.to_string(),
                    f.subject.clone(),
                    f.title.clone(),
                    f.suppressed,
                    f.rejected_flows,
                )
            })
            .collect()
    };
    let from_text = analyze_reader(text.as_bytes(), source(), &c, NOW, None).unwrap();
    let parquet = text_to_parquet(&text, &ParquetOpts::default());
    let from_parquet = analyze_parquet(parquet, source(), &c, NOW, None).unwrap();
    let cwl = text_to_cwl(&text, "123456789012", 2);
    let from_cwl = analyze_reader(&cwl[..], source(), &c, NOW, None).unwrap();
    let want = shown(&from_text);
    assert_eq!(
        want.iter()
            .filter(|f| f.0 == "threat-intel-match")
            .map(|f| f.1.as_str())
            .collect::<Vec<_>>(),
        [C2, "2001:db8:bad::5"]
    );
    assert!(want.iter().any(|f| f.0 == "admin-port-exposed" && f.3));
    assert_eq!(shown(&from_parquet), want, "Parquet");
    assert_eq!(shown(&from_cwl), want, "CloudWatch Logs export");
}

// --- the command line -----------------------------------------------------------

fn flowguard(args: &[&str]) -> std::process::Output {
    super::support::flowguard_command()
        .args(args)
        .output()
        .expect("runs flowguard")
}

/// A directory with the object, the lists and a configuration naming them.
fn cli_setup(intel: &str, exceptions: &str) -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    std::fs::write(p("intel.csv"), intel).unwrap();
    std::fs::write(p("exceptions.csv"), exceptions).unwrap();
    std::fs::write(p("object.log"), v2_text(&exposed_and_c2())).unwrap();
    let toml = format!(
        "threat_lists = [{:?}]\nsuppress_lists = [{:?}]\n",
        p("intel.csv"),
        p("exceptions.csv")
    );
    std::fs::write(p("flowguard.toml"), toml).unwrap();
    let (cfg, obj) = (p("flowguard.toml"), p("object.log"));
    (dir, cfg, obj)
}

#[test]
fn the_cli_reads_lists_and_never_notifies_a_suppressed_finding() {
    // The CLI compares expiry with the wall clock: far-future dates.
    let exceptions = "rule,cidr,port,reason,expires\n\
                      admin-port-exposed,10.0.1.20,22,the bastion is open by design,2999-12-31\n\
                      threat-intel-match,198.51.100.250,,expired exception,2020-01-01\n";
    let (dir, cfg, obj) = cli_setup(INTEL, exceptions);
    let out_dir = dir.path().join("out");
    let o = flowguard(&[
        "analyze",
        "--format",
        "json",
        "--config",
        &cfg,
        "--out",
        out_dir.to_str().unwrap(),
        &obj,
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let printed: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rules: Vec<&str> = printed
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        ["threat-intel-match"],
        "the suppressed exposure is not notified"
    );
    assert_eq!(
        printed[0]["title"],
        "Our host 10.0.0.15 opened 1 connection to 198.51.100.250 and sent 44 bytes (c2 beacon host, intel.csv)"
    );
    let mut rows = Vec::new();
    for e in walk(&out_dir.join("flowguard/findings")) {
        rows.extend(ndjson(&std::fs::read(e).unwrap()));
    }
    let exposed = rows
        .iter()
        .find(|r| r["rule"] == "admin-port-exposed")
        .expect("the suppressed finding is in the summary");
    assert_eq!(exposed["suppressed"], true);
    assert_eq!(
        exposed["suppression_reason"],
        "the bastion is open by design"
    );
    assert_eq!(exposed["notified"], false);
    // --fail-on: a suppressed finding never fails a run; the C2 match does.
    let o = flowguard(&["analyze", "--config", &cfg, "--fail-on", "high", &obj]);
    assert_eq!(o.status.code(), Some(3));
    let quiet = "rule,cidr,port,reason,expires\n*,0.0.0.0/0,,everything is known,2999-01-01\n";
    let (_d2, cfg2, obj2) = cli_setup(INTEL, quiet);
    let o = flowguard(&["analyze", "--config", &cfg2, "--fail-on", "low", &obj2]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("suppressed: everything is known"));
}

#[test]
fn the_cli_refuses_a_broken_list_naming_its_line() {
    let cases = [
        (
            "ip,label\n198.51.100.1,ok\n198.51.100.300,bad\n",
            "rule,cidr,reason\n",
            "intel.csv: line 3: '198.51.100.300' is not an IPv4 or IPv6 address or CIDR",
        ),
        (
            INTEL,
            "rule,cidr,reason,expires\n*,10.0.0.5,bastion,\nport-scn,1.2.3.4,typo,\n",
            "exceptions.csv: line 3: no rule named 'port-scn'",
        ),
    ];
    for (intel, exceptions, says) in cases {
        let (_dir, cfg, obj) = cli_setup(intel, exceptions);
        let o = flowguard(&["analyze", "--config", &cfg, &obj]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
        assert!(o.stdout.is_empty(), "nothing analysed with half a list");
    }
    let (dir, cfg, obj) = cli_setup(INTEL, "rule,cidr,reason\n");
    std::fs::remove_file(dir.path().join("intel.csv")).unwrap();
    let o = flowguard(&["analyze", "--config", &cfg, &obj]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("intel.csv: cannot read"), "{err}");
}

/// Files under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

mod never_panic {
    //! No bytes make a list parser panic, and a refused list names a line
    //! that exists.
    use flowguard::intel::{parse_suppress_list, parse_threat_list, Intel};
    use proptest::prelude::*;

    fn lines(text: &[u8]) -> u64 {
        text.iter().filter(|b| **b == b'\n').count() as u64 + 1
    }

    fn check(text: &[u8]) -> Result<(), TestCaseError> {
        match parse_threat_list("l", "l", text) {
            Ok(list) => {
                // What parses also merges, and finds its own entries.
                let intel = Intel::new([&list], []);
                for e in &list.entries {
                    prop_assert!(intel.threats.lookup(e.net.addr()).is_some(), "{e:?}");
                }
            }
            Err(e) => prop_assert!(e.line.is_some_and(|n| n >= 1 && n <= lines(text)), "{e}"),
        }
        if let Err(e) = parse_suppress_list("s", "s", text) {
            prop_assert!(e.line.is_some_and(|n| n >= 1 && n <= lines(text)), "{e}");
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            check(&bytes)?;
        }

        #[test]
        fn list_like_lines(
            header in prop::sample::select(vec!["", "ip,label,severity\n", "rule,cidr,port,reason,expires\n"]),
            rows in prop::collection::vec("[0-9a-f:./,#; \"\\-]{0,40}", 0..30),
        ) {
            let text = format!("{header}{}", rows.join("\n"));
            check(text.as_bytes())?;
        }
    }
}
