//! The sans-I/O engine: records of one object in, a [`Report`] out.
//!
//! The caller feeds decompressed text (see [`crate::stream`] for the
//! threaded reader that does it for any `Read`), or records that arrive
//! already typed (Parquet rows, [`Scanner::push_typed`]), then calls
//! [`Engine::finish`]. A bad record is counted and sampled; a bad object is
//! an [`AnalyzeError`] naming it.

use serde::Serialize;

use crate::config::Config;
use crate::flow::{Flow, NO_INTERFACE};
use crate::flowlog::{
    Field, FirstLine, FlowRecord, Format, LineError, LineParser, LogStatus, RowText, MAX_LINE_BYTES,
};
use crate::rules::{
    all_rules, Candidate, CandidateSink, Finding, FindingContext, InterfaceTable, Rule, Thresholds,
};
use crate::source::SourceRef;
use crate::summary::{
    encode_plain, encode_rows, safe_component, KeyFacts, PartitionKey, Prefetch, Table,
    TableBuilder, Tables, HAS_PREFETCH,
};
use crate::time::TimeSpan;

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

enum State {
    /// Waiting for the first non-blank line.
    Start,
    Parsing(LineParser),
    /// Records arrive typed (Parquet rows); the object's column names.
    Typed(Vec<String>),
    Failed(String),
}

/// One parsed record handed from the [`Scanner`] to the [`Aggregator`]:
/// an OK or SKIPDATA record (NODATA and malformed lines are only counted).
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    /// The typed record.
    pub record: FlowRecord,
    /// Interned `interface-id`.
    pub interface: u32,
}

/// The first half of the engine: lines (or typed rows) in, typed
/// observations out. It owns the format, the counts, malformed samples and
/// what the records say about account, region and time.
pub struct Scanner {
    source: SourceRef,
    state: State,
    /// Number of the current line (or row, or event): see `unit`.
    line_no: u64,
    /// What a record is called in malformed samples: `line`, `row`, `event`.
    unit: &'static str,
    samples: Vec<String>,
    tally: Tally,
    uncompressed: u64,
    warnings: Vec<String>,
    /// The text being scanned is ASCII (so valid UTF-8).
    known_utf8: bool,
}

/// What the parsed records of an object add up to, whatever shape they
/// came in: counts, interned interfaces, account, region and time span.
#[derive(Default)]
struct Tally {
    counts: Counts,
    interfaces: InterfaceTable,
    account: Option<String>,
    region: Option<String>,
    /// The records' event times.
    span: TimeSpan,
}

/// The text columns the scanner reads besides the typed core, looked up
/// only when needed (the account and region once, the interface per
/// record).
trait TextColumns {
    fn text(&self, field: Field) -> Option<&str>;
    fn raw(&self, field: Field) -> Option<&[u8]>;
}

impl TextColumns for crate::flowlog::RecordView<'_> {
    #[inline]
    fn text(&self, field: Field) -> Option<&str> {
        crate::flowlog::RecordView::text(self, field)
    }
    #[inline]
    fn raw(&self, field: Field) -> Option<&[u8]> {
        crate::flowlog::RecordView::raw(self, field)
    }
}

impl TextColumns for RowText<'_> {
    fn text(&self, field: Field) -> Option<&str> {
        std::str::from_utf8(self.raw(field)?).ok()
    }
    #[inline]
    fn raw(&self, field: Field) -> Option<&[u8]> {
        match field {
            Field::ACCOUNT_ID => self.account_id,
            Field::REGION => self.region,
            Field::INTERFACE_ID => self.interface_id,
            _ => None,
        }
        .filter(|t| *t != b"-")
    }
}

impl Tally {
    /// Counts one parsed record and hands it on unless it is NODATA. The
    /// same for every shape of object, so the aggregation sees identical
    /// observations for the same data.
    #[inline]
    fn record<C: TextColumns>(&mut self, r: FlowRecord, cols: &C, out: &mut Vec<Observation>) {
        if self.account.is_none() {
            self.account = cols.text(Field::ACCOUNT_ID).and_then(safe_component);
        }
        if self.region.is_none() {
            self.region = cols.text(Field::REGION).and_then(safe_component);
        }
        self.span.add(r.start, r.end);
        let interface = cols
            .raw(Field::INTERFACE_ID)
            .map_or(NO_INTERFACE, |id| self.interfaces.intern(id));
        match r.log_status {
            Some(LogStatus::NoData) => self.counts.nodata += 1,
            Some(LogStatus::SkipData) => self.counts.skipdata += 1,
            Some(LogStatus::Ok) | None => self.counts.ok += 1,
        }
        if r.log_status != Some(LogStatus::NoData) {
            out.push(Observation {
                record: r,
                interface,
            });
        }
    }
}

