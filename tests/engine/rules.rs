//! The detection rules of SPEC §2, table-driven: each rule fires at its
//! threshold and not one below, trusted networks and server replies are
//! excluded, direction comes from `flow-direction` when present, and every
//! threshold, port list and severity is configuration.

use flowguard::{analyze_text, Config, Severity};

use super::support::{
    analyze, analyze_with, only, path_source, rec, rules_fired, svc, v2_text, v5_text, Rec, NOW, T0,
};

const ATTACKER: &str = "198.51.100.23";
const SSH_HOST: &str = "10.0.1.20";

/// `n` records built by `f(i)`.
fn many(n: usize, f: impl Fn(usize) -> Rec) -> Vec<Rec> {
    (0..n).map(f).collect()
}

/// `(rule, subject)` of each finding.
type Fired = Vec<(String, String)>;

fn fired(text: &str, config: &Config) -> Fired {
    rules_fired(&analyze_with(text, config))
}

fn one(rule: &str, subject: &str) -> Fired {
    vec![(rule.to_string(), subject.to_string())]
}

/// A rule's trigger at its threshold and one below.
struct ThresholdCase {
    name: &'static str,
    rule: &'static str,
    src: &'static str,
    threshold: usize,
    build: fn(usize) -> Rec,
}

#[test]
fn each_rule_fires_at_its_threshold_and_not_one_below() {
    let cases = [
        ThresholdCase {
            name: "brute force: rejected SSH flows from one internet source",
            rule: "admin-port-brute-force",
            src: ATTACKER,
            threshold: 20,
            build: |i| rec(ATTACKER, SSH_HOST, 22).sp(40000 + i as u16).reject(),
        },
        ThresholdCase {
            name: "brute force: RDP flows spread over many hosts",
            rule: "admin-port-brute-force",
            src: ATTACKER,
            threshold: 20,
            build: |i| rec(ATTACKER, &format!("10.0.2.{}", i + 1), 3389).reject(),
        },
        ThresholdCase {
            name: "vertical scan: distinct rejected ports on one host",
            rule: "port-scan",
            src: "203.0.113.50",
            threshold: 25,
            build: |i| rec("203.0.113.50", "10.0.1.10", 2000 + i as u16).reject(),
        },
        ThresholdCase {
            name: "vertical scan: accepted one-packet probes count too",
            rule: "port-scan",
            src: "203.0.113.50",
            threshold: 25,
            build: |i| rec("203.0.113.50", "10.0.1.10", 2000 + i as u16).packets(2),
        },
        ThresholdCase {
            name: "sweep: one rejected port on distinct hosts",
            rule: "port-scan",
            src: "198.51.100.200",
            threshold: 25,
            build: |i| rec("198.51.100.200", &format!("10.0.2.{}", i + 1), 445).reject(),
        },
        ThresholdCase {
            name: "rejected traffic: rejected flows from one source to one port",
            rule: "rejected-traffic",
            src: "192.0.2.99",
            threshold: 100,
            build: |i| {
                rec("192.0.2.99", "10.0.1.10", 8080)
                    .sp(30000 + i as u16)
                    .reject()
            },
        },
    ];
    for c in cases {
        let at = analyze(&v2_text(&many(c.threshold, c.build)));
        assert_eq!(
            rules_fired(&at),
            one(c.rule, c.src),
            "{}: at the threshold ({})",
            c.name,
            c.threshold
        );
        let f = only(&at, c.rule);
        assert_eq!(f.flows, c.threshold as u64, "{}", c.name);
        let below = analyze(&v2_text(&many(c.threshold - 1, c.build)));
        assert_eq!(
            rules_fired(&below),
            vec![],
            "{}: one below the threshold",
            c.name
        );
    }
}

