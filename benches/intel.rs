//! Micro-benchmark of threat-list lookups (no framework, like `engine`):
//! how much a lookup of every record's two addresses costs, for the
//! matcher flowguard uses and the alternatives it was chosen against.
//!
//!     cargo bench --bench intel
//!     cargo bench --bench intel -- --records 1000000 --entries 250000 --runs 7
//!
//! The addresses are those of generated v2 records (`flowguard::generate`,
//! the traffic of `make bench`'s objects); the list is random public IPv4
//! addresses, /24 networks and IPv6 /48 networks, plus 20 internet sources
//! of the traffic itself, like `scripts/bench.py --threat-list`. Variants,
//! each over the same `IpAddr`s and checked to find the same matches:
//!   (a) the loop alone (reading the addresses);
//!   (b) one binary search over all disjoint ranges;
//!   (c) (b) within the ranges of the address's /16 block, through a
//!       65,537-entry index;
//!   (d) (c) behind a bitmap of the /16 blocks holding a listed address
//!       (8 KiB);
//!   (e) flowguard's `ThreatSet::lookup`: (c) behind a bitmap of the /24
//!       blocks holding a listed address (2 MiB of address space);
//!   (f) one hash set per prefix length (here /32 and /24).
//! Plus the time to parse the list and build the matcher.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use flowguard::generate::{generate, GenFormat, GenOptions};
use flowguard::intel::{parse_threat_list, ThreatSet};
use rustc_hash::FxHashSet;

struct Args {
    records: u64,
    entries: usize,
    runs: usize,
}

/// `cargo test --all-targets` runs this binary without `--bench`: a small
/// smoke run then.
fn args() -> Args {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let mut a = Args {
        records: if smoke { 5_000 } else { 1_000_000 },
        entries: if smoke { 5_000 } else { 250_000 },
        runs: if smoke { 1 } else { 7 },
    };
    if smoke {
        println!("intel bench: smoke run (no --bench), numbers are not meaningful");
    }
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> u64 {
            it.next()
                .and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match arg.as_str() {
            "--records" => a.records = num("--records"),
            "--entries" => a.entries = num("--entries") as usize,
            "--runs" => a.runs = num("--runs").max(1) as usize,
            _ => {}
        }
    }
    a
}

/// xorshift64*: a fixed sequence for the list.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn public_v4(&mut self) -> u32 {
        loop {
            let a = self.next() as u32;
            let o = a.to_be_bytes();
            let reserved = matches!(o[0], 0 | 10 | 127)
                || o[0] >= 224
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 169 && o[1] == 254)
                || (o[0] == 172 && (16..32).contains(&o[1]))
                || (o[0] == 192 && o[1] == 168);
            if !reserved {
                return a;
            }
        }
    }
}

/// Median and minimum of `runs` timed runs of `f`, after a warm-up.
fn measure(runs: usize, mut f: impl FnMut() -> u64) -> (Duration, Duration, u64) {
    let hits = black_box(f());
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[0], hits)
}

/// Sorted disjoint IPv4 ranges and the lookup structures of (b)-(e).
struct Ranges {
    ranges: Vec<(u32, u32)>,
    index: Vec<u32>,
    bits16: Vec<u64>,
}

impl Ranges {
    fn new(mut nets: Vec<(u32, u32)>) -> Ranges {
        nets.sort_unstable_by_key(|n| (n.0, std::cmp::Reverse(n.1)));
        let mut ranges: Vec<(u32, u32)> = Vec::with_capacity(nets.len());
        for (first, last) in nets {
            match ranges.last_mut() {
                // Nested or touching: one range (which entry does not
                // matter for the cost of a lookup).
                Some(prev) if u64::from(first) <= u64::from(prev.1) + 1 => {
                    prev.1 = prev.1.max(last)
                }
                _ => ranges.push((first, last)),
            }
        }
        let mut index = vec![0u32; (1 << 16) + 1];
        let mut bits16 = vec![0u64; (1 << 16) / 64];

        for &(first, last) in &ranges {
            index[(first >> 16) as usize + 1] += 1;
            for b in (first >> 16)..=(last >> 16) {
                bits16[b as usize >> 6] |= 1 << (b & 63);
            }
        }
        for b in 0..1 << 16 {
            index[b + 1] += index[b];
        }
        Ranges {
            ranges,
            index,
            bits16,
        }
    }

    #[inline]
    fn all(&self, a: u32) -> bool {
        let i = self.ranges.partition_point(|r| r.0 <= a);
        i > 0 && self.ranges[i - 1].1 >= a
    }

    #[inline]
    fn indexed(&self, a: u32) -> bool {
        let b = (a >> 16) as usize;
        let (lo, hi) = (self.index[b] as usize, self.index[b + 1] as usize);
        let i = lo + self.ranges[lo..hi].partition_point(|r| r.0 <= a);
        i > 0 && self.ranges[i - 1].1 >= a
    }

    #[inline]
    fn bitmap16(&self, a: u32) -> bool {
        let b = (a >> 16) as usize;
        self.bits16[b >> 6] & (1 << (b & 63)) != 0 && self.indexed(a)
    }
}

