//! The state of one subject across objects (SPEC section 7), and the pure
//! decisions taken on it: merging an object's contribution, the verdict of
//! the sliding window over event time, and whether the finding is due for
//! notification (new, escalated, or due again), with a claim that makes the
//! notification exactly-once across concurrent invocations.

use serde::{Deserialize, Serialize};

use crate::catalogue::Measure;
use crate::rules::evidence::union_sorted;
use crate::rules::{Candidate, Evidence, RuleId, ScanTarget, Severity, Subject, Thresholds};

/// The version of the stored form; a state of another version is refused.
pub const STATE_VERSION: u32 = 1;
/// Contributions kept per subject, at most (the oldest go first).
pub const MAX_CONTRIBUTIONS: usize = 64;
/// How long an unconfirmed claim holds, in wall-clock seconds, before
/// another invocation may take it over: longer than any Lambda run.
pub const CLAIM_LEASE_SECONDS: u64 = 20 * 60;

/// The correlation settings (from [`crate::config::Config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The sliding window of the threshold rules, in event seconds.
    pub window_seconds: u64,
    /// At most one notification per this many event seconds while active.
    pub renotify_seconds: u64,
    /// Event seconds without activity after which a finding ends.
    pub state_ttl_seconds: u64,
    /// The thresholds of the rules.
    pub thresholds: Thresholds,
    /// Findings below this are tracked but never notified.
    pub min_severity: Severity,
}

/// One object's share of a subject's window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribution {
    /// The object (a short hash of its name): a replayed object replaces
    /// its own contribution instead of adding a second one.
    pub object: String,
    /// Event time of the subject's last flow in the object.
    pub at: u64,
    /// What the rule counts (admin flows, rejected flows, attempts).
    pub count: u64,
    /// Scan targets (the scan rules only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<ScanTarget>,
    /// Bytes of the flows (floods, whose average packet size counts).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bytes: u64,
    /// Five-minute slots with activity (beaconing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slots: Vec<u32>,
    /// Hosts seen contacting the peer (beaconing), as hash items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<u32>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Contribution {
    /// An object's contribution of `e`: what the rule's measure needs.
    fn of(object: &str, at: u64, rule: RuleId, e: &Evidence) -> Contribution {
        let mut c = Contribution {
            object: object.to_string(),
            at,
            count: e.count,
            targets: e.targets.clone(),
            bytes: 0,
            slots: Vec::new(),
            hosts: Vec::new(),
        };
        match rule.spec().measure {
            Measure::Flood { .. } => c.bytes = e.bytes,
            Measure::Beacon { .. } => {
                c.slots = e.slots.clone();
                c.hosts = e.peer_hosts.clone();
            }
            _ => {}
        }
        c
    }
}

/// A notification being sent: set by the invocation that sends it, in the
/// same conditional write as its contribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The claiming object (its retry reclaims its own claim).
    pub token: String,
    /// When it was claimed (wall clock, Unix seconds).
    pub at: u64,
    /// Set once the message is published.
    pub confirmed: bool,
    /// `notified_at` before the claim, restored when it is released.
    pub before_at: Option<u64>,
    /// `notified_severity` before the claim.
    pub before_severity: Option<Severity>,
    /// The sinks (`security-hub`, `events`, `sns`) that already took this
    /// notification: a retry sends it to the others only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent: Vec<String>,
    /// The invocation gave up after some sinks took it: any invocation may
    /// take the claim over at once and finish the sending.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub released: bool,
}

/// Everything kept about one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectState {
    /// [`STATE_VERSION`].
    pub v: u32,
    /// The rule.
    pub rule: RuleId,
    /// The subject.
    pub subject: Subject,
    /// The severity of the latest activity.
    pub severity: Severity,
    /// Evidence accumulated over the finding's life.
    pub total: Evidence,
    /// Per-object contributions within reach of the window.
    pub window: Vec<Contribution>,
    /// Event time of the first activity of this life.
    pub first_seen: u64,
    /// Event time of the latest activity.
    pub last_seen: u64,
    /// Objects the subject occurred in during this life.
    pub occurrences: u64,
    /// Event time of the last notification, if any.
    pub notified_at: Option<u64>,
    /// Severity of the last notification.
    pub notified_severity: Option<Severity>,
    /// A notification in flight.
    pub claim: Option<Claim>,
}

/// The window a subject's latest object belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Whether a window containing the object reaches the threshold.
    pub fires: bool,
    /// What the rule counted in that window (the largest such window).
    pub window_count: u64,
}

