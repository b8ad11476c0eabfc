//! `actuators:` — how components are acted on: the simulator, the actuator API over
//! HTTP, programs run directly (`command`) or the Kubernetes API.

mod command;
mod kubernetes;

use super::defaults;
use super::issues::Issues;
use super::raw::{ActionConfig, ActuatorConfig, ComponentConfig, S};
use crate::charter::ActuatorSpec;
use std::collections::BTreeMap;
use std::path::Path;

/// Compile `actuators:`. A command actuator's placeholders may name the `params` of
/// `actions`, and a Kubernetes actuator maps `components`, so both are read here.
pub(super) fn compile(
    is: &mut Issues<'_>,
    actuators: &BTreeMap<String, S<ActuatorConfig>>,
    components: &[ComponentConfig],
    actions: &BTreeMap<String, S<ActionConfig>>,
    base: &Path,
) -> BTreeMap<String, ActuatorSpec> {
    actuators
        .iter()
        .map(|(name, a)| {
            let spec = match &a.value {
                ActuatorConfig::Simulator {} => ActuatorSpec::Simulator,
                ActuatorConfig::Http {
                    url,
                    token_file,
                    timeout,
                } => {
                    let p = format!("actuators.{name}.http");
                    if !(url.value.starts_with("http://") || url.value.starts_with("https://")) {
                        is.at(
                            url,
                            format!("{p}.url"),
                            "must start with http:// or https://",
                        );
                    } else if let Some(why) = url_refusal(url.value.trim()) {
                        is.at(url, format!("{p}.url"), why);
                    }
                    ActuatorSpec::Http {
                        url: url.value.trim_end_matches('/').to_string(),
                        token_file: token_file.as_ref().map(|t| base.join(t)),
                        timeout: is.duration_in(
                            timeout,
                            &format!("{p}.timeout"),
                            defaults::HTTP_TIMEOUT,
                            defaults::REQUEST_TIMEOUT_RANGE,
                        ),
                    }
                }
                ActuatorConfig::Command(c) => {
                    ActuatorSpec::Command(command::compile(is, name, a, c, actions))
                }
                ActuatorConfig::Kubernetes(k) => {
                    ActuatorSpec::Kubernetes(kubernetes::compile(is, name, k, components, base))
                }
            };
            (name.clone(), spec)
        })
        .collect()
}

/// Why `run` would refuse an actuator URL that starts well: credentials in it
/// (`user:pass@`), or a query or fragment (requests append paths to it).
fn url_refusal(url: &str) -> Option<&'static str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Some(
            "must not carry a user name or password (`user:pass@`); put a bearer token in \
             a file named by `token_file`",
        );
    }
    if rest.contains(['?', '#']) {
        return Some("must not have a query or a fragment (request paths are appended to it)");
    }
    None
}