#[test]
fn brute_force_finding_carries_counts_and_techniques() {
    let mut recs = many(15, |i| {
        rec(ATTACKER, SSH_HOST, 22)
            .sp(40000 + i as u16)
            .reject()
            .packets(3)
            .bytes(180)
    });
    recs.extend(many(5, |i| {
        rec(ATTACKER, "10.0.2.40", 3389)
            .sp(50000 + i as u16)
            .reject()
            .packets(2)
            .bytes(120)
            .times(T0 + 100, T0 + 200)
    }));
    let r = analyze(&v2_text(&recs));
    let f = only(&r, "admin-port-brute-force");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.flows, 20);
    assert_eq!(f.packets, 15 * 3 + 5 * 2);
    assert_eq!(f.bytes, 15 * 180 + 5 * 120);
    assert_eq!(f.rejected_flows, 20);
    assert_eq!(f.accepted_flows, 0);
    assert_eq!(f.dst_ports, vec![22, 3389]);
    assert_eq!(
        f.dst_addrs,
        vec![SSH_HOST.to_string(), "10.0.2.40".to_string()]
    );
    assert_eq!((f.distinct_dst_addrs, f.distinct_dst_ports), (2, 2));
    assert!(f.title.contains("on 2 hosts"), "{}", f.title);
    assert_eq!(f.protocol, Some(6));
    assert_eq!(f.first_seen.as_deref(), Some("2025-06-26T18:10:00Z"));
    assert_eq!(f.last_seen.as_deref(), Some("2025-06-26T18:13:20Z"));
    assert_eq!(f.mitre_attack, vec!["T1110", "T1021.001", "T1021.004"]);
    assert_eq!(f.interface_ids, vec!["eni-0a1b2c3d4e5f60001".to_string()]);
    assert_eq!(f.account, "123456789012");
}

#[test]
fn admin_port_exposed_needs_an_accepted_inbound_flow() {
    let accepted = analyze(&v2_text(&[rec(ATTACKER, SSH_HOST, 22)]));
    assert_eq!(
        rules_fired(&accepted),
        one("admin-port-exposed", &svc(SSH_HOST, 22))
    );
    let f = only(&accepted, "admin-port-exposed");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.dst_addrs, vec![SSH_HOST.to_string()]);
    assert_eq!(f.dst_ports, vec![22]);
    assert_eq!(f.flows, 1);
    assert_eq!(f.src_addr, None, "a service is not an actor");
    assert_eq!(f.src_addrs, vec![ATTACKER.to_string()]);
    assert_eq!(f.distinct_src_addrs, 1);
    assert_eq!(f.mitre_attack, vec!["T1133", "T1021.004"]);
    assert_eq!(
        f.title,
        "SSH (22) on 10.0.1.20 accepted 1 flow from 1 internet address"
    );

    let rejected = analyze(&v2_text(&[rec(ATTACKER, SSH_HOST, 22).reject()]));
    assert_eq!(rules_fired(&rejected), vec![]);

    // RDP, and one finding per service (address, port, protocol).
    let rdp = analyze(&v2_text(&[
        rec("192.0.2.77", "10.0.2.40", 3389),
        rec("192.0.2.77", "10.0.2.40", 3389).sp(40001),
        rec("192.0.2.77", "10.0.2.41", 3389),
    ]));
    let mut exposed: Vec<_> = rdp
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == "admin-port-exposed")
        .collect();
    exposed.sort_by(|a, b| a.dst_addrs.cmp(&b.dst_addrs));
    assert_eq!(exposed.len(), 2, "{:#?}", rdp.findings);
    assert_eq!(exposed[0].dst_addrs, vec!["10.0.2.40".to_string()]);
    assert_eq!(exposed[0].flows, 2);
    assert_eq!(exposed[1].dst_addrs, vec!["10.0.2.41".to_string()]);
    assert_eq!(exposed[1].flows, 1);
    assert_eq!(exposed[0].mitre_attack, vec!["T1133", "T1021.001"]);
    assert_ne!(exposed[0].finding_id, exposed[1].finding_id);
}

