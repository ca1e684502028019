//! `skipped-records`: AWS dropped flow records (SKIPDATA), so the object
//! under-reports traffic.

use super::{Finding, FindingContext, FindingSink, Flow, Hits, Rule, RuleId};
use crate::config::Config;
use crate::flowlog::FlowRecord;

/// Counts SKIPDATA records.
#[derive(Debug, Default)]
pub struct SkippedRecords {
    hits: Hits,
}

impl Rule for SkippedRecords {
    fn id(&self) -> RuleId {
        RuleId::SkippedRecords
    }

    fn observe(&mut self, _flow: &Flow<'_>, _config: &Config) {}

    fn observe_skipped(&mut self, record: &FlowRecord, interface: u32) {
        self.hits.count_flow();
        self.hits.add_times(record.start, record.end);
        self.hits.add_interface(interface);
    }

    fn findings(&self, ctx: &FindingContext, config: &Config, out: &mut FindingSink<'_>) {
        if self.hits.flows() == 0 {
            return;
        }
        let names: Vec<&str> = self
            .hits
            .interfaces()
            .iter()
            .filter_map(|i| ctx.interfaces.get(*i as usize).map(String::as_str))
            .collect();
        let title = format!(
            "AWS skipped flow records {} time{} on {}: traffic in that window is not visible",
            self.hits.flows(),
            super::plural(self.hits.flows()),
            if names.is_empty() {
                "unknown interfaces".to_string()
            } else {
                names.join(", ")
            }
        );
        out.push(Finding::new(
            self.id(),
            config.severity(self.id()),
            title,
            ctx,
            None,
            None,
            &self.hits,
            vec!["T1562.001"],
        ));
    }

    fn limit_hit(&self) -> bool {
        false
    }

    fn entries(&self) -> usize {
        0
    }
}
