//! EventBridge over the SDK: `PutEvents` of finding events
//! ([`crate::report::events`]) on the configured bus. The entries a call
//! did not take come back as [`Rejected`] for the caller to retry.

use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use super::{Rejected, SinkError};
use crate::report::events::EventEntry;

/// A bus, by name or ARN.
#[derive(Debug, Clone)]
pub struct EventBus {
    client: Client,
    bus: String,
}

impl EventBus {
    /// `bus` through `client`.
    pub fn new(client: Client, bus: String) -> EventBus {
        EventBus { client, bus }
    }

    /// One `PutEvents` call of at most 10 entries.
    pub async fn put(&self, entries: &[EventEntry]) -> Result<Vec<Rejected>, SinkError> {
        let request: Vec<PutEventsRequestEntry> = entries
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .source(e.source)
                    .detail_type(e.detail_type)
                    .detail(&e.detail)
                    .set_resources(Some(e.resources.clone()))
                    .event_bus_name(&self.bus)
                    .build()
            })
            .collect();
        let out = self
            .client
            .put_events()
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| {
                let code = e.code().unwrap_or_default().to_string();
                SinkError {
                    sink: "EventBridge",
                    retryable: !matches!(
                        code.as_str(),
                        "AccessDeniedException" | "ValidationException"
                    ),
                    message: match e.message() {
                        Some(m) => format!("PutEvents on {}: {code}: {m}", self.bus),
                        None => format!("PutEvents on {}: {}", self.bus, DisplayErrorContext(&e)),
                    },
                }
            })?;
        if out.failed_entry_count() == 0 {
            return Ok(Vec::new());
        }
        // The result entries are in the order of the request's.
        Ok(out
            .entries()
            .iter()
            .zip(entries)
            .filter(|(r, _)| r.error_code().is_some())
            .map(|(r, e)| Rejected {
                id: e.finding_id.clone(),
                error: format!(
                    "{}: {}",
                    r.error_code().unwrap_or("error"),
                    r.error_message().unwrap_or("")
                ),
            })
            .collect())
    }
}
