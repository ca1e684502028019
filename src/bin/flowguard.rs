//! `flowguard`: analyse flow-log files locally, or generate synthetic ones.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand, ValueEnum};
use flate2::write::GzEncoder;
use flate2::Compression;

use flowguard::correlate::{block_on, correlate, settle, MemoryStore, Policy, StateStore};
use flowguard::generate::{
    generate, generate_objects, generate_outbound_day, GenFormat, GenOptions, Manifest,
};
use flowguard::intel::{
    parse_suppress_list, parse_threat_list, Intel, IntelError, Location, SuppressList, ThreatList,
};
use flowguard::io::state_file::FileStore;
use flowguard::io::write_summaries;
use flowguard::report::{render_notifications, render_text};
use flowguard::stream::Progress;
use flowguard::{analyze_object, Config, Severity, SourceRef};

#[derive(Parser)]
#[command(
    name = "flowguard",
    version,
    about = "Amazon VPC Flow Logs to security findings"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse flow-log files, directories (*.log, *.log.gz, *.parquet) or `-` (stdin).
    Analyze {
        /// Files, directories, or `-` for standard input.
        #[arg(required = true)]
        paths: Vec<String>,
        /// Write the summary tables under DIR, with the S3 layout.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// TOML configuration file (same keys as the Lambda's FLOWGUARD_* variables).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Output format on standard output.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
        /// Lowest severity printed [default: low, or the config file's].
        #[arg(long, value_name = "LEVEL")]
        min_severity: Option<Severity>,
        /// Exit with status 3 when a finding at or above LEVEL is found.
        #[arg(long, value_name = "LEVEL")]
        fail_on: Option<Severity>,
        /// Keep the correlation state in FILE across runs (created when
        /// missing), so each finding is notified once; without it, the
        /// objects of this run are correlated in memory.
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
    },
    /// Write realistic synthetic flow logs with known injected attacks.
    Generate {
        /// Number of records (per object with --objects).
        #[arg(long, default_value_t = 100_000)]
        records: u64,
        /// Write N 5-minute objects of one flow log into the directory
        /// --output, with attacks spread across them that no single object
        /// shows (the correlation scenario).
        #[arg(long, value_name = "N")]
        objects: Option<u64>,
        /// Random seed (same seed, same output).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Field layout.
        #[arg(long, value_enum, default_value_t = Layout::V2)]
        format: Layout,
        /// Output file (gzip when it ends in .gz) or `-` for standard output.
        #[arg(long, short)]
        output: String,
        /// Also write the list of findings the attacks must produce (JSON).
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// Open N services (up to 8) to thousands of internet addresses.
        #[arg(long, value_name = "N", default_value_t = 0)]
        exposed: usize,
        /// Add our own hosts acting as attackers: in one object, five
        /// outbound attacks; with --objects, a day of two accounts with six
        /// outbound attacks spread across the objects, among look-alikes.
        #[arg(long)]
        outbound: bool,
    },
    /// Print the rules with the thresholds in effect (the README's table
    /// is `flowguard rules --markdown` with the defaults).
    Rules {
        /// TOML configuration file whose thresholds to show.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Markdown tables (rules, then remediation) instead of text.
        #[arg(long)]
        markdown: bool,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum OutputFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Layout {
    V2,
    V5,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.command {
        Command::Analyze {
            paths,
            out,
            config,
            format,
            min_severity,
            fail_on,
            state,
        } => analyze(paths, config, state, min_severity, |min| Run {
            out,
            format,
            min,
            fail_on,
        }),
        Command::Rules { config, markdown } => rules(config.as_deref(), markdown),
        Command::Generate {
            records,
            objects,
            seed,
            format,
            output,
            manifest,
            exposed,
            outbound,
        } => {
            let opts = GenOptions {
                records,
                seed,
                exposed_services: exposed,
                outbound,
                format: match format {
                    Layout::V2 => GenFormat::V2,
                    Layout::V5 => GenFormat::V5,
                },
                ..GenOptions::default()
            };
            generate_command(&opts, objects, &output, manifest.as_deref())
        }
    }
}

fn generate_command(
    opts: &GenOptions,
    objects: Option<u64>,
    output: &str,
    manifest: Option<&Path>,
) -> ExitCode {
    match run_generate(opts, objects, output, manifest) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flowguard: generate: {e}");
            ExitCode::from(1)
        }
    }
}

