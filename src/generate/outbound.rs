//! Our own hosts acting as attackers (SPEC section 9), for the generator:
//! in one object (`generate --outbound`) a scanning, brute-forcing,
//! flooding, uploading and mining instance beside a crawler and a backup to
//! S3 that must stay quiet; and a day of five-minute objects from two
//! accounts (`generate --objects N --outbound`) in which six attacks are
//! spread so that no single object crosses a threshold, among look-alikes:
//! a crawler, a job retrying one dead host, a backup to S3 (v5), a SaaS
//! endpoint every host polls, and the beacon's and uploader's private
//! addresses reused in the other account with little activity.
//!
//! The peers are in 198.18.0.0/15 (benchmarking addresses, outside the
//! trusted networks); our hosts in 10.1.0.0/16, apart from the inbound
//! scenario's.

use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::{
    benign, eni_of, ephemeral, header, write_flow, ExpectedFinding, Flow, GenFormat, GenOptions,
    Manifest, Rng, Scatter, OBJECT_SECONDS,
};
use crate::time::UtcDateTime;

const SCANNER: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 50);
const BRUTE: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 60);
const BRUTE_PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 22);
const FLOODER: Ipv4Addr = Ipv4Addr::new(10, 1, 3, 70);
const VICTIM: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 53);
const BEACON: Ipv4Addr = Ipv4Addr::new(10, 1, 4, 80);
const CONTROLLER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 77);
const UPLOADER: Ipv4Addr = Ipv4Addr::new(10, 1, 5, 90);
const DROP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 55);
const MINER: Ipv4Addr = Ipv4Addr::new(10, 1, 6, 100);
const POOL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 33);
const CRAWLER: Ipv4Addr = Ipv4Addr::new(10, 1, 7, 10);
const RETRIER: Ipv4Addr = Ipv4Addr::new(10, 1, 8, 20);
const DEAD_HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 200);
const BACKUP: Ipv4Addr = Ipv4Addr::new(10, 1, 9, 30);
const S3: Ipv4Addr = Ipv4Addr::new(52, 216, 4, 4);
const SAAS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);

/// The second account of the day.
pub const OTHER_ACCOUNT: &str = "210987654321";

/// An outbound flow from our `src` (egress in v5).
fn out(src: Ipv4Addr, dst: Ipv4Addr, sp: u16, dp: u16, packets: u64, bytes: u64) -> Flow {
    Flow {
        eni: eni_of(src),
        src,
        dst,
        sp,
        dp,
        proto: 6,
        packets,
        bytes,
        accept: true,
        status: "OK",
        flags: 27,
        ingress: false,
        aws_service: None,
    }
}

/// A peer in 198.18.0.0/15 numbered `n` (from 198.18.16.0 on, apart from
/// the fixed peers).
fn peer(n: u64) -> Ipv4Addr {
    let n = n as u32 + (16 << 8);
    Ipv4Addr::new(198, 18 + (n >> 16) as u8 % 2, (n >> 8) as u8, n as u8)
}

/// A lone SYN to `dst:dp` that got no answer.
fn syn(src: Ipv4Addr, dst: Ipv4Addr, dp: u16, rng: &mut Rng) -> Flow {
    let mut f = out(src, dst, ephemeral(rng), dp, 1, 60);
    f.flags = 2;
    f
}

/// The outbound attacks of one object, each over its threshold in the
/// object alone (an object spans ten minutes, too short for a beacon).
pub(super) fn single_object_attacks(rng: &mut Rng, format: GenFormat) -> Vec<Flow> {
    let mut v = Vec::new();
    for n in 0..40 {
        v.push(syn(SCANNER, peer(n), 22, rng));
    }
    for _ in 0..30 {
        v.push(out(BRUTE, BRUTE_PEER, ephemeral(rng), 22, 8, 1600));
    }
    for _ in 0..20 {
        let mut f = out(FLOODER, VICTIM, ephemeral(rng), 53, 60_000, 60 * 60_000);
        f.proto = 17;
        v.push(f);
    }
    for _ in 0..10 {
        v.push(out(
            UPLOADER,
            DROP,
            ephemeral(rng),
            443,
            100_000,
            150_000_000,
        ));
    }
    for _ in 0..5 {
        v.push(out(MINER, POOL, ephemeral(rng), 3333, 20, 3000));
    }
    // Look-alikes: a crawler completing connections to 300 hosts, and (in
    // v5, which names the service) a 2 GB backup to S3.
    for n in 0..300 {
        v.push(out(CRAWLER, peer(1000 + n), ephemeral(rng), 443, 12, 9000));
    }
    if format == GenFormat::V5 {
        for _ in 0..10 {
            let mut f = out(BACKUP, S3, ephemeral(rng), 443, 140_000, 200_000_000);
            f.aws_service = Some("S3");
            v.push(f);
        }
    }
    v
}

