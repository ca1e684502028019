//! The finding: what a rule reports, serialised as the JSON of SPEC
//! section 2, built from a [`Candidate`]'s subject and the [`Evidence`] that
//! made it fire (one object's, or a window's).

use serde::{Deserialize, Serialize};

use super::evidence::{Candidate, Evidence, Subject};
use super::title::title;
use super::{remote_service_technique, FindingContext};
use crate::catalogue::{Direction, Measure, RuleId, Thresholds};
use crate::config::Config;
use crate::hash::fnv1a64;
use crate::intel::Suppressions;
use crate::severity::Severity;
use crate::source::SourceRef;
use crate::time::rfc3339;

/// One security finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id of the subject: a hash of account, region, rule and
    /// subject, the same across objects and days.
    pub finding_id: String,
    /// Rule id.
    pub rule: RuleId,
    /// Severity.
    pub severity: Severity,
    /// `inbound` (the internet, or a gap in what we see, acting on our
    /// hosts) or `outbound` (one of our hosts is the actor).
    pub direction: Direction,
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
    /// Instances of those interfaces, from the records' `instance-id`
    /// (capped; empty when the format has no such field).
    pub instance_ids: Vec<String>,
    /// VPCs of those interfaces (capped).
    pub vpc_ids: Vec<String>,
    /// Subnets of those interfaces (capped).
    pub subnet_ids: Vec<String>,
    /// What EC2 says about those interfaces (enrichment, SPEC section 10;
    /// empty unless enabled, and for findings not notified).
    pub resources: Vec<InterfaceDetails>,
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
    pub mitre_attack: Vec<String>,
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

/// An interface of a finding as EC2 describes it (`DescribeNetworkInterfaces`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceDetails {
    /// The interface id.
    pub interface_id: String,
    /// `interface`, `nat_gateway`, `network_load_balancer`, `gateway_load_balancer_endpoint`,
    /// `vpc_endpoint`, `lambda`, ... (EC2's `InterfaceType`).
    pub interface_type: Option<String>,
    /// The interface's description (a NAT gateway's names the gateway, a
    /// load balancer's names it).
    pub description: Option<String>,
    /// The instance it is attached to.
    pub instance_id: Option<String>,
    /// Its security groups.
    pub security_group_ids: Vec<String>,
    /// Its VPC.
    pub vpc_id: Option<String>,
    /// Its subnet.
    pub subnet_id: Option<String>,
    /// Its `Name` tag.
    pub name: Option<String>,
}

impl InterfaceDetails {
    /// What the interface is, for a person: `NAT gateway`, `load balancer`,
    /// `instance`, or its EC2 type.
    pub fn kind(&self) -> &str {
        match self.interface_type.as_deref() {
            Some("nat_gateway") => "NAT gateway",
            Some(
                "network_load_balancer"
                | "load_balancer"
                | "gateway_load_balancer"
                | "gateway_load_balancer_endpoint",
            ) => "load balancer",
            Some("vpc_endpoint") => "VPC endpoint",
            Some("lambda") => "Lambda function",
            Some("interface") | None if self.instance_id.is_some() => "instance",
            Some("interface") | None => "interface",
            Some(other) => other,
        }
    }
}