/// The second half of the engine: observations in, rule state and summary
/// tables out. Runs on its own thread when streaming.
pub struct Aggregator<'c> {
    config: &'c Config,
    rules: Vec<Box<dyn Rule + Send>>,
    tables: TableBuilder,
}

/// The engine for one object: a [`Scanner`] feeding an [`Aggregator`].
pub struct Engine<'c> {
    scanner: Scanner,
    aggregator: Aggregator<'c>,
    batch: Vec<Observation>,
}

impl<'c> Aggregator<'c> {
    /// Fresh rule and table state.
    pub fn new(config: &'c Config) -> Aggregator<'c> {
        Aggregator {
            config,
            rules: all_rules(config),
            tables: TableBuilder::default(),
        }
    }

    /// Runs the rules and tables over a batch of observations.
    pub fn consume(&mut self, batch: &[Observation]) {
        let config = self.config;
        /// How many records ahead each prefetch stage runs: far enough
        /// for a miss to complete, near enough to stay in cache.
        const STAGES: [(usize, Prefetch); 2] = [(8, Prefetch::Keys), (4, Prefetch::Values)];
        for (i, o) in batch.iter().enumerate() {
            if HAS_PREFETCH {
                for (ahead, stage) in STAGES {
                    if let Some(a) = batch.get(i + ahead) {
                        self.tables.prefetch(&a.record, stage);
                    }
                }
            }
            let r = &o.record;
            if r.log_status == Some(LogStatus::SkipData) {
                for rule in &mut self.rules {
                    rule.observe_skipped(r, o.interface);
                }
            } else if let Some(flow) = Flow::classify(r, o.interface, config) {
                for rule in &mut self.rules {
                    rule.observe(&flow, config);
                }
                self.tables.add(&flow, config);
            }
        }
    }

    /// Entries held in bounded state.
    pub fn tracked_entries(&self) -> usize {
        self.tables.entries() + self.rules.iter().map(|r| r.entries()).sum::<usize>()
    }
}

impl Scanner {
    /// A fresh scanner for one object.
    pub fn new(source: SourceRef) -> Scanner {
        Scanner {
            source,
            state: State::Start,
            line_no: 0,
            unit: "line",
            samples: Vec::new(),
            tally: Tally::default(),
            uncompressed: 0,
            warnings: Vec::new(),
            known_utf8: false,
        }
    }

    /// Starts an object of header-less lines in a known format (the
    /// messages of a CloudWatch Logs export): every non-blank line is a
    /// record, called `unit` (`event`) in malformed samples.
    pub fn begin_headerless(&mut self, format: Format, unit: &'static str) {
        self.warnings.extend(format.warnings().iter().cloned());
        self.state = State::Parsing(LineParser::new(format));
        self.unit = unit;
    }

    /// Starts an object whose records arrive typed (Parquet rows, fed with
    /// [`Scanner::push_typed`]): `fields` are its column names (hyphenated),
    /// listed in the `files` row; `warnings` are notes about its columns.
    pub fn begin_typed(&mut self, fields: Vec<String>, warnings: Vec<String>) {
        self.state = State::Typed(fields);
        self.unit = "row";
        self.warnings.extend(warnings);
    }