fn rules(config: Option<&Path>, markdown: bool) -> ExitCode {
    let config = match load_config(config, None) {
        Ok((c, _)) => c,
        Err(e) => {
            eprintln!("flowguard: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if markdown {
        println!("{}", flowguard::report::rules_markdown(&config));
        println!("{}", flowguard::report::remediation_markdown());
        print!("{}", flowguard::report::asff_markdown());
        return ExitCode::SUCCESS;
    }
    print!("{}", flowguard::report::rules_text(&config));
    ExitCode::SUCCESS
}

fn run_generate(
    opts: &GenOptions,
    objects: Option<u64>,
    output: &str,
    manifest: Option<&Path>,
) -> io::Result<()> {
    let records = opts.records;
    if let Some(n) = objects {
        let (m, paths) = if opts.outbound {
            generate_outbound_day(Path::new(output), opts, n, records)?
        } else {
            generate_objects(Path::new(output), opts, n, records)?
        };
        write_manifest(manifest, &m)?;
        eprintln!(
            "flowguard: wrote {} objects of {records} records ({} attack records) under {output}",
            paths.len(),
            m.attack_records
        );
        return Ok(());
    }
    let m = if output == "-" {
        generate(io::stdout().lock(), opts)?
    } else {
        if let Some(parent) = Path::new(output)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)?;
        }
        let file = File::create(output)?;
        if output.ends_with(".gz") {
            let mut gz = GzEncoder::new(file, Compression::default());
            let m = generate(&mut gz, opts)?;
            gz.finish()?.sync_all()?;
            m
        } else {
            generate(file, opts)?
        }
    };
    write_manifest(manifest, &m)?;
    eprintln!(
        "flowguard: wrote {} records ({} attack, {} nodata, {} skipdata) to {output}",
        m.records, m.attack_records, m.nodata, m.skipdata
    );
    Ok(())
}

fn write_manifest(path: Option<&Path>, m: &Manifest) -> io::Result<()> {
    match path {
        Some(path) => std::fs::write(
            path,
            serde_json::to_vec_pretty(m).map_err(io::Error::other)?,
        ),
        None => Ok(()),
    }
}

fn load_config(path: Option<&Path>, min: Option<Severity>) -> Result<(Config, Severity), String> {
    let Some(path) = path else {
        return Ok((Config::default(), min.unwrap_or(Severity::Low)));
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let config =
        Config::from_toml(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
    let min = min.or(config.detect.min_severity).unwrap_or(Severity::Low);
    Ok((config, min))
}

/// Reads the threat and suppression lists of `config` from local files
/// into `config.intel`. Any list that cannot be read or parsed is an error
/// naming it (and the line): never half a list.
fn load_lists(config: &mut Config) -> Result<(), IntelError> {
    fn read(location: &Location) -> Result<Vec<u8>, IntelError> {
        match location {
            Location::Path(p) => {
                std::fs::read(p).map_err(|e| IntelError::list(p, format!("cannot read: {e}")))
            }
            Location::S3 { .. } => Err(IntelError::list(
                &location.to_string(),
                "the CLI reads lists from local files (the Lambda function reads s3:// URLs): \
                 download it first",
            )),
        }
    }
    if config.lists.threat_lists.0.is_empty() && config.lists.suppress_lists.0.is_empty() {
        return Ok(());
    }
    let mut threats: Vec<ThreatList> = Vec::new();
    for l in &config.lists.threat_lists.0 {
        threats.push(parse_threat_list(&l.to_string(), l.name(), &read(l)?)?);
    }
    let mut suppressions: Vec<SuppressList> = Vec::new();
    for l in &config.lists.suppress_lists.0 {
        suppressions.push(parse_suppress_list(&l.to_string(), l.name(), &read(l)?)?);
    }
    config.intel = Arc::new(Intel::new(&threats, &suppressions));
    Ok(())
}

/// Files to analyse: given files as is, directories walked for flow logs.
fn collect_inputs(paths: &[String]) -> (Vec<String>, Vec<String>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p == "-" {
            files.push(p.clone());
            continue;
        }
        let path = Path::new(p);
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found, &mut errors);
            found.sort();
            files.extend(found);
        } else if path.exists() {
            files.push(p.clone());
        } else {
            errors.push(format!("{p}: no such file or directory"));
        }
    }
    (files, errors)
}

fn walk(dir: &Path, found: &mut Vec<String>, errors: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, found, errors);
        } else {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.ends_with(".log") || name.ends_with(".log.gz") || name.ends_with(".parquet") {
                found.push(path.display().to_string());
            }
        }
    }
}

/// What `analyze` was asked to do.
struct Run {
    out: Option<PathBuf>,
    format: OutputFormat,
    min: Severity,
    fail_on: Option<Severity>,
}

fn analyze(
    paths: Vec<String>,
    config_path: Option<PathBuf>,
    state: Option<PathBuf>,
    min: Option<Severity>,
    run: impl FnOnce(Severity) -> Run,
) -> ExitCode {
    let (mut config, min) = match load_config(config_path.as_deref(), min) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flowguard: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = load_lists(&mut config) {
        eprintln!("flowguard: list error: {e}");
        return ExitCode::from(2);
    }
    // The objects of a run are correlated (SPEC section 7).
    config.correlate = true;
    let run = run(min);
    match state {
        Some(path) => match FileStore::open(&path) {
            Ok(store) => analyze_with(&store, &paths, &config, &run),
            Err(e) => {
                eprintln!("flowguard: error: {e}");
                ExitCode::from(2)
            }
        },
        None => analyze_with(&MemoryStore::default(), &paths, &config, &run),
    }
}

