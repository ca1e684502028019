//! flowguard turns Amazon VPC Flow Logs into security findings.
//!
//! The core is pure and synchronous: [`flowlog`] parses any format version
//! and custom field order, [`rules`] detects exposure, brute force, scans and
//! visibility gaps, [`summary`] aggregates partitioned tables for Athena, and
//! [`analyze`] ties them into an engine that takes text and returns a
//! [`Report`]. [`stream`] feeds the engine from any reader (gzip or plain)
//! on two threads in bounded memory. [`report`] renders findings for people
//! and for SNS. The AWS edge ([`io`], [`event`], [`handler`]) sits behind
//! small traits and the `aws` feature.

#![warn(missing_docs)]

pub mod analyze;
pub mod bounded;
pub mod config;
#[cfg(feature = "aws")]
pub mod event;
pub mod flowlog;
pub mod generate;
#[cfg(feature = "aws")]
pub mod handler;
pub mod report;
pub mod rules;
pub mod source;
pub mod stream;
pub mod summary;
pub mod time;

pub mod io;

pub use analyze::{analyze_text, AnalyzeError, Counts, Engine, FilesRow, Report, SummaryObject};
pub use config::{Config, ConfigError};
pub use rules::{Finding, RuleId, Severity};
pub use source::SourceRef;
pub use stream::analyze_reader;
