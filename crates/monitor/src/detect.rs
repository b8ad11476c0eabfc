//! Violation detection: samples in, violation episodes out.
//!
//! Each (objective, component) series is a small state machine:
//! healthy → pending (breaching, for less than `for`) → firing(warning|critical)
//! → resolved once the value has been back past the `clear` threshold for
//! `keep_firing_for` (a return to breaching inside that window counts a flap). A missing value
//! makes the series Unknown without ending or starting an episode: Unknown is never
//! healthy and never violated.
//!
//! Alerts from Alertmanager about the same objective and component land on the same
//! series ([`Detector::observe_alert`]) as a *claim*; the objective's query is the
//! measurement. A firing alert opens or keeps a violation only when the series' next
//! reading agrees (it breaches, or a firing episode is held by hysteresis); the
//! episode then fires at once (the alert rule already waited for its `for`). A reading
//! that contradicts a claim never confirmed ends it as *unconfirmed*
//! ([`ClaimVerdict::Unconfirmed`]) and opens nothing; while the query has no reading the
//! claim waits and never acts, unless `alerts.trust: alone`, where it opens a violation
//! by itself. A firing alert not re-sent within `alerts.expire_after` expires. Only the
//! query ends an episode it measured; an episode opened by an alert alone ends with
//! its claim.
//!
//! Cost: O(samples) per update, two hash lookups each and no allocation once a series
//! is known.

use charter_model::config::defaults;
use charter_model::{AlertTrust, SeriesMap};
use charter_model::{
    Charter, Direction, Objective, Sample, Severity, Timestamp, Violation, ViolationState,
};
use std::collections::BTreeSet;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
struct Series {
    violation: Option<Violation>,
    unknown: bool,
    /// When the value first went back past `clear` in the current episode.
    clear_since: Option<Timestamp>,
    /// Alertmanager says the alert for this series is firing: a claim the query judges.
    claim: Option<Claim>,
    /// The last sample's value (`None`: unknown).
    value: Option<f64>,
    /// Where the series' objective is in the charter (checked by name before use).
    objective: Option<usize>,
    /// Whether the charter declares the component, once checked.
    declared: Option<bool>,
}

/// A firing alert waiting for, or confirmed by, the objective's query.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Claim {
    severity: Option<Severity>,
    /// When Alertmanager says the alert started.
    starts_at: Timestamp,
    /// When Charter last received it (a re-send refreshes it).
    received_at: Timestamp,
    /// Whether a reading of the query agreed with it.
    confirmed: bool,
}

/// An alert as evidence: what [`Detector::observe_alert`] needs of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertEvidence {
    pub firing: bool,
    /// From the alert's `severity` label.
    pub severity: Option<Severity>,
    pub starts_at: Timestamp,
    pub received_at: Timestamp,
}

/// What became of a claim that did not turn into evidence: the caller records it
/// (audit row and log line); it never reaches the incident book.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimVerdict {
    /// The query read the series and did not agree with an alert it never confirmed.
    Unconfirmed {
        objective: String,
        component: String,
        /// The alert's severity label.
        severity: Option<Severity>,
        starts_at: Timestamp,
        received_at: Timestamp,
        /// The reading that contradicted it.
        value: f64,
    },
    /// The alert was not re-sent within `alerts.expire_after`.
    Expired {
        objective: String,
        component: String,
        starts_at: Timestamp,
        received_at: Timestamp,
        /// Whether the query had confirmed it.
        confirmed: bool,
    },
}

/// How far alerts are believed: the charter's `alerts.trust` and `alerts.expire_after`
/// (their defaults when the charter has no `alerts:` block).
fn alert_policy(charter: &Charter) -> (AlertTrust, Duration) {
    charter.alerts.as_ref().map_or(
        (AlertTrust::default(), defaults::ALERTS_EXPIRE_AFTER),
        |a| (a.trust, a.expire_after),
    )
}

