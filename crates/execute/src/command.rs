//! The command actuator: runs the programs a charter names for each action kind.
//!
//! Commands are argv lists executed directly, never through a shell. Their
//! placeholders are filled verbatim from the [`Action`] Charter built from charter
//! values, each into the one argument it appears in. The child gets a clean
//! environment (only the variables the charter lists, read when the actuator is
//! built, plus `CHARTER_IDEMPOTENCY_KEY`), `/` as its working directory and no stdin;
//! it is killed when it runs over the timeout, and what it prints is captured up to
//! [`MAX_OUTPUT_BYTES`] per stream.
//!
//! Idempotency: results are remembered in memory by key, so the same key applied
//! twice in one process runs the program once (concurrent calls wait for the first);
//! the key is passed to the program so that it can dedupe across restarts. For the
//! same reason [`Actuator::status`] only knows the keys of this process: after a
//! restart every earlier key is unknown.
//!
//! A program reports the state before it acted (what undoing needs, see
//! [`Applied::prior`]) by printing lines `charter:prior KEY=VALUE` on stdout.

use crate::actuator::{Actuator, ActuatorError, Applied, FENCING_EPOCH_VARIABLE};
use async_trait::async_trait;
use charter_model::{Action, ActionKind, ArgTemplate, CommandSpec, ComponentState};
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::OnceCell;

/// The most output captured from each of stdout and stderr, in bytes; the rest is
/// read and discarded so the child never blocks on a full pipe.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// The longest piece of output quoted in a result, in characters.
const MAX_QUOTE: usize = 500;

/// The variable carrying the idempotency key to the program.
pub use charter_model::charter::IDEMPOTENCY_KEY_VARIABLE as KEY_VARIABLE;

type Remembered = Arc<OnceCell<Result<Applied, Ran>>>;

/// Why a program did not apply: it said so (a failure: it changed nothing), or it was
/// killed at the timeout (it may have acted: the outcome is unknown).
#[derive(Debug, Clone)]
enum Ran {
    Failed(String),
    Killed(String),
}

impl From<String> for Ran {
    fn from(e: String) -> Self {
        Ran::Failed(e)
    }
}

/// An [`Actuator`] that runs the programs of an `actuators.NAME.command` section.
#[derive(Debug)]
pub struct CommandActuator {
    name: String,
    spec: CommandSpec,
    /// The passed-through variables that were set, read once at construction.
    env: Vec<(String, OsString)>,
    done: Mutex<HashMap<String, Remembered>>,
    /// The leader's fencing epoch, passed as [`FENCING_EPOCH_VARIABLE`] when not 0.
    epoch: AtomicU64,
}

fn failed(message: impl Into<String>) -> ActuatorError {
    ActuatorError::Failed(message.into())
}

impl CommandActuator {
    /// The actuator `name`, passing through the listed variables of Charter's own
    /// environment.
    pub fn new(name: impl Into<String>, spec: CommandSpec) -> Self {
        Self::with_env(name, spec, |k| std::env::var_os(k))
    }

    /// The actuator `name`, reading the listed variables from `lookup` (tests inject
    /// an environment this way).
    pub fn with_env(
        name: impl Into<String>,
        spec: CommandSpec,
        lookup: impl Fn(&str) -> Option<OsString>,
    ) -> Self {
        let env = spec
            .env
            .iter()
            .filter(|k| k.as_str() != KEY_VARIABLE)
            .filter_map(|k| lookup(k).map(|v| (k.clone(), v)))
            .collect();
        CommandActuator {
            name: name.into(),
            spec,
            env,
            done: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
        }
    }

