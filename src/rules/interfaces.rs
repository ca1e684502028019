//! The text columns of one object's records that rules refer to, interned
//! once per distinct value: interface ids (with the instance, VPC and
//! subnet their records name) and account ids. Values without their AWS
//! shape ([`crate::ids`]) are left out.

use rustc_hash::FxHashMap;

use super::evidence::{extend_capped, Evidence, MAX_LISTED_INTERFACES};
use crate::flow::{NO_ACCOUNT, NO_INTERFACE};
use crate::ids;

/// Distinct interface ids remembered per object (AWS objects carry one
/// account's interfaces: hundreds, rarely thousands).
pub const MAX_INTERFACES: usize = 65_536;

/// Interned interface ids of one object, with what the records say about
/// each interface's instance, VPC and subnet.
#[derive(Debug, Default)]
pub struct InterfaceTable {
    ids: FxHashMap<Box<[u8]>, u32>,
    names: Vec<Box<str>>,
    /// By slot.
    meta: Vec<InterfaceMeta>,
    /// The slot of the previous lookup: records of one interface often
    /// come in runs.
    last: Option<u32>,
    /// Distinct interface ids without the `eni-` shape: interned (so
    /// counted once) but never named in a finding.
    refused: u64,
}

impl InterfaceTable {
    /// The slot of an interface id, given as the line's bytes
    /// ([`NO_INTERFACE`] when the table is full or the id is not UTF-8).
    #[inline]
    pub fn intern(&mut self, id: &[u8]) -> u32 {
        if let Some(slot) = self.last {
            if self
                .names
                .get(slot as usize)
                .is_some_and(|n| same_bytes(n.as_bytes(), id))
            {
                return slot;
            }
        }
        let slot = match self.ids.get(id) {
            Some(s) => *s,
            None if self.names.len() < MAX_INTERFACES => {
                let Ok(name) = std::str::from_utf8(id) else {
                    return NO_INTERFACE;
                };
                let s = self.names.len() as u32;
                let forged = !ids::is_interface_id(id);
                self.refused += u64::from(forged);
                self.names.push(name.into());
                self.meta.push(InterfaceMeta {
                    forged,
                    ..InterfaceMeta::default()
                });
                self.ids.insert(id.into(), s);
                s
            }
            None => return NO_INTERFACE,
        };
        self.last = Some(slot);
        slot
    }

    /// Distinct interface ids refused for their shape.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// All names, by slot.
    pub fn into_names(self) -> Vec<String> {
        self.names.into_iter().map(String::from).collect()
    }

    /// Names and metadata, by slot.
    pub fn into_parts(self) -> (Vec<String>, Vec<InterfaceMeta>) {
        let names = self.names.into_iter().map(String::from).collect();
        (names, self.meta)
    }

    /// Whether the metadata of `slot` is still worth reading from its
    /// records: the first few records of an interface decide it.
    #[inline]
    pub fn wants_meta(&self, slot: u32) -> bool {
        self.meta
            .get(slot as usize)
            .is_some_and(|m| m.tries < META_TRIES && !m.forged && !m.complete())
    }

    /// Notes the `instance-id`, `vpc-id` and `subnet-id` of one record of
    /// `slot` (each `None` when absent); a value without its AWS shape is
    /// left out and counted in the returned number.
    pub fn note_meta(
        &mut self,
        slot: u32,
        instance: Option<&[u8]>,
        vpc: Option<&[u8]>,
        subnet: Option<&[u8]>,
    ) -> u64 {
        let Some(m) = self.meta.get_mut(slot as usize) else {
            return 0;
        };
        m.tries = m.tries.saturating_add(1);
        let mut refused = 0;
        let refused_before = m.refused;
        let mut refused_now = 0u8;
        for (bit, value, field, valid) in [
            (
                1u8,
                instance,
                &mut m.instance_id,
                ids::is_instance_id as fn(&[u8]) -> bool,
            ),
            (2, vpc, &mut m.vpc_id, ids::is_vpc_id),
            (4, subnet, &mut m.subnet_id, ids::is_subnet_id),
        ] {
            let Some(v) = value else { continue };
            if field.is_some() {
                continue;
            }
            match std::str::from_utf8(v) {
                Ok(t) if valid(v) => *field = Some(t.into()),
                // Counted once per interface and field: the records of
                // one interface repeat the same forged value.
                _ if refused_before & bit == 0 => {
                    refused_now |= bit;
                    refused += 1;
                }
                _ => {}
            }
        }
        m.refused |= refused_now;
        refused
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no interface was seen.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// `a == b` for short ids without a call into `memcmp`: eight bytes at a
/// time.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        if u64::from_ne_bytes(x.try_into().unwrap_or_default())
            != u64::from_ne_bytes(y.try_into().unwrap_or_default())
        {
            return false;
        }
    }
    ca.remainder()
        .iter()
        .zip(cb.remainder())
        .all(|(x, y)| x == y)
}

