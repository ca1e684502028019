//! The sans-I/O engine: records of one object in, a [`Report`] out.
//!
//! The caller feeds decompressed text (see [`crate::stream`] for the
//! threaded reader that does it for any `Read`), or records that arrive
//! already typed (Parquet rows, [`Scanner::push_typed`]), then calls
//! [`Engine::finish`]. A bad record is counted and sampled; a bad object is
//! an [`AnalyzeError`] naming it.
//!
//! The engine is two halves, so that streaming can run them on two
//! threads: the [`Scanner`] (`scanner.rs`: lines or typed rows in, typed
//! observations out, with the counts, the format and what the records say
//! about account, region and time), and the [`Aggregator`]
//! (`aggregator.rs`: observations in, rule state and summary tables out).
//! `finish.rs` turns both into the [`Report`].

use serde::Serialize;

use crate::config::Config;
use crate::rules::{Candidate, Finding, FindingContext};
use crate::source::SourceRef;
use crate::summary::{encode_plain, encode_rows, PartitionKey, Table, Tables};

mod aggregator;
mod finish;
mod scanner;

pub use aggregator::Aggregator;
pub use scanner::{Observation, Scanner};

/// How many malformed lines are kept as samples per object.
pub const MAX_MALFORMED_SAMPLES: usize = 5;

/// The period AWS delivers flow-log objects in, in seconds: a subject
/// enters the correlation store when one object shows the share of a
/// threshold that this period is of the window.
pub const OBJECT_SECONDS: u64 = 300;

/// The analyser's version, written to every `files` row.
pub const ANALYZER_VERSION: &str = concat!("flowguard ", env!("CARGO_PKG_VERSION"));

/// Why a whole object could not be analysed. Every variant names the object.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The object is not a flow log (binary, no header and not 14 columns).
    #[error("{object}: not a flow log: {reason}")]
    NotFlowLog {
        /// The object.
        object: SourceRef,
        /// What was wrong with it.
        reason: String,
    },
    /// A bug in flowguard (a thread of the engine panicked): retrying the
    /// same object would fail the same way.
    #[error("{object}: internal error (a bug in flowguard): {message}")]
    Internal {
        /// The object.
        object: SourceRef,
        /// What failed.
        message: String,
    },
    /// Reading or decompressing failed (truncated gzip, network error).
    #[error("{object}: read failed after {bytes} bytes of text: {error}")]
    Read {
        /// The object.
        object: SourceRef,
        /// Decompressed bytes read before the failure.
        bytes: u64,
        /// The underlying error.
        error: std::io::Error,
    },
}

impl AnalyzeError {
    /// Whether retrying could help (network and I/O errors), as opposed to an
    /// object that will never parse.
    pub fn is_retryable(&self) -> bool {
        match self {
            AnalyzeError::NotFlowLog { .. } | AnalyzeError::Internal { .. } => false,
            AnalyzeError::Read { error, .. } => !matches!(
                error.kind(),
                std::io::ErrorKind::InvalidData
                    | std::io::ErrorKind::InvalidInput
                    | std::io::ErrorKind::UnexpectedEof
            ),
        }
    }
}

/// Record counts of one object: `records = ok + nodata + skipdata + malformed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Non-blank lines after the header.
    pub records: u64,
    /// Parsed records with log-status OK (or none).
    pub ok: u64,
    /// NODATA records.
    pub nodata: u64,
    /// SKIPDATA records.
    pub skipdata: u64,
    /// Lines that did not parse.
    pub malformed: u64,
}

/// The `files` row: one per object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilesRow {
    /// Bucket, for S3 objects.
    pub bucket: Option<String>,
    /// Key, for S3 objects.
    pub key: Option<String>,
    /// Path, for local files.
    pub path: Option<String>,
    /// Counts.
    #[serde(flatten)]
    pub counts: Counts,
    /// Up to five `line N: reason` samples.
    pub malformed_samples: Vec<String>,
    /// Earliest record start.
    pub first_start: Option<u64>,
    /// Latest record end.
    pub last_end: Option<u64>,
    /// Bytes read from storage.
    pub compressed_bytes: u64,
    /// Bytes of text after decompression.
    pub uncompressed_bytes: u64,
    /// Findings of all severities.
    pub findings: u64,
    /// Text values of records left out because they lack their AWS shape
    /// (an `instance-id`, `vpc-id` or `subnet-id` carrying markup, a URL or
    /// a quote): anyone who can write to the bucket writes these fields.
    pub untrusted_fields: u64,
    /// State tables whose bound was reached (results there are partial).
    pub limits_hit: Vec<String>,
    /// Header fields of the object (or the default v2 list).
    pub fields: Vec<String>,
    /// flowguard version.
    pub analyzer_version: &'static str,
    /// When the object was analysed (RFC 3339 UTC).
    pub processed_at: String,
}