    /// One record that arrived typed, counted exactly like a line: `Err` is
    /// a malformed record, sampled as `row N`.
    pub fn push_typed(
        &mut self,
        row: Result<(FlowRecord, RowText<'_>), LineError>,
        out: &mut Vec<Observation>,
    ) {
        self.line_no += 1;
        self.tally.counts.records += 1;
        match row {
            Ok((r, text)) => self.tally.record(r, &text, out),
            Err(e) => self.note_malformed(&e),
        }
    }

    /// The account named by the object's container (a CloudWatch Logs
    /// export's `owner`); it counts before the records' `account-id`.
    pub fn note_account(&mut self, account: &str) {
        if self.tally.account.is_none() {
            self.tally.account = safe_component(account);
        }
    }

    /// Sets the decompressed bytes reported in `files.uncompressed_bytes`
    /// for input that is not fed as text as it was stored (the pages of a
    /// Parquet file, the JSON around CloudWatch messages).
    pub fn set_uncompressed(&mut self, bytes: u64) {
        self.uncompressed = bytes;
    }

    /// Decides that the object is not a flow log (a container that turned
    /// out not to be one): [`Engine::finish`] reports `reason`.
    pub fn fail(&mut self, reason: String) {
        self.state = State::Failed(reason);
    }

    /// Feeds text made of whole lines (the last may lack its `\n` at the
    /// end of the object).
    pub fn scan_text(&mut self, text: &[u8], out: &mut Vec<Observation>) {
        self.uncompressed += text.len() as u64;
        // One ASCII check for the chunk spares each line its UTF-8 check.
        self.known_utf8 = text.is_ascii();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', text) {
            self.scan_line(&text[start..end], out);
            start = end + 1;
        }
        if start < text.len() {
            self.scan_line(&text[start..], out);
        }
        self.known_utf8 = false;
    }

    /// Notes a line longer than [`MAX_LINE_BYTES`] that the reader skipped
    /// without buffering it (`len` bytes including its newline).
    pub fn push_overlong_line(&mut self, len: u64) {
        self.uncompressed += len;
        self.line_no += 1;
        match self.state {
            State::Start => {
                self.state = State::Failed(format!(
                    "line {} is longer than {MAX_LINE_BYTES} bytes",
                    self.line_no
                ))
            }
            State::Parsing(_) | State::Typed(_) => {
                self.tally.counts.records += 1;
                self.note_malformed(&LineError::TooLong);
            }
            State::Failed(_) => {}
        }
    }

    /// Scans one line without its `\n`.
    pub fn scan_line(&mut self, line: &[u8], out: &mut Vec<Observation>) {
        self.line_no += 1;
        if line
            .iter()
            .all(|b| *b == b' ' || *b == b'\r' || *b == b'\t')
        {
            return;
        }
        match &mut self.state {
            State::Parsing(_) => self.record(line, out),
            State::Failed(_) | State::Typed(_) => {}
            // Same verdict as the streaming reader, which never buffers such
            // a line: an absurd first line is not a flow log.
            State::Start if line.len() > MAX_LINE_BYTES => {
                self.state = State::Failed(format!(
                    "line {} is longer than {MAX_LINE_BYTES} bytes",
                    self.line_no
                ))
            }
            State::Start => match Format::detect(line) {
                FirstLine::Header(format) => {
                    self.warnings.extend(format.warnings().iter().cloned());
                    self.state = State::Parsing(LineParser::new(format));
                }
                FirstLine::Headerless(format) => {
                    self.state = State::Parsing(LineParser::new(format));
                    self.record(line, out);
                }
                FirstLine::NotFlowLog(reason) => {
                    self.state = State::Failed(format!("line {}: {reason}", self.line_no))
                }
            },
        }
    }

    fn record(&mut self, line: &[u8], out: &mut Vec<Observation>) {
        let State::Parsing(parser) = &mut self.state else {
            return;
        };
        self.tally.counts.records += 1;
        match parser.parse_with(line, self.known_utf8) {
            Ok(view) => self.tally.record(view.record, &view, out),
            Err(e) => self.note_malformed(&e),
        }
    }

    /// Counts a malformed record (already counted in `records`) and keeps
    /// a sample of the first few.
    #[cold]
    fn note_malformed(&mut self, e: &LineError) {
        self.tally.counts.malformed += 1;
        if self.samples.len() < MAX_MALFORMED_SAMPLES {
            self.samples
                .push(format!("{} {}: {e}", self.unit, self.line_no));
        }
    }

    /// Counts so far.
    pub fn counts(&self) -> Counts {
        self.tally.counts
    }

    /// The object being scanned.
    pub fn source(&self) -> &SourceRef {
        &self.source
    }

    /// Whether the first line showed that the object is not a flow log:
    /// nothing after it can change that, so readers stop there.
    pub fn failed(&self) -> bool {
        matches!(self.state, State::Failed(_))
    }
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

    /// Notes a line longer than [`MAX_LINE_BYTES`] that the reader skipped.
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