#[test]
fn every_default_sensitive_port_is_exposed_only_when_accepted() {
    for port in [23u16, 445, 1433, 3306, 5432, 5900, 6379, 9200, 11211, 27017] {
        let r = analyze(&v2_text(&[rec("203.0.113.99", "10.0.3.10", port)]));
        assert_eq!(
            rules_fired(&r),
            one("sensitive-port-exposed", &svc("10.0.3.10", port)),
            "port {port}"
        );
        let f = only(&r, "sensitive-port-exposed");
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.dst_ports, vec![port]);
        assert_eq!(f.dst_addrs, vec!["10.0.3.10".to_string()]);

        let r = analyze(&v2_text(&[rec("203.0.113.99", "10.0.3.10", port).reject()]));
        assert_eq!(rules_fired(&r), vec![], "rejected port {port}");
    }
    for port in [80u16, 443, 8080, 3307] {
        let r = analyze(&v2_text(&[rec("203.0.113.99", "10.0.3.10", port)]));
        assert_eq!(rules_fired(&r), vec![], "port {port} is not sensitive");
    }
}

#[test]
fn trusted_sources_never_trigger_exposure_or_brute_force() {
    // 30 accepted SSH flows plus a MySQL flow, from each source.
    let attack = |src: &str, dst: &str| {
        let mut v = many(30, |i| rec(src, dst, 22).sp(40000 + i as u16));
        v.push(rec(src, dst, 3306));
        v
    };
    let trusted = [
        ("10.9.8.7", "10.0.1.20"),
        ("172.16.5.5", "10.0.1.20"),
        ("172.31.255.254", "10.0.1.20"),
        ("192.168.1.1", "10.0.1.20"),
        ("100.64.0.9", "10.0.1.20"),
        ("100.127.255.1", "10.0.1.20"),
        ("fd00::1", "fd12::5"),
        ("fc00::2", "fd12::5"),
    ];
    for (src, dst) in trusted {
        let r = analyze(&v2_text(&attack(src, dst)));
        assert_eq!(rules_fired(&r), vec![], "trusted source {src}");
        assert_eq!(r.files.counts.ok, 31);
    }
    let untrusted = [
        ("172.32.0.1", "10.0.1.20"),
        ("100.128.0.1", "10.0.1.20"),
        ("11.0.0.1", "10.0.1.20"),
        ("2001:db8::7", "fd12::5"),
    ];
    for (src, dst) in untrusted {
        let r = analyze(&v2_text(&attack(src, dst)));
        let mut got = rules_fired(&r);
        got.sort();
        let mut want = vec![
            ("admin-port-brute-force".to_string(), src.to_string()),
            ("admin-port-exposed".to_string(), svc(dst, 22)),
            ("sensitive-port-exposed".to_string(), svc(dst, 3306)),
        ];
        want.sort();
        assert_eq!(got, want, "untrusted source {src}");
    }
}

#[test]
fn ipv6_internet_source_to_ula_host_on_ssh_is_exposed() {
    let r = analyze(&v2_text(&[rec("2001:db8::1", "fd12::5", 22)]));
    assert_eq!(
        rules_fired(&r),
        one("admin-port-exposed", "[fd12::5]:22/tcp")
    );
    let f = only(&r, "admin-port-exposed");
    assert_eq!(f.dst_addrs, vec!["fd12::5".to_string()]);
    assert_eq!(f.mitre_attack, vec!["T1133", "T1021.004"]);
    // Addresses are compared parsed: an expanded, upper-case spelling is the
    // same source and the same destination.
    let r = analyze(&v2_text(&[
        rec("2001:db8::1", "fd12::5", 22),
        rec("2001:DB8:0:0:0:0:0:1", "FD12:0::5", 22).sp(40001),
    ]));
    let f = only(&r, "admin-port-exposed");
    assert_eq!(f.flows, 2);
    assert_eq!(f.src_addrs, vec!["2001:db8::1".to_string()]);
    assert_eq!(f.distinct_src_addrs, 1);
}