/// Everything learned from one object.
#[derive(Debug, Clone)]
pub struct Report {
    /// The object.
    pub source: SourceRef,
    /// Partition of its summaries.
    pub partition: PartitionKey,
    /// File-name stem of its summaries.
    pub stem: String,
    /// The `files` row.
    pub files: FilesRow,
    /// Aggregate tables.
    pub tables: Tables,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// With `Config::correlate`: every subject that reached the per-object
    /// share of its rule's threshold, for the correlation across objects
    /// (empty otherwise).
    pub candidates: Vec<Candidate>,
    /// What every finding of the object shares.
    pub context: FindingContext,
    /// Non-fatal notes (unknown header fields, duplicate fields).
    pub warnings: Vec<String>,
    /// The bounds this object reached (`files.limits_hit` lists them).
    pub bounds: Vec<crate::limits::Bound>,
}

/// One summary object ready to be stored.
#[derive(Debug, Clone)]
pub struct SummaryObject {
    /// The table.
    pub table: Table,
    /// Key (or relative path) under the summary root.
    pub key: String,
    /// Gzip NDJSON bytes.
    pub body: Vec<u8>,
}

impl Report {
    /// Counts of the object.
    pub fn counts(&self) -> Counts {
        self.files.counts
    }

    /// The summary objects of SPEC §3, `files` last.
    pub fn summary_objects(&self, prefix: &str) -> Vec<SummaryObject> {
        let source = self.source.display();
        Table::ALL
            .iter()
            .map(|&table| {
                let body = match table {
                    Table::Ports => encode_rows(&source, &self.tables.ports),
                    Table::Talkers => encode_rows(&source, &self.tables.talkers),
                    Table::Admin => encode_rows(&source, &self.tables.admin),
                    Table::Services => encode_rows(&source, &self.tables.services),
                    Table::Rejected => encode_rows(&source, &self.tables.rejected),
                    Table::Findings => encode_plain(&self.findings),
                    Table::Files => encode_rows(&source, std::slice::from_ref(&self.files)),
                };
                SummaryObject {
                    table,
                    key: self.partition.object_key(prefix, table.name(), &self.stem),
                    body,
                }
            })
            .collect()
    }
}

/// The engine for one object: a [`Scanner`] feeding an [`Aggregator`].
pub struct Engine<'c> {
    scanner: Scanner,
    aggregator: Aggregator<'c>,
    batch: Vec<Observation>,
}

impl<'c> Engine<'c> {
    /// A fresh engine for one object.
    pub fn new(config: &'c Config, source: SourceRef) -> Engine<'c> {
        Engine::from_parts(Scanner::new(source), Aggregator::new(config))
    }

    /// Joins a scanner and an aggregator that ran on separate threads.
    pub fn from_parts(scanner: Scanner, aggregator: Aggregator<'c>) -> Engine<'c> {
        Engine {
            scanner,
            aggregator,
            batch: Vec::new(),
        }
    }

    /// Feeds text made of whole lines (the last may lack its `\n` at the
    /// end of the object).
    pub fn push_text(&mut self, text: &[u8]) {
        self.scanner.scan_text(text, &mut self.batch);
        self.aggregator.consume(&self.batch);
        self.batch.clear();
    }

    /// Feeds one line without its `\n`.
    pub fn push_line(&mut self, line: &[u8]) {
        self.scanner.scan_line(line, &mut self.batch);
        self.aggregator.consume(&self.batch);
        self.batch.clear();
    }

    /// Notes a line longer than [`MAX_LINE_BYTES`](crate::flowlog::MAX_LINE_BYTES) that the reader skipped.
    pub fn push_overlong_line(&mut self, len: u64) {
        self.scanner.push_overlong_line(len);
    }

    /// Counts so far.
    pub fn counts(&self) -> Counts {
        self.scanner.tally.counts
    }

    /// Entries held in bounded state, tables and rules (for memory-bound
    /// tests). Each map is capped at `max_tracked` entries (the scan rule's
    /// pair tables at twice that), so this stays under 24 × `max_tracked`.
    pub fn tracked_entries(&self) -> usize {
        self.aggregator.tracked_entries() + self.scanner.tally.interfaces.len()
    }

    /// Whether the object turned out not to be a flow log: the caller can
    /// stop feeding it (nothing more changes the verdict).
    pub fn failed(&self) -> bool {
        self.scanner.failed()
    }
}

/// Most severe first, then by rule, subject and id: a stable order.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.rule.cmp(&b.rule))
            .then(a.subject.cmp(&b.subject))
            .then(a.finding_id.cmp(&b.finding_id))
    });
}

/// Analyses a complete in-memory object (already decompressed text).
pub fn analyze_text(
    text: &[u8],
    source: SourceRef,
    config: &Config,
    now: u64,
) -> Result<Report, AnalyzeError> {
    let mut engine = Engine::new(config, source);
    engine.push_text(text);
    engine.finish(text.len() as u64, now)
}
