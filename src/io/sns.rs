//! [`Publisher`] over Amazon SNS: `MessageStructure=json` with the message
//! attributes subscription filter policies use.

use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;

use super::{PublishError, Publisher};
use crate::flowlog::format::truncate;
use crate::report::SnsMessage;

/// The SNS client and the topic, built once at start-up.
#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: Client,
    topic_arn: String,
}

impl SnsPublisher {
    /// A publisher to one topic.
    pub fn new(client: Client, topic_arn: String) -> SnsPublisher {
        SnsPublisher { client, topic_arn }
    }
}

fn attribute(data_type: &str, value: &str) -> Result<MessageAttributeValue, String> {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .map_err(|e| e.to_string())
}

impl Publisher for SnsPublisher {
    async fn publish(&self, m: &SnsMessage) -> Result<String, PublishError> {
        let err = |message: String, retryable: bool| PublishError {
            topic: self.topic_arn.clone(),
            message,
            retryable,
        };
        let rules = serde_json::to_string(&m.rules).unwrap_or_else(|_| "[]".into());
        let mut req = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&m.subject)
            .message(&m.message)
            .message_structure("json");
        for (name, ty, value) in [
            ("severity", "String", m.severity.as_str()),
            ("rules", "String.Array", rules.as_str()),
            ("account", "String", m.account.as_str()),
            ("region", "String", m.region.as_str()),
        ] {
            req = req.message_attributes(name, attribute(ty, value).map_err(|e| err(e, false))?);
        }
        match req.send().await {
            Ok(out) => Ok(out.message_id().unwrap_or_default().to_string()),
            Err(e) => {
                // Every SNS failure is retried: a missing topic or a denied
                // publish may be fixed while the event waits.
                let retryable = !matches!(e, SdkError::ConstructionFailure(_));
                // The service's code and message when there is one; the
                // full context (which can hold a raw HTTP response) otherwise,
                // cut short.
                let message = match (e.code(), e.message()) {
                    (Some(code), Some(msg)) => format!("{code}: {msg}"),
                    (Some(code), None) => code.to_string(),
                    // Cut on a character boundary: the text can hold any
                    // bytes of a response, and `String::truncate` panics
                    // inside a character.
                    _ => truncate(&DisplayErrorContext(&e).to_string(), 300).to_string(),
                };
                Err(err(message, retryable))
            }
        }
    }
}
