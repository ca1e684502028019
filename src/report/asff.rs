//! A finding in the AWS Security Finding Format (SPEC section 10), for
//! Security Hub's `BatchImportFindings`: `Id` is the `finding_id`, so a
//! later notification of the same finding updates it in place, `Types` and
//! the remediation line come from the rule catalogue, `Action` is a
//! `NETWORK_CONNECTION` (or a `PORT_PROBE` for an inbound scan), never the
//! retired top-level `Network` object. Pure: the Security Hub client maps
//! this struct onto the SDK's types (`io/securityhub.rs`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use crate::catalogue::{Direction, RuleId};
use crate::ids;
use crate::rules::Finding;
use crate::time::rfc3339;

/// The largest ASFF finding Security Hub accepts is 240 KB.
pub const MAX_ASFF_BYTES: usize = 240 * 1024;
/// ASFF's limits on text fields.
const MAX_TITLE: usize = 256;
const MAX_DESCRIPTION: usize = 1024;
const MAX_PRODUCT_FIELD: usize = 2048;
/// Probes listed in a `PORT_PROBE` action.
const MAX_PROBES: usize = 10;

/// One ASFF finding, with ASFF's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Asff {
    /// `2018-10-08`.
    pub schema_version: &'static str,
    /// The finding id.
    pub id: String,
    /// `arn:{partition}:securityhub:{region}:{account}:product/{account}/default`.
    pub product_arn: String,
    /// `flowguard/{rule}`.
    pub generator_id: String,
    /// The finding's account.
    pub aws_account_id: String,
    /// ASFF taxonomy types of the rule.
    pub types: Vec<&'static str>,
    /// When the finding was first seen (stable across updates).
    pub created_at: String,
    /// Now.
    pub updated_at: String,
    /// First seen.
    pub first_observed_at: Option<String>,
    /// Last seen.
    pub last_observed_at: Option<String>,
    /// `{"Label": "HIGH"}`.
    pub severity: AsffSeverity,
    /// The title (at most 256 characters).
    pub title: String,
    /// What happened (at most 1,024 characters).
    pub description: String,
    /// The instance or interface on our side, else `Other`.
    pub resources: Vec<AsffResource>,
    /// The network action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<AsffAction>,
    /// What to do.
    pub remediation: AsffRemediation,
    /// The console page of the resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// flowguard's own fields.
    pub product_fields: BTreeMap<String, String>,
    /// `ACTIVE`.
    pub record_state: &'static str,
    /// The finding's region.
    pub region: String,
    /// `flowguard`.
    pub company_name: &'static str,
    /// `flowguard`.
    pub product_name: &'static str,
}

/// `Severity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffSeverity {
    /// `LOW`, `MEDIUM`, `HIGH`.
    pub label: &'static str,
}

/// One entry of `Resources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffResource {
    /// `AwsEc2Instance`, `AwsEc2NetworkInterface` or `Other`.
    #[serde(rename = "Type")]
    pub kind: &'static str,
    /// Its ARN (or, for `Other`, the finding's subject).
    pub id: String,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: &'static str,
    /// Its region.
    pub region: String,
}

/// `Action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffAction {
    /// `NETWORK_CONNECTION` or `PORT_PROBE`.
    pub action_type: &'static str,
    /// For `NETWORK_CONNECTION`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_connection_action: Option<NetworkConnection>,
    /// For `PORT_PROBE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_probe_action: Option<PortProbe>,
}

/// `NetworkConnectionAction`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkConnection {
    /// `IN` or `OUT`.
    pub connection_direction: &'static str,
    /// The internet side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_ip_details: Option<IpDetails>,
    /// The remote port (outbound: the port our host connected to).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_port_details: Option<PortDetails>,
    /// The local port (inbound: the port of our service).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_port_details: Option<PortDetails>,
    /// `TCP`, `UDP`, `ICMP`, or the protocol number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Whether every flow was rejected.
    pub blocked: bool,
}

/// `PortProbeAction`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortProbe {
    /// The probes: our host and port, the remote address.
    pub port_probe_details: Vec<ProbeDetail>,
    /// Whether every probe was rejected.
    pub blocked: bool,
}

