//! The incident book: open incidents, their member violations and diagnoses, and how
//! a new violation is grouped into one. Pure: nothing here writes to the store — the
//! controller writes what the book says changed.

use super::observer::Observer;
use crate::event::Event;
use charter_analyze::{
    DiagnosisInput, EpisodeLog, RankOptions, diagnose_scored, related_incidents,
};
use charter_model::{
    Action, CauseClass, Charter, Diagnosis, Incident, IncidentState, OutcomeClass, Policy,
    Refutation, SeriesKey, Timestamp, Topology, Violation, ViolationState,
};
use charter_model::{IncidentId, PlacementKind, PolicyId};
use charter_monitor::Detector;
use charter_monitor::detect::Transition;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// An open incident is diagnosed again when its evidence changes (a member joins,
/// or changes state or onset) and otherwise, as its metric windows fill,
/// every this many intervals — or every [`REFRESH_AGE_SHARE`]th of its age, when
/// that is longer: an hour-old incident's windows change little in a minute.
const REFRESH_INTERVALS: u32 = 4;
const REFRESH_AGE_SHARE: u32 = 8;
/// How long a resolved member still counts as evidence in its incident's diagnosis.
const RESOLVED_EVIDENCE: Duration = Duration::from_secs(10 * 60);

/// An incident as the loop holds it while it is open.
pub(crate) struct IncidentRt {
    pub incident: Incident,
    /// Member violations by `objective@component`, each the latest snapshot of its
    /// episode.
    pub members: BTreeMap<String, Violation>,
    pub diagnosis: Option<Diagnosis>,
    /// Its evidence changed since the last diagnosis.
    pub dirty: bool,
    /// Actions tried in it that did not resolve it.
    pub tried: Vec<Action>,
    /// Hypotheses its verified outcomes refuted, oldest first: its next diagnoses
    /// lower them and the planner lets a revised cause's remedy through a cooldown.
    /// In memory only, like `tried`: a restarted controller starts it empty.
    pub refuted: Vec<Refutation>,
    /// A policy waiting for a human.
    pub pending: Option<Policy>,
    /// The last "no action" reason recorded, so that it is recorded once.
    pub last_no_action: Option<String>,
}

impl IncidentRt {
    /// A finished execution's verdict on the hypothesis it assumed: `no_effect` or
    /// `worsened` refutes `cause` on the main action's component (recorded, and the
    /// incident is diagnosed again); any other outcome, or no known cause, says
    /// nothing.
    pub fn refute(
        &mut self,
        action: &Action,
        cause: Option<CauseClass>,
        outcome: OutcomeClass,
        at: Timestamp,
    ) {
        let Some(cause) = cause else {
            return;
        };
        if !matches!(outcome, OutcomeClass::NoEffect | OutcomeClass::Worsened) {
            return;
        }
        self.refuted.push(Refutation {
            component: action.component.clone(),
            cause,
            action: action.kind,
            outcome,
            at,
        });
        self.dirty = true;
    }
}

/// What grouping a cycle's transitions changed, for the store.
pub(crate) struct Grouped {
    /// Incidents that took or updated a member.
    pub touched: BTreeSet<IncidentId>,
    /// Every transition, with the incident it belongs to.
    pub records: Vec<(Option<IncidentId>, Violation)>,
    /// What happened, in order: each transition, and each incident it opened.
    pub events: Vec<Event>,
}

/// Open incidents by id.
pub(crate) struct IncidentBook {
    pub incidents: BTreeMap<IncidentId, IncidentRt>,
    next_id: IncidentId,
}

impl IncidentBook {
    /// An empty book whose first incident gets id `next_id`.
    pub fn new(next_id: IncidentId) -> Self {
        IncidentBook {
            incidents: BTreeMap::new(),
            next_id,
        }
    }

