#!/usr/bin/env python3
"""Renders charts/charter with a real Helm engine (the Helm v4 library that the PyPI
package helm-python-sdk ships) for every values file in charts/charter/ci/, and
validates every rendered manifest, and deploy/kubernetes/*.yaml, against the
Kubernetes schemas that the PyPI package kubernetes-validate ships (strict: unknown
fields are errors). Exits non-zero on the first class of failure, naming the file.

The Prometheus Operator's kinds (ServiceMonitor, PrometheusRule) have no schema in
kubernetes-validate: they are checked here by hand (the ServiceMonitor names a port
the Service has and selects its labels; the PrometheusRule's spec is exactly
deploy/prometheus/charter-rules.yaml). Also checked: charts that must not render do
not (ha without PostgreSQL, a values key the schema does not know, a bad mode).

Run by scripts/test in a venv: python3 scripts/check-chart.py
"""
import glob
import os
import sys

import yaml
import kubernetes_validate
from helm_python import chart as helm_chart

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(ROOT, "charts", "charter")
RULES = os.path.join(ROOT, "deploy", "prometheus", "charter-rules.yaml")
KUBE_VERSION = "1.30.0"
NO_SCHEMA = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL {msg}", file=sys.stderr)


def validate_docs(where, docs):
    """Validate each object; return them by (kind, name)."""
    seen = {}
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        kind, api = doc.get("kind"), doc.get("apiVersion")
        name = doc.get("metadata", {}).get("name")
        ref = f"{where}: document {i + 1} ({kind} {name})"
        if (api, kind) in NO_SCHEMA:
            try:
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
                fail(f"{ref}: kubernetes-validate unexpectedly has a schema for {api} {kind}; validate it there")
            except kubernetes_validate.SchemaNotFoundError:
                pass
        else:
            try:
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                fail(f"{ref}: {path}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError as e:
                fail(f"{ref}: {e.message}")
        labels = doc.get("metadata", {}).get("labels", {}) or {}
        seen[(kind, name, doc.get("metadata", {}).get("namespace"))] = doc
        if where.startswith("chart") and "app.kubernetes.io/name" not in labels:
            fail(f"{ref}: metadata.labels: no app.kubernetes.io/name")
    return seen


def check_rendered(values_file, objs, values):
    by_kind = {}
    for (kind, _, _), doc in objs.items():
        by_kind.setdefault(kind, []).append(doc)
    mode = values.get("mode", "single")
    workload = "StatefulSet" if mode == "ha" else "Deployment"
    for kind in ["ConfigMap", "Service", workload, "ServiceAccount", "Role", "RoleBinding",
                 "PodDisruptionBudget", "NetworkPolicy"]:
        if kind not in by_kind:
            fail(f"{values_file}: no {kind} rendered")
    if mode == "single" and "PersistentVolumeClaim" not in by_kind:
        fail(f"{values_file}: mode single renders no PersistentVolumeClaim")
    for w in by_kind.get(workload, []):
        pod = w["spec"]["template"]["spec"]
        sc = pod.get("securityContext", {})
        if sc.get("runAsNonRoot") is not True:
            fail(f"{values_file}: {workload}: pod securityContext.runAsNonRoot is not true")
        c = pod["containers"][0]
        csc = c.get("securityContext", {})
        if csc.get("readOnlyRootFilesystem") is not True or csc.get("allowPrivilegeEscalation") is not False:
            fail(f"{values_file}: {workload}: container securityContext is not read-only / no privilege escalation")
        selector = w["spec"]["selector"]["matchLabels"]
        tlabels = w["spec"]["template"]["metadata"]["labels"]
        if any(tlabels.get(k) != v for k, v in selector.items()):
            fail(f"{values_file}: {workload}: selector {selector} does not match the pod labels")
        if mode == "ha" and not any(e.get("name") == "CHARTER_REPLICA_ID" for e in c.get("env", [])):
            fail(f"{values_file}: StatefulSet: no CHARTER_REPLICA_ID from the pod name")
    for role in by_kind.get("Role", []):
        for rule in role["rules"]:
            if "*" in rule.get("verbs", []) or "*" in rule.get("resources", []) or "secrets" in rule.get("resources", []):
                fail(f"{values_file}: Role {role['metadata']['name']}: wildcard or Secrets access: {rule}")
    services = by_kind.get("Service", [])
    for sm in by_kind.get("ServiceMonitor", []):
        want = sm["spec"]["selector"]["matchLabels"]
        ports = {e["port"] for e in sm["spec"]["endpoints"]}
        hits = [s for s in services
                if all(s["metadata"].get("labels", {}).get(k) == v for k, v in want.items())
                and ports <= {p["name"] for p in s["spec"]["ports"]}]
        if not hits:
            fail(f"{values_file}: ServiceMonitor selects no Service with port(s) {sorted(ports)}")
    with open(RULES) as f:
        rules = yaml.safe_load(f)
    for pr in by_kind.get("PrometheusRule", []):
        if pr["spec"] != rules:
            fail(f"{values_file}: PrometheusRule spec differs from {os.path.relpath(RULES, ROOT)}")
    for flag, kind in [("serviceMonitor", "ServiceMonitor"), ("prometheusRule", "PrometheusRule")]:
        on = values.get(flag, {}).get("enabled", False)
        if on != (kind in by_kind):
            fail(f"{values_file}: {flag}.enabled={on} but {kind} rendered: {kind in by_kind}")


def main():
    # The chart's copy of the rules is the plain rules file.
    with open(RULES, "rb") as a, open(os.path.join(CHART, "files", "charter-rules.yaml"), "rb") as b:
        if a.read() != b.read():
            fail("charts/charter/files/charter-rules.yaml differs from deploy/prometheus/charter-rules.yaml (copy it)")

    lint = helm_chart.lint(CHART, strict=True)
    for m in lint.get("messages", []) or []:
        if m.get("severity", 0) >= 2:  # warnings and errors; not "icon is recommended"
            fail(f"helm lint: {m}")

    chart = helm_chart.Chart.load(CHART)
    files = sorted(glob.glob(os.path.join(CHART, "ci", "*-values.yaml")))
    if not files:
        fail("charts/charter/ci/*-values.yaml: none")
    for vf in files:
        rel = os.path.relpath(vf, ROOT)
        with open(vf) as f:
            values = yaml.safe_load(f) or {}
        lint = helm_chart.lint(CHART, values=values, strict=True)
        for m in lint.get("messages", []) or []:
            if m.get("severity", 0) >= 2:
                fail(f"helm lint with {rel}: {m}")
        rendered = chart.render(values=values, name="charter", namespace="charter", is_install=True)
        docs = []
        for path, text in sorted(rendered.items()):
            if path.endswith("NOTES.txt"):
                if "charter" not in text:
                    fail(f"{rel}: {path} renders empty")
                continue
            docs.extend(yaml.safe_load_all(text))
        objs = validate_docs(f"chart with {rel}", docs)
        check_rendered(rel, objs, values)
        print(f"ok   chart with {rel}: {len(objs)} objects rendered and valid against Kubernetes {KUBE_VERSION}")

    # What must not render.
    bad = [
        ("mode ha with the default (SQLite) charter", {"mode": "ha"}, "PostgreSQL"),
        ("an unknown values key", {"replicaCount": 3}, "replicaCount"),
        ("an unknown mode", {"mode": "cluster"}, "mode"),
        ("a port out of range", {"port": 70000}, "port"),
    ]
    for what, values, needle in bad:
        try:
            chart.render(values=values, name="charter", namespace="charter", is_install=True)
            fail(f"chart renders with {what} ({values}); it must be refused")
        except Exception as e:  # the engine's render or values error
            if needle not in str(e):
                fail(f"chart refuses {what} but its message does not name `{needle}`: {e}")
            else:
                print(f"ok   chart refuses {what}")

    for f in sorted(glob.glob(os.path.join(ROOT, "deploy", "kubernetes", "*.yaml"))):
        rel = os.path.relpath(f, ROOT)
        with open(f) as fh:
            objs = validate_docs(rel, list(yaml.safe_load_all(fh)))
        print(f"ok   {rel}: {len(objs)} objects valid against Kubernetes {KUBE_VERSION}")

    if failures:
        print(f"scripts/check-chart.py: {len(failures)} problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
