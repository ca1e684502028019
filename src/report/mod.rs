//! Rendering findings: a readable text report for the CLI, the SNS
//! message of SPEC §5 and its email, and the forms SPEC §10's sinks take:
//! ASFF for Security Hub and EventBridge events.

pub mod asff;
pub mod catalogue;
pub mod email;
pub mod events;
pub mod sns;
pub mod text;

pub use catalogue::{asff_markdown, remediation_markdown, rules_markdown, rules_text};
pub use sns::{build, build_message, findings_object, MessageInput, SnsMessage};
pub use text::{render_notifications, render_text};

use crate::rules::Finding;

/// `a, b, c and 12 more`: the sources of a finding about a service (an
/// exposure seen from many addresses); `None` for a finding with an actor.
pub(crate) fn sources_text(f: &Finding) -> Option<String> {
    if f.src_addr.is_some() || f.src_addrs.is_empty() {
        return None;
    }
    let more = f
        .distinct_src_addrs
        .saturating_sub(f.src_addrs.len() as u64);
    let mut text = f.src_addrs.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    Some(text)
}
