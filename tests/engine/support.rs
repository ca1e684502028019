//! Shared helpers: a flow-record builder, analysis shortcuts, gzip and
//! NDJSON helpers, and fixture paths.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use flowguard::{analyze_text, Config, Finding, Report, SourceRef};

/// 2025-06-26T18:20:00Z: the fixed processing time of every test.
pub const NOW: u64 = 1_750_962_000;

/// 2025-06-26T18:10:00Z: the default flow start.
pub const T0: u64 = 1_750_961_400;

/// The default v2 header.
pub const V2_HEADER: &str =
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// The v2..v5 header (29 fields) in AWS order.
pub const V5_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path";

/// `tests/fixtures/{rel}`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// One flow record, written as a v2 (or v5) line.
#[derive(Debug, Clone)]
pub struct Rec {
    pub account: &'static str,
    pub eni: String,
    pub src: String,
    pub dst: String,
    pub sp: String,
    pub dp: String,
    pub proto: String,
    pub packets: String,
    pub bytes: String,
    pub start: String,
    pub end: String,
    pub action: &'static str,
    pub status: &'static str,
    /// v5 only.
    pub tcp_flags: String,
    /// v5 only: `ingress`, `egress` or `-`.
    pub direction: &'static str,
    /// v5 only: `instance-id`.
    pub instance: String,
    /// v5 only: `pkt-dst-aws-service`.
    pub aws_service: String,
}

/// A one-packet, 44-byte TCP flow from `src:40000` to `dst:dp`, ACCEPT OK.
pub fn rec(src: &str, dst: &str, dp: u16) -> Rec {
    Rec {
        account: "123456789012",
        eni: "eni-0a1b2c3d4e5f60001".to_string(),
        src: src.to_string(),
        dst: dst.to_string(),
        sp: "40000".to_string(),
        dp: dp.to_string(),
        proto: "6".to_string(),
        packets: "1".to_string(),
        bytes: "44".to_string(),
        start: T0.to_string(),
        end: (T0 + 60).to_string(),
        action: "ACCEPT",
        status: "OK",
        tcp_flags: "-".to_string(),
        direction: "-",
        instance: "-".to_string(),
        aws_service: "-".to_string(),
    }
}

impl Rec {
    pub fn reject(mut self) -> Rec {
        self.action = "REJECT";
        self
    }
    pub fn sp(mut self, sp: u16) -> Rec {
        self.sp = sp.to_string();
        self
    }
    pub fn packets(mut self, p: u64) -> Rec {
        self.packets = p.to_string();
        self
    }
    pub fn bytes(mut self, b: u64) -> Rec {
        self.bytes = b.to_string();
        self
    }
    pub fn times(mut self, start: u64, end: u64) -> Rec {
        self.start = start.to_string();
        self.end = end.to_string();
        self
    }
    pub fn status(mut self, s: &'static str) -> Rec {
        self.status = s;
        self
    }
    pub fn direction(mut self, d: &'static str) -> Rec {
        self.direction = d;
        self
    }
    pub fn flags(mut self, f: u16) -> Rec {
        self.tcp_flags = f.to_string();
        self
    }
    pub fn proto(mut self, p: u8) -> Rec {
        self.proto = p.to_string();
        self
    }
    pub fn eni(mut self, e: &str) -> Rec {
        self.eni = e.to_string();
        self
    }
    pub fn account(mut self, a: &'static str) -> Rec {
        self.account = a;
        self
    }
    pub fn instance(mut self, i: &str) -> Rec {
        self.instance = i.to_string();
        self
    }
    pub fn aws_service(mut self, s: &str) -> Rec {
        self.aws_service = s.to_string();
        self
    }

    /// The 14 v2 columns.
    pub fn v2(&self) -> String {
        format!(
            "2 {} {} {} {} {} {} {} {} {} {} {} {} {}",
            self.account,
            self.eni,
            self.src,
            self.dst,
            self.sp,
            self.dp,
            self.proto,
            self.packets,
            self.bytes,
            self.start,
            self.end,
            self.action,
            self.status
        )
    }

