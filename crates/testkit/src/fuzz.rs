//! A small structure-aware fuzz driver on the stable toolchain, for `tests/fuzz.rs`
//! of the crates that read outside input.
//!
//! Each target is a function from bytes to `Result<(), String>`: `Ok` when the input
//! was accepted, `Err(message)` when it was refused. The driver feeds it inputs made
//! from a committed seed corpus (`fuzz/corpus/<target>/`) by mutations that know the
//! shape of text formats (replace a number by an extreme one, insert a token of the
//! target's dictionary, duplicate, delete or swap lines, nest, insert control
//! characters, cut) and plain byte flips, all drawn from one seeded [`Rng`], so a run
//! is the same on every machine. It checks, per case:
//!
//! - **no panic**: a panic fails the test with the input written to a file;
//! - **bounded time**: a watchdog thread fails the test (and saves the input) when
//!   one case runs longer than the bound ([`Fuzz::case_bound`], 2 s by default);
//! - **every rejection is a clear error**: an `Err` with an empty message fails.
//!
//! The run length comes from the environment: `CHARTER_FUZZ_CASES` (a number of
//! cases; unset, the run is bounded by time instead) and `CHARTER_FUZZ_SECS` (the
//! time budget per target, 2 s by default, ignored when a case count is given),
//! `CHARTER_FUZZ_SEED` (the seed, fixed by default). Each run prints
//! `fuzz <target>: N cases in S s (R cases/s), A accepted, E refused`.

use crate::rng::Rng;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a run did, for the test to print or assert on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub cases: u64,
    pub accepted: u64,
    pub refused: u64,
    pub elapsed: Duration,
}

/// One fuzz target: its name (the corpus folder), its dictionary and its bounds.
pub struct Fuzz {
    name: String,
    seeds: Vec<Vec<u8>>,
    dictionary: Vec<Vec<u8>>,
    case_bound: Duration,
    stack: usize,
}

/// Extreme values for number slots, in every target's dictionary.
const EXTREMES: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1e300",
    "-1e300",
    "1e-320",
    "NaN",
    "nan",
    "+Inf",
    "-Inf",
    "inf",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775808",
    "4294967296",
    "99999999999999999999999999",
    "0.0000000001",
    "1.7976931348623157e308",
    "0x10",
    "1_000",
    "253402300800",
    "253402300800000",
    "9999999999999",
    "584000000000y",
    "1ns",
    "0s",
    "1e309",
];

/// Bytes that break text formats, inserted as they are.
const BREAKERS: &[&str] = &[
    "\n",
    "\r\n",
    "\0",
    "\u{1b}[31m",
    "\"",
    "'",
    "`",
    "\\",
    ",",
    ":",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "#",
    "&a",
    "*a",
    "<<",
    "---\n",
    "...\n",
    "\u{feff}",
    "\u{202e}",
    "é",
    "🦀",
    "\t",
    "  ",
    "- ",
    "? ",
    "!!str ",
    "~",
    "null",
    "true",
];

