//! Detection rules. Each rule sees every OK record once (as a classified
//! [`Flow`]), keeps bounded state per subject (SPEC section 2: the source
//! for attacker rules, the exposed service, the interface), and at the end
//! of an object names the subjects whose activity reached a floor, with
//! their [`Evidence`]: the [`Candidate`]s. A candidate is a finding when
//! its evidence, in the object alone or merged over a window of objects,
//! reaches the rule's threshold ([`Thresholds::reached`]).

use crate::bounded::DenseMap;
use crate::config::Config;
use crate::flowlog::FlowRecord;
use crate::source::SourceRef;

pub use crate::catalogue::{RuleId, Thresholds};

/// The outbound rules follow at most `max_tracked / 4` keys each per object
/// (pairs of our host and a peer, or our hosts): four such tables, so that
/// together they hold no more than one inbound table, and an object in
/// which every host talks to a new peer stays in the function's memory.
pub const OUTBOUND_KEY_SHARE: usize = 4;

/// The key bound of an outbound rule's per-object table.
pub fn outbound_key_bound(config: &Config) -> usize {
    (config.detect.max_tracked / OUTBOUND_KEY_SHARE).max(1)
}
pub use crate::flow::{Flow, RecordTags, NO_ACCOUNT, NO_INTERFACE};
pub use crate::severity::Severity;

pub mod evidence;
pub mod finding;
mod hits;
pub mod inbound;
mod interfaces;
pub mod outbound;
pub mod scan;
mod skipped;
mod threat;
mod title;

pub use evidence::{Candidate, Evidence, ScanTarget, Subject};
pub use finding::{finding_id, CandidateSink, Finding, InterfaceDetails};
pub use hits::Hits;
pub use inbound::{AdminPortBruteForce, Exposure, PortScan, RejectedTraffic};
pub use interfaces::{AccountTable, InterfaceMeta, InterfaceTable, Resources};
pub use skipped::SkippedRecords;
pub use threat::ThreatIntelMatch;
pub use title::human_bytes;

/// What every finding of one object shares.
#[derive(Debug, Clone)]
pub struct FindingContext {
    /// Account of the object.
    pub account: String,
    /// Region of the object.
    pub region: String,
    /// The object.
    pub source: SourceRef,
    /// The object's interfaces (with their instances, VPCs and subnets)
    /// and record accounts, by interned slot.
    pub interfaces: Resources,
}

impl FindingContext {
    /// The account of a record's account slot: its own, or the object's.
    pub fn account_of(&self, slot: u32) -> &str {
        self.interfaces.account(slot).unwrap_or(&self.account)
    }
}

/// One detection rule.
pub trait Rule {
    /// The rule's id.
    fn id(&self) -> RuleId;
    /// Sees one OK record.
    fn observe(&mut self, flow: &Flow<'_>, config: &Config);
    /// Whether the rule looks at outbound flows only (SPEC section 9): the
    /// engine then does not call [`Rule::observe`] for the others, nor for
    /// a server's TCP replies (`is_reply`), which no outbound rule counts.
    fn outbound_only(&self) -> bool {
        false
    }
    /// Sees one SKIPDATA record (only `skipped-records` cares).
    fn observe_skipped(&mut self, _record: &FlowRecord, _interface: u32) {}
    /// Names the subjects of the whole object whose evidence reaches
    /// `floor` (the thresholds, or a share of them).
    fn candidates(
        &self,
        ctx: &FindingContext,
        config: &Config,
        floor: &Thresholds,
        out: &mut CandidateSink,
    );
    /// Set when the rule stopped tracking new keys because of
    /// `Config::max_tracked`.
    fn limit_hit(&self) -> bool;
    /// The bound of the rule's keys (for [`crate::limits::Bound::Rule`]):
    /// `max_tracked`, unless the rule has a lower one.
    fn bound(&self, config: &Config) -> usize {
        config.detect.max_tracked
    }
    /// Entries held in the rule's bounded state (for memory-bound tests).
    fn entries(&self) -> usize;
    /// Rows of a summary table the rule's state holds (the `rejected`
    /// table is `rejected-traffic`'s per-source counts): none by default.
    fn table_rows(&self, _config: &Config) -> Option<RuleRows> {
        None
    }
}

/// Summary rows a rule contributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleRows {
    /// The `rejected` table.
    Rejected(Vec<crate::summary::RejectedRow>),
}

/// All rules, in the order of SPEC sections 2 and 9. `threat-intel-match`
/// only when a threat list is loaded: without one, no record is looked up.
pub fn all_rules(config: &Config) -> Vec<Box<dyn Rule + Send>> {
    let mut rules: Vec<Box<dyn Rule + Send>> = vec![
        Box::new(Exposure::new(RuleId::AdminPortExposed)),
        Box::new(AdminPortBruteForce::default()),
        Box::new(Exposure::new(RuleId::SensitivePortExposed)),
        Box::new(PortScan::default()),
        Box::new(RejectedTraffic::default()),
        Box::new(SkippedRecords::default()),
    ];
    if !config.intel.threats.is_empty() {
        rules.push(Box::new(ThreatIntelMatch::new(config.intel.clone())));
    }
    rules.extend([
        Box::new(outbound::InstancePortScan::default()) as Box<dyn Rule + Send>,
        Box::new(outbound::InstanceBruteForce::default()),
        Box::new(outbound::Volume::new(RuleId::InstanceDos)),
        Box::new(outbound::Beaconing::default()),
        Box::new(outbound::Volume::new(RuleId::LargeUpload)),
        Box::new(outbound::SuspiciousEgressPort::default()),
    ]);
    rules
}