/// The `finding_id` of a subject: `fg-` and 16 hex digits of a stable hash
/// of account, region, rule and subject.
///
/// A subject that names its own account (one of our hosts) is hashed with
/// that account, so the host keeps its id whichever object names it.
pub fn finding_id(account: &str, region: &str, rule: RuleId, subject: &Subject) -> String {
    let account = subject.account().unwrap_or(account);
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
            direction: direction(rule, evidence),
            title: title(candidate, evidence),
            subject: subject.to_string(),
            account: subject.account().unwrap_or(&ctx.account).to_string(),
            region: ctx.region.clone(),
            interface_ids: evidence.interfaces.clone(),
            instance_ids: evidence.instance_ids.clone(),
            vpc_ids: evidence.vpc_ids.clone(),
            subnet_ids: evidence.subnet_ids.clone(),
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
            mitre_attack: techniques(rule, evidence)
                .into_iter()
                .map(str::to_string)
                .collect(),
            resources: Vec::new(),
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

/// What the rules are held against (the thresholds of the catalogue's
/// keys, see [`crate::catalogue::Measure`]).
impl Thresholds {
    /// The configured thresholds.
    pub fn of(config: &Config) -> Thresholds {
        config.detect.thresholds()
    }

    /// Whether `evidence` of `rule` reaches these thresholds, measured as
    /// the catalogue says: a count, the widest scan, or any (accepted)
    /// flow for the rules without a threshold.
    pub fn reached(&self, rule: RuleId, evidence: &Evidence) -> bool {
        match rule.spec().measure {
            Measure::Any => evidence.flows > 0,
            Measure::Accepted => evidence.accepted > 0,
            Measure::Count(k) => evidence.count >= self[k],
            Measure::Scan { vertical, sweep } => {
                evidence
                    .widest_vertical()
                    .is_some_and(|(_, n)| n >= self[vertical])
                    || evidence
                        .widest_sweep()
                        .is_some_and(|(_, n)| n >= self[sweep])
            }
            Measure::Flood {
                packets,
                max_bytes_per_packet,
            } => {
                evidence.packets >= self[packets]
                    && u128::from(evidence.bytes)
                        <= u128::from(evidence.packets) * u128::from(self[max_bytes_per_packet])
            }
            Measure::Beacon { slots, max_hosts } => {
                evidence.busiest_hour() >= self[slots]
                    && evidence.peer_hosts.len() as u64 <= self[max_hosts]
            }
        }
    }

    /// How far `evidence` has come towards these thresholds, in parts per
    /// million of the rule's threshold (more is nearer; a rule without a
    /// threshold is at 0). The state store takes the nearest first.
    pub fn progress(&self, rule: RuleId, evidence: &Evidence) -> u64 {
        let ratio = |n: u64, t: u64| {
            (u128::from(n) * 1_000_000 / u128::from(t.max(1))).min(u128::from(u64::MAX)) as u64
        };
        match rule.spec().measure {
            Measure::Any | Measure::Accepted => 0,
            Measure::Count(k) => ratio(evidence.count, self[k]),
            Measure::Scan { vertical, sweep } => {
                let v = evidence.widest_vertical().map_or(0, |(_, n)| n);
                let s = evidence.widest_sweep().map_or(0, |(_, n)| n);
                ratio(v, self[vertical]).max(ratio(s, self[sweep]))
            }
            Measure::Flood { packets, .. } => ratio(evidence.packets, self[packets]),
            Measure::Beacon { slots, .. } => ratio(evidence.busiest_hour(), self[slots]),
        }
    }
}

/// The direction of a finding: its rule's, and for a rule that looks both
/// ways (a threat-list match), outbound when our host opened a connection
/// to the listed address.
fn direction(rule: RuleId, e: &Evidence) -> Direction {
    match rule.spec().direction {
        Direction::Either if e.opened_to_subject > 0 => Direction::Outbound,
        Direction::Either => Direction::Inbound,
        d => d,
    }
}

/// MITRE ATT&CK techniques of a finding: the catalogue's, and for rules
/// about admin ports the remote-services technique of each port seen.
fn techniques(rule: RuleId, e: &Evidence) -> Vec<&'static str> {
    let spec = rule.spec();
    let mut t: Vec<&'static str> = spec.attack.to_vec();
    if spec.attack_by_port {
        let mut by_port: Vec<&'static str> = e
            .dst_ports
            .iter()
            .map(|p| remote_service_technique(*p))
            .collect();
        by_port.sort_unstable();
        by_port.dedup();
        t.extend(by_port);
    }
    t
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
