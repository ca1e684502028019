//! Where the threat and suppression lists are (SPEC section 8), and how
//! often the Lambda function checks them for a new version. The loaded
//! lists themselves are [`crate::config::Config::intel`].

use serde::Deserialize;

use super::values::{count, text, Locations};

/// The lists' locations.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lists {
    /// Threat lists: `s3://bucket/key` URLs for the Lambda function, local
    /// paths for the CLI.
    #[serde(deserialize_with = "text")]
    pub threat_lists: Locations,
    /// Suppression lists, located like the threat lists.
    #[serde(deserialize_with = "text")]
    pub suppress_lists: Locations,
    /// Lambda: seconds between checks of the lists' ETags; a list is read
    /// again only when its ETag changed.
    #[serde(deserialize_with = "count")]
    pub intel_refresh_seconds: u64,
}

impl Default for Lists {
    fn default() -> Lists {
        Lists {
            threat_lists: Locations::default(),
            suppress_lists: Locations::default(),
            intel_refresh_seconds: 300,
        }
    }
}
