//! The finding: what a rule reports, serialised as the JSON of SPEC
//! section 2, built from a [`Candidate`]'s subject and the [`Evidence`] that
//! made it fire (one object's, or a window's).

use serde::Serialize;

use super::evidence::{Candidate, Evidence, Subject};
use super::{plural, port_label, ports_label, remote_service_technique, FindingContext};
use crate::config::Config;
use crate::hash::fnv1a64;
use crate::intel::Suppressions;
use crate::severity::{RuleId, Severity};
use crate::source::SourceRef;
use crate::time::rfc3339;

/// One security finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable id of the subject: a hash of account, region, rule and
    /// subject, the same across objects and days.
    pub finding_id: String,
    /// Rule id.
    pub rule: RuleId,
    /// Severity.
    pub severity: Severity,
    /// One human sentence.
    pub title: String,
    /// The subject as text: the source address, the exposed service
    /// (`10.0.1.20:22/tcp`), the interface or the listed address.
    pub subject: String,
    /// AWS account of the object.
    pub account: String,
    /// AWS region of the object.
    pub region: String,
    /// Interfaces that saw the flows (capped).
    pub interface_ids: Vec<String>,
    /// The actor: the source address for attacker rules, the listed
    /// address for threat-list matches; none for an exposed service seen
    /// from many sources, or an interface.
    pub src_addr: Option<String>,
    /// Source addresses, most flows first (capped list).
    pub src_addrs: Vec<String>,
    /// Destination addresses (capped list).
    pub dst_addrs: Vec<String>,
    /// Destination ports (capped list, sorted).
    pub dst_ports: Vec<u16>,
    /// IANA protocol number when all flows share one.
    pub protocol: Option<u8>,
    /// Flows behind the finding.
    pub flows: u64,
    /// Packets behind the finding.
    pub packets: u64,
    /// Bytes behind the finding.
    pub bytes: u64,
    /// Of which accepted.
    pub accepted_flows: u64,
    /// Of which rejected.
    pub rejected_flows: u64,
    /// All distinct source addresses seen (exact while small, then an
    /// estimate): never the length of the capped list.
    pub distinct_src_addrs: u64,
    /// All distinct destination addresses seen.
    pub distinct_dst_addrs: u64,
    /// All distinct destination ports seen.
    pub distinct_dst_ports: u64,
    /// Earliest flow time (`start`, else `end`), RFC 3339 UTC.
    pub first_seen: Option<String>,
    /// Latest flow time (`end`, else `start`), RFC 3339 UTC.
    pub last_seen: Option<String>,
    /// The object the flows came from.
    pub source: SourceRef,
    /// MITRE ATT&CK technique ids.
    pub mitre_attack: Vec<&'static str>,
    /// Whether processing this object notified it (published it, or
    /// printed it as a notification).
    pub notified: bool,
    /// Objects the finding occurred in so far (1 without correlation).
    pub occurrences: u64,
    /// What the rule counted within the window that fired (the object's
    /// own count without correlation).
    pub window_flows: u64,
    /// Whether a suppression entry applies (SPEC section 8): the finding
    /// is written, never notified.
    pub suppressed: bool,
    /// The reason of that entry.
    pub suppression_reason: Option<String>,
}

/// The `finding_id` of a subject: `fg-` and 16 hex digits of a stable hash
/// of account, region, rule and subject.
pub fn finding_id(account: &str, region: &str, rule: RuleId, subject: &Subject) -> String {
    let input = format!("{account}|{region}|{}|{subject}", rule.as_str());
    format!("fg-{:016x}", fnv1a64(input.as_bytes()))
}

impl Finding {
    /// Builds the finding of `candidate` from `evidence` (the candidate's
    /// own, or merged over a window of objects).
    pub fn build(candidate: &Candidate, evidence: &Evidence, ctx: &FindingContext) -> Finding {
        let rule = candidate.rule;
        let subject = &candidate.subject;
        let mut ports = evidence.dst_ports.clone();
        ports.sort_unstable();
        let text = |v: &[std::net::IpAddr]| v.iter().map(|a| a.to_string()).collect();
        Finding {
            finding_id: finding_id(&ctx.account, &ctx.region, rule, subject),
            rule,
            severity: candidate.severity,
            title: title(candidate, evidence),
            subject: subject.to_string(),
            account: ctx.account.clone(),
            region: ctx.region.clone(),
            interface_ids: evidence.interfaces.clone(),
            src_addr: subject.actor().map(|a| a.to_string()),
            src_addrs: evidence
                .src_addrs
                .iter()
                .map(|(a, _)| a.to_string())
                .collect(),
            dst_addrs: text(&evidence.dst_addrs),
            dst_ports: ports,
            protocol: evidence.protocol,
            flows: evidence.flows,
            packets: evidence.packets,
            bytes: evidence.bytes,
            accepted_flows: evidence.accepted,
            rejected_flows: evidence.rejected,
            distinct_src_addrs: evidence.distinct_src.count(),
            distinct_dst_addrs: evidence.distinct_dst.count(),
            distinct_dst_ports: evidence.distinct_ports.count(),
            first_seen: evidence.first.map(rfc3339),
            last_seen: evidence.last.map(rfc3339),
            source: ctx.source.clone(),
            mitre_attack: techniques(rule, evidence),
            notified: false,
            occurrences: 1,
            window_flows: evidence.count,
            suppressed: false,
            suppression_reason: None,
        }
    }

