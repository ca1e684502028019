//! The scan machinery of `port-scan` (an internet source scanning us) and
//! `instance-port-scan` (one of our hosts scanning the internet): a
//! vertical scan (many ports on one destination) or a horizontal sweep (one
//! port on many destinations) by one actor. One finding per actor, naming
//! its widest scan of each kind. What an attempt is and who the actor is
//! are the [`ScanMode`]'s (`inbound/scan.rs`, `outbound/scan.rs`).
//!
//! Two stages keep the memory of an object with many sources small: every
//! (source, destination) and (source, port) pair holds its first two
//! distinct elements in a fixed [`PairTable`]; a third promotes the pair to
//! a target with a full distinct count. Promotion happens at three, the
//! share of the default threshold that a scan spread over an hour of
//! 5-minute objects reaches in one object, so the correlation across
//! objects sees every pair that could add up to a scan.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::bounded::{DenseMap, PairTable};
use crate::catalogue::ThresholdKey;
use crate::config::Config;
use crate::hash::{addr_hash, mix64 as mix};
use crate::rules::evidence::{extend_capped, ScanTarget, MAX_SCAN_TARGETS};
use crate::rules::evidence::{MAX_LISTED_ADDRS, MAX_LISTED_PORTS};
use crate::rules::{
    track, Candidate, CandidateSink, FindingContext, Flow, Hits, Rule, RuleId, Subject, Thresholds,
};
use crate::sketch::{item_of_hash, DistinctCount};

/// `tcp-flags` SYN.
pub const SYN: u16 = 0x02;
/// `tcp-flags` ACK.
pub const ACK: u16 = 0x10;

/// What a scan rule counts, and of whom.
pub trait ScanMode {
    /// Who scans: an address, or one of our hosts with its account.
    type Actor: Copy + Eq + Ord + std::hash::Hash + std::fmt::Debug;
    /// The rule.
    const RULE: RuleId;
    /// Distinct ports on one destination.
    const VERTICAL: ThresholdKey;
    /// Distinct destinations on one port.
    const SWEEP: ThresholdKey;
    /// Whether only outbound flows can be attempts.
    const OUTBOUND_ONLY: bool;
    /// The actor of an attempt and its hash, and whether the attempt counts
    /// for the sweep as well; `None` when the flow is not an attempt.
    fn attempt(flow: &Flow<'_>) -> Option<(Self::Actor, u64, bool)>;
    /// The subject of an actor's finding.
    fn subject(actor: Self::Actor, ctx: &FindingContext) -> Subject;
    /// The actor's address.
    fn addr(actor: Self::Actor) -> IpAddr;
}

/// What a promoted pair scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Target {
    /// Ports of this destination.
    Vertical(IpAddr),
    /// Destinations on this port.
    Sweep(u16),
}

/// Items kept inline by [`Items`] before a distinct count takes over.
const INLINE_ITEMS: usize = 5;

/// The distinct elements of a promoted pair: ports (vertical) or
/// destination hash items (sweep). Most promoted pairs of an object are
/// noise that stops at three or four, so a few sit inline.
#[derive(Debug, Clone)]
enum Items {
    Inline(u8, [u32; INLINE_ITEMS]),
    Counted(Box<DistinctCount>),
}

impl Default for Items {
    fn default() -> Items {
        Items::Inline(0, [0; INLINE_ITEMS])
    }
}

impl Items {
    fn add(&mut self, x: u32) {
        match self {
            Items::Inline(n, items) => {
                let len = usize::from(*n);
                if items[..len].contains(&x) {
                    return;
                }
                if len < INLINE_ITEMS {
                    items[len] = x;
                    *n += 1;
                    return;
                }
                let mut d = DistinctCount::default();
                items.iter().for_each(|i| d.add(*i));
                d.add(x);
                *self = Items::Counted(Box::new(d));
            }
            Items::Counted(d) => d.add(x),
        }
    }

    fn count(&self) -> u64 {
        match self {
            Items::Inline(n, _) => u64::from(*n),
            Items::Counted(d) => d.count(),
        }
    }

    fn distinct(&self) -> DistinctCount {
        match self {
            Items::Inline(n, items) => {
                let mut d = DistinctCount::default();
                items[..usize::from(*n)].iter().for_each(|i| d.add(*i));
                d
            }
            Items::Counted(d) => (**d).clone(),
        }
    }

