//! The catalogue of flow-log fields AWS documents, with the type each one
//! parses to and the format version that introduced it.

/// How a column's text is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// An unsigned integer no larger than `max`.
    Int {
        /// Largest accepted value (inclusive).
        max: u64,
    },
    /// An IPv4 or IPv6 address.
    Addr,
    /// `ACCEPT` or `REJECT`.
    Action,
    /// `OK`, `NODATA` or `SKIPDATA`.
    LogStatus,
    /// `ingress` or `egress`.
    Direction,
    /// Free text carried through as is.
    Text,
}

/// A flow-log field known to flowguard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Field(pub(crate) u16);

/// One row of the field catalogue.
#[derive(Debug)]
pub struct FieldSpec {
    /// The hyphenated name used in flow-log headers.
    pub name: &'static str,
    /// How the value is parsed.
    pub kind: FieldKind,
    /// The format version that introduced the field.
    pub version: u8,
}

const U8: FieldKind = FieldKind::Int {
    max: u8::MAX as u64,
};
const U16: FieldKind = FieldKind::Int {
    max: u16::MAX as u64,
};
const U64: FieldKind = FieldKind::Int { max: u64::MAX };
const TEXT: FieldKind = FieldKind::Text;

macro_rules! catalogue {
    ($($konst:ident = $name:literal, $kind:expr, $ver:literal;)*) => {
        /// Every known field, in catalogue order.
        pub static FIELDS: &[FieldSpec] = &[
            $(FieldSpec { name: $name, kind: $kind, version: $ver },)*
        ];
        #[allow(missing_docs)]
        impl Field {
            catalogue!(@consts 0u16; $($konst,)*);
        }
    };
    (@consts $n:expr; $konst:ident, $($rest:ident,)*) => {
        pub const $konst: Field = Field($n);
        catalogue!(@consts $n + 1u16; $($rest,)*);
    };
    (@consts $n:expr;) => {};
}

