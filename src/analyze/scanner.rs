//! The first half of the engine: lines (or typed rows) in, typed
//! observations out, with the object's counts, format, malformed samples
//! and what its records say about account, region and time.

use super::{Counts, MAX_MALFORMED_SAMPLES};
use crate::flow::{RecordTags, NO_ACCOUNT_TAG, NO_INTERFACE};
use crate::flowlog::{
    Field, FirstLine, FlowRecord, Format, LineError, LineParser, LogStatus, RowText, MAX_LINE_BYTES,
};
use crate::rules::{AccountTable, InterfaceTable};
use crate::source::SourceRef;
use crate::summary::safe_component;
use crate::time::TimeSpan;

pub(super) enum State {
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
    /// Its interned text columns.
    pub tags: RecordTags,
}

/// The first half of the engine: lines (or typed rows) in, typed
/// observations out. It owns the format, the counts, malformed samples and
/// what the records say about account, region and time.
pub struct Scanner {
    pub(super) source: SourceRef,
    pub(super) state: State,
    /// Number of the current line (or row, or event): see `unit`.
    pub(super) line_no: u64,
    /// What a record is called in malformed samples: `line`, `row`, `event`.
    pub(super) unit: &'static str,
    pub(super) samples: Vec<String>,
    pub(super) tally: Tally,
    pub(super) uncompressed: u64,
    pub(super) warnings: Vec<String>,
    /// The text being scanned is ASCII (so valid UTF-8).
    known_utf8: bool,
}

/// What the parsed records of an object add up to, whatever shape they
/// came in: counts, interned interfaces, account, region and time span.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) counts: Counts,
    pub(super) interfaces: InterfaceTable,
    /// The records' own account ids (the actor's account in outbound
    /// rules).
    pub(super) accounts: AccountTable,
    /// Text values left out because they lack their AWS shape.
    pub(super) untrusted_fields: u64,
    pub(super) account: Option<String>,
    pub(super) region: Option<String>,
    /// A `region` value was refused (counted once per object).
    pub(super) forged_region: bool,
    /// The records' event times.
    pub(super) span: TimeSpan,
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
        self.get(field).filter(|t| *t != b"-")
    }
}

impl Tally {
    /// Counts one parsed record and hands it on unless it is NODATA. The
    /// same for every shape of object, so the aggregation sees identical
    /// observations for the same data.
    #[inline]
    fn record<C: TextColumns>(&mut self, r: FlowRecord, cols: &C, out: &mut Vec<Observation>) {
        // The partition's account and region (S3 key components) only in
        // their AWS shapes; a forged account is counted by the account
        // table, a forged region here.
        if self.account.is_none() {
            self.account = cols
                .text(Field::ACCOUNT_ID)
                .filter(|a| crate::ids::is_account_id(a.as_bytes()))
                .and_then(safe_component);
        }
        if self.region.is_none() {
            match cols.text(Field::REGION) {
                Some(r) if crate::ids::is_region(r.as_bytes()) => self.region = safe_component(r),
                Some(_) if !self.forged_region => {
                    self.forged_region = true;
                    self.untrusted_fields += 1;
                }
                _ => {}
            }
        }
        self.span.add(r.start, r.end);
        let interface = cols
            .raw(Field::INTERFACE_ID)
            .map_or(NO_INTERFACE, |id| self.interfaces.intern(id));
        if interface != NO_INTERFACE && self.interfaces.wants_meta(interface) {
            self.untrusted_fields += self.interfaces.note_meta(
                interface,
                cols.raw(Field::INSTANCE_ID),
                cols.raw(Field::VPC_ID),
                cols.raw(Field::SUBNET_ID),
            );
        }
        let tags = RecordTags {
            interface,
            account: cols.raw(Field::ACCOUNT_ID).map_or(NO_ACCOUNT_TAG, |a| {
                u16::try_from(self.accounts.intern(a)).unwrap_or(NO_ACCOUNT_TAG)
            }),
            aws_service: cols.raw(Field::PKT_DST_AWS_SERVICE).is_some(),
        };
        match r.log_status {
            Some(LogStatus::NoData) => self.counts.nodata += 1,
            Some(LogStatus::SkipData) => self.counts.skipdata += 1,
            Some(LogStatus::Ok) | None => self.counts.ok += 1,
        }
        if r.log_status != Some(LogStatus::NoData) {
            out.push(Observation { record: r, tags });
        }
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
}

/// Lines of text.
impl Scanner {
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