    /// Group a cycle's transitions (dependencies first): a violation already in an
    /// incident updates it; a new firing one joins the open incident whose members
    /// are related to its component through dependencies, or whose members' onsets
    /// are in the same burst as its own, or opens one.
    pub fn group(
        &mut self,
        transitions: Vec<Transition>,
        charter: &Charter,
        episodes: &EpisodeLog,
        analysis: &RankOptions,
        now: Timestamp,
    ) -> Grouped {
        let mut events = Vec::new();
        let mut touched: BTreeSet<IncidentId> = BTreeSet::new();
        let mut records: Vec<(Option<IncidentId>, Violation)> =
            Vec::with_capacity(transitions.len());
        // Which incident each episode belongs to, and the open incidents on each
        // component (for grouping), kept up to date as violations join.
        let mut member_of: HashMap<String, IncidentId> = HashMap::new();
        let mut open_on: HashMap<String, BTreeSet<IncidentId>> = HashMap::new();
        if !transitions.is_empty() {
            for (id, rt) in &self.incidents {
                let joinable = joinable(rt, charter);
                for (key, m) in &rt.members {
                    member_of.insert(key.clone(), *id);
                    if joinable {
                        open_on.entry(m.component.clone()).or_default().insert(*id);
                    }
                }
            }
        }
        let topology = &charter.topology;
        for t in transitions {
            let v = t.violation;
            let key = v.key();
            let mut incident_id = member_of.get(&key).copied();
            let mut restated = false;
            if incident_id.is_none() && v.state == ViolationState::Firing {
                // Related incidents whose diagnosis cannot account for it (see
                // `may_explain`) are passed over.
                let eligible: Vec<IncidentId> = related_incidents(
                    &v.component,
                    |c| open_on.get(c).into_iter().flatten().copied(),
                    topology,
                )
                .into_iter()
                .filter(|id| may_explain(topology, &self.incidents[id], &v.component))
                .collect();
                // Of several, the one whose root (or, undiagnosed, members) is nearest.
                let joined = eligible
                    .into_iter()
                    .min_by_key(|id| (nearness(topology, &self.incidents[id], &v.component), *id))
                    .or_else(|| self.burst_incident(&v, charter, episodes, analysis));
                let id = match joined {
                    Some(id) => id,
                    None => {
                        let id = self.open(now);
                        events.push(Event::IncidentOpened {
                            incident_id: id,
                            first: key.clone(),
                        });
                        id
                    }
                };
                incident_id = Some(id);
            }
            if let Some(id) = incident_id
                && let Some(rt) = self.incidents.get_mut(&id)
            {
                if !rt.incident.violations.contains(&key) {
                    rt.incident.violations.push(key.clone());
                }
                let old = rt.members.insert(key.clone(), v.clone());
                restated = old
                    .as_ref()
                    .is_some_and(|o| o.state == v.state && o.severity == v.severity);
                member_of.insert(key.clone(), id);
                if joinable(rt, charter) {
                    open_on.entry(v.component.clone()).or_default().insert(id);
                }
                rt.dirty |= old.is_none_or(|old| !same_evidence(&old, &v));
                touched.insert(id);
            }
            records.push((incident_id, v.clone()));
            events.push(Event::Violation {
                violation: v,
                from: t.from,
                restated,
            });
        }
        Grouped {
            touched,
            records,
            events,
        }
    }

    /// Open a new incident; its id.
    fn open(&mut self, now: Timestamp) -> IncidentId {
        let id = self.next_id;
        self.next_id = IncidentId(id.get() + 1);
        let incident = Incident {
            id,
            opened_at: now,
            state: IncidentState::Open,
            violations: Vec::new(),
            root_cause: None,
            resolved_at: None,
            attempts: 0,
        };
        self.incidents.insert(
            id,
            IncidentRt {
                incident,
                members: BTreeMap::new(),
                diagnosis: None,
                dirty: true,
                tried: Vec::new(),
                refuted: Vec::new(),
                pending: None,
                last_no_action: None,
            },
        );
        id
    }

    /// Members follow their series' episode: the latest value always, and a change of
    /// what a diagnosis weighs (state, onset) marks the incident for a new diagnosis.
    /// O(members): each member looks up its own series.
    pub fn follow_members(&mut self, detector: &Detector) {
        for rt in self.incidents.values_mut() {
            for m in rt.members.values_mut() {
                if let Some(v) = detector.get(&m.objective, &m.component)
                    && m != v
                {
                    rt.dirty |= !same_evidence(m, v);
                    *m = v.clone();
                }
            }
        }
    }

