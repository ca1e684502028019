//! Correlation across objects (SPEC section 7): threshold rules count over
//! a sliding window of event time across all objects of an account and
//! region, a finding keeps one id and a lifecycle across objects, and a
//! notification is sent once, when it is due, by exactly one invocation.
//!
//! The decisions are pure ([`state`]); the state lives behind the
//! [`StateStore`] trait: in memory for one CLI run and for tests, in an
//! embedded file for `flowguard analyze --state`, in DynamoDB for the
//! Lambda function (in [`crate::io`]).

mod error;
pub mod hold;
pub mod state;
pub mod store;

pub use state::{Claim, Contribution, Policy, SubjectState, Verdict};

pub use hold::{Held, HoldStore, MemoryHold};
pub use store::{block_on, MemoryStore, StateError, StateKey, StateStore, Versioned};

use crate::analyze::Report;
use crate::catalogue::Measure;
use crate::config::Config;
use crate::hash::fnv1a64;
use crate::limits::Bound;
use crate::rules::{finding_id, Candidate, Finding, Thresholds};

/// Attempts of a conditional write before the object is retried. A
/// conflict means another invocation's write to the same subject won, and
/// each invocation writes a subject at most twice (its update, then its
/// claim's end), so `k` concurrent invocations on one subject cost a
/// writer at most `2 (k - 1)` conflicts: 32 covers 16 at once.
const MAX_WRITE_ATTEMPTS: usize = 32;
/// The sort key of a subject's state.
pub const STATE_SK: &str = "state";

impl Policy {
    /// The policy of a configuration.
    pub fn of(config: &Config, min_severity: crate::rules::Severity) -> Policy {
        Policy {
            window_seconds: config.state.window_seconds,
            renotify_seconds: config.state.renotify_seconds,
            state_ttl_seconds: config.state.state_ttl_seconds,
            thresholds: Thresholds::of(config),
            min_severity,
        }
    }
}

/// The outcome of correlating one object: its findings (in the report) now
/// carry `occurrences`, `window_flows` and `notified`, and these are the
/// ones this invocation claimed to notify.
#[derive(Debug, Default)]
pub struct Correlated {
    /// The object's token in claims.
    token: String,
    /// Findings claimed for notification, most severe first.
    pub due: Vec<Finding>,
    /// The states that hold this object's claims.
    claims: Vec<(StateKey, u64, SubjectState)>,
    /// Requests sent to the store for this object.
    pub requests: u64,
    /// Subjects written.
    pub updates: usize,
}

impl Correlated {
    /// The object's claim token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The sinks that already took the notification of `finding_id` (a
    /// retry, or a claim taken over after a partial send).
    pub fn already_sent(&self, finding_id: &str) -> &[String] {
        self.claims
            .iter()
            .find(|(k, _, _)| k.pk == finding_id)
            .and_then(|(_, _, s)| s.claim.as_ref())
            .map_or(&[], |c| c.sent.as_slice())
    }
}

/// The claim token of an object: a short stable hash of its name.
pub fn object_token(report: &Report) -> String {
    format!("{:016x}", fnv1a64(report.source.display().as_bytes()))
}

/// The state key of a subject.
pub fn state_key(account: &str, region: &str, c: &Candidate) -> StateKey {
    StateKey {
        pk: finding_id(account, region, c.rule, &c.subject),
        sk: STATE_SK.to_string(),
    }
}

/// The order in which an object's candidates enter the store, whose
/// writes per object are bounded: the findings of the object first, then
/// the subjects without a threshold (exposures, listed addresses), then
/// the others taken in turn from each rule, nearest to its threshold
/// first. Taking turns keeps one rule with many weak candidates (a fleet's
/// outbound connections, each one slot of a possible beacon) from
/// crowding out another's few (a brute forcer spreading its attempts).
fn store_order(mut candidates: Vec<Candidate>, t: &Thresholds) -> Vec<Candidate> {
    let first_rank = |c: &Candidate| {
        (
            t.reached(c.rule, &c.evidence),
            matches!(c.rule.spec().measure, Measure::Any | Measure::Accepted),
        )
    };
    let rank = |c: &Candidate| (t.progress(c.rule, &c.evidence), c.evidence.flows);
    candidates.sort_by(|a, b| {
        first_rank(b)
            .cmp(&first_rank(a))
            .then(a.rule.cmp(&b.rule))
            .then(rank(b).cmp(&rank(a)))
            .then(a.subject.cmp(&b.subject))
    });
    let split = candidates
        .iter()
        .position(|c| first_rank(c) == (false, false))
        .unwrap_or(candidates.len());
    let rest = candidates.split_off(split);
    // Per rule, already nearest first; then one of each rule in turn.
    let mut by_rule: Vec<std::collections::VecDeque<Candidate>> = Vec::new();
    for c in rest {
        match by_rule.last_mut() {
            Some(q) if q.front().is_some_and(|f| f.rule == c.rule) => q.push_back(c),
            _ => by_rule.push(std::collections::VecDeque::from([c])),
        }
    }
    while !by_rule.is_empty() {
        for q in by_rule.iter_mut() {
            if let Some(c) = q.pop_front() {
                candidates.push(c);
            }
        }
        by_rule.retain(|q| !q.is_empty());
    }
    candidates
}

