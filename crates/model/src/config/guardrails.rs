//! `guardrails:` — the limits automation must respect; each one left out keeps its
//! default ([`super::defaults`]).

use super::issues::Issues;
use super::raw::GuardrailsConfig;
use crate::action::ActionKind;
use crate::charter::Guardrails;

/// Compile `guardrails:`.
pub(super) fn compile(is: &mut Issues<'_>, raw: Option<&GuardrailsConfig>) -> Guardrails {
    let mut guardrails = Guardrails::default();
    let Some(g) = raw else {
        return guardrails;
    };
    if let Some(v) = g.max_actions_per_hour {
        guardrails.max_actions_per_hour = v;
    }
    if let Some(v) = g.max_concurrent {
        guardrails.max_concurrent = v;
    }
    if let Some(v) = g.auto_approve_max_cost {
        guardrails.auto_approve_max_cost = v;
    }
    if let Some(v) = g.max_attempts_per_incident {
        guardrails.max_attempts_per_incident = v;
    }
    if let Some(v) = g.recover_while_blind {
        guardrails.recover_while_blind = v;
    }
    if let Some(kinds) = &g.auto_approve_kinds {
        let mut list = Vec::new();
        for (i, k) in kinds.iter().enumerate() {
            match k.value.parse::<ActionKind>() {
                Ok(kind) => list.push(kind),
                Err(e) => is.at(
                    k,
                    format!("guardrails.auto_approve_kinds[{i}]"),
                    e.to_string(),
                ),
            }
        }
        guardrails.auto_approve_kinds = Some(list);
    }
    if let Some(v) = g.auto_approve_max_severity {
        guardrails.auto_approve_max_severity = v;
    }
    if let Some(sp) = &g.max_restart_share {
        let v = sp.value;
        if !(v > 0.0 && v <= 1.0) {
            is.at(
                sp,
                "guardrails.max_restart_share",
                "must be a share in (0, 1] (0.5: at most half the replicas at once)",
            );
        }
        guardrails.max_restart_share = v;
    }
    if let Some(sp) = &g.max_scale_step {
        let v = sp.value;
        if v == 0 {
            is.at(sp, "guardrails.max_scale_step", "must be at least 1");
        }
        guardrails.max_scale_step = v;
    }
    if let Some(sp) = &g.max_reversals {
        let v = sp.value;
        if v == 0 {
            is.at(sp, "guardrails.max_reversals", "must be at least 1");
        }
        guardrails.max_reversals = v;
    }
    if let Some(sp) = &g.risk_weight {
        let v = sp.value;
        if !(v.is_finite() && v >= 0.0) {
            is.at(sp, "guardrails.risk_weight", "must be a finite number >= 0");
        }
        guardrails.risk_weight = v;
    }
    if let Some(sp) = &g.min_success_probability_irreversible {
        let v = sp.value;
        if !(0.0..=1.0).contains(&v) {
            is.at(
                sp,
                "guardrails.min_success_probability_irreversible",
                "must be a probability in [0, 1] (the estimated chance an irreversible action works)",
            );
        }
        guardrails.min_success_probability_irreversible = v;
    }
    if let Some(sp) = &g.min_margin {
        let v = sp.value;
        if !(v.is_finite() && v >= 0.0) {
            is.at(
                sp,
                "guardrails.min_margin",
                "must be a finite number >= 0 (how far expected benefit must exceed cost)",
            );
        }
        guardrails.min_margin = v;
    }
    guardrails.oscillation_window = is.duration_in(
        &g.oscillation_window,
        "guardrails.oscillation_window",
        guardrails.oscillation_window,
        super::defaults::SPAN_RANGE,
    );
    guardrails.cooldown = is.duration_in(
        &g.cooldown,
        "guardrails.cooldown",
        guardrails.cooldown,
        super::defaults::SPAN_RANGE,
    );
    guardrails.approval_timeout = is.duration_in(
        &g.approval_timeout,
        "guardrails.approval_timeout",
        guardrails.approval_timeout,
        super::defaults::SPAN_RANGE,
    );
    guardrails
}
