//! A finding as an EventBridge event (SPEC section 10): `Source`
//! `flowguard`, `DetailType` `flowguard Finding`, `Detail` the finding JSON,
//! `Resources` the ARNs on our side. Rules on the bus route findings to
//! chat, tickets or automatic containment. Pure.

use crate::ids;
use crate::rules::Finding;

/// `Source` of every event.
pub const EVENT_SOURCE: &str = "flowguard";
/// `DetailType` of every event.
pub const DETAIL_TYPE: &str = "flowguard Finding";
/// The largest PutEvents entry EventBridge accepts is 256 KB.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// One PutEvents entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventEntry {
    /// The finding id (for messages about a failed entry).
    pub finding_id: String,
    /// `Source`.
    pub source: &'static str,
    /// `DetailType`.
    pub detail_type: &'static str,
    /// `Detail`: the finding JSON.
    pub detail: String,
    /// `Resources`: the instance and interface ARNs on our side.
    pub resources: Vec<String>,
}

impl EventEntry {
    /// The size EventBridge counts: source, detail type, detail and
    /// resources, in bytes.
    pub fn size(&self) -> usize {
        self.source.len()
            + self.detail_type.len()
            + self.detail.len()
            + self.resources.iter().map(String::len).sum::<usize>()
    }
}

/// The event of a notified finding. The finding's lists are capped, so its
/// JSON stays far under [`MAX_EVENT_BYTES`]; should a title ever make it
/// larger, the event carries the finding without its lists of addresses.
pub fn event_entry(f: &Finding) -> EventEntry {
    let resources = f
        .instance_ids
        .iter()
        .chain(&f.interface_ids)
        .filter_map(|id| ids::ec2_arn(&f.region, &f.account, id))
        .collect();
    let mut detail = serde_json::to_string(f).unwrap_or_default();
    if detail.len() > MAX_EVENT_BYTES / 2 {
        let mut small = f.clone();
        small.title = super::asff::clip(&small.title, 1024);
        small.src_addrs.clear();
        small.dst_addrs.clear();
        detail = serde_json::to_string(&small).unwrap_or_default();
    }
    EventEntry {
        finding_id: f.finding_id.clone(),
        source: EVENT_SOURCE,
        detail_type: DETAIL_TYPE,
        detail,
        resources,
    }
}

/// Splits entries into PutEvents calls: at most 10 entries and 256 KB a
/// call.
pub fn batches(entries: Vec<EventEntry>) -> Vec<Vec<EventEntry>> {
    let mut out: Vec<Vec<EventEntry>> = Vec::new();
    let mut size = 0;
    for e in entries {
        let n = e.size();
        match out.last_mut() {
            Some(b) if b.len() < 10 && size + n <= MAX_EVENT_BYTES => {
                size += n;
                b.push(e);
            }
            _ => {
                size = n;
                out.push(vec![e]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{Direction, RuleId};
    use crate::report::asff::tests::big_finding;

    #[test]
    fn events_name_our_resources_and_batch_by_ten() {
        let f = big_finding(RuleId::LargeUpload, Direction::Outbound);
        let e = event_entry(&f);
        assert_eq!(
            (e.source, e.detail_type),
            ("flowguard", "flowguard Finding")
        );
        assert_eq!(e.resources.len(), 10, "5 instances and 5 interfaces");
        assert!(e.resources[0].starts_with("arn:aws:ec2:us-east-1:123456789012:instance/"));
        let back: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
        assert_eq!(back["finding_id"], "fg-0123456789abcdef");
        let b = batches(vec![e; 23]);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 3]);
    }
}
