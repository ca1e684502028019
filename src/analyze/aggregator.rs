//! The second half of the engine: observations in, rule state and
//! summary tables out. Runs on its own thread when streaming.

use super::Observation;
use crate::config::Config;
use crate::flow::Flow;
use crate::flowlog::LogStatus;
use crate::rules::{all_rules, Rule};
use crate::summary::{Prefetch, TableBuilder, HAS_PREFETCH};

/// The second half of the engine: observations in, rule state and summary
/// tables out. Runs on its own thread when streaming.
pub struct Aggregator<'c> {
    pub(super) config: &'c Config,
    pub(super) rules: Vec<Box<dyn Rule + Send>>,
    /// Indices in `rules` of those that see every flow.
    every: Vec<usize>,
    /// Indices of those that see outbound flows only.
    outbound: Vec<usize>,
    pub(super) tables: TableBuilder,
}

impl<'c> Aggregator<'c> {
    /// Fresh rule and table state.
    pub fn new(config: &'c Config) -> Aggregator<'c> {
        let rules = all_rules(config);
        let (outbound, every): (Vec<usize>, Vec<usize>) =
            (0..rules.len()).partition(|&i| rules[i].outbound_only());
        Aggregator {
            config,
            rules,
            every,
            outbound,
            tables: TableBuilder::default(),
        }
    }

    /// Runs the rules and tables over a batch of observations.
    pub fn consume(&mut self, batch: &[Observation]) {
        let config = self.config;
        /// How many records ahead each prefetch stage runs: far enough
        /// for a miss to complete, near enough to stay in cache.
        const STAGES: [(usize, Prefetch); 2] = [(8, Prefetch::Keys), (4, Prefetch::Values)];
        for (i, o) in batch.iter().enumerate() {
            if HAS_PREFETCH {
                for (ahead, stage) in STAGES {
                    if let Some(a) = batch.get(i + ahead) {
                        self.tables.prefetch(&a.record, stage);
                    }
                }
            }
            let r = &o.record;
            if r.log_status == Some(LogStatus::SkipData) {
                for rule in &mut self.rules {
                    rule.observe_skipped(r, o.tags.interface);
                }
            } else if let Some(flow) = Flow::classify(r, o.tags, config) {
                for &i in &self.every {
                    self.rules[i].observe(&flow, config);
                }
                // Most flows are not outbound, and no outbound rule counts a
                // server's TCP reply: those rules are not asked.
                if flow.outbound && !(flow.is_reply && r.protocol == Some(6)) {
                    for &i in &self.outbound {
                        self.rules[i].observe(&flow, config);
                    }
                }
                self.tables.add(&flow, config);
            }
        }
    }

    /// Entries held in bounded state.
    pub fn tracked_entries(&self) -> usize {
        self.tables.entries() + self.rules.iter().map(|r| r.entries()).sum::<usize>()
    }
}
