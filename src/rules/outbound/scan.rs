//! `instance-port-scan`: one of our hosts scanning the internet, the
//! GuardDuty findings Recon:EC2/Portscan and Impact:EC2/PortSweep.
//!
//! An attempt is an outbound flow our host did not get an answer to: a
//! REJECTed flow, or a TCP flow of at most two packets or a lone SYN. Both
//! the vertical scan and the sweep count them (security groups rarely
//! reject egress, so an outbound sweep is mostly unanswered SYNs). Small
//! UDP flows are not attempts: DNS and NTP to many servers, and
//! traceroute's probes to many ports of one host, look just like that.

use std::net::IpAddr;

use super::{actor_hash, HostKey};
use crate::catalogue::{RuleId, ThresholdKey};
use crate::rules::scan::{Scan, ScanMode, ACK, SYN};
use crate::rules::{FindingContext, Flow, Subject};

/// The outbound mode of the scan machinery.
#[derive(Debug)]
pub struct Outbound;

/// `instance-port-scan`.
pub type InstancePortScan = Scan<Outbound>;

/// TCP's protocol number.
const TCP: u8 = 6;

impl ScanMode for Outbound {
    type Actor = HostKey;
    const RULE: RuleId = RuleId::InstancePortScan;
    const VERTICAL: ThresholdKey = ThresholdKey::InstancePortScan;
    const OUTBOUND_ONLY: bool = true;
    const SWEEP: ThresholdKey = ThresholdKey::InstanceSweep;

    #[inline]
    fn attempt(flow: &Flow<'_>) -> Option<(HostKey, u64, bool)> {
        if !flow.outbound || flow.is_reply {
            return None;
        }
        let r = flow.record;
        let tcp = r.protocol == Some(TCP);
        let small = tcp && r.packets.is_some_and(|p| p <= 2);
        let syn_only = r.tcp_flags.is_some_and(|f| f & SYN != 0 && f & ACK == 0);
        if !(flow.rejected() || small || syn_only) {
            return None;
        }
        let host = HostKey::of(flow);
        Some((host, actor_hash(flow), true))
    }

    fn subject(actor: HostKey, ctx: &FindingContext) -> Subject {
        Subject::Host {
            account: ctx.account_of(actor.account).to_string(),
            addr: actor.addr,
        }
    }

    fn addr(actor: HostKey) -> IpAddr {
        actor.addr
    }
}