/// Counts the addresses `f` finds (IPv4 only: the list's IPv6 networks
/// are not in the traffic).
fn count(addrs: &[IpAddr], f: impl Fn(u32) -> bool) -> u64 {
    addrs
        .iter()
        .filter(|ip| match ip {
            IpAddr::V4(v) => f(u32::from(*v)),
            IpAddr::V6(_) => false,
        })
        .count() as u64
}

fn main() {
    let a = args();
    let t = Instant::now();
    let mut text = Vec::new();
    generate(
        &mut text,
        &GenOptions {
            records: a.records,
            seed: 7,
            format: GenFormat::V2,
            ..GenOptions::default()
        },
    )
    .expect("generate into a Vec");
    let mut addrs: Vec<IpAddr> = Vec::with_capacity(a.records as usize * 2);
    for line in text.split(|b| *b == b'\n').skip(1) {
        let mut f = line.split(|b| *b == b' ').skip(3);
        for field in [f.next(), f.next()].into_iter().flatten() {
            if let Some(ip) = std::str::from_utf8(field).ok().and_then(|s| s.parse().ok()) {
                addrs.push(ip);
            }
        }
    }
    let v4: Vec<u32> = addrs
        .iter()
        .filter_map(|ip| match ip {
            IpAddr::V4(v) => Some(u32::from(*v)),
            IpAddr::V6(_) => None,
        })
        .collect();

    // The list: 20 internet sources of the traffic, then random entries.
    let mut rng = Rng(0x5EED_1157);
    let mut list = String::from("ip,label\n");
    let mut nets: Vec<(u32, u32)> = Vec::new();
    let mut exact: FxHashSet<u32> = FxHashSet::default();
    let mut slash24: FxHashSet<u32> = FxHashSet::default();
    let ours: Vec<u32> = v4
        .iter()
        .copied()
        .filter(|x| x >> 24 != 10)
        .step_by(997)
        .take(20)
        .collect();
    for (i, x) in ours.iter().enumerate() {
        list.push_str(&format!("{},c2 {i}\n", std::net::Ipv4Addr::from(*x)));
        nets.push((*x, *x));
        exact.insert(*x);
    }
    let mut entries = ours.len();
    while entries < a.entries {
        entries += 1;
        let roll = rng.next() % 100;
        if roll < 95 {
            let x = rng.public_v4();
            list.push_str(&format!("{},scanner\n", std::net::Ipv4Addr::from(x)));
            nets.push((x, x));
            exact.insert(x);
        } else if roll < 98 {
            let x = rng.public_v4() & 0xFFFF_FF00;
            list.push_str(&format!("{}/24,botnet\n", std::net::Ipv4Addr::from(x)));
            nets.push((x, x | 0xFF));
            slash24.insert(x >> 8);
        } else {
            let (p, q) = (rng.next() as u16, rng.next() as u16);
            list.push_str(&format!("2a01:{p:x}:{q:x}::/48,tor exit\n"));
        }
    }
    let prepared = t.elapsed();

    let t = Instant::now();
    let parsed = parse_threat_list("bench.csv", "bench.csv", list.as_bytes()).expect("list parses");
    let parse = t.elapsed();
    let t = Instant::now();
    let set = ThreatSet::build(std::slice::from_ref(&parsed));
    let build = t.elapsed();
    let ranges = Ranges::new(nets);
    println!(
        "intel bench: {} addresses of {} generated records ({} IPv4); a list of {} entries \
         ({} IPv4 ranges after merging, {:.1} MB of CSV); prepared in {prepared:.2?}",
        addrs.len(),
        a.records,
        v4.len(),
        parsed.entries.len(),
        set.ranges(),
        list.len() as f64 / 1e6,
    );
    println!("loading: parse {parse:.2?}, build {build:.2?} (one run)");

    let per = |d: Duration| d.as_nanos() as f64 / addrs.len() as f64;
    let report = |name: &str, (med, min, hits): (Duration, Duration, u64)| {
        println!(
            "{name:<44} {:>6.2} ns/address (min {:>6.2}); {hits} matches",
            per(med),
            per(min)
        );
        hits
    };
    report(
        "(a) the loop alone",
        measure(a.runs, || {
            addrs.iter().filter(|ip| black_box(**ip).is_ipv6()).count() as u64
        }),
    );
    let b = report(
        "(b) binary search over all ranges",
        measure(a.runs, || count(&addrs, |x| ranges.all(x))),
    );
    let c = report(
        "(c) /16 index + binary search",
        measure(a.runs, || count(&addrs, |x| ranges.indexed(x))),
    );
    let d = report(
        "(d) /16 bitmap + index + search",
        measure(a.runs, || count(&addrs, |x| ranges.bitmap16(x))),
    );
    let e = report(
        "(e) flowguard: /24 bitmap + index + search",
        measure(a.runs, || {
            addrs.iter().filter(|ip| set.lookup(**ip).is_some()).count() as u64
        }),
    );
    let f = report(
        "(f) a hash set per prefix length",
        measure(a.runs, || {
            count(&addrs, |x| {
                exact.contains(&x) || slash24.contains(&(x >> 8))
            })
        }),
    );
    assert!(
        b == c && c == d && d == e && e == f,
        "every variant finds the same matches"
    );
}