/// What to do about one subject after an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The new state to store.
    pub state: SubjectState,
    /// The window verdict for the object.
    pub verdict: Verdict,
    /// Whether this invocation claimed the notification.
    pub claimed: bool,
}

impl SubjectState {
    /// A state that has seen nothing yet.
    pub fn empty(c: &Candidate) -> SubjectState {
        SubjectState {
            v: STATE_VERSION,
            rule: c.rule,
            subject: c.subject.clone(),
            severity: c.severity,
            total: Evidence::default(),
            window: Vec::new(),
            first_seen: 0,
            last_seen: 0,
            occurrences: 0,
            notified_at: None,
            notified_severity: None,
            claim: None,
        }
    }
}

/// The event time of an object's evidence: its last flow (`end`, else
/// `start`), or `fallback` (the object's time) when it has none.
pub fn event_time(e: &Evidence, fallback: u64) -> u64 {
    e.last.or(e.first).unwrap_or(fallback)
}

/// Merges `candidate` (seen in `object` at event time `at`) into `prior`
/// (`None` for a new subject), decides the window verdict, and claims the
/// notification when it is due and `may_notify` (false for a suppressed
/// finding: tracked, never claimed). `now` is the wall clock (claim
/// leases).
pub fn decide(
    prior: Option<&SubjectState>,
    candidate: &Candidate,
    object: &str,
    at: u64,
    now: u64,
    policy: &Policy,
    may_notify: bool,
) -> Decision {
    let mut s = match prior {
        // A finding ends after `state_ttl_seconds` of event time without
        // activity: this is a new life.
        Some(p) if at.saturating_sub(p.last_seen) <= policy.state_ttl_seconds => p.clone(),
        _ => SubjectState::empty(candidate),
    };
    let replay = s.window.iter().any(|c| c.object == object);
    if !replay {
        if s.occurrences == 0 {
            s.first_seen = at;
        }
        s.occurrences += 1;
        s.total.merge(&candidate.evidence);
    }
    s.window.retain(|c| c.object != object);
    s.window.push(Contribution::of(
        object,
        at,
        candidate.rule,
        &candidate.evidence,
    ));
    s.first_seen = s.first_seen.min(at);
    s.last_seen = s.last_seen.max(at);
    prune(&mut s.window, s.last_seen, policy.window_seconds);
    s.severity = candidate.severity;
    let verdict = window_verdict(&s, at, policy);
    let claimed = may_notify && verdict.fires && claim_if_due(&mut s, object, at, now, policy);
    Decision {
        state: s,
        verdict,
        claimed,
    }
}

/// Keeps the contributions within two windows of the latest (an object up
/// to one window late still meets every contribution it could share a
/// window with), at most [`MAX_CONTRIBUTIONS`].
fn prune(window: &mut Vec<Contribution>, latest: u64, w: u64) {
    let horizon = latest.saturating_sub(w.saturating_mul(2));
    window.retain(|c| c.at >= horizon);
    window.sort_by(|a, b| a.at.cmp(&b.at).then(a.object.cmp(&b.object)));
    if window.len() > MAX_CONTRIBUTIONS {
        let extra = window.len() - MAX_CONTRIBUTIONS;
        window.drain(..extra);
    }
}

/// The largest window of `window_seconds` containing the object at `at`,
/// and whether it reaches the rule's threshold. Rules without a threshold
/// fire on any activity.
pub fn window_verdict(s: &SubjectState, at: u64, policy: &Policy) -> Verdict {
    let w = policy.window_seconds;
    let t = &policy.thresholds;
    let mut best = Verdict::default();
    // Windows (end - w, end] that contain `at`: end in [at, at + w).
    for end in s
        .window
        .iter()
        .map(|c| c.at)
        .filter(|e| *e >= at && *e < at.saturating_add(w))
    {
        let inside: Vec<&Contribution> = s
            .window
            .iter()
            .filter(|c| c.at <= end && c.at > end.saturating_sub(w))
            .collect();
        let count: u64 = inside.iter().map(|c| c.count).sum();
        let fires = match s.rule.spec().measure {
            Measure::Count(k) => count >= t[k],
            Measure::Scan { .. } => {
                let mut e = Evidence::default();
                for c in &inside {
                    e.merge(&Evidence {
                        targets: c.targets.clone(),
                        ..Evidence::default()
                    });
                }
                t.reached(s.rule, &e)
            }
            Measure::Flood {
                packets,
                max_bytes_per_packet,
            } => {
                let bytes: u64 = inside.iter().map(|c| c.bytes).sum();
                count >= t[packets]
                    && u128::from(bytes) <= u128::from(count) * u128::from(t[max_bytes_per_packet])
            }
            Measure::Beacon { .. } => {
                let mut e = Evidence::default();
                for c in &inside {
                    union_sorted(&mut e.slots, &c.slots, usize::MAX);
                    union_sorted(&mut e.peer_hosts, &c.hosts, usize::MAX);
                }
                let slots = e.busiest_hour();
                if (t.reached(s.rule, &e), slots) > (best.fires, best.window_count) {
                    best = Verdict {
                        fires: t.reached(s.rule, &e),
                        window_count: slots,
                    };
                }
                continue;
            }
            Measure::Any | Measure::Accepted => count > 0 || !inside.is_empty(),
        };
        if (fires, count) > (best.fires, best.window_count) {
            best = Verdict {
                fires,
                window_count: count,
            };
        }
    }
    best
}