#[test]
fn server_replies_never_count_as_a_scan() {
    // A web server answering one client on 60 ephemeral ports and 30
    // clients on one port, every reply rejected (a stateless NACL).
    let mut recs = many(60, |i| {
        rec("10.0.1.10", "198.51.100.50", 40000 + i as u16)
            .sp(443)
            .reject()
    });
    recs.extend(many(30, |i| {
        rec("10.0.1.10", &format!("198.51.100.{}", 100 + i), 50000)
            .sp(443)
            .reject()
    }));
    // An internet DNS server replying to many ports of one host.
    recs.extend(many(40, |i| {
        rec("8.8.8.8", "10.0.2.100", 33000 + i as u16)
            .sp(53)
            .packets(1)
    }));
    let r = analyze(&v2_text(&recs));
    assert_eq!(rules_fired(&r), vec![]);
    assert_eq!(r.files.counts.ok, 130);

    // The same probes from an ephemeral port are a scan and a sweep: by an
    // internet host, `port-scan`; by one of our hosts, `instance-port-scan`
    // (never both: one finding per real problem).
    for (scanner, target, rule) in [
        ("203.0.113.9", "10.0.4", "port-scan"),
        ("10.0.1.10", "198.51.100", "instance-port-scan"),
    ] {
        let mut recs = many(60, |i| {
            rec(scanner, &format!("{target}.50"), 40000 + i as u16)
                .sp(2000)
                .reject()
        });
        recs.extend(many(30, |i| {
            rec(scanner, &format!("{target}.{}", 100 + i), 50000)
                .sp(2000)
                .reject()
        }));
        let r = analyze(&v2_text(&recs));
        let f = only(&r, rule);
        let fired: Vec<String> = rules_fired(&r).into_iter().map(|(r, _)| r).collect();
        assert_eq!(fired, [rule], "{rule}");
        assert_eq!(f.src_addr.as_deref(), Some(scanner));
        assert_eq!(f.flows, 90);
        // Everything the scan tried: 60 ports of one host and one port
        // (50000) of 30 others.
        assert_eq!(f.distinct_dst_ports, 61);
        assert_eq!(f.distinct_dst_addrs, 31);
        assert!(
            f.title.contains(&format!("probed 60 ports on {target}.50")),
            "{}",
            f.title
        );
        assert!(
            f.title.contains("swept port 50000 across 30 hosts"),
            "{}",
            f.title
        );
    }
}

/// `nmap -g 53`: the attacker picks the source port. A flow from a port
/// below 1024 is a server's reply only when its destination is neither an
/// admin nor a sensitive port, and it is not a lone SYN.
#[test]
fn a_low_source_port_does_not_hide_a_probe() {
    for sp in [53u16, 80, 443] {
        for (port, rule) in [
            (3389u16, "admin-port-exposed"),
            (5432, "sensitive-port-exposed"),
            (6379, "sensitive-port-exposed"),
        ] {
            let r = analyze(&v2_text(&[rec(ATTACKER, SSH_HOST, port).sp(sp)]));
            assert_eq!(
                rules_fired(&r),
                one(rule, &svc(SSH_HOST, port)),
                "from source port {sp} to {port}"
            );
            assert_eq!(only(&r, rule).src_addrs, vec![ATTACKER.to_string()]);
            // Rejected, the same probes count as brute-force attempts.
            if port == 3389 {
                let recs = many(20, |_| rec(ATTACKER, SSH_HOST, port).sp(sp).reject());
                assert_eq!(
                    fired(&v2_text(&recs), &Config::default()),
                    one("admin-port-brute-force", ATTACKER),
                    "from source port {sp}"
                );
            }
        }
    }
    // A SYN scan from source port 80 of 40 high ports: lone SYNs are
    // attempts, whatever the ports.
    let syn_scan = many(40, |i| {
        rec("203.0.113.66", "10.0.1.10", 40000 + i as u16)
            .sp(80)
            .flags(2)
    });
    let r = analyze(&v5_text(&syn_scan));
    assert_eq!(rules_fired(&r), one("port-scan", "203.0.113.66"));
    assert!(
        only(&r, "port-scan")
            .title
            .contains("probed 40 ports on 10.0.1.10"),
        "{}",
        only(&r, "port-scan").title
    );
    // The same flows as SYN-ACK replies of a web server are nothing.
    let replies = many(40, |i| {
        rec("203.0.113.66", "10.0.1.10", 40000 + i as u16)
            .sp(80)
            .flags(0x12)
    });
    assert_eq!(fired(&v5_text(&replies), &Config::default()), vec![]);
}

