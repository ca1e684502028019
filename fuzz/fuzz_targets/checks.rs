//! The invariants the fuzz targets check, shared with the replay test
//! `tests/engine/fuzz_regressions.rs` (which includes this file by path), so
//! a saved input goes through exactly the code path that found it.
//!
//! Depends only on `flowguard` and `flate2` (a dependency of flowguard).

use std::io::{Cursor, Write};

use flate2::write::GzEncoder;
use flate2::Compression;
use flowguard::flowlog::{FirstLine, Format, LineParser, RecordView};
use flowguard::intel::{parse_suppress_list, parse_threat_list, ThreatSet};
use flowguard::stream::{detect_encoding, Encoding};
use flowguard::{analyze_reader, analyze_text, AnalyzeError, Config, Counts, Report, SourceRef};

/// 2025-06-26T18:20:00Z, as in the integration tests.
pub const NOW: u64 = 1_750_962_000;

/// `parse_line`: the first line is a header (also run through
/// `Format::detect`), every later line a record of that format. Nothing may
/// panic, and a line that parses has a typed value for every column.
pub fn parse_line(data: &[u8]) {
    let mut lines = data.split(|b| *b == b'\n');
    let first = lines.next().unwrap_or_default();

    // What the engine does with the first line of an object.
    let detected = match Format::detect(first) {
        FirstLine::Header(f) | FirstLine::Headerless(f) => Some(f),
        FirstLine::NotFlowLog(_) => None,
    };
    // The header parsed directly (no trimming), then every other line with
    // it; if it is no header, the detected format, else the default one.
    let from_header = std::str::from_utf8(first)
        .ok()
        .and_then(|t| Format::from_header(t).ok());
    let format = from_header.or(detected).unwrap_or_else(Format::default_v2);

    let mut parser = LineParser::new(format);
    for line in lines {
        if let Ok(view) = parser.parse(line) {
            check_view(&view, line);
        }
    }
}

fn check_view(view: &RecordView<'_>, line: &[u8]) {
    let columns = view.format().columns();
    for (i, column) in columns.iter().enumerate() {
        assert!(
            view.column_text(i).is_some(),
            "column {i} ('{}') has no text on a line that parsed: {:?}",
            column.name(),
            String::from_utf8_lossy(line)
        );
        assert!(
            view.value(i).is_some(),
            "column {i} ('{}', text {:?}) has no typed value on a line that parsed: {:?}",
            column.name(),
            view.column_text(i),
            String::from_utf8_lossy(line)
        );
    }
    assert!(
        view.value(columns.len()).is_none(),
        "a value past the last column"
    );
}

/// `analyze_object`: the bytes through `analyze_reader`, as they are and
/// gzip-wrapped. Nothing may panic; an analysed object's counts add up
/// (`records = ok + nodata + skipdata + malformed`); and bytes that are not
/// gzip themselves give the same outcome and counts both ways, and the same
/// as the in-memory `analyze_text`. Returns the counts of the plain run
/// (`None` if the object was rejected).
pub fn analyze_object(data: &[u8]) -> Option<Counts> {
    let config = Config::default();
    let plain = run(data, &config);
    let plain_counts = counts(&plain, "plain");

    let wrapped = run(&gzip(data), &config);
    let wrapped_counts = counts(&wrapped, "gzip-wrapped");

    // Bytes without the gzip magic are read as text, so the gzip-wrapped
    // copy decodes to the very same object.
    if detect_encoding(data) == Encoding::Plain {
        assert_eq!(
            plain_counts,
            wrapped_counts,
            "plain and gzip-wrapped copies differ: plain {:?}, gzip-wrapped {:?}",
            plain.as_ref().map(|_| ()).map_err(|e| e.to_string()),
            wrapped.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        );
        // The streaming reader and the in-memory engine agree.
        let text = analyze_text(data, source(), &config, NOW);
        assert_eq!(
            plain_counts,
            counts(&text, "analyze_text"),
            "analyze_reader and analyze_text differ: reader {:?}, text {:?}",
            plain.as_ref().map(|_| ()).map_err(|e| e.to_string()),
            text.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        );
    }
    plain_counts
}

fn run(bytes: &[u8], config: &Config) -> Result<Report, AnalyzeError> {
    analyze_reader(Cursor::new(bytes), source(), config, NOW, None)
}