/// Claims the notification when it is due: the finding is new in this
/// life, its severity rose above the last notification's, or
/// `renotify_seconds` of event time passed since; and no other invocation
/// holds a live claim. Returns whether this invocation claimed it.
fn claim_if_due(s: &mut SubjectState, object: &str, at: u64, now: u64, policy: &Policy) -> bool {
    if s.severity < policy.min_severity {
        return false;
    }
    if let Some(c) = s.claim.clone().filter(|c| !c.confirmed) {
        if c.token == object {
            // A retry of the object that claimed it: send it again.
            return true;
        }
        if c.released {
            // Half sent: this invocation finishes it (to the sinks left).
            s.claim = Some(Claim {
                token: object.to_string(),
                at: now,
                released: false,
                ..c
            });
            return true;
        }
        if now.saturating_sub(c.at) < CLAIM_LEASE_SECONDS {
            // Another invocation is sending it.
            return false;
        }
        // That invocation died without publishing: its claim is void.
        s.notified_at = c.before_at;
        s.notified_severity = c.before_severity;
        s.claim = None;
    }
    let due = match (s.notified_at, s.notified_severity) {
        (None, _) => true,
        (Some(_), Some(prev)) if s.severity > prev => true,
        (Some(last), _) => at >= last.saturating_add(policy.renotify_seconds),
    };
    if !due {
        return false;
    }
    s.claim = Some(Claim {
        token: object.to_string(),
        at: now,
        confirmed: false,
        before_at: s.notified_at,
        before_severity: s.notified_severity,
        sent: Vec::new(),
        released: false,
    });
    s.notified_at = Some(s.notified_at.map_or(at, |n| n.max(at)));
    s.notified_severity = Some(s.severity);
    true
}

/// The state after the claimed message was published: the claim is done.
/// `None` when the claim is no longer `object`'s.
pub fn confirm(s: &SubjectState, object: &str) -> Option<SubjectState> {
    let mut s = s.clone();
    match &mut s.claim {
        Some(c) if c.token == object => c.confirmed = true,
        _ => return None,
    }
    Some(s)
}

/// The state after publishing failed: the claim is released and the last
/// notification restored, so the retry claims and notifies again. `None`
/// when the claim is no longer `object`'s.
pub fn release(s: &SubjectState, object: &str) -> Option<SubjectState> {
    release_after(s, object, &[])
}

