//! Correlation across objects (SPEC section 7): the window, the
//! notification lifecycle, the bound on store writes per object and,
//! for the Lambda function, the DynamoDB table.

use serde::Deserialize;

use super::values::{count, count_usize, optional_text, TableName};

/// The correlation keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Correlation {
    /// Event time, in seconds, over which the threshold rules count when
    /// objects are correlated.
    #[serde(deserialize_with = "count")]
    pub window_seconds: u64,
    /// At most one notification per finding per this many seconds of event
    /// time while it stays active.
    #[serde(deserialize_with = "count")]
    pub renotify_seconds: u64,
    /// Seconds of event time without activity after which a finding ends
    /// (its next activity is new).
    #[serde(deserialize_with = "count")]
    pub state_ttl_seconds: u64,
    /// Subjects written to the state store per object, at most.
    #[serde(deserialize_with = "count_usize")]
    pub max_state_updates: usize,
    /// Lambda: the DynamoDB table of the correlation state; without it the
    /// function works per object.
    #[serde(deserialize_with = "optional_text")]
    pub state_table: Option<TableName>,
}

impl Default for Correlation {
    fn default() -> Correlation {
        Correlation {
            window_seconds: 3600,
            renotify_seconds: 6 * 3600,
            state_ttl_seconds: 7 * 24 * 3600,
            max_state_updates: 100,
            state_table: None,
        }
    }
}
