//! Finding titles: the catalogue's template of the rule
//! ([`crate::catalogue::RuleSpec::title`]) filled with values taken from
//! the candidate's subject and evidence. Every placeholder a template may
//! use is named in [`value`]; a test renders every template.

use std::net::IpAddr;

use super::evidence::{Candidate, Evidence, ServiceText, Subject};
use super::{plural, port_label, ports_label};
use crate::catalogue::render;

/// The title of a finding about `c`, from `e` (the object's evidence or
/// the window's).
pub fn title(c: &Candidate, e: &Evidence) -> String {
    render(c.rule.spec().title, |name| value(name, c, e))
}

/// The value of one placeholder, `None` for a name no rule uses.
fn value(name: &str, c: &Candidate, e: &Evidence) -> Option<String> {
    let subject = &c.subject;
    Some(match name {
        // The subject as text: an address, a service, an interface.
        "actor" | "interface" => subject.to_string(),
        "service" => match subject {
            Subject::Service { port, .. } => port_label(*port),
            _ => ports_label(&sorted(&e.dst_ports)),
        },
        "host" => match subject {
            Subject::Service { addr, .. } => addr.to_string(),
            _ => subject.to_string(),
        },
        "flows" => e.flows.to_string(),
        "count" => e.count.to_string(),
        "accepted" => e.accepted.to_string(),
        "rejected" => e.rejected.to_string(),
        "sources" => e.distinct_src.count().to_string(),
        "hosts" | "destinations" => e.distinct_dst.count().to_string(),
        "ports" => ports_label(&sorted(&e.dst_ports)),
        "scan" => scan_text(e),
        "intel" => intel_text(subject, e),
        "label" => c.label.clone().unwrap_or_else(|| "threat list".into()),
        // One of our hosts as the actor, and its internet peer.
        "our_host" => match (subject.actor(), e.instance_ids.as_slice()) {
            (Some(a), [instance]) => format!("{a} ({instance})"),
            (Some(a), _) => a.to_string(),
            (None, _) => subject.to_string(),
        },
        "peer" => subject.peer()?.to_string(),
        "peer_port" => match subject {
            Subject::HostPeerPort {
                peer,
                port,
                protocol,
                ..
            } => ServiceText(*peer, *port, *protocol).to_string(),
            _ => subject.peer()?.to_string(),
        },
        "packets" => e.packets.to_string(),
        "bytes_per_packet" => (e.bytes / e.packets.max(1)).to_string(),
        "sent" => human_bytes(e.bytes),
        "slots" => e.busiest_hour().to_string(),
        "port_use" => match subject {
            Subject::HostPeerPort { port, .. } => port_use(*port).to_string(),
            _ => "a suspicious port".to_string(),
        },
        _ => return None,
    })
}

/// What a suspicious egress port is known for.
pub fn port_use(port: u16) -> &'static str {
    match port {
        3333 => "Stratum, the mining-pool protocol",
        4444 => "Metasploit's default handler and mining pools",
        5555 | 7777 => "mining pools",
        6666 | 6667 => "IRC, a botnet control channel",
        9001 => "a Tor relay",
        9030 => "a Tor directory",
        14444 | 45700 => "Monero mining pools",
        _ => "a port on the suspicious_egress_ports list",
    }
}

/// `probed 30 ports on 10.0.0.7 and swept port 445 across 40 hosts`.
fn scan_text(e: &Evidence) -> String {
    let mut parts = Vec::new();
    if let Some((dst, n)) = e.widest_vertical() {
        parts.push(format!("probed {n} port{} on {dst}", plural(n)));
    }
    if let Some((port, n)) = e.widest_sweep() {
        parts.push(format!("swept port {port} across {n} host{}", plural(n)));
    }
    parts.join(" and ")
}

