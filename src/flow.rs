//! A flow-log record classified once for every rule and table: its
//! addresses, whether it comes from the internet, and whether it is a
//! server's reply (SPEC section 2).

use std::net::IpAddr;

use crate::config::Config;
use crate::flowlog::{Action, FlowDirection, FlowRecord};
use crate::hash::addr_hash;

/// `tcp-flags` of a lone SYN: a connection attempt, never a reply.
pub const LONE_SYN: u16 = 0x02;

/// "No interface id" in an interned slot.
pub const NO_INTERFACE: u32 = u32::MAX;

/// An OK record with addresses, classified once for all rules.
#[derive(Debug, Clone, Copy)]
pub struct Flow<'a> {
    /// The typed record.
    pub record: &'a FlowRecord,
    /// Interned `interface-id` ([`NO_INTERFACE`] when absent).
    pub interface: u32,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The source is in a trusted network.
    pub src_trusted: bool,
    /// Inbound from the internet: `flow-direction` ingress when present,
    /// else an untrusted source and a trusted destination.
    pub inbound: bool,
    /// A server's reply, never an attempt by the sender (SPEC section 2):
    /// from a port below 1024 to one of 1024 or above that is neither an
    /// admin nor a sensitive port, and not a lone SYN. The attacker picks
    /// the source port, so a probe from port 53 to RDP is an attempt.
    pub is_reply: bool,
    /// [`addr_hash`] of the source, computed once for the tables and rules.
    pub src_hash: u64,
    /// [`addr_hash`] of the destination.
    pub dst_hash: u64,
}

impl<'a> Flow<'a> {
    /// Classifies a record; `None` when it has no addresses.
    #[inline]
    pub fn classify(record: &'a FlowRecord, interface: u32, config: &Config) -> Option<Flow<'a>> {
        let src = record.srcaddr?;
        let dst = record.dstaddr?;
        let src_trusted = config.detect.trusted.contains(src);
        let inbound = match record.flow_direction {
            Some(d) => d == FlowDirection::Ingress,
            None => !src_trusted && config.detect.trusted.contains(dst),
        };
        let is_reply = match (record.srcport, record.dstport) {
            (Some(s), Some(d)) if s < 1024 && d >= 1024 => {
                !config.detect.admin_ports.contains(d)
                    && !config.detect.sensitive_ports.contains(d)
                    && record.tcp_flags != Some(LONE_SYN)
            }
            _ => false,
        };
        Some(Flow {
            record,
            interface,
            src,
            dst,
            src_trusted,
            inbound,
            is_reply,
            src_hash: addr_hash(src),
            dst_hash: addr_hash(dst),
        })
    }

    /// `action` is ACCEPT.
    #[inline]
    pub fn accepted(&self) -> bool {
        self.record.action == Some(Action::Accept)
    }

    /// `action` is REJECT.
    #[inline]
    pub fn rejected(&self) -> bool {
        self.record.action == Some(Action::Reject)
    }
}
