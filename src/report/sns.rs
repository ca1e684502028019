//! The SNS message of SPEC §5: a JSON `default` part for machines, a
//! plain-text `email` part for people (SPEC §10: per finding what
//! happened, on which resource, what to do, a console link and the evidence
//! query), a short subject and attributes for subscription filter policies,
//! all under SNS's 256 KB limit. A message can also carry, as a digest,
//! notifications the rate guard held back (SPEC §10).

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
    /// Account of the object (of the first finding for a digest alone).
    pub account: String,
    /// Region of the object.
    pub region: String,
    /// Whether findings were dropped to fit.
    pub truncated: bool,
    /// Findings included.
    pub included: usize,
    /// The finding ids included, in the message's order.
    pub included_ids: Vec<String>,
}

/// What one message is about.
#[derive(Debug, Clone)]
pub struct MessageInput<'a> {
    /// The object whose processing sends it (none for a digest sent on the
    /// schedule).
    pub source: Option<&'a SourceRef>,
    /// Its account and region.
    pub account: &'a str,
    /// Its region.
    pub region: &'a str,
    /// Where the summaries are, e.g. `s3://bucket/flowguard/`.
    pub summaries: &'a str,
    /// The object's `findings` summary (every finding, those cut included).
    pub findings_object: Option<String>,
    /// The findings of this object due for notification.
    pub due: &'a [Finding],
    /// Notifications held back by the rate guard, sent with this message.
    pub held: &'a [Finding],
    /// The Glue database the evidence queries name.
    pub athena_database: &'a str,
}

#[derive(Serialize)]
struct DefaultPart<'a> {
    source: Option<&'a SourceRef>,
    account: &'a str,
    region: &'a str,
    findings: &'a [&'a Finding],
    total: usize,
    truncated: bool,
    summaries: &'a str,
    findings_object: Option<&'a str>,
    /// How many of the findings were held back by the rate guard.
    held: usize,
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
    build(&MessageInput {
        source: Some(&report.source),
        account: &report.partition.account,
        region: &report.partition.region,
        summaries,
        findings_object: Some(findings_object(report, summaries)),
        due,
        held: &[],
        athena_database: "flowguard",
    })
}

/// The `findings` summary of `report` under `summaries`.
pub fn findings_object(report: &Report, summaries: &str) -> String {
    format!(
        "{}/{}",
        summaries.trim_end_matches('/'),
        report.partition.object_key("", "findings", &report.stem)
    )
}

/// Builds the message of `input`, or `None` when it has no finding. When
/// the findings do not fit, the most severe are kept (the object's before
/// held ones of the same severity), `truncated` is set, and
/// [`SnsMessage::included_ids`] says which went out.
pub fn build(input: &MessageInput<'_>) -> Option<SnsMessage> {
    let mut findings: Vec<(&Finding, bool)> = input
        .due
        .iter()
        .map(|f| (f, false))
        .chain(input.held.iter().map(|f| (f, true)))
        .collect();
    if findings.is_empty() {
        return None;
    }
    // Most severe first; the object's own first among equals (stable sort).
    findings.sort_by_key(|(f, _)| std::cmp::Reverse(f.severity));
    let total = findings.len();
    let severity = findings[0].0.severity;
    let mut keep = total;
    loop {
        let included: Vec<&Finding> = findings[..keep].iter().map(|(f, _)| *f).collect();
        let held = findings[..keep].iter().filter(|(_, h)| *h).count();
        let truncated = keep < total;
        let default = serde_json::to_string(&DefaultPart {
            source: input.source,
            account: input.account,
            region: input.region,
            findings: &included,
            total,
            truncated,
            summaries: input.summaries,
            findings_object: input.findings_object.as_deref(),
            held,
        })
        .unwrap_or_default();
        let email = email_text(input, &included, total, held);
        let message = serde_json::to_string(&Structured {
            default: &default,
            email: &email,
        })
        .unwrap_or_default();
        if message.len() + ENVELOPE_RESERVE <= SNS_MAX_BYTES || keep == 1 {
            let mut rules: Vec<String> = included.iter().map(|f| f.rule.to_string()).collect();
            rules.sort();
            rules.dedup();
            return Some(SnsMessage {
                subject: subject(severity, total, input.account, input.region),
                message,
                severity,
                rules,
                account: input.account.to_string(),
                region: input.region.to_string(),
                truncated,
                included: keep,
                included_ids: included.iter().map(|f| f.finding_id.clone()).collect(),
            });
        }
        // Shrink geometrically, most severe kept (findings are sorted).
        keep = (keep * 3 / 4).clamp(1, keep - 1);
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
    input: &MessageInput<'_>,
    findings: &[&Finding],
    total: usize,
    held: usize,
) -> String {
    let mut out = String::new();
    let whence = match input.source {
        Some(s) => format!("in {s}"),
        None => "held back by the rate guard".to_string(),
    };
    let _ = writeln!(
        out,
        "flowguard found {total} finding{} {whence} ({}/{}).",
        if total == 1 { "" } else { "s" },
        input.account,
        input.region
    );
    if held > 0 {
        let _ = writeln!(
            out,
            "{held} of them were held back to keep this topic under its message rate, and come \
             in this digest."
        );
    }
    out.push('\n');
    for f in findings {
        out.push_str(&super::email::paragraph(f, input.athena_database));
        out.push('\n');
    }
    // What did not fit: the object's own findings are all in its
    // `findings` summary; held ones stay held for the next message.
    let rest_held = input.held.len().saturating_sub(held);
    let rest_own = (total - findings.len()).saturating_sub(rest_held);
    if rest_own > 0 {
        let whole = input.due.len();
        match &input.findings_object {
            Some(o) => {
                let _ = writeln!(
                    out,
                    "{rest_own} more finding(s) did not fit in this message: all {whole} are in {o}\n"
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "{rest_own} more finding(s) did not fit in this message\n"
                );
            }
        }
    }
    if rest_held > 0 {
        let _ = writeln!(
            out,
            "{rest_held} more held finding(s) did not fit in this message and follow in the next one\n"
        );
    }
    let _ = writeln!(out, "Summaries: {}", input.summaries);
    out
}
