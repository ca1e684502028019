//! The email of a notification, per finding, for a person reading it on a
//! phone (SPEC section 10): one sentence of what happened, on which
//! resource (account, region, instance or interface and what it is), the
//! peer, the counts and the time span; one line of what to do; a console
//! link to the resource; and the Athena query that lists the evidence in
//! the summaries. Every value that comes from a record is checked against
//! its AWS shape before it goes into a link or a query.

use std::fmt::Write;

use crate::catalogue::Direction;
use crate::ids;
use crate::rules::{human_bytes, Finding, RuleId};

/// Addresses named in a sentence before "and N more".
const SHOWN: usize = 3;

/// `a, b, c and 12 more` of a capped list whose true count is `total`.
fn some_of(list: &[String], total: u64) -> String {
    let shown: Vec<&str> = list.iter().take(SHOWN).map(String::as_str).collect();
    let more = total.saturating_sub(shown.len() as u64);
    match (shown.len(), more) {
        (0, _) => String::new(),
        (_, 0) => shown.join(", "),
        _ => format!("{} and {more} more", shown.join(", ")),
    }
}

/// What the finding is on, on our side: `instance i-0abc (interface
/// eni-1, NAT gateway)`.
fn resource(f: &Finding) -> String {
    if let Some(r) = f.resources.first() {
        let kind = r.kind();
        let mut t = match (&r.instance_id, r.name.as_deref()) {
            (Some(i), Some(n)) => format!("instance {i} ({n}), interface {}", r.interface_id),
            (Some(i), None) => format!("instance {i}, interface {}", r.interface_id),
            (None, _) => format!("{kind} interface {}", r.interface_id),
        };
        if kind != "instance" && r.instance_id.is_some() {
            t.push_str(&format!(" ({kind})"));
        }
        if let Some(d) = r.description.as_deref().filter(|d| !d.is_empty()) {
            t.push_str(&format!(" (\"{}\")", printable(d, 80)));
        }
        return t;
    }
    match (f.instance_ids.first(), f.interface_ids.first()) {
        (Some(i), Some(e)) => format!("instance {i}, interface {e}"),
        (Some(i), None) => format!("instance {i}"),
        (None, Some(e)) => format!("interface {e}"),
        (None, None) => match f.direction {
            Direction::Outbound => format!("host {}", f.src_addr.as_deref().unwrap_or("?")),
            _ => f
                .dst_addrs
                .first()
                .map_or(f.subject.as_str(), String::as_str)
                .to_string(),
        },
    }
}

/// Text without control characters, at most `max` characters.
fn printable(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}

/// Who was on the other side.
fn peer(f: &Finding) -> String {
    match (f.direction, f.rule) {
        (_, RuleId::ThreatIntelMatch) => format!(
            "the listed address {}",
            f.src_addr.as_deref().unwrap_or("?")
        ),
        (Direction::Outbound, _) => {
            let n = f.distinct_dst_addrs.max(f.dst_addrs.len() as u64);
            format!(
                "to {} internet host{} ({})",
                n,
                if n == 1 { "" } else { "s" },
                some_of(&f.dst_addrs, n)
            )
        }
        (_, RuleId::AdminPortExposed | RuleId::SensitivePortExposed) => format!(
            "from {} internet address{} ({})",
            f.distinct_src_addrs,
            if f.distinct_src_addrs == 1 { "" } else { "es" },
            some_of(&f.src_addrs, f.distinct_src_addrs)
        ),
        (_, RuleId::SkippedRecords) => "no peer: a gap in the flow log".to_string(),
        _ => format!("from {}", f.src_addr.as_deref().unwrap_or("?")),
    }
}

/// The Athena query that lists the finding's rows in the `findings`
/// summaries, one per object it occurred in (each row names its object).
pub fn evidence_query(f: &Finding, database: &str) -> Option<String> {
    let id_ok = f.finding_id.len() == 19
        && f.finding_id.starts_with("fg-")
        && f.finding_id[3..].bytes().all(|b| b.is_ascii_hexdigit());
    let account_ok = ids::is_account_id(f.account.as_bytes()) || f.account == "unknown";
    let region_ok = ids::is_region(f.region.as_bytes()) || f.region == "unknown";
    if !(id_ok && account_ok && region_ok) {
        return None;
    }
    let day = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| t.get(..10))
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
            .map(str::to_string)
    };
    let dates = match (day(&f.first_seen), day(&f.last_seen)) {
        // Objects are delivered minutes after their flows: one day more.
        (Some(a), Some(b)) => format!(
            " AND dt BETWEEN '{a}' AND date_format(date_add('day', 1, date '{b}'), '%Y-%m-%d')"
        ),
        _ => String::new(),
    };
    Some(format!(
        "SELECT dt, hour, source, flows, packets, bytes, dst_addrs, dst_ports, first_seen, last_seen \
         FROM {database}.findings WHERE finding_id = '{}' AND account = '{}' AND region = '{}'{dates} \
         ORDER BY first_seen",
        f.finding_id, f.account, f.region
    ))
}

