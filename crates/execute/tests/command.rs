//! The command actuator against small scripts written at test time.
//!
//! The scripts are shell scripts; the actuator itself runs them as argv lists.

use charter_execute::command::{CommandActuator, KEY_VARIABLE};
use charter_execute::{Actuator, ActuatorError, Applied};
use charter_model::{Action, ActionCommands, ActionKind, ArgTemplate, CommandSpec};
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// Writing an executable while another test thread forks can leave the new file
/// "busy" (ETXTBSY) when it is run; scripts are written under the write lock and run
/// under the read lock.
static FORKS: RwLock<()> = RwLock::const_new(());

async fn script(dir: &Path, name: &str, body: &str) -> String {
    let _w = FORKS.write().await;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.display().to_string()
}

fn argv(args: &[&str]) -> Vec<ArgTemplate> {
    args.iter()
        .map(|a| ArgTemplate::parse(a).expect("valid template"))
        .collect()
}

fn spec(
    timeout: Duration,
    env: &[&str],
    actions: Vec<(ActionKind, ActionCommands)>,
) -> CommandSpec {
    CommandSpec {
        timeout,
        env: env.iter().map(|s| s.to_string()).collect(),
        actions: actions.into_iter().collect(),
    }
}

fn apply_only(kind: ActionKind, args: &[&str]) -> (ActionKind, ActionCommands) {
    (
        kind,
        ActionCommands {
            apply: argv(args),
            undo: None,
        },
    )
}

fn actuator(spec: CommandSpec) -> CommandActuator {
    CommandActuator::with_env("ops", spec, |_| None)
}

async fn apply(a: &CommandActuator, key: &str, action: &Action) -> Result<Applied, ActuatorError> {
    let _r = FORKS.read().await;
    a.apply(key, action).await
}

fn failed(r: Result<Applied, ActuatorError>) -> String {
    match r {
        Err(ActuatorError::Failed(m)) => m,
        other => panic!("expected Failed, got {other:?}"),
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("read output")
        .lines()
        .map(str::to_string)
        .collect()
}

/// Generous: these scripts finish at once unless something is wrong.
const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn placeholders_fill_single_arguments_that_no_shell_interprets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("args");
    let prog = script(
        dir.path(),
        "scale",
        r#"out="$1"; shift; printf '%s\n' "$@" > "$out""#,
    )
    .await;
    let out_s = out.display().to_string();
    let a = actuator(spec(
        TIMEOUT,
        &[],
        vec![apply_only(
            ActionKind::ScaleOut,
            &[
                &prog,
                &out_s,
                "{component}",
                "--by={step}",
                "{action}",
                "{idempotency_key}",
                "{{x}}",
            ],
        )],
    ));
    let evil = "shop api; touch /tmp/pwned $(id) `id` *";
    let action = Action::new(ActionKind::ScaleOut, evil).with_param("step", 2);
    let applied = apply(&a, "inc-1/step-0", &action).await.expect("applied");
    assert!(
        applied.detail.contains("exited with code 0"),
        "{}",
        applied.detail
    );
    assert_eq!(
        lines(&out),
        vec![evil, "--by=2", "scale_out", "inc-1/step-0", "{x}"]
    );
}

#[tokio::test]
async fn a_placeholder_without_a_value_runs_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    let prog = script(dir.path(), "t", &format!(": > {}", marker.display())).await;
    let a = actuator(spec(
        TIMEOUT,
        &[],
        vec![apply_only(ActionKind::Throttle, &[&prog, "{rate}"])],
    ));
    let m = failed(apply(&a, "k", &Action::new(ActionKind::Throttle, "api")).await);
    assert!(
        m.contains("`{rate}` has no value") && m.contains("not run"),
        "{m}"
    );
    assert!(!marker.exists());
}

