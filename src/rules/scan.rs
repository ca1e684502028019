//! `port-scan`: a vertical scan (many ports on one destination) or a
//! horizontal sweep (one port on many destinations) by one source. One
//! finding per source, naming its widest scan of each kind.
//!
//! An attempt is a REJECTed flow; for the vertical scan also a flow of at
//! most two packets or a lone TCP SYN. Server replies never count.
//!
//! Two stages keep the memory of an object with many sources small: every
//! (source, destination) and (source, port) pair holds its first two
//! distinct elements in a fixed [`PairTable`]; a third promotes the pair to
//! a full distinct count under its source. Promotion happens at three,
//! the share of the default threshold that a scan spread over an hour of
//! 5-minute objects reaches in one object, so the correlation across
//! objects sees every pair that could add up to a scan.

use std::net::IpAddr;

use super::evidence::{add_target, extend_capped, ScanTarget};
use super::hits::{MAX_LISTED_ADDRS, MAX_LISTED_PORTS};
use super::{
    sorted, track, Candidate, CandidateSink, FindingContext, Flow, Hits, Rule, RuleId, Subject,
    Thresholds,
};
use crate::bounded::{DenseMap, PairSlot, PairTable};
use crate::config::Config;
use crate::hash::mix64 as mix;
use crate::sketch::{item_of_hash, DistinctCount};

const SYN: u16 = 0x02;
const ACK: u16 = 0x10;

/// Tracks distinct ports per (source, destination) and distinct
/// destinations per (source, port).
#[derive(Debug, Default)]
pub struct PortScan {
    /// Ports per (source, destination) pair, by pair hash.
    vertical: PairTable<u16>,
    /// Destination items per (source, port) pair, by pair hash.
    sweep: PairTable<u32>,
    /// Sources with a promoted pair: the only place addresses are kept.
    scanners: DenseMap<IpAddr, Vec<ScanTarget>>,
    /// Attempts per source.
    attempts: DenseMap<IpAddr, Hits>,
    limit_hit: bool,
}

impl PortScan {
    /// Merges `target` (a promoted pair's elements) into the targets of
    /// `src`, adding it when new and there is room.
    fn promoted(&mut self, src: IpAddr, cap: usize, target: ScanTarget) {
        let Some(targets) = self.scanners.entry(src, cap) else {
            self.limit_hit = true;
            return;
        };
        add_target(targets, &target);
    }
}

fn items<E: Copy + Into<u32>>(slot: &PairSlot<E>, new: Option<E>) -> DistinctCount {
    let mut d = DistinctCount::default();
    let held = usize::from(slot.n.min(2));
    for e in slot.e[..held].iter().chain(new.as_ref()) {
        d.add((*e).into());
    }
    d
}

impl Rule for PortScan {
    fn id(&self) -> RuleId {
        RuleId::PortScan
    }

