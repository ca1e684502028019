//! The I/O edge: small traits for reading objects, storing summaries and
//! publishing messages, and the threat and suppression lists the Lambda
//! function reads ([`lists`]). The local filesystem writer is here; the
//! in-memory fakes (tests only) serve the handler's unit tests; S3 and SNS
//! implementations live behind the `aws` feature, with the bridge that lets
//! the engine's blocking threads read byte ranges of an object (Parquet)
//! from a store.

use std::future::Future;
use std::io::Read;

use crate::report::asff::Asff;
use crate::report::events::EventEntry;
use crate::report::SnsMessage;
use crate::rules::InterfaceDetails;

#[cfg(feature = "aws")]
pub mod aws_sinks;
#[cfg(feature = "aws")]
pub mod dynamodb;
#[cfg(feature = "ec2")]
pub mod ec2;
#[cfg(feature = "aws")]
pub mod eventbridge;
pub mod fs;
pub mod lists;
#[cfg(test)]
pub(crate) mod memory;
#[cfg(feature = "aws")]
pub mod ranged;
#[cfg(feature = "aws")]
pub mod s3;
#[cfg(feature = "aws")]
pub mod securityhub;
#[cfg(feature = "aws")]
pub mod sns;
#[cfg(feature = "cli")]
pub mod state_file;

pub use fs::write_summaries;

/// An object opened for streaming.
pub struct OpenedObject {
    /// The body, read on a blocking thread.
    pub body: Box<dyn Read + Send>,
    /// ETag (without quotes).
    pub etag: Option<String>,
    /// Version id.
    pub version_id: Option<String>,
    /// Content length.
    pub length: Option<u64>,
}

/// A storage failure. Every variant names the object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist (deleted since the event, or never).
    #[error("s3://{bucket}/{key}: no such object")]
    NotFound {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// A failure that may pass on retry (network, throttling, 5xx).
    #[error("s3://{bucket}/{key}: {message} (retryable)")]
    Retryable {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// What happened.
        message: String,
    },
    /// A failure that will not pass on retry (access denied, bad request).
    #[error("s3://{bucket}/{key}: {message}")]
    Permanent {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// What happened.
        message: String,
    },
}

impl StoreError {
    /// Whether a retry may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Retryable { .. })
    }
}

/// A publishing failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("publish to {topic}: {message}")]
pub struct PublishError {
    /// The topic.
    pub topic: String,
    /// What happened.
    pub message: String,
    /// Whether a retry may succeed.
    pub retryable: bool,
}

/// Where flow logs are read and summaries written.
pub trait ObjectStore: Send + Sync + 'static {
    /// Starts reading an object.
    fn open(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> impl Future<Output = Result<OpenedObject, StoreError>> + Send;

    /// Reads `len` bytes from offset `start` of an object (a ranged GET),
    /// for formats that need random access (Parquet). `version_id` and
    /// `etag`, when given, pin the version [`ObjectStore::open`] saw, so an
    /// object replaced between two reads is an error, never a mix of two.
    fn get_range(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        etag: Option<&str>,
        start: u64,
        len: u64,
    ) -> impl Future<Output = Result<Vec<u8>, StoreError>> + Send;

    /// Writes (or overwrites) an object.
    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        content_encoding: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes an object only if the key is free; `Ok(false)` when it exists.
    fn put_if_absent(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Whether an object exists.
    fn exists(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Where findings are announced.
pub trait Publisher: Send + Sync + 'static {
    /// Publishes one message; returns the message id.
    fn publish(
        &self,
        message: &SnsMessage,
    ) -> impl Future<Output = Result<String, PublishError>> + Send;
}

/// A failure of a delivery sink (Security Hub, EventBridge, EC2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{sink}: {message}")]
pub struct SinkError {
    /// The sink, e.g. `Security Hub`.
    pub sink: &'static str,
    /// What happened.
    pub message: String,
    /// Whether a retry may succeed.
    pub retryable: bool,
}

/// One item a sink did not take: its id, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The finding id.
    pub id: String,
    /// The sink's error code and message.
    pub error: String,
}

/// Where notified findings go besides SNS (SPEC section 10). Each method
/// is called only when its part is configured.
pub trait Sinks: Send + Sync + 'static {
    /// `BatchImportFindings` of at most 100 findings: the ones Security Hub
    /// did not take (`FailedFindings`).
    fn import_findings(
        &self,
        findings: &[Asff],
    ) -> impl Future<Output = Result<Vec<Rejected>, SinkError>> + Send;

    /// `PutEvents` of at most 10 entries: the ones EventBridge did not take.
    fn put_events(
        &self,
        entries: &[EventEntry],
    ) -> impl Future<Output = Result<Vec<Rejected>, SinkError>> + Send;

    /// `DescribeNetworkInterfaces` of interfaces of `account` in `region`;
    /// `foreign` when that is not the function's account (a role is
    /// assumed for it).
    fn describe_interfaces(
        &self,
        account: &str,
        region: &str,
        interface_ids: &[String],
        foreign: bool,
    ) -> impl Future<Output = Result<Vec<InterfaceDetails>, SinkError>> + Send;
}

/// No sink configured: every call is an error (the handler never makes
/// one unless the configuration turned the part on).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSinks;

impl NoSinks {
    fn off(sink: &'static str) -> SinkError {
        SinkError {
            sink,
            message: "not configured in this build".into(),
            retryable: false,
        }
    }
}

impl Sinks for NoSinks {
    async fn import_findings(&self, _: &[Asff]) -> Result<Vec<Rejected>, SinkError> {
        Err(NoSinks::off("Security Hub"))
    }

    async fn put_events(&self, _: &[EventEntry]) -> Result<Vec<Rejected>, SinkError> {
        Err(NoSinks::off("EventBridge"))
    }

    async fn describe_interfaces(
        &self,
        _: &str,
        _: &str,
        _: &[String],
        _: bool,
    ) -> Result<Vec<InterfaceDetails>, SinkError> {
        Err(NoSinks::off("EC2"))
    }
}
