//! `actions:`: costs, steps and kinds; kinds left out keep their catalogue entry.

use super::*;
use crate::charter::Approval;
use crate::config::defaults;

const KINDS: &str = "(expected one of: scale_out, scale_in, restart, rollback, throttle, circuit_break, failover, flush_cache, reconfigure)";

#[test]
fn action_costs_steps_and_kinds_are_checked() {
    let text = VALID.replace(
        "  scale_out: { cost: 2, step: 2, time_to_effect: 60s }\n",
        "  scale_out: { cost: 2, step: 0 }\n  reboot: { cost: 1 }\n  restart: { cost: 1, risk: 1 }\n  throttle: { cost: -1 }\n",
    );
    assert_eq!(
        located(&text),
        [
            "23:14: actions.scale_out.step: must be at least 1".to_string(),
            format!("24:11: actions.reboot: unknown action kind `reboot` {KINDS}"),
            "25:12: actions.restart.cost: give either `cost` or `disruption`/`resource`/`risk`, not both (cost is their sum)".to_string(),
            "26:13: actions.throttle.cost: must be a finite number >= 0".to_string(),
        ]
    );
}

#[test]
fn action_cost_is_its_terms_or_scales_the_catalogue_split() {
    let text = VALID.replace(
        "  scale_out: { cost: 2, step: 2, time_to_effect: 60s }\n",
        "  scale_out: { cost: 4, step: 3 }\n  restart: { disruption: 1, resource: 0.5, risk: 0.25, time_to_effect: 2m, approval: required, params: { drain: 30s } }\n",
    );
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(c.actions.len(), 9);
    // The catalogue's scale_out is 0 + 1.5 + 0.5; a total of 4 doubles each term.
    let scale = c.action(ActionKind::ScaleOut);
    assert_eq!(
        (scale.cost, scale.disruption, scale.resource, scale.risk),
        (4.0, 0.0, 3.0, 1.0)
    );
    assert_eq!(scale.step, 3);
    assert_eq!(
        scale.time_to_effect,
        defaults::action(ActionKind::ScaleOut).time_to_effect
    );
    let restart = c.action(ActionKind::Restart);
    assert_eq!(
        (
            restart.cost,
            restart.disruption,
            restart.resource,
            restart.risk
        ),
        (1.75, 1.0, 0.5, 0.25)
    );
    assert_eq!(restart.time_to_effect, Duration::from_secs(120));
    assert_eq!(restart.approval, Approval::Required);
    assert_eq!(restart.params.get("drain").map(String::as_str), Some("30s"));
    assert_eq!(restart.step, defaults::ACTION_STEP);
    assert_eq!(
        c.action(ActionKind::Rollback),
        defaults::action(ActionKind::Rollback)
    );
}
