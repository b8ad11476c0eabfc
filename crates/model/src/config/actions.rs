//! `actions:` — what each action kind costs and how it behaves; kinds the charter
//! leaves out keep their catalogue entry ([`defaults::action`]).

use super::defaults;
use super::issues::Issues;
use super::raw::{ActionConfig, S};
use crate::action::ActionKind;
use crate::charter::ActionSpec;
use std::collections::BTreeMap;

/// Compile `actions:` into a spec for every kind. A kind's cost is given either as
/// `cost` or as its terms (`disruption`, `resource`, `risk`), never both.
pub(super) fn compile(
    is: &mut Issues<'_>,
    raw: &BTreeMap<String, S<ActionConfig>>,
) -> BTreeMap<ActionKind, ActionSpec> {
    let mut actions: BTreeMap<ActionKind, ActionSpec> = ActionKind::ALL
        .into_iter()
        .map(|k| (k, defaults::action(k)))
        .collect();
    for (name, a) in raw {
        let p = format!("actions.{name}");
        let kind = match name.parse::<ActionKind>() {
            Ok(k) => k,
            Err(e) => {
                is.at(a, &p, e.to_string());
                continue;
            }
        };
        let mut spec = defaults::action(kind);
        let terms = [
            ("disruption", a.value.disruption),
            ("resource", a.value.resource),
            ("risk", a.value.risk),
        ];
        for (field, v) in terms.iter().chain([("cost", a.value.cost)].iter()) {
            if let Some(c) = v
                && !(c.is_finite() && *c >= 0.0)
            {
                is.at(a, format!("{p}.{field}"), "must be a finite number >= 0");
            }
        }
        let has_terms = terms.iter().any(|(_, v)| v.is_some());
        match (a.value.cost, has_terms) {
            (Some(_), true) => is.at(
                a,
                format!("{p}.cost"),
                "give either `cost` or `disruption`/`resource`/`risk`, not both (cost is their sum)",
            ),
            (Some(c), false) => spec = spec.with_total_cost(c),
            (None, true) => {
                spec.disruption = a.value.disruption.unwrap_or(0.0);
                spec.resource = a.value.resource.unwrap_or(0.0);
                spec.risk = a.value.risk.unwrap_or(0.0);
                spec.cost = spec.disruption + spec.resource + spec.risk;
            }
            (None, false) => {}
        }
        if let Some(s) = a.value.step {
            if s == 0 {
                is.at(a, format!("{p}.step"), "must be at least 1");
            }
            spec.step = s;
        }
        spec.time_to_effect = is.duration_in(
            &a.value.time_to_effect,
            &format!("{p}.time_to_effect"),
            spec.time_to_effect,
            defaults::SPAN_RANGE,
        );
        if let Some(ap) = a.value.approval {
            spec.approval = ap;
        }
        spec.params = a.value.params.clone();
        if let Some(x) = &a.value.on_no_effect {
            match x.value.as_str() {
                "undo" => spec.keep_on_no_effect = false,
                "keep" => spec.keep_on_no_effect = true,
                _ => is.at(
                    x,
                    format!("{p}.on_no_effect"),
                    "must be `undo` (the default: what did not help is undone) or `keep`",
                ),
            }
        }
        actions.insert(kind, spec);
    }
    actions
}