impl Fuzz {
    /// The target `name`, its seeds read from `fuzz/corpus/<name>/` of the workspace.
    pub fn new(name: &str) -> Fuzz {
        let dir = corpus_dir(name);
        let mut seeds = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut paths: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for p in paths {
                if let Ok(b) = std::fs::read(&p) {
                    seeds.push(b);
                }
            }
        }
        assert!(!seeds.is_empty(), "no seed corpus in {}", dir.display());
        Fuzz {
            name: name.to_string(),
            seeds,
            dictionary: Vec::new(),
            case_bound: Duration::from_secs(2),
            stack: 2 << 20,
        }
    }

    /// Tokens of the target's format (keys, enum names, field names), inserted and
    /// swapped in by mutations.
    pub fn dictionary(mut self, words: &[&str]) -> Fuzz {
        self.dictionary
            .extend(words.iter().map(|w| w.as_bytes().to_vec()));
        self
    }

    /// More seeds, made in code (for inputs too large to commit).
    pub fn seed(mut self, input: impl Into<Vec<u8>>) -> Fuzz {
        self.seeds.push(input.into());
        self
    }

    /// The longest one case may run before the run fails as a hang.
    pub fn case_bound(mut self, bound: Duration) -> Fuzz {
        self.case_bound = bound;
        self
    }

    /// Run the target built by `make` (on the fuzzing thread, so it may own a
    /// runtime or a server) over the configured number of cases.
    pub fn run<F, M>(self, make: M) -> Report
    where
        M: FnOnce() -> F + Send + 'static,
        F: FnMut(&[u8]) -> Result<(), String>,
    {
        let (cases, budget) = run_length();
        let seed = std::env::var("CHARTER_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x00C4_A27E_5EED);
        let started_case = Arc::new(AtomicU64::new(u64::MAX));
        let done = Arc::new(AtomicBool::new(false));
        let current: Arc<std::sync::Mutex<Vec<u8>>> = Arc::default();
        let Fuzz {
            name,
            seeds,
            dictionary,
            case_bound,
            stack,
        } = self;
        let t0 = Instant::now();
        let worker = {
            let (started_case, done, current, name) = (
                started_case.clone(),
                done.clone(),
                current.clone(),
                name.clone(),
            );
            std::thread::Builder::new()
                .name(format!("fuzz-{name}"))
                .stack_size(stack)
                .spawn(move || {
                    let mut target = make();
                    let mut rng = Rng::new(seed);
                    let mut report = Report {
                        cases: 0,
                        accepted: 0,
                        refused: 0,
                        elapsed: Duration::ZERO,
                    };
                    let mut mutator = Mutator {
                        rng: &mut rng,
                        seeds: &seeds,
                        dictionary: &dictionary,
                    };
                    let run_started = Instant::now();
                    loop {
                        let more = match cases {
                            Some(n) => report.cases < n,
                            None => run_started.elapsed() < budget,
                        };
                        if !more {
                            break;
                        }
                        // Every seed as it is first, then mutations.
                        let input = if (report.cases as usize) < seeds.len() {
                            seeds[report.cases as usize].clone()
                        } else {
                            mutator.next()
                        };
                        if let Ok(mut c) = current.lock() {
                            c.clone_from(&input);
                        }
                        started_case.store(t0.elapsed().as_millis() as u64, Ordering::SeqCst);
                        let out = catch_unwind(AssertUnwindSafe(|| target(&input)));
                        started_case.store(u64::MAX, Ordering::SeqCst);
                        report.cases += 1;
                        match out {
                            Ok(Ok(())) => report.accepted += 1,
                            Ok(Err(msg)) if msg.trim().is_empty() => {
                                let at = save(&name, "empty-error", &input);
                                panic!(
                                    "fuzz {name}: a rejection without a message (input saved \
                                     to {})",
                                    at.display()
                                );
                            }
                            Ok(Err(_)) => report.refused += 1,
                            Err(p) => {
                                let at = save(&name, "panic", &input);
                                let what = p
                                    .downcast_ref::<String>()
                                    .cloned()
                                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                    .unwrap_or_default();
                                panic!(
                                    "fuzz {name}: panic `{what}` on case {} (input saved to {})",
                                    report.cases,
                                    at.display()
                                );
                            }
                        }
                    }
                    report.elapsed = run_started.elapsed();
                    done.store(true, Ordering::SeqCst);
                    report
                })
                .expect("spawn the fuzz thread")
        };
        // The watchdog: this thread.
        loop {
            if done.load(Ordering::SeqCst) || worker.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            let started = started_case.load(Ordering::SeqCst);
            if started != u64::MAX {
                let running = (t0.elapsed().as_millis() as u64).saturating_sub(started);
                if running > case_bound.as_millis() as u64
                    && started_case.load(Ordering::SeqCst) == started
                {
                    let input = current.lock().map(|c| c.clone()).unwrap_or_default();
                    let at = save(&name, "hang", &input);
                    panic!(
                        "fuzz {name}: one case ran past {case_bound:?} (input saved to {})",
                        at.display()
                    );
                }
            }
        }
        let report = match worker.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        };
        let secs = report.elapsed.as_secs_f64().max(1e-9);
        println!(
            "fuzz {name}: {} cases in {:.2} s ({:.0} cases/s), {} accepted, {} refused, \
             0 panics, 0 hangs (bound {case_bound:?} per case)",
            report.cases,
            secs,
            report.cases as f64 / secs,
            report.accepted,
            report.refused
        );
        report
    }
}

/// `(Some(cases), _)` from `CHARTER_FUZZ_CASES`, else `(None, budget)`.
fn run_length() -> (Option<u64>, Duration) {
    let cases = std::env::var("CHARTER_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok());
    let secs = std::env::var("CHARTER_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(2.0);
    (cases, Duration::from_secs_f64(secs))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpus_dir(name: &str) -> PathBuf {
    workspace().join("fuzz/corpus").join(name)
}

/// Save a failing input under the target directory (or the temp directory).
fn save(name: &str, what: &str, input: &[u8]) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join("fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{name}-{what}-{}", std::process::id()));
    let _ = std::fs::write(&path, input);
    path
}

/// Makes the next input from the seeds.
struct Mutator<'a> {
    rng: &'a mut Rng,
    seeds: &'a [Vec<u8>],
    dictionary: &'a [Vec<u8>],
}