    /// Diagnose every open incident whose evidence changed or whose diagnosis is due
    /// for a refresh. Returns how many diagnoses ran, over how many metric windows, and
    /// the diagnoses that changed an incident's root cause (in id order, with the
    /// incident as it now is).
    pub fn diagnose(
        &mut self,
        charter: &Charter,
        observer: &mut Observer,
        zones: &BTreeMap<String, String>,
        analysis: &RankOptions,
        now: Timestamp,
    ) -> (usize, usize, Vec<(Diagnosis, Incident)>) {
        let (mut diagnoses, mut windows) = (0, 0);
        let mut changed_roots = Vec::new();
        let refresh = charter.interval * REFRESH_INTERVALS;
        // Components with an Unknown objective: diagnoses reason through them.
        let unknown = observer.frozen();
        for rt in self.incidents.values_mut() {
            let every = refresh.max(now.since(rt.incident.opened_at) / REFRESH_AGE_SHARE);
            let stale = rt
                .diagnosis
                .as_ref()
                .is_some_and(|d| now.since(d.at) >= every);
            if !(rt.dirty || stale) || rt.incident.state.is_closed() {
                continue;
            }
            rt.dirty = false;
            // Members that resolved long ago describe the past, not what is wrong
            // now: a long incident that keeps taking new violations is diagnosed on
            // its recent ones.
            let members: Vec<Violation> = rt
                .members
                .values()
                .filter(|v| {
                    v.resolved_at
                        .is_none_or(|r| now.since(r) <= RESOLVED_EVIDENCE)
                })
                .cloned()
                .collect();
            // No symptom left to explain (the incident is clearing): keep the diagnosis
            // that explained them rather than rank the leftovers in the metrics.
            if rt.diagnosis.is_some()
                && !members
                    .iter()
                    .any(|v| matches!(v.state, ViolationState::Firing | ViolationState::Pending))
            {
                continue;
            }
            let scored = observer
                .history
                .incident_scores(charter, &members, &unknown, analysis);
            diagnoses += 1;
            windows += scored.windows;
            let d = diagnose_scored(
                DiagnosisInput {
                    incident_id: rt.incident.id,
                    now,
                    violations: &members,
                    series: &[],
                    topology: Some(&charter.topology),
                    zones: Some(zones),
                    nodes: Some(&PlacementKind::Node.placed(charter)),
                    changes: &observer.changes,
                    refuted: &rt.refuted,
                    episodes: &observer.episodes,
                    observed_since: observer.started,
                    unobserved: &scored.unobserved,
                    target: None,
                    options: analysis,
                },
                scored.scores,
            );
            let changed = match (&rt.diagnosis, d.root()) {
                (None, Some(_)) => true,
                (Some(old), Some(new)) => old
                    .root()
                    .is_none_or(|o| o.component != new.component || o.cause != new.cause),
                _ => false,
            };
            if changed {
                rt.incident.root_cause = d.root().map(|h| h.component.clone());
                if rt.incident.state == IncidentState::Open {
                    rt.incident.state = IncidentState::Diagnosed;
                }
                changed_roots.push((d.clone(), rt.incident.clone()));
            }
            rt.diagnosis = Some(d);
        }
        (diagnoses, windows, changed_roots)
    }

    /// Close every incident with no member pending, firing or Unknown and no running
    /// execution (`running`: the incidents that have one). Returns the closed ones,
    /// marked resolved at `now`, in id order.
    pub fn resolve(&mut self, running: &[IncidentId], now: Timestamp) -> Vec<IncidentRt> {
        let closed: Vec<IncidentId> = self
            .incidents
            .iter()
            .filter(|(id, rt)| {
                let any_open = rt.members.values().any(|v| {
                    matches!(
                        v.state,
                        ViolationState::Firing | ViolationState::Pending | ViolationState::Unknown
                    )
                });
                !any_open && !running.contains(id)
            })
            .map(|(id, _)| *id)
            .collect();
        closed
            .into_iter()
            .filter_map(|id| self.incidents.remove(&id))
            .map(|mut rt| {
                rt.incident.state = IncidentState::Resolved;
                rt.incident.resolved_at = Some(now);
                rt
            })
            .collect()
    }

    /// Mark an incident escalated (an operator must act); its pending policy, if any,
    /// is dropped. The incident as it now is, if it is open.
    pub fn escalate(&mut self, id: IncidentId) -> Option<&Incident> {
        let rt = self.incidents.get_mut(&id)?;
        rt.pending = None;
        rt.incident.state = IncidentState::Escalated;
        Some(&rt.incident)
    }

    /// Policies waiting for a human.
    pub fn pending_policies(&self) -> Vec<Policy> {
        self.incidents
            .values()
            .filter_map(|i| i.pending.clone())
            .collect()
    }