/// The state after a send failed once the sinks `sent` took the
/// notification: with none, as [`release`]; with some, the claim stays,
/// marked released with what was sent, so the next invocation (this
/// object's retry or any other) sends it to the other sinks only. `None`
/// when the claim is no longer `object`'s.
pub fn release_after(s: &SubjectState, object: &str, sent: &[String]) -> Option<SubjectState> {
    let mut s = s.clone();
    let c = s.claim.take().filter(|c| c.token == object)?;
    let mut all = c.sent.clone();
    for x in sent {
        if !all.contains(x) {
            all.push(x.clone());
        }
    }
    if all.is_empty() {
        s.notified_at = c.before_at;
        s.notified_severity = c.before_severity;
    } else {
        s.claim = Some(Claim {
            sent: all,
            released: true,
            ..c
        });
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Subject;
    use crate::sketch::DistinctCount;

    const H: u64 = 3600;
    const T0: u64 = 1_750_000_000;

    fn policy() -> Policy {
        Policy {
            window_seconds: H,
            renotify_seconds: 6 * H,
            state_ttl_seconds: 7 * 24 * H,
            thresholds: Thresholds::defaults(),
            min_severity: Severity::Medium,
        }
    }

    fn brute(count: u64) -> Candidate {
        Candidate {
            rule: RuleId::AdminPortBruteForce,
            subject: Subject::Source {
                addr: "198.51.100.23".parse().unwrap(),
            },
            severity: Severity::High,
            evidence: Evidence {
                flows: count,
                count,
                ..Evidence::default()
            },
            label: None,
        }
    }

    /// Feeds `(object, at, candidate)` in order, confirming each claim as
    /// a successful publish would; returns each decision.
    fn run(steps: &[(&str, u64, Candidate)]) -> Vec<Decision> {
        let mut state: Option<SubjectState> = None;
        let mut out = Vec::new();
        for (object, at, c) in steps {
            let d = decide(state.as_ref(), c, object, *at, T0, &policy(), true);
            state = Some(if d.claimed {
                confirm(&d.state, object).unwrap()
            } else {
                d.state.clone()
            });
            out.push(d);
        }
        out
    }

    fn objects(n: u64, every: u64, count: u64) -> Vec<(String, u64, Candidate)> {
        (0..n)
            .map(|i| (format!("o{i}"), T0 + i * every, brute(count)))
            .collect()
    }

    fn borrow(v: &[(String, u64, Candidate)]) -> Vec<(&str, u64, Candidate)> {
        v.iter()
            .map(|(o, t, c)| (o.as_str(), *t, c.clone()))
            .collect()
    }

    #[test]
    fn four_attempts_every_five_minutes_add_up_within_the_hour() {
        let steps = objects(12, 300, 4);
        let d = run(&borrow(&steps));
        // 4, 8, 12, 16 below 20; the fifth object makes 20.
        assert!(d[..4].iter().all(|d| !d.verdict.fires));
        assert!(d[4].verdict.fires && d[4].verdict.window_count == 20);
        assert!(d[4].claimed, "new: notified once");
        assert!(d[5..].iter().all(|d| d.verdict.fires && !d.claimed));
        assert_eq!(d[11].verdict.window_count, 48);
        assert_eq!(d[11].state.occurrences, 12);
        assert_eq!(d[11].state.total.flows, 48);
    }

    #[test]
    fn an_attack_straddling_two_hours_is_one_window() {
        // Ten objects of 2 flows at :35..:80, crossing the hour.
        let steps: Vec<_> = (0..10u64)
            .map(|i| (format!("o{i}"), T0 + 35 * 60 + i * 300, brute(2)))
            .collect();
        let d = run(&borrow(&steps));
        assert!(d[9].verdict.fires, "{:?}", d[9].verdict);
        assert_eq!(d[9].verdict.window_count, 20);
        // The same flows spread over two hours never fire.
        let slow: Vec<_> = (0..10u64)
            .map(|i| (format!("o{i}"), T0 + i * 800, brute(2)))
            .collect();
        assert!(run(&borrow(&slow)).iter().all(|d| !d.verdict.fires));
    }

    #[test]
    fn late_out_of_order_and_replayed_objects_give_the_same_verdict() {
        let steps = objects(10, 300, 2);
        let in_order = run(&borrow(&steps));
        let mut shuffled = borrow(&steps);
        shuffled.reverse();
        shuffled.swap(2, 7);
        let mixed = run(&shuffled);
        assert!(in_order.last().unwrap().verdict.fires);
        assert!(mixed.last().unwrap().verdict.fires);
        assert_eq!(in_order.iter().filter(|d| d.claimed).count(), 1);
        assert_eq!(mixed.iter().filter(|d| d.claimed).count(), 1);
        let a = &in_order.last().unwrap().state;
        let b = &mixed.last().unwrap().state;
        assert_eq!(
            (a.occurrences, a.total.flows),
            (b.occurrences, b.total.flows)
        );
        // Every object replayed: nothing is counted twice.
        let mut twice = borrow(&steps);
        twice.extend(borrow(&steps));
        let d = run(&twice);
        let last = &d.last().unwrap().state;
        assert_eq!(
            (last.occurrences, last.total.flows, last.window.len()),
            (10, 20, 10)
        );
        assert_eq!(d.iter().filter(|d| d.claimed).count(), 1);
    }

    #[test]
    fn renotified_after_six_hours_of_event_time_and_ended_by_the_ttl() {
        // 20 flows every 5 minutes for 13 hours: new, then due again at 6 h
        // and 12 h.
        let steps = objects(13 * 12, 300, 20);
        let d = run(&borrow(&steps));
        let notified: Vec<u64> = d
            .iter()
            .zip(&steps)
            .filter(|(d, _)| d.claimed)
            .map(|(_, s)| (s.1 - T0) / H)
            .collect();
        assert_eq!(notified, vec![0, 6, 12]);
        // Silent for more than the TTL: a new life, notified as new.
        let mut state = d.last().unwrap().state.clone();
        state.claim = None;
        let later = state.last_seen + 7 * 24 * H + 1;
        let again = decide(Some(&state), &brute(20), "late", later, T0, &policy(), true);
        assert!(again.claimed);
        assert_eq!(again.state.occurrences, 1);
        assert_eq!(again.state.first_seen, later);
    }

    #[test]
    fn severity_escalation_notifies_again() {
        let mut c = brute(20);
        c.severity = Severity::Medium;
        let first = decide(None, &c, "a", T0, T0, &policy(), true);
        assert!(first.claimed);
        let s = confirm(&first.state, "a").unwrap();
        let same = decide(Some(&s), &c, "b", T0 + 300, T0, &policy(), true);
        assert!(!same.claimed);
        c.severity = Severity::High;
        let higher = decide(Some(&same.state), &c, "c", T0 + 600, T0, &policy(), true);
        assert!(higher.claimed, "severity rose");
        // Below the minimum severity: tracked, never notified.
        let mut low = brute(20);
        low.severity = Severity::Low;
        assert!(!decide(None, &low, "a", T0, T0, &policy(), true).claimed);
    }

    #[test]
    fn a_suppressed_finding_is_tracked_and_never_claimed() {
        let quiet = decide(None, &brute(20), "a", T0, T0, &policy(), false);
        assert!(quiet.verdict.fires && !quiet.claimed);
        assert_eq!(quiet.state.claim, None);
        assert_eq!(quiet.state.notified_at, None);
        assert_eq!(quiet.state.occurrences, 1);
        // Once the suppression expires, the finding is new to notifications.
        let later = decide(
            Some(&quiet.state),
            &brute(20),
            "b",
            T0 + 300,
            T0,
            &policy(),
            true,
        );
        assert!(later.claimed);
    }

    #[test]
    fn one_claim_wins_and_a_released_claim_is_claimed_again() {
        let first = decide(None, &brute(20), "a", T0, T0, &policy(), true);
        assert!(first.claimed);
        // Another object sees the finding while the claim is live.
        let other = decide(
            Some(&first.state),
            &brute(20),
            "b",
            T0 + 60,
            T0 + 10,
            &policy(),
            true,
        );
        assert!(!other.claimed);
        // The retry of the claiming object claims again.
        let retry = decide(
            Some(&other.state),
            &brute(20),
            "a",
            T0,
            T0 + 20,
            &policy(),
            true,
        );
        assert!(retry.claimed);
        // Publishing failed: released, the last notification restored.
        let released = release(&retry.state, "a").unwrap();
        assert_eq!(released.notified_at, None);
        assert!(release(&released, "a").is_none(), "nothing left to release");
        let next = decide(
            Some(&released),
            &brute(20),
            "b",
            T0 + 60,
            T0 + 30,
            &policy(),
            true,
        );
        assert!(next.claimed, "the next delivery notifies");
        // A claim that was never confirmed expires after its lease.
        let stale = decide(
            Some(&next.state),
            &brute(20),
            "c",
            T0 + 120,
            T0 + 30 + CLAIM_LEASE_SECONDS,
            &policy(),
            true,
        );
        assert!(stale.claimed);
        assert!(confirm(&stale.state, "b").is_none());
    }

    #[test]
    fn scans_merge_their_targets_across_objects() {
        let scan = |ports: std::ops::Range<u32>| {
            let mut d = DistinctCount::default();
            ports.for_each(|p| d.add(p));
            Candidate {
                rule: RuleId::PortScan,
                subject: Subject::Source {
                    addr: "203.0.113.50".parse().unwrap(),
                },
                severity: Severity::Medium,
                evidence: Evidence {
                    flows: 8,
                    count: 8,
                    targets: vec![ScanTarget::Vertical {
                        dst: "10.0.1.10".parse().unwrap(),
                        ports: d,
                        sample: vec![],
                    }],
                    ..Evidence::default()
                },
                label: None,
            }
        };
        let steps: Vec<_> = (0..4u32)
            .map(|i| {
                (
                    format!("o{i}"),
                    T0 + u64::from(i) * 300,
                    scan(i * 8..i * 8 + 8),
                )
            })
            .collect();
        let d = run(&steps
            .iter()
            .map(|(o, t, c)| (o.as_str(), *t, c.clone()))
            .collect::<Vec<_>>());
        assert!(!d[2].verdict.fires, "24 ports");
        assert!(d[3].verdict.fires && d[3].claimed, "32 ports");
        assert_eq!(d[3].state.total.widest_vertical().map(|v| v.1), Some(32));
    }
}
