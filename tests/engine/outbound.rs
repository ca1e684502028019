//! Our own hosts as actors (SPEC section 9): each outbound rule fires at
//! its threshold and not one below, and the traffic that only looks alike
//! stays quiet: a NAT gateway or crawler completing connections to
//! thousands of hosts, a job retrying one dead host, a backup to S3, a
//! SaaS endpoint every host polls, the same private address in another
//! account. Across objects, the findings and their ids do not depend on
//! the order the objects arrive in.

use flowguard::correlate::{block_on, correlate, settle, MemoryStore, Policy};
use flowguard::{analyze_text, Config, Finding, Report, Severity};
use proptest::prelude::*;

use super::support::{analyze, analyze_with, path_source, rec, v2_text, v5_text, Rec, NOW, T0};

const HOST: &str = "10.1.2.3";
const PEER: &str = "198.18.0.9";
const OTHER_ACCOUNT: &str = "210987654321";

fn many(n: usize, f: impl Fn(usize) -> Rec) -> Vec<Rec> {
    (0..n).map(f).collect()
}

/// The rule ids of the findings of `report`.
fn rules(report: &Report) -> Vec<&'static str> {
    report.findings.iter().map(|f| f.rule.as_str()).collect()
}

fn of<'r>(report: &'r Report, rule: &str) -> Vec<&'r Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == rule)
        .collect()
}

/// A connection our host opened: from an ephemeral port, `packets`
/// packets, accepted.
fn conn(src: &str, dst: &str, dp: u16, i: usize) -> Rec {
    rec(src, dst, dp)
        .sp(40000 + (i % 20000) as u16)
        .packets(6)
        .bytes(900)
}

#[test]
fn instance_port_scan_sweep_and_vertical_at_their_thresholds() {
    // A sweep of port 22: one lone SYN per host.
    let sweep = |n: usize| {
        many(n, |i| {
            rec(HOST, &format!("198.18.{}.{}", i / 200, i % 200 + 1), 22).sp(50000)
        })
    };
    let r = analyze(&v2_text(&sweep(25)));
    assert_eq!(rules(&r), ["instance-port-scan"]);
    let f = &r.findings[0];
    assert_eq!(f.subject, format!("123456789012/{HOST}"));
    assert_eq!(f.src_addr.as_deref(), Some(HOST));
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.mitre_attack, ["T1046"]);
    assert_eq!(serde_json::to_value(f.direction).unwrap(), "outbound");
    assert!(
        f.title
            .starts_with("Our host 10.1.2.3 swept port 22 across 25 hosts"),
        "{}",
        f.title
    );
    assert!(
        rules(&analyze(&v2_text(&sweep(24)))).is_empty(),
        "24 hosts: below"
    );
    // A vertical scan of one internet host, rejected by its NACL.
    let vertical = |n: usize| many(n, |i| rec(HOST, PEER, 1000 + i as u16).sp(50000).reject());
    let r = analyze(&v2_text(&vertical(25)));
    assert_eq!(rules(&r), ["instance-port-scan"], "{:#?}", r.findings);
    assert!(r.findings[0]
        .title
        .contains("probed 25 ports on 198.18.0.9"));
    assert!(rules(&analyze(&v2_text(&vertical(24)))).is_empty());
}

