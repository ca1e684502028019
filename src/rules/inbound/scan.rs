//! `port-scan`: an internet source (or any source that is not one of our
//! hosts acting outbound) scanning: a vertical scan (many ports on one
//! destination) or a horizontal sweep (one port on many destinations).
//!
//! An attempt is a REJECTed flow; for the vertical scan also a flow of at
//! most two packets or a lone TCP SYN. Server replies never count, and
//! neither do our hosts' outbound flows: those are `instance-port-scan`'s.

use std::net::IpAddr;

use crate::catalogue::{RuleId, ThresholdKey};
use crate::rules::scan::{Scan, ScanMode, ACK, SYN};
use crate::rules::{FindingContext, Flow, Subject};

/// The inbound mode of the scan machinery.
#[derive(Debug)]
pub struct Inbound;

/// `port-scan`.
pub type PortScan = Scan<Inbound>;

impl ScanMode for Inbound {
    type Actor = IpAddr;
    const RULE: RuleId = RuleId::PortScan;
    const VERTICAL: ThresholdKey = ThresholdKey::PortScan;
    const OUTBOUND_ONLY: bool = false;
    const SWEEP: ThresholdKey = ThresholdKey::Sweep;

    #[inline]
    fn attempt(flow: &Flow<'_>) -> Option<(IpAddr, u64, bool)> {
        if flow.is_reply || flow.outbound {
            return None;
        }
        let r = flow.record;
        let rejected = flow.rejected();
        let small = r.packets.is_some_and(|p| p <= 2);
        let syn_only = r.tcp_flags.is_some_and(|f| f & SYN != 0 && f & ACK == 0);
        (rejected || small || syn_only).then_some((flow.src, flow.src_hash, rejected))
    }

    fn subject(actor: IpAddr, _ctx: &FindingContext) -> Subject {
        Subject::Source { addr: actor }
    }

    fn addr(actor: IpAddr) -> IpAddr {
        actor
    }
}
