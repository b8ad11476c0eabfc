//! The charters shipped in the deployment artefacts are valid charters: the chart's
//! default (`charts/charter/values.yaml`, key `charter`), each values file the test
//! command renders (`charts/charter/ci/*-values.yaml`), and the ConfigMaps of
//! `deploy/kubernetes/*.yaml`. Each is written out as its pod would see it — with the
//! files it names (tokens, the PostgreSQL URL) beside it — and must pass
//! `charter validate`. (scripts/check-chart.py renders and validates the chart's
//! Kubernetes objects; this checks what Charter itself reads from them.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The text of every YAML block scalar (`KEY: |`) under `key` in `text`, with the
/// line it starts on.
fn block_scalars(text: &str, key: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let t = l.trim_start();
        if t == format!("{key}: |") || t == format!("{key}: |-") {
            let indent = l.len() - t.len();
            let mut body = Vec::new();
            let mut j = i + 1;
            let mut inner: Option<usize> = None;
            while j < lines.len() {
                let lj = lines[j];
                if lj.trim().is_empty() {
                    body.push(String::new());
                    j += 1;
                    continue;
                }
                let ind = lj.len() - lj.trim_start().len();
                if ind <= indent {
                    break;
                }
                let base = *inner.get_or_insert(ind);
                body.push(lj[base.min(ind)..].to_string());
                j += 1;
            }
            out.push((i + 1, body.join("\n") + "\n"));
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn shipped_charters_pass_validate() {
    let root = repo();
    let mut sources: Vec<(PathBuf, &str)> =
        vec![(root.join("charts/charter/values.yaml"), "charter")];
    let mut ci: Vec<PathBuf> = std::fs::read_dir(root.join("charts/charter/ci"))
        .expect("charts/charter/ci")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with("-values.yaml"))
        .collect();
    ci.sort();
    assert!(!ci.is_empty(), "no charts/charter/ci/*-values.yaml");
    for p in ci {
        sources.push((p, "charter"));
    }
    for f in ["deployment.yaml", "statefulset-ha.yaml"] {
        sources.push((root.join("deploy/kubernetes").join(f), "charter.yaml"));
    }
    let mut checked = 0;
    let mut failures = Vec::new();
    for (path, key) in &sources {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (line, charter) in block_scalars(&text, key) {
            let dir = tempfile::tempdir().expect("tempdir");
            let d = dir.path();
            // What the pod mounts next to the charter (the chart: /etc/charter;
            // deploy/kubernetes: /etc/charter-postgres and /var/lib/charter).
            for f in ["alert-token", "api-token", "postgres-url", "url"] {
                std::fs::write(d.join(f), "postgres://charter@127.0.0.1:5432/charter\n")
                    .expect("write stub");
            }
            let here = format!("{}/", d.display());
            let charter = charter
                .replace("/etc/charter-postgres/", &here)
                .replace("/etc/charter/", &here)
                .replace("/var/lib/charter/", &here);
            let file = d.join("charter.yaml");
            std::fs::write(&file, &charter).expect("write charter");
            let out = Command::new(env!("CARGO_BIN_EXE_charter"))
                .arg("validate")
                .arg(&file)
                .output()
                .expect("run charter validate");
            if !out.status.success() {
                failures.push(format!(
                    "{}:{line}: {key}: charter validate fails:\n{}{}",
                    path.display(),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // values.yaml, the ha values file, the two ConfigMaps: at least these.
    assert!(checked >= 4, "only {checked} charters found in {sources:?}");
}

#[test]
fn block_scalars_reads_indented_text() {
    let t = "a: 1\ncharter: |\n  name: x\n  source:\n    simulator: {}\n\n  mode: supervised\nnext: 2\n";
    let b = block_scalars(t, "charter");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].0, 2);
    assert_eq!(
        b[0].1,
        "name: x\nsource:\n  simulator: {}\n\nmode: supervised\n"
    );
}
