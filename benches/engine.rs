//! Micro-benchmark of the engine, without a benchmark framework (so the
//! dependency tree stays lean): std::time::Instant, std::hint::black_box,
//! the median of a few runs.
//!
//!     CARGO_TARGET_DIR=/work/target-bench cargo bench --bench engine
//!     cargo bench --bench engine -- --records 500000 --runs 7
//!
//! Over generated v2 text (`flowguard::generate`, in memory):
//!   (a) `LineParser::parse` alone, line by line: ns/line and MB/s;
//!   (b) the whole engine, `analyze_text`: records/s and MB/s;
//!   (c) `analyze_reader` over the gzip of the same text (a `Cursor`, so
//!       inflate on the reader thread plus the engine): records/s and MB/s
//!       of uncompressed text.

use std::hint::black_box;
use std::io::{Cursor, Write};
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::Compression;
use flowguard::flowlog::{Format, LineParser};
use flowguard::generate::{generate, GenFormat, GenOptions};
use flowguard::{analyze_reader, analyze_text, Config, SourceRef};

/// 2025-06-26T18:30:00Z: a fixed "now" so runs do the same work.
const NOW: u64 = 1_750_962_600;

struct Args {
    records: u64,
    runs: usize,
    seed: u64,
    filter: Option<String>,
}

/// `cargo bench` passes `--bench` to every bench binary, custom harness or
/// not. `cargo test --all-targets` (what `make test` and CI run) runs this
/// binary too, in the unoptimised test profile and without `--bench`: then
/// it only does a small smoke run, so the test suite stays fast.
fn args() -> Args {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let mut a = Args {
        records: if smoke { 3_000 } else { 200_000 },
        runs: if smoke { 1 } else { 5 },
        seed: 7,
        filter: None,
    };
    if smoke {
        println!("engine bench: smoke run (no --bench: not under `cargo bench`), numbers are not meaningful");
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
            "--runs" => a.runs = num("--runs").max(1) as usize,
            "--seed" => a.seed = num("--seed"),
            "--bench" => {}
            s if s.starts_with('-') => {}
            s => a.filter = Some(s.to_string()),
        }
    }
    a
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs `f` once to warm up, then `runs` times; prints and returns the
/// median (and the minimum, for a feel of the noise).
fn measure<T>(name: &str, runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    black_box(f());
    let times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .collect();
    let min = *times.iter().min().expect("at least one run");
    let med = median(times);
    eprintln!("  {name}: median {med:.2?}, min {min:.2?} over {runs} runs");
    (med, min)
}

fn mb_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    let a = args();
    let wants = |name: &str| a.filter.as_deref().is_none_or(|f| name.contains(f));

    let t = Instant::now();
    let mut text = Vec::new();
    let opts = GenOptions {
        records: a.records,
        seed: a.seed,
        format: GenFormat::V2,
        ..GenOptions::default()
    };
    let manifest = generate(&mut text, &opts).expect("generate into a Vec");
    let records = manifest.records;
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&text).expect("gzip into a Vec");
    let gzipped = gz.finish().expect("gzip into a Vec");
    let header_end = memchr_newline(&text);
    let lines: Vec<&[u8]> = text[header_end + 1..]
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len() as u64, records, "one line per record");
    let body_bytes = text.len() - header_end - 1;
    println!(
        "engine bench: {records} v2 records (seed {}), {:.1} MB text, {:.1} MB gzip; \
         prepared in {:.2?}; median of {} runs",
        a.seed,
        text.len() as f64 / 1e6,
        gzipped.len() as f64 / 1e6,
        t.elapsed(),
        a.runs
    );

    let config = Config::default();
    let source = SourceRef::Path {
        path: "bench/123456789012_vpcflowlogs_us-east-1_fl-0bench_20250626T1820Z_x.log.gz".into(),
    };

    if wants("parse") {
        let header = std::str::from_utf8(&text[..header_end]).expect("header is text");
        let format = Format::from_header(header).expect("generated header parses");
        let mut parser = LineParser::new(format);
        let (med, min) = measure("parse", a.runs, || {
            let mut ok = 0u64;
            for line in &lines {
                if parser.parse(black_box(line)).is_ok() {
                    ok += 1;
                }
            }
            assert_eq!(ok, records, "every generated line parses");
            ok
        });
        println!(
            "(a) LineParser::parse     {:>7.1} ns/line  {:>7.0} MB/s   (min {:.1} ns/line)",
            med.as_nanos() as f64 / records as f64,
            mb_s(body_bytes, med),
            min.as_nanos() as f64 / records as f64,
        );
    }

    if wants("analyze_text") {
        let (med, _) = measure("analyze_text", a.runs, || {
            let report = analyze_text(black_box(&text), source.clone(), &config, NOW)
                .expect("generated text analyses");
            assert_eq!(report.counts().records, records);
            report
        });
        println!(
            "(b) analyze_text          {:>7.2} M records/s  {:>7.0} MB/s  ({:.1} ns/record)",
            records as f64 / 1e6 / med.as_secs_f64(),
            mb_s(text.len(), med),
            med.as_nanos() as f64 / records as f64,
        );
    }

    if wants("analyze_reader") {
        let (med, _) = measure("analyze_reader", a.runs, || {
            let report = analyze_reader(
                Cursor::new(black_box(&gzipped[..])),
                source.clone(),
                &config,
                NOW,
                None,
            )
            .expect("generated gzip analyses");
            assert_eq!(report.counts().records, records);
            report
        });
        println!(
            "(c) analyze_reader (gzip) {:>7.2} M records/s  {:>7.0} MB/s of text  ({:.1} ns/record)",
            records as f64 / 1e6 / med.as_secs_f64(),
            mb_s(text.len(), med),
            med.as_nanos() as f64 / records as f64,
        );
    }
}

fn memchr_newline(text: &[u8]) -> usize {
    text.iter()
        .position(|b| *b == b'\n')
        .expect("generated text has a header line")
}