    /// Ports, for a vertical target: up to `cap`, ascending.
    fn ports(&self, cap: usize) -> Vec<u16> {
        let mut v: Vec<u16> = match self {
            Items::Inline(n, items) => items[..usize::from(*n)].iter().map(|p| *p as u16).collect(),
            Items::Counted(d) => match &**d {
                DistinctCount::Exact(items) => items.iter().map(|p| *p as u16).collect(),
                DistinctCount::Bitmap(bits) => (0..=u16::MAX)
                    .filter(|p| bits[usize::from(p >> 6)] & (1 << (p & 63)) != 0)
                    .take(cap)
                    .collect(),
                DistinctCount::Sketch(_) => Vec::new(),
            },
        };
        v.sort_unstable();
        v.truncate(cap);
        v
    }
}

/// Tracks distinct ports per (actor, destination) and distinct
/// destinations per (actor, port).
#[derive(Debug)]
pub struct Scan<M: ScanMode> {
    /// Ports per (source, destination) pair, by pair hash.
    vertical: PairTable<u16>,
    /// Destination items per (source, port) pair, by pair hash.
    sweep: PairTable<u32>,
    /// Promoted pairs: the only place addresses are kept.
    targets: DenseMap<(M::Actor, Target), Items>,
    /// Attempts per actor.
    attempts: DenseMap<M::Actor, Hits>,
    limit_hit: bool,
}

impl<M: ScanMode> Default for Scan<M> {
    fn default() -> Scan<M> {
        Scan {
            vertical: PairTable::default(),
            sweep: PairTable::default(),
            targets: DenseMap::default(),
            attempts: DenseMap::default(),
            limit_hit: false,
        }
    }
}

impl<M: ScanMode> Scan<M> {
    /// Adds `new` (and, when just promoted, the pair's first elements) to
    /// the target of `src`.
    fn promoted(&mut self, src: M::Actor, target: Target, first: &[u32], new: u32, cap: usize) {
        match self.targets.entry((src, target), cap) {
            Some(items) => {
                for x in first.iter().chain(Some(&new)) {
                    items.add(*x);
                }
            }
            None => self.limit_hit = true,
        }
    }
}

/// A pair's elements, copied out (at most two) before it changes.
#[inline]
fn copied<E: Copy + Into<u32>>(elements: &[E]) -> ([u32; 2], usize) {
    let mut a = [0u32; 2];
    for (slot, e) in a.iter_mut().zip(elements) {
        *slot = (*e).into();
    }
    (a, elements.len().min(2))
}

impl<M: ScanMode> Scan<M> {
    /// Counts an attempt of `actor` (hashed `hs`) on `port`, for the sweep
    /// too when `sweep` (out of line: most flows are not attempts).
    #[inline(never)]
    fn track(
        &mut self,
        actor: M::Actor,
        hs: u64,
        flow: &Flow<'_>,
        port: u16,
        sweep: bool,
        config: &Config,
    ) {
        let cap = if M::OUTBOUND_ONLY {
            super::outbound_key_bound(config)
        } else {
            config.detect.max_tracked
        };
        // Pairs outnumber sources: twice the bound.
        let pair_cap = cap.saturating_mul(2);
        let hd = flow.dst_hash;
        let mut counted = false;
        match self
            .vertical
            .entry(mix(hs ^ hd.rotate_left(33) ^ 0x7e57), pair_cap)
        {
            Some(mut pair) => {
                counted = true;
                let (held, n) = copied(pair.elements());
                let was = pair.promoted();
                if was || pair.add(port) {
                    let first = if was { &held[..0] } else { &held[..n] };
                    let target = Target::Vertical(flow.dst);
                    self.promoted(actor, target, first, u32::from(port), cap);
                }
            }
            None => self.limit_hit = true,
        }
        if sweep {
            let item = item_of_hash(hd);
            match self.sweep.entry(
                mix(hs.rotate_left(7) ^ (u64::from(port) << 48) ^ 0x5eed),
                pair_cap,
            ) {
                Some(mut pair) => {
                    counted = true;
                    let (held, n) = copied(pair.elements());
                    let was = pair.promoted();
                    if was || pair.add(item) {
                        let first = if was { &held[..0] } else { &held[..n] };
                        self.promoted(actor, Target::Sweep(port), first, item, cap);
                    }
                }
                None => self.limit_hit = true,
            }
        }
        if counted {
            let detail_from = config
                .detect
                .threshold(M::VERTICAL)
                .min(config.detect.threshold(M::SWEEP))
                / 2;
            track(
                &mut self.attempts,
                actor,
                flow,
                cap,
                &mut self.limit_hit,
                detail_from,
                false,
            );
        }
    }
}