/// One of `PortProbeDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProbeDetail {
    /// The port probed.
    pub local_port_details: PortDetails,
    /// Our host probed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_ip_details: Option<IpDetails>,
    /// The prober.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_ip_details: Option<IpDetails>,
}

/// An address, as `IpAddressV4`: ASFF's action details hold IPv4 only, so
/// an IPv6 peer is in `ProductFields` alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpDetails {
    /// IPv4.
    #[serde(rename = "IpAddressV4")]
    pub ip_address_v4: String,
}

impl IpDetails {
    fn of(text: &str) -> Option<IpDetails> {
        match text.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => Some(IpDetails {
                ip_address_v4: a.to_string(),
            }),
            IpAddr::V6(_) => None,
        }
    }
}

/// A port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortDetails {
    /// The port number.
    pub port: u16,
}

/// `Remediation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffRemediation {
    /// `{"Text": ...}`.
    pub recommendation: Recommendation,
}

/// `Recommendation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Recommendation {
    /// The rule's remediation line.
    pub text: String,
}

/// `TCP`, `UDP`, `ICMP`, `ICMPV6`, or the number.
fn protocol_name(p: Option<u8>) -> Option<String> {
    Some(match p? {
        6 => "TCP".into(),
        17 => "UDP".into(),
        1 => "ICMP".into(),
        58 => "ICMPV6".into(),
        n => n.to_string(),
    })
}

/// At most `max` characters, on a character boundary, with `…` when cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The instance or interface on our side, as ASFF resources.
fn resources(f: &Finding, region: &str, partition: &'static str) -> Vec<AsffResource> {
    let on_our_side = f.instance_ids.iter().map(|i| ("AwsEc2Instance", i)).chain(
        f.interface_ids
            .iter()
            .map(|i| ("AwsEc2NetworkInterface", i)),
    );
    let mut out: Vec<AsffResource> = on_our_side
        .filter_map(|(kind, id)| {
            Some(AsffResource {
                kind,
                // Only the finding's own account and region name its
                // resources (never the function's, in their place).
                id: ids::ec2_arn(&f.region, &f.account, id)?,
                partition,
                region: region.to_string(),
            })
        })
        .take(1)
        .collect();
    if out.is_empty() {
        out.push(AsffResource {
            kind: "Other",
            id: clip(&f.subject, 512),
            partition,
            region: region.to_string(),
        });
    }
    out
}

/// The network action of a finding.
fn action(f: &Finding) -> AsffAction {
    let blocked = f.accepted_flows == 0 && f.rejected_flows > 0;
    if f.rule == RuleId::PortScan {
        let remote = f.src_addr.as_deref().and_then(IpDetails::of);
        let hosts = f.dst_addrs.iter().take(MAX_PROBES);
        let mut probes: Vec<ProbeDetail> = Vec::new();
        for (i, port) in f.dst_ports.iter().take(MAX_PROBES).enumerate() {
            probes.push(ProbeDetail {
                local_port_details: PortDetails { port: *port },
                local_ip_details: f
                    .dst_addrs
                    .get(i.min(f.dst_addrs.len().saturating_sub(1)))
                    .and_then(|a| IpDetails::of(a)),
                remote_ip_details: remote.clone(),
            });
        }
        if probes.is_empty() {
            probes.extend(hosts.map(|h| ProbeDetail {
                local_port_details: PortDetails { port: 0 },
                local_ip_details: IpDetails::of(h),
                remote_ip_details: remote.clone(),
            }));
        }
        return AsffAction {
            action_type: "PORT_PROBE",
            network_connection_action: None,
            port_probe_action: Some(PortProbe {
                port_probe_details: probes,
                blocked,
            }),
        };
    }
    let outbound = f.direction == Direction::Outbound;
    let port = f.dst_ports.first().map(|p| PortDetails { port: *p });
    let remote = if outbound && f.rule != RuleId::ThreatIntelMatch {
        f.dst_addrs.first()
    } else {
        f.src_addr.as_ref().or(f.src_addrs.first())
    };
    AsffAction {
        action_type: "NETWORK_CONNECTION",
        network_connection_action: Some(NetworkConnection {
            connection_direction: if outbound { "OUT" } else { "IN" },
            remote_ip_details: remote.and_then(|a| IpDetails::of(a)),
            remote_port_details: if outbound { port.clone() } else { None },
            local_port_details: if outbound { None } else { port },
            protocol: protocol_name(f.protocol),
            blocked,
        }),
        port_probe_action: None,
    }
}

