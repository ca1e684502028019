//! Networks and ports: CIDR blocks, the trusted networks that decide what
//! "from the internet" means, and port sets with constant-time lookup. A
//! leaf module: configuration, rules and threat lists build on it.

use std::fmt;
use std::net::IpAddr;

/// An IPv4 or IPv6 network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `x::/n` (a bare address is a /32 or /128).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Cidr { addr, prefix })
    }

    /// The address as written (host bits may be set).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length: 0 to 32 for IPv4, 0 to 128 for IPv6.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is inside the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl From<IpAddr> for Cidr {
    /// The one-address network of `addr` (/32 or /128).
    fn from(addr: IpAddr) -> Cidr {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        Cidr { addr, prefix }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The networks whose addresses are "inside": flows from anywhere else are
/// from the internet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedNetworks {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    cidrs: Vec<Cidr>,
}

impl TrustedNetworks {
    /// Builds the set from CIDRs.
    pub fn new(cidrs: Vec<Cidr>) -> TrustedNetworks {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for c in &cidrs {
            match c.addr {
                IpAddr::V4(n) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(c.prefix)).unwrap_or(0);
                    v4.push((u32::from(n) & mask, mask));
                }
                IpAddr::V6(n) => {
                    let mask = u128::MAX
                        .checked_shl(128 - u32::from(c.prefix))
                        .unwrap_or(0);
                    v6.push((u128::from(n) & mask, mask));
                }
            }
        }
        TrustedNetworks { v4, v6, cidrs }
    }

    /// Whether `ip` is in one of the trusted networks.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().any(|(n, m)| a & m == *n)
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().any(|(n, m)| a & m == *n)
            }
        }
    }

    /// The configured networks.
    pub fn cidrs(&self) -> &[Cidr] {
        &self.cidrs
    }
}

/// A set of TCP/UDP ports with constant-time lookup.
#[derive(Clone, PartialEq, Eq)]
pub struct PortSet {
    bits: Box<[u64; 1024]>,
    list: Vec<u16>,
}

impl PortSet {
    /// A set of the given ports.
    pub fn new(ports: &[u16]) -> PortSet {
        let mut bits = Box::new([0u64; 1024]);
        let mut list = ports.to_vec();
        list.sort_unstable();
        list.dedup();
        for &p in &list {
            bits[usize::from(p >> 6)] |= 1 << (p & 63);
        }
        PortSet { bits, list }
    }

    /// Whether `port` is in the set.
    #[inline]
    pub fn contains(&self, port: u16) -> bool {
        self.bits[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }

    /// The ports, sorted.
    pub fn ports(&self) -> &[u16] {
        &self.list
    }
}

impl fmt::Debug for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.list).finish()
    }
}
