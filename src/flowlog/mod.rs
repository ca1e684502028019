//! Flow-log input: the field catalogue, formats (header → columns), typed
//! records, the line parser, and the two other shapes AWS delivers:
//! Parquet files and CloudWatch Logs subscription exports.

pub mod cwl;
pub mod field;
pub mod format;
pub mod parquet;
pub mod parse;
pub mod record;

pub use field::{Field, FieldKind, FieldSpec, DEFAULT_V2, FIELDS};
pub use format::{Column, FirstLine, Format};
pub use parse::{LineError, LineParser, MAX_LINE_BYTES};
pub use record::{
    Action, FlowDirection, FlowRecord, LogStatus, RecordView, RowText, Value, ROW_TEXT_FIELDS,
};