fn source() -> SourceRef {
    SourceRef::Path {
        path: "fuzz/AWSLogs/123456789012/vpcflowlogs/us-east-1/x.log.gz".into(),
    }
}

fn counts(result: &Result<Report, AnalyzeError>, what: &str) -> Option<Counts> {
    let c = result.as_ref().ok()?.counts();
    assert_eq!(
        c.records,
        c.ok + c.nodata + c.skipdata + c.malformed,
        "{what}: counts do not add up: {c:?}"
    );
    Some(c)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

/// `parse_lists`: the bytes as a suppression list and as a threat list (lists
/// come from S3 objects an operator or a feed job writes). Nothing may
/// panic, and every entry of a threat list that parses is found by a lookup
/// of its own address once the list is merged.
pub fn parse_lists(data: &[u8]) {
    let _ = parse_suppress_list("fuzz.csv", "fuzz.csv", data);
    let Ok(list) = parse_threat_list("fuzz.csv", "fuzz.csv", data) else {
        return;
    };
    let set = ThreatSet::build([&list]);
    for e in &list.entries {
        let found = set.lookup(e.net.addr());
        assert!(found.is_some(), "{} is listed but not found", e.net);
        assert!(set.listing(found.unwrap_or_default()).is_some());
    }
}

// ---------------------------------------------------------------------------
// SPEC 10's sinks and SPEC 9's state: the builders of what leaves the
// function, and the merge of outbound evidence across objects.

use flowguard::catalogue::Direction;
use flowguard::report::{asff, email, events};
use flowguard::rules::evidence::{
    MAX_LISTED_ADDRS, MAX_LISTED_INTERFACES, MAX_LISTED_PORTS, MAX_PEER_HOSTS, MAX_SLOTS,
};
use flowguard::rules::{Evidence, Finding, InterfaceDetails, RuleId, Severity};

/// Reads fuzz bytes as a sequence of small values.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) << 32 | u64::from(self.u32())
    }
    /// A text of up to `256 * repeat` bytes: a length byte, that many
    /// bytes (lossy UTF-8), repeated by the next byte's count.
    fn text(&mut self, repeat: usize) -> String {
        let n = usize::from(self.u8()).min(self.0.len());
        let (t, rest) = self.0.split_at(n);
        self.0 = rest;
        let times = 1 + usize::from(self.u8()) % repeat.max(1);
        String::from_utf8_lossy(t).repeat(times)
    }
}

