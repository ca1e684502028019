//! The CLI's human-readable report.

use std::fmt::Write;

use crate::analyze::Report;
use crate::rules::{Finding, Severity};

/// Renders one object's report: counts, then findings at or above `min`.
pub fn render_text(report: &Report, min: Severity) -> String {
    let mut out = String::new();
    let c = report.counts();
    let _ = writeln!(out, "== {}", report.source);
    let _ = writeln!(
        out,
        "   {} records: {} ok, {} nodata, {} skipdata, {} malformed; account {} region {}",
        c.records,
        c.ok,
        c.nodata,
        c.skipdata,
        c.malformed,
        report.partition.account,
        report.partition.region
    );
    for s in &report.files.malformed_samples {
        let _ = writeln!(out, "   malformed {s}");
    }
    for b in &report.bounds {
        let _ = writeln!(out, "   note: {}", b.explain());
    }
    let shown: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity >= min)
        .collect();
    if shown.is_empty() {
        let _ = writeln!(out, "   no findings");
    }
    for f in shown {
        let _ = writeln!(
            out,
            "   [{}] {}: {}",
            f.severity.as_str().to_uppercase(),
            f.rule,
            f.title
        );
        let window = match (&f.first_seen, &f.last_seen) {
            (Some(a), Some(b)) => format!("{a} .. {b}"),
            _ => "time unknown".to_string(),
        };
        let _ = writeln!(
            out,
            "          {} flows, {} packets, {} bytes, {window}; ATT&CK {}",
            f.flows,
            f.packets,
            f.bytes,
            f.mitre_attack.join(", ")
        );
        let _ = writeln!(
            out,
            "          {}: seen in {} object{}{}",
            f.finding_id,
            f.occurrences,
            if f.occurrences == 1 { "" } else { "s" },
            if f.notified { "; notified" } else { "" }
        );
        if let Some(reason) = f.suppression_reason.as_deref().filter(|_| f.suppressed) {
            let _ = writeln!(out, "          suppressed: {reason}");
        }
        if let Some(sources) = super::sources_text(f) {
            let _ = writeln!(out, "          sources: {sources}");
        }
    }
    out
}

/// The notifications of a run, after the per-object reports.
pub fn render_notifications(notified: &[Finding]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "== {} notification{}",
        notified.len(),
        if notified.len() == 1 { "" } else { "s" }
    );
    for f in notified {
        let _ = writeln!(
            out,
            "   [{}] {}: {} ({}, {} object{})",
            f.severity.as_str().to_uppercase(),
            f.rule,
            f.title,
            f.finding_id,
            f.occurrences,
            if f.occurrences == 1 { "" } else { "s" }
        );
    }
    out
}
