//! The AWS implementation of [`Sinks`]: the parts the configuration turned
//! on, each with its client built once at start.

use super::eventbridge::EventBus;
use super::securityhub::SecurityHub;
use super::{Rejected, SinkError, Sinks};
use crate::report::asff::Asff;
use crate::report::events::EventEntry;
use crate::rules::InterfaceDetails;

/// Security Hub, an EventBridge bus and EC2 enrichment, as configured.
#[derive(Default)]
pub struct AwsSinks {
    /// `BatchImportFindings`, when `FLOWGUARD_SECURITY_HUB` is on.
    pub security_hub: Option<SecurityHub>,
    /// `PutEvents`, when `FLOWGUARD_EVENT_BUS` names a bus.
    pub events: Option<EventBus>,
    /// `DescribeNetworkInterfaces`, when `FLOWGUARD_ENRICH=ec2`.
    #[cfg(feature = "ec2")]
    pub ec2: Option<super::ec2::Ec2Lookup>,
}

fn off(sink: &'static str) -> SinkError {
    SinkError {
        sink,
        message: "not configured".into(),
        retryable: false,
    }
}

impl Sinks for AwsSinks {
    async fn import_findings(&self, findings: &[Asff]) -> Result<Vec<Rejected>, SinkError> {
        match &self.security_hub {
            Some(h) => h.import(findings).await,
            None => Err(off("Security Hub")),
        }
    }

    async fn put_events(&self, entries: &[EventEntry]) -> Result<Vec<Rejected>, SinkError> {
        match &self.events {
            Some(b) => b.put(entries).await,
            None => Err(off("EventBridge")),
        }
    }

    async fn describe_interfaces(
        &self,
        account: &str,
        region: &str,
        interface_ids: &[String],
        foreign: bool,
    ) -> Result<Vec<InterfaceDetails>, SinkError> {
        #[cfg(feature = "ec2")]
        if let Some(e) = &self.ec2 {
            return e.describe(account, region, interface_ids, foreign).await;
        }
        let _ = (account, region, interface_ids, foreign);
        Err(SinkError {
            sink: "EC2",
            message: "enrichment is not configured (or this build has no `ec2` feature)".into(),
            retryable: false,
        })
    }
}