/// Records of an interface read for its metadata before giving up.
const META_TRIES: u8 = 8;

/// What the records say about the resource behind an interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceMeta {
    /// `instance-id`.
    pub instance_id: Option<Box<str>>,
    /// `vpc-id`.
    pub vpc_id: Option<Box<str>>,
    /// `subnet-id`.
    pub subnet_id: Option<Box<str>>,
    tries: u8,
    /// Fields whose value was refused (bits 1, 2, 4).
    refused: u8,
    /// The interface id itself lacks its shape: the interface is never
    /// named, nor its metadata read.
    forged: bool,
}

impl InterfaceMeta {
    fn complete(&self) -> bool {
        self.instance_id.is_some() && self.vpc_id.is_some() && self.subnet_id.is_some()
    }
}

/// Distinct record accounts kept per object (a shared VPC's flow log names
/// its participants' accounts: a handful).
pub const MAX_ACCOUNTS: usize = 256;

/// The `account-id`s of one object's records, interned: the same private
/// address in two accounts is two hosts.
#[derive(Debug, Default)]
pub struct AccountTable {
    ids: Vec<[u8; 12]>,
    last: Option<(u32, [u8; 12])>,
    refused: RefusedValues,
}

impl AccountTable {
    /// The slot of an account id, [`NO_ACCOUNT`] for a value that is not
    /// 12 digits or when the table is full.
    #[inline]
    pub fn intern(&mut self, id: &[u8]) -> u32 {
        if let Some((slot, last)) = &self.last {
            if id == last {
                return *slot;
            }
        }
        let Ok(id12) = <[u8; 12]>::try_from(id).map_err(|_| ()).and_then(|a| {
            if ids::is_account_id(&a) {
                Ok(a)
            } else {
                Err(())
            }
        }) else {
            self.refused.note(id);
            return NO_ACCOUNT;
        };
        let slot = match self.ids.iter().position(|a| *a == id12) {
            Some(i) => i as u32,
            None if self.ids.len() < MAX_ACCOUNTS => {
                self.ids.push(id12);
                (self.ids.len() - 1) as u32
            }
            None => return NO_ACCOUNT,
        };
        self.last = Some((slot, id12));
        slot
    }

    /// Distinct values refused for their shape.
    pub fn refused(&self) -> u64 {
        self.refused.count()
    }

    /// The account ids, by slot.
    pub fn into_names(self) -> Vec<String> {
        self.ids
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }
}

/// Distinct refused values remembered, by hash, to count each once.
const MAX_REFUSED_REMEMBERED: usize = 1024;

/// Counts distinct refused values in bounded memory: once
/// [`MAX_REFUSED_REMEMBERED`] are remembered, each further refusal of a
/// value not remembered counts again (an over-count, never a miss).
#[derive(Debug, Default)]
pub struct RefusedValues {
    seen: rustc_hash::FxHashSet<u64>,
    count: u64,
}

impl RefusedValues {
    /// Notes one refused value.
    pub fn note(&mut self, v: &[u8]) {
        use std::hash::BuildHasher;
        let h = rustc_hash::FxBuildHasher.hash_one(v);
        if self.seen.contains(&h) {
            return;
        }
        if self.seen.len() < MAX_REFUSED_REMEMBERED {
            self.seen.insert(h);
        }
        self.count += 1;
    }

    /// Distinct refused values noted.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// The interfaces and accounts of one object, read-only once it is read:
/// what findings name on our side.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    names: Vec<String>,
    meta: Vec<InterfaceMeta>,
    accounts: Vec<String>,
}

impl Resources {
    /// The object's tables.
    pub fn new(interfaces: InterfaceTable, accounts: AccountTable) -> Resources {
        let (names, meta) = interfaces.into_parts();
        Resources {
            names,
            meta,
            accounts: accounts.into_names(),
        }
    }

    /// The interface id of a slot, `None` for one without the `eni-`
    /// shape.
    pub fn get(&self, slot: usize) -> Option<&String> {
        if self.meta.get(slot).is_none_or(|m| m.forged) {
            return None;
        }
        self.names.get(slot)
    }

