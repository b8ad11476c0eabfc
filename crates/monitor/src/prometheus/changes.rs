//! Deploys seen through PromQL (`source.prometheus.changes`): a per-component value
//! that moves with every deploy (`revision`) and/or an info series whose version
//! label names what runs (`info`). A component whose revision or version differs from
//! the previous read has been deployed in between: that is reported as a
//! [`ChangeKind::Deploy`], with its from/to versions when `info` gives them.
//!
//! The first read only learns what runs; a read that fails, or a component missing
//! from a result, keeps what was known, so a deploy during a gap is reported on the
//! next good read. The source cannot tell who deployed: every change is reported by
//! `prometheus`, and the controller takes those close to its own actions for its own.

use super::PrometheusSource;
use super::response::{QueryData, RawPoint, VectorSeries, parse_data, quote, result_type};
use charter_model::{Change, ChangeKind, ChangeQueries, Charter, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

/// Who made a change the source saw: the source cannot say more.
pub const CHANGE_BY: &str = "prometheus";

/// What the source last knew of each component's deploys.
#[derive(Debug, Default)]
pub(super) struct Deploys {
    /// Per component: the last revision value read, as the server wrote it.
    revision: BTreeMap<String, String>,
    /// Per component: the last version read (several versions joined by `,`).
    version: BTreeMap<String, String>,
    /// When the last read that answered took place.
    last_read: Option<Timestamp>,
}

/// One read of the change queries: per component, its revision and its version.
#[derive(Debug, Default, PartialEq)]
pub(super) struct DeployReading {
    pub(super) revision: BTreeMap<String, String>,
    pub(super) version: BTreeMap<String, String>,
}

impl Deploys {
    /// Compare `reading`, taken at `now`, with what was known, remember it, and return
    /// the deploys it reveals (in component order). A change is stamped halfway between
    /// the previous read and this one: it happened somewhere in between.
    pub(super) fn update(&mut self, reading: DeployReading, now: Timestamp) -> Vec<Change> {
        let at = match self.last_read {
            Some(prev) if prev < now => prev.plus(now.since(prev) / 2),
            _ => now,
        };
        let components: BTreeSet<&String> = reading
            .revision
            .keys()
            .chain(reading.version.keys())
            .collect();
        let mut out = Vec::new();
        for component in components {
            let rev = moved(&self.revision, &reading.revision, component);
            let ver = moved(&self.version, &reading.version, component);
            if rev.is_none() && ver.is_none() {
                continue;
            }
            let version_now = reading.version.get(component);
            let description = match (ver, rev) {
                (Some((from, to)), _) => format!("deployed {to} (was {from})"),
                (None, Some((from, to))) => match version_now {
                    Some(v) => format!("deployed {v} again (revision {from} → {to})"),
                    None => format!("deployed revision {to} (was {from})"),
                },
                (None, None) => continue,
            };
            out.push(Change {
                at,
                component: component.clone(),
                kind: ChangeKind::Deploy,
                description,
                by: CHANGE_BY.to_string(),
                source: charter_model::ChangeSource::Prometheus,
            });
        }
        self.revision.extend(reading.revision);
        self.version.extend(reading.version);
        self.last_read = Some(now);
        out
    }
}

/// `Some((was, is))` when `component` had a value before and has a different one now.
fn moved<'a>(
    before: &'a BTreeMap<String, String>,
    now: &'a BTreeMap<String, String>,
    component: &str,
) -> Option<(&'a str, &'a str)> {
    let (was, is) = (before.get(component)?, now.get(component)?);
    (was != is).then_some((was.as_str(), is.as_str()))
}

impl PrometheusSource {
    /// Run the change queries at `now` and return the deploys they reveal, with the
    /// problems met. Without `changes` queries, nothing.
    pub(super) async fn read_changes(
        &self,
        charter: &Charter,
        now: Timestamp,
    ) -> (Vec<Change>, Vec<String>) {
        let Some(q) = &self.changes else {
            return (Vec::new(), Vec::new());
        };
        let mut problems = Vec::new();
        let mut reading = DeployReading::default();
        let mut answered = false;
        if let Some(query) = &q.revision {
            match self.instant_vector(query, now).await {
                Ok(series) => {
                    answered = true;
                    reading.revision = revisions(charter, q, &series, &mut problems);
                }
                Err(why) => problems.push(format!("changes: revision query failed: {why}")),
            }
        }
        if let Some(query) = &q.info {
            match self.instant_vector(query, now).await {
                Ok(series) => {
                    answered = true;
                    reading.version = versions(charter, q, &series, &mut problems);
                }
                Err(why) => problems.push(format!("changes: info query failed: {why}")),
            }
        }
        if !answered {
            return (Vec::new(), problems);
        }
        let mut deploys = self.deploys.lock().unwrap_or_else(|e| e.into_inner());
        let changes = deploys.update(reading, now);
        for c in &changes {
            tracing::info!(component = %c.component, at = %c.at, "{}", c.description);
        }
        (changes, problems)
    }