/// flowguard's own fields: the rule, subject, direction and counts.
fn product_fields(f: &Finding) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(format!("flowguard/{k}"), clip(&v, MAX_PRODUCT_FIELD));
    };
    put("rule", f.rule.to_string());
    // ASFF has no count of its own: the objects the finding occurred in.
    put("count", f.occurrences.max(1).to_string());
    put("subject", f.subject.clone());
    put(
        "direction",
        match f.direction {
            Direction::Outbound => "outbound",
            _ => "inbound",
        }
        .into(),
    );
    put("flows", f.flows.to_string());
    put("packets", f.packets.to_string());
    put("bytes", f.bytes.to_string());
    put("window_flows", f.window_flows.to_string());
    put("mitre_attack", f.mitre_attack.join(","));
    if !f.src_addrs.is_empty() {
        put("src_addrs", f.src_addrs.join(","));
    }
    if !f.dst_addrs.is_empty() {
        put("dst_addrs", f.dst_addrs.join(","));
    }
    if !f.dst_ports.is_empty() {
        put(
            "dst_ports",
            f.dst_ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    if !f.interface_ids.is_empty() {
        put("interface_ids", f.interface_ids.join(","));
    }
    m
}

/// Who imports the findings: the function's account and the region of the
/// Security Hub it calls (the product ARN's).
#[derive(Debug, Clone, Copy)]
pub struct Product<'a> {
    /// 12 digits.
    pub account: &'a str,
    /// The function's region.
    pub region: &'a str,
}

