//! The rule catalogue as a person reads it: the README's rule table and
//! remediation table, rendered from [`crate::catalogue::CATALOGUE`] with a
//! configuration's values (`flowguard rules` prints them; a test checks that
//! the README holds them for the defaults).

use std::fmt::Write;

use crate::catalogue::{render, Direction, RuleId, ThresholdKey, CATALOGUE};
use crate::config::Config;
use crate::net::PortSet;
use crate::rules::service_name;

/// `22 SSH, 3389 RDP`.
fn ports_text(ports: &PortSet) -> String {
    ports
        .ports()
        .iter()
        .map(|p| match service_name(*p) {
            Some(n) => format!("{p} {n}"),
            None => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The value of a configuration key for a catalogue text.
fn config_value(config: &Config, name: &str) -> Option<String> {
    let d = &config.detect;
    if name == ThresholdKey::LargeUpload.name() {
        let n = d.threshold(ThresholdKey::LargeUpload);
        return Some(format!(
            "{n} bytes ({:.1} GiB)",
            n as f64 / f64::from(1u32 << 30)
        ));
    }
    if let Some(k) = ThresholdKey::ALL.iter().find(|k| k.name() == name) {
        return Some(d.threshold(*k).to_string());
    }
    Some(match name {
        "admin_ports" => ports_text(&d.admin_ports),
        "sensitive_ports" => ports_text(&d.sensitive_ports),
        "suspicious_egress_ports" => d
            .suspicious_egress_ports
            .ports()
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        "connection_min_packets" => d.connection_min_packets.to_string(),
        "window_seconds" => config.state.window_seconds.to_string(),
        _ => return None,
    })
}

/// Markdown cells must not break the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The rule table: id, severity, direction, subject, when it fires (with
/// `config`'s values), what stays quiet, ATT&CK.
pub fn rules_markdown(config: &Config) -> String {
    let mut out = String::from(
        "| rule id | severity | direction | one finding per | fires when (defaults) | stays quiet | ATT&CK |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for s in &CATALOGUE {
        let mut attack = s.attack.join(", ");
        if s.attack_by_port {
            attack.push_str(" + T1021.x of the port");
        }
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
            s.name,
            config.detect.severity(s.id),
            s.direction.as_str(),
            cell(s.subject),
            cell(&render(s.fires_when, |n| config_value(config, n))),
            cell(&render(s.quiet, |n| config_value(config, n))),
            attack
        );
    }
    out
}

/// The rules as plain text, one paragraph each, with `config`'s values.
pub fn rules_text(config: &Config) -> String {
    let mut out = String::new();
    for s in &CATALOGUE {
        let _ = writeln!(
            out,
            "{} ({}, {}; one finding per {})\n  fires when {}\n  quiet: {}\n  to do: {}\n",
            s.name,
            config.detect.severity(s.id),
            s.direction.as_str(),
            s.subject,
            render(s.fires_when, |n| config_value(config, n)),
            render(s.quiet, |n| config_value(config, n)),
            s.remediation
        );
    }
    out
}

/// The remediation table: what to do about each rule's finding (the line
/// the email and Security Hub carry).
pub fn remediation_markdown() -> String {
    let mut out = String::from("| rule id | what to do |\n|---|---|\n");
    for s in &CATALOGUE {
        let _ = writeln!(out, "| `{}` | {} |", s.name, cell(s.remediation));
    }
    out
}

/// The Security Hub mapping of each rule: its ASFF `Types` and `Action`.
pub fn asff_markdown() -> String {
    let mut out = String::from("| rule id | ASFF `Types` | `Action` |\n|---|---|---|\n");
    for s in &CATALOGUE {
        let action = match (s.id, s.direction) {
            (RuleId::PortScan, _) => {
                "`PORT_PROBE` (ports probed on our addresses, the remote address)"
            }
            (RuleId::SkippedRecords, _) => "none (a gap in the log, no connection)",
            (_, Direction::Outbound) => "`NETWORK_CONNECTION` `OUT` (the peer and its port)",
            (_, Direction::Inbound) => "`NETWORK_CONNECTION` `IN` (the remote address, our port)",
            (_, Direction::Either) => {
                "`NETWORK_CONNECTION`, `OUT` when our host opened the connection, else `IN`"
            }
        };
        let types: Vec<String> = s.asff_types.iter().map(|t| format!("`{t}`")).collect();
        let _ = writeln!(out, "| `{}` | {} | {action} |", s.name, types.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_a_row_with_its_defaults_filled() {
        let t = rules_markdown(&Config::default());
        assert_eq!(t.lines().count(), CATALOGUE.len() + 2);
        assert!(!t.contains('{'), "{t}");
        assert!(t.contains(">= 20 flows to admin ports"), "{t}");
        assert!(t.contains("22 SSH, 3389 RDP"), "{t}");
        let c = Config::from_pairs([("brute_force_threshold", "7")]).unwrap();
        assert!(rules_markdown(&c).contains(">= 7 flows to admin ports"));
    }
}