#[test]
fn syn_without_ack_counts_as_a_vertical_attempt() {
    // Accepted 10-packet flows: attempts only because tcp-flags is SYN.
    let syn = many(25, |i| {
        rec("203.0.113.50", "10.0.1.10", 3000 + i as u16)
            .packets(10)
            .flags(2)
    });
    assert_eq!(
        fired(&v5_text(&syn), &Config::default()),
        one("port-scan", "203.0.113.50")
    );
    let established = many(25, |i| {
        rec("203.0.113.50", "10.0.1.10", 3000 + i as u16)
            .packets(10)
            .flags(0x12)
    });
    assert_eq!(fired(&v5_text(&established), &Config::default()), vec![]);
}

#[test]
fn flow_direction_decides_inbound_when_present() {
    let public_dst = "203.0.113.5";
    let cases: [(&str, String, Fired); 5] = [
        // v2, no flow-direction: both ends untrusted, so not inbound.
        (
            "v2 untrusted to untrusted",
            v2_text(&[rec(ATTACKER, public_dst, 22)]),
            vec![],
        ),
        (
            "v5 ingress to a public address",
            v5_text(&[rec(ATTACKER, public_dst, 22).direction("ingress")]),
            one("admin-port-exposed", &svc(public_dst, 22)),
        ),
        (
            "v5 egress to a private address",
            v5_text(&[rec(ATTACKER, SSH_HOST, 22).direction("egress")]),
            vec![],
        ),
        (
            "v5 flow-direction '-' falls back to the networks",
            v5_text(&[rec(ATTACKER, SSH_HOST, 22).direction("-")]),
            one("admin-port-exposed", &svc(SSH_HOST, 22)),
        ),
        (
            "v5 ingress, sensitive port",
            v5_text(&[rec(ATTACKER, public_dst, 5432).direction("ingress")]),
            one("sensitive-port-exposed", &svc(public_dst, 5432)),
        ),
    ];
    for (name, text, want) in cases {
        assert_eq!(fired(&text, &Config::default()), want, "{name}");
    }
}

