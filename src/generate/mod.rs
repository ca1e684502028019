//! Realistic synthetic flow logs with known injected attacks, for demos,
//! tests and benchmarks. Deterministic for a seed; streamed to any writer.
//!
//! The benign traffic is a small VPC: public web servers, app servers, a
//! database and a cache, a bastion, DNS, internet clients and their server
//! replies, egress to the internet, and a background of rejected internet
//! noise spread thinly over many sources. The attacks are fixed in size and
//! scattered through the stream; [`Manifest`] lists the findings they must
//! produce, and nothing else should fire.

use std::io::{self, Write};
use std::net::Ipv4Addr;

use serde::Serialize;

mod outbound;
mod scenario;

pub use outbound::{generate_outbound_day, OTHER_ACCOUNT};
pub use scenario::{generate_objects, OBJECT_SECONDS};

/// Output format of the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenFormat {
    /// The default 14 fields with a header.
    V2,
    /// The 29 fields of versions 2-5 with a header (adds tcp-flags,
    /// flow-direction, traffic-path...).
    V5,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Records to write (at least the attack records).
    pub records: u64,
    /// RNG seed.
    pub seed: u64,
    /// Field layout.
    pub format: GenFormat,
    /// First flow start (Unix seconds).
    pub start: u64,
    /// Account id written in the records.
    pub account: String,
    /// Region written in v5 records.
    pub region: String,
    /// Services (up to [`EXPOSED_SERVICES`]`.len()`) open to the internet and
    /// reached by thousands of internet addresses: one record in ten goes
    /// to them, a few from source ports 53, 80 and 443.
    pub exposed_services: usize,
    /// Add our own hosts acting as attackers (SPEC section 9): in one
    /// object a scanning, brute-forcing, flooding, uploading and mining
    /// instance (with a crawler and an S3 backup that stay quiet).
    pub outbound: bool,
}

/// The services [`GenOptions::exposed_services`] opens, in order.
pub const EXPOSED_SERVICES: [([u8; 4], u16); 8] = [
    ([10, 0, 4, 10], 22),
    ([10, 0, 4, 11], 22),
    ([10, 0, 4, 20], 3389),
    ([10, 0, 4, 30], 5432),
    ([10, 0, 4, 31], 6379),
    ([10, 0, 4, 32], 3306),
    ([10, 0, 4, 33], 9200),
    ([10, 0, 4, 34], 27017),
];

impl Default for GenOptions {
    fn default() -> GenOptions {
        GenOptions {
            records: 100_000,
            seed: 1,
            format: GenFormat::V2,
            start: 1_750_961_400, // 2025-06-26T18:10:00Z
            account: "123456789012".to_string(),
            region: "us-east-1".to_string(),
            exposed_services: 0,
            outbound: false,
        }
    }
}

/// A finding the injected attacks must produce.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ExpectedFinding {
    /// Rule id.
    pub rule: &'static str,
    /// The finding's `subject`: the attacker's address, the exposed
    /// service (`10.0.1.20:22/tcp`) or the interface.
    pub subject: String,
}

/// What was generated.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// Records written (header excluded).
    pub records: u64,
    /// Of which attack records.
    pub attack_records: u64,
    /// NODATA records.
    pub nodata: u64,
    /// SKIPDATA records.
    pub skipdata: u64,
    /// Findings the attacks must produce, and the only ones expected.
    pub expected: Vec<ExpectedFinding>,
}

/// SplitMix64: tiny, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        crate::hash::mix64(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, p_per_mille: u64) -> bool {
        self.below(1000) < p_per_mille
    }
}

#[derive(Clone, Copy)]
struct Flow {
    eni: u32,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sp: u16,
    dp: u16,
    proto: u8,
    packets: u64,
    bytes: u64,
    accept: bool,
    status: &'static str,
    flags: u16,
    ingress: bool,
    /// `pkt-dst-aws-service` (v5).
    aws_service: Option<&'static str>,
}