/// A state change worth logging and storing.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub violation: Violation,
    /// The state before, `None` for a new episode.
    pub from: Option<ViolationState>,
}

/// Per-series violation state for every objective of a charter.
#[derive(Debug, Default)]
pub struct Detector {
    /// State per series, found by the samples' order (15,000 series a cycle without
    /// hashing or allocating).
    series: SeriesMap<Series>,
    /// Slots with an open episode, and slots whose last sample was Unknown: what
    /// [`Detector::active`] and [`Detector::unknown`] read, without a pass over
    /// every series.
    open: BTreeSet<usize>,
    unknown: BTreeSet<usize>,
    /// Slots with a claim (what [`Detector::expire_claims`] reads).
    claims: BTreeSet<usize>,
    /// Claims that ended without becoming evidence, until [`Detector::take_verdicts`].
    verdicts: Vec<ClaimVerdict>,
}

/// The severity a value deserves on its own, ignoring `for` and hysteresis.
pub fn severity_of(obj: &Objective, value: f64) -> Option<Severity> {
    let d = obj.direction;
    let t = obj.thresholds;
    if t.critical.is_some_and(|c| d.breaches(value, c)) {
        Some(Severity::Critical)
    } else if t.warning.is_some_and(|w| d.breaches(value, w)) {
        Some(Severity::Warning)
    } else {
        None
    }
}

/// Whether a firing violation may resolve at this value (past the clear threshold).
pub fn is_clear(obj: &Objective, value: f64) -> bool {
    let c = obj.thresholds.clear;
    match obj.direction {
        Direction::Above => value <= c,
        Direction::Below => value >= c,
    }
}

impl Detector {
    /// A detector with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget which components the charter declares, so that the next update checks
    /// every series against the charter it is given (after a reload changed the
    /// components). Violation state is kept.
    pub fn recheck_components(&mut self) {
        for s in self.series.values_mut() {
            s.declared = None;
        }
    }

    /// Feed one observation's samples; returns the transitions it caused. Samples of
    /// components the charter does not declare are ignored.
    pub fn update(
        &mut self,
        charter: &Charter,
        samples: &[Sample],
        now: Timestamp,
    ) -> Vec<Transition> {
        let (trust, _) = alert_policy(charter);
        let mut out = Vec::new();
        for (k, s) in samples.iter().enumerate() {
            let slot = self.series.slot_at(k, &s.objective, &s.component);
            let Some(series) = self.series.slot_mut(slot) else {
                continue;
            };
            if !*series
                .declared
                .get_or_insert_with(|| charter.topology.contains(&s.component))
            {
                continue;
            }
            let known = series.objective.filter(|&i| {
                charter
                    .objectives
                    .get(i)
                    .is_some_and(|o| o.name == s.objective)
            });
            let Some(i) = known.or_else(|| {
                charter
                    .objectives
                    .iter()
                    .position(|o| o.name == s.objective)
            }) else {
                continue;
            };
            series.objective = Some(i);
            let obj = &charter.objectives[i];
            let value = s.value.filter(|v| v.is_finite());
            series.value = value;
            let before = (series.violation.is_some(), series.unknown);
            // A claim is judged by this reading before the reading moves the episode.
            let agrees = match (series.claim, value) {
                (Some(_), Some(v)) => agrees(obj, series.violation.as_ref(), v),
                _ => false,
            };
            step_series(series, obj, s, agrees, now, &mut out);
            match (series.claim.as_mut(), value) {
                (Some(claim), Some(_)) if agrees => claim.confirmed = true,
                (Some(claim), Some(v)) => {
                    // Contradicted: the claim ends; one never confirmed is recorded.
                    if !claim.confirmed {
                        self.verdicts.push(ClaimVerdict::Unconfirmed {
                            objective: obj.name.clone(),
                            component: s.component.clone(),
                            severity: claim.severity,
                            starts_at: claim.starts_at,
                            received_at: claim.received_at,
                            value: v,
                        });
                    }
                    series.claim = None;
                    self.claims.remove(&slot);
                }
                (Some(claim), None) if trust == AlertTrust::Alone && series.violation.is_none() => {
                    let claim = *claim;
                    out.push(open_alone(series, obj, &s.component, &claim, now));
                }
                // No reading: the claim waits and never acts.
                _ => {}
            }
            if (series.violation.is_some(), series.unknown) != before {
                self.track(slot);
            }
        }
        out
    }

