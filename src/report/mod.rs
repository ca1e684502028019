//! Rendering findings: a readable text report for the CLI and the SNS
//! message of SPEC §5.

pub mod catalogue;
pub mod sns;
pub mod text;

pub use catalogue::{remediation_markdown, rules_markdown, rules_text};
pub use sns::{build_message, SnsMessage};
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