const SCANNER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 50);
const BRUTE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 23);
const RDP_CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);
const DB_PROBER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 99);
const SWEEPER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 200);

const WEB: [Ipv4Addr; 4] = [
    Ipv4Addr::new(10, 0, 1, 10),
    Ipv4Addr::new(10, 0, 1, 11),
    Ipv4Addr::new(10, 0, 1, 12),
    Ipv4Addr::new(10, 0, 1, 13),
];
const SSH_TARGET: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 20);
const RDP_TARGET: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 40);
const DB: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 10);
const CACHE: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 20);
const BASTION: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn app(i: u64) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 2, 100 + (i % 40) as u8)
}

fn eni_of(ip: Ipv4Addr) -> u32 {
    u32::from(ip) & 0xffff
}

/// A public address outside the trusted ranges and the attackers' ranges.
fn public(rng: &mut Rng, pool: u64, salt: u64) -> Ipv4Addr {
    let idx = rng.below(pool);
    let mut x = Rng(idx.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ salt);
    loop {
        let a = x.next() as u32;
        let ip = Ipv4Addr::from(a);
        let o = ip.octets();
        let reserved = o[0] == 0
            || o[0] == 10
            || o[0] == 127
            || o[0] >= 224
            || (o[0] == 100 && (64..128).contains(&o[1]))
            || (o[0] == 169 && o[1] == 254)
            || (o[0] == 172 && (16..32).contains(&o[1]))
            || (o[0] == 192 && o[1] == 168)
            || (o[0] == 192 && o[1] == 0 && o[2] == 2)
            || (o[0] == 198 && o[1] == 51 && o[2] == 100)
            || (o[0] == 203 && o[1] == 0 && o[2] == 113);
        if !reserved {
            return ip;
        }
    }
}

/// A record with no flow: NODATA or SKIPDATA on an interface.
fn status_flow(eni: u32, status: &'static str) -> Flow {
    Flow {
        eni,
        src: Ipv4Addr::UNSPECIFIED,
        dst: Ipv4Addr::UNSPECIFIED,
        sp: 0,
        dp: 0,
        proto: 0,
        packets: 0,
        bytes: 0,
        accept: true,
        status,
        flags: 0,
        ingress: true,
        aws_service: None,
    }
}

/// Scatters a fixed list of attack flows uniformly among the records of an
/// object: each record is the next attack with the probability that keeps
/// the rest spread over the records left.
struct Scatter<'a> {
    attacks: &'a [Flow],
    next: usize,
}

