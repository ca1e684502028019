//! What only the Lambda function's environment sets, or what places its
//! output: the summary bucket and prefix and the SNS topic.

use serde::Deserialize;

use super::values::{optional_text, summary_prefix, BucketName, TopicArn};

/// Where the function writes and publishes (SPEC section 4).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lambda {
    /// Prefix of the summary keys, e.g. `flowguard/` (never empty: the
    /// Lambda skips keys under it as its own output). The CLI uses it too.
    #[serde(deserialize_with = "summary_prefix")]
    pub summary_prefix: String,
    /// Bucket for summaries; `None` means the source object's bucket.
    #[serde(deserialize_with = "optional_text")]
    pub summary_bucket: Option<BucketName>,
    /// The SNS topic; `None` (or empty) disables publishing.
    #[serde(deserialize_with = "optional_text")]
    pub topic_arn: Option<TopicArn>,
}

impl Default for Lambda {
    fn default() -> Lambda {
        Lambda {
            summary_prefix: "flowguard/".to_string(),
            summary_bucket: None,
            topic_arn: None,
        }
    }
}
