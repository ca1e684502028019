//! The end of an object: the partition, the rules' findings and
//! candidates, the `files` row, the tables, all in one [`Report`].

use super::scanner::{Scanner, State, Tally};
use super::{
    sort_findings, AnalyzeError, Engine, FilesRow, Report, ANALYZER_VERSION, OBJECT_SECONDS,
};
use crate::config::Config;
use crate::limits::Bound;
use crate::rules::{
    Candidate, CandidateSink, Finding, FindingContext, Resources, Rule, RuleRows, Thresholds,
};
use crate::summary::{KeyFacts, PartitionKey};

impl<'c> Engine<'c> {
    /// Ends the object. `compressed_bytes` is what was read from storage;
    /// `now` (Unix seconds) is the processing time, used for `processed_at`
    /// and as the last fallback for `dt`/`hour`.
    pub fn finish(self, compressed_bytes: u64, now: u64) -> Result<Report, AnalyzeError> {
        let Engine {
            scanner,
            aggregator,
            ..
        } = self;
        let Scanner {
            source,
            state,
            unit,
            samples,
            tally,
            uncompressed,
            mut warnings,
            ..
        } = scanner;
        let Tally {
            counts,
            interfaces,
            accounts,
            mut untrusted_fields,
            account,
            region,
            span,
            ..
        } = tally;
        untrusted_fields += interfaces.refused() + accounts.refused();
        let fields = match state {
            State::Failed(reason) => {
                return Err(AnalyzeError::NotFlowLog {
                    object: source,
                    reason,
                })
            }
            State::Start => {
                warnings.push(if uncompressed > 0 {
                    "object has only blank lines".to_string()
                } else {
                    "object is empty".to_string()
                });
                Vec::new()
            }
            State::Parsing(p) => p
                .format()
                .columns()
                .iter()
                .map(|c| c.name().to_string())
                .collect(),
            State::Typed(fields) => fields,
        };
        if unit == "event" && counts.records > 0 && counts.malformed == counts.records {
            warnings.push(format!(
                "every one of the {} CloudWatch Logs messages is malformed: is cwl_fields \
                 (now {} fields) the log group's format?",
                counts.records,
                fields.len()
            ));
        }
        let facts = KeyFacts::from_key(source.key_like());
        let partition = PartitionKey::resolve(&facts, account, region, span.first, now);
        let ctx = FindingContext {
            account: partition.account.clone(),
            region: partition.region.clone(),
            source: source.clone(),
            interfaces: Resources::new(interfaces, accounts),
        };
        let config = aggregator.config;
        let mut bounds: Vec<Bound> = aggregator
            .tables
            .limits_hit()
            .into_iter()
            .map(|table| Bound::Table {
                table,
                max_tracked: config.detect.max_tracked,
            })
            .collect();
        let (findings, candidates, rule_rows) =
            run_rules(aggregator.rules, &ctx, config, now, &mut bounds);
        let limits_hit = bounds.iter().map(Bound::entry).collect();
        let files = FilesRow {
            bucket: source.bucket().map(str::to_string),
            key: source.key().map(str::to_string),
            path: source.path().map(str::to_string),
            counts,
            malformed_samples: samples,
            first_start: span.first,
            last_end: span.last,
            compressed_bytes,
            uncompressed_bytes: uncompressed,
            findings: findings.len() as u64,
            untrusted_fields,
            limits_hit,
            fields,
            analyzer_version: ANALYZER_VERSION,
            processed_at: crate::time::rfc3339(now),
        };
        Ok(Report {
            stem: facts.stem,
            source,
            partition,
            files,
            tables: {
                let mut t = aggregator.tables.finish(config.detect.top_talkers);
                for rows in rule_rows {
                    match rows {
                        RuleRows::Rejected(r) => t.rejected = r,
                    }
                }
                t
            },
            findings,
            candidates,
            context: ctx,
            warnings,
            bounds,
        })
    }
}

/// Turns the rules' state into findings (the subjects whose evidence in
/// this object reaches their rule's threshold), most severe first, marked
/// where a suppression applies at `now`, and, when correlating, the
/// candidates for the store. Notes in `bounds` where a bound cut them
/// short. Each rule's state is freed as soon as its
/// candidates are out, so the next rule's candidates never peak together
/// with it, and all of it before the caller builds the table rows.
fn run_rules(
    rules: Vec<Box<dyn Rule + Send>>,
    ctx: &FindingContext,
    config: &Config,
    now: u64,
    bounds: &mut Vec<Bound>,
) -> (Vec<Finding>, Vec<Candidate>, Vec<RuleRows>) {
    let threshold = Thresholds::of(config);
    let floor = if config.correlate {
        threshold.share(OBJECT_SECONDS, config.state.window_seconds)
    } else {
        threshold
    };
    let mut candidates = Vec::new();
    let mut rows = Vec::new();
    for rule in rules {
        rows.extend(rule.table_rows(config));
        let mut sink = CandidateSink::new(config.detect.max_findings, threshold);
        rule.candidates(ctx, config, &floor, &mut sink);
        let (kept, dropped) = sink.finish();
        candidates.extend(kept);
        if dropped > 0 {
            bounds.push(Bound::Findings {
                rule: rule.id(),
                dropped,
                max_findings: config.detect.max_findings,
            });
        }
        if rule.limit_hit() {
            bounds.push(Bound::Rule {
                rule: rule.id(),
                bound: rule.bound(config),
            });
        }
    }
    let mut findings: Vec<Finding> = candidates
        .iter()
        .filter(|c| threshold.reached(c.rule, &c.evidence))
        .map(|c| {
            let mut f = Finding::build(c, &c.evidence, ctx);
            f.suppress_by(&c.subject, &config.intel.suppressions, now);
            f
        })
        .collect();
    sort_findings(&mut findings);
    if !config.correlate {
        candidates = Vec::new();
    }
    (findings, candidates, rows)
}