impl<'a> Scatter<'a> {
    fn new(attacks: &'a [Flow]) -> Scatter<'a> {
        Scatter { attacks, next: 0 }
    }

    /// The attack to write as the record before the last `left`, if any.
    fn pick(&mut self, rng: &mut Rng, left: u64) -> Option<Flow> {
        let pending = (self.attacks.len() - self.next) as u64;
        if pending > 0 && rng.below(left) < pending {
            self.next += 1;
            return self.attacks.get(self.next - 1).copied();
        }
        None
    }
}

fn ephemeral(rng: &mut Rng) -> u16 {
    rng.range(32768, 60999) as u16
}

fn attack_flows(rng: &mut Rng) -> Vec<Flow> {
    let mut v = Vec::new();
    let base = |src, dst, sp, dp, accept| Flow {
        eni: eni_of(dst),
        src,
        dst,
        sp,
        dp,
        proto: 6,
        packets: 1,
        bytes: 44,
        accept,
        status: "OK",
        flags: 2,
        ingress: true,
        aws_service: None,
    };
    // Vertical scan: 1000 ports on one web server, mostly rejected.
    for port in 1..=1000u16 {
        let open = port == 80 || port == 443;
        v.push(base(SCANNER, WEB[0], ephemeral(rng), port, open));
    }
    // SSH brute force against an exposed host, accepted by its SG.
    for _ in 0..300 {
        let mut f = base(BRUTE, SSH_TARGET, ephemeral(rng), 22, true);
        f.packets = rng.range(10, 30);
        f.bytes = f.packets * rng.range(80, 200);
        f.flags = 27;
        v.push(f);
    }
    // RDP open to the internet.
    for _ in 0..5 {
        let mut f = base(RDP_CLIENT, RDP_TARGET, ephemeral(rng), 3389, true);
        f.packets = rng.range(40, 400);
        f.bytes = f.packets * 600;
        f.flags = 27;
        v.push(f);
    }
    // Database and cache ports reachable from the internet.
    for (dst, port) in [(DB, 3306u16), (DB, 3306), (DB, 3306), (CACHE, 6379)] {
        let mut f = base(DB_PROBER, dst, ephemeral(rng), port, true);
        f.packets = rng.range(5, 20);
        f.bytes = f.packets * 120;
        f.flags = 27;
        v.push(f);
    }
    // SMB sweep across the app subnet.
    for host in 1..=60u8 {
        v.push(base(
            SWEEPER,
            Ipv4Addr::new(10, 0, 2, host),
            ephemeral(rng),
            445,
            false,
        ));
    }
    // AWS dropped records on two interfaces.
    for eni in [eni_of(WEB[1]), eni_of(WEB[1]), eni_of(DB)] {
        v.push(status_flow(eni, "SKIPDATA"));
    }
    v
}

fn expected(exposed_services: usize) -> Vec<ExpectedFinding> {
    let f = |rule, subject: String| ExpectedFinding { rule, subject };
    let service = |a: Ipv4Addr, port: u16| format!("{a}:{port}/tcp");
    let mut v = vec![
        f("port-scan", SCANNER.to_string()),
        f("rejected-traffic", SCANNER.to_string()),
        f("admin-port-brute-force", BRUTE.to_string()),
        f("admin-port-exposed", service(SSH_TARGET, 22)),
        f("admin-port-exposed", service(RDP_TARGET, 3389)),
        f("sensitive-port-exposed", service(DB, 3306)),
        f("sensitive-port-exposed", service(CACHE, 6379)),
        f("port-scan", SWEEPER.to_string()),
        f("skipped-records", eni_name(eni_of(WEB[1]))),
        f("skipped-records", eni_name(eni_of(DB))),
    ];
    for (a, port) in EXPOSED_SERVICES.iter().take(exposed_services) {
        let rule = if *port == 22 || *port == 3389 {
            "admin-port-exposed"
        } else {
            "sensitive-port-exposed"
        };
        v.push(f(rule, service(Ipv4Addr::from(*a), *port)));
    }
    v.sort();
    v
}

/// An accepted flow from one of many internet addresses to an exposed
/// service.
fn exposed_flow(rng: &mut Rng, services: usize, pool: u64, seed: u64) -> Flow {
    let (addr, port) = EXPOSED_SERVICES[rng.below(services as u64) as usize];
    let dst = Ipv4Addr::from(addr);
    let src = public(rng, pool, seed ^ 0xe4b0);
    // Mostly ephemeral source ports; some from 53, 80 and 443, which must
    // not pass for replies.
    let sp = match rng.below(20) {
        0 => 53,
        1 => 80,
        2 => 443,
        _ => ephemeral(rng),
    };
    let packets = rng.range(3, 40);
    Flow {
        eni: eni_of(dst),
        src,
        dst,
        sp,
        dp: port,
        proto: 6,
        packets,
        bytes: packets * rng.range(60, 600),
        accept: true,
        status: "OK",
        flags: 27,
        ingress: true,
        aws_service: None,
    }
}

/// The interface id the generator writes for an interface number.
fn eni_name(eni: u32) -> String {
    format!("eni-0a1b{eni:08x}")
}

fn benign(rng: &mut Rng, client_pool: u64, noise_pool: u64, seed: u64) -> Flow {
    let roll = rng.below(1000);
    let ok = |eni, src, dst, sp, dp, proto, packets, bytes, ingress| Flow {
        eni,
        src,
        dst,
        sp,
        dp,
        proto,
        packets,
        bytes,
        accept: true,
        status: "OK",
        flags: 19,
        ingress,
        aws_service: None,
    };
    let web = WEB[rng.below(4) as usize];
    match roll {
        // Internet clients to the web tier, and the replies.
        0..=299 => {
            let c = public(rng, client_pool, seed);
            let p = rng.range(3, 60);
            ok(
                eni_of(web),
                c,
                web,
                ephemeral(rng),
                if rng.chance(900) { 443 } else { 80 },
                6,
                p,
                p * rng.range(60, 900),
                true,
            )
        }
        300..=599 => {
            let c = public(rng, client_pool, seed);
            let p = rng.range(3, 80);
            ok(
                eni_of(web),
                web,
                c,
                443,
                ephemeral(rng),
                6,
                p,
                p * rng.range(200, 1400),
                false,
            )
        }
        // Web to app, app to database and cache, with replies.
        600..=699 => {
            let a = app(rng.next());
            let p = rng.range(4, 40);
            ok(eni_of(a), web, a, ephemeral(rng), 8080, 6, p, p * 500, true)
        }
        700..=779 => {
            let a = app(rng.next());
            let (dst, port) = if rng.chance(700) {
                (DB, 5432)
            } else {
                (CACHE, 6379)
            };
            let p = rng.range(4, 40);
            ok(
                eni_of(dst),
                a,
                dst,
                ephemeral(rng),
                port,
                6,
                p,
                p * 300,
                true,
            )
        }
        780..=829 => {
            let a = app(rng.next());
            let p = rng.range(4, 40);
            ok(eni_of(a), DB, a, 5432, ephemeral(rng), 6, p, p * 900, true)
        }
        // Egress to the internet (package mirrors, APIs) and replies.
        830..=879 => {
            let a = app(rng.next());
            let d = public(rng, 200, seed ^ 0xabc);
            let p = rng.range(4, 200);
            if rng.chance(500) {
                ok(eni_of(a), a, d, ephemeral(rng), 443, 6, p, p * 200, false)
            } else {
                ok(eni_of(a), d, a, 443, ephemeral(rng), 6, p, p * 1200, true)
            }
        }
        // Bastion SSH to internal hosts (trusted: never a finding).
        880..=904 => {
            let a = app(rng.next());
            let p = rng.range(20, 400);
            ok(
                eni_of(a),
                BASTION,
                a,
                ephemeral(rng),
                22,
                6,
                p,
                p * 150,
                true,
            )
        }
        // DNS: one or two packets each.
        905..=954 => {
            let a = app(rng.next());
            let p = rng.range(1, 2);
            let mut f = ok(eni_of(DNS), a, DNS, ephemeral(rng), 53, 17, p, p * 80, true);
            f.flags = 0;
            f
        }
        // NODATA now and then.
        955..=956 => status_flow(eni_of(app(rng.next())), "NODATA"),
        // Rejected internet noise, thinly spread over many sources.
        _ => {
            let src = public(rng, noise_pool, seed ^ 0x5eed);
            let ports = [
                23u16, 445, 8080, 8443, 1433, 3306, 5900, 9200, 25, 110, 143, 21, 3389, 22, 161,
                1900,
            ];
            let dp = ports[rng.below(ports.len() as u64) as usize];
            let dst = if rng.chance(500) {
                web
            } else {
                app(rng.next())
            };
            Flow {
                eni: eni_of(dst),
                src,
                dst,
                sp: ephemeral(rng),
                dp,
                proto: 6,
                packets: 1,
                bytes: 40,
                accept: false,
                status: "OK",
                flags: 2,
                ingress: true,
                aws_service: None,
            }
        }
    }
}

/// The header line of a format.
pub fn header(format: GenFormat) -> &'static str {
    match format {
        GenFormat::V2 => "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
        GenFormat::V5 => "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path",
    }
}