/// A finding whose texts, ids and lists come from the fuzz bytes (lists no
/// longer than the engine's caps; ids and texts of any content: an
/// enrichment or a forged record may carry anything).
fn finding_of(data: &[u8]) -> Finding {
    let mut b = Bytes(data);
    let rule = RuleId::ALL[usize::from(b.u8()) % RuleId::ALL.len()];
    let direction = if b.u8().is_multiple_of(2) {
        Direction::Inbound
    } else {
        Direction::Outbound
    };
    let ip = |b: &mut Bytes<'_>| -> String {
        if b.u8().is_multiple_of(4) {
            std::net::Ipv6Addr::from(u128::from(b.u64()) << 64 | u128::from(b.u64())).to_string()
        } else {
            std::net::Ipv4Addr::from(b.u32()).to_string()
        }
    };
    let n = |b: &mut Bytes<'_>, cap: usize| usize::from(b.u8()) % (cap + 1);
    let n_if = n(&mut b, MAX_LISTED_INTERFACES);
    let interface_ids = (0..n_if).map(|_| b.text(4)).collect::<Vec<_>>();
    let n_in = n(&mut b, MAX_LISTED_INTERFACES);
    let instance_ids = (0..n_in).map(|_| b.text(4)).collect();
    let resources = interface_ids
        .iter()
        .map(|i| InterfaceDetails {
            interface_id: i.clone(),
            interface_type: Some(b.text(2)),
            description: Some(b.text(40)),
            instance_id: Some(b.text(2)),
            security_group_ids: (0..n(&mut b, 16)).map(|_| b.text(1)).collect(),
            vpc_id: Some(b.text(1)),
            subnet_id: Some(b.text(1)),
            name: Some(b.text(40)),
        })
        .collect();
    let n_src = n(&mut b, MAX_LISTED_ADDRS);
    let src_addrs = (0..n_src).map(|_| ip(&mut b)).collect();
    let n_dst = n(&mut b, MAX_LISTED_ADDRS);
    let dst_addrs = (0..n_dst).map(|_| ip(&mut b)).collect();
    let n_ports = n(&mut b, MAX_LISTED_PORTS);
    let dst_ports = (0..n_ports).map(|_| b.u32() as u16).collect();
    Finding {
        finding_id: b.text(1),
        rule,
        severity: [Severity::Low, Severity::Medium, Severity::High][usize::from(b.u8()) % 3],
        direction,
        title: b.text(255),
        subject: b.text(64),
        account: b.text(1),
        region: b.text(1),
        interface_ids,
        instance_ids,
        vpc_ids: vec![b.text(1)],
        subnet_ids: vec![b.text(1)],
        resources,
        src_addr: Some(ip(&mut b)),
        src_addrs,
        dst_addrs,
        dst_ports,
        protocol: Some(b.u8()),
        flows: b.u64(),
        packets: b.u64(),
        bytes: b.u64(),
        accepted_flows: b.u64(),
        rejected_flows: b.u64(),
        distinct_src_addrs: b.u64(),
        distinct_dst_addrs: b.u64(),
        distinct_dst_ports: b.u64(),
        first_seen: Some(b.text(1)),
        last_seen: Some(b.text(1)),
        source: SourceRef::S3 {
            bucket: b.text(1),
            key: b.text(4),
        },
        mitre_attack: vec![b.text(1)],
        notified: b.u8().is_multiple_of(2),
        occurrences: b.u64(),
        window_flows: b.u64(),
        suppressed: false,
        suppression_reason: Some(b.text(64)),
    }
}

/// An ARN in a Resources list carries only an id of its AWS shape.
fn check_arn(arn: &str) {
    let id = arn.rsplit('/').next().unwrap_or_default();
    assert!(
        flowguard::ids::is_instance_id(id.as_bytes())
            || flowguard::ids::is_interface_id(id.as_bytes()),
        "an ARN with a forged id: {arn}"
    );
    assert!(
        arn.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b":/-".contains(&c)),
        "{arn}"
    );
}

/// `build_asff`: the ASFF of any finding stays within 240 KB, serialises,
/// and names only well-formed resources; the email paragraph of it, its
/// console link and its Athena query build without panicking, and the link
/// and query carry no forged id.
pub fn build_asff(data: &[u8]) {
    let f = finding_of(data);
    let product = asff::Product {
        account: "111122223333",
        region: "us-east-1",
    };
    let a = asff::asff(&f, product, NOW);
    let json = serde_json::to_string(&a).expect("ASFF serialises");
    assert!(
        json.len() <= asff::MAX_ASFF_BYTES,
        "ASFF of {} bytes",
        json.len()
    );
    let v: serde_json::Value = serde_json::from_str(&json).expect("ASFF is JSON");
    for r in v["Resources"].as_array().into_iter().flatten() {
        if r["Type"] != "Other" {
            check_arn(r["Id"].as_str().unwrap_or_default());
        }
    }
    let _ = email::paragraph(&f, "flowguard");
    if let Some(url) = email::console_link(&f) {
        assert!(
            !url.contains(['"', '\'', '<', '>', ' ', '\r', '\n']),
            "{url}"
        );
    }
    if let Some(q) = email::evidence_query(&f, "flowguard") {
        assert!(!q.contains(['\r', '\n', ';']) || q.ends_with(';'), "{q}");
    }
}

/// `build_event`: the EventBridge entry of any finding is at most 256 KB,
/// its detail is the finding as JSON, its resources well-formed ARNs; the
/// PutEvents calls built from copies of it keep every entry once, at most
/// 10 and 256 KB a call.
pub fn build_event(data: &[u8]) {
    let f = finding_of(data);
    let e = events::event_entry(&f);
    assert!(
        e.size() <= events::MAX_EVENT_BYTES,
        "event of {} bytes",
        e.size()
    );
    let detail: serde_json::Value = serde_json::from_str(&e.detail).expect("detail is JSON");
    assert_eq!(detail["finding_id"], f.finding_id.as_str());
    e.resources.iter().for_each(|r| check_arn(r));
    let copies = 1 + data.first().map_or(0, |b| usize::from(*b) % 24);
    let calls = events::batches(vec![e; copies]);
    assert_eq!(calls.iter().map(Vec::len).sum::<usize>(), copies);
    for c in &calls {
        let size: usize = c.iter().map(events::EventEntry::size).sum();
        assert!(c.len() <= 10 && size <= events::MAX_EVENT_BYTES);
    }
}

