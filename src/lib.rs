//! flowguard turns Amazon VPC Flow Logs into security findings.
//!
//! # Architecture
//!
//! The crate is layered; a module only imports modules of its own layer's
//! leaves or of lower layers, never a higher one (`shared/tools/modcycles.py`
//! checks that no two modules import each other, directly or not):
//!
//! 1. Leaves: [`hash`], [`net`], [`severity`], [`catalogue`] (every rule's
//!    severity, thresholds, ATT&CK ids, title, remediation), [`time`],
//!    [`source`], [`sketch`] (mergeable distinct counts).
//! 2. Input: [`flowlog`] (field catalogue, formats, the line parser,
//!    Parquet files and CloudWatch Logs exports), [`intel`] (threat and
//!    suppression lists: parsing, the merged address lookup, suppression
//!    matching), and [`config`] (one serde struct of every setting,
//!    holding the loaded lists).
//! 3. Shared state: [`flow`] (a record classified once), [`bounded`] (maps
//!    that stop growing at a bound).
//! 4. Pure detection and aggregation: [`rules`] and [`summary`].
//! 5. [`analyze`]: the sans-I/O engine, records in, [`Report`] out.
//! 6. [`stream`]: any object (gzip or plain text, a CloudWatch Logs export,
//!    Parquet by ranges) into the engine, on threads, in bounded memory;
//!    [`report`] renders findings for people and SNS;
//!    [`generate`] writes synthetic logs.
//! 7. The edge, behind small traits: [`io`] (object store, publisher) and,
//!    with the `aws` feature, [`event`] (Lambda payloads) and [`handler`]
//!    (orchestration of one invocation).
//! 8. The binaries: `flowguard` (feature `cli`) and `flowguard-lambda`
//!    (feature `aws`).
//!
//! Layers 1 to 6 never import tokio or an AWS crate:
//! `cargo build --lib --no-default-features` builds them alone.

#![warn(missing_docs)]

pub mod analyze;
pub mod bounded;
pub mod catalogue;
pub mod config;
pub mod correlate;
#[cfg(feature = "aws")]
pub mod event;
pub mod flow;
pub mod flowlog;
pub mod generate;
#[cfg(feature = "aws")]
pub mod handler;
pub mod hash;
pub mod ids;
pub mod intel;
pub mod io;
pub mod limits;
pub mod net;
pub mod report;
pub mod rules;
pub mod severity;
pub mod sketch;
pub mod source;
pub mod stream;
pub mod summary;
pub mod time;

pub use analyze::{analyze_text, AnalyzeError, Counts, Engine, FilesRow, Report, SummaryObject};
pub use config::{Config, ConfigError};
pub use rules::{Finding, RuleId, Severity};
pub use source::SourceRef;
pub use stream::{analyze_object, analyze_parquet, analyze_reader};