/// The console page of the resource on our side.
pub fn console_link(f: &Finding) -> Option<String> {
    f.instance_ids
        .iter()
        .chain(f.resources.iter().filter_map(|r| r.instance_id.as_ref()))
        .chain(&f.interface_ids)
        .find_map(|id| ids::ec2_console_url(&f.region, id))
}

/// `2025-06-26 18:10 to 19:05 UTC` (or with both dates when they differ).
fn span(f: &Finding) -> String {
    let (Some(a), Some(b)) = (f.first_seen.as_deref(), f.last_seen.as_deref()) else {
        return "at an unknown time".to_string();
    };
    let (da, ta) = (a.get(..10).unwrap_or(a), a.get(11..16).unwrap_or(""));
    let (db, tb) = (b.get(..10).unwrap_or(b), b.get(11..16).unwrap_or(""));
    if da == db {
        format!("on {da} from {ta} to {tb} UTC")
    } else {
        format!("from {da} {ta} to {db} {tb} UTC")
    }
}

/// One finding's paragraph.
pub fn paragraph(f: &Finding, database: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "[{}] {}", f.severity.as_str().to_uppercase(), f.rule);
    let _ = writeln!(
        out,
        "{} — on {}, account {}, {}; {}; {} flow{}, {} packets, {}, {}{}.",
        f.title,
        resource(f),
        f.account,
        f.region,
        peer(f),
        f.flows,
        if f.flows == 1 { "" } else { "s" },
        f.packets,
        human_bytes(f.bytes),
        span(f),
        if f.occurrences > 1 {
            format!(", in {} objects", f.occurrences)
        } else {
            String::new()
        }
    );
    let _ = writeln!(out, "To do: {}", f.rule.spec().remediation);
    if let Some(link) = console_link(f) {
        let _ = writeln!(out, "Console: {link}");
    }
    if let Some(q) = evidence_query(f, database) {
        let _ = writeln!(out, "Evidence (Athena): {q};");
    }
    let _ = writeln!(
        out,
        "Id {}, ATT&CK {}.",
        f.finding_id,
        f.mitre_attack.join(", ")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::asff::tests::big_finding;
    use crate::rules::InterfaceDetails;

    #[test]
    fn a_paragraph_names_the_instance_the_peer_what_to_do_a_link_and_a_query() {
        let mut f = big_finding(RuleId::LargeUpload, Direction::Outbound);
        f.title = "Our host 10.1.2.3 sent 1.2 GB to 198.18.0.10 (6 flows)".into();
        f.flows = 6;
        f.packets = 857_142;
        f.bytes = 1_200_000_000;
        let p = paragraph(&f, "flowguard");
        assert!(
            p.starts_with("[HIGH] large-upload\nOur host 10.1.2.3 sent 1.2 GB"),
            "{p}"
        );
        assert!(p.contains("on instance i-0a1b2c3d4e5f60710, interface eni-0a1b2c3d4e5f60710, account 123456789012, us-east-1"), "{p}");
        assert!(
            p.contains("to 10 internet hosts (198.18.0.10, 198.18.0.11, 198.18.0.12 and 7 more)"),
            "{p}"
        );
        assert!(
            p.contains("on 2025-06-26 from 18:10 to 19:10 UTC, in 12 objects."),
            "{p}"
        );
        assert!(
            p.contains("To do: Confirm with the instance's owner"),
            "{p}"
        );
        assert!(p.contains("Console: https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1#InstanceDetails:instanceId=i-0a1b2c3d4e5f60710"), "{p}");
        assert!(p.contains("FROM flowguard.findings WHERE finding_id = 'fg-0123456789abcdef' AND account = '123456789012' AND region = 'us-east-1' AND dt BETWEEN '2025-06-26'"), "{p}");
        // A NAT gateway's interface is named as such.
        f.instance_ids.clear();
        f.resources = vec![InterfaceDetails {
            interface_id: "eni-0a1b2c3d4e5f60710".into(),
            interface_type: Some("nat_gateway".into()),
            description: Some("Interface for NAT Gateway nat-0a1b2c3d4e5f60718".into()),
            ..InterfaceDetails::default()
        }];
        let p = paragraph(&f, "flowguard");
        assert!(p.contains("on NAT gateway interface eni-0a1b2c3d4e5f60710 (\"Interface for NAT Gateway nat-0a1b2c3d4e5f60718\"), account"), "{p}");
        // A value without its shape never reaches a link or a query.
        f.interface_ids = vec!["eni-x'; DROP TABLE".into()];
        f.account = "12345'--".into();
        let p = paragraph(&f, "flowguard");
        assert!(!p.contains("Console:") && !p.contains("Evidence"), "{p}");
    }
}