/// The ASFF form of `f`, imported by `product` at `now` (Unix seconds).
/// Always under [`MAX_ASFF_BYTES`]: the lists are capped and the texts
/// clipped to ASFF's limits.
pub fn asff(f: &Finding, product: Product<'_>, now: u64) -> Asff {
    // Security Hub refuses a finding whose account is not 12 digits; the
    // finding's account and region come from the log, so a value without
    // its shape falls back to the function's own.
    let account = if ids::is_account_id(f.account.as_bytes()) {
        f.account.as_str()
    } else {
        product.account
    };
    let region = if ids::is_region(f.region.as_bytes()) {
        f.region.as_str()
    } else {
        product.region
    };
    let partition = ids::partition(region);
    let spec = f.rule.spec();
    let description = clip(
        &format!(
            "{} Seen in {} object{} between {} and {}: {} flows, {} packets, {} bytes{}.",
            f.title,
            f.occurrences,
            if f.occurrences == 1 { "" } else { "s" },
            f.first_seen.as_deref().unwrap_or("?"),
            f.last_seen.as_deref().unwrap_or("?"),
            f.flows,
            f.packets,
            f.bytes,
            match f
                .instance_ids
                .iter()
                .filter(|i| ids::is_instance_id(i.as_bytes()))
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                [] => String::new(),
                list => format!(", instance {}", list.join(", ")),
            }
        ),
        MAX_DESCRIPTION,
    );
    Asff {
        schema_version: "2018-10-08",
        id: f.finding_id.clone(),
        product_arn: format!(
            "arn:{}:securityhub:{}:{account}:product/{account}/default",
            ids::partition(product.region),
            product.region,
            account = product.account,
        ),
        generator_id: format!("flowguard/{}", f.rule),
        aws_account_id: account.to_string(),
        types: spec.asff_types.to_vec(),
        created_at: f.first_seen.clone().unwrap_or_else(|| rfc3339(now)),
        updated_at: rfc3339(now),
        first_observed_at: f.first_seen.clone(),
        last_observed_at: f.last_seen.clone(),
        severity: AsffSeverity {
            label: match f.severity {
                crate::severity::Severity::High => "HIGH",
                crate::severity::Severity::Medium => "MEDIUM",
                crate::severity::Severity::Low => "LOW",
            },
        },
        title: clip(&f.title, MAX_TITLE),
        description,
        resources: resources(f, region, partition),
        // A gap in the log has no connection to describe.
        action: (f.rule != RuleId::SkippedRecords).then(|| action(f)),
        remediation: AsffRemediation {
            recommendation: Recommendation {
                text: spec.remediation.to_string(),
            },
        },
        source_url: f
            .instance_ids
            .iter()
            .chain(&f.interface_ids)
            .find_map(|id| ids::ec2_console_url(region, id)),
        product_fields: product_fields(f),
        record_state: "ACTIVE",
        region: region.to_string(),
        company_name: "flowguard",
        product_name: "flowguard",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A finding of `rule` with every list at its cap and a long title.
    pub(crate) fn big_finding(rule: RuleId, direction: Direction) -> Finding {
        let v4 = |i: usize| format!("198.18.{}.{}", i / 250, i % 250);
        Finding {
            finding_id: "fg-0123456789abcdef".into(),
            rule,
            severity: crate::severity::Severity::High,
            direction,
            title: "x".repeat(5000),
            subject: "123456789012/10.1.2.3 -> 198.18.0.9:4444/tcp".into(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
            interface_ids: (0..5).map(|i| format!("eni-0a1b2c3d4e5f6071{i}")).collect(),
            instance_ids: (0..5).map(|i| format!("i-0a1b2c3d4e5f6071{i}")).collect(),
            vpc_ids: vec!["vpc-0a1b2c3d".into()],
            subnet_ids: vec!["subnet-0a1b2c3d".into()],
            resources: Vec::new(),
            src_addr: Some("10.1.2.3".into()),
            src_addrs: (0..10).map(v4).collect(),
            dst_addrs: (10..20).map(v4).collect(),
            dst_ports: (1..=20).collect(),
            protocol: Some(6),
            flows: u64::MAX,
            packets: u64::MAX,
            bytes: u64::MAX,
            accepted_flows: 1,
            rejected_flows: 2,
            distinct_src_addrs: 10,
            distinct_dst_addrs: 10,
            distinct_dst_ports: 20,
            first_seen: Some("2025-06-26T18:10:00Z".into()),
            last_seen: Some("2025-06-26T19:10:00Z".into()),
            source: crate::source::SourceRef::S3 {
                bucket: "b".repeat(63),
                key: "k".repeat(1024),
            },
            mitre_attack: vec!["T1046".into()],
            notified: true,
            occurrences: 12,
            window_flows: 30,
            suppressed: false,
            suppression_reason: None,
        }
    }

    #[test]
    fn the_fields_spec_10_lists() {
        let f = big_finding(RuleId::InstancePortScan, Direction::Outbound);
        let a = asff(
            &f,
            Product {
                account: "111122223333",
                region: "us-east-1",
            },
            1_750_962_000,
        );
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["SchemaVersion"], "2018-10-08");
        assert_eq!(v["Id"], "fg-0123456789abcdef");
        assert_eq!(
            v["ProductArn"],
            "arn:aws:securityhub:us-east-1:111122223333:product/111122223333/default"
        );
        assert_eq!(v["GeneratorId"], "flowguard/instance-port-scan");
        assert_eq!(v["AwsAccountId"], "123456789012");
        assert_eq!(v["Types"][0], "TTPs/Discovery");
        assert_eq!(v["Severity"]["Label"], "HIGH");
        assert_eq!(v["ProductFields"]["flowguard/count"], "12");
        assert_eq!(v["Resources"][0]["Type"], "AwsEc2Instance");
        assert_eq!(
            v["Resources"][0]["Id"],
            "arn:aws:ec2:us-east-1:123456789012:instance/i-0a1b2c3d4e5f60710"
        );
        assert_eq!(v["Action"]["ActionType"], "NETWORK_CONNECTION");
        let c = &v["Action"]["NetworkConnectionAction"];
        assert_eq!(c["ConnectionDirection"], "OUT");
        assert_eq!(c["RemoteIpDetails"]["IpAddressV4"], "198.18.0.10");
        assert_eq!(c["RemotePortDetails"]["Port"], 1);
        assert!(v.get("Network").is_none(), "the retired Network object");
        assert_eq!(v["Title"].as_str().unwrap().chars().count(), 256);
        assert!(v["Description"].as_str().unwrap().chars().count() <= 1024);
        assert!(v["Remediation"]["Recommendation"]["Text"]
            .as_str()
            .unwrap()
            .contains("Isolate"));
        let scan = asff(
            &big_finding(RuleId::PortScan, Direction::Inbound),
            Product {
                account: "1",
                region: "us-east-1",
            },
            0,
        );
        let action = scan.action.unwrap();
        assert_eq!(action.action_type, "PORT_PROBE");
        assert_eq!(
            action.port_probe_action.unwrap().port_probe_details.len(),
            10
        );
        let gap = asff(
            &big_finding(RuleId::SkippedRecords, Direction::Inbound),
            Product {
                account: "1",
                region: "us-east-1",
            },
            0,
        );
        assert!(gap.action.is_none(), "a gap in the log has no connection");
    }

    /// Text of any Unicode, up to `max` characters.
    fn any_text(max: usize) -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        (
            proptest::collection::vec(any::<char>(), 0..64),
            0..=max / 64,
        )
            .prop_map(|(chars, times)| chars.iter().collect::<String>().repeat(times))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// SPEC 10's size bounds hold for any finding the engine can
        /// produce (lists at most at their caps) with texts of any length:
        /// an ASFF finding <= 240 KB, an event entry <= 256 KB, a
        /// PutEvents call <= 256 KB and 10 entries.
        #[test]
        fn asff_and_events_stay_within_their_size_limits(
            rule in proptest::sample::select(crate::catalogue::RuleId::ALL.to_vec()),
            outbound in proptest::prelude::any::<bool>(),
            title in any_text(300_000),
            subject in any_text(20_000),
            reason in any_text(20_000),
            key in any_text(1024),
            name in any_text(5_000),
            description in any_text(5_000),
            groups in 0usize..=16,
            lists in 0usize..=1,
            entries in 1usize..=25,
        ) {
            let direction = if outbound { Direction::Outbound } else { Direction::Inbound };
            let mut f = big_finding(rule, direction);
            if lists == 0 {
                f.src_addrs.clear();
                f.dst_addrs.clear();
                f.dst_ports.clear();
            }
            f.title = title;
            f.subject = subject;
            f.suppression_reason = Some(reason);
            f.source = crate::source::SourceRef::S3 { bucket: "b".repeat(63), key };
            f.resources = f
                .interface_ids
                .iter()
                .map(|i| crate::rules::InterfaceDetails {
                    interface_id: i.clone(),
                    interface_type: Some("interface".into()),
                    description: Some(description.clone()),
                    instance_id: Some("i-0a1b2c3d4e5f60710".into()),
                    security_group_ids: (0..groups).map(|g| format!("sg-0a1b2c3d4e5f607{g:02}")).collect(),
                    vpc_id: Some("vpc-0a1b2c3d".into()),
                    subnet_id: Some("subnet-0a1b2c3d".into()),
                    name: Some(name.clone()),
                })
                .collect();
            let a = asff(&f, Product { account: "111122223333", region: "us-east-1" }, 1_750_962_000);
            let bytes = serde_json::to_vec(&a).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert!(bytes.len() <= MAX_ASFF_BYTES, "ASFF of {} bytes", bytes.len());
            let e = crate::report::events::event_entry(&f);
            proptest::prop_assert!(e.size() <= crate::report::events::MAX_EVENT_BYTES, "event of {} bytes", e.size());
            let calls = crate::report::events::batches(vec![e; entries]);
            proptest::prop_assert_eq!(calls.iter().map(Vec::len).sum::<usize>(), entries);
            for c in calls {
                let size: usize = c.iter().map(crate::report::events::EventEntry::size).sum();
                proptest::prop_assert!(c.len() <= 10 && size <= crate::report::events::MAX_EVENT_BYTES);
            }
        }
    }
}