    /// End the claims that Alertmanager has not re-sent within `alerts.expire_after`
    /// (each becomes a [`ClaimVerdict::Expired`]); an episode opened by an alert alone
    /// and never measured ends with its claim. O(claims).
    pub fn expire_claims(&mut self, charter: &Charter, now: Timestamp) -> Vec<Transition> {
        let (_, expire_after) = alert_policy(charter);
        let mut out = Vec::new();
        let expired: Vec<usize> = self
            .claims
            .iter()
            .copied()
            .filter(|&slot| {
                self.series
                    .slot_ref(slot)
                    .and_then(|(_, _, s)| s.claim)
                    .is_none_or(|c| now.since(c.received_at) >= expire_after)
            })
            .collect();
        for slot in expired {
            self.claims.remove(&slot);
            let Some((objective, component, _)) = self.series.slot_ref(slot) else {
                continue;
            };
            let (objective, component) = (objective.to_string(), component.to_string());
            let Some(series) = self.series.slot_mut(slot) else {
                continue;
            };
            let Some(claim) = series.claim.take() else {
                continue;
            };
            self.verdicts.push(ClaimVerdict::Expired {
                objective,
                component,
                starts_at: claim.starts_at,
                received_at: claim.received_at,
                confirmed: claim.confirmed,
            });
            if let Some(t) = end_alone(series, now) {
                out.push(t);
                self.track(slot);
            }
        }
        out
    }

    /// The claims that ended without becoming evidence since the last call.
    pub fn take_verdicts(&mut self) -> Vec<ClaimVerdict> {
        std::mem::take(&mut self.verdicts)
    }

    /// Whether a firing alert's claim on a series is alive (waiting or confirmed).
    pub fn has_claim(&self, objective: &str, component: &str) -> bool {
        self.series(objective, component)
            .is_some_and(|s| s.claim.is_some())
    }

    /// Bring the open and unknown sets up to date with one slot.
    fn track(&mut self, slot: usize) {
        let Some((_, _, series)) = self.series.slot_ref(slot) else {
            return;
        };
        let (open, unknown) = (series.violation.is_some(), series.unknown);
        for (set, is) in [(&mut self.open, open), (&mut self.unknown, unknown)] {
            if is {
                set.insert(slot);
            } else {
                set.remove(&slot);
            }
        }
    }

    /// The state of one series, if it has been seen.
    fn series(&self, objective: &str, component: &str) -> Option<&Series> {
        self.series.get(objective, component)
    }

