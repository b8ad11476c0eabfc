//! `actuators.NAME.kubernetes`: the Deployments of one namespace, with the names
//! Kubernetes accepts and the components they stand for.

use crate::charter::KubernetesSpec;
use crate::config::defaults;
use crate::config::issues::Issues;
use crate::config::raw::{ComponentConfig, KubernetesConfig, S};
use std::collections::BTreeMap;
use std::path::Path;

/// Compile `actuators.NAME.kubernetes`: object names are Kubernetes names, mapped
/// components are declared, and every component bound to the actuator has a valid
/// Deployment name.
pub(super) fn compile(
    is: &mut Issues<'_>,
    name: &str,
    k: &KubernetesConfig,
    components: &[ComponentConfig],
    base: &Path,
) -> KubernetesSpec {
    let p = format!("actuators.{name}.kubernetes");
    if !is_dns_label(&k.namespace.value) {
        is.at(
            &k.namespace,
            format!("{p}.namespace"),
            format!(
                "`{}` is not a namespace name (lowercase letters, digits and `-`, at most 63)",
                k.namespace.value
            ),
        );
    }
    if let Some(f) = &k.kubeconfig
        && f.value.trim().is_empty()
    {
        is.at(f, format!("{p}.kubeconfig"), "must name a file");
    }
    if let Some(c) = &k.context
        && c.value.trim().is_empty()
    {
        is.at(c, format!("{p}.context"), "must name a kubeconfig context");
    }
    let timeout = is.duration_in(
        &k.timeout,
        &format!("{p}.timeout"),
        defaults::KUBERNETES_TIMEOUT,
        defaults::REQUEST_TIMEOUT_RANGE,
    );
    let mut names = |field: &str, map: &BTreeMap<String, S<String>>, what: &str| {
        let mut out = BTreeMap::new();
        for (component, object) in map {
            let fp = format!("{p}.{field}.{component}");
            if !components.iter().any(|c| c.name.value == *component) {
                is.at(
                    object,
                    &fp,
                    format!("unknown component `{component}` (declare it under `components:`)"),
                );
            }
            if !is_dns_subdomain(&object.value) {
                is.at(
                    object,
                    &fp,
                    format!(
                        "`{}` is not a {what} name (lowercase letters, digits, `-` and `.`, at most 253)",
                        object.value
                    ),
                );
            }
            out.insert(component.clone(), object.value.clone());
        }
        out
    };
    let deployments = names("deployments", &k.deployments, "Deployment");
    let configmaps = names("configmaps", &k.configmaps, "ConfigMap");
    for c in components {
        let bound = c.actuator.as_ref().is_some_and(|a| a.value == name);
        if bound && !deployments.contains_key(&c.name.value) && !is_dns_subdomain(&c.name.value) {
            is.at(
                &c.name,
                format!("{p}.deployments"),
                format!(
                    "component `{}` is not a valid Deployment name; map it to its Deployment under `{p}.deployments`",
                    c.name.value
                ),
            );
        }
    }
    KubernetesSpec {
        namespace: k.namespace.value.clone(),
        kubeconfig: k.kubeconfig.as_ref().map(|f| base.join(&f.value)),
        context: k.context.as_ref().map(|c| c.value.clone()),
        timeout,
        deployments,
        configmaps,
    }
}

/// A DNS-1123 label: what a namespace name must be.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain: what a Deployment or ConfigMap name must be.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}