impl Mutator<'_> {
    fn next(&mut self) -> Vec<u8> {
        let mut input = self.seeds[self.rng.below(self.seeds.len())].clone();
        let rounds = 1 + self.rng.below(4usize);
        for _ in 0..rounds {
            self.mutate(&mut input);
        }
        input
    }

    fn word(&mut self) -> Vec<u8> {
        let n = self.dictionary.len() + EXTREMES.len() + BREAKERS.len();
        let i = self.rng.below(n);
        if i < self.dictionary.len() {
            self.dictionary[i].clone()
        } else if i < self.dictionary.len() + EXTREMES.len() {
            EXTREMES[i - self.dictionary.len()].as_bytes().to_vec()
        } else {
            BREAKERS[i - self.dictionary.len() - EXTREMES.len()]
                .as_bytes()
                .to_vec()
        }
    }

    fn mutate(&mut self, s: &mut Vec<u8>) {
        let len = s.len();
        let at = if len == 0 { 0 } else { self.rng.below(len + 1) };
        match self.rng.below(12u32) {
            // Replace a number (a run of digits, signs, dots, exponents) by another.
            0 | 1 => {
                if let Some((a, b)) = number_near(s, at) {
                    let w = EXTREMES[self.rng.below(EXTREMES.len())].as_bytes().to_vec();
                    s.splice(a..b, w);
                } else {
                    let w = self.word();
                    s.splice(at..at, w);
                }
            }
            // Insert a token.
            2 | 3 => {
                let w = self.word();
                s.splice(at..at, w);
            }
            // Replace a word (a run of letters) by a token.
            4 => {
                if let Some((a, b)) = word_near(s, at) {
                    let w = self.word();
                    s.splice(a..b, w);
                }
            }
            // Duplicate, delete or swap lines.
            5 => {
                let lines = line_spans(s);
                if !lines.is_empty() {
                    let (a, b) = lines[self.rng.below(lines.len())];
                    let copy = s[a..b].to_vec();
                    let times = 1 + self.rng.below(3usize);
                    for _ in 0..times {
                        s.splice(a..a, copy.iter().copied());
                    }
                }
            }
            6 => {
                let lines = line_spans(s);
                if !lines.is_empty() {
                    let (a, b) = lines[self.rng.below(lines.len())];
                    s.drain(a..b);
                }
            }
            7 => {
                let lines = line_spans(s);
                if lines.len() >= 2 {
                    let i = self.rng.below(lines.len());
                    let j = self.rng.below(lines.len());
                    let (i, j) = (i.min(j), i.max(j));
                    if i != j {
                        let (a, b) = lines[i];
                        let (c, d) = lines[j];
                        let mut out = s[..a].to_vec();
                        out.extend_from_slice(&s[c..d]);
                        out.extend_from_slice(&s[b..c]);
                        out.extend_from_slice(&s[a..b]);
                        out.extend_from_slice(&s[d..]);
                        *s = out;
                    }
                }
            }
            // Nest: wrap a slice in brackets, many times.
            8 => {
                let b = at + self.rng.below(len - at + 1);
                let (open, close) = match self.rng.below(3u32) {
                    0 => ("(", ")"),
                    1 => ("[", "]"),
                    _ => ("{", "}"),
                };
                let depth = 1 + self.rng.below(200usize);
                s.splice(b..b, close.repeat(depth).into_bytes());
                s.splice(at..at, open.repeat(depth).into_bytes());
            }
            // Cut the input.
            9 => s.truncate(at),
            // Flip bytes.
            10 => {
                for _ in 0..1 + self.rng.below(4usize) {
                    if !s.is_empty() {
                        let i = self.rng.below(s.len());
                        s[i] ^= 1 << self.rng.below(8u32);
                    }
                }
            }
            // Repeat a slice: long values, long lists.
            _ => {
                let b = (at + 1 + self.rng.below(16usize)).min(len);
                if at < b {
                    let piece = s[at..b].to_vec();
                    let times = 1 + self.rng.below(64usize);
                    for _ in 0..times {
                        s.splice(b..b, piece.iter().copied());
                    }
                }
            }
        }
        // Keep inputs from growing without bound over repeated mutations.
        s.truncate(256 * 1024);
    }
}

fn number_near(s: &[u8], at: usize) -> Option<(usize, usize)> {
    let is_num = |c: u8| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+' | b'e' | b'E');
    let start = (at..s.len()).find(|&i| s[i].is_ascii_digit())?;
    let mut a = start;
    while a > 0 && is_num(s[a - 1]) {
        a -= 1;
    }
    let mut b = start;
    while b < s.len() && is_num(s[b]) {
        b += 1;
    }
    Some((a, b))
}

fn word_near(s: &[u8], at: usize) -> Option<(usize, usize)> {
    let start = (at..s.len()).find(|&i| s[i].is_ascii_alphabetic())?;
    let mut b = start;
    while b < s.len() && (s[b].is_ascii_alphanumeric() || s[b] == b'_') {
        b += 1;
    }
    Some((start, b))
}

/// The byte ranges of lines, newline included.
fn line_spans(s: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut a = 0;
    for (i, &c) in s.iter().enumerate() {
        if c == b'\n' {
            out.push((a, i + 1));
            a = i + 1;
        }
    }
    if a < s.len() {
        out.push((a, s.len()));
    }
    out
}
