//! A multi-hour scenario for correlation across objects: one flow log
//! delivered as a 5-minute object after another, with internet background
//! noise (thousands of sources probing once), benign traffic, and seven
//! attacks and exposures that no single object shows above a threshold:
//!
//! 1. an SSH brute forcer making 4 attempts per object for 2.5 hours;
//! 2. a port scanner trying 8 new ports of one host per object;
//! 3. a sweep of port 445 over 6 new hosts per object;
//! 4. RDP reached from source port 53 (`nmap -g 53`), accepted;
//! 5. an SSH bastion reachable from two admins' home addresses, all along;
//! 6. a source with 10 rejected flows per object (120 an hour);
//! 7. Redis reached from source port 443, accepted.

use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::{
    benign, eni_of, header, write_flow, ExpectedFinding, Flow, GenOptions, Manifest, Rng, Scatter,
};
use crate::time::UtcDateTime;

/// Seconds between objects of one flow log.
pub const OBJECT_SECONDS: u64 = 300;

const BRUTE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 23);
const BASTION: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 20);
const SCANNER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 50);
const SCANNED: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
const SWEEPER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 200);
const RDP_PROBER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);
const RDP_HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 40);
const ADMINS: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(192, 0, 2, 11)];
const ADMIN_BASTION: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
const NOISY: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 77);
const REDIS_PROBER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 99);
const REDIS: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 20);

/// Which objects (by index) each attack appears in, for `objects` objects.
struct Plan {
    brute: std::ops::Range<u64>,
    scan: std::ops::Range<u64>,
    sweep: std::ops::Range<u64>,
    rdp: std::ops::Range<u64>,
    noisy: std::ops::Range<u64>,
    redis: std::ops::Range<u64>,
}

impl Plan {
    /// The attacks placed over `n` objects (96 for 8 hours); the ranges
    /// scale with `n` and each attack spans at least a few objects.
    fn new(n: u64) -> Plan {
        let at = |part: u64| n * part / 96;
        let span = |from: u64, len: u64| at(from)..(at(from) + len).min(n);
        Plan {
            brute: span(12, 30),
            scan: span(20, 12),
            sweep: span(50, 10),
            rdp: span(30, 3),
            noisy: span(60, 20),
            redis: span(70, 2),
        }
    }
}

fn flow(src: Ipv4Addr, dst: Ipv4Addr, sp: u16, dp: u16, accept: bool) -> Flow {
    Flow {
        eni: eni_of(dst),
        src,
        dst,
        sp,
        dp,
        proto: 6,
        packets: if accept { 12 } else { 1 },
        bytes: if accept { 1800 } else { 44 },
        accept,
        status: "OK",
        flags: if accept { 27 } else { 2 },
        ingress: true,
        aws_service: None,
    }
}

/// The attack flows of object `i`.
fn attacks(i: u64, plan: &Plan, rng: &mut Rng) -> Vec<Flow> {
    let mut v = Vec::new();
    let eph = |rng: &mut Rng| super::ephemeral(rng);
    if plan.brute.contains(&i) {
        for _ in 0..4 {
            v.push(flow(BRUTE, BASTION, eph(rng), 22, false));
        }
    }
    if plan.scan.contains(&i) {
        let k = i - plan.scan.start;
        for p in 0..8 {
            let port = 1000 + (k * 8 + p) as u16;
            v.push(flow(SCANNER, SCANNED, eph(rng), port, false));
        }
    }
    if plan.sweep.contains(&i) {
        let k = i - plan.sweep.start;
        for h in 0..6 {
            let host = Ipv4Addr::new(10, 0, 2, (1 + k * 6 + h) as u8);
            v.push(flow(SWEEPER, host, eph(rng), 445, false));
        }
    }
    if plan.rdp.contains(&i) {
        v.push(flow(RDP_PROBER, RDP_HOST, 53, 3389, true));
    }
    // The bastion, all along, from two admins at home.
    v.push(flow(
        ADMINS[(i % 2) as usize],
        ADMIN_BASTION,
        eph(rng),
        22,
        true,
    ));
    if plan.noisy.contains(&i) {
        for k in 0..10u8 {
            let dst = Ipv4Addr::new(10, 0, 1, 11 + k % 2);
            v.push(flow(NOISY, dst, eph(rng), 8080, false));
        }
    }
    if plan.redis.contains(&i) {
        v.push(flow(REDIS_PROBER, REDIS, 443, 6379, true));
    }
    v
}

