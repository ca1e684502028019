//! The shapes of AWS identifiers that flow-log records carry. Anyone who
//! can write to the log bucket controls every text field of a record, and
//! these fields end up in findings, emails, console links, queries and S3
//! keys; a value that does not have its AWS shape is left out (and
//! counted) instead. A leaf module.

/// `prefix-` followed by 8 to 17 lower-case hex digits (the old 8-digit and
/// the current 17-digit resource ids).
fn resource(v: &[u8], prefix: &[u8]) -> bool {
    let Some(hex) = v.strip_prefix(prefix) else {
        return false;
    };
    (8..=17).contains(&hex.len())
        && hex
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

/// An EC2 instance id, `i-0123456789abcdef0`.
pub fn is_instance_id(v: &[u8]) -> bool {
    resource(v, b"i-")
}

/// A network interface id, `eni-0123456789abcdef0`.
pub fn is_interface_id(v: &[u8]) -> bool {
    resource(v, b"eni-")
}

/// A VPC id, `vpc-0123456789abcdef0`.
pub fn is_vpc_id(v: &[u8]) -> bool {
    resource(v, b"vpc-")
}

/// A subnet id, `subnet-0123456789abcdef0`.
pub fn is_subnet_id(v: &[u8]) -> bool {
    resource(v, b"subnet-")
}

/// A security group id, `sg-0123456789abcdef0`.
pub fn is_security_group_id(v: &[u8]) -> bool {
    resource(v, b"sg-")
}

/// An AWS account id: 12 digits.
pub fn is_account_id(v: &[u8]) -> bool {
    v.len() == 12 && v.iter().all(u8::is_ascii_digit)
}

/// An AWS region name: `us-east-1`, `eu-central-2`, `us-gov-west-1`,
/// `cn-north-1`: lower-case letters and digits in 3 to 5 parts.
pub fn is_region(v: &[u8]) -> bool {
    let parts: Vec<&[u8]> = v.split(|b| *b == b'-').collect();
    v.len() <= 25
        && (3..=5).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.iter().all(u8::is_ascii_digit))
}

/// The AWS partition of a region: `aws-cn` for `cn-*`, `aws-us-gov` for
/// `us-gov-*`, else `aws`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The EC2 console page of an instance or interface id (checked against
/// its shape, else `None`) in `region` (also checked).
pub fn ec2_console_url(region: &str, id: &str) -> Option<String> {
    if !is_region(region.as_bytes()) {
        return None;
    }
    let fragment = if is_instance_id(id.as_bytes()) {
        format!("InstanceDetails:instanceId={id}")
    } else if is_interface_id(id.as_bytes()) {
        format!("NetworkInterface:networkInterfaceId={id}")
    } else {
        return None;
    };
    let host = match partition(region) {
        "aws-cn" => format!("{region}.console.amazonaws.cn"),
        "aws-us-gov" => "console.amazonaws-us-gov.com".to_string(),
        _ => format!("{region}.console.aws.amazon.com"),
    };
    Some(format!(
        "https://{host}/ec2/home?region={region}#{fragment}"
    ))
}

/// The ARN of an instance or interface id (checked against its shape),
/// in `region` and `account` (checked), else `None`.
pub fn ec2_arn(region: &str, account: &str, id: &str) -> Option<String> {
    if !is_region(region.as_bytes()) || !is_account_id(account.as_bytes()) {
        return None;
    }
    let kind = if is_instance_id(id.as_bytes()) {
        "instance"
    } else if is_interface_id(id.as_bytes()) {
        "network-interface"
    } else {
        return None;
    };
    Some(format!(
        "arn:{}:ec2:{region}:{account}:{kind}/{id}",
        partition(region)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Shape = fn(&[u8]) -> bool;

    #[test]
    fn shapes() {
        let good: [(&str, Shape); 8] = [
            ("i-0123456789abcdef0", is_instance_id),
            ("i-1a2b3c4d", is_instance_id),
            ("eni-0a1b2c3d4e5f60718", is_interface_id),
            ("vpc-0a1b2c3d", is_vpc_id),
            ("subnet-0a1b2c3d4e5f60718", is_subnet_id),
            ("sg-0a1b2c3d", is_security_group_id),
            ("123456789012", is_account_id),
            ("us-gov-west-1", is_region),
        ];
        for (v, f) in good {
            assert!(f(v.as_bytes()), "{v}");
        }
        let bad: [(&str, Shape); 11] = [
            ("i-0123", is_instance_id),
            ("i-0123456789ABCDEF0", is_instance_id),
            ("i-0123456789abcdef0'; DROP", is_instance_id),
            ("eni-1", is_interface_id),
            ("eni-0a1b2c3d%0d%0a", is_interface_id),
            ("<script>", is_vpc_id),
            ("subnet-https://x", is_subnet_id),
            ("12345678901", is_account_id),
            ("1234567890ab", is_account_id),
            ("us-east-1/../x", is_region),
            ("US-EAST-1", is_region),
        ];
        for (v, f) in bad {
            assert!(!f(v.as_bytes()), "{v}");
        }
        assert!(is_region(b"eu-central-2") && is_region(b"cn-north-1"));
    }

    #[test]
    fn console_links_and_arns_per_partition() {
        let i = "i-0123456789abcdef0";
        assert_eq!(
            ec2_console_url("us-east-1", i).unwrap(),
            "https://us-east-1.console.aws.amazon.com/ec2/home?region=us-east-1#InstanceDetails:instanceId=i-0123456789abcdef0"
        );
        assert!(ec2_console_url("cn-north-1", i)
            .unwrap()
            .starts_with("https://cn-north-1.console.amazonaws.cn/"));
        assert!(ec2_console_url("us-gov-west-1", "eni-0a1b2c3d")
            .unwrap()
            .starts_with(
            "https://console.amazonaws-us-gov.com/ec2/home?region=us-gov-west-1#NetworkInterface:"
        ));
        assert_eq!(ec2_console_url("us-east-1", "i-<x>"), None);
        assert_eq!(ec2_console_url("us-east-1/../", i), None);
        assert_eq!(
            ec2_arn("us-gov-west-1", "123456789012", "eni-0a1b2c3d").unwrap(),
            "arn:aws-us-gov:ec2:us-gov-west-1:123456789012:network-interface/eni-0a1b2c3d"
        );
        assert_eq!(ec2_arn("us-east-1", "unknown", i), None);
    }
}
