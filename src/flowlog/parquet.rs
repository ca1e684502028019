//! Parquet flow logs (`FileFormat=parquet`, delivered as `*.log.parquet`):
//! the footer, the mapping of columns to the field catalogue, and the rows
//! of one row group at a time as typed records.
//!
//! The columns are the catalogue's fields with underscores (`account_id`,
//! `log_status`), in any subset and order; integers may be INT32, INT64 or
//! strings of digits, everything else strings; a null is "no value". Only
//! the columns the engine uses (and the typed ones a text line would be
//! checked against) are read. Random access goes through [`ByteRanges`]:
//! the footer is one read from the end (a small file is read whole by it),
//! then each row group's column chunks, decoded page by page. A row group
//! whose chunks fit in [`ROW_GROUP_BUDGET`] is read at once (adjacent
//! chunks merged into one read); a larger one (writers that put a whole
//! object in one row group) is read through a window per column, so the
//! compressed bytes held stay within the budget whatever the row group's
//! size. Besides them, each column holds its current page decompressed
//! (pages are decoded whole; writers cut them at about 1 MB).
//!
//! A value that does not fit its field (a port above 65535, a negative
//! counter, a bad address) is a malformed record with its row number, as in
//! text. A file that is not a Parquet flow log (no footer, no address or
//! port column) is [`ParquetInputError::NotFlowLog`]; damage further in is
//! [`ParquetInputError::Corrupt`].

use std::io::{self, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use parquet::basic::{Compression, ConvertedType, LogicalType, Type as PhysicalType};
use parquet::column::page::PageReader;
use parquet::column::reader::{get_column_reader, ColumnReader};
use parquet::data_type::ByteArray;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader, RowGroupMetaData};
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::serialized_reader::SerializedPageReader;
use parquet::schema::types::ColumnDescPtr;

use super::field::{Field, FieldKind};
use super::format::truncate;
use super::parse::{parse_addr, parse_u64, set_addr, set_int, set_word, slot_of, LineError, Slot};
use super::record::{FlowRecord, RowText, ROW_TEXT_FIELDS};

/// The magic bytes at both ends of a Parquet file.
pub const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

/// Whether the first bytes of an object are Parquet's magic.
pub fn is_parquet(head: &[u8]) -> bool {
    head.starts_with(PARQUET_MAGIC)
}

/// Rows decoded per column before they are assembled into records.
const BATCH_ROWS: usize = 4096;
/// Bytes read from the end of the file on the first try: the footer of a
/// flow-log file (a few dozen columns, a few row groups) fits.
const TAIL_GUESS: u64 = 64 * 1024;
/// A footer larger than this is not a flow log's.
const MAX_FOOTER_BYTES: u64 = 64 << 20;
/// Column chunks closer than this are fetched in one read.
const MERGE_GAP: u64 = 64 * 1024;
/// The compressed bytes of one row group's column chunks held at once: a
/// row group within it is read whole, a larger one through windows of
/// this size split between its columns.
pub const ROW_GROUP_BUDGET: u64 = 8 << 20;
/// The smallest window of a column chunk read through windows.
const MIN_WINDOW: u64 = 4096;

/// Random access to an object's bytes: a local file, a buffer, or ranged
/// GETs on S3 (implemented at the edge). Called from the decoding thread.
pub trait ByteRanges: Send + Sync + 'static {
    /// The object's length in bytes.
    fn len(&self) -> u64;

    /// Whether the object is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Exactly `len` bytes from `start`; a range past the end is an
    /// [`io::ErrorKind::UnexpectedEof`] error.
    fn read_range(&self, start: u64, len: usize) -> io::Result<Vec<u8>>;
}

/// Shared ranges: a caller keeps a handle on what the reader reads.
impl<T: ByteRanges + ?Sized> ByteRanges for Arc<T> {
    fn len(&self) -> u64 {
        (**self).len()
    }

    fn read_range(&self, start: u64, len: usize) -> io::Result<Vec<u8>> {
        (**self).read_range(start, len)
    }
}

impl ByteRanges for std::fs::File {
    fn len(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }

    fn read_range(&self, start: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; len];
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_exact_at(self, &mut buf, start)?;
        }
        #[cfg(not(unix))]
        {
            use std::io::{Seek, SeekFrom};
            let mut f = self.try_clone()?;
            f.seek(SeekFrom::Start(start))?;
            f.read_exact(&mut buf)?;
        }
        Ok(buf)
    }
}

impl ByteRanges for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_range(&self, start: u64, len: usize) -> io::Result<Vec<u8>> {
        usize::try_from(start)
            .ok()
            .and_then(|s| self.get(s..s.checked_add(len)?))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "bytes {start}..+{len} are past the end ({})",
                        self.as_slice().len()
                    ),
                )
            })
    }
}

