use super::*;
use crate::action::ActionKind;
use crate::charter::{ActuatorSpec, Direction, KnowledgeSpec, SourceSpec};
use std::time::Duration;

const VALID: &str = r#"name: shop
interval: 15s
mode: autonomous
components:
  - name: frontend
    depends_on: [api]
    replicas: { min: 2, max: 10 }
  - name: api
    depends_on: [db]
  - name: db
objectives:
  - name: latency_p99
    metric: westworld_latency_p99_seconds
    signal: latency
    above: { warning: 0.3, critical: 1.0, clear: 0.25 }
    for: 1m
    remedies: [scale_out, rollback]
  - name: cache_hit
    metric: westworld_cache_hit_ratio
    below: { warning: 0.8, critical: 0.5, clear: 0.85 }
    remedies: [flush_cache]
actions:
  scale_out: { cost: 2, step: 2, time_to_effect: 60s }
guardrails:
  cooldown: 5m
"#;

fn errors(text: &str) -> Vec<ValidationIssue> {
    match parse_charter(text, "shop.yaml", Path::new(".")) {
        Ok(_) => panic!("expected errors"),
        Err(ConfigError::Invalid(list)) => list.into_iter().filter(|i| !i.warning).collect(),
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn one(text: &str, needle: &str) -> ValidationIssue {
    let errs = errors(text);
    errs.iter()
        .find(|e| e.message.contains(needle))
        .cloned()
        .unwrap_or_else(|| panic!("no error containing {needle:?} in {errs:#?}"))
}

#[test]
fn valid_charter_parses_with_defaults() {
    let (c, warnings) = parse_charter(VALID, "shop.yaml", Path::new(".")).expect("valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.interval, Duration::from_secs(15));
    assert_eq!(c.objectives[0].for_, Duration::from_secs(60));
    assert_eq!(c.objectives[0].components, vec!["frontend", "api", "db"]);
    assert_eq!(c.objectives[1].direction, Direction::Below);
    assert_eq!(c.objectives[1].thresholds.clear, 0.85);
    assert_eq!(
        c.action(ActionKind::ScaleOut).time_to_effect,
        Duration::from_secs(60)
    );
    assert_eq!(c.actions.len(), 9);
    assert_eq!(c.guardrails.cooldown, Duration::from_secs(300));
    assert!(c.topology.depends_on("frontend", "db"));
}

#[test]
fn duplicate_component_names_point_at_the_second() {
    let text = VALID.replace("  - name: db\n", "  - name: db\n  - name: api\n");
    let e = one(&text, "duplicate component `api`");
    assert_eq!((e.file.as_str(), e.line, e.column), ("shop.yaml", 11, 11));
    assert_eq!(e.path, "components[3].name");
    assert!(
        e.to_string()
            .starts_with("shop.yaml:11:11: components[3].name: duplicate"),
        "{e}"
    );
}

#[test]
fn duplicate_objective_names_are_errors() {
    let text = VALID.replace("name: cache_hit", "name: latency_p99");
    let e = one(&text, "duplicate objective");
    assert_eq!(e.path, "objectives[1].name");
    assert_eq!(e.line, 18);
}

#[test]
fn unknown_dependency_is_located() {
    let text = VALID.replace("depends_on: [db]", "depends_on: [dbx]");
    let e = one(&text, "unknown component `dbx`");
    assert_eq!((e.line, e.column), (9, 18));
    assert_eq!(e.path, "components[1].depends_on[0]");
}

#[test]
fn dependency_cycles_are_errors() {
    let text = VALID.replace(
        "  - name: db\n",
        "  - name: db\n    depends_on: [frontend]\n",
    );
    let e = one(&text, "dependency cycle");
    assert!(
        e.message.contains("frontend -> api -> db -> frontend"),
        "{}",
        e.message
    );
    assert_eq!(e.line, 5);
}

#[test]
fn thresholds_in_the_wrong_order_for_the_direction() {
    let text = VALID.replace("warning: 0.3, critical: 1.0", "warning: 1.0, critical: 0.3");
    let e = one(&text, "critical (0.3) must be greater than warning (1)");
    assert_eq!(e.path, "objectives[0].above");
    assert_eq!(e.line, 15);

    let text = VALID.replace("warning: 0.8, critical: 0.5", "warning: 0.5, critical: 0.8");
    let e = one(&text, "must be less than warning");
    assert_eq!(e.path, "objectives[1].below");

    let text = VALID.replace("clear: 0.25", "clear: 0.5");
    let e = one(&text, "clear (0.5) must be at most");
    assert_eq!(e.path, "objectives[0].above.clear");
}

#[test]
fn unknown_remedy_kinds_are_errors() {
    let text = VALID.replace(
        "remedies: [scale_out, rollback]",
        "remedies: [scale_out, reboot]",
    );
    let e = one(&text, "unknown action kind `reboot`");
    assert_eq!((e.line, e.column), (17, 27));
    assert_eq!(e.path, "objectives[0].remedies[1]");
}

#[test]
fn replicas_min_above_max_is_an_error() {
    let text = VALID.replace("{ min: 2, max: 10 }", "{ min: 12, max: 10 }");
    let e = one(&text, "min (12) is greater than max (10)");
    assert_eq!(e.path, "components[0].replicas");
    assert_eq!(e.line, 7);
}

#[test]
fn unknown_keys_are_errors_with_location() {
    let text = VALID.replace(
        "    replicas: { min: 2, max: 10 }",
        "    replicas: { min: 2, max: 10 }\n    colour: blue",
    );
    let e = one(&text, "colour");
    assert_eq!(e.line, 8);
    assert_eq!(e.file, "shop.yaml");
}

#[test]
fn bad_durations_are_errors() {
    let text = VALID.replace("for: 1m", "for: soon");
    let e = one(&text, "invalid duration `soon`");
    assert_eq!(e.path, "objectives[0].for");
    assert_eq!(e.line, 16);
}

#[test]
fn every_error_is_reported_at_once() {
    let text = VALID
        .replace("depends_on: [db]", "depends_on: [dbx]")
        .replace("remedies: [flush_cache]", "remedies: [flush]")
        .replace("{ min: 2, max: 10 }", "{ min: 12, max: 10 }");
    let errs = errors(&text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    // Sorted by position in the file.
    assert!(errs.windows(2).all(|w| w[0].line <= w[1].line));
}

#[test]
fn objective_without_remedies_is_a_warning_not_an_error() {
    let text = VALID.replace("    remedies: [flush_cache]\n", "");
    let (_, warnings) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].warning);
    assert!(
        warnings[0]
            .to_string()
            .contains("warning: objectives[1].remedies")
    );
}

#[test]
fn promql_syntax_errors_are_located() {
    let text = VALID.replace(
        "metric: westworld_latency_p99_seconds",
        "expr: histogram_quantile(0.99, sum by (le (rate(x[1m])))",
    );
    let e = one(&text, "invalid PromQL");
    assert_eq!(e.path, "objectives[0].expr");
    assert_eq!((e.line, e.column), (13, 11));
    let ok = VALID.replace(
        "metric: westworld_latency_p99_seconds",
        "expr: histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket[1m])))",
    );
    assert!(parse_charter(&ok, "shop.yaml", Path::new(".")).is_ok());
}

#[test]
fn prometheus_source_and_alerts_are_parsed_with_defaults() {
    let text = VALID.replace(
        "mode: autonomous\n",
        "mode: autonomous\nsource:\n  prometheus: { url: \"http://127.0.0.1:9090/\", timeout: 5s }\nalerts: { token_file: tok }\n",
    );
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new("/etc/charter")).expect("valid");
    let SourceSpec::Prometheus(p) = &c.source else {
        panic!("prometheus source")
    };
    assert_eq!(p.url, "http://127.0.0.1:9090");
    assert_eq!(p.timeout, Duration::from_secs(5));
    assert_eq!((p.max_in_flight, p.blind_after), (8, 4));
    let a = c.alerts.expect("alerts");
    assert_eq!(a.token_file, Some(PathBuf::from("/etc/charter/tok")));
    assert_eq!(
        (a.objective_label.as_str(), a.component_label.as_str()),
        ("alertname", "service")
    );

    let no_token = VALID.replace(
        "mode: autonomous\n",
        "mode: autonomous\nalerts: { objective_label: alertname }\n",
    );
    one(&no_token, "needs `token_file`");
    let open = VALID.replace(
        "mode: autonomous\n",
        "mode: autonomous\nalerts: { auth: none }\n",
    );
    let (c, _) = parse_charter(&open, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(c.alerts.map(|a| a.token_file), Some(None));
}

const COMMAND: &str = r#"actuators:
  ops:
    command:
      timeout: 5s
      env: [KUBECONFIG, PATH]
      actions:
        restart: { apply: ["/usr/local/bin/restart-svc", "{component}"] }
        scale_out:
          apply: ["/usr/local/bin/scale", "{component}", "--by={step}", "{idempotency_key}"]
          undo: ["/usr/local/bin/scale", "{component}", "--to", "{to_replicas}"]
        throttle: { apply: ["/bin/throttle", "{component}", "{rate}", "{{literal}}"] }
"#;

fn with_command(command: &str) -> String {
    format!(
        "{}{command}",
        VALID.replace("  - name: db\n", "  - name: db\n    actuator: ops\n")
    )
}

#[test]
fn command_actuator_parses_into_argv_templates() {
    // `{drain}` is known because the charter gives restart a `drain` parameter.
    let text = with_command(&COMMAND.replace(
        "\"{component}\"] }",
        "\"{component}\", \"--drain={drain}\"] }",
    ))
    .replace(
        "time_to_effect: 60s }\n",
        "time_to_effect: 60s }\n  restart: { params: { drain: 30s } }\n",
    );
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    let Some(ActuatorSpec::Command(spec)) = c.actuators.get("ops") else {
        panic!("expected a command actuator, got {:?}", c.actuators);
    };
    assert_eq!(spec.timeout, Duration::from_secs(5));
    assert_eq!(spec.env, vec!["KUBECONFIG", "PATH"]);
    let restart = &spec.actions[&ActionKind::Restart];
    assert_eq!(
        restart.apply[0].as_literal(),
        Some("/usr/local/bin/restart-svc")
    );
    assert!(restart.undo.is_none());
    let scale = &spec.actions[&ActionKind::ScaleOut];
    assert_eq!(
        scale.apply[2].placeholders().collect::<Vec<_>>(),
        vec!["step"]
    );
    assert_eq!(
        scale.apply[2].fill(|_| Some("2 ; rm")).as_deref(),
        Ok("--by=2 ; rm")
    );
    let throttle = &spec.actions[&ActionKind::Throttle];
    assert_eq!(throttle.apply[3].as_literal(), Some("{literal}"));
}

#[test]
fn command_timeout_defaults_to_30s() {
    let text =
        with_command(&COMMAND.replace("      timeout: 5s\n", "")).replace("\"{rate}\", ", "");
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    let Some(ActuatorSpec::Command(spec)) = c.actuators.get("ops") else {
        panic!("expected a command actuator");
    };
    assert_eq!(spec.timeout, Duration::from_secs(30));
}

#[test]
fn command_program_must_be_an_absolute_path() {
    let text = with_command(&COMMAND.replace("\"/usr/local/bin/restart-svc\"", "\"restart-svc\""));
    let e = one(&text, "must be a fixed absolute path");
    assert_eq!(e.path, "actuators.ops.command.actions.restart.apply");
    let line = text
        .lines()
        .position(|l| l.contains("\"restart-svc\""))
        .expect("line")
        + 1;
    assert_eq!((e.file.as_str(), e.line), ("shop.yaml", line as u64));
    assert!(
        e.to_string().starts_with(&format!(
            "shop.yaml:{line}:{}: actuators.ops.command.actions.restart.apply: ",
            e.column
        )),
        "{e}"
    );
    // Not through a shell, and not chosen by a placeholder either.
    for bad in ["sh -c restart", "{component}", "/bin/{component}"] {
        let text = with_command(&COMMAND.replace("/usr/local/bin/restart-svc", bad));
        one(&text, "must be a fixed absolute path");
    }
}

#[test]
fn unknown_command_placeholders_are_errors_at_load_time() {
    let text = with_command(&COMMAND.replace("\"{component}\"]", "\"{alert_label}\"]"));
    let e = one(&text, "unknown placeholder `{alert_label}`");
    assert_eq!(e.path, "actuators.ops.command.actions.restart.apply");
    // `{to_replicas}` belongs to the undo of a scale, `{step}` to its apply.
    let text = with_command(&COMMAND.replace("--by={step}", "--by={to_replicas}"));
    one(&text, "unknown placeholder `{to_replicas}` for `scale_out`");
    // A parameter the planner does not set and the charter does not declare.
    let text = with_command(&COMMAND.replace("{rate}", "{burst}"));
    one(&text, "unknown placeholder `{burst}` for `throttle`");
    for (bad, needle) in [
        ("{comp onent}", "a placeholder is `{name}`"),
        ("{}", "empty placeholder"),
        ("a}b", "unmatched `}`"),
        ("{component", "a placeholder is `{name}`"),
    ] {
        let text = with_command(&COMMAND.replace("\"{component}\"]", &format!("\"{bad}\"]")));
        one(&text, needle);
    }
}

#[test]
fn command_actuator_settings_are_checked() {
    for (from, to, needle) in [
        ("restart:", "reboot:", "unknown action kind `reboot`"),
        (
            "restart-svc\", \"{component}\"] }",
            "restart-svc\", \"{component}\"], undo: [\"/bin/x\"] }",
            "`restart` cannot be undone",
        ),
        (
            "[KUBECONFIG, PATH]",
            "[\"A B\"]",
            "not an environment variable name",
        ),
        (
            "[KUBECONFIG, PATH]",
            "[CHARTER_IDEMPOTENCY_KEY]",
            "set by Charter for each invocation",
        ),
        ("timeout: 5s", "timeout: 0s", "must be positive"),
        ("timeout: 5s", "timeout: soon", "invalid duration"),
        (
            "{ apply: [\"/bin/throttle\", \"{component}\", \"{rate}\", \"{{literal}}\"] }",
            "{ apply: [] }",
            "must name a program",
        ),
    ] {
        let text = with_command(&COMMAND.replace(from, to));
        one(&text, needle);
    }
    let text = with_command(&COMMAND.replace("timeout: 5s", "shell: true"));
    match parse_charter(&text, "shop.yaml", Path::new(".")) {
        Err(ConfigError::Invalid(list)) => {
            assert!(
                list.iter().any(|i| i.message.contains("unknown field")),
                "{list:?}"
            )
        }
        other => panic!("expected an unknown-field error, got {other:?}"),
    }
}

const KUBERNETES: &str = r#"actuators:
  k8s:
    kubernetes:
      namespace: shop
      kubeconfig: kube/config
      context: staging
      timeout: 5s
      deployments: { api: api-deploy }
      configmaps: { api: api-settings }
"#;

fn with_kubernetes(section: &str) -> String {
    format!(
        "{}{section}",
        VALID
            .replace("  - name: api\n", "  - name: api\n    actuator: k8s\n")
            .replace("  - name: db\n", "  - name: db\n    actuator: k8s\n")
    )
}

#[test]
fn kubernetes_actuator_parses_with_names_and_defaults() {
    let text = with_kubernetes(KUBERNETES);
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new("/etc/charter")).expect("valid");
    let Some(ActuatorSpec::Kubernetes(spec)) = c.actuators.get("k8s") else {
        panic!("expected a kubernetes actuator, got {:?}", c.actuators);
    };
    assert_eq!(spec.namespace, "shop");
    assert_eq!(
        spec.kubeconfig.as_deref(),
        Some(Path::new("/etc/charter/kube/config"))
    );
    assert_eq!(spec.context.as_deref(), Some("staging"));
    assert_eq!(spec.timeout, Duration::from_secs(5));
    assert_eq!(spec.deployment("api"), "api-deploy");
    assert_eq!(spec.deployment("db"), "db");
    assert_eq!(spec.configmap("api"), "api-settings");
    assert_eq!(spec.configmap("db"), "db-config");

    let minimal = with_kubernetes("actuators:\n  k8s:\n    kubernetes: { namespace: shop }\n");
    let (c, _) = parse_charter(&minimal, "shop.yaml", Path::new(".")).expect("valid");
    let Some(ActuatorSpec::Kubernetes(spec)) = c.actuators.get("k8s") else {
        panic!("expected a kubernetes actuator");
    };
    assert_eq!(spec.timeout, Duration::from_secs(10));
    assert_eq!(
        (spec.kubeconfig.as_ref(), spec.context.as_ref()),
        (None, None)
    );
    assert!(spec.deployments.is_empty() && spec.configmaps.is_empty());
}

#[test]
fn kubernetes_actuator_errors_name_the_field() {
    for (from, to, path, needle) in [
        (
            "namespace: shop",
            "namespace: Shop_1",
            "actuators.k8s.kubernetes.namespace",
            "not a namespace name",
        ),
        (
            "timeout: 5s",
            "timeout: 0s",
            "actuators.k8s.kubernetes.timeout",
            "must be positive",
        ),
        (
            "timeout: 5s",
            "timeout: later",
            "actuators.k8s.kubernetes.timeout",
            "invalid duration",
        ),
        (
            "{ api: api-deploy }",
            "{ api: Api_Deploy }",
            "actuators.k8s.kubernetes.deployments.api",
            "not a Deployment name",
        ),
        (
            "{ api: api-deploy }",
            "{ payments: payments }",
            "actuators.k8s.kubernetes.deployments.payments",
            "unknown component `payments`",
        ),
        (
            "{ api: api-settings }",
            "{ api: \"settings/x\" }",
            "actuators.k8s.kubernetes.configmaps.api",
            "not a ConfigMap name",
        ),
        (
            "context: staging",
            "context: \"\"",
            "actuators.k8s.kubernetes.context",
            "must name a kubeconfig context",
        ),
    ] {
        let text = with_kubernetes(&KUBERNETES.replace(from, to));
        let e = one(&text, needle);
        assert_eq!(e.path, path, "{e}");
        let line = text.lines().position(|l| l.contains(to)).expect("line") + 1;
        assert_eq!(e.line, line as u64, "{e}");
    }
    let text = with_kubernetes(&KUBERNETES.replace("context: staging", "cluster: x"));
    match parse_charter(&text, "shop.yaml", Path::new(".")) {
        Err(ConfigError::Invalid(list)) => {
            assert!(
                list.iter().any(|i| i.message.contains("unknown field")),
                "{list:?}"
            )
        }
        other => panic!("expected an unknown-field error, got {other:?}"),
    }
}

#[test]
fn kubernetes_component_names_must_be_deployment_names_unless_mapped() {
    let text = with_kubernetes(KUBERNETES)
        .replace("  - name: db\n", "  - name: Db_Main\n")
        .replace("depends_on: [db]", "depends_on: [Db_Main]");
    let e = one(&text, "component `Db_Main` is not a valid Deployment name");
    assert_eq!(e.path, "actuators.k8s.kubernetes.deployments");
    let mapped = text.replace("{ api: api-deploy }", "{ api: api-deploy, Db_Main: db }");
    parse_charter(&mapped, "shop.yaml", Path::new(".")).expect("valid once mapped");
}

#[test]
fn learning_settings_parse_with_defaults_for_what_is_left_out() {
    use crate::charter::{Exploration, Learning};
    let (c, _) = parse_charter(VALID, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(c.learning, Learning::default());
    assert_eq!(c.learning.half_life, Duration::from_secs(7 * 24 * 3600));
    let text = format!(
        "{VALID}knowledge:\n  sqlite: k.db\n  learning:\n    half_life: 2d\n    exploration: thompson\n    seed: 42\n    credit: {{ improved: 0.25, worsened: 0 }}\n"
    );
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(c.learning.half_life, Duration::from_secs(2 * 24 * 3600));
    assert_eq!(c.learning.exploration, Exploration::Thompson);
    assert_eq!(c.learning.seed, 42);
    assert_eq!(c.learning.credit.improved, 0.25);
    assert_eq!(c.learning.credit.resolved, 1.0);
    assert!(matches!(c.knowledge, Some(KnowledgeSpec::Sqlite { .. })));
}

#[test]
fn learning_credit_outside_zero_to_one_and_zero_half_life_are_errors() {
    let text = format!(
        "{VALID}knowledge:\n  sqlite: k.db\n  learning: {{ half_life: 0s, credit: {{ improved: 1.5 }} }}\n"
    );
    let errs = errors(&text);
    assert!(
        errs.iter()
            .any(|e| e.path == "knowledge.learning.credit.improved"),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.path == "knowledge.learning.half_life"),
        "{errs:?}"
    );
}

#[test]
fn knowledge_in_postgres_reads_its_url_from_a_file_or_inline() {
    use crate::charter::PostgresUrl;
    let text = format!("{VALID}knowledge:\n  postgres: {{ url_file: secrets/pg-url }}\n");
    let (c, warnings) =
        parse_charter(&text, "shop.yaml", Path::new("/etc/charter")).expect("valid");
    assert_eq!(
        c.knowledge,
        Some(KnowledgeSpec::Postgres {
            url: PostgresUrl::File(PathBuf::from("/etc/charter/secrets/pg-url"))
        })
    );
    assert!(
        warnings.iter().all(|w| !w.path.starts_with("knowledge")),
        "{warnings:?}"
    );

    let text =
        format!("{VALID}knowledge:\n  postgres: {{ url: \"postgres://charter@db:5432/k\" }}\n");
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(
        c.knowledge,
        Some(KnowledgeSpec::Postgres {
            url: PostgresUrl::Inline("postgres://charter@db:5432/k".into())
        })
    );
}

#[test]
fn a_password_in_an_inline_postgres_url_is_a_warning() {
    let text =
        format!("{VALID}knowledge:\n  postgres: {{ url: \"postgres://charter:pw@db/k\" }}\n");
    let (_, warnings) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    assert!(
        warnings
            .iter()
            .any(|w| w.path == "knowledge.postgres.url" && w.warning),
        "{warnings:?}"
    );
}

#[test]
fn knowledge_store_settings_that_conflict_are_errors() {
    let both = format!(
        "{VALID}knowledge:\n  sqlite: k.db\n  postgres: {{ url: \"postgres://charter@db/k\" }}\n"
    );
    assert!(errors(&both).iter().any(|e| e.path == "knowledge.postgres"));
    let neither = format!("{VALID}knowledge:\n  postgres: {{}}\n");
    assert!(
        errors(&neither)
            .iter()
            .any(|e| e.path == "knowledge.postgres")
    );
    let two_urls = format!(
        "{VALID}knowledge:\n  postgres: {{ url: \"postgres://charter@db/k\", url_file: f }}\n"
    );
    assert!(
        errors(&two_urls)
            .iter()
            .any(|e| e.path == "knowledge.postgres")
    );
    let not_a_url = format!("{VALID}knowledge:\n  postgres: {{ url: \"mysql://x\" }}\n");
    assert!(
        errors(&not_a_url)
            .iter()
            .any(|e| e.path == "knowledge.postgres.url")
    );
}