/// The evidence one object contributes, from 40 fuzz bytes.
fn evidence_of(chunk: &[u8]) -> Evidence {
    let mut b = Bytes(chunk);
    let mut e = Evidence {
        flows: u64::from(b.u8()) + 1,
        packets: u64::from(b.u32()),
        bytes: b.u64() >> 8,
        accepted: u64::from(b.u8()),
        rejected: u64::from(b.u8()),
        count: u64::from(b.u8()),
        first: Some(u64::from(b.u32())),
        protocol: Some([6, 17, 1][usize::from(b.u8()) % 3]),
        ..Evidence::default()
    };
    e.last = e.first.map(|t| t + u64::from(b.u8()));
    let mut slots: Vec<u32> = (0..b.u8() % 6).map(|_| b.u32() % 100_000).collect();
    slots.sort_unstable();
    slots.dedup();
    e.slots = slots;
    let mut hosts: Vec<u32> = (0..b.u8() % 4).map(|_| b.u32()).collect();
    hosts.sort_unstable();
    hosts.dedup();
    e.peer_hosts = hosts;
    for _ in 0..b.u8() % 8 {
        let item = b.u32();
        e.distinct_dst.add(item);
        e.distinct_ports.add(item % 65_536);
        if e.dst_ports.len() < MAX_LISTED_PORTS {
            e.dst_ports.push(item as u16);
        }
        if e.dst_addrs.len() < MAX_LISTED_ADDRS {
            e.dst_addrs.push(std::net::Ipv4Addr::from(item).into());
        }
    }
    e
}

/// What must not depend on the order in which objects arrive.
fn order_free(e: &Evidence) -> impl PartialEq + std::fmt::Debug {
    (
        (e.flows, e.packets, e.bytes, e.accepted, e.rejected, e.count),
        (e.first, e.last),
        (e.slots.clone(), e.peer_hosts.clone()),
        (e.distinct_dst.count(), e.distinct_ports.count()),
    )
}

/// `merge_state`: the evidence of up to a few hundred objects, merged in
/// arrival order, in reverse, and as two halves merged together, gives the
/// same counts, times, beacon slots, peer hosts and distinct counts; every
/// list stays within its cap and sorted where it must be; the merged
/// state survives a JSON round trip (the store's form) unchanged.
pub fn merge_state(data: &[u8]) {
    let parts: Vec<Evidence> = data.chunks(40).map(evidence_of).collect();
    if parts.is_empty() {
        return;
    }
    let fold = |it: &mut dyn Iterator<Item = &Evidence>| {
        let mut acc = Evidence::default();
        it.for_each(|p| acc.merge(p));
        acc
    };
    let forward = fold(&mut parts.iter());
    let reverse = fold(&mut parts.iter().rev());
    let (a, b) = parts.split_at(parts.len() / 2);
    let mut halves = fold(&mut b.iter());
    halves.merge(&fold(&mut a.iter()));
    assert_eq!(order_free(&forward), order_free(&reverse), "reverse order");
    assert_eq!(order_free(&forward), order_free(&halves), "two halves");
    for e in [&forward, &reverse, &halves] {
        assert!(e.slots.len() <= MAX_SLOTS && e.slots.windows(2).all(|w| w[0] < w[1]));
        assert!(
            e.peer_hosts.len() <= MAX_PEER_HOSTS && e.peer_hosts.windows(2).all(|w| w[0] < w[1])
        );
        assert!(e.dst_addrs.len() <= MAX_LISTED_ADDRS && e.dst_ports.len() <= MAX_LISTED_PORTS);
        let json = serde_json::to_string(e).expect("evidence serialises");
        let back: Evidence = serde_json::from_str(&json).expect("evidence reads back");
        assert_eq!(&back, e, "JSON round trip");
    }
}
