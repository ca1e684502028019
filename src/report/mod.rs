//! Rendering findings: a readable text report for the CLI and the SNS
//! message of SPEC §5.

pub mod sns;
pub mod text;

pub use sns::{build_message, SnsMessage};
pub use text::{render_notifications, render_text};