    /// A claim from Alertmanager about one declared objective and component.
    ///
    /// A firing alert becomes the series' claim (a re-send refreshes it); it opens
    /// nothing by itself: the series' next reading judges it in [`Detector::update`].
    /// Only with `alerts.trust: alone`, and while the query has no reading of the series,
    /// does it open a firing episode at once. An alert received longer than
    /// `alerts.expire_after` ago is expired on arrival. A resolved alert ends the claim
    /// (of its episode or an older one); the query alone ends an episode it measured.
    pub fn observe_alert(
        &mut self,
        charter: &Charter,
        objective: &Objective,
        component: &str,
        alert: AlertEvidence,
        now: Timestamp,
    ) -> Option<Transition> {
        let (trust, expire_after) = alert_policy(charter);
        let slot = self.series.slot(&objective.name, component);
        let series = self.series.slot_mut(slot)?;
        if !alert.firing {
            if series.claim.is_some_and(|c| c.starts_at <= alert.starts_at) {
                series.claim = None;
                self.claims.remove(&slot);
                let t = end_alone(series, now);
                self.track(slot);
                return t;
            }
            return None;
        }
        if now.since(alert.received_at) >= expire_after {
            self.verdicts.push(ClaimVerdict::Expired {
                objective: objective.name.clone(),
                component: component.to_string(),
                starts_at: alert.starts_at,
                received_at: alert.received_at,
                confirmed: false,
            });
            return None;
        }
        let claim = Claim {
            severity: alert.severity,
            starts_at: alert.starts_at,
            received_at: alert.received_at,
            confirmed: series.claim.is_some_and(|c| c.confirmed),
        };
        series.claim = Some(claim);
        self.claims.insert(slot);
        if trust == AlertTrust::Alone && series.value.is_none() && series.violation.is_none() {
            let t = open_alone(series, objective, component, &claim, now);
            self.track(slot);
            return Some(t);
        }
        None
    }

    /// Every open episode (pending, firing or unknown-while-open).
    /// O(open episodes), in the order the series were first seen.
    pub fn active(&self) -> impl Iterator<Item = &Violation> {
        self.open
            .iter()
            .filter_map(|&i| self.series.slot_ref(i)?.2.violation.as_ref())
    }

    /// Series whose last sample was Unknown, as `(objective, component)`, in the
    /// order first seen.
    pub fn unknown(&self) -> impl Iterator<Item = (&str, &str)> {
        self.unknown
            .iter()
            .filter_map(|&i| self.series.slot_ref(i))
            .map(|(o, c, _)| (o, c))
    }

    /// The last value of a series (`None`: never seen, or unknown now).
    pub fn latest(&self, objective: &str, component: &str) -> Option<f64> {
        self.series(objective, component)?.value
    }

    /// The open episode of one series, if any.
    pub fn get(&self, objective: &str, component: &str) -> Option<&Violation> {
        self.series(objective, component)?.violation.as_ref()
    }

    /// Whether the last sample of a series was Unknown.
    pub fn is_unknown(&self, objective: &str, component: &str) -> bool {
        self.series(objective, component).is_some_and(|s| s.unknown)
    }
}

/// Whether a reading agrees with a firing alert: the value breaches, or a firing
/// episode is still held open by hysteresis (not yet back past `clear`).
fn agrees(obj: &Objective, violation: Option<&Violation>, value: f64) -> bool {
    severity_of(obj, value).is_some()
        || violation.is_some_and(|v| v.firing_since.is_some() && !is_clear(obj, value))
}

/// Open a firing episode on an alert's word alone (`alerts.trust: alone`, no reading).
fn open_alone(
    series: &mut Series,
    obj: &Objective,
    component: &str,
    claim: &Claim,
    now: Timestamp,
) -> Transition {
    let viol = Violation {
        objective: obj.name.clone(),
        component: component.to_string(),
        signal: obj.signal,
        state: ViolationState::Firing,
        severity: Some(claim.severity.unwrap_or(Severity::Warning)),
        since: claim.starts_at.min(now),
        firing_since: Some(now),
        resolved_at: None,
        value: None,
        worst: None,
        flaps: 0,
        alerted: true,
    };
    series.violation = Some(viol.clone());
    series.clear_since = None;
    Transition {
        violation: viol,
        from: None,
    }
}

/// Resolve an episode that an alert opened alone and no reading ever measured: its
/// claim has ended, and nothing else holds it.
fn end_alone(series: &mut Series, now: Timestamp) -> Option<Transition> {
    let viol = series.violation.as_mut()?;
    if !viol.alerted || viol.worst.is_some() {
        return None;
    }
    let from = viol.state;
    viol.state = ViolationState::Resolved;
    viol.resolved_at = Some(now);
    let t = Transition {
        violation: viol.clone(),
        from: Some(from),
    };
    series.violation = None;
    series.clear_since = None;
    Some(t)
}