fn write_flow<W: Write>(w: &mut W, f: &Flow, o: &GenOptions, rng: &mut Rng) -> io::Result<()> {
    let start = o.start + rng.below(600);
    let end = start + rng.range(1, 60);
    let version = if o.format == GenFormat::V2 { 2 } else { 5 };
    if f.status != "OK" {
        write!(
            w,
            "{version} {} {} - - - - - - - {start} {end} - {}",
            o.account,
            eni_name(f.eni),
            f.status
        )?;
        if o.format == GenFormat::V5 {
            w.write_all(b" - - - - - - - - - - - - - - -")?;
        }
        return w.write_all(b"\n");
    }
    write!(
        w,
        "{version} {} {} {} {} {} {} {} {} {} {start} {end} {} OK",
        o.account,
        eni_name(f.eni),
        f.src,
        f.dst,
        f.sp,
        f.dp,
        f.proto,
        f.packets,
        f.bytes,
        if f.accept { "ACCEPT" } else { "REJECT" }
    )?;
    if o.format == GenFormat::V5 {
        let subnet = (f.eni >> 8) & 0xff;
        write!(
            w,
            " vpc-0f1e2d3c4b5a69788 subnet-0a1b2c3d{subnet:08x} i-0abc{:012x} {} IPv4 {} {} {} {}-az{} - - - {} {} {}",
            f.eni,
            if f.proto == 6 { f.flags } else { 0 },
            f.src,
            f.dst,
            o.region,
            o.region.get(..4).unwrap_or("use1").replace('-', ""),
            1 + subnet % 3,
            f.aws_service.unwrap_or("-"),
            if f.ingress { "ingress" } else { "egress" },
            if f.ingress { "-" } else { "8" },
        )?;
    }
    w.write_all(b"\n")
}

