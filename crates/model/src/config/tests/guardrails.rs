//! `guardrails:`: limits are checked; what is left out keeps its default.

use super::*;
use crate::charter::Guardrails;
use crate::vocab::Severity;

#[test]
fn guardrail_limits_out_of_range_are_errors() {
    let text = VALID.replace(
        "guardrails:\n  cooldown: 5m\n",
        "guardrails:\n  auto_approve_kinds: [restart, reboot]\n  max_restart_share: 1.5\n  max_scale_step: 0\n  max_reversals: 0\n  risk_weight: -1\n  approval_timeout: 2h\n",
    );
    assert_eq!(
        located(&text),
        [
            "25:33: guardrails.auto_approve_kinds[1]: unknown action kind `reboot` (expected one of: scale_out, scale_in, restart, rollback, throttle, circuit_break, failover, flush_cache, reconfigure)",
            "26:22: guardrails.max_restart_share: must be a share in (0, 1] (0.5: at most half the replicas at once)",
            "27:19: guardrails.max_scale_step: must be at least 1",
            "28:18: guardrails.max_reversals: must be at least 1",
            "29:16: guardrails.risk_weight: must be a finite number >= 0",
        ]
    );
    let text = VALID.replace("cooldown: 5m", "cooldown: never");
    let e = one(&text, "invalid duration `never`");
    assert_eq!(
        (e.path.as_str(), e.line, e.column),
        ("guardrails.cooldown", 25, 13)
    );
}

#[test]
fn guardrails_left_out_keep_their_defaults() {
    let text = VALID.replace(
        "guardrails:\n  cooldown: 5m\n",
        "guardrails:\n  max_concurrent: 1\n  max_restart_share: 1\n  auto_approve_kinds: [restart]\n  auto_approve_max_severity: warning\n",
    );
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(
        c.guardrails,
        Guardrails {
            max_concurrent: 1,
            max_restart_share: 1.0,
            auto_approve_kinds: Some(vec![ActionKind::Restart]),
            auto_approve_max_severity: Severity::Warning,
            ..Guardrails::default()
        }
    );
}

#[test]
fn the_floor_for_acting_is_bounded() {
    let text = VALID.replace(
        "guardrails:\n  cooldown: 5m\n",
        "guardrails:\n  min_success_probability_irreversible: 1.2\n  min_margin: -0.5\n",
    );
    assert_eq!(
        located(&text),
        [
            "25:41: guardrails.min_success_probability_irreversible: must be a probability in [0, 1] (the estimated chance an irreversible action works)",
            "26:15: guardrails.min_margin: must be a finite number >= 0 (how far expected benefit must exceed cost)",
        ]
    );
    let text = VALID.replace(
        "guardrails:\n  cooldown: 5m\n",
        "guardrails:\n  min_success_probability_irreversible: .nan\n  min_margin: .inf\n",
    );
    assert_eq!(located(&text).len(), 2, "{:?}", located(&text));
    let text = VALID.replace(
        "guardrails:\n  cooldown: 5m\n",
        "guardrails:\n  min_success_probability_irreversible: 0.8\n  min_margin: 2\n",
    );
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(c.guardrails.min_success_probability_irreversible, 0.8);
    assert_eq!(c.guardrails.min_margin, 2.0);
    let (c, _) = parse_charter(VALID, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(c.guardrails.min_success_probability_irreversible, 0.25);
    assert_eq!(c.guardrails.min_margin, 0.5);
}