/// What [`single_object_attacks`] must produce.
pub(super) fn single_object_expected(account: &str) -> Vec<ExpectedFinding> {
    let f = |rule, subject: String| ExpectedFinding { rule, subject };
    vec![
        f("instance-port-scan", format!("{account}/{SCANNER}")),
        f(
            "instance-brute-force",
            format!("{account}/{BRUTE} -> {BRUTE_PEER}"),
        ),
        f("instance-dos", format!("{account}/{FLOODER} -> {VICTIM}")),
        f("large-upload", format!("{account}/{UPLOADER} -> {DROP}")),
        f(
            "suspicious-egress-port",
            format!("{account}/{MINER} -> {POOL}:3333/tcp"),
        ),
    ]
}

/// Which objects (by index, of `n`) each attack of the day is in.
struct DayPlan {
    scan: std::ops::Range<u64>,
    brute: std::ops::Range<u64>,
    flood: std::ops::Range<u64>,
    beacon: std::ops::Range<u64>,
    upload: std::ops::Range<u64>,
    miner: std::ops::Range<u64>,
}

impl DayPlan {
    fn new(n: u64) -> DayPlan {
        let at = |part: u64| n * part / 288;
        let span = |from: u64, len: u64| at(from)..(at(from) + len).min(n);
        DayPlan {
            scan: span(40, 12),
            brute: span(70, 5),
            flood: span(100, 6),
            beacon: span(20, 24),
            upload: span(160, 24),
            miner: span(200, 3),
        }
    }
}

/// The flows of account `account`'s object `i` of the day.
fn day_flows(
    i: u64,
    account: usize,
    plan: &DayPlan,
    format: GenFormat,
    rng: &mut Rng,
) -> Vec<Flow> {
    let mut v = Vec::new();
    let a = account == 0;
    if a && plan.scan.contains(&i) {
        let k = i - plan.scan.start;
        for h in 0..3 {
            v.push(syn(SCANNER, peer(k * 3 + h), 22, rng));
        }
    }
    // Brute force and flood over half an hour: spread thinner than a
    // threshold per object, and not steady enough to be beacons too.
    if a && plan.brute.contains(&i) {
        for _ in 0..6 {
            v.push(out(BRUTE, BRUTE_PEER, ephemeral(rng), 22, 8, 1600));
        }
    }
    if !a && plan.flood.contains(&i) {
        for _ in 0..10 {
            let mut f = out(FLOODER, VICTIM, ephemeral(rng), 53, 20_000, 1_200_000);
            f.proto = 17;
            v.push(f);
        }
    }
    // A beacon every minute. The other account's host at the same address
    // calls the same controller a few times, and stays quiet.
    let beacon_here = if a {
        plan.beacon.contains(&i)
    } else {
        plan.beacon.start == i
    };
    if beacon_here {
        for _ in 0..5 {
            v.push(out(BEACON, CONTROLLER, ephemeral(rng), 443, 4, 600));
        }
    }
    // 200 MB in every other object: 1.2 GB an hour, 2.4 GB in all. The
    // other account's host at the same address sends 300 MB once.
    let k = i.wrapping_sub(plan.upload.start);
    if (!a && plan.upload.contains(&i) && k.is_multiple_of(2)) || (a && i == plan.upload.start) {
        let bytes = if a { 300_000_000 } else { 200_000_000 };
        v.push(out(
            UPLOADER,
            DROP,
            ephemeral(rng),
            443,
            bytes / 1400,
            bytes,
        ));
    }
    if a && plan.miner.contains(&i) {
        v.push(out(MINER, POOL, ephemeral(rng), 3333, 20, 3000));
    }
    // Look-alikes, in every object.
    if a {
        for n in 0..60 {
            v.push(out(
                CRAWLER,
                peer(100_000 + i * 60 + n),
                ephemeral(rng),
                443,
                12,
                9000,
            ));
        }
        for _ in 0..5 {
            v.push(syn(RETRIER, DEAD_HOST, 8080, rng));
        }
        for h in 1..=6u8 {
            v.push(out(
                Ipv4Addr::new(10, 1, 10, h),
                SAAS,
                ephemeral(rng),
                443,
                6,
                1800,
            ));
        }
    } else if format == GenFormat::V5 {
        let mut f = out(BACKUP, S3, ephemeral(rng), 443, 130_000, 180_000_000);
        f.aws_service = Some("S3");
        v.push(f);
    }
    v
}

