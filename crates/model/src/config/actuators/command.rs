//! `actuators.NAME.command`: programs run directly for each action kind, as argv
//! lists whose placeholders are checked against what the action carries.

use crate::action::ActionKind;
use crate::charter::{
    ActionCommands, ArgTemplate, CommandSpec, IDEMPOTENCY_KEY_VARIABLE, command_params,
};
use crate::config::defaults;
use crate::config::issues::Issues;
use crate::config::raw::{ActionConfig, ActuatorConfig, CommandConfig, S};
use std::collections::BTreeMap;
use std::path::Path;

/// Compile `actuators.NAME.command`.
pub(super) fn compile(
    is: &mut Issues<'_>,
    name: &str,
    span: &S<ActuatorConfig>,
    c: &CommandConfig,
    action_configs: &BTreeMap<String, S<ActionConfig>>,
) -> CommandSpec {
    let p = format!("actuators.{name}.command");
    let timeout = is.duration_in(
        &c.timeout,
        &format!("{p}.timeout"),
        defaults::COMMAND_TIMEOUT,
        defaults::COMMAND_TIMEOUT_RANGE,
    );
    let mut env = Vec::new();
    for v in &c.env {
        let ok = v
            .value
            .starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_')
            && v.value
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !ok {
            is.at(
                v,
                format!("{p}.env"),
                format!("`{}` is not an environment variable name", v.value),
            );
        } else if v.value == IDEMPOTENCY_KEY_VARIABLE {
            is.at(
                v,
                format!("{p}.env"),
                format!("`{IDEMPOTENCY_KEY_VARIABLE}` is set by Charter for each invocation"),
            );
        } else if !env.contains(&v.value) {
            env.push(v.value.clone());
        }
    }
    let mut actions = BTreeMap::new();
    for (kind_name, a) in &c.actions {
        let ap = format!("{p}.actions.{kind_name}");
        let kind = match kind_name.parse::<ActionKind>() {
            Ok(k) => k,
            Err(e) => {
                is.at(a, ap, e.to_string());
                continue;
            }
        };
        let charter_params: Vec<&str> = action_configs
            .get(kind_name)
            .map(|x| x.value.params.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let apply = command_argv(
            is,
            &format!("{ap}.apply"),
            &a.value.apply,
            kind,
            false,
            &charter_params,
        );
        let undo = a.value.undo.as_ref().map(|u| {
            if !kind.is_reversible() {
                is.at(
                    u,
                    format!("{ap}.undo"),
                    format!("`{kind}` cannot be undone; remove `undo`"),
                );
            }
            command_argv(is, &format!("{ap}.undo"), u, kind, true, &charter_params)
        });
        actions.insert(kind, ActionCommands { apply, undo });
    }
    if c.actions.is_empty() {
        is.at(
            span,
            format!("{p}.actions"),
            "must name a command for at least one action kind",
        );
    }
    CommandSpec {
        timeout,
        env,
        actions,
    }
}

/// Compile one argv list of a command actuator: a fixed absolute program path, then
/// arguments whose placeholders are all known for `kind`.
fn command_argv(
    is: &mut Issues<'_>,
    path: &str,
    argv: &S<Vec<S<String>>>,
    kind: ActionKind,
    undo: bool,
    charter_params: &[&str],
) -> Vec<ArgTemplate> {
    let Some(first) = argv.value.first() else {
        is.at(argv, path, "must name a program (an argv list such as [\"/usr/local/bin/restart-svc\", \"{component}\"])");
        return Vec::new();
    };
    if !Path::new(&first.value).is_absolute() || first.value.contains(['{', '}']) {
        is.at(
            first,
            path,
            format!(
                "the program `{}` must be a fixed absolute path (commands are argv lists run without a shell)",
                first.value
            ),
        );
    }
    let mut known: Vec<&str> = vec!["component", "action", "idempotency_key"];
    known.extend(command_params(kind, undo));
    // The inverse of an action carries only the parameters it sets.
    if !undo {
        known.extend(charter_params);
    }
    let mut out = Vec::new();
    for arg in &argv.value {
        match ArgTemplate::parse(&arg.value) {
            Ok(t) => {
                for name in t.placeholders() {
                    if !known.contains(&name) {
                        is.at(
                            arg,
                            path,
                            format!(
                                "unknown placeholder `{{{name}}}` for `{kind}`{} (known: {})",
                                if undo { " undo" } else { "" },
                                known
                                    .iter()
                                    .map(|k| format!("{{{k}}}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                    }
                }
                out.push(t);
            }
            Err(e) => is.at(arg, path, e),
        }
    }
    out
}
