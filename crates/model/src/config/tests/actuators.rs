//! `actuators:`: command and Kubernetes actuators.

use super::*;

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
        (
            "timeout: 5s",
            "timeout: 0s",
            "`0s` is out of range: must be between 100ms and 1h",
        ),
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
            "is out of range: must be between 100ms and 5m",
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
fn http_actuator_url_is_checked_and_timeout_defaults() {
    use crate::config::defaults;
    let ok = "actuators:\n  ok:\n    http: { url: \"http://act/\", token_file: t }\n";
    let (c, _) = parse_charter(
        &format!("{VALID}{ok}"),
        "shop.yaml",
        Path::new("/etc/charter"),
    )
    .expect("valid");
    assert_eq!(
        c.actuators.get("ok"),
        Some(&ActuatorSpec::Http {
            url: "http://act".into(),
            token_file: Some(PathBuf::from("/etc/charter/t")),
            timeout: defaults::HTTP_TIMEOUT,
        })
    );
    let text =
        format!("{VALID}actuators:\n  web:\n    http: {{ url: \"localhost:8080\", timeout: 3 }}\n");
    let errs = located(&text);
    assert_eq!(
        errs[0],
        "28:18: actuators.web.http.url: must start with http:// or https://"
    );
    assert!(
        errs[1].starts_with("28:45: actuators.web.http.timeout: invalid duration `3`"),
        "{errs:?}"
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
}