    /// Marks the finding suppressed when an entry of `suppressions`
    /// applies to it at `now` (wall-clock Unix seconds): its rule, its
    /// `subject`'s address (or interface) and, for an entry with a port,
    /// its `dst_ports`. Returns whether it is suppressed.
    pub fn suppress_by(
        &mut self,
        subject: &Subject,
        suppressions: &Suppressions,
        now: u64,
    ) -> bool {
        match suppressions.find(self.rule, subject.target(), &self.dst_ports, now) {
            Some(s) => {
                self.suppressed = true;
                self.suppression_reason = Some(s.reason.clone());
                true
            }
            None => {
                self.suppressed = false;
                self.suppression_reason = None;
                false
            }
        }
    }
}

/// The per-rule thresholds a subject's evidence is held against: the
/// configured ones for a finding, or a per-object share of them for
/// entering the correlation store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Flows to admin ports (`admin-port-brute-force`).
    pub brute_force: u64,
    /// Distinct ports on one destination (`port-scan`, vertical).
    pub port_scan: u64,
    /// Distinct destinations on one port (`port-scan`, sweep).
    pub sweep: u64,
    /// Rejected flows (`rejected-traffic`).
    pub rejected: u64,
}

impl Thresholds {
    /// The configured thresholds.
    pub fn of(config: &Config) -> Thresholds {
        Thresholds {
            brute_force: config.brute_force_threshold,
            port_scan: config.port_scan_threshold,
            sweep: config.sweep_threshold,
            rejected: config.rejected_threshold,
        }
    }

    /// Each threshold scaled by `part / whole`, rounded up, at least 1: an
    /// attacker spread evenly over `whole` seconds reaches this much in
    /// `part` seconds.
    pub fn share(self, part: u64, whole: u64) -> Thresholds {
        let f = |t: u64| {
            (u128::from(t) * u128::from(part))
                .div_ceil(u128::from(whole.max(1)))
                .clamp(1, u128::from(t.max(1))) as u64
        };
        Thresholds {
            brute_force: f(self.brute_force),
            port_scan: f(self.port_scan),
            sweep: f(self.sweep),
            rejected: f(self.rejected),
        }
    }

    /// Whether `evidence` of `rule` reaches these thresholds. Rules without
    /// a threshold (exposure, visibility gaps) fire on any flow; a
    /// threat-list match on an accepted flow.
    pub fn reached(&self, rule: RuleId, evidence: &Evidence) -> bool {
        match rule {
            RuleId::AdminPortBruteForce => evidence.count >= self.brute_force,
            RuleId::RejectedTraffic => evidence.count >= self.rejected,
            RuleId::PortScan => {
                evidence
                    .widest_vertical()
                    .is_some_and(|(_, n)| n >= self.port_scan)
                    || evidence
                        .widest_sweep()
                        .is_some_and(|(_, n)| n >= self.sweep)
            }
            RuleId::AdminPortExposed | RuleId::SensitivePortExposed | RuleId::SkippedRecords => {
                evidence.flows > 0
            }
            RuleId::ThreatIntelMatch => evidence.accepted > 0,
        }
    }
}

fn title(c: &Candidate, e: &Evidence) -> String {
    let subject = &c.subject;
    match (c.rule, subject) {
        (
            RuleId::AdminPortExposed | RuleId::SensitivePortExposed,
            Subject::Service { addr, port, .. },
        ) => {
            let n = e.distinct_src.count();
            format!(
                "{} on {addr} accepted {} flow{} from {n} internet address{}",
                port_label(*port),
                e.flows,
                plural(e.flows),
                if n == 1 { "" } else { "es" }
            )
        }
        (RuleId::AdminPortBruteForce, _) => {
            let hosts = e.distinct_dst.count();
            format!(
                "Internet address {subject} made {} flows to {} on {hosts} host{} ({} accepted, {} rejected)",
                e.count,
                ports_label(&sorted(&e.dst_ports)),
                plural(hosts),
                e.accepted,
                e.rejected
            )
        }
        (RuleId::PortScan, _) => {
            let mut parts = Vec::new();
            if let Some((dst, n)) = e.widest_vertical() {
                parts.push(format!("probed {n} port{} on {dst}", plural(n)));
            }
            if let Some((port, n)) = e.widest_sweep() {
                parts.push(format!("swept port {port} across {n} host{}", plural(n)));
            }
            format!("{subject} {} ({} attempts)", parts.join(" and "), e.flows)
        }
        (RuleId::RejectedTraffic, _) => {
            let n = e.distinct_dst.count();
            format!(
                "{subject} had {} rejected flows to {n} destination{}",
                e.count,
                plural(n)
            )
        }
        (RuleId::SkippedRecords, _) => format!(
            "AWS skipped flow records {} time{} on {subject}: traffic in that window is not visible",
            e.flows,
            plural(e.flows)
        ),
        (RuleId::ThreatIntelMatch, _) => {
            let label = c.label.as_deref().unwrap_or("threat list");
            let hosts = host_list(&e.dst_addrs, e.distinct_dst.count());
            let sent = e.bytes_to_subject;
            let received = e.bytes.saturating_sub(sent);
            let from_listed = e.flows.saturating_sub(e.flows_to_subject);
            match (e.flows_to_subject > 0, from_listed > 0) {
                (true, false) => {
                    format!("{hosts} sent {} to {subject} ({label})", human_bytes(sent))
                }
                (false, _) => {
                    format!("{subject} sent {} to {hosts} ({label})", human_bytes(received))
                }
                (true, true) => format!(
                    "{hosts} sent {} to and received {} from {subject} ({label})",
                    human_bytes(sent),
                    human_bytes(received)
                ),
            }
        }
        (RuleId::AdminPortExposed | RuleId::SensitivePortExposed, _) => format!(
            "{} accepted {} flows from the internet",
            ports_label(&sorted(&e.dst_ports)),
            e.flows
        ),
    }
}