    /// The incident holding pending policy `policy_id`, with the policy.
    pub fn holding(&self, policy_id: PolicyId) -> Option<(IncidentId, &Policy)> {
        self.incidents.iter().find_map(|(id, rt)| {
            rt.pending
                .as_ref()
                .filter(|p| p.id == policy_id)
                .map(|p| (*id, p))
        })
    }

    /// The series of an incident's members named by `keys` (a policy's targets, as
    /// `objective@component` text): looked up among the members, never parsed. A key
    /// that names no member is left out, and logged.
    pub fn series_of(&self, incident_id: IncidentId, keys: &[String]) -> Vec<SeriesKey> {
        let members = self.incidents.get(&incident_id).map(|rt| &rt.members);
        keys.iter()
            .filter_map(|k| {
                let series = members.and_then(|m| m.get(k)).map(Violation::series);
                if series.is_none() {
                    tracing::error!(
                        incident_id = incident_id.get(),
                        target = %k,
                        "a policy target is not a member of its incident"
                    );
                }
                series
            })
            .collect()
    }

    /// The root cause class of an incident's current diagnosis.
    pub fn root_cause(&self, id: IncidentId) -> Option<charter_model::CauseClass> {
        self.incidents
            .get(&id)
            .and_then(|rt| rt.diagnosis.as_ref())
            .and_then(|d| d.root())
            .map(|h| h.cause)
    }

    /// The open incident that a violation unrelated by topology joins because its
    /// onset falls in the same burst of onsets as one of the incident's members.
    fn burst_incident(
        &self,
        v: &Violation,
        charter: &Charter,
        episodes: &EpisodeLog,
        analysis: &RankOptions,
    ) -> Option<IncidentId> {
        let topology = &charter.topology;
        let burst = episodes.burst_at(v.since, &analysis.burst)?;
        self.incidents
            .iter()
            .find(|(_, rt)| {
                joinable(rt, charter)
                    && rt.members.values().any(|m| burst.contains(m.since))
                    && may_explain(topology, rt, &v.component)
            })
            .map(|(id, _)| *id)
    }
}

/// Whether two snapshots of one episode give a diagnosis the same evidence: the
/// same state, onset and firing and resolution times (the latest value, the worst
/// and the severity only word its evidence).
fn same_evidence(a: &Violation, b: &Violation) -> bool {
    a.state == b.state
        && a.since == b.since
        && a.firing_since == b.firing_since
        && a.resolved_at == b.resolved_at
}

/// Whether an open incident can take a new violation on `component`: it has no
/// diagnosis yet, or its root cause could have reached `component` — the same
/// component, a dependency path between them (either direction), or a dependency
/// they share (a slow or loaded shared dependency reaches both). A symptom that no
/// such path connects to the diagnosed root is another problem: its own incident,
/// diagnosed on its own evidence. O(V + E).
fn may_explain(topology: &Topology, rt: &IncidentRt, component: &str) -> bool {
    let Some(root) = rt.diagnosis.as_ref().and_then(|d| d.root()) else {
        return true;
    };
    let root = root.component.as_str();
    if root == component {
        return true;
    }
    let (mine, its) = (
        topology.all_dependencies(component),
        topology.all_dependencies(root),
    );
    mine.contains(root) || its.contains(component) || !mine.is_disjoint(&its)
}

/// Hops along dependencies (either direction) between `component` and an incident's
/// diagnosed root, or its nearest member while undiagnosed; `usize::MAX` when only a
/// shared dependency relates them.
fn nearness(topology: &Topology, rt: &IncidentRt, component: &str) -> usize {
    let anchors: BTreeSet<&str> = match rt.diagnosis.as_ref().and_then(|d| d.root()) {
        Some(h) => BTreeSet::from([h.component.as_str()]),
        None => rt.members.values().map(|m| m.component.as_str()).collect(),
    };
    anchors
        .into_iter()
        .filter_map(|a| {
            if a == component {
                return Some(0);
            }
            topology
                .distance(component, a)
                .or_else(|| topology.distance(a, component))
        })
        .min()
        .unwrap_or(usize::MAX)
}

/// Whether a new violation may join `rt`: the incident is being handled (not over, not
/// escalated to an operator) and has attempts left. A new fault must not inherit an
/// escalation or a used-up budget of attempts: it opens its own incident.
fn joinable(rt: &IncidentRt, charter: &Charter) -> bool {
    rt.incident.state.takes_members()
        && rt.incident.attempts < charter.guardrails.max_attempts_per_incident
}
