//! Summaries of one object: aggregation into tables, partition keys, and
//! the gzip NDJSON encoding of SPEC §3. Pure: bytes out, no I/O.

mod addrmap;
mod distinct;
mod encode;
mod partition;
mod tables;

pub use addrmap::{Prefetch, HAS_PREFETCH};
pub use distinct::Distinct;
pub use encode::{encode_plain, encode_rows, gzip};
pub use partition::{delivery_time, safe_component, stem_of_key, KeyFacts, PartitionKey};
pub use tables::{AdminRow, PortsRow, RejectedRow, ServicesRow, TableBuilder, Tables, TalkersRow};

/// The summary tables of SPEC section 3 (plus `services`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// Per destination port, protocol and action.
    Ports,
    /// The top addresses by bytes.
    Talkers,
    /// Flows to admin ports, per source, destination, port and action.
    Admin,
    /// Traffic to each service (address and well-known, admin or
    /// sensitive port).
    Services,
    /// The top sources by REJECTed flows.
    Rejected,
    /// One row per finding.
    Findings,
    /// One row per object.
    Files,
}

impl Table {
    /// Every table, in the order they are written (`files` last, so a
    /// complete `files` row means the other tables of the object are there).
    pub const ALL: [Table; 7] = [
        Table::Ports,
        Table::Talkers,
        Table::Admin,
        Table::Services,
        Table::Rejected,
        Table::Findings,
        Table::Files,
    ];

    /// The table's name, the first component of its keys.
    #[inline]
    pub fn name(self) -> &'static str {
        match self {
            Table::Ports => "ports",
            Table::Talkers => "talkers",
            Table::Admin => "admin",
            Table::Services => "services",
            Table::Rejected => "rejected",
            Table::Findings => "findings",
            Table::Files => "files",
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