    /// The argv for `action`: its `apply` command, or, for a compensation, the `undo`
    /// command of the kind it undoes.
    fn argv(&self, key: &str, action: &Action) -> Result<Vec<String>, ActuatorError> {
        let kind = if action.compensation {
            undone_kind(action)
        } else {
            action.kind
        };
        let Some(commands) = self.spec.actions.get(&kind) else {
            return Err(failed(format!(
                "actuator `{}` has no command for `{kind}`",
                self.name
            )));
        };
        let Some(templates) = commands.argv(action.compensation) else {
            return Err(failed(format!(
                "`{kind}` cannot be undone by actuator `{}`: it has no `undo` command",
                self.name
            )));
        };
        let value = |name: &str| -> Option<&str> {
            match name {
                "component" => Some(&action.component),
                "action" => Some(kind.as_str()),
                "idempotency_key" => Some(key),
                _ => action.param(name),
            }
        };
        templates
            .iter()
            .map(|t: &ArgTemplate| t.fill(value))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|name| {
                failed(format!(
                    "`{{{name}}}` has no value for {action}; the program was not run"
                ))
            })
    }

    /// Run `argv` once and describe how it ended.
    async fn run(&self, key: &str, argv: &[String]) -> Result<Applied, Ran> {
        let Some((program, args)) = argv.split_first() else {
            return Err(Ran::Failed("empty command".into()));
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env(KEY_VARIABLE, key)
            .envs(match self.epoch.load(Ordering::Relaxed) {
                0 => None,
                epoch => Some((FENCING_EPOCH_VARIABLE, epoch.to_string())),
            })
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        tracing::debug!(actuator = %self.name, key, program, "running command");
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run `{program}`: {e}"))?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(Ran::Failed(format!(
                "cannot capture the output of `{program}`"
            )));
        };
        let ran = tokio::time::timeout(self.spec.timeout, async {
            tokio::join!(read_capped(stdout), read_capped(stderr), child.wait())
        })
        .await;
        let (out, err, status) = match ran {
            Ok(r) => r,
            Err(_) => {
                // Kill and reap; the pipes' readers were dropped with the timeout.
                let _ = child.kill().await;
                return Err(Ran::Killed(format!(
                    "`{program}` did not finish within the timeout of {:?} and was killed; \
                     what it did before is unknown",
                    self.spec.timeout
                )));
            }
        };
        let status = status.map_err(|e| format!("waiting for `{program}`: {e}"))?;
        let (out, out_cut) = out.map_err(|e| format!("reading the output of `{program}`: {e}"))?;
        let (err, err_cut) = err.map_err(|e| format!("reading the errors of `{program}`: {e}"))?;
        if status.success() {
            let stdout = String::from_utf8_lossy(&out);
            let mut detail = format!("`{program}` exited with code 0");
            let said = tail(&stdout, out_cut);
            if !said.is_empty() {
                detail.push_str(": ");
                detail.push_str(&said);
            }
            Ok(Applied {
                prior: prior_lines(&stdout),
                detail,
            })
        } else {
            let how = match status.code() {
                Some(code) => format!("exited with code {code}"),
                None => format!("ended without an exit code ({status})"),
            };
            let said = tail(&String::from_utf8_lossy(&err), err_cut);
            if said.is_empty() {
                Err(Ran::Failed(format!("`{program}` {how}")))
            } else {
                Err(Ran::Failed(format!("`{program}` {how}: {said}")))
            }
        }
    }
}

#[async_trait]
impl Actuator for CommandActuator {
    async fn apply(&self, key: &str, action: &Action) -> Result<Applied, ActuatorError> {
        let argv = self.argv(key, action)?;
        let cell = {
            let mut done = self
                .done
                .lock()
                .map_err(|_| failed("the result memory is poisoned"))?;
            done.entry(key.to_string()).or_default().clone()
        };
        cell.get_or_init(|| self.run(key, &argv))
            .await
            .clone()
            .map_err(|e| match e {
                Ran::Failed(e) => ActuatorError::Failed(e),
                Ran::Killed(e) => ActuatorError::Indeterminate(e),
            })
    }

    /// What an apply with `key` did in this process: its result if it ran (a failed
    /// program counts as having changed nothing, as it does for the execution that
    /// ran it), an error if it is still running, was killed at its timeout (it may
    /// have acted) or was never run here.
    ///
    /// The memory does not survive a restart, and a program's own effects are beyond
    /// this actuator's sight, so "never run here" cannot mean "never applied": after a
    /// crash, startup recovery gets an error for every key and escalates the step as
    /// unknown rather than guess. Programs that must be recoverable dedupe on
    /// `CHARTER_IDEMPOTENCY_KEY` themselves.
    async fn status(&self, key: &str) -> Result<Option<Applied>, ActuatorError> {
        let cell = self
            .done
            .lock()
            .map_err(|_| failed("the result memory is poisoned"))?
            .get(key)
            .cloned();
        match cell.as_deref().and_then(OnceCell::get) {
            Some(Ok(applied)) => Ok(Some(applied.clone())),
            Some(Err(Ran::Failed(_))) => Ok(None),
            Some(Err(Ran::Killed(e))) => Err(failed(format!(
                "key `{key}`: {e}; only the program's own records can tell"
            ))),
            None => Err(failed(format!(
                "the command actuator `{}` has no record of key `{key}` in this process; \
                 whether an earlier process applied it is unknown",
                self.name
            ))),
        }
    }

