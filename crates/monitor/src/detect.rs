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
//! series ([`Detector::observe_alert`]): one violation, seen by two paths. A firing
//! alert starts or promotes the episode; only the objective's own query can end it,
//! and only once the alert is no longer firing.
//!
//! Cost: O(samples) per update, two hash lookups each and no allocation once a series
//! is known.

use charter_model::SeriesMap;
use charter_model::{
    Charter, Direction, Objective, Sample, Severity, Timestamp, Violation, ViolationState,
};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Default)]
struct Series {
    violation: Option<Violation>,
    unknown: bool,
    /// When the value first went back past `clear` in the current episode.
    clear_since: Option<Timestamp>,
    /// Alertmanager says the alert for this series is firing.
    alert_firing: bool,
    /// The last sample's value (`None`: unknown).
    value: Option<f64>,
    /// Where the series' objective is in the charter (checked by name before use).
    objective: Option<usize>,
    /// Whether the charter declares the component, once checked.
    declared: Option<bool>,
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

    /// Feed one observation's samples; returns the transitions it caused. Samples of
    /// components the charter does not declare are ignored.
    pub fn update(
        &mut self,
        charter: &Charter,
        samples: &[Sample],
        now: Timestamp,
    ) -> Vec<Transition> {
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
            series.value = s.value.filter(|v| v.is_finite());
            let before = (series.violation.is_some(), series.unknown);
            step_series(series, &charter.objectives[i], s, now, &mut out);
            if (series.violation.is_some(), series.unknown) != before {
                self.track(slot);
            }
        }
        out
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

    /// Evidence from Alertmanager for one declared objective and component.
    ///
    /// A firing alert starts a firing episode (or promotes a pending one: the rule
    /// already waited for its `for`); the same episode is then kept by the query
    /// path, so the violation is counted once. A resolved alert only allows the
    /// query to end the episode; it does not end it by itself.
    pub fn observe_alert(
        &mut self,
        objective: &Objective,
        component: &str,
        firing: bool,
        severity: Option<Severity>,
        starts_at: Timestamp,
        now: Timestamp,
    ) -> Option<Transition> {
        let slot = self.series.slot(&objective.name, component);
        let series = self.series.slot_mut(slot)?;
        series.alert_firing = firing;
        if !firing {
            return None;
        }
        let sev = severity.unwrap_or(Severity::Warning);
        match series.violation.as_mut() {
            None => {
                let viol = Violation {
                    objective: objective.name.clone(),
                    component: component.to_string(),
                    signal: objective.signal,
                    state: ViolationState::Firing,
                    severity: Some(sev),
                    since: starts_at.min(now),
                    firing_since: Some(now),
                    resolved_at: None,
                    value: None,
                    worst: None,
                    flaps: 0,
                    alerted: true,
                };
                series.violation = Some(viol.clone());
                series.clear_since = None;
                // An alert only ever opens an episode (the query path ends it).
                self.open.insert(slot);
                Some(Transition {
                    violation: viol,
                    from: None,
                })
            }
            Some(viol) => {
                let from = viol.state;
                let newly = !viol.alerted;
                viol.alerted = true;
                if viol.firing_since.is_none() {
                    viol.state = ViolationState::Firing;
                    viol.firing_since = Some(now);
                    viol.severity = Some(viol.severity.map_or(sev, |s| s.max(sev)));
                    return Some(Transition {
                        violation: viol.clone(),
                        from: Some(from),
                    });
                }
                newly.then(|| Transition {
                    violation: viol.clone(),
                    from: Some(from),
                })
            }
        }
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

fn step_series(
    series: &mut Series,
    obj: &Objective,
    s: &Sample,
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
                alerted: false,
            };
            if obj.for_.is_zero() {
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
                        if now.since(viol.since) >= obj.for_ {
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
            if is_clear(obj, v) && !series.alert_firing {
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
            if from != ViolationState::Firing || before != viol.severity {
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