    /// An instant query that must return a vector.
    async fn instant_vector(
        &self,
        query: &str,
        now: Timestamp,
    ) -> Result<Vec<VectorSeries>, String> {
        let params = self.instant_params(query.to_string(), now);
        let envelope = self.fetch("query", &params).await.map_err(|e| e.message)?;
        match parse_data(envelope)? {
            QueryData::Vector(series) => Ok(series),
            other => Err(format!(
                "returned a {} result, expected an instant vector",
                result_type(&other)
            )),
        }
    }
}

/// The component a series names, if the charter declares it.
fn component_of<'a>(charter: &Charter, q: &ChangeQueries, s: &'a VectorSeries) -> Option<&'a str> {
    let c = s.metric.get(&q.component_label)?;
    charter.component(c).is_some().then_some(c.as_str())
}

/// Per declared component: its revision value. Several series for one component, or
/// a value that is not finite, make it unknown for this read (and say so).
fn revisions(
    charter: &Charter,
    q: &ChangeQueries,
    series: &[VectorSeries],
    problems: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut found: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for s in series {
        let Some(c) = component_of(charter, q, s) else {
            continue;
        };
        if let Some(RawPoint(_, v)) = &s.value
            && let Ok(x) = v.trim().parse::<f64>()
            && x.is_finite()
        {
            found.entry(c).or_default().push(x);
        } else {
            problems.push(format!(
                "changes: revision of `{c}` is not a finite number; aggregate the query by `{}`",
                q.component_label
            ));
        }
    }
    let mut out = BTreeMap::new();
    for (c, values) in found {
        match values.as_slice() {
            [one] => {
                out.insert(c.to_string(), one.to_string());
            }
            several => problems.push(format!(
                "changes: {} revision series for `{c}`; aggregate the query by `{}` (e.g. `max by ({})`)",
                several.len(),
                q.component_label,
                q.component_label
            )),
        }
    }
    out
}

/// Per declared component: the versions its info series name, sorted and joined by
/// `,` (during a rolling deploy two versions run at once).
fn versions(
    charter: &Charter,
    q: &ChangeQueries,
    series: &[VectorSeries],
    problems: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut found: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for s in series {
        let Some(c) = component_of(charter, q, s) else {
            continue;
        };
        match s.metric.get(&q.version_label) {
            Some(v) if !v.is_empty() => {
                found.entry(c).or_default().insert(v.as_str());
            }
            _ => problems.push(format!(
                "changes: an info series of `{c}` has no `{}` label: {}",
                q.version_label,
                quote(&format!("{:?}", s.metric))
            )),
        }
    }
    found
        .into_iter()
        .map(|(c, vs)| (c.to_string(), vs.into_iter().collect::<Vec<_>>().join(",")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(rev: &[(&str, &str)], ver: &[(&str, &str)]) -> DeployReading {
        let map = |xs: &[(&str, &str)]| {
            xs.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        DeployReading {
            revision: map(rev),
            version: map(ver),
        }
    }

    #[test]
    fn the_first_read_learns_and_a_moved_revision_is_a_deploy_with_versions() {
        let mut d = Deploys::default();
        let first = d.update(
            reading(&[("auth", "1"), ("db", "1")], &[("auth", "v1")]),
            Timestamp(10_000),
        );
        assert!(first.is_empty(), "{first:?}");
        let same = d.update(
            reading(&[("auth", "1"), ("db", "1")], &[("auth", "v1")]),
            Timestamp(20_000),
        );
        assert!(same.is_empty(), "{same:?}");
        let moved = d.update(
            reading(&[("auth", "2"), ("db", "1")], &[("auth", "v2")]),
            Timestamp(30_000),
        );
        assert_eq!(moved.len(), 1, "{moved:?}");
        let c = &moved[0];
        assert_eq!(
            (c.component.as_str(), c.kind, c.by.as_str()),
            ("auth", ChangeKind::Deploy, CHANGE_BY)
        );
        assert_eq!(c.description, "deployed v2 (was v1)");
        // Halfway between the read that did not see it and the one that did.
        assert_eq!(c.at, Timestamp(25_000));
    }

    #[test]
    fn a_gap_keeps_what_was_known_and_the_deploy_shows_on_the_next_read() {
        let mut d = Deploys::default();
        d.update(reading(&[("auth", "1")], &[]), Timestamp(0));
        // auth missing from this read: nothing is concluded.
        assert!(d.update(reading(&[], &[]), Timestamp(10_000)).is_empty());
        let c = d.update(reading(&[("auth", "3")], &[]), Timestamp(20_000));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].description, "deployed revision 3 (was 1)");
    }

    #[test]
    fn a_redeploy_of_the_same_version_is_still_a_deploy() {
        let mut d = Deploys::default();
        d.update(reading(&[("api", "4")], &[("api", "v7")]), Timestamp(0));
        let c = d.update(reading(&[("api", "5")], &[("api", "v7")]), Timestamp(1_000));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].description, "deployed v7 again (revision 4 → 5)");
    }
}
