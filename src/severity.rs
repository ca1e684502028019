//! How urgent a finding is: the severity scale. A leaf module shared by
//! the catalogue, the configuration, the rules and the reports.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How urgent a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Likely hostile.
    Medium,
    /// Exposure or attack in progress.
    High,
}

impl Severity {
    /// `low`, `medium` or `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Severity, String> {
        // Without allocating: threat lists parse one per line.
        let t = s.trim();
        [Severity::Low, Severity::Medium, Severity::High]
            .into_iter()
            .find(|v| t.eq_ignore_ascii_case(v.as_str()))
            .ok_or_else(|| {
                format!(
                    "'{}' is not a severity (low, medium, high)",
                    t.to_ascii_lowercase()
                )
            })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
