//! The I/O edge: small traits for reading objects, storing summaries and
//! publishing messages, with a local-filesystem and an in-memory
//! implementation here and the AWS ones behind the `aws` feature.

pub mod fs;
pub mod memory;
#[cfg(feature = "aws")]
pub mod s3;
#[cfg(feature = "aws")]
pub mod sns;

pub use fs::write_summaries;
