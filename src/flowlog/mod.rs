//! Flow-log text: the field catalogue, formats (header → columns), typed
//! records and the line parser.

pub mod field;
pub mod format;
pub mod parse;
pub mod record;

pub use field::{Field, FieldKind, FieldSpec, DEFAULT_V2, FIELDS};
pub use format::{Column, FirstLine, Format};
pub use parse::{LineError, LineParser, MAX_LINE_BYTES};
pub use record::{Action, FlowDirection, FlowRecord, LogStatus, RecordView, Value};