#[test]
fn nodata_and_skipdata_never_reach_the_rules() {
    // Records that would be an exposure and brute force if they were OK.
    let skip = many(30, |i| {
        rec(ATTACKER, SSH_HOST, 22)
            .sp(40000 + i as u16)
            .status("SKIPDATA")
    });
    let r = analyze(&v2_text(&skip));
    assert_eq!(
        rules_fired(&r),
        one("skipped-records", "eni-0a1b2c3d4e5f60001")
    );
    let f = only(&r, "skipped-records");
    assert_eq!(f.severity, Severity::Low);
    assert_eq!(f.flows, 30);
    assert_eq!(f.mitre_attack, vec!["T1562.001"]);
    assert_eq!(f.src_addr, None);
    assert_eq!(f.interface_ids, vec!["eni-0a1b2c3d4e5f60001".to_string()]);
    assert_eq!(r.files.counts.skipdata, 30);
    assert_eq!(r.files.counts.ok, 0);
    assert!(r.tables.ports.is_empty() && r.tables.talkers.is_empty() && r.tables.admin.is_empty());

    let nodata = many(30, |i| {
        rec(ATTACKER, SSH_HOST, 22)
            .sp(40000 + i as u16)
            .status("NODATA")
    });
    let r = analyze(&v2_text(&nodata));
    assert_eq!(rules_fired(&r), vec![]);
    assert_eq!(r.files.counts.nodata, 30);
    assert!(r.tables.ports.is_empty());

    // The AWS shape of SKIPDATA (no addresses), on two interfaces.
    let text = format!(
        "{}\n2 123456789012 eni-0000000a - - - - - - - {T0} {} - SKIPDATA\n2 123456789012 eni-0000000b - - - - - - - {T0} {} - SKIPDATA\n",
        super::support::V2_HEADER,
        T0 + 60,
        T0 + 120
    );
    let r = analyze(&text);
    assert_eq!(
        rules_fired(&r),
        vec![
            ("skipped-records".to_string(), "eni-0000000a".to_string()),
            ("skipped-records".to_string(), "eni-0000000b".to_string())
        ],
        "one finding per interface"
    );
    let f = &r.findings[1];
    assert_eq!(f.flows, 1);
    assert_eq!(f.interface_ids, vec!["eni-0000000b".to_string()]);
    assert_eq!(f.first_seen.as_deref(), Some("2025-06-26T18:10:00Z"));
    assert_eq!(f.last_seen.as_deref(), Some("2025-06-26T18:12:00Z"));
    assert_eq!(
        f.title,
        "AWS skipped flow records 1 time on eni-0000000b: traffic in that window is not visible"
    );
}

