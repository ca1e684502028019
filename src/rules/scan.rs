//! `port-scan`: a vertical scan (many ports on one host) or a horizontal
//! sweep (one port on many hosts) by one source.
//!
//! An attempt is a REJECTed flow; for the vertical scan also a flow of at
//! most two packets or a TCP SYN without ACK. Server replies never count.

use std::net::IpAddr;

use super::{
    plural, sorted, track, Finding, FindingContext, FindingSink, Flow, Hits, Rule, RuleId,
};
use crate::bounded::{DenseMap, HashCounter, HashSet64};
use crate::config::Config;
use crate::hash::mix64 as mix;

const SYN: u16 = 0x02;
const ACK: u16 = 0x10;

/// Tracks distinct (destination, port) attempts per source.
#[derive(Debug, Default)]
pub struct PortScan {
    vertical_seen: HashSet64,
    /// Distinct ports per (source, destination), keyed by a 64-bit hash.
    vertical: HashCounter,
    sweep_seen: HashSet64,
    /// Distinct destinations per (source, port), keyed by a 64-bit hash.
    sweep: HashCounter,
    /// Sources whose largest vertical or sweep reached a threshold, with
    /// the target that shows it: the only place real addresses are kept.
    scanners: DenseMap<IpAddr, Best>,
    attempts: DenseMap<IpAddr, Hits>,
    limit_hit: bool,
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
        // The seen-sets hold 64-bit hashes of (source, destination, port):
        // 4 bytes an attempt in fixed tables, bounded at 4 x max_tracked.
        let seen_cap = cap.saturating_mul(4);
        let (hs, hd) = (flow.src_hash, flow.dst_hash);
        let mut counted = false;
        let vkey = mix(hs ^ hd.rotate_left(21) ^ u64::from(port));
        match self.vertical_seen.insert(vkey, seen_cap) {
            Some(new) => {
                if new {
                    let pair = mix(hs ^ hd.rotate_left(33) ^ 0x7e57);
                    // Never full: it has at most one counter per seen entry.
                    let n = u64::from(self.vertical.increment(pair, seen_cap).unwrap_or(0));
                    if n >= config.port_scan_threshold {
                        if let Some(b) = self.scanners.entry(flow.src, cap) {
                            if n > b.ports || (n == b.ports && Some(flow.dst) < b.host) {
                                b.ports = n;
                                b.host = Some(flow.dst);
                            }
                        }
                    }
                }
                counted = true;
            }
            None => self.limit_hit = true,
        }
        if rejected {
            let skey =
                mix(hs.rotate_left(7) ^ hd.rotate_left(43) ^ (u64::from(port) << 48) ^ 0x5eed);
            match self.sweep_seen.insert(skey, seen_cap) {
                Some(new) => {
                    if new {
                        let pair = mix(hs.rotate_left(11) ^ u64::from(port) ^ 0xface);
                        let n = u64::from(self.sweep.increment(pair, seen_cap).unwrap_or(0));
                        if n >= config.sweep_threshold {
                            if let Some(b) = self.scanners.entry(flow.src, cap) {
                                if n > b.hosts || (n == b.hosts && Some(port) < b.port) {
                                    b.hosts = n;
                                    b.port = Some(port);
                                }
                            }
                        }
                    }
                    counted = true;
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

    fn findings(&self, ctx: &FindingContext, config: &Config, out: &mut FindingSink<'_>) {
        for (src, hits) in sorted(&self.attempts) {
            let Some(&Best {
                ports,
                host,
                hosts,
                port,
            }) = self.scanners.get(src)
            else {
                continue;
            };
            let vertical = ports >= config.port_scan_threshold;
            let sweep = hosts >= config.sweep_threshold;
            if !vertical && !sweep {
                continue;
            }
            if out.skip_if_full() {
                continue;
            }
            let mut parts = Vec::new();
            if let (true, Some(h)) = (vertical, host) {
                parts.push(format!("probed {ports} ports on {h}"));
            }
            if let (true, Some(p)) = (sweep, port) {
                parts.push(format!(
                    "swept port {p} across {hosts} host{}",
                    plural(hosts)
                ));
            }
            let title = format!("{src} {} ({} attempts)", parts.join(" and "), hits.flows());
            let mut f = Finding::new(
                self.id(),
                config.severity(self.id()),
                title,
                ctx,
                Some(*src),
                None,
                hits,
                vec!["T1046"],
            );
            f.distinct_dst_ports = f.distinct_dst_ports.max(ports);
            f.distinct_dst_addrs = f.distinct_dst_addrs.max(hosts);
            out.push(f);
        }
    }

    fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    fn entries(&self) -> usize {
        self.vertical_seen.len()
            + self.vertical.len()
            + self.sweep_seen.len()
            + self.sweep.len()
            + self.scanners.len()
            + self.attempts.len()
    }
}

/// The largest scan of one source.
#[derive(Debug, Default, Clone, Copy)]
struct Best {
    ports: u64,
    host: Option<IpAddr>,
    hosts: u64,
    port: Option<u16>,
}
