//! The SNS message of SPEC §5: a JSON `default` part for machines, a
//! plain-text `email` part for people, a short subject and attributes for
//! subscription filter policies, all under SNS's 256 KB limit.

use std::fmt::Write;

use serde::Serialize;

use crate::analyze::Report;
use crate::rules::{Finding, Severity};
use crate::source::SourceRef;

/// SNS's limit on the whole message (body plus attributes), in bytes.
pub const SNS_MAX_BYTES: usize = 256 * 1024;
/// Room kept for the subject, attributes and JSON envelope.
const ENVELOPE_RESERVE: usize = 8 * 1024;
/// Maximum subject length.
pub const SUBJECT_MAX: usize = 100;

/// A message ready for `Publish` with `MessageStructure=json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsMessage {
    /// The subject (<= 100 printable ASCII characters).
    pub subject: String,
    /// The `Message` text: `{"default": "...", "email": "..."}`.
    pub message: String,
    /// Highest severity in the message.
    pub severity: Severity,
    /// Rule ids in the message (String.Array attribute).
    pub rules: Vec<String>,
    /// Account of the object.
    pub account: String,
    /// Region of the object.
    pub region: String,
    /// Whether findings were dropped to fit.
    pub truncated: bool,
    /// Findings included.
    pub included: usize,
}

#[derive(Serialize)]
struct DefaultPart<'a> {
    source: &'a SourceRef,
    account: &'a str,
    region: &'a str,
    findings: &'a [&'a Finding],
    total: usize,
    truncated: bool,
    summaries: &'a str,
    findings_object: &'a str,
}

#[derive(Serialize)]
struct Structured<'a> {
    default: &'a str,
    email: &'a str,
}

/// Builds the message of `due`, the findings of `report` due for
/// notification, or `None` when there are none. `summaries` is where the
/// summaries were written (e.g. `s3://bucket/flowguard/`).
pub fn build_message(report: &Report, due: &[Finding], summaries: &str) -> Option<SnsMessage> {
    let mut findings: Vec<&Finding> = due.iter().collect();
    if findings.is_empty() {
        return None;
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let total = findings.len();
    let account = report.partition.account.as_str();
    let region = report.partition.region.as_str();
    let severity = findings[0].severity;
    // Every finding, including those cut to fit, is in this object.
    let findings_object = format!(
        "{}/{}",
        summaries.trim_end_matches('/'),
        report.partition.object_key("", "findings", &report.stem)
    );
    let mut keep = total;
    loop {
        let included = &findings[..keep];
        let truncated = keep < total;
        let default = serde_json::to_string(&DefaultPart {
            source: &report.source,
            account,
            region,
            findings: included,
            total,
            truncated,
            summaries,
            findings_object: &findings_object,
        })
        .unwrap_or_default();
        let email = email_text(report, included, total, summaries, &findings_object);
        let message = serde_json::to_string(&Structured {
            default: &default,
            email: &email,
        })
        .unwrap_or_default();
        if message.len() + ENVELOPE_RESERVE <= SNS_MAX_BYTES || keep == 0 {
            let mut rules: Vec<String> = included.iter().map(|f| f.rule.to_string()).collect();
            rules.sort();
            rules.dedup();
            return Some(SnsMessage {
                subject: subject(severity, total, account, region),
                message,
                severity,
                rules,
                account: account.to_string(),
                region: region.to_string(),
                truncated,
                included: keep,
            });
        }
        // Shrink geometrically, most severe kept (findings are sorted).
        keep = (keep * 3 / 4).min(keep - 1);
    }
}

/// `[HIGH] flowguard: 3 findings in 123456789012/us-east-1`, made safe.
pub fn subject(severity: Severity, total: usize, account: &str, region: &str) -> String {
    let raw = format!(
        "[{}] flowguard: {total} finding{} in {account}/{region}",
        severity.as_str().to_uppercase(),
        if total == 1 { "" } else { "s" }
    );
    let mut s: String = raw
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    s.truncate(SUBJECT_MAX);
    s
}

fn email_text(
    report: &Report,
    findings: &[&Finding],
    total: usize,
    summaries: &str,
    findings_object: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "flowguard found {total} finding{} in {} ({}/{}).\n",
        if total == 1 { "" } else { "s" },
        report.source,
        report.partition.account,
        report.partition.region
    );
    for f in findings {
        let when = f.first_seen.as_deref().unwrap_or("time unknown");
        let _ = write!(
            out,
            "[{}] {}\n{} flows, {} bytes since {when}. Rule {}, ATT&CK {}.",
            f.severity.as_str().to_uppercase(),
            f.title,
            f.flows,
            f.bytes,
            f.rule,
            f.mitre_attack.join(", ")
        );
        if let Some(sources) = super::sources_text(f) {
            let _ = write!(out, " From {sources}.");
        }
        out.push_str("\n\n");
    }
    if findings.len() < total {
        let _ = writeln!(
            out,
            "{} more finding(s) did not fit in this message: all {total} are in {findings_object}\n",
            total - findings.len()
        );
    }
    let _ = writeln!(out, "Summaries: {summaries}");
    out
}