/// Writes a header and `opts.records` records (at least the attacks) to `w`.
pub fn generate<W: Write>(w: W, opts: &GenOptions) -> io::Result<Manifest> {
    let mut w = io::BufWriter::with_capacity(256 * 1024, w);
    let mut rng = Rng(opts.seed ^ 0x00f1_0e9a_4d00_0000);
    let mut attacks = attack_flows(&mut rng);
    if opts.outbound {
        attacks.extend(outbound::single_object_attacks(&mut rng, opts.format));
    }
    let total = opts.records.max(attacks.len() as u64);
    // Fixed pools: the set of addresses (and so the engine's state) is the
    // same at 1M and 5M records; per-source noise stays far below every
    // threshold up to about 20M records.
    let client_pool = 20_000;
    let noise_pool = 20_000;
    let exposed = opts.exposed_services.min(EXPOSED_SERVICES.len());
    let exposed_pool = 50_000;
    writeln!(w, "{}", header(opts.format))?;
    let mut manifest = Manifest {
        records: total,
        attack_records: attacks.len() as u64,
        nodata: 0,
        skipdata: 0,
        expected: expected(opts.exposed_services.min(EXPOSED_SERVICES.len())),
    };
    if opts.outbound {
        manifest
            .expected
            .extend(outbound::single_object_expected(&opts.account));
        manifest.expected.sort();
    }
    let mut scatter = Scatter::new(&attacks);
    for left in (1..=total).rev() {
        let f = if let Some(f) = scatter.pick(&mut rng, left) {
            f
        } else if exposed > 0 && rng.chance(100) {
            exposed_flow(&mut rng, exposed, exposed_pool, opts.seed)
        } else {
            benign(&mut rng, client_pool, noise_pool, opts.seed)
        };
        match f.status {
            "NODATA" => manifest.nodata += 1,
            "SKIPDATA" => manifest.skipdata += 1,
            _ => {}
        }
        write_flow(&mut w, &f, opts, &mut rng)?;
    }
    w.flush()?;
    Ok(manifest)
}
