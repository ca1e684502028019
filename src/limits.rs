//! The bounds an object can reach, and what each means in a person's
//! words. Every table and rule state stops growing at a bound so that a
//! hostile or wide-open network cannot exhaust memory or the state store;
//! reaching one is not an error, but the results there are incomplete in a
//! way a reader should know. The `files` row lists each bound reached in
//! `limits_hit` ([`Bound::entry`]); reports and logs say
//! [`Bound::explain`].

use crate::catalogue::RuleId;

/// One bound reached while reading an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// A summary table held `max_tracked` keys.
    Table {
        /// `ports`, `talkers`, `admin`, `services`.
        table: &'static str,
        /// The bound.
        max_tracked: usize,
    },
    /// A rule's per-object state held its bound of keys.
    Rule {
        /// The rule.
        rule: RuleId,
        /// The bound (`max_tracked`, or the rule's own lower one).
        bound: usize,
    },
    /// A rule named more subjects than `max_findings`.
    Findings {
        /// The rule.
        rule: RuleId,
        /// Subjects not kept.
        dropped: u64,
        /// `max_findings`.
        max_findings: usize,
    },
    /// More subjects came near a threshold than `max_state_updates`.
    State {
        /// The rule.
        rule: RuleId,
        /// Subjects of this rule not written to the state store.
        left_out: usize,
        /// `max_state_updates`.
        max_state_updates: usize,
    },
}

impl Bound {
    /// The `limits_hit` entry: `talkers`, `rule:port-scan`,
    /// `findings:port-scan`, `state:port-scan`.
    pub fn entry(&self) -> String {
        match self {
            Bound::Table { table, .. } => table.to_string(),
            Bound::Rule { rule, .. } => format!("rule:{rule}"),
            Bound::Findings { rule, .. } => format!("findings:{rule}"),
            Bound::State { rule, .. } => format!("state:{rule}"),
        }
    }

    /// What was bounded, why, what the results still hold, and which key
    /// raises the bound.
    pub fn explain(&self) -> String {
        match self {
            Bound::Table { table, max_tracked } => format!(
                "the {table} table counted its first {max_tracked} keys (max_tracked) and \
                 none after them, so its rows cover those keys only; raise max_tracked (up \
                 to 1000000) to count more"
            ),
            Bound::Rule { rule, bound } => format!(
                "{rule} followed the first {bound} addresses it saw in this object and no \
                 later ones, a bound that keeps memory flat on hostile objects; its \
                 findings for those addresses are complete, and max_tracked raises the \
                 bound"
            ),
            Bound::Findings {
                rule,
                dropped,
                max_findings,
            } => format!(
                "{rule} named {dropped} more subjects than max_findings ({max_findings}); \
                 the ones over its threshold come first, then the most active, so what is \
                 left out is the least active; raise max_findings to keep more"
            ),
            Bound::State {
                rule,
                left_out,
                max_state_updates,
            } => format!(
                "{left_out} {} of {rule} came near its threshold in this object (the share \
                 of it a 5-minute object holds), more than the {max_state_updates} \
                 (max_state_updates) followed across objects; the most active are followed \
                 and the rest are judged on this object alone; raise max_state_updates to \
                 follow more",
                if *left_out == 1 {
                    "subject"
                } else {
                    "subjects"
                }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_explanations() {
        let cases = [
            (
                Bound::Table {
                    table: "talkers",
                    max_tracked: 1000,
                },
                "talkers",
                "raise max_tracked",
            ),
            (
                Bound::State {
                    rule: RuleId::PortScan,
                    left_out: 40,
                    max_state_updates: 100,
                },
                "state:port-scan",
                "40 subjects of port-scan",
            ),
            (
                Bound::Findings {
                    rule: RuleId::RejectedTraffic,
                    dropped: 3,
                    max_findings: 1000,
                },
                "findings:rejected-traffic",
                "raise max_findings",
            ),
            (
                Bound::Rule {
                    rule: RuleId::ThreatIntelMatch,
                    bound: 4096,
                },
                "rule:threat-intel-match",
                "first 4096 addresses",
            ),
        ];
        for (b, entry, says) in cases {
            assert_eq!(b.entry(), entry);
            let text = b.explain();
            assert!(text.contains(says), "{text}");
            assert!(!text.to_lowercase().contains("error"), "{text}");
        }
    }
}