    fn observe(&mut self, flow: &Flow<'_>, config: &Config) {
        if flow.is_reply {
            return;
        }
        let Some(port) = flow.record.dstport else {
            return;
        };
        let r = flow.record;
        let rejected = flow.rejected();
        let small = r.packets.is_some_and(|p| p <= 2);
        let syn_only = r.tcp_flags.is_some_and(|f| f & SYN != 0 && f & ACK == 0);
        if !(rejected || small || syn_only) {
            return;
        }
        let cap = config.max_tracked;
        // Pairs outnumber sources: twice the bound.
        let pair_cap = cap.saturating_mul(2);
        let (hs, hd) = (flow.src_hash, flow.dst_hash);
        let mut counted = false;
        match self
            .vertical
            .slot(mix(hs ^ hd.rotate_left(33) ^ 0x7e57), pair_cap)
        {
            Some(slot) => {
                counted = true;
                let promoted = slot.n == PairSlot::<u16>::PROMOTED;
                if promoted || slot.add(port) {
                    let ports = if promoted {
                        items::<u16>(&PairSlot::default(), Some(port))
                    } else {
                        items(slot, Some(port))
                    };
                    let mut first = slot.e.to_vec();
                    first.push(port);
                    let sample = if promoted { vec![port] } else { first };
                    self.promoted(
                        flow.src,
                        cap,
                        ScanTarget::Vertical {
                            dst: flow.dst,
                            ports,
                            sample,
                        },
                    );
                }
            }
            None => self.limit_hit = true,
        }
        if rejected {
            let item = item_of_hash(hd);
            match self.sweep.slot(
                mix(hs.rotate_left(7) ^ (u64::from(port) << 48) ^ 0x5eed),
                pair_cap,
            ) {
                Some(slot) => {
                    counted = true;
                    let promoted = slot.n == PairSlot::<u32>::PROMOTED;
                    if promoted || slot.add(item) {
                        let dsts = if promoted {
                            items::<u32>(&PairSlot::default(), Some(item))
                        } else {
                            items(slot, Some(item))
                        };
                        self.promoted(
                            flow.src,
                            cap,
                            ScanTarget::Sweep {
                                port,
                                dsts,
                                sample: vec![flow.dst],
                            },
                        );
                    }
                }
                None => self.limit_hit = true,
            }
        }
        if counted {
            let detail_from = config.port_scan_threshold.min(config.sweep_threshold) / 2;
            track(
                &mut self.attempts,
                flow.src,
                flow,
                cap,
                &mut self.limit_hit,
                detail_from,
            );
        }
    }

    fn candidates(
        &self,
        ctx: &FindingContext,
        config: &Config,
        floor: &Thresholds,
        out: &mut CandidateSink,
    ) {
        for (src, targets) in sorted(&self.scanners) {
            let mut wide: Vec<ScanTarget> = targets
                .iter()
                .filter(|t| match t {
                    ScanTarget::Vertical { ports, .. } => ports.count() >= floor.port_scan,
                    ScanTarget::Sweep { dsts, .. } => dsts.count() >= floor.sweep,
                })
                .cloned()
                .collect();
            if wide.is_empty() {
                continue;
            }
            wide.sort_by_key(|t| std::cmp::Reverse(t.breadth()));
            let Some(hits) = self.attempts.get(src) else {
                continue;
            };
            let mut evidence = hits.evidence(&ctx.interfaces);
            // What the scan tracked: the ports and destinations of its
            // targets, listed widest first.
            let (mut dsts, mut ports) = (DistinctCount::default(), DistinctCount::default());
            let (mut dst_list, mut port_list) = (Vec::new(), Vec::new());
            for t in &wide {
                match t {
                    ScanTarget::Vertical {
                        dst,
                        ports: p,
                        sample,
                    } => {
                        dsts.add(item_of_hash(crate::hash::addr_hash(*dst)));
                        ports.merge(p);
                        extend_capped(&mut dst_list, &[*dst], MAX_LISTED_ADDRS);
                        extend_capped(&mut port_list, sample, MAX_LISTED_PORTS);
                    }
                    ScanTarget::Sweep {
                        port,
                        dsts: d,
                        sample,
                    } => {
                        ports.add(u32::from(*port));
                        dsts.merge(d);
                        extend_capped(&mut port_list, &[*port], MAX_LISTED_PORTS);
                        extend_capped(&mut dst_list, sample, MAX_LISTED_ADDRS);
                    }
                }
            }
            evidence.distinct_dst = dsts;
            evidence.distinct_ports = ports;
            evidence.dst_addrs = dst_list;
            evidence.dst_ports = port_list;
            evidence.targets = wide;
            out.push(Candidate {
                rule: self.id(),
                subject: Subject::Source { addr: *src },
                severity: config.severity(self.id()),
                evidence,
                label: None,
            });
        }
    }

    fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    fn entries(&self) -> usize {
        self.vertical.len() + self.sweep.len() + self.scanners.len() + self.attempts.len()
    }
}
