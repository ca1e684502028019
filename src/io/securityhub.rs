//! Security Hub over the SDK: `BatchImportFindings` of ASFF findings
//! ([`crate::report::asff`]), mapped field by field onto the SDK's types.
//! Throttling (Security Hub allows 10 requests a second) and transient
//! errors are retried by the SDK's standard retry with backoff; the
//! findings a call did not take come back as [`Rejected`] for the caller
//! to retry.

use aws_sdk_securityhub::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_securityhub::types::{
    Action, ActionLocalIpDetails, ActionLocalPortDetails, ActionRemoteIpDetails,
    ActionRemotePortDetails, AwsSecurityFinding, NetworkConnectionAction, Partition,
    PortProbeAction, PortProbeDetail, Recommendation, RecordState, Remediation, Resource, Severity,
    SeverityLabel,
};
use aws_sdk_securityhub::Client;

use super::{Rejected, SinkError};
use crate::report::asff::{Asff, AsffAction};

/// The SDK form of an ASFF finding.
pub fn to_sdk(a: &Asff) -> AwsSecurityFinding {
    let resources = a
        .resources
        .iter()
        .map(|r| {
            Resource::builder()
                .r#type(r.kind)
                .id(&r.id)
                .partition(Partition::from(r.partition))
                .region(&r.region)
                .build()
        })
        .collect();
    AwsSecurityFinding::builder()
        .schema_version(a.schema_version)
        .id(&a.id)
        .product_arn(&a.product_arn)
        .generator_id(&a.generator_id)
        .aws_account_id(&a.aws_account_id)
        .set_types(Some(a.types.iter().map(|t| t.to_string()).collect()))
        .created_at(&a.created_at)
        .updated_at(&a.updated_at)
        .set_first_observed_at(a.first_observed_at.clone())
        .set_last_observed_at(a.last_observed_at.clone())
        .severity(
            Severity::builder()
                .label(SeverityLabel::from(a.severity.label))
                .build(),
        )
        .title(&a.title)
        .description(&a.description)
        .set_resources(Some(resources))
        .set_action(a.action.as_ref().map(action))
        .remediation(
            Remediation::builder()
                .recommendation(
                    Recommendation::builder()
                        .text(&a.remediation.recommendation.text)
                        .build(),
                )
                .build(),
        )
        .set_source_url(a.source_url.clone())
        .set_product_fields(Some(a.product_fields.clone().into_iter().collect()))
        .record_state(RecordState::Active)
        .region(&a.region)
        .company_name(a.company_name)
        .product_name(a.product_name)
        .build()
}

fn action(a: &AsffAction) -> Action {
    let mut b = Action::builder().action_type(a.action_type);
    if let Some(c) = &a.network_connection_action {
        let mut n = NetworkConnectionAction::builder()
            .connection_direction(c.connection_direction)
            .blocked(c.blocked)
            .set_protocol(c.protocol.clone());
        if let Some(ip) = &c.remote_ip_details {
            n = n.remote_ip_details(
                ActionRemoteIpDetails::builder()
                    .ip_address_v4(&ip.ip_address_v4)
                    .build(),
            );
        }
        if let Some(p) = &c.remote_port_details {
            n = n.remote_port_details(
                ActionRemotePortDetails::builder()
                    .port(i32::from(p.port))
                    .build(),
            );
        }
        if let Some(p) = &c.local_port_details {
            n = n.local_port_details(
                ActionLocalPortDetails::builder()
                    .port(i32::from(p.port))
                    .build(),
            );
        }
        b = b.network_connection_action(n.build());
    }
    if let Some(p) = &a.port_probe_action {
        let details = p
            .port_probe_details
            .iter()
            .map(|d| {
                let mut x = PortProbeDetail::builder().local_port_details(
                    ActionLocalPortDetails::builder()
                        .port(i32::from(d.local_port_details.port))
                        .build(),
                );
                if let Some(ip) = &d.local_ip_details {
                    x = x.local_ip_details(
                        ActionLocalIpDetails::builder()
                            .ip_address_v4(&ip.ip_address_v4)
                            .build(),
                    );
                }
                if let Some(ip) = &d.remote_ip_details {
                    x = x.remote_ip_details(
                        ActionRemoteIpDetails::builder()
                            .ip_address_v4(&ip.ip_address_v4)
                            .build(),
                    );
                }
                x.build()
            })
            .collect();
        b = b.port_probe_action(
            PortProbeAction::builder()
                .set_port_probe_details(Some(details))
                .blocked(p.blocked)
                .build(),
        );
    }
    b.build()
}

/// The Security Hub of the function's region.
#[derive(Debug, Clone)]
pub struct SecurityHub {
    client: Client,
}

impl SecurityHub {
    /// Through `client` (built once, with the SDK's retry configuration).
    pub fn new(client: Client) -> SecurityHub {
        SecurityHub { client }
    }

    /// One `BatchImportFindings` call.
    pub async fn import(&self, findings: &[Asff]) -> Result<Vec<Rejected>, SinkError> {
        let out = self
            .client
            .batch_import_findings()
            .set_findings(Some(findings.iter().map(to_sdk).collect()))
            .send()
            .await
            .map_err(|e| {
                let code = e.code().unwrap_or_default().to_string();
                SinkError {
                    sink: "Security Hub",
                    retryable: !matches!(
                        code.as_str(),
                        "AccessDeniedException"
                            | "InvalidAccessException"
                            | "InvalidInputException"
                    ),
                    message: match e.message() {
                        Some(m) => format!("BatchImportFindings: {code}: {m}"),
                        None => format!("BatchImportFindings: {}", DisplayErrorContext(&e)),
                    },
                }
            })?;
        Ok(out
            .failed_findings()
            .iter()
            .map(|f| Rejected {
                id: f.id().unwrap_or_default().to_string(),
                error: format!(
                    "{}: {}",
                    f.error_code().unwrap_or("error"),
                    f.error_message().unwrap_or("")
                ),
            })
            .collect())
    }
}