#[test]
fn configuration_changes_ports_and_thresholds() {
    let c = Config::from_pairs([("admin_ports", "2222")]).unwrap();
    let r = analyze_with(
        &v2_text(&[
            rec(ATTACKER, SSH_HOST, 2222),
            rec(ATTACKER, SSH_HOST, 22).sp(40001),
        ]),
        &c,
    );
    assert_eq!(
        rules_fired(&r),
        one("admin-port-exposed", &svc(SSH_HOST, 2222))
    );
    assert_eq!(only(&r, "admin-port-exposed").dst_ports, vec![2222]);
    assert_eq!(
        only(&r, "admin-port-exposed").mitre_attack,
        vec!["T1133", "T1021"]
    );

    let c = Config::from_pairs([("brute_force_threshold", "5")]).unwrap();
    let five = many(5, |i| {
        rec(ATTACKER, SSH_HOST, 22).sp(40000 + i as u16).reject()
    });
    assert_eq!(
        fired(&v2_text(&five), &c),
        one("admin-port-brute-force", ATTACKER)
    );
    assert_eq!(fired(&v2_text(&five[..4]), &c), vec![]);

    let toml = "port_scan_threshold = 3\nsweep_threshold = 4\nrejected_threshold = 6\n";
    let c = Config::from_toml(toml, "t.toml").unwrap();
    let scan = many(3, |i| {
        rec("203.0.113.50", "10.0.1.10", 2000 + i as u16).reject()
    });
    assert_eq!(fired(&v2_text(&scan), &c), one("port-scan", "203.0.113.50"));
    assert_eq!(fired(&v2_text(&scan[..2]), &c), vec![]);
    let sweep = many(4, |i| {
        rec("203.0.113.51", &format!("10.0.2.{}", i + 1), 8080).reject()
    });
    assert_eq!(
        fired(&v2_text(&sweep), &c),
        one("port-scan", "203.0.113.51")
    );
    assert_eq!(fired(&v2_text(&sweep[..3]), &c), vec![]);
    let noisy = many(6, |i| {
        rec("203.0.113.52", "10.0.1.10", 8080)
            .sp(30000 + i as u16)
            .reject()
    });
    assert_eq!(
        fired(&v2_text(&noisy), &c),
        one("rejected-traffic", "203.0.113.52")
    );
    assert_eq!(fired(&v2_text(&noisy[..5]), &c), vec![]);

    let c = Config::from_toml("sensitive_ports = [8443]\n", "t.toml").unwrap();
    let r = analyze_with(
        &v2_text(&[
            rec(ATTACKER, SSH_HOST, 8443),
            rec(ATTACKER, SSH_HOST, 3306).sp(40001),
        ]),
        &c,
    );
    assert_eq!(
        rules_fired(&r),
        one("sensitive-port-exposed", &svc(SSH_HOST, 8443))
    );
    assert_eq!(only(&r, "sensitive-port-exposed").dst_ports, vec![8443]);

    // A trusted partner network.
    let c = Config::from_toml(
        "trusted_cidrs = [\"10.0.0.0/8\", \"198.51.100.0/24\"]\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(fired(&v2_text(&[rec(ATTACKER, SSH_HOST, 22)]), &c), vec![]);
    assert_eq!(
        fired(&v2_text(&[rec("192.0.2.1", SSH_HOST, 22)]), &c),
        one("admin-port-exposed", &svc(SSH_HOST, 22))
    );
    // 192.168.0.0/16 is no longer trusted, so it is not "inside" either.
    assert_eq!(
        fired(&v2_text(&[rec("192.0.2.1", "192.168.1.5", 22)]), &c),
        vec![]
    );
}

#[test]
fn bad_configuration_values_are_errors_naming_the_key() {
    let cases = [
        ("admin_ports", "22,ssh"),
        ("admin_ports", "70000"),
        ("brute_force_threshold", "0"),
        ("brute_force_threshold", "-3"),
        ("trusted_cidrs", "10.0.0.0/33"),
        ("max_tracked", "10"),
        ("max_findings", "0"),
        ("max_tracked", "2000000"),
        ("summary_prefix", ""),
        ("no_such_key", "1"),
    ];
    for (key, value) in cases {
        let e = Config::from_pairs([(key, value)]).unwrap_err();
        assert_eq!(e.origin, key, "{key}={value}");
    }
    for (key, value, origin) in [
        ("severity_port_scan", "urgent", "severity.port-scan"),
        ("severity_no_such_rule", "low", "severity.no-such-rule"),
    ] {
        let e = Config::from_pairs([(key, value)]).unwrap_err();
        assert_eq!(e.origin, origin, "{key}={value}: {e}");
    }
    let e = Config::from_toml("brute_force_treshold = 5\n", "f.toml").unwrap_err();
    assert_eq!(e.origin, "f.toml: brute_force_treshold");
}

#[test]
fn severities_are_configurable() {
    let scan = many(25, |i| {
        rec("203.0.113.50", "10.0.1.10", 2000 + i as u16).reject()
    });
    let r = analyze(&v2_text(&scan));
    assert_eq!(only(&r, "port-scan").severity, Severity::Medium);

    let c = Config::from_toml(
        "[severity]\nport-scan = \"high\"\nadmin-port-exposed = \"low\"\n",
        "t.toml",
    )
    .unwrap();
    let r = analyze_with(&v2_text(&scan), &c);
    assert_eq!(only(&r, "port-scan").severity, Severity::High);
    let r = analyze_with(&v2_text(&[rec(ATTACKER, SSH_HOST, 22)]), &c);
    assert_eq!(only(&r, "admin-port-exposed").severity, Severity::Low);

    let c = Config::from_pairs([("severity_skipped_records", "medium")]).unwrap();
    let r = analyze_with(
        &v2_text(&[rec(ATTACKER, SSH_HOST, 22).status("SKIPDATA")]),
        &c,
    );
    assert_eq!(only(&r, "skipped-records").severity, Severity::Medium);
}

#[test]
fn findings_are_ordered_most_severe_first() {
    let mut recs = many(100, |i| {
        rec("203.0.113.50", "10.0.1.10", 2000 + i as u16).reject()
    });
    recs.push(rec(ATTACKER, SSH_HOST, 22));
    recs.push(rec(ATTACKER, SSH_HOST, 22).status("SKIPDATA"));
    let r = analyze(&v2_text(&recs));
    let got: Vec<(&str, Severity)> = r
        .findings
        .iter()
        .map(|f| (f.rule.as_str(), f.severity))
        .collect();
    assert_eq!(
        got,
        vec![
            ("admin-port-exposed", Severity::High),
            ("port-scan", Severity::Medium),
            ("rejected-traffic", Severity::Low),
            ("skipped-records", Severity::Low),
        ]
    );
    assert_eq!(r.files.findings, 4);
}

#[test]
fn finding_ids_name_the_subject_not_the_object() {
    let mut recs = many(25, |i| {
        rec("203.0.113.50", "10.0.1.10", 2000 + i as u16).reject()
    });
    recs.push(rec(ATTACKER, SSH_HOST, 22));
    recs.push(rec(ATTACKER, "10.0.1.21", 22));
    let text = v2_text(&recs);
    let config = Config::default();
    let ids = |source, now| -> Vec<String> {
        analyze_text(text.as_bytes(), source, &config, now)
            .unwrap()
            .findings
            .into_iter()
            .map(|f| f.finding_id)
            .collect()
    };
    let a = ids(path_source("a.log"), NOW);
    assert_eq!(a.len(), 3, "a scan and two exposed services");
    // The same subjects in another object, read later, keep their ids.
    assert_eq!(a, ids(path_source("b.log"), NOW + 86_400));
    let s3 = |key: &str| flowguard::SourceRef::S3 {
        bucket: "bkt".into(),
        key: key.into(),
    };
    let x = ids(s3("AWSLogs/123456789012/vpcflowlogs/us-east-1/x.log"), NOW);
    assert_eq!(
        x,
        ids(s3("AWSLogs/123456789012/vpcflowlogs/us-east-1/y.log"), NOW)
    );
    assert_ne!(a, x, "the region is part of the subject's identity");
    // Another account's subjects are others.
    let other = ids(
        flowguard::SourceRef::S3 {
            bucket: "bkt".into(),
            key: "AWSLogs/210987654321/vpcflowlogs/us-east-1/x.log".into(),
        },
        NOW,
    );
    for id in &x {
        assert!(id.starts_with("fg-") && id.len() == 19, "{id}");
        assert!(!other.contains(id), "{id} repeats across accounts");
    }
    let mut uniq = a.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 3, "ids are distinct within an object");
}

#[test]
fn mitre_techniques_per_rule() {
    let mut recs = many(25, |i| {
        rec("203.0.113.50", "10.0.1.10", 2000 + i as u16).reject()
    });
    recs.extend(many(20, |i| {
        rec(ATTACKER, SSH_HOST, 22).sp(40000 + i as u16).reject()
    }));
    recs.push(rec("192.0.2.77", "10.0.2.40", 3389));
    recs.push(rec("203.0.113.99", "10.0.3.10", 3306));
    recs.push(rec("203.0.113.99", "10.0.3.10", 3306).status("SKIPDATA"));
    let r = analyze(&v2_text(&recs));
    let cases: [(&str, &[&str]); 5] = [
        ("port-scan", &["T1046"]),
        ("admin-port-brute-force", &["T1110", "T1021.004"]),
        ("admin-port-exposed", &["T1133", "T1021.001"]),
        ("sensitive-port-exposed", &["T1133", "T1190"]),
        ("skipped-records", &["T1562.001"]),
    ];
    for (rule, want) in cases {
        assert_eq!(only(&r, rule).mitre_attack, want.to_vec(), "{rule}");
    }
}