/// The findings the day must produce, once each.
fn day_expected(accounts: [&str; 2]) -> Vec<ExpectedFinding> {
    let [a, b] = accounts;
    let f = |rule, subject: String| ExpectedFinding { rule, subject };
    let mut v = vec![
        f("instance-port-scan", format!("{a}/{SCANNER}")),
        f(
            "instance-brute-force",
            format!("{a}/{BRUTE} -> {BRUTE_PEER}"),
        ),
        f("instance-dos", format!("{b}/{FLOODER} -> {VICTIM}")),
        f("beaconing", format!("{a}/{BEACON} -> {CONTROLLER}:443/tcp")),
        f("large-upload", format!("{b}/{UPLOADER} -> {DROP}")),
        f(
            "suspicious-egress-port",
            format!("{a}/{MINER} -> {POOL}:3333/tcp"),
        ),
    ];
    v.sort();
    v
}

/// The AWS key of an object of `account` delivered at `delivered`.
fn object_path(dir: &Path, account: &str, region: &str, delivered: u64) -> PathBuf {
    let t = UtcDateTime::from_unix(delivered);
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute
    );
    let suffix = format!(
        "{:08x}",
        crate::hash::mix64(delivered ^ account.len() as u64) as u32
    );
    let flow_log = if account == OTHER_ACCOUNT {
        "fl-0b2c3d4e5f6a78901"
    } else {
        "fl-0a1b2c3d4e5f67890"
    };
    dir.join(format!(
        "AWSLogs/{account}/vpcflowlogs/{region}/{:04}/{:02}/{:02}/{account}_vpcflowlogs_{region}_{flow_log}_{stamp}_{suffix}.log.gz",
        t.year, t.month, t.day
    ))
}

/// Writes `objects` five-minute objects for each of two accounts (the
/// options' account and [`OTHER_ACCOUNT`]) under `dir`, `per_object`
/// background records each plus the day's flows, and the manifest of the
/// six findings they must produce.
pub fn generate_outbound_day(
    dir: &Path,
    opts: &GenOptions,
    objects: u64,
    per_object: u64,
) -> io::Result<(Manifest, Vec<PathBuf>)> {
    let plan = DayPlan::new(objects);
    let accounts = [opts.account.clone(), OTHER_ACCOUNT.to_string()];
    let mut rng = Rng(opts.seed ^ 0x0d47_0000_0000_0000);
    let mut manifest = Manifest {
        records: 0,
        attack_records: 0,
        nodata: 0,
        skipdata: 0,
        expected: day_expected([&accounts[0], &accounts[1]]),
    };
    let mut paths = Vec::new();
    for i in 0..objects {
        let start = opts.start + i * OBJECT_SECONDS;
        for (k, account) in accounts.iter().enumerate() {
            let path = object_path(dir, account, &opts.region, start + OBJECT_SECONDS);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut gz = GzEncoder::new(
                io::BufWriter::new(std::fs::File::create(&path)?),
                Compression::fast(),
            );
            writeln!(gz, "{}", header(opts.format))?;
            let flows = day_flows(i, k, &plan, opts.format, &mut rng);
            let object_opts = GenOptions {
                start: start.saturating_sub(OBJECT_SECONDS),
                account: account.clone(),
                ..opts.clone()
            };
            let total = per_object.max(flows.len() as u64);
            let mut scatter = Scatter::new(&flows);
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
            manifest.attack_records += flows.len() as u64;
            paths.push(path);
        }
    }
    Ok((manifest, paths))
}