#[test]
fn completed_connections_to_thousands_of_hosts_are_not_a_scan() {
    // A NAT gateway or a crawler: 3,000 hosts on port 443, every
    // connection completed (6 packets, ACCEPT), a fresh source port each.
    let crawler = many(3000, |i| {
        conn(HOST, &format!("198.18.{}.{}", i / 250, i % 250 + 1), 443, i)
    });
    let r = analyze(&v2_text(&crawler));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    // DNS to 100 resolvers and a traceroute (UDP, one packet each).
    let mut udp = many(100, |i| {
        rec(HOST, &format!("198.18.9.{}", i + 1), 53)
            .sp(50000 + i as u16)
            .proto(17)
    });
    udp.extend(many(30, |i| {
        rec(HOST, PEER, 33434 + i as u16).sp(50000).proto(17)
    }));
    let r = analyze(&v2_text(&udp));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn a_job_retrying_one_dead_host_is_neither_a_scan_nor_a_beacon() {
    // A lone SYN to one host and port every minute for two hours.
    let retries = many(120, |i| {
        let t = T0 + 60 * i as u64;
        rec(HOST, PEER, 8080)
            .sp(40000 + i as u16)
            .flags(2)
            .times(t, t + 1)
    });
    let r = analyze(&v5_text(&retries));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn instance_brute_force_counts_flows_to_admin_ports_of_one_peer() {
    let brute = |n: usize, peers: usize| {
        many(n, |i| {
            let peer = format!("198.18.0.{}", 9 + i % peers);
            rec(HOST, &peer, 22).sp(40000 + i as u16).packets(4)
        })
    };
    let r = analyze(&v2_text(&brute(20, 1)));
    assert_eq!(rules(&r), ["instance-brute-force"]);
    let f = &r.findings[0];
    assert_eq!(f.subject, format!("123456789012/{HOST} -> {PEER}"));
    assert_eq!(f.dst_addrs, [PEER]);
    assert_eq!(f.mitre_attack, ["T1110", "T1021.004"]);
    assert!(
        rules(&analyze(&v2_text(&brute(19, 1)))).is_empty(),
        "19: below"
    );
    // 20 flows spread over two servers: 10 each, below for each pair.
    assert!(rules(&analyze(&v2_text(&brute(20, 2)))).is_empty());
}

#[test]
fn instance_dos_needs_the_packets_and_small_packets() {
    let flood = |packets: u64, bytes: u64| {
        many(10, |i| {
            rec(HOST, PEER, 53)
                .proto(17)
                .sp(40000 + i as u16)
                .packets(packets / 10)
                .bytes(bytes / 10)
        })
    };
    let r = analyze(&v2_text(&flood(1_000_000, 60_000_000)));
    assert_eq!(rules(&r), ["instance-dos"]);
    assert!(
        r.findings[0]
            .title
            .contains("sent 1000000 packets to 198.18.0.9 at 60 bytes a packet"),
        "{}",
        r.findings[0].title
    );
    assert!(
        rules(&analyze(&v2_text(&flood(999_990, 59_000_000)))).is_empty(),
        "below"
    );
    // The same packets at 1,000 bytes each are a bulk transfer, and 1 GB
    // of it is an upload.
    let r = analyze(&v2_text(&flood(1_000_000, 1_000_000_000)));
    assert_eq!(
        rules(&r),
        Vec::<&str>::new(),
        "1 GB is under 1 GiB: {:#?}",
        r.findings
    );
}

#[test]
fn large_upload_from_one_gib_and_never_to_aws_services() {
    let gib: u64 = 1 << 30;
    let upload = |bytes: u64| {
        many(4, |i| {
            conn(HOST, PEER, 443, i).packets(100_000).bytes(bytes / 4)
        })
    };
    let r = analyze(&v2_text(&upload(gib)));
    assert_eq!(rules(&r), ["large-upload"]);
    let f = &r.findings[0];
    assert_eq!(f.bytes, gib);
    assert!(f.title.contains("sent 1.1 GB to 198.18.0.9"), "{}", f.title);
    assert!(
        rules(&analyze(&v2_text(&upload(gib - 4)))).is_empty(),
        "below"
    );
    // A backup to S3: v5 names the AWS service; quiet.
    let s3 = "52.216.10.20";
    let backup: Vec<Rec> = many(4, |i| {
        conn(HOST, s3, 443, i)
            .packets(100_000)
            .bytes(gib / 2)
            .aws_service("S3")
            .direction("egress")
    });
    let r = analyze(&v5_text(&backup));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    // The same backup in v2 is an upload to an unknown host, unless the
    // network is in egress_allowed_cidrs.
    let backup_v2: Vec<Rec> = many(4, |i| {
        conn(HOST, s3, 443, i).packets(100_000).bytes(gib / 2)
    });
    assert_eq!(rules(&analyze(&v2_text(&backup_v2))), ["large-upload"]);
    let allowed = Config::from_pairs([("egress_allowed_cidrs", "52.216.0.0/15")]).unwrap();
    assert!(analyze_with(&v2_text(&backup_v2), &allowed)
        .findings
        .is_empty());
}

/// A connection of `packets` packets in each of the given five-minute
/// slots of the hour from T0.
fn beacon(
    src: &str,
    dst: &str,
    port: u16,
    slots: impl Iterator<Item = u64>,
    packets: u64,
) -> Vec<Rec> {
    slots
        .enumerate()
        .map(|(i, s)| {
            let t = T0 + 300 * s + 30;
            rec(src, dst, port)
                .sp(41000 + i as u16)
                .packets(packets)
                .bytes(packets * 120)
                .times(t, t + 20)
        })
        .collect()
}

#[test]
fn beaconing_in_ten_of_twelve_slots_of_an_hour() {
    let r = analyze(&v2_text(&beacon(HOST, PEER, 443, 0..10, 4)));
    assert_eq!(rules(&r), ["beaconing"]);
    let f = &r.findings[0];
    assert_eq!(f.subject, format!("123456789012/{HOST} -> {PEER}:443/tcp"));
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(f.window_flows, 10, "slots");
    assert!(
        f.title.contains("in 10 of 12 five-minute slots"),
        "{}",
        f.title
    );
    // Nine slots, or ten spread over more than an hour: quiet.
    assert!(analyze(&v2_text(&beacon(HOST, PEER, 443, 0..9, 4)))
        .findings
        .is_empty());
    let spread = beacon(HOST, PEER, 443, (0..10).map(|s| s * 2), 4);
    assert!(analyze(&v2_text(&spread)).findings.is_empty());
    // Under 3 packets a connection (a dead host): quiet.
    assert!(analyze(&v2_text(&beacon(HOST, PEER, 443, 0..12, 2)))
        .findings
        .is_empty());
}

#[test]
fn a_saas_endpoint_every_host_polls_is_not_a_beacon() {
    let saas = "198.18.5.5";
    let hosts = ["10.1.0.1", "10.1.0.2", "10.1.0.3"];
    let polls: Vec<Rec> = hosts
        .iter()
        .flat_map(|h| beacon(h, saas, 443, 0..12, 5))
        .collect();
    let r = analyze(&v2_text(&polls));
    assert!(
        r.findings.is_empty(),
        "three hosts poll it: {:#?}",
        r.findings
    );
    // Two hosts (at most beaconing_max_hosts): each beacons.
    let two: Vec<Rec> = hosts[..2]
        .iter()
        .flat_map(|h| beacon(h, saas, 443, 0..12, 5))
        .collect();
    assert_eq!(rules(&analyze(&v2_text(&two))), ["beaconing", "beaconing"]);
}

#[test]
fn server_replies_are_neither_beacons_nor_suspicious_ports() {
    // Our web server on 8080 answering, every five minutes for an hour, a
    // client whose ephemeral port is 45700 (a Monero pool port), and our
    // server on 443 answering one on 4444.
    for (sp, dp) in [(8080, 45700), (443, 4444)] {
        let replies: Vec<Rec> = (0..12)
            .map(|s| {
                let t = T0 + 300 * s;
                rec(HOST, PEER, dp)
                    .sp(sp)
                    .packets(8)
                    .bytes(9000)
                    .times(t, t + 60)
            })
            .collect();
        let r = analyze(&v2_text(&replies));
        assert!(r.findings.is_empty(), "{sp} -> {dp}: {:#?}", r.findings);
    }
}

#[test]
fn suspicious_egress_port_is_a_connection_our_host_opened() {
    let pool = "198.18.7.7";
    let r = analyze(&v2_text(&[rec(HOST, pool, 3333)
        .sp(51000)
        .packets(12)
        .bytes(4000)]));
    assert_eq!(rules(&r), ["suspicious-egress-port"]);
    let f = &r.findings[0];
    assert_eq!(f.subject, format!("123456789012/{HOST} -> {pool}:3333/tcp"));
    assert_eq!(f.mitre_attack, ["T1496", "T1571"]);
    assert!(f.title.contains("Stratum"), "{}", f.title);
    for quiet in [
        rec(HOST, pool, 3333).sp(51000).packets(2),
        rec(HOST, pool, 3333).sp(51000).packets(12).reject(),
        rec(HOST, pool, 80).sp(51000).packets(12),
        rec(PEER, HOST, 3333).sp(51000).packets(12),
    ] {
        let r = analyze(&v2_text(std::slice::from_ref(&quiet)));
        assert!(r.findings.is_empty(), "{quiet:?}: {:#?}", r.findings);
    }
    let c = Config::from_pairs([("suspicious_egress_ports", "80")]).unwrap();
    let r = analyze_with(&v2_text(&[rec(HOST, pool, 80).sp(51000).packets(12)]), &c);
    assert_eq!(rules(&r), ["suspicious-egress-port"]);
    assert!(
        r.findings[0].title.contains("suspicious_egress_ports"),
        "{}",
        r.findings[0].title
    );
}

#[test]
fn the_same_address_in_two_accounts_is_two_hosts() {
    let gib: u64 = 1 << 30;
    let part = |account: &'static str, i: usize| {
        conn(HOST, PEER, 443, i)
            .account(account)
            .packets(50_000)
            .bytes(gib * 6 / 10)
    };
    // 0.6 GiB from each account's 10.1.2.3: together over a GiB, apart
    // neither is an upload.
    let r = analyze(&v2_text(&[part("123456789012", 0), part(OTHER_ACCOUNT, 1)]));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    // One account's host alone over the threshold: its account, not the
    // object's, names the host and the finding.
    let r = analyze(&v2_text(&[
        part(OTHER_ACCOUNT, 0),
        part(OTHER_ACCOUNT, 1),
        part("123456789012", 2),
    ]));
    let f = of(&r, "large-upload");
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert_eq!(f[0].account, OTHER_ACCOUNT);
    assert_eq!(f[0].subject, format!("{OTHER_ACCOUNT}/{HOST} -> {PEER}"));
    // Scan attempts of the two accounts' hosts are not added up either.
    let scans: Vec<Rec> = many(30, |i| {
        let account = if i % 2 == 0 {
            "123456789012"
        } else {
            OTHER_ACCOUNT
        };
        rec(HOST, &format!("198.18.3.{}", i + 1), 22)
            .sp(50000)
            .account(account)
    });
    assert!(analyze(&v2_text(&scans)).findings.is_empty());
}

#[test]
fn findings_name_the_instance_vpc_and_subnet_from_the_records() {
    let recs = many(25, |i| {
        rec(HOST, &format!("198.18.4.{}", i + 1), 22)
            .sp(50000)
            .direction("egress")
            .instance("i-0123456789abcdef0")
    });
    let r = analyze(&v5_text(&recs));
    let f = &of(&r, "instance-port-scan")[0];
    assert_eq!(f.instance_ids, ["i-0123456789abcdef0"]);
    assert_eq!(f.vpc_ids, ["vpc-0f1e2d3c4b5a69788"]);
    assert_eq!(f.subnet_ids, ["subnet-0a1b2c3d00000001"]);
    assert!(
        f.title
            .starts_with("Our host 10.1.2.3 (i-0123456789abcdef0)"),
        "{}",
        f.title
    );
    // An instance id that is not one is left out, and counted.
    let forged = many(25, |i| {
        rec(HOST, &format!("198.18.4.{}", i + 1), 22)
            .sp(50000)
            .direction("egress")
            .instance("i-<script>alert(1)</script>")
    });
    let r = analyze(&v5_text(&forged));
    assert!(of(&r, "instance-port-scan")[0].instance_ids.is_empty());
    assert_eq!(r.files.untrusted_fields, 1);
}

#[test]
fn direction_comes_from_flow_direction_when_present() {
    // v5 egress from our host to a trusted address is east-west traffic:
    // not outbound, so no instance rule.
    let east_west = many(25, |i| {
        rec(HOST, &format!("10.9.0.{}", i + 1), 22)
            .sp(50000)
            .direction("egress")
    });
    let r = analyze(&v5_text(&east_west));
    assert!(of(&r, "instance-port-scan").is_empty(), "{:#?}", r.findings);
    // v2 has no flow-direction: the trusted networks decide.
    let out = many(25, |i| {
        rec(HOST, &format!("198.18.4.{}", i + 1), 22).sp(50000)
    });
    assert_eq!(rules(&analyze(&v2_text(&out))), ["instance-port-scan"]);
}

// ---------------------------------------------------------------- windows

/// Five-minute objects of one hour, each holding a slice of three spread
/// attacks: a sweep (3 new hosts per object), a beacon (one connection per
/// object) and an upload (200 MB in every other object), with a NAT-like crawler
/// completing connections to 200 new hosts per object.
fn spread_objects() -> Vec<(String, String)> {
    (0..12u64)
        .map(|k| {
            let t = T0 + 300 * k;
            let mut recs = Vec::new();
            for j in 0..3 {
                let n = k * 3 + j;
                recs.push(
                    rec(HOST, &format!("198.18.1.{}", n + 1), 22)
                        .sp(50000)
                        .times(t, t + 5),
                );
            }
            recs.push(
                rec("10.1.4.4", PEER, 443)
                    .sp(42000 + k as u16)
                    .packets(4)
                    .bytes(400)
                    .times(t + 30, t + 40),
            );
            if k % 2 == 0 {
                // Six objects of 200 MB: an upload, not steady enough for a beacon.
                recs.push(
                    conn("10.1.5.5", "198.18.200.1", 443, k as usize)
                        .packets(160_000)
                        .bytes(200_000_000)
                        .times(t, t + 200),
                );
            }
            for j in 0..200u64 {
                let n = k * 200 + j;
                recs.push(
                    conn(
                        "10.1.6.6",
                        &format!("198.19.{}.{}", n / 250, n % 250 + 1),
                        443,
                        n as usize,
                    )
                    .times(t, t + 10),
                );
            }
            (
                format!("AWSLogs/123456789012/vpcflowlogs/us-east-1/obj-{k:02}.log"),
                v2_text(&recs),
            )
        })
        .collect()
}

/// `(rule, subject, finding_id)`.
type Seen = (String, String, String);

/// Runs `objects` in the given order through the correlation, each
/// notification confirmed; returns (rule, subject, finding_id) of the
/// notifications and of every finding row.
fn run_in_order(objects: &[(String, String)], order: &[usize]) -> (Vec<Seen>, Vec<Seen>) {
    let config = Config {
        correlate: true,
        ..Config::default()
    };
    let policy = Policy::of(&config, Severity::Low);
    let store = MemoryStore::default();
    let mut notified = Vec::new();
    let mut rows = Vec::new();
    for &i in order {
        let (name, text) = &objects[i];
        let mut report = analyze_text(text.as_bytes(), path_source(name), &config, NOW).unwrap();
        let mut out = block_on(correlate(&store, &mut report, &config, &policy, NOW)).unwrap();
        for f in &out.due {
            notified.push((f.rule.to_string(), f.subject.clone(), f.finding_id.clone()));
        }
        for f in &report.findings {
            rows.push((f.rule.to_string(), f.subject.clone(), f.finding_id.clone()));
        }
        block_on(settle(
            &store,
            &mut out,
            true,
            &Default::default(),
            &policy,
            NOW,
        ))
        .unwrap();
    }
    notified.sort();
    rows.sort();
    rows.dedup();
    (notified, rows)
}

#[test]
fn spread_attacks_are_found_across_objects_and_a_crawler_is_not() {
    let objects = spread_objects();
    // No single object shows any of them.
    for (name, text) in &objects {
        let r = analyze(text);
        assert!(r.findings.is_empty(), "{name}: {:#?}", r.findings);
    }
    let (notified, rows) = run_in_order(&objects, &(0..objects.len()).collect::<Vec<_>>());
    let found: Vec<(&str, &str)> = notified
        .iter()
        .map(|(r, s, _)| (r.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("beaconing", "123456789012/10.1.4.4 -> 198.18.0.9:443/tcp"),
            ("instance-port-scan", "123456789012/10.1.2.3"),
            ("large-upload", "123456789012/10.1.5.5 -> 198.18.200.1"),
        ],
        "each notified once; nothing for the crawler"
    );
    // One id per subject in every row.
    let mut ids: Vec<(&str, &str)> = rows
        .iter()
        .map(|(_, s, id)| (s.as_str(), id.as_str()))
        .collect();
    ids.dedup_by_key(|x| x.0);
    assert_eq!(ids.len(), rows.len(), "{rows:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Findings and ids do not depend on the order of objects, late or
    /// replayed ones included.
    #[test]
    fn findings_and_ids_do_not_depend_on_the_order_of_objects(
        order in Just((0..12usize).collect::<Vec<_>>()).prop_shuffle(),
        replay in proptest::collection::vec(0..12usize, 0..4),
    ) {
        let objects = spread_objects();
        let in_order = run_in_order(&objects, &(0..12).collect::<Vec<_>>());
        let mut shuffled = order.clone();
        shuffled.extend(replay);
        let got = run_in_order(&objects, &shuffled);
        prop_assert_eq!(&got.0, &in_order.0, "notifications");
        prop_assert_eq!(&got.1, &in_order.1, "finding rows");
    }
}