/// What a threat-list match showed: who sent how much to whom.
fn intel_text(subject: &Subject, e: &Evidence) -> String {
    let hosts = host_list(&e.dst_addrs, e.distinct_dst.count());
    let sent = e.bytes_to_subject;
    let received = e.bytes.saturating_sub(sent);
    let from_listed = e.flows.saturating_sub(e.flows_to_subject);
    if e.opened_to_subject > 0 {
        let n = e.opened_to_subject;
        let ours = match e.dst_addrs.as_slice() {
            [one] if e.distinct_dst.count() <= 1 => format!("Our host {one}"),
            _ => format!("{} of our hosts ({})", e.distinct_dst.count(), {
                let shown: Vec<String> =
                    e.dst_addrs.iter().take(3).map(|a| a.to_string()).collect();
                shown.join(", ")
            }),
        };
        let mut t = format!(
            "{ours} opened {n} connection{} to {subject} and sent {}",
            plural(n),
            human_bytes(sent)
        );
        if from_listed > 0 {
            t.push_str(&format!(", receiving {}", human_bytes(received)));
        }
        return t;
    }
    match (e.flows_to_subject > 0, from_listed > 0) {
        (true, false) => format!("{hosts} sent {} to {subject}", human_bytes(sent)),
        (false, _) => format!("{subject} sent {} to {hosts}", human_bytes(received)),
        (true, true) => format!(
            "{hosts} sent {} to and received {} from {subject}",
            human_bytes(sent),
            human_bytes(received)
        ),
    }
}

/// `10.0.0.15` or `3 hosts (10.0.0.15, ...)`.
fn host_list(addrs: &[IpAddr], distinct: u64) -> String {
    match addrs {
        [one] if distinct <= 1 => one.to_string(),
        _ => format!(
            "{distinct} hosts ({})",
            addrs
                .iter()
                .take(3)
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `512 bytes`, `4 KB`, `1.5 MB`, `230 GB` (powers of 1000).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} byte{}", plural(n));
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 999.5 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if v < 9.95 {
        let t = format!("{v:.1}");
        format!("{} {}", t.strip_suffix(".0").unwrap_or(&t), UNITS[unit])
    } else {
        format!("{v:.0} {}", UNITS[unit])
    }
}

fn sorted(ports: &[u16]) -> Vec<u16> {
    let mut p = ports.to_vec();
    p.sort_unstable();
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{RuleId, CATALOGUE};
    use crate::severity::Severity;

    #[test]
    fn every_template_is_filled() {
        for spec in &CATALOGUE {
            let subject = match spec.direction {
                crate::catalogue::Direction::Outbound => Subject::HostPeerPort {
                    account: "123456789012".into(),
                    addr: "10.0.0.5".parse().unwrap(),
                    peer: "198.18.0.9".parse().unwrap(),
                    port: 4444,
                    protocol: Some(6),
                },
                _ => Subject::Service {
                    addr: "10.0.0.5".parse().unwrap(),
                    port: 22,
                    protocol: Some(6),
                },
            };
            let c = Candidate {
                rule: spec.id,
                subject,
                severity: Severity::High,
                evidence: Evidence::default(),
                label: Some("c2 (intel.csv)".into()),
            };
            let t = title(&c, &c.evidence);
            assert!(!t.contains('{') && !t.contains('}'), "{}: {t}", spec.name);
        }
        let c = Candidate {
            rule: RuleId::RejectedTraffic,
            subject: Subject::Source {
                addr: "203.0.113.9".parse().unwrap(),
            },
            severity: Severity::Low,
            evidence: Evidence {
                flows: 120,
                count: 120,
                ..Evidence::default()
            },
            label: None,
        };
        assert_eq!(
            title(&c, &c.evidence),
            "203.0.113.9 had 120 rejected flows to 0 destinations"
        );
    }

    #[test]
    fn byte_counts_for_titles() {
        let cases = [
            (0, "0 bytes"),
            (1, "1 byte"),
            (999, "999 bytes"),
            (1000, "1 KB"),
            (4096, "4.1 KB"),
            (4000, "4 KB"),
            (15_300, "15 KB"),
            (999_499, "999 KB"),
            (999_500, "1 MB"),
            (1_500_000, "1.5 MB"),
            (230_000_000_000, "230 GB"),
            (u64::MAX, "18447 PB"),
        ];
        for (n, want) in cases {
            assert_eq!(human_bytes(n), want, "{n}");
        }
    }
}