fn analyze_with<S: StateStore>(
    store: &S,
    paths: &[String],
    config: &Config,
    run: &Run,
) -> ExitCode {
    let policy = Policy::of(config, run.min);
    let (inputs, input_errors) = collect_inputs(paths);
    let mut failed = input_errors.len();
    for e in &input_errors {
        eprintln!("flowguard: error: {e}");
    }
    let mut worst: Option<Severity> = None;
    let mut notifications = Vec::new();
    let stdout = io::stdout();
    let mut stdout = stdout.lock();
    let show_progress = io::stderr().is_terminal();
    let total = inputs.len();
    for (i, input) in inputs.iter().enumerate() {
        let source = SourceRef::Path {
            path: input.clone(),
        };
        let progress = Progress::default();
        let done = Arc::new(AtomicBool::new(false));
        let ticker = show_progress
            .then(|| spawn_ticker(i + 1, total, input.clone(), &progress, done.clone()));
        let result = if input == "-" {
            // Parquet needs random access: standard input that turns out
            // to be Parquet is read into memory first.
            let buffer = |stdin: flowguard::stream::Sniffed<io::Stdin>| {
                let mut all = Vec::new();
                stdin.into_reader().read_to_end(&mut all)?;
                Ok(all)
            };
            analyze_object(io::stdin(), buffer, source, config, now(), Some(&progress))
        } else {
            match File::open(input).and_then(|f| Ok((f.try_clone()?, f))) {
                Ok((stream, file)) => {
                    // Parquet is read by position from the same file.
                    let random_access = |_| Ok(file);
                    analyze_object(
                        stream,
                        random_access,
                        source,
                        config,
                        now(),
                        Some(&progress),
                    )
                }
                Err(e) => {
                    done.store(true, Ordering::Relaxed);
                    if let Some(t) = ticker {
                        let _ = t.join();
                    }
                    eprintln!("flowguard: error: {input}: {e}");
                    failed += 1;
                    continue;
                }
            }
        };
        done.store(true, Ordering::Relaxed);
        if let Some(t) = ticker {
            let _ = t.join();
        }
        let mut report = match result {
            Ok(r) => r,
            Err(e) => {
                eprintln!("flowguard: error: {e}");
                failed += 1;
                continue;
            }
        };
        for w in &report.warnings {
            eprintln!("flowguard: warning: {input}: {w}");
        }
        // The state store decides the findings and notifications; when it
        // fails, the object's own findings are written, none notified.
        let mut correlated = match block_on(correlate(store, &mut report, config, &policy, now())) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("flowguard: error: {input}: {e}");
                failed += 1;
                None
            }
        };
        if let Some(dir) = &run.out {
            if let Err(e) = write_summaries(dir, &report, &config.lambda.summary_prefix) {
                eprintln!(
                    "flowguard: error: writing summaries of {input} under {}: {e}",
                    dir.display()
                );
                failed += 1;
            }
        }
        let due = correlated
            .as_ref()
            .map(|c| c.due.as_slice())
            .unwrap_or_default();
        let printed = match run.format {
            OutputFormat::Text => write!(stdout, "{}", render_text(&report, run.min)),
            OutputFormat::Json => {
                // The text report says this; JSON lines carry findings only.
                for b in &report.bounds {
                    eprintln!("flowguard: note: {input}: {}", b.explain());
                }
                due.iter().try_for_each(|f| {
                    writeln!(stdout, "{}", serde_json::to_string(f).unwrap_or_default())
                })
            }
        };
        notifications.extend(due.iter().cloned());
        if let Some(c) = correlated.as_mut() {
            // Printed is published, for the CLI.
            if let Err(e) = block_on(settle(store, c, true, &Default::default(), &policy, now())) {
                eprintln!("flowguard: error: {input}: {e}");
                failed += 1;
            }
        }
        if printed.is_err() {
            // Standard output closed (e.g. piped to head): stop quietly.
            return ExitCode::from(if failed > 0 { 1 } else { 0 });
        }
        // A suppressed finding is a known exception: it never fails a run.
        let unsuppressed = report.findings.iter().filter(|f| !f.suppressed);
        if let Some(top) = unsuppressed.map(|f| f.severity).max() {
            worst = Some(worst.map_or(top, |w| w.max(top)));
        }
    }
    if run.format == OutputFormat::Text && !notifications.is_empty() {
        let _ = write!(stdout, "{}", render_notifications(&notifications));
    }
    let _ = stdout.flush();
    if failed > 0 {
        eprintln!("flowguard: {failed} input(s) failed; the others were processed");
        return ExitCode::from(1);
    }
    if let (Some(threshold), Some(w)) = (run.fail_on, worst) {
        if w >= threshold {
            return ExitCode::from(3);
        }
    }
    ExitCode::SUCCESS
}

fn spawn_ticker(
    index: usize,
    total: usize,
    name: String,
    progress: &Progress,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let read = progress.compressed.clone();
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let mut shown = false;
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
            if started.elapsed() > Duration::from_secs(1) {
                let mb = read.load(Ordering::Relaxed) as f64 / 1e6;
                eprint!(
                    "\r[{index}/{total}] {name}: {mb:.1} MB read, {:.0} s ",
                    started.elapsed().as_secs_f64()
                );
                shown = true;
            }
        }
        if shown {
            eprint!("\r\x1b[2K");
        }
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