#[tokio::test]
async fn the_environment_is_clean_but_for_listed_variables_and_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("env.out");
    let prog = script(
        dir.path(),
        "env",
        &format!("/usr/bin/env > {}", out.display()),
    )
    .await;
    let s = spec(
        TIMEOUT,
        &["LISTED", "LISTED_BUT_UNSET"],
        vec![apply_only(ActionKind::Restart, &[&prog])],
    );
    let a = CommandActuator::with_env("ops", s, |k| {
        (k == "LISTED").then(|| OsString::from("yes please"))
    });
    apply(&a, "inc-9/step-1", &Action::new(ActionKind::Restart, "api"))
        .await
        .expect("applied");
    let env = lines(&out);
    assert!(env.contains(&"LISTED=yes please".to_string()), "{env:?}");
    assert!(
        env.contains(&format!("{KEY_VARIABLE}=inc-9/step-1")),
        "{env:?}"
    );
    assert!(
        !env.iter().any(|l| l.starts_with("LISTED_BUT_UNSET=")),
        "{env:?}"
    );
    // A single replica has no fencing epoch; a leader's is passed on.
    assert!(
        !env.iter().any(|l| l.starts_with("CHARTER_FENCING_EPOCH=")),
        "{env:?}"
    );
    a.set_fencing_epoch(7);
    apply(&a, "inc-9/step-2", &Action::new(ActionKind::Restart, "api"))
        .await
        .expect("applied");
    let env = lines(&out);
    assert!(
        env.contains(&"CHARTER_FENCING_EPOCH=7".to_string()),
        "{env:?}"
    );

    // With the real environment: PATH is set here but not listed, so it is absent;
    // a listed variable of this process is passed through.
    let path = std::env::var("PATH").expect("PATH is set in the test process");
    assert!(!path.is_empty());
    let (listed, value) = std::env::vars()
        .find(|(k, _)| {
            k != "PATH" && !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .expect("some variable besides PATH");
    let s = spec(
        TIMEOUT,
        &[&listed],
        vec![apply_only(ActionKind::Restart, &[&prog])],
    );
    let a = CommandActuator::new("ops", s);
    apply(&a, "k2", &Action::new(ActionKind::Restart, "api"))
        .await
        .expect("applied");
    let env = lines(&out);
    assert!(!env.iter().any(|l| l.starts_with("PATH=")), "{env:?}");
    assert!(env.contains(&format!("{listed}={value}")), "{env:?}");
}

#[tokio::test]
async fn a_command_over_its_timeout_is_killed_and_its_outcome_is_unknown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pid");
    let prog = script(
        dir.path(),
        "hang",
        &format!("echo $$ > {}\nexec /bin/sleep 30", pid_file.display()),
    )
    .await;
    let a = actuator(spec(
        Duration::from_millis(300),
        &[],
        vec![apply_only(ActionKind::Restart, &[&prog])],
    ));
    let started = Instant::now();
    // It may have acted before it was killed: not a failure (which would mean it
    // changed nothing) but an unknown outcome, and its status cannot tell either.
    let m = match apply(&a, "k", &Action::new(ActionKind::Restart, "api")).await {
        Err(e @ ActuatorError::Indeterminate(_)) => {
            assert_eq!(e.next_step(), charter_execute::NextStep::AskStatus);
            e.to_string()
        }
        other => panic!("expected an unknown outcome, got {other:?}"),
    };
    assert!(
        m.contains("did not finish within the timeout of 300ms") && m.contains("killed"),
        "{m}"
    );
    let status = a.status("k").await;
    assert!(
        status
            .as_ref()
            .is_err_and(|e| e.to_string().contains("killed")),
        "{status:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the 30 s sleep was waited for"
    );
    let pid = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .to_string();
    assert!(
        !PathBuf::from(format!("/proc/{pid}")).exists(),
        "process {pid} is still there"
    );
}

#[tokio::test]
async fn a_non_zero_exit_fails_with_the_code_and_the_end_of_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prog = script(
        dir.path(),
        "fail",
        "echo 'first words' >&2\necho 'deployment \"api\" not found' >&2\nexit 3",
    )
    .await;
    let a = actuator(spec(
        TIMEOUT,
        &[],
        vec![apply_only(ActionKind::Restart, &[&prog])],
    ));
    let m = failed(apply(&a, "k", &Action::new(ActionKind::Restart, "api")).await);
    assert!(m.contains("exited with code 3"), "{m}");
    assert!(m.contains("deployment \"api\" not found"), "{m}");
}

