//! Untrusted text fields (issue 25): whoever can write to the log bucket
//! controls every text column of a record. A crafted object carries URLs,
//! markup, quotes, CRLF escapes and SQL in `interface-id`, `instance-id`,
//! `vpc-id`, `subnet-id`, `account-id` and `region`. Findings, the email
//! paragraph, ASFF, EventBridge entries and summary keys and bodies come
//! out without any of it; the records are still analysed and the refused
//! values are counted in the `files` table.

use flowguard::report::{asff, email, events};

use super::support::{gunzip, rec, Rec, V5_HEADER};

/// Fragments of the crafted values: none may reach any output.
const TAINT: [&str; 10] = [
    "evil",
    "<b",
    "<script",
    "</",
    "DROP",
    "%0d",
    "%0a",
    "quoted",
    "javascript",
    "Bcc",
];

const FORGED_ENI: [&str; 2] = [
    "https://evil.example/eni-0a1b2c3d?x=%0d%0aBcc:a@evil.example",
    "eni-1';DROP/**/TABLE/**/findings;--",
];
const GOOD_ENI: &str = "eni-0a1b2c3d4e5f60001";

fn v5(r: &Rec, vpc: &str, subnet: &str, region: &str) -> String {
    r.v5()
        .replace("vpc-0f1e2d3c4b5a69788", vpc)
        .replace("subnet-0a1b2c3d00000001", subnet)
        .replace(" us-east-1 ", &format!(" {region} "))
}

/// Inbound SSH from the internet to a host behind the good interface and
/// to hosts behind forged ones, and an outbound connection to a mining
/// port; the good interface's records carry forged instance, VPC and
/// subnet ids, the first record a forged account and region.
fn crafted_object() -> String {
    let mut lines = vec![V5_HEADER.to_string()];
    let forged_meta = |r: Rec| {
        v5(
            &r.instance("i-0abc<script>javascript:alert(1)</script>"),
            "vpc-\"quoted\"%0d%0a",
            "subnet-evil'",
            "us-east-1",
        )
    };
    // The first record: a forged account and region (the partition comes
    // from the later records).
    lines.push(v5(
        &rec("203.0.113.9", "10.0.1.10", 22)
            .eni(GOOD_ENI)
            .account("<b>evil</b>"),
        "vpc-\"quoted\"%0d%0a",
        "subnet-evil'",
        "us-east-1%0d%0aevil",
    ));
    for i in 0..20u16 {
        let r = rec(&format!("198.51.100.{}", i + 1), "10.0.1.10", 22)
            .eni(GOOD_ENI)
            .packets(10)
            .bytes(4000)
            .direction("ingress");
        lines.push(forged_meta(r));
    }
    for (n, eni) in FORGED_ENI.iter().enumerate() {
        for i in 0..20u16 {
            let r = rec(
                &format!("192.0.2.{}", i + 1),
                &format!("10.0.2.{}", 10 + n),
                3389,
            )
            .eni(eni)
            .packets(10)
            .bytes(4000)
            .direction("ingress");
            lines.push(v5(
                &r,
                "vpc-0f1e2d3c4b5a69788",
                "subnet-0a1b2c3d00000001",
                "us-east-1",
            ));
        }
    }
    for i in 0..6u16 {
        let r = rec("10.0.1.10", "198.51.100.200", 3333)
            .eni(GOOD_ENI)
            .sp(50000 + i)
            .packets(20)
            .bytes(9000)
            .direction("egress");
        lines.push(forged_meta(r));
    }
    lines.join("\n") + "\n"
}

fn assert_clean(what: &str, text: &str) {
    for t in TAINT {
        assert!(!text.contains(t), "{what} carries {t:?}:\n{text}");
    }
}

#[test]
fn crafted_fields_never_reach_findings_email_asff_events_or_keys() {
    let text = crafted_object();
    let report = super::support::analyze(&text);
    let records = text.lines().count() as u64 - 1;
    assert_eq!(report.files.counts.records, records);
    assert_eq!(report.files.counts.ok, records, "every record analysed");
    assert_eq!(report.files.counts.malformed, 0);
    // 2 forged interface ids, the forged instance, VPC and subnet of the
    // good interface (once each), 1 forged account, 1 forged region.
    assert_eq!(report.files.untrusted_fields, 7, "{:?}", report.files);

    assert!(
        report.findings.len() >= 3,
        "the crafted object still gives its findings: {:?}",
        report.findings.iter().map(|f| &f.title).collect::<Vec<_>>()
    );
    let named_good = report
        .findings
        .iter()
        .filter(|f| f.interface_ids == [GOOD_ENI])
        .count();
    assert!(named_good >= 2, "the good interface is still named");
    for f in &report.findings {
        assert!(f.instance_ids.is_empty() && f.vpc_ids.is_empty() && f.subnet_ids.is_empty());
        assert!(f.interface_ids.iter().all(|i| i == GOOD_ENI), "{f:?}");
        let json = serde_json::to_string(f).expect("a finding serialises");
        assert_clean("finding", &json);
        assert_clean("email", &email::paragraph(f, "flowguard"));
        if let Some(q) = email::evidence_query(f, "flowguard") {
            assert_clean("Athena query", &q);
        }
        if let Some(u) = email::console_link(f) {
            assert_clean("console link", &u);
        }
        let product = asff::Product {
            account: "123456789012",
            region: "us-east-1",
        };
        let a = serde_json::to_string(&asff::asff(f, product, super::support::NOW))
            .expect("ASFF serialises");
        assert_clean("ASFF", &a);
        let e = events::event_entry(f);
        assert_clean("event detail", &e.detail);
        for r in &e.resources {
            assert_clean("event resource", r);
        }
    }
    for o in report.summary_objects("flowguard/") {
        assert!(
            o.key.contains("/account=123456789012/region=us-east-1/"),
            "{}",
            o.key
        );
        assert_clean("summary key", &o.key);
        let body = String::from_utf8(gunzip(&o.body)).expect("NDJSON is UTF-8");
        assert_clean(&format!("summary {}", o.key), &body);
    }
}