/// Correlates one analysed object with the store: merges the report's
/// candidates (at most `max_state_updates` subjects, the rest named in
/// `limits_hit`), replaces the report's findings by the window's, and
/// claims the notifications that are due. `now` is the wall clock.
pub async fn correlate<S: StateStore>(
    store: &S,
    report: &mut Report,
    config: &Config,
    policy: &Policy,
    now: u64,
) -> Result<Correlated, StateError> {
    let before = store.requests();
    let token = object_token(report);
    let ctx = report.context.clone();
    let object_time = report
        .files
        .last_end
        .or(report.files.first_start)
        .unwrap_or(now);
    let mut candidates = store_order(std::mem::take(&mut report.candidates), &policy.thresholds);
    let kept = candidates.len().min(config.state.max_state_updates);
    let over: Vec<Candidate> = candidates.split_off(kept);
    let mut left_out: std::collections::BTreeMap<String, (crate::rules::RuleId, usize)> =
        Default::default();
    for c in &over {
        left_out.entry(c.rule.to_string()).or_insert((c.rule, 0)).1 += 1;
    }

    let keys: Vec<StateKey> = candidates
        .iter()
        .map(|c| state_key(&ctx.account, &ctx.region, c))
        .collect();
    let mut loaded = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(100) {
        loaded.extend(store.load(chunk).await?);
    }
    let mut findings = Vec::new();
    let mut out = Correlated {
        token: token.clone(),
        ..Correlated::default()
    };
    for ((c, key), mut prior) in candidates.iter().zip(&keys).zip(loaded) {
        let at = state::event_time(&c.evidence, object_time);
        let mut attempt = 0;
        let (decision, version) = loop {
            let prior_state = prior.as_ref().map(|p| &p.state);
            let mut d = state::decide(prior_state, c, &token, at, now, policy, true);
            // A suppressed finding (SPEC 8) is tracked, never claimed.
            if d.claimed && suppressed(config, c, &d.state.total, now) {
                d = state::decide(prior_state, c, &token, at, now, policy, false);
            }
            let expected = prior.as_ref().map(|p| p.version);
            let expires = now
                .max(d.state.last_seen)
                .saturating_add(policy.state_ttl_seconds);
            if store.save(key, &d.state, expected, expires).await? {
                break (d, expected.map_or(1, |v| v + 1));
            }
            attempt += 1;
            if attempt >= MAX_WRITE_ATTEMPTS {
                return Err(StateError::Unavailable {
                    store: store.name(),
                    message: format!("{}: {attempt} conflicting writes in a row", key.pk),
                });
            }
            prior = store.load(std::slice::from_ref(key)).await?.pop().flatten();
        };
        out.updates += 1;
        if !decision.verdict.fires {
            continue;
        }
        let s = &decision.state;
        let mut shown = c.clone();
        shown.severity = s.severity;
        let mut f = Finding::build(&shown, &s.total, &ctx);
        f.suppress_by(&c.subject, &config.intel.suppressions, now);
        f.occurrences = s.occurrences;
        f.window_flows = decision.verdict.window_count;
        f.notified = decision.claimed;
        if decision.claimed {
            out.due.push(f.clone());
            out.claims
                .push((key.clone(), version, decision.state.clone()));
        }
        findings.push(f);
    }
    // Subjects beyond the bound: their findings of this object alone,
    // not correlated and not notified.
    for c in &over {
        if policy.thresholds.reached(c.rule, &c.evidence) {
            let mut f = Finding::build(c, &c.evidence, &ctx);
            f.suppress_by(&c.subject, &config.intel.suppressions, now);
            findings.push(f);
        }
    }
    crate::analyze::sort_findings(&mut findings);
    crate::analyze::sort_findings(&mut out.due);
    report.files.findings = findings.len() as u64;
    for (_, (rule, n)) in left_out {
        let bound = Bound::State {
            rule,
            left_out: n,
            max_state_updates: config.state.max_state_updates,
        };
        report.files.limits_hit.push(bound.entry());
        report.bounds.push(bound);
    }
    report.findings = findings;
    out.requests = store.requests() - before;
    Ok(out)
}

/// Whether a suppression applies at `now` to the finding of `c` built from
/// `total`, the window's evidence.
fn suppressed(config: &Config, c: &Candidate, total: &crate::rules::Evidence, now: u64) -> bool {
    config
        .intel
        .suppressions
        .find(c.rule, c.subject.target(), &total.dst_ports, now)
        .is_some()
}

/// Ends the claims of an object: confirmed when every sink took its
/// notifications (`published`), released (so a retry notifies) when one
/// failed; `sent` names, per finding id, the sinks that took it before the
/// failure, so the retry sends it to the others only.
pub async fn settle<S: StateStore>(
    store: &S,
    correlated: &mut Correlated,
    published: bool,
    sent: &std::collections::BTreeMap<String, Vec<String>>,
    policy: &Policy,
    now: u64,
) -> Result<(), StateError> {
    let before = store.requests();
    for (key, version, mut state) in std::mem::take(&mut correlated.claims) {
        let mut version = Some(version);
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let next = if published {
                state::confirm(&state, &correlated.token)
            } else {
                let done = sent.get(&key.pk).map_or(&[][..], Vec::as_slice);
                state::release_after(&state, &correlated.token, done)
            };
            let Some(next) = next else {
                break; // no longer ours
            };
            let expires = now
                .max(next.last_seen)
                .saturating_add(policy.state_ttl_seconds);
            if store.save(&key, &next, version, expires).await? {
                break;
            }
            match store
                .load(std::slice::from_ref(&key))
                .await?
                .pop()
                .flatten()
            {
                Some(v) => {
                    version = Some(v.version);
                    state = v.state;
                }
                None => break,
            }
        }
    }
    correlated.requests += store.requests() - before;
    Ok(())
}