catalogue! {
    VERSION = "version", U8, 2;
    ACCOUNT_ID = "account-id", TEXT, 2;
    INTERFACE_ID = "interface-id", TEXT, 2;
    SRCADDR = "srcaddr", FieldKind::Addr, 2;
    DSTADDR = "dstaddr", FieldKind::Addr, 2;
    SRCPORT = "srcport", U16, 2;
    DSTPORT = "dstport", U16, 2;
    PROTOCOL = "protocol", U8, 2;
    PACKETS = "packets", U64, 2;
    BYTES = "bytes", U64, 2;
    START = "start", U64, 2;
    END = "end", U64, 2;
    ACTION = "action", FieldKind::Action, 2;
    LOG_STATUS = "log-status", FieldKind::LogStatus, 2;
    VPC_ID = "vpc-id", TEXT, 3;
    SUBNET_ID = "subnet-id", TEXT, 3;
    INSTANCE_ID = "instance-id", TEXT, 3;
    TCP_FLAGS = "tcp-flags", U16, 3;
    TYPE = "type", TEXT, 3;
    PKT_SRCADDR = "pkt-srcaddr", FieldKind::Addr, 3;
    PKT_DSTADDR = "pkt-dstaddr", FieldKind::Addr, 3;
    REGION = "region", TEXT, 4;
    AZ_ID = "az-id", TEXT, 4;
    SUBLOCATION_TYPE = "sublocation-type", TEXT, 4;
    SUBLOCATION_ID = "sublocation-id", TEXT, 4;
    PKT_SRC_AWS_SERVICE = "pkt-src-aws-service", TEXT, 5;
    PKT_DST_AWS_SERVICE = "pkt-dst-aws-service", TEXT, 5;
    FLOW_DIRECTION = "flow-direction", FieldKind::Direction, 5;
    TRAFFIC_PATH = "traffic-path", U8, 5;
    RESOURCE_TYPE = "resource-type", TEXT, 6;
    TGW_ID = "tgw-id", TEXT, 6;
    TGW_ATTACHMENT_ID = "tgw-attachment-id", TEXT, 6;
    TGW_SRC_VPC_ACCOUNT_ID = "tgw-src-vpc-account-id", TEXT, 6;
    TGW_DST_VPC_ACCOUNT_ID = "tgw-dst-vpc-account-id", TEXT, 6;
    TGW_SRC_VPC_ID = "tgw-src-vpc-id", TEXT, 6;
    TGW_DST_VPC_ID = "tgw-dst-vpc-id", TEXT, 6;
    TGW_SRC_SUBNET_ID = "tgw-src-subnet-id", TEXT, 6;
    TGW_DST_SUBNET_ID = "tgw-dst-subnet-id", TEXT, 6;
    TGW_SRC_ENI = "tgw-src-eni", TEXT, 6;
    TGW_DST_ENI = "tgw-dst-eni", TEXT, 6;
    TGW_SRC_AZ_ID = "tgw-src-az-id", TEXT, 6;
    TGW_DST_AZ_ID = "tgw-dst-az-id", TEXT, 6;
    TGW_PAIR_ATTACHMENT_ID = "tgw-pair-attachment-id", TEXT, 6;
    PACKETS_LOST_NO_ROUTE = "packets-lost-no-route", U64, 6;
    PACKETS_LOST_BLACKHOLE = "packets-lost-blackhole", U64, 6;
    PACKETS_LOST_MTU_EXCEEDED = "packets-lost-mtu-exceeded", U64, 6;
    PACKETS_LOST_TTL_EXPIRED = "packets-lost-ttl-expired", U64, 6;
    ECS_CLUSTER_ARN = "ecs-cluster-arn", TEXT, 7;
    ECS_CLUSTER_NAME = "ecs-cluster-name", TEXT, 7;
    ECS_CONTAINER_INSTANCE_ARN = "ecs-container-instance-arn", TEXT, 7;
    ECS_CONTAINER_INSTANCE_ID = "ecs-container-instance-id", TEXT, 7;
    ECS_CONTAINER_ID = "ecs-container-id", TEXT, 7;
    ECS_SECOND_CONTAINER_ID = "ecs-second-container-id", TEXT, 7;
    ECS_SERVICE_NAME = "ecs-service-name", TEXT, 7;
    ECS_TASK_DEFINITION_ARN = "ecs-task-definition-arn", TEXT, 7;
    ECS_TASK_ARN = "ecs-task-arn", TEXT, 7;
    ECS_TASK_ID = "ecs-task-id", TEXT, 7;
    REJECT_REASON = "reject-reason", TEXT, 8;
    RESOURCE_ID = "resource-id", TEXT, 9;
    ENCRYPTION_STATUS = "encryption-status", U8, 10;
    INTERFACE_TYPE = "interface-type", TEXT, 11;
    NEXT_HOP_TYPE = "next-hop-type", TEXT, 11;
    NEXT_HOP_ID = "next-hop-id", TEXT, 11;
}

/// The 14 columns of the default (version 2) format, used when an object has
/// no header line.
pub const DEFAULT_V2: [Field; 14] = [
    Field::VERSION,
    Field::ACCOUNT_ID,
    Field::INTERFACE_ID,
    Field::SRCADDR,
    Field::DSTADDR,
    Field::SRCPORT,
    Field::DSTPORT,
    Field::PROTOCOL,
    Field::PACKETS,
    Field::BYTES,
    Field::START,
    Field::END,
    Field::ACTION,
    Field::LOG_STATUS,
];

impl Field {
    /// Looks a header name up in the catalogue.
    pub fn from_name(name: &str) -> Option<Field> {
        FIELDS
            .iter()
            .position(|f| f.name == name)
            .map(|i| Field(i as u16))
    }

    /// The catalogue row of this field.
    pub fn spec(self) -> &'static FieldSpec {
        &FIELDS[self.0 as usize]
    }

    /// The hyphenated header name.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// How the field is parsed.
    pub fn kind(self) -> FieldKind {
        self.spec().kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_constants_match_names() {
        assert_eq!(Field::VERSION.name(), "version");
        assert_eq!(Field::LOG_STATUS.name(), "log-status");
        assert_eq!(
            Field::TGW_PAIR_ATTACHMENT_ID.name(),
            "tgw-pair-attachment-id"
        );
        assert_eq!(Field::REJECT_REASON.name(), "reject-reason");
        assert_eq!(Field::NEXT_HOP_ID.name(), "next-hop-id");
        assert_eq!(
            Field::from_name("pkt-dst-aws-service"),
            Some(Field::PKT_DST_AWS_SERVICE)
        );
        assert_eq!(Field::from_name("no-such-field"), None);
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in FIELDS.iter().enumerate() {
            for b in &FIELDS[i + 1..] {
                assert_ne!(a.name, b.name);
            }
        }
    }
}
