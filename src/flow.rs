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

/// "No account of its own": the record's account is the object's.
pub const NO_ACCOUNT: u32 = u32::MAX;

/// What a record says besides its typed core, interned once per distinct
/// value by the scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordTags {
    /// Interned `interface-id` ([`NO_INTERFACE`] when absent).
    pub interface: u32,
    /// Interned `account-id` ([`NO_ACCOUNT_TAG`] when absent or not an
    /// account id): 16 bits, so the tags of a record fit in 8 bytes.
    pub account: u16,
    /// `pkt-dst-aws-service` names an AWS service (S3, DynamoDB, ...).
    pub aws_service: bool,
}

/// [`NO_ACCOUNT`] in a [`RecordTags`].
pub const NO_ACCOUNT_TAG: u16 = u16::MAX;

impl Default for RecordTags {
    fn default() -> RecordTags {
        RecordTags {
            interface: NO_INTERFACE,
            account: NO_ACCOUNT_TAG,
            aws_service: false,
        }
    }
}

/// An OK record with addresses, classified once for all rules.
#[derive(Debug, Clone, Copy)]
pub struct Flow<'a> {
    /// The typed record.
    pub record: &'a FlowRecord,
    /// Interned `interface-id` ([`NO_INTERFACE`] when absent).
    pub interface: u32,
    /// Interned `account-id` ([`NO_ACCOUNT`] when absent).
    pub account: u32,
    /// The destination is an AWS service (`pkt-dst-aws-service`).
    pub aws_service: bool,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The source is in a trusted network.
    pub src_trusted: bool,
    /// Inbound from the internet: `flow-direction` ingress when present,
    /// else an untrusted source and a trusted destination.
    pub inbound: bool,
    /// Outbound to the internet (SPEC section 9): the destination is not
    /// trusted, and `flow-direction` is egress when present, else the
    /// source is trusted. The source is then one of our hosts (the
    /// actor), the destination an internet host (the peer); traffic
    /// between trusted networks is neither inbound nor outbound.
    pub outbound: bool,
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
    pub fn classify(record: &'a FlowRecord, tags: RecordTags, config: &Config) -> Option<Flow<'a>> {
        let src = record.srcaddr?;
        let dst = record.dstaddr?;
        let trusted = &config.detect.trusted;
        let src_trusted = trusted.contains(src);
        let dst_trusted = trusted.contains(dst);
        let (inbound, outbound) = match record.flow_direction {
            Some(d) => (
                d == FlowDirection::Ingress,
                d == FlowDirection::Egress && !dst_trusted,
            ),
            None => (!src_trusted && dst_trusted, src_trusted && !dst_trusted),
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
            interface: tags.interface,
            account: match tags.account {
                NO_ACCOUNT_TAG => NO_ACCOUNT,
                a => u32::from(a),
            },
            aws_service: tags.aws_service,
            src,
            dst,
            src_trusted,
            inbound,
            outbound,
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

    /// Whether the source opened this connection, as far as the ports
    /// tell: not a reply, and its source port an ephemeral one (32768 and
    /// above, where Linux and Windows pick them) or above the destination
    /// port. A server on a high port answering a client whose ephemeral
    /// port happens to be 4444 is then not "our host connecting to 4444".
    #[inline]
    pub fn opened_by_source(&self) -> bool {
        match (self.record.srcport, self.record.dstport) {
            (Some(s), Some(d)) => !self.is_reply && s >= 1024 && (s >= 32768 || s > d),
            _ => false,
        }
    }
}