/// The usual name of a well-known port, for titles.
pub fn service_name(port: u16) -> Option<&'static str> {
    Some(match port {
        22 => "SSH",
        23 => "Telnet",
        445 => "SMB",
        1433 => "SQL Server",
        3306 => "MySQL",
        3389 => "RDP",
        5432 => "PostgreSQL",
        5900 => "VNC",
        6379 => "Redis",
        9200 => "Elasticsearch",
        11211 => "Memcached",
        27017 => "MongoDB",
        _ => return None,
    })
}

/// `SSH (22)` or `port 8022`.
pub fn port_label(port: u16) -> String {
    match service_name(port) {
        Some(n) => format!("{n} ({port})"),
        None => format!("port {port}"),
    }
}

/// `SSH (22), RDP (3389)`: labels of ports, in the order given.
pub fn ports_label(ports: &[u16]) -> String {
    ports
        .iter()
        .map(|p| port_label(*p))
        .collect::<Vec<_>>()
        .join(", ")
}

/// MITRE ATT&CK remote-services technique for an admin port.
pub fn remote_service_technique(port: u16) -> &'static str {
    match port {
        22 => "T1021.004",
        3389 => "T1021.001",
        5900 => "T1021.005",
        _ => "T1021",
    }
}

/// Adds a flow under `key`, unless the map is full and the key is new;
/// `counting` keeps exact distinct destinations and ports too
/// ([`Hits::add_counting`]).
pub(crate) fn track<K: std::hash::Hash + Eq>(
    map: &mut DenseMap<K, Hits>,
    key: K,
    flow: &Flow<'_>,
    cap: usize,
    limit_hit: &mut bool,
    detail_from: u64,
    counting: bool,
) {
    match map.entry(key, cap) {
        Some(h) if counting => h.add_counting(flow, detail_from),
        Some(h) => h.add(flow, detail_from),
        None => *limit_hit = true,
    }
}

/// The per-source state of a rule whose subject is the source
/// (`admin-port-brute-force`, `rejected-traffic`): its [`Hits`] per
/// source, bounded by `max_tracked`.
#[derive(Debug, Default)]
pub(crate) struct PerSource {
    sources: DenseMap<std::net::IpAddr, Hits>,
    limit_hit: bool,
}

impl PerSource {
    /// Counts a flow of its source, with details (sample destinations,
    /// ports) from half the rule's `threshold` on. Out of line: each rule's
    /// filter stops most flows before this.
    #[inline(never)]
    pub(crate) fn track(&mut self, flow: &Flow<'_>, threshold: u64, config: &Config) {
        track(
            &mut self.sources,
            flow.src,
            flow,
            config.detect.max_tracked,
            &mut self.limit_hit,
            threshold / 2,
            true,
        );
    }

    /// Every source whose `count` reaches `floor`, in address order.
    pub(crate) fn candidates(
        &self,
        rule: RuleId,
        ctx: &FindingContext,
        config: &Config,
        floor: u64,
        count: impl Fn(&Hits) -> u64,
        out: &mut CandidateSink,
    ) {
        for (src, hits) in sorted(&self.sources) {
            let n = count(hits);
            if n < floor {
                continue;
            }
            let mut evidence = hits.evidence(&ctx.interfaces).from_source(*src);
            evidence.count = n;
            out.push(Candidate {
                rule,
                subject: Subject::Source { addr: *src },
                severity: config.severity(rule),
                evidence,
                label: None,
            });
        }
    }

    /// Whether a source was not tracked because the map was full.
    pub(crate) fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    /// Sources tracked.
    pub(crate) fn entries(&self) -> usize {
        self.sources.len()
    }

    /// The `top` sources by flows (most first, then by address), as
    /// `rejected` rows: every flow this state counts is a rejected one.
    pub(crate) fn top_rows(&self, top: usize) -> Vec<crate::summary::RejectedRow> {
        let mut all: Vec<(&std::net::IpAddr, &Hits)> = self.sources.iter().collect();
        let order = |a: &(&std::net::IpAddr, &Hits), b: &(&std::net::IpAddr, &Hits)| {
            b.1.flows().cmp(&a.1.flows()).then(a.0.cmp(b.0))
        };
        if all.len() > top && top > 0 {
            all.select_nth_unstable_by(top - 1, order);
        }
        all.truncate(top);
        all.sort_unstable_by(order);
        all.into_iter()
            .enumerate()
            .map(|(i, (addr, h))| {
                let (dsts, ports) = h.distinct();
                crate::summary::RejectedRow {
                    rank: i as u32 + 1,
                    address: addr.to_string(),
                    flows: h.flows(),
                    packets: h.packets,
                    distinct_ports: ports.count(),
                    distinct_destinations: dsts.count(),
                    first_start: h.first(),
                    last_end: h.last(),
                }
            })
            .collect()
    }
}

/// Map entries in a stable order (by key), so output does not depend on
/// hashing.
pub(crate) fn sorted<K: Ord, V>(map: &DenseMap<K, V>) -> Vec<(&K, &V)> {
    let mut v: Vec<_> = map.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

/// `""` for one, `"s"` otherwise.
pub(crate) fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