    /// Ends the object. `compressed_bytes` is what was read from storage;
    /// `now` (Unix seconds) is the processing time, used for `processed_at`
    /// and as the last fallback for `dt`/`hour`.
    pub fn finish(self, compressed_bytes: u64, now: u64) -> Result<Report, AnalyzeError> {
        let Engine {
            scanner,
            aggregator,
            ..
        } = self;
        let Scanner {
            source,
            state,
            unit,
            samples,
            tally,
            uncompressed,
            mut warnings,
            ..
        } = scanner;
        let Tally {
            counts,
            interfaces,
            account,
            region,
            span,
        } = tally;
        let fields = match state {
            State::Failed(reason) => {
                return Err(AnalyzeError::NotFlowLog {
                    object: source,
                    reason,
                })
            }
            State::Start => {
                warnings.push(if uncompressed > 0 {
                    "object has only blank lines".to_string()
                } else {
                    "object is empty".to_string()
                });
                Vec::new()
            }
            State::Parsing(p) => p
                .format()
                .columns()
                .iter()
                .map(|c| c.name().to_string())
                .collect(),
            State::Typed(fields) => fields,
        };
        if unit == "event" && counts.records > 0 && counts.malformed == counts.records {
            warnings.push(format!(
                "every one of the {} CloudWatch Logs messages is malformed: is cwl_fields \
                 (now {} fields) the log group's format?",
                counts.records,
                fields.len()
            ));
        }
        let facts = KeyFacts::from_key(source.key_like());
        let partition = PartitionKey::resolve(&facts, account, region, span.first, now);
        let ctx = FindingContext {
            account: partition.account.clone(),
            region: partition.region.clone(),
            source: source.clone(),
            interfaces: interfaces.into_names(),
        };
        let config = aggregator.config;
        let mut limits_hit: Vec<String> = aggregator
            .tables
            .limits_hit()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (findings, candidates) = run_rules(
            aggregator.rules,
            &ctx,
            config,
            now,
            &mut limits_hit,
            &mut warnings,
        );
        let files = FilesRow {
            bucket: source.bucket().map(str::to_string),
            key: source.key().map(str::to_string),
            path: source.path().map(str::to_string),
            counts,
            malformed_samples: samples,
            first_start: span.first,
            last_end: span.last,
            compressed_bytes,
            uncompressed_bytes: uncompressed,
            findings: findings.len() as u64,
            limits_hit,
            fields,
            analyzer_version: ANALYZER_VERSION,
            processed_at: crate::time::rfc3339(now),
        };
        Ok(Report {
            stem: facts.stem,
            source,
            partition,
            files,
            tables: aggregator.tables.finish(config.detect.top_talkers),
            findings,
            candidates,
            context: ctx,
            warnings,
        })
    }
}

/// Turns the rules' state into findings (the subjects whose evidence in
/// this object reaches their rule's threshold), most severe first, marked
/// where a suppression applies at `now`, and, when correlating, the
/// candidates for the store. Notes in `limits_hit` and `warnings` where a
/// bound cut them short. Each rule's state is freed as soon as its
/// candidates are out, so the next rule's candidates never peak together
/// with it, and all of it before the caller builds the table rows.
fn run_rules(
    rules: Vec<Box<dyn Rule + Send>>,
    ctx: &FindingContext,
    config: &Config,
    now: u64,
    limits_hit: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> (Vec<Finding>, Vec<Candidate>) {
    let threshold = Thresholds::of(config);
    let floor = if config.correlate {
        threshold.share(OBJECT_SECONDS, config.state.window_seconds)
    } else {
        threshold
    };
    let mut candidates = Vec::new();
    for rule in rules {
        let mut sink = CandidateSink::new(config.detect.max_findings, threshold);
        rule.candidates(ctx, config, &floor, &mut sink);
        let (kept, dropped) = sink.finish();
        candidates.extend(kept);
        if dropped > 0 {
            limits_hit.push(format!("findings:{}", rule.id()));
            warnings.push(format!(
                "{}: {dropped} more subjects than max_findings ({}) were not kept",
                rule.id(),
                config.detect.max_findings
            ));
        }
        if rule.limit_hit() {
            limits_hit.push(format!("rule:{}", rule.id()));
        }
    }
    let mut findings: Vec<Finding> = candidates
        .iter()
        .filter(|c| threshold.reached(c.rule, &c.evidence))
        .map(|c| {
            let mut f = Finding::build(c, &c.evidence, ctx);
            f.suppress_by(&c.subject, &config.intel.suppressions, now);
            f
        })
        .collect();
    sort_findings(&mut findings);
    if !config.correlate {
        candidates = Vec::new();
    }
    (findings, candidates)
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