fn expected() -> Vec<ExpectedFinding> {
    let f = |rule, subject: String| ExpectedFinding { rule, subject };
    let mut v = vec![
        f("admin-port-brute-force", BRUTE.to_string()),
        f("port-scan", SCANNER.to_string()),
        f("port-scan", SWEEPER.to_string()),
        f("admin-port-exposed", format!("{RDP_HOST}:3389/tcp")),
        f("admin-port-exposed", format!("{ADMIN_BASTION}:22/tcp")),
        f("rejected-traffic", NOISY.to_string()),
        f("sensitive-port-exposed", format!("{REDIS}:6379/tcp")),
    ];
    v.sort();
    v
}

/// The AWS key of object `i` under `dir`.
fn object_path(dir: &Path, o: &GenOptions, delivered: u64) -> PathBuf {
    let t = UtcDateTime::from_unix(delivered);
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute
    );
    let suffix = format!("{:08x}", crate::hash::mix64(delivered) as u32);
    dir.join(format!(
        "AWSLogs/{a}/vpcflowlogs/{r}/{:04}/{:02}/{:02}/{a}_vpcflowlogs_{r}_fl-0a1b2c3d4e5f67890_{stamp}_{suffix}.log.gz",
        t.year,
        t.month,
        t.day,
        a = o.account,
        r = o.region
    ))
}

/// Writes `objects` gzip objects of `per_object` records each under `dir`
/// (AWS's key layout, one every [`OBJECT_SECONDS`] from `opts.start`), and
/// returns the manifest of the findings the scenario must produce across
/// them. Noise sources come from a pool far larger than the noise, so none
/// repeats often enough to reach a threshold.
pub fn generate_objects(
    dir: &Path,
    opts: &GenOptions,
    objects: u64,
    per_object: u64,
) -> io::Result<(Manifest, Vec<PathBuf>)> {
    let plan = Plan::new(objects);
    let mut rng = Rng(opts.seed ^ 0x5ce7_a410_0000_0000);
    let mut manifest = Manifest {
        records: 0,
        attack_records: 0,
        nodata: 0,
        skipdata: 0,
        expected: expected(),
    };
    let mut paths = Vec::new();
    for i in 0..objects {
        let start = opts.start + i * OBJECT_SECONDS;
        let path = object_path(dir, opts, start + OBJECT_SECONDS);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut gz = GzEncoder::new(
            io::BufWriter::new(std::fs::File::create(&path)?),
            Compression::fast(),
        );
        writeln!(gz, "{}", header(opts.format))?;
        let attacks = attacks(i, &plan, &mut rng);
        let object_opts = GenOptions {
            // Flows of a 5-minute object start within its aggregation
            // interval (up to 10 minutes, as AWS's).
            start: start.saturating_sub(OBJECT_SECONDS),
            ..opts.clone()
        };
        let total = per_object.max(attacks.len() as u64);
        let mut scatter = Scatter::new(&attacks);
        for left in (1..=total).rev() {
            let f = match scatter.pick(&mut rng, left) {
                Some(f) => f,
                None => benign(&mut rng, 20_000, 2_000_000, opts.seed),
            };
            match f.status {
                "NODATA" => manifest.nodata += 1,
                "SKIPDATA" => manifest.skipdata += 1,
                _ => {}
            }
            write_flow(&mut gz, &f, &object_opts, &mut rng)?;
        }
        gz.finish()?.flush()?;
        manifest.records += total;
        manifest.attack_records += attacks.len() as u64;
        paths.push(path);
    }
    Ok((manifest, paths))
}
