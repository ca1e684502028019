//! EC2 enrichment over the SDK (feature `ec2`): `DescribeNetworkInterfaces`
//! for the interfaces of notified findings, in the finding's region; for an
//! interface of another account (a central bucket), with the credentials of
//! the role `FLOWGUARD_ENRICH_ROLE` names for that account. Results are
//! kept for 15 minutes per process; a client per account and region is
//! built once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_ec2::types::Filter;
use aws_sdk_ec2::Client;

use super::SinkError;
use crate::config::RolePattern;
use crate::rules::InterfaceDetails;

/// How long a description is reused.
pub const CACHE_SECONDS: u64 = 15 * 60;

/// The interfaces of one account and region, looked up and kept.
pub struct Ec2Lookup {
    sdk: SdkConfig,
    role: Option<RolePattern>,
    clients: tokio::sync::Mutex<HashMap<(String, String), Client>>,
    cache: Mutex<HashMap<String, (Instant, InterfaceDetails)>>,
}

impl Ec2Lookup {
    /// Lookups with `sdk`'s credentials in the function's account, and
    /// `role` in others.
    pub fn new(sdk: SdkConfig, role: Option<RolePattern>) -> Ec2Lookup {
        Ec2Lookup {
            sdk,
            role,
            clients: tokio::sync::Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn err(message: String, retryable: bool) -> SinkError {
        SinkError {
            sink: "EC2",
            message,
            retryable,
        }
    }

    async fn client(&self, account: &str, region: &str, foreign: bool) -> Client {
        let mut clients = self.clients.lock().await;
        let key = (account.to_string(), region.to_string());
        if let Some(c) = clients.get(&key) {
            return c.clone();
        }
        let mut b = aws_sdk_ec2::config::Builder::from(&self.sdk)
            .region(aws_config::Region::new(region.to_string()));
        if let (true, Some(role)) = (foreign, &self.role) {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role.for_account(account))
                .session_name("flowguard-enrich")
                .configure(&self.sdk)
                .build()
                .await;
            b = b.credentials_provider(provider);
        }
        let c = Client::from_conf(b.build());
        clients.insert(key, c.clone());
        c
    }

    /// The interfaces of `ids` that EC2 knows (an unknown one is left out).
    pub async fn describe(
        &self,
        account: &str,
        region: &str,
        ids: &[String],
        foreign: bool,
    ) -> Result<Vec<InterfaceDetails>, SinkError> {
        let now = Instant::now();
        let fresh = Duration::from_secs(CACHE_SECONDS);
        let mut found = Vec::new();
        let mut wanted = Vec::new();
        if let Ok(cache) = self.cache.lock() {
            for id in ids {
                match cache.get(id) {
                    Some((at, d)) if now.duration_since(*at) < fresh => found.push(d.clone()),
                    _ => wanted.push(id.clone()),
                }
            }
        }
        if wanted.is_empty() {
            return Ok(found);
        }
        let client = self.client(account, region, foreign).await;
        let out = client
            .describe_network_interfaces()
            // A filter, not ids: an interface deleted since is not an error.
            .filters(
                Filter::builder()
                    .name("network-interface-id")
                    .set_values(Some(wanted.clone()))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                let code = e.code().unwrap_or_default().to_string();
                Ec2Lookup::err(
                    match e.message() {
                        Some(m) => format!("DescribeNetworkInterfaces: {code}: {m}"),
                        None => format!("DescribeNetworkInterfaces: {}", DisplayErrorContext(&e)),
                    },
                    true,
                )
            })?;
        let mut fetched = Vec::new();
        for n in out.network_interfaces() {
            let Some(id) = n.network_interface_id() else {
                continue;
            };
            fetched.push(InterfaceDetails {
                interface_id: id.to_string(),
                interface_type: n.interface_type().map(|t| t.as_str().to_string()),
                description: n.description().map(str::to_string),
                instance_id: n
                    .attachment()
                    .and_then(|a| a.instance_id())
                    .map(str::to_string),
                security_group_ids: n
                    .groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect(),
                vpc_id: n.vpc_id().map(str::to_string),
                subnet_id: n.subnet_id().map(str::to_string),
                name: n
                    .tag_set()
                    .iter()
                    .find(|t| t.key() == Some("Name"))
                    .and_then(|t| t.value().map(str::to_string)),
            });
        }
        if let Ok(mut cache) = self.cache.lock() {
            for d in &fetched {
                cache.insert(d.interface_id.clone(), (now, d.clone()));
            }
        }
        found.extend(fetched);
        Ok(found)
    }
}