/// `10.0.0.15` or `3 hosts (10.0.0.15, ...)`.
fn host_list(addrs: &[std::net::IpAddr], distinct: u64) -> String {
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

/// MITRE ATT&CK techniques of a finding.
fn techniques(rule: RuleId, e: &Evidence) -> Vec<&'static str> {
    let remote = || {
        let mut t: Vec<&'static str> = e
            .dst_ports
            .iter()
            .map(|p| remote_service_technique(*p))
            .collect();
        t.sort_unstable();
        t.dedup();
        t
    };
    match rule {
        RuleId::AdminPortExposed => [vec!["T1133"], remote()].concat(),
        RuleId::AdminPortBruteForce => [vec!["T1110"], remote()].concat(),
        RuleId::SensitivePortExposed => vec!["T1133", "T1190"],
        RuleId::PortScan => vec!["T1046"],
        RuleId::RejectedTraffic => vec!["T1595"],
        RuleId::SkippedRecords => vec!["T1562.001"],
        RuleId::ThreatIntelMatch => vec!["T1071"],
    }
}

/// Takes one rule's candidates for an object, keeping at most `max`: the
/// subjects that reach the rule's threshold first, then the most active.
/// The rest are counted, not kept. One finding per subject is the design,
/// but an object from a hostile or wide-open network can name a hundred
/// thousand sources, and their findings would not fit a small Lambda.
#[derive(Debug)]
pub struct CandidateSink {
    kept: Vec<Candidate>,
    max: usize,
    threshold: Thresholds,
    dropped: u64,
}

impl CandidateSink {
    /// A sink keeping at most `max` candidates, ranked against `threshold`.
    pub fn new(max: usize, threshold: Thresholds) -> CandidateSink {
        CandidateSink {
            kept: Vec::new(),
            max,
            threshold,
            dropped: 0,
        }
    }

    /// Adds a candidate; the least important are dropped in batches, so
    /// memory stays within twice the bound.
    pub fn push(&mut self, c: Candidate) {
        self.kept.push(c);
        if self.kept.len() >= self.max.saturating_mul(2).max(64) {
            self.compact();
        }
    }

    fn compact(&mut self) {
        if self.kept.len() <= self.max {
            return;
        }
        let t = self.threshold;
        self.kept.sort_by(|a, b| {
            let rank = |c: &Candidate| {
                (
                    t.reached(c.rule, &c.evidence),
                    c.evidence.count,
                    c.evidence.flows,
                )
            };
            rank(b)
                .cmp(&rank(a))
                .then_with(|| a.subject.cmp(&b.subject))
        });
        self.dropped += (self.kept.len() - self.max) as u64;
        self.kept.truncate(self.max);
    }

    /// The kept candidates, and how many were dropped.
    pub fn finish(mut self) -> (Vec<Candidate>, u64) {
        self.compact();
        (self.kept, self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_of_the_default_thresholds() {
        let t = Thresholds::of(&Config::default()).share(300, 3600);
        assert_eq!(
            t,
            Thresholds {
                brute_force: 2,
                port_scan: 3,
                sweep: 3,
                rejected: 9
            }
        );
        let whole = Thresholds::of(&Config::default());
        assert_eq!(whole.share(300, 300), whole);
        assert_eq!(whole.share(3600, 300), whole, "never above the threshold");
        assert_eq!(whole.share(0, 3600).brute_force, 1, "never below one");
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

    #[test]
    fn ids_name_the_subject_not_the_object() {
        let s = Subject::Source {
            addr: "198.51.100.7".parse().unwrap(),
        };
        let a = finding_id("1", "us-east-1", RuleId::PortScan, &s);
        assert_eq!(a, finding_id("1", "us-east-1", RuleId::PortScan, &s));
        assert_ne!(a, finding_id("2", "us-east-1", RuleId::PortScan, &s));
        assert_ne!(a, finding_id("1", "us-east-1", RuleId::RejectedTraffic, &s));
        assert!(a.starts_with("fg-") && a.len() == 19, "{a}");
    }
}