    fn set_fencing_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }

    /// A command actuator has no way to look at a component.
    async fn describe(&self, _component: &str) -> Result<ComponentState, ActuatorError> {
        Err(failed(format!(
            "the command actuator `{}` cannot describe components",
            self.name
        )))
    }
}

/// The kind whose commands undo `inverse`: the inverse of a scale is a scale the
/// other way to the previous count ([`Action::inverse`]); every other inverse keeps
/// its kind.
fn undone_kind(inverse: &Action) -> ActionKind {
    match inverse.kind {
        ActionKind::ScaleIn if inverse.param("to_replicas").is_some() => ActionKind::ScaleOut,
        ActionKind::ScaleOut if inverse.param("to_replicas").is_some() => ActionKind::ScaleIn,
        k => k,
    }
}

/// Read all of `r`, keeping the first [`MAX_OUTPUT_BYTES`]; `true` when some was cut.
async fn read_capped(mut r: impl AsyncRead + Unpin) -> std::io::Result<(Vec<u8>, bool)> {
    let mut kept = Vec::new();
    let mut cut = false;
    let mut chunk = [0u8; 8192];
    loop {
        let n = r.read(&mut chunk).await?;
        if n == 0 {
            return Ok((kept, cut));
        }
        let room = MAX_OUTPUT_BYTES - kept.len();
        if n > room {
            cut = true;
        }
        kept.extend_from_slice(&chunk[..n.min(room)]);
    }
}

/// The last [`MAX_QUOTE`] characters of `text`, trimmed, on one line, marked
/// "(truncated)" when the capture or the quote was cut.
fn tail(text: &str, cut: bool) -> String {
    let text = text.trim();
    let count = text.chars().count();
    let mut out: String = text
        .chars()
        .skip(count.saturating_sub(MAX_QUOTE))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if cut || count > MAX_QUOTE {
        out = format!("(truncated) …{out}");
    }
    out
}

/// `charter:prior KEY=VALUE` lines of a program's stdout.
fn prior_lines(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("charter:prior "))
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(|(k, v)| (k.to_string(), v.trim().chars().take(MAX_QUOTE).collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_short_single_line_and_marked() {
        assert_eq!(tail(" a\nb \n", false), "a b");
        assert_eq!(tail("x", true), "(truncated) …x");
        let long = "y".repeat(MAX_QUOTE * 2);
        assert!(tail(&long, false).starts_with("(truncated)"));
        assert!(tail(&long, false).chars().count() < MAX_QUOTE + 20);
    }

    #[test]
    fn prior_lines_are_read_from_stdout() {
        let p = prior_lines("hello\ncharter:prior replicas=3\ncharter:prior bad key=x\n");
        assert_eq!(p, BTreeMap::from([("replicas".into(), "3".into())]));
    }

    fn sh(kind: ActionKind, script: &str) -> CommandActuator {
        let apply = ["/bin/sh", "-c", script]
            .iter()
            .map(|a| ArgTemplate::parse(a).expect("valid template"))
            .collect();
        let spec = CommandSpec {
            timeout: std::time::Duration::from_secs(10),
            env: Vec::new(),
            actions: BTreeMap::from([(kind, charter_model::ActionCommands { apply, undo: None })]),
        };
        CommandActuator::with_env("ops", spec, |_| None)
    }

    #[tokio::test]
    async fn status_knows_only_the_keys_of_this_process() {
        let a = sh(ActionKind::ScaleOut, "echo charter:prior replicas=3");
        let action = Action::new(ActionKind::ScaleOut, "api");
        let err = a.status("7-0").await.expect_err("never run here: unknown");
        assert!(err.to_string().contains("unknown"), "{err}");
        let applied = a.apply("7-0", &action).await.expect("runs");
        assert_eq!(a.status("7-0").await.expect("known"), Some(applied));

        let fails = sh(ActionKind::Restart, "exit 3");
        let restart = Action::new(ActionKind::Restart, "api");
        assert!(fails.apply("8-0", &restart).await.is_err());
        assert_eq!(fails.status("8-0").await.expect("known"), None);
    }

    #[test]
    fn the_inverse_of_a_scale_is_undone_by_the_scale_commands() {
        let prior = BTreeMap::from([("replicas".to_string(), "3".to_string())]);
        let inv = Action::new(ActionKind::ScaleOut, "api")
            .inverse(&prior)
            .expect("reversible");
        assert_eq!(undone_kind(&inv), ActionKind::ScaleOut);
        let inv = Action::new(ActionKind::Throttle, "api")
            .inverse(&prior)
            .expect("reversible");
        assert_eq!(undone_kind(&inv), ActionKind::Throttle);
    }
}