    /// The 29 v5 columns (see [`V5_HEADER`]).
    pub fn v5(&self) -> String {
        format!(
            "5 {} {} {} {} {} {} {} {} {} {} {} {} {} vpc-0f1e2d3c4b5a69788 subnet-0a1b2c3d00000001 {} {} IPv4 {} {} us-east-1 use1-az1 - - - {} {} -",
            self.account,
            self.eni,
            self.src,
            self.dst,
            self.sp,
            self.dp,
            self.proto,
            self.packets,
            self.bytes,
            self.start,
            self.end,
            self.action,
            self.status,
            self.instance,
            self.tcp_flags,
            self.src,
            self.dst,
            self.aws_service,
            self.direction
        )
    }
}

/// A v2 object: header plus the records.
pub fn v2_text(recs: &[Rec]) -> String {
    let mut s = String::from(V2_HEADER);
    for r in recs {
        s.push('\n');
        s.push_str(&r.v2());
    }
    s.push('\n');
    s
}

/// A v5 object: header plus the records.
pub fn v5_text(recs: &[Rec]) -> String {
    let mut s = String::from(V5_HEADER);
    for r in recs {
        s.push('\n');
        s.push_str(&r.v5());
    }
    s.push('\n');
    s
}

/// A local-file source named `name`.
pub fn path_source(name: &str) -> SourceRef {
    SourceRef::Path {
        path: name.to_string(),
    }
}

/// Analyses `text` as `test.log` with `config`; panics on an object error.
pub fn analyze_with(text: &str, config: &Config) -> Report {
    analyze_text(text.as_bytes(), path_source("test.log"), config, NOW).expect("object analyses")
}

/// Analyses `text` as `test.log` with the default configuration.
pub fn analyze(text: &str) -> Report {
    analyze_with(text, &Config::default())
}

/// `(rule, src_addr)` of every finding, in report order.
pub fn rules_fired(report: &Report) -> Vec<(String, String)> {
    report
        .findings
        .iter()
        .map(|f| (f.rule.as_str().to_string(), f.subject.clone()))
        .collect()
}

/// The subject text of an exposed TCP service.
pub fn svc(addr: &str, port: u16) -> String {
    if addr.contains(':') {
        format!("[{addr}]:{port}/tcp")
    } else {
        format!("{addr}:{port}/tcp")
    }
}

/// The single finding of `rule`; panics unless there is exactly one.
pub fn only<'r>(report: &'r Report, rule: &str) -> &'r Finding {
    let v: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.rule.as_str() == rule)
        .collect();
    assert_eq!(
        v.len(),
        1,
        "want exactly one {rule} finding, got {:#?}",
        report.findings
    );
    v[0]
}

/// Asserts `records = ok + nodata + skipdata + malformed`.
pub fn assert_counts_add_up(report: &Report) {
    let c = report.files.counts;
    assert_eq!(
        c.records,
        c.ok + c.nodata + c.skipdata + c.malformed,
        "records must equal ok + nodata + skipdata + malformed: {c:?}"
    );
}

/// gzip of `data` (one member).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// All members of a gzip stream, decompressed.
pub fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// The rows of a gzip NDJSON body.
pub fn ndjson(body: &[u8]) -> Vec<serde_json::Value> {
    let text = String::from_utf8(gunzip(body)).expect("NDJSON is UTF-8");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad NDJSON line {l:?}: {e}")))
        .collect()
}

/// The `flowguard` binary as a command. `make test-arm64` builds it for
/// aarch64 and sets `FLOWGUARD_TEST_RUNNER` to the runner cargo uses for the
/// test binary (`qemu-aarch64 -L ...`), which then starts it too.
pub fn flowguard_command() -> Command {
    let bin = env!("CARGO_BIN_EXE_flowguard");
    let runner = std::env::var("FLOWGUARD_TEST_RUNNER").unwrap_or_default();
    let mut parts = runner.split_whitespace();
    match parts.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(parts).arg(bin);
            c
        }
        None => Command::new(bin),
    }
}
