//! Where findings go besides the SNS topic (SPEC section 10), each off
//! until configured: Security Hub, an EventBridge bus, EC2 enrichment of
//! the interfaces, and the rate guard that keeps email subscriptions below
//! what SNS allows.

use std::str::FromStr;

use serde::Deserialize;

use super::values::{count, optional_text, text};

/// The delivery keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Delivery {
    /// Import every notified finding into Security Hub (ASFF).
    #[serde(deserialize_with = "text")]
    pub security_hub: Switch,
    /// Put every notified finding on this EventBridge bus (a name or ARN).
    #[serde(deserialize_with = "optional_text")]
    pub event_bus: Option<EventBus>,
    /// `ec2`: describe the interfaces of notified findings.
    #[serde(deserialize_with = "optional_text")]
    pub enrich: Option<Enrich>,
    /// The role to assume for an interface of another account, with
    /// `{account}` for its account id.
    #[serde(deserialize_with = "optional_text")]
    pub enrich_role: Option<RolePattern>,
    /// SNS messages per topic per minute, at most, across all invocations
    /// (with a state table); the rest are held and sent as a digest.
    #[serde(deserialize_with = "count")]
    pub max_messages_per_minute: u64,
    /// The Glue database the email's evidence queries name.
    #[serde(deserialize_with = "text")]
    pub athena_database: GlueName,
}

impl Default for Delivery {
    fn default() -> Delivery {
        Delivery {
            security_hub: Switch(false),
            event_bus: None,
            enrich: None,
            enrich_role: None,
            max_messages_per_minute: 30,
            athena_database: GlueName("flowguard".into()),
        }
    }
}

/// `true` or `false` (also `1`/`0`, `yes`/`no`, `on`/`off`; empty is off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Switch(pub bool);

impl FromStr for Switch {
    type Err = String;
    fn from_str(s: &str) -> Result<Switch, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Switch(true)),
            "false" | "0" | "no" | "off" | "" => Ok(Switch(false)),
            other => Err(format!("'{other}' is not true or false")),
        }
    }
}

/// An EventBridge bus: a name (`default`, `security`) or an ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBus(pub String);

impl FromStr for EventBus {
    type Err = String;
    fn from_str(s: &str) -> Result<EventBus, String> {
        let s = s.trim();
        let name = |n: &str| {
            (1..=256).contains(&n.len())
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
        };
        let ok = match s.strip_prefix("arn:") {
            Some(rest) => {
                let parts: Vec<&str> = rest.splitn(5, ':').collect();
                parts.len() == 5
                    && parts[1] == "events"
                    && parts[4].strip_prefix("event-bus/").is_some_and(name)
            }
            None => name(s),
        };
        if ok {
            Ok(EventBus(s.to_string()))
        } else {
            Err(format!(
                "'{s}' is not an EventBridge bus name or ARN (arn:aws:events:REGION:ACCOUNT:event-bus/NAME)"
            ))
        }
    }
}

/// What enriches findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrich {
    /// `DescribeNetworkInterfaces`.
    Ec2,
}

impl FromStr for Enrich {
    type Err = String;
    fn from_str(s: &str) -> Result<Enrich, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ec2" => Ok(Enrich::Ec2),
            other => Err(format!("'{other}' is not an enrichment (ec2)")),
        }
    }
}

/// A role ARN, `{account}` standing for the interface's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePattern(pub String);

impl RolePattern {
    /// The role for `account` (12 digits, checked by the caller).
    pub fn for_account(&self, account: &str) -> String {
        self.0.replace("{account}", account)
    }
}

impl FromStr for RolePattern {
    type Err = String;
    fn from_str(s: &str) -> Result<RolePattern, String> {
        let s = s.trim();
        let filled = s.replace("{account}", "123456789012");
        let parts: Vec<&str> = filled.splitn(6, ':').collect();
        let ok = parts.len() == 6
            && parts[0] == "arn"
            && parts[2] == "iam"
            && parts[4].len() == 12
            && parts[4].bytes().all(|b| b.is_ascii_digit())
            && parts[5].strip_prefix("role/").is_some_and(|r| {
                !r.is_empty()
                    && r.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
            });
        if ok {
            Ok(RolePattern(s.to_string()))
        } else {
            Err(format!(
                "'{s}' is not a role ARN (arn:aws:iam::{{account}}:role/NAME, {{account}} standing for the account id)"
            ))
        }
    }
}

/// A Glue database name (lower-case letters, digits and `_`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlueName(pub String);

impl FromStr for GlueName {
    type Err = String;
    fn from_str(s: &str) -> Result<GlueName, String> {
        let s = s.trim();
        if !s.is_empty()
            && s.len() <= 255
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            Ok(GlueName(s.to_string()))
        } else {
            Err(format!("'{s}' is not a Glue database name (a-z, 0-9, _)"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert!("true".parse::<Switch>().unwrap().0);
        assert!(!"".parse::<Switch>().unwrap().0);
        assert!("maybe".parse::<Switch>().is_err());
        assert!("security".parse::<EventBus>().is_ok());
        assert!("arn:aws:events:us-east-1:123456789012:event-bus/security"
            .parse::<EventBus>()
            .is_ok());
        assert!("arn:aws:sns:us-east-1:1:t".parse::<EventBus>().is_err());
        assert!("a b".parse::<EventBus>().is_err());
        assert_eq!("EC2".parse::<Enrich>(), Ok(Enrich::Ec2));
        let r: RolePattern = "arn:aws:iam::{account}:role/flowguard-enrich"
            .parse()
            .unwrap();
        assert_eq!(
            r.for_account("210987654321"),
            "arn:aws:iam::210987654321:role/flowguard-enrich"
        );
        assert!("arn:aws:iam::{account}:user/x"
            .parse::<RolePattern>()
            .is_err());
        assert!("flowguard_db".parse::<GlueName>().is_ok());
        assert!("x'; DROP".parse::<GlueName>().is_err());
    }
}