/// Why a Parquet object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParquetInputError {
    /// Not a Parquet flow log at all: truncated (no footer), an unreadable
    /// footer, no address or port column, an unsupported codec.
    #[error("{0}")]
    NotFlowLog(String),
    /// Reading bytes failed (network, file system).
    #[error("reading bytes {start}..{end}: {error}")]
    Read {
        /// First byte of the range.
        start: u64,
        /// One past its last byte.
        end: u64,
        /// The underlying error.
        error: io::Error,
    },
    /// The data is damaged past the footer (a page that does not decode, a
    /// column chunk outside the file, columns of different lengths).
    #[error("{0}")]
    Corrupt(String),
}

/// How one column is read and where its value goes.
#[derive(Debug, Clone)]
struct ColumnPlan {
    /// Leaf index in the schema (and in each row group's column chunks).
    leaf: usize,
    field: Field,
    /// The column's name as written, for messages.
    name: String,
    kind: FieldKind,
    slot: Slot,
    physical: PhysicalType,
    /// INT32/INT64 annotated as unsigned: reinterpret the bits.
    unsigned: bool,
    max_def: i16,
    descr: ColumnDescPtr,
}

/// An open Parquet flow log: its footer and the plan of the columns to read.
pub struct ParquetFile<S> {
    src: Arc<S>,
    meta: ParquetMetaData,
    /// Where the column chunks must end (the footer starts there).
    data_end: u64,
    plan: Vec<ColumnPlan>,
    fields: Vec<String>,
    warnings: Vec<String>,
    /// Bytes read from the object so far (shared with the column readers).
    bytes_read: Arc<AtomicU64>,
    /// The first failed read of a column window, kept so that a network
    /// error stays a read error, not damage.
    read_failure: Arc<Mutex<Option<ParquetInputError>>>,
    /// The whole file, when the first read from the end covered it (most
    /// flow-log objects are small): no further reads.
    whole: Option<Bytes>,
    /// See [`ROW_GROUP_BUDGET`].
    budget: u64,
}

impl<S: ByteRanges> ParquetFile<S> {
    /// Reads the footer and maps the columns. Fails when the object is not
    /// a Parquet flow log.
    pub fn open(src: S) -> Result<ParquetFile<S>, ParquetInputError> {
        let len = src.len();
        let not = |m: String| ParquetInputError::NotFlowLog(m);
        if len < 12 {
            return Err(not(format!(
                "truncated Parquet file ({len} bytes, too short for a footer)"
            )));
        }
        let tail_len = len.min(TAIL_GUESS);
        let tail = read(&src, len - tail_len, tail_len)?;
        let mut bytes_read = tail_len;
        let n = tail.len();
        if &tail[n - 4..] == b"PARE" {
            return Err(not("encrypted Parquet footer (not supported)".into()));
        }
        if &tail[n - 4..] != PARQUET_MAGIC {
            return Err(not(
                "truncated Parquet file: no PAR1 footer at the end (the object was cut short)"
                    .into(),
            ));
        }
        let mut footer_len = [0u8; 4];
        footer_len.copy_from_slice(&tail[n - 8..n - 4]);
        let footer_len = u64::from(u32::from_le_bytes(footer_len));
        if footer_len + 12 > len || footer_len > MAX_FOOTER_BYTES {
            return Err(not(format!(
                "corrupt Parquet footer: it claims {footer_len} bytes in a {len}-byte file"
            )));
        }
        let footer_start = len - 8 - footer_len;
        let footer = if footer_len + 8 <= tail_len {
            let from = (tail_len - 8 - footer_len) as usize;
            tail[from..n - 8].to_vec()
        } else {
            bytes_read += footer_len;
            read(&src, footer_start, footer_len)?
        };
        // The thrift decoder comes from another crate: a panic there on a
        // damaged footer is a damaged footer.
        let meta = catch_unwind(|| ParquetMetaDataReader::decode_metadata(&footer))
            .unwrap_or_else(|_| {
                Err(parquet::errors::ParquetError::General(
                    "the footer decoder failed".into(),
                ))
            })
            .map_err(|e| not(format!("unreadable Parquet footer: {e}")))?;
        let (plan, fields, warnings) = plan_columns(&meta)?;
        let file = ParquetFile {
            src: Arc::new(src),
            meta,
            data_end: footer_start,
            plan,
            fields,
            warnings,
            bytes_read: Arc::new(AtomicU64::new(bytes_read)),
            read_failure: Arc::new(Mutex::new(None)),
            whole: (tail_len == len).then(|| Bytes::from(tail)),
            budget: ROW_GROUP_BUDGET,
        };
        file.check_chunks()?;
        Ok(file)
    }

    /// The hyphenated names of the file's columns, in order.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// Notes about the columns (unknown, repeated or nested ones).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Number of row groups.
    pub fn row_groups(&self) -> usize {
        self.meta.num_row_groups()
    }

    /// Number of rows in the file, from the footer.
    pub fn rows(&self) -> u64 {
        self.meta
            .row_groups()
            .iter()
            .map(|g| u64::try_from(g.num_rows()).unwrap_or(0))
            .sum()
    }