/// Move one series by one sample. `alert_agrees`: a firing alert's claim agrees with
/// this reading, so the episode fires without waiting for `for` (the alert rule
/// already waited) and is marked as alerted.
fn step_series(
    series: &mut Series,
    obj: &Objective,
    s: &Sample,
    alert_agrees: bool,
    now: Timestamp,
    out: &mut Vec<Transition>,
) {
    let value = s.value.filter(|v| v.is_finite());
    let Some(v) = value else {
        if !series.unknown {
            series.unknown = true;
            if let Some(viol) = &mut series.violation {
                let from = viol.state;
                viol.state = ViolationState::Unknown;
                viol.value = None;
                out.push(Transition {
                    violation: viol.clone(),
                    from: Some(from),
                });
            }
        }
        return;
    };
    series.unknown = false;
    let sev = severity_of(obj, v);
    match series.violation.as_mut() {
        None => {
            let Some(sev) = sev else { return };
            let mut viol = Violation {
                objective: obj.name.clone(),
                component: s.component.clone(),
                signal: obj.signal,
                state: ViolationState::Pending,
                severity: None,
                since: now,
                firing_since: None,
                resolved_at: None,
                value: Some(v),
                worst: Some(v),
                flaps: 0,
                alerted: alert_agrees,
            };
            if obj.for_.is_zero() || alert_agrees {
                viol.state = ViolationState::Firing;
                viol.severity = Some(sev);
                viol.firing_since = Some(now);
            }
            out.push(Transition {
                violation: viol.clone(),
                from: None,
            });
            series.violation = Some(viol);
        }
        Some(viol) => {
            let from = viol.state;
            viol.value = Some(v);
            if viol.worst.is_none_or(|w| obj.direction.breaches(v, w)) {
                viol.worst = Some(v);
            }
            let was_firing = viol.firing_since.is_some();
            if !was_firing {
                // Pending (or Unknown before it ever fired).
                match sev {
                    None => {
                        viol.state = ViolationState::Resolved;
                        viol.resolved_at = Some(now);
                        out.push(Transition {
                            violation: viol.clone(),
                            from: Some(from),
                        });
                        series.violation = None;
                    }
                    Some(sev) => {
                        if now.since(viol.since) >= obj.for_ || alert_agrees {
                            viol.alerted |= alert_agrees;
                            viol.state = ViolationState::Firing;
                            viol.severity = Some(sev);
                            viol.firing_since = Some(now);
                            out.push(Transition {
                                violation: viol.clone(),
                                from: Some(from),
                            });
                        } else if from == ViolationState::Unknown {
                            viol.state = ViolationState::Pending;
                            out.push(Transition {
                                violation: viol.clone(),
                                from: Some(from),
                            });
                        }
                    }
                }
                return;
            }
            let newly_alerted = alert_agrees && !viol.alerted;
            viol.alerted |= alert_agrees;
            if is_clear(obj, v) {
                let since = *series.clear_since.get_or_insert(now);
                if now.since(since) >= obj.keep_firing_for {
                    viol.state = ViolationState::Resolved;
                    viol.resolved_at = Some(now);
                    out.push(Transition {
                        violation: viol.clone(),
                        from: Some(from),
                    });
                    series.violation = None;
                    series.clear_since = None;
                    return;
                }
            } else if sev.is_some() && series.clear_since.take().is_some() {
                // Back to breaching while `keep_firing_for` held the episode open.
                viol.flaps += 1;
            }
            viol.state = ViolationState::Firing;
            let before = viol.severity;
            if let Some(sev) = sev {
                viol.severity = Some(sev);
            }
            if from != ViolationState::Firing || before != viol.severity || newly_alerted {
                out.push(Transition {
                    violation: viol.clone(),
                    from: Some(from),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