#[tokio::test]
async fn large_output_is_truncated_and_does_not_block_the_child() {
    let dir = tempfile::tempdir().expect("tempdir");
    // About 200 KiB on each stream, more than a pipe buffer and the capture limit.
    let body = r#"i=0
while [ $i -lt 5000 ]; do
  echo "line $i padding padding padding"
  echo "err $i padding padding padding" >&2
  i=$((i+1))
done
exit $1"#;
    let prog = script(dir.path(), "loud", body).await;
    let a = actuator(spec(
        TIMEOUT,
        &[],
        vec![
            apply_only(ActionKind::Restart, &[&prog, "0"]),
            apply_only(ActionKind::FlushCache, &[&prog, "1"]),
        ],
    ));
    let ok = apply(&a, "k1", &Action::new(ActionKind::Restart, "api"))
        .await
        .expect("applied");
    assert!(ok.detail.contains("(truncated)"), "{}", ok.detail);
    assert!(ok.detail.len() < 2_000, "{} bytes", ok.detail.len());
    let m = failed(apply(&a, "k2", &Action::new(ActionKind::FlushCache, "api")).await);
    assert!(
        m.contains("exited with code 1") && m.contains("(truncated)"),
        "{m}"
    );
    assert!(m.len() < 2_000, "{} bytes", m.len());
}

#[tokio::test]
async fn a_kind_without_a_command_is_not_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prog = script(dir.path(), "r", "exit 0").await;
    let a = actuator(spec(
        TIMEOUT,
        &[],
        vec![apply_only(ActionKind::Restart, &[&prog])],
    ));
    let m = failed(apply(&a, "k", &Action::new(ActionKind::Failover, "api")).await);
    assert!(
        m.contains("actuator `ops` has no command for `failover`"),
        "{m}"
    );
}

#[tokio::test]
async fn undo_runs_the_undo_command_with_the_prior_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("undo-args");
    let apply_prog = script(
        dir.path(),
        "scale",
        "echo 'scaled'\necho 'charter:prior replicas=3'",
    )
    .await;
    let undo_prog = script(
        dir.path(),
        "unscale",
        &format!(r#"printf '%s\n' "$@" > {}"#, out.display()),
    )
    .await;
    let a = actuator(spec(
        TIMEOUT,
        &[],
        vec![
            (
                ActionKind::ScaleOut,
                ActionCommands {
                    apply: argv(&[&apply_prog, "{component}", "{step}"]),
                    undo: Some(argv(&[
                        &undo_prog,
                        "{component}",
                        "--to",
                        "{to_replicas}",
                        "{action}",
                    ])),
                },
            ),
            apply_only(ActionKind::Throttle, &[&apply_prog, "{rate}"]),
        ],
    ));
    let action = Action::new(ActionKind::ScaleOut, "api").with_param("step", 2);
    let applied = apply(&a, "e1/0", &action).await.expect("applied");
    assert_eq!(applied.prior.get("replicas").map(String::as_str), Some("3"));
    let inverse = action.inverse(&applied.prior).expect("reversible");
    apply(&a, "e1/0/undo", &inverse).await.expect("undone");
    assert_eq!(lines(&out), vec!["api", "--to", "3", "scale_out"]);

    // Without an `undo` command the actuator says it cannot undo.
    let throttle = Action::new(ActionKind::Throttle, "api").with_param("rate", 50);
    let applied = apply(&a, "e2/0", &throttle).await.expect("applied");
    let inverse = throttle.inverse(&applied.prior).expect("reversible");
    let m = failed(apply(&a, "e2/0/undo", &inverse).await);
    assert!(
        m.contains("`throttle` cannot be undone by actuator `ops`"),
        "{m}"
    );
}

#[tokio::test]
async fn the_same_idempotency_key_runs_the_program_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let count = dir.path().join("count");
    let prog = script(
        dir.path(),
        "once",
        &format!("echo ran >> {}", count.display()),
    )
    .await;
    let a = actuator(spec(
        TIMEOUT,
        &[],
        vec![apply_only(ActionKind::Restart, &[&prog])],
    ));
    let action = Action::new(ActionKind::Restart, "api");
    let first = apply(&a, "inc-1/step-0", &action).await.expect("applied");
    let (second, third) = tokio::join!(
        apply(&a, "inc-1/step-0", &action),
        apply(&a, "inc-1/step-0", &action)
    );
    assert_eq!(second.expect("applied"), first);
    assert_eq!(third.expect("applied"), first);
    assert_eq!(lines(&count).len(), 1);
    apply(&a, "inc-1/step-1", &action).await.expect("applied");
    assert_eq!(lines(&count).len(), 2);
}

#[tokio::test]
async fn describe_says_it_cannot() {
    let a = actuator(spec(TIMEOUT, &[], Vec::new()));
    match a.describe("api").await {
        Err(ActuatorError::Failed(m)) => assert!(m.contains("cannot describe"), "{m}"),
        other => panic!("expected Failed, got {other:?}"),
    }
}