    /// Sets the bytes of column chunks held at once (default
    /// [`ROW_GROUP_BUDGET`]): a row group whose chunks need more is read
    /// through windows of `budget / columns` bytes per column.
    pub fn set_row_group_budget(&mut self, budget: u64) {
        self.budget = budget;
    }

    /// Bytes read from the object so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }
}

/// Reading row groups by ranges.
impl<S: ByteRanges> ParquetFile<S> {
    /// Every planned column chunk lies inside the data part of the file and
    /// uses a codec this build reads; checked before anything is decoded,
    /// so a bad file fails before its first row.
    fn check_chunks(&self) -> Result<(), ParquetInputError> {
        for (g, group) in self.meta.row_groups().iter().enumerate() {
            if group.num_rows() < 0 {
                return Err(ParquetInputError::Corrupt(format!(
                    "row group {g} has a negative row count"
                )));
            }
            for c in &self.plan {
                chunk_range(group, c, self.data_end).map_err(|m| {
                    ParquetInputError::Corrupt(format!("row group {g}, column '{}': {m}", c.name))
                })?;
                let codec = group.column(c.leaf).compression();
                if !matches!(
                    codec,
                    Compression::UNCOMPRESSED | Compression::SNAPPY | Compression::GZIP(_)
                ) {
                    return Err(ParquetInputError::NotFlowLog(format!(
                        "column '{}' is compressed with {codec}; flowguard reads uncompressed, \
                         Snappy and Gzip Parquet (AWS writes Gzip)",
                        c.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Reads row group `g` and hands each row to `row`, in order, as a
    /// typed record or the reason it is malformed. Returns the uncompressed
    /// size of the column chunks read.
    pub fn read_row_group<F>(&mut self, g: usize, mut row: F) -> Result<u64, ParquetInputError>
    where
        F: FnMut(Result<(FlowRecord, RowText<'_>), LineError>),
    {
        let group = self.meta.row_group(g);
        let rows = usize::try_from(group.num_rows()).unwrap_or(0);
        let chunks = self.fetch(g)?;
        let group = self.meta.row_group(g);
        let uncompressed = self
            .plan
            .iter()
            .map(|c| u64::try_from(group.column(c.leaf).uncompressed_size()).unwrap_or(0))
            .sum();
        // The page decoders come from another crate: a panic there on
        // damaged data is reported as damage, not as a crash.
        let plan = &self.plan;
        let decoded = catch_unwind(AssertUnwindSafe(|| {
            decode_rows(plan, group, chunks, rows, &mut row)
        }));
        // A column window that could not be read is a read error (it may
        // pass on retry), whatever the decoder made of it.
        if let Some(e) = self.read_failure.lock().ok().and_then(|mut f| f.take()) {
            return Err(e);
        }
        match decoded {
            Ok(r) => r.map_err(|m| ParquetInputError::Corrupt(format!("row group {g}: {m}")))?,
            Err(_) => {
                return Err(ParquetInputError::Corrupt(format!(
                    "row group {g}: the Parquet decoder failed on damaged data"
                )))
            }
        }
        Ok(uncompressed)
    }

    /// The planned column chunks of row group `g`: slices of the whole
    /// file when it was read at once; else read now when they fit in
    /// [`ROW_GROUP_BUDGET`] (chunks close together merged into one read);
    /// else sources that read each chunk through a window as it is decoded.
    fn fetch(&mut self, g: usize) -> Result<Vec<ColumnChunk<S>>, ParquetInputError> {
        let group = self.meta.row_group(g);
        let mut ranges: Vec<(u64, u64, usize)> = Vec::with_capacity(self.plan.len());
        for (i, c) in self.plan.iter().enumerate() {
            let (start, len) = chunk_range(group, c, self.data_end).map_err(|m| {
                ParquetInputError::Corrupt(format!("row group {g}, column '{}': {m}", c.name))
            })?;
            ranges.push((start, start + len, i));
        }
        let needed: u64 = ranges.iter().map(|(s, e, _)| e - s).sum();
        if self.whole.is_none() && needed > self.budget {
            let window = (self.budget / self.plan.len().max(1) as u64).max(MIN_WINDOW);
            return Ok(ranges
                .iter()
                .map(|&(start, end, _)| {
                    ColumnChunk::windowed(
                        self.src.clone(),
                        start,
                        end,
                        window,
                        self.bytes_read.clone(),
                        self.read_failure.clone(),
                    )
                })
                .collect());
        }
        ranges.sort_unstable();
        let mut chunks: Vec<Option<ColumnChunk<S>>> = (0..self.plan.len()).map(|_| None).collect();
        let mut i = 0;
        while i < ranges.len() {
            let (start, mut end, _) = ranges[i];
            let mut j = i + 1;
            while j < ranges.len() && ranges[j].0 <= end + MERGE_GAP {
                end = end.max(ranges[j].1);
                j += 1;
            }
            // The whole file (already read) starts at offset 0.
            let (buf, base) = match &self.whole {
                Some(whole) => (whole.clone(), 0),
                None => {
                    let buf = Bytes::from(read(&*self.src, start, end - start)?);
                    self.bytes_read.fetch_add(end - start, Ordering::Relaxed);
                    (buf, start)
                }
            };
            for &(s, e, col) in &ranges[i..j] {
                let (from, to) = ((s - base) as usize, (e - base) as usize);
                let bytes = buf
                    .get(from..to)
                    .map_or_else(Bytes::new, |_| buf.slice(from..to));
                chunks[col] = Some(ColumnChunk::loaded(s, bytes));
            }
            i = j;
        }
        Ok(chunks
            .into_iter()
            .map(|c| c.unwrap_or_else(|| ColumnChunk::loaded(0, Bytes::new())))
            .collect())
    }
}

fn read<S: ByteRanges>(src: &S, start: u64, len: u64) -> Result<Vec<u8>, ParquetInputError> {
    let end = start.saturating_add(len);
    let n = usize::try_from(len).map_err(|_| ParquetInputError::Read {
        start,
        end,
        error: io::Error::new(io::ErrorKind::InvalidData, "range too large"),
    })?;
    let buf = src
        .read_range(start, n)
        .map_err(|error| ParquetInputError::Read { start, end, error })?;
    if buf.len() != n {
        return Err(ParquetInputError::Read {
            start,
            end,
            error: io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("got {} of {n} bytes", buf.len()),
            ),
        });
    }
    Ok(buf)
}

/// Byte range of a column chunk, checked against the file (parquet's own
/// `byte_range` asserts instead).
fn chunk_range(
    group: &RowGroupMetaData,
    c: &ColumnPlan,
    data_end: u64,
) -> Result<(u64, u64), String> {
    let meta = group.column(c.leaf);
    let start = meta
        .dictionary_page_offset()
        .unwrap_or_else(|| meta.data_page_offset());
    let len = meta.compressed_size();
    match (u64::try_from(start), u64::try_from(len)) {
        (Ok(s), Ok(l)) if s >= 4 && s.checked_add(l).is_some_and(|e| e <= data_end) => Ok((s, l)),
        _ => Err(format!(
            "column chunk at {start}..+{len} lies outside the data of the file (0..{data_end})"
        )),
    }
}

/// Maps the schema's columns onto the field catalogue.
#[allow(clippy::type_complexity)]
fn plan_columns(
    meta: &ParquetMetaData,
) -> Result<(Vec<ColumnPlan>, Vec<String>, Vec<String>), ParquetInputError> {
    let schema = meta.file_metadata().schema_descr();
    let mut fields = Vec::new();
    let mut warnings = Vec::new();
    let mut plan = Vec::new();
    let mut seen = vec![false; super::field::FIELDS.len()];
    for top in schema.root_schema().get_fields() {
        fields.push(top.name().to_ascii_lowercase().replace('_', "-"));
    }
    for (leaf, descr) in schema.columns().iter().enumerate() {
        let path = descr.path().parts();
        let raw = descr.name();
        let name = raw.to_ascii_lowercase().replace('_', "-");
        if path.len() != 1 || descr.max_rep_level() > 0 {
            warnings.push(format!(
                "nested or repeated Parquet column '{}' ignored",
                path.join(".")
            ));
            continue;
        }
        let Some(field) = Field::from_name(&name) else {
            warnings.push(format!("unknown field '{name}' carried through as text"));
            continue;
        };
        if std::mem::replace(&mut seen[field.0 as usize], true) {
            warnings.push(format!(
                "field '{name}' appears twice in the columns; the first column is used"
            ));
            continue;
        }
        let kind = field.kind();
        let slot = slot_of(field);
        let wanted = slot != Slot::None
            || ROW_TEXT_FIELDS.contains(&field)
            // Typed columns are checked like a text line's, so a record is
            // malformed in both shapes or in neither.
            || kind != FieldKind::Text;
        if !wanted {
            continue;
        }
        let physical = descr.physical_type();
        let ok = match kind {
            FieldKind::Int { .. } => matches!(
                physical,
                PhysicalType::INT32 | PhysicalType::INT64 | PhysicalType::BYTE_ARRAY
            ),
            _ => physical == PhysicalType::BYTE_ARRAY,
        };
        if !ok {
            let want = match kind {
                FieldKind::Int { .. } => "INT32, INT64 or a string",
                _ => "a string (BYTE_ARRAY)",
            };
            return Err(ParquetInputError::NotFlowLog(format!(
                "column '{raw}' has Parquet type {physical}; flowguard reads {want} there"
            )));
        }
        let unsigned = matches!(
            descr.converted_type(),
            ConvertedType::UINT_8
                | ConvertedType::UINT_16
                | ConvertedType::UINT_32
                | ConvertedType::UINT_64
        ) || matches!(
            descr.logical_type_ref(),
            Some(LogicalType::Integer(int)) if !int.is_signed
        );
        plan.push(ColumnPlan {
            leaf,
            field,
            name: raw.to_string(),
            kind,
            slot,
            physical,
            unsigned,
            max_def: descr.max_def_level(),
            descr: descr.clone(),
        });
    }
    let locating = [
        Field::SRCADDR,
        Field::DSTADDR,
        Field::SRCPORT,
        Field::DSTPORT,
        Field::PKT_SRCADDR,
        Field::PKT_DSTADDR,
    ];
    if !plan.iter().any(|c| locating.contains(&c.field)) {
        return Err(ParquetInputError::NotFlowLog(format!(
            "no address or port column among the Parquet columns ({})",
            truncate(&fields.join(", "), 200)
        )));
    }
    Ok((plan, fields, warnings))
}

/// One column chunk as the page reader sees it: byte ranges by file
/// offset. Either loaded whole, or read through a window that moves
/// forward as the pages are decoded (each column's pages are read in
/// order).
struct ColumnChunk<S>(Arc<ChunkInner<S>>);

struct ChunkInner<S> {
    /// Where more bytes come from; `None` when the chunk is loaded whole.
    src: Option<Arc<S>>,
    start: u64,
    end: u64,
    window: u64,
    /// The bytes held: `(file offset of the first, bytes)`.
    held: Mutex<(u64, Bytes)>,
    bytes_read: Arc<AtomicU64>,
    failure: Arc<Mutex<Option<ParquetInputError>>>,
}

type ParquetResult<T> = parquet::errors::Result<T>;

impl<S: ByteRanges> ColumnChunk<S> {
    fn loaded(start: u64, bytes: Bytes) -> ColumnChunk<S> {
        let end = start + bytes.len() as u64;
        ColumnChunk(Arc::new(ChunkInner {
            src: None,
            start,
            end,
            window: 0,
            held: Mutex::new((start, bytes)),
            bytes_read: Arc::new(AtomicU64::new(0)),
            failure: Arc::new(Mutex::new(None)),
        }))
    }

    fn windowed(
        src: Arc<S>,
        start: u64,
        end: u64,
        window: u64,
        bytes_read: Arc<AtomicU64>,
        failure: Arc<Mutex<Option<ParquetInputError>>>,
    ) -> ColumnChunk<S> {
        ColumnChunk(Arc::new(ChunkInner {
            src: Some(src),
            start,
            end,
            window,
            held: Mutex::new((start, Bytes::new())),
            bytes_read,
            failure,
        }))
    }
}

impl<S: ByteRanges> ChunkInner<S> {
    /// `len` bytes at file offset `at` (`None`: as many as are held or can
    /// be read from there, at least one).
    fn bytes(&self, at: u64, len: Option<usize>) -> ParquetResult<Bytes> {
        let outside = || {
            parquet::errors::ParquetError::EOF(format!(
                "page at {at} (+{len:?}) lies outside its column chunk ({}..{})",
                self.start, self.end
            ))
        };
        let want_end = match len {
            Some(l) => at.checked_add(l as u64).ok_or_else(outside)?,
            None => at.saturating_add(1).min(self.end),
        };
        if at < self.start || want_end > self.end || (len.is_none() && at >= self.end) {
            return Err(outside());
        }
        let mut held = self
            .held
            .lock()
            .map_err(|_| parquet::errors::ParquetError::General("lock poisoned".into()))?;
        let (base, bytes) = &*held;
        let held_end = base + bytes.len() as u64;
        if at < *base || want_end > held_end {
            let Some(src) = &self.src else {
                return Err(outside());
            };
            // The next window starts at `at`; what is already held of it
            // (the rest of the last window) is kept, not read again.
            let window_end = want_end.max(at.saturating_add(self.window)).min(self.end);
            let (from, mut buf) = if at >= *base && at < held_end {
                let kept = &bytes[(at - base) as usize..];
                let mut buf = Vec::with_capacity((window_end - at) as usize);
                buf.extend_from_slice(kept);
                (held_end, buf)
            } else {
                (at, Vec::new())
            };
            let fresh = read(&**src, from, window_end - from).map_err(|e| {
                let message = e.to_string();
                if let Ok(mut f) = self.failure.lock() {
                    f.get_or_insert(e);
                }
                parquet::errors::ParquetError::General(message)
            })?;
            self.bytes_read
                .fetch_add(window_end - from, Ordering::Relaxed);
            if buf.is_empty() {
                buf = fresh;
            } else {
                buf.extend_from_slice(&fresh);
            }
            *held = (at, Bytes::from(buf));
        }
        let (base, bytes) = &*held;
        let from = (at - base) as usize;
        let to = match len {
            Some(l) => from + l,
            None => bytes.len(),
        };
        let out = bytes.slice(from..to);
        if len.is_some() && want_end == self.end {
            // The chunk's last page: it is read forward only, so nothing
            // here is needed again. Letting go lets its bytes be freed as
            // soon as the page is decompressed, not at the row group's end.
            *held = (self.end, Bytes::new());
        }
        Ok(out)
    }
}

impl<S: ByteRanges> Length for ColumnChunk<S> {
    fn len(&self) -> u64 {
        self.0.end
    }
}

impl<S: ByteRanges> ChunkReader for ColumnChunk<S> {
    type T = ChunkRead<S>;

    fn get_read(&self, start: u64) -> ParquetResult<Self::T> {
        Ok(ChunkRead {
            chunk: self.0.clone(),
            at: start,
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> ParquetResult<Bytes> {
        self.0.bytes(start, Some(length))
    }
}

/// A reader from an offset of a column chunk to its end (page headers are
/// read through it), reading more of the chunk as needed.
struct ChunkRead<S> {
    chunk: Arc<ChunkInner<S>>,
    at: u64,
}

impl<S: ByteRanges> Read for ChunkRead<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.at >= self.chunk.end {
            return Ok(0);
        }
        let bytes = self.chunk.bytes(self.at, None).map_err(io::Error::other)?;
        let n = buf.len().min(bytes.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        self.at += n as u64;
        Ok(n)
    }
}

/// The decoded values of one column for a batch of rows.
enum Values {
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bytes(Vec<ByteArray>),
}

/// The values and definition levels of one column for a batch of rows.
struct ColumnValues {
    values: Values,
    defs: Vec<i16>,
}

impl ColumnValues {
    fn new(physical: PhysicalType) -> ColumnValues {
        let values = match physical {
            PhysicalType::INT32 => Values::I32(Vec::with_capacity(BATCH_ROWS)),
            PhysicalType::INT64 => Values::I64(Vec::with_capacity(BATCH_ROWS)),
            _ => Values::Bytes(Vec::with_capacity(BATCH_ROWS)),
        };
        ColumnValues {
            values,
            defs: Vec::with_capacity(BATCH_ROWS),
        }
    }

    /// Whether row `i` of the batch has a value (is not null).
    #[inline]
    fn present(&self, plan: &ColumnPlan, i: usize) -> bool {
        plan.max_def == 0 || self.defs.get(i) == Some(&plan.max_def)
    }
}

/// A batch of rows as decoded: the values of every planned column.
struct ColumnBatch {
    rows: usize,
    cols: Vec<ColumnValues>,
}

impl ColumnBatch {
    fn new(plan: &[ColumnPlan]) -> ColumnBatch {
        ColumnBatch {
            rows: 0,
            cols: plan.iter().map(|c| ColumnValues::new(c.physical)).collect(),
        }
    }
}

/// A column being read.
struct ColumnCursor<'p> {
    plan: &'p ColumnPlan,
    reader: ColumnReader,
}

impl ColumnCursor<'_> {
    /// Reads the next `n` rows of the column into `into`.
    fn fill(&mut self, into: &mut ColumnValues, n: usize) -> Result<(), String> {
        into.defs.clear();
        let defs = (self.plan.max_def > 0).then_some(&mut into.defs);
        let read = match (&mut self.reader, &mut into.values) {
            (ColumnReader::Int32ColumnReader(r), Values::I32(v)) => {
                v.clear();
                r.read_records(n, defs, None, v)
            }
            (ColumnReader::Int64ColumnReader(r), Values::I64(v)) => {
                v.clear();
                r.read_records(n, defs, None, v)
            }
            (ColumnReader::ByteArrayColumnReader(r), Values::Bytes(v)) => {
                v.clear();
                r.read_records(n, defs, None, v)
            }
            _ => {
                return Err(format!(
                    "column '{}': unexpected reader type",
                    self.plan.name
                ))
            }
        };
        let (records, _, _) = read.map_err(|e| format!("column '{}': {e}", self.plan.name))?;
        if records != n {
            return Err(format!(
                "column '{}' holds {records} values where the row group has {n} more rows",
                self.plan.name
            ));
        }
        Ok(())
    }
}

/// One batch of rows, built a column at a time: each column writes its
/// slot of every record in one loop, so the field's type is looked at once
/// per column, not once per value.
struct RowBatch {
    recs: Vec<FlowRecord>,
    /// Why a row is malformed (the first bad column, as in text).
    bad: Vec<Option<LineError>>,
    /// For the text columns of [`ROW_TEXT_FIELDS`]: which column cursor
    /// holds them and each row's value index there.
    text: [(Option<usize>, Vec<Option<u32>>); ROW_TEXT_FIELDS.len()],
}

impl RowBatch {
    fn new() -> RowBatch {
        RowBatch {
            recs: Vec::with_capacity(BATCH_ROWS),
            bad: Vec::with_capacity(BATCH_ROWS),
            text: Default::default(),
        }
    }

    /// Types the rows of a batch. Fails when a column is damaged (fewer
    /// values than non-null rows).
    fn build(&mut self, plan: &[ColumnPlan], batch: &ColumnBatch) -> Result<(), String> {
        let n = batch.rows;
        self.recs.clear();
        self.recs.resize(n, FlowRecord::default());
        self.bad.clear();
        self.bad.resize(n, None);
        for (col, idx) in &mut self.text {
            *col = None;
            idx.clear();
        }
        for (ci, (plan, c)) in plan.iter().zip(&batch.cols).enumerate() {
            let recs = &mut self.recs;
            let bad = &mut self.bad;
            // Each present value in row order: (row, value index).
            let mut k = 0usize;
            let mut rows = (0..n).filter(|&i| c.present(plan, i)).map(|i| {
                k += 1;
                (i, k - 1)
            });
            let invalid = |bad: &mut Vec<Option<LineError>>, i: usize, value: String| {
                if let Some(slot @ None) = bad.get_mut(i) {
                    *slot = Some(LineError::InvalidValue {
                        field: plan.name.clone(),
                        value,
                    });
                }
            };
            let mut short = false;
            match (&c.values, plan.kind) {
                (Values::I32(v), FieldKind::Int { max }) => {
                    for (i, k) in rows.by_ref() {
                        let Some(&x) = v.get(k) else {
                            short = true;
                            break;
                        };
                        let x = if plan.unsigned {
                            i64::from(x as u32)
                        } else {
                            i64::from(x)
                        };
                        match u64::try_from(x) {
                            Ok(u) if u <= max => set_int(&mut recs[i], plan.slot, u),
                            _ => invalid(bad, i, x.to_string()),
                        }
                    }
                }
                (Values::I64(v), FieldKind::Int { max }) => {
                    for (i, k) in rows.by_ref() {
                        let Some(&x) = v.get(k) else {
                            short = true;
                            break;
                        };
                        let u = if plan.unsigned {
                            Some(x as u64)
                        } else {
                            u64::try_from(x).ok()
                        };
                        match u {
                            Some(u) if u <= max => set_int(&mut recs[i], plan.slot, u),
                            Some(u) => invalid(bad, i, u.to_string()),
                            None => invalid(bad, i, x.to_string()),
                        }
                    }
                }
                (Values::Bytes(v), kind) => {
                    let text_slot = ROW_TEXT_FIELDS.iter().position(|f| *f == plan.field);
                    if let Some(t) = text_slot {
                        self.text[t].0 = Some(ci);
                        self.text[t].1.resize(n, None);
                    }
                    for (i, k) in rows.by_ref() {
                        let Some(b) = v.get(k) else {
                            short = true;
                            break;
                        };
                        let b = b.data();
                        let ok = match kind {
                            FieldKind::Int { max } => match parse_u64(b) {
                                Some(x) if x <= max => {
                                    set_int(&mut recs[i], plan.slot, x);
                                    true
                                }
                                _ => false,
                            },
                            FieldKind::Addr => match parse_addr(b) {
                                Some(a) => {
                                    set_addr(&mut recs[i], plan.slot, a);
                                    true
                                }
                                None => false,
                            },
                            FieldKind::Text => {
                                if !b.is_ascii() && std::str::from_utf8(b).is_err() {
                                    // As for a line: invalid UTF-8 is the
                                    // verdict, whatever else is wrong.
                                    bad[i] = Some(LineError::InvalidUtf8);
                                }
                                if let Some(t) = text_slot {
                                    self.text[t].1[i] = u32::try_from(k).ok();
                                }
                                true
                            }
                            kind => set_word(&mut recs[i], kind, b),
                        };
                        if !ok {
                            let value = truncate(&String::from_utf8_lossy(b), 64).to_string();
                            invalid(bad, i, value);
                        }
                    }
                }
                // Planned columns of other types are refused when the file
                // is opened.
                _ => {}
            }
            if short {
                return Err(format!(
                    "column '{}' holds fewer values than its non-null rows",
                    plan.name
                ));
            }
        }
        Ok(())
    }
}

impl RowBatch {
    /// Row `i`: the typed record and its text columns, or why it is bad.
    fn row<'c>(
        &self,
        batch: &'c ColumnBatch,
        i: usize,
    ) -> Result<(FlowRecord, RowText<'c>), LineError> {
        if let Some(e) = &self.bad[i] {
            return Err(e.clone());
        }
        let text = |t: usize| -> Option<&'c [u8]> {
            let (col, idx) = &self.text[t];
            let k = (*idx.get(i)?)? as usize;
            match &batch.cols.get((*col)?)?.values {
                Values::Bytes(v) => v.get(k).map(|b| b.data()),
                _ => None,
            }
        };
        let mut values = [None; ROW_TEXT_FIELDS.len()];
        for (t, v) in values.iter_mut().enumerate() {
            *v = text(t);
        }
        Ok((self.recs[i], RowText { values }))
    }
}

/// Decodes the rows of one row group and hands them to `row`.
fn decode_rows<S, F>(
    plan: &[ColumnPlan],
    group: &RowGroupMetaData,
    chunks: Vec<ColumnChunk<S>>,
    rows: usize,
    row: &mut F,
) -> Result<(), String>
where
    S: ByteRanges,
    F: FnMut(Result<(FlowRecord, RowText<'_>), LineError>),
{
    let mut cursors = Vec::with_capacity(plan.len());
    for (c, chunk) in plan.iter().zip(chunks) {
        let pages: Box<dyn PageReader> = Box::new(
            SerializedPageReader::new(Arc::new(chunk), group.column(c.leaf), rows, None)
                .map_err(|e| format!("column '{}': {e}", c.name))?,
        );
        cursors.push(ColumnCursor {
            plan: c,
            reader: get_column_reader(c.descr.clone(), pages),
        });
    }
    if rows <= BATCH_ROWS {
        // One batch (a small object): no thread to overlap with.
        let mut batch = ColumnBatch::new(plan);
        batch.rows = rows;
        for (c, col) in cursors.iter_mut().zip(&mut batch.cols) {
            c.fill(col, rows)?;
        }
        let mut typed = RowBatch::new();
        typed.build(plan, &batch)?;
        for i in 0..rows {
            row(typed.row(&batch, i));
        }
        return Ok(());
    }
    // Pages are decompressed and decoded on a thread of their own while
    // this one types the rows of the previous batch.
    let (tx, rx) = sync_channel::<Result<ColumnBatch, String>>(2);
    let (free_tx, free_rx) = sync_channel::<ColumnBatch>(4);
    std::thread::scope(|s| {
        let decoder = s.spawn(move || {
            let mut done = 0;
            while done < rows {
                let n = BATCH_ROWS.min(rows - done);
                let mut batch = free_rx
                    .try_recv()
                    .unwrap_or_else(|_| ColumnBatch::new(plan));
                batch.rows = n;
                for (c, col) in cursors.iter_mut().zip(&mut batch.cols) {
                    if let Err(e) = c.fill(col, n) {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
                if tx.send(Ok(batch)).is_err() {
                    return; // the rows are not wanted any more
                }
                done += n;
            }
        });
        let mut typed = RowBatch::new();
        let mut result = Ok(());
        for batch in rx.iter() {
            let batch = match batch.and_then(|b| typed.build(plan, &b).map(|()| b)) {
                Ok(b) => b,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            for i in 0..batch.rows {
                row(typed.row(&batch, i));
            }
            let _ = free_tx.try_send(batch);
        }
        drop(rx);
        match decoder.join() {
            Ok(()) => result,
            Err(_) => Err("the Parquet decoder failed on damaged data".into()),
        }
    })
}

/// Parquet files for the crate's unit tests (the integration tests have
/// their own, fuller writer in `tests/engine/shapes.rs`).
#[cfg(test)]
pub(crate) mod test_files {
    use std::sync::Arc;

    use parquet::basic::{Compression, GzipLevel};
    use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    use crate::flowlog::DEFAULT_V2;

    /// Default-format (v2) lines as a Gzip Parquet file with AWS's column
    /// names and types, `rows_per_group` rows per row group.
    pub(crate) fn v2_parquet(lines: &[String], rows_per_group: usize) -> Vec<u8> {
        let columns: Vec<(String, &str)> = DEFAULT_V2
            .iter()
            .map(|f| {
                let kind = match f.name() {
                    "version" | "srcport" | "dstport" | "protocol" => "INT32",
                    "packets" | "bytes" | "start" | "end" => "INT64",
                    _ => "BYTE_ARRAY",
                };
                (f.name().replace('-', "_"), kind)
            })
            .collect();
        let schema: Vec<String> = columns
            .iter()
            .map(|(n, k)| format!("OPTIONAL {k} {n};"))
            .collect();
        let schema = parse_message_type(&format!("message flows {{ {} }}", schema.join(" ")))
            .expect("schema");
        let props = WriterProperties::builder()
            .set_compression(Compression::GZIP(GzipLevel::default()))
            .build();
        let mut out = Vec::new();
        let mut w =
            SerializedFileWriter::new(&mut out, Arc::new(schema), Arc::new(props)).expect("writer");
        let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split(' ').collect()).collect();
        for group in rows.chunks(rows_per_group.max(1)) {
            let mut g = w.next_row_group().expect("row group");
            for (i, (_, kind)) in columns.iter().enumerate() {
                let vals: Vec<Option<&str>> = group
                    .iter()
                    .map(|r| Some(r[i]).filter(|v| *v != "-"))
                    .collect();
                let defs: Vec<i16> = vals.iter().map(|v| i16::from(v.is_some())).collect();
                let mut c = g.next_column().expect("column").expect("column");
                match *kind {
                    "INT32" => {
                        let v: Vec<i32> = vals
                            .iter()
                            .flatten()
                            .map(|x| x.parse().expect("int"))
                            .collect();
                        c.typed::<Int32Type>().write_batch(&v, Some(&defs), None)
                    }
                    "INT64" => {
                        let v: Vec<i64> = vals
                            .iter()
                            .flatten()
                            .map(|x| x.parse().expect("int"))
                            .collect();
                        c.typed::<Int64Type>().write_batch(&v, Some(&defs), None)
                    }
                    _ => {
                        let v: Vec<ByteArray> =
                            vals.iter().flatten().map(|x| ByteArray::from(*x)).collect();
                        c.typed::<ByteArrayType>()
                            .write_batch(&v, Some(&defs), None)
                    }
                }
                .expect("values");
                c.close().expect("column closes");
            }
            g.close().expect("row group closes");
        }
        w.close().expect("file closes");
        out
    }
}