impl<M: ScanMode + Send> Rule for Scan<M> {
    fn id(&self) -> RuleId {
        M::RULE
    }

    fn outbound_only(&self) -> bool {
        M::OUTBOUND_ONLY
    }

    #[inline]
    fn observe(&mut self, flow: &Flow<'_>, config: &Config) {
        let Some(port) = flow.record.dstport else {
            return;
        };
        if let Some((actor, hash, sweep)) = M::attempt(flow) {
            self.track(actor, hash, flow, port, sweep, config);
        }
    }

    fn candidates(
        &self,
        ctx: &FindingContext,
        config: &Config,
        floor: &Thresholds,
        out: &mut CandidateSink,
    ) {
        // The targets that reach the floor, by source.
        let mut wide: BTreeMap<M::Actor, Vec<(Target, &Items)>> = BTreeMap::new();
        for ((src, target), items) in self.targets.iter() {
            let reach = match target {
                Target::Vertical(_) => floor[M::VERTICAL],
                Target::Sweep(_) => floor[M::SWEEP],
            };
            if items.count() >= reach {
                wide.entry(*src).or_default().push((*target, items));
            }
        }
        for (src, mut targets) in wide {
            let Some(hits) = self.attempts.get(&src) else {
                continue;
            };
            targets.sort_by(|a, b| b.1.count().cmp(&a.1.count()).then(a.0.cmp(&b.0)));
            targets.truncate(MAX_SCAN_TARGETS);
            let mut evidence = hits.evidence(&ctx.interfaces).from_source(M::addr(src));
            // What the scan tried: the ports and destinations of its
            // targets, listed widest first.
            let (mut dsts, mut ports) = (DistinctCount::default(), DistinctCount::default());
            let mut dst_list = Vec::new();
            let mut port_list = Vec::new();
            let sampled = evidence.dst_addrs.clone();
            for (target, items) in &targets {
                let t = match *target {
                    Target::Vertical(dst) => {
                        let sample = items.ports(MAX_LISTED_PORTS);
                        dsts.add(item_of_hash(addr_hash(dst)));
                        ports.merge(&items.distinct());
                        extend_capped(&mut dst_list, &[dst], MAX_LISTED_ADDRS);
                        extend_capped(&mut port_list, &sample, MAX_LISTED_PORTS);
                        ScanTarget::Vertical {
                            dst,
                            ports: items.distinct(),
                            sample,
                        }
                    }
                    Target::Sweep(port) => {
                        ports.add(u32::from(port));
                        dsts.merge(&items.distinct());
                        extend_capped(&mut port_list, &[port], MAX_LISTED_PORTS);
                        extend_capped(&mut dst_list, &sampled, MAX_LISTED_ADDRS);
                        ScanTarget::Sweep {
                            port,
                            dsts: items.distinct(),
                            sample: sampled.clone(),
                        }
                    }
                };
                evidence.targets.push(t);
            }
            evidence.distinct_dst = dsts;
            evidence.distinct_ports = ports;
            evidence.dst_addrs = dst_list;
            evidence.dst_ports = port_list;
            out.push(Candidate {
                rule: self.id(),
                subject: M::subject(src, ctx),
                severity: config.severity(self.id()),
                evidence,
                label: None,
            });
        }
    }

    fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    fn bound(&self, config: &Config) -> usize {
        if M::OUTBOUND_ONLY {
            super::outbound_key_bound(config)
        } else {
            config.detect.max_tracked
        }
    }

    fn entries(&self) -> usize {
        self.vertical.len() + self.sweep.len() + self.targets.len() + self.attempts.len()
    }
}