    /// The account id of a record's account slot.
    pub fn account(&self, slot: u32) -> Option<&str> {
        self.accounts.get(slot as usize).map(String::as_str)
    }

    /// Fills the interface ids of `slots` into `e`, with the instance, VPC
    /// and subnet ids their records named (each list capped).
    pub fn describe(&self, slots: &[u32], e: &mut Evidence) {
        for &slot in slots {
            if slot == NO_INTERFACE {
                continue;
            }
            let i = slot as usize;
            let Some(n) = self.get(i) else { continue };
            extend_capped(
                &mut e.interfaces,
                std::slice::from_ref(n),
                MAX_LISTED_INTERFACES,
            );
            let Some(m) = self.meta.get(i) else { continue };
            for (value, list) in [
                (&m.instance_id, &mut e.instance_ids),
                (&m.vpc_id, &mut e.vpc_ids),
                (&m.subnet_id, &mut e.subnet_ids),
            ] {
                if let Some(v) = value {
                    extend_capped(list, &[v.to_string()], MAX_LISTED_INTERFACES);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_intern_by_bytes() {
        let mut t = InterfaceTable::default();
        let a = t.intern(b"eni-0a1b2c3d4e5f60718");
        assert_eq!(t.intern(b"eni-0a1b2c3d4e5f60718"), a, "run of one id");
        let b = t.intern(b"eni-0a1b2c3d4e5f60719");
        let c = t.intern(b"eni-1234");
        assert_eq!(t.intern(b"eni-0a1b2c3d4e5f60718"), a, "found in the map");
        assert_ne!(a, b);
        assert_ne!(b, c);
        assert_eq!(t.intern(b"eni-\xff"), NO_INTERFACE, "not UTF-8");
        assert_eq!(t.refused(), 1, "eni-1234 is too short for an interface id");
        assert!(same_bytes(b"", b""));
        assert!(!same_bytes(b"eni-1234", b"eni-1235"));
        assert!(!same_bytes(b"eni-12345678x", b"eni-12345678y"));
        assert_eq!(
            t.into_names(),
            ["eni-0a1b2c3d4e5f60718", "eni-0a1b2c3d4e5f60719", "eni-1234"]
        );
    }

    #[test]
    fn metadata_of_an_interface_from_its_first_records() {
        let mut t = InterfaceTable::default();
        let a = t.intern(b"eni-0a1b2c3d4e5f60718");
        assert!(t.wants_meta(a));
        assert_eq!(
            t.note_meta(a, Some(b"i-0123456789abcdef0"), None, Some(b"<b>")),
            1
        );
        assert_eq!(
            t.note_meta(a, None, Some(b"vpc-0a1b2c3d"), Some(b"subnet-0a1b2c3d")),
            0
        );
        assert!(!t.wants_meta(a), "complete");
        let (_, meta) = t.into_parts();
        assert_eq!(meta[0].instance_id.as_deref(), Some("i-0123456789abcdef0"));
        assert_eq!(meta[0].subnet_id.as_deref(), Some("subnet-0a1b2c3d"));
    }

    #[test]
    fn forged_interface_ids_are_never_named() {
        let mut t = InterfaceTable::default();
        let good = t.intern(b"eni-0a1b2c3d4e5f60718");
        let forged = t.intern(b"eni-x'; DROP TABLE findings;--");
        let url = t.intern(b"https://evil.example/%0d%0a");
        assert_eq!(t.intern(b"https://evil.example/%0d%0a"), url);
        assert_eq!(t.refused(), 2);
        assert!(
            !t.wants_meta(forged),
            "a forged interface's metadata is not read"
        );
        let r = Resources::new(t, AccountTable::default());
        let mut e = Evidence::default();
        r.describe(&[forged, good, url], &mut e);
        assert_eq!(e.interfaces, ["eni-0a1b2c3d4e5f60718"]);
    }

    #[test]
    fn accounts_intern_and_refuse_odd_values() {
        let mut t = AccountTable::default();
        let a = t.intern(b"123456789012");
        assert_eq!(t.intern(b"123456789012"), a);
        let b = t.intern(b"210987654321");
        assert_ne!(a, b);
        assert_eq!(t.intern(b"12345678901x"), NO_ACCOUNT);
        assert_eq!(t.intern(b"1"), NO_ACCOUNT);
        assert_eq!(t.intern(b"1"), NO_ACCOUNT);
        assert_eq!(t.refused(), 2, "each distinct value once");
        assert_eq!(t.into_names(), ["123456789012", "210987654321"]);
    }
}
