//! The attacker's material and the checks that nothing of it leaked: hostile label
//! values, the alerts and webhooks that carry them, and what a clean argv looks like.

use super::*;

/// Strings whose presence anywhere downstream means a label leaked.
pub(super) const METACHARACTERS: [&str; 6] = ["$(", "`", ";", "\n", "{{", "}}"];

pub(super) fn assert_clean(what: &str, value: &str, hostile: &[String]) {
    for m in METACHARACTERS {
        assert!(!value.contains(m), "{what} {value:?} contains {m:?}");
    }
    for h in hostile {
        assert!(
            !value.contains(h.as_str()),
            "{what} {value:?} contains {h:?}"
        );
    }
}

/// An idempotency key as Charter derives it: `<start ms>-<execution>-<step>[-undo]`.
pub(super) fn is_key(s: &str) -> bool {
    let s = s.strip_suffix("-undo").unwrap_or(s);
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

pub(super) fn is_count(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The argv of `call` is exactly one of the charter's templates filled with charter
/// values: the script, the literal tag, a component of `ops`, and per kind an
/// idempotency key, a count or a charter parameter.
pub(super) fn check_argv(call: &Call, script: &str, ops: &BTreeSet<String>) -> Result<(), String> {
    let a: Vec<&str> = call.argv.iter().map(String::as_str).collect();
    let component_ok = |c: &str| ops.contains(c);
    let key_env = call.env.get("CHARTER_IDEMPOTENCY_KEY").map(String::as_str);
    let ok = match a.as_slice() {
        [
            s,
            "restart",
            c,
            key,
            "--action=restart",
            "--drain=30s",
            "{literal}",
        ] => {
            let key = key.strip_prefix("--key=").unwrap_or_default();
            *s == script && component_ok(c) && is_key(key) && key_env == Some(key)
        }
        [s, "scale_out", c, by, key] => {
            *s == script
                && component_ok(c)
                && by.strip_prefix("--by=").is_some_and(is_count)
                && is_key(key)
                && key_env == Some(*key)
        }
        [s, "scale_out_undo", c, "--to", to, key] => {
            *s == script && component_ok(c) && is_count(to) && is_key(key) && key_env == Some(*key)
        }
        [s, "throttle" | "throttle_undo", c, rate] => {
            *s == script
                && component_ok(c)
                && rate
                    .strip_prefix("--rate=")
                    .is_some_and(|r| r == "none" || is_count(r))
                && key_env.is_some_and(is_key)
        }
        _ => false,
    };
    if !ok {
        return Err(format!(
            "argv not derived from the charter: {:?}",
            call.argv
        ));
    }
    // A clean environment: the key, and the working directory the shell adds.
    for (k, v) in &call.env {
        let allowed = match k.as_str() {
            "CHARTER_IDEMPOTENCY_KEY" => is_key(v),
            "PWD" => v == "/",
            _ => false,
        };
        if !allowed {
            return Err(format!("unexpected environment {k}={v:?}"));
        }
    }
    Ok(())
}

/// `t` after virtual zero, as Alertmanager writes times.
pub(super) fn rfc3339(t: Duration) -> String {
    let s = t.as_secs();
    format!(
        "2026-01-01T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// One Alertmanager alert.
pub(super) fn alert(
    fingerprint: &str,
    labels: &[(&str, String)],
    annotations: &[(&str, String)],
    starts: Duration,
) -> Value {
    let map = |pairs: &[(&str, String)]| -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect()
    };
    json!({
        "status": "firing",
        "labels": map(labels),
        "annotations": map(annotations),
        "startsAt": rfc3339(starts),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    })
}

/// A version 4 webhook around `alerts`.
pub(super) fn webhook(alerts: Vec<Value>) -> Value {
    let firing = alerts.iter().any(|a| a["status"] == "firing");
    json!({
        "receiver": "charter",
        "status": if firing { "firing" } else { "resolved" },
        "alerts": alerts,
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
    })
}

/// The attacker's material.
pub(super) struct Attack {
    /// Every attacker-chosen value that is not also a charter name.
    pub(super) hostile: Vec<String>,
    /// Labels besides the objective and component: the names of placeholders, of
    /// actuator settings and of environment variables, with hostile values.
    pub(super) extra_labels: Vec<(&'static str, String)>,
    pub(super) annotations: Vec<(&'static str, String)>,
    /// Component label values that name no component.
    pub(super) components: Vec<String>,
    /// Objective label values that name no objective.
    pub(super) objectives: Vec<String>,
}

impl Attack {
    pub(super) fn new(canary: &Path, decoy_url: &str) -> Attack {
        let x = canary.display();
        let payloads = vec![
            format!("orders; touch {x}"),
            format!("$(touch {x})"),
            format!("`touch {x}`"),
            "`id`".to_string(),
            "{{ .Labels.instance }}".to_string(),
            "{component}".to_string(),
            "{idempotency_key}".to_string(),
            "a\nb".to_string(),
            format!("orders\ntouch {x}"),
            format!("/bin/sh -c 'touch {x}'"),
            decoy_url.to_string(),
        ];
        let extra_labels: Vec<(&'static str, String)> = vec![
            ("url", decoy_url.to_string()),
            (
                "actuator",
                format!("{{ http: {{ url: \"{decoy_url}\" }} }}"),
            ),
            ("command", format!("/bin/sh -c 'touch {x}'")),
            ("program", format!("/bin/sh;touch {x}")),
            ("component", format!("$(touch {x})")),
            ("idempotency_key", format!("1-0;touch {x}")),
            ("action", "restart`id`".to_string()),
            ("step", format!("2; touch {x}")),
            ("to_replicas", "9\n9".to_string()),
            ("rate", "{{ .Values.rate }}".to_string()),
            ("drain", format!("30s$(touch {x})")),
            ("key", "pool_size`id`".to_string()),
            ("value", "40;id".to_string()),
            ("CHARTER_IDEMPOTENCY_KEY", format!("`touch {x}`")),
            ("LD_PRELOAD", format!("{x}.so")),
            ("PATH", format!("{x}:$(touch {x})")),
        ];
        let annotations: Vec<(&'static str, String)> = vec![
            ("summary", format!("memory high; touch {x}")),
            (
                "description",
                format!("$(touch {x})\n`id`\n{{{{ .Labels }}}}"),
            ),
            ("runbook_url", decoy_url.to_string()),
            ("command", format!("/bin/sh -c 'touch {x}'")),
            ("url", decoy_url.to_string()),
        ];
        let components = payloads
            .iter()
            .cloned()
            .chain(
                [
                    "evil",
                    "ORDERS",
                    " orders",
                    "orders ",
                    "orders\n",
                    "../orders",
                    "orders/../evil",
                    "orders\u{0}",
                    "\u{43e}rders",
                ]
                .map(String::from),
            )
            .collect();
        let objectives = payloads
            .iter()
            .cloned()
            .chain(
                [
                    "memory_utilization; touch x",
                    "memory_utilization\n",
                    "MEMORY_UTILIZATION",
                    "{{ .Labels.alertname }}",
                ]
                .map(String::from),
            )
            .collect::<Vec<_>>();
        let mut hostile: Vec<String> = payloads;
        hostile.extend(extra_labels.iter().map(|(_, v)| v.clone()));
        hostile.extend(annotations.iter().map(|(_, v)| v.clone()));
        hostile.extend(
            [
                "evil",
                "ORDERS",
                " orders",
                "orders ",
                "../orders",
                "orders\u{0}",
                "\u{43e}rders",
                "touch",
            ]
            .map(String::from),
        );
        hostile.push(x.to_string());
        Attack {
            hostile,
            extra_labels,
            annotations,
            components,
            objectives,
        }
    }

    /// Alerts that name no declared series: hostile component values under a real
    /// objective, hostile objective values over a real component, and both hostile;
    /// each carrying every hostile extra label and annotation.
    pub(super) fn unmapped(&self, tag: &str, starts: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        let mut push = |objective: &str, component: &str| {
            let mut labels = vec![
                ("alertname", objective.to_string()),
                ("service", component.to_string()),
                ("severity", "critical".to_string()),
            ];
            labels.extend(self.extra_labels.iter().cloned());
            let fingerprint = format!("{tag}-{:04}", out.len());
            out.push(alert(&fingerprint, &labels, &self.annotations, starts));
        };
        for c in &self.components {
            push("memory_utilization", c);
        }
        for o in &self.objectives {
            push(o, "orders");
        }
        for (o, c) in self.objectives.iter().zip(&self.components) {
            push(o, c);
        }
        out
    }

    /// A well-formed alert for a declared series, still carrying every hostile extra
    /// label and annotation.
    pub(super) fn mapped(
        &self,
        fingerprint: &str,
        objective: &str,
        component: &str,
        at: Duration,
    ) -> Value {
        let mut labels = vec![
            ("alertname", objective.to_string()),
            ("service", component.to_string()),
            ("severity", "critical".to_string()),
        ];
        labels.extend(self.extra_labels.iter().cloned());
        alert(fingerprint, &labels, &self.annotations, at)
    }
}
