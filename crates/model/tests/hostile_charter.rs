//! Issue 16 items 12, 14, 15 and 18: a charter written carelessly or with intent
//! gets a located, one-line error in the charter's words, quickly, instead of a
//! panic, a stack overflow, minutes of parsing, or a library's internals.

use charter_model::{ConfigError, ValidationIssue, load_charter, parse_charter};
use std::path::Path;
use std::time::{Duration, Instant};

const BASE: &str = "name: shop\ncomponents: [{ name: api }]\n";

/// The issues of an invalid charter (panics if it is valid).
fn issues(text: &str) -> Vec<ValidationIssue> {
    match parse_charter(text, "shop.yaml", Path::new(".")) {
        Err(ConfigError::Invalid(list)) => list,
        Err(e) => panic!("not a validation error: {e}"),
        Ok(_) => panic!("accepted:\n{text}"),
    }
}

/// The one line of every issue, joined.
fn lines(text: &str) -> String {
    issues(text)
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Run `f` on a thread with a 2 MiB stack (a test thread's default), failing the
/// test (instead of hanging) past `bound`.
fn within<T: Send + 'static>(bound: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn");
    let out = rx
        .recv_timeout(bound)
        .unwrap_or_else(|_| panic!("no answer within {bound:?}"));
    assert!(started.elapsed() <= bound, "took {:?}", started.elapsed());
    out
}

fn with_expr(expr: &str) -> String {
    format!(
        "{BASE}objectives:\n  - name: errors\n    expr: '{expr}'\n    \
         above: {{ warning: 1, critical: 2, clear: 0.5 }}\n    remedies: [restart]\n"
    )
}

// Item 14: a stack overflow (abort) on base.
#[test]
fn an_expression_nested_150000_deep_is_refused_not_a_stack_overflow() {
    let expr = format!("{}up{}", "(".repeat(150_000), ")".repeat(150_000));
    let text = with_expr(&expr);
    let out = within(Duration::from_secs(2), move || lines(&text));
    assert!(
        out.starts_with(
            "shop.yaml:5:11: objectives[0].expr: the expression is 300002 bytes long; at most 65536"
        ),
        "{out}"
    );
    // Within the size bound, the depth bound answers.
    let expr = format!("{}up{}", "(".repeat(20_000), ")".repeat(20_000));
    let text = with_expr(&expr);
    let out = within(Duration::from_secs(2), move || lines(&text));
    assert!(
        out.starts_with(
            "shop.yaml:5:11: objectives[0].expr: brackets are nested more than 64 deep (at byte 64)"
        ),
        "{out}"
    );
}

// Item 14: 14 s on base (and a stack overflow on a 2 MiB stack).
#[test]
fn a_40000_term_expression_gets_its_verdict_in_well_under_a_second() {
    let expr = vec!["up"; 40_000].join(" + ");
    let text = with_expr(&expr);
    let out = within(Duration::from_millis(500), move || lines(&text));
    assert!(
        out.contains("objectives[0].expr: the expression is 199997 bytes long"),
        "{out}"
    );
    // Within the size bound, the token bound answers.
    let expr = vec!["up"; 10_000].join("+");
    let text = with_expr(&expr);
    let out = within(Duration::from_millis(500), move || lines(&text));
    assert!(
        out.contains("objectives[0].expr: the expression has more than 2000 tokens"),
        "{out}"
    );
}

// Item 14: past 30 s on base.
#[test]
fn sum_open_50000_times_is_refused_fast() {
    let text = with_expr(&"sum(".repeat(50_000));
    let out = within(Duration::from_millis(500), move || lines(&text));
    assert!(
        out.contains("objectives[0].expr: the expression is 200000 bytes long"),
        "{out}"
    );
    let text = with_expr(&"sum(".repeat(10_000));
    let out = within(Duration::from_millis(500), move || lines(&text));
    assert!(
        out.contains("objectives[0].expr: brackets are nested more than 64 deep"),
        "{out}"
    );
}

#[test]
fn ordinary_expressions_still_validate_and_the_bounds_are_generous() {
    let real = "sum(rate(http_requests_total{job=\"api\",code=~\"5..\"}[5m])) by (service) \
                / sum(rate(http_requests_total{job=\"api\"}[5m])) by (service)";
    parse_charter(
        &with_expr(&real.replace('\'', "")),
        "shop.yaml",
        Path::new("."),
    )
    .expect("valid");
    // Brackets and operators inside strings do not count.
    let quoted = format!("up{{job=\"{}\"}}", "(".repeat(500));
    parse_charter(&with_expr(&quoted), "shop.yaml", Path::new(".")).expect("valid");
    // 60 levels and 900 terms are accepted, in well under a second.
    let deep = format!("{}up{}", "(".repeat(60), ")".repeat(60));
    let long = vec!["up"; 900].join(" + ");
    for e in [deep, long] {
        let text = with_expr(&e);
        within(Duration::from_secs(1), move || {
            parse_charter(&text, "shop.yaml", Path::new(".")).map(|_| ())
        })
        .expect("valid");
    }
}

// Item 15: `interval: 584000000000y` passed validate and panicked in run; `1ns` ran
// 750 cycles a second.
#[test]
fn out_of_range_intervals_are_located_errors() {
    for (v, col) in [("584000000000y", 11), ("1ns", 11), ("50ms", 11), ("2h", 11)] {
        let text = format!("name: shop\ninterval: {v}\ncomponents: [{{ name: api }}]\n");
        let out = lines(&text);
        assert_eq!(
            out,
            format!(
                "shop.yaml:2:{col}: interval: `{v}` is out of range: must be between 100ms and 1h"
            )
        );
    }
    for v in ["100ms", "1s", "30s", "1h"] {
        let text = format!("name: shop\ninterval: {v}\ncomponents: [{{ name: api }}]\n");
        parse_charter(&text, "shop.yaml", Path::new(".")).expect(v);
    }
}

// Item 12: only a lower bound on base; a huge value was accepted.
#[test]
fn retention_has_an_upper_bound() {
    for v in ["584000000000y", "11y", "3651d"] {
        let out = lines(&format!("{BASE}knowledge: {{ retention: {v} }}\n"));
        assert!(
            out.starts_with("shop.yaml:3:25: knowledge.retention: ")
                && out.contains("must be between 1d and 3650d"),
            "{v}: {out}"
        );
    }
    let (c, _) = parse_charter(
        &format!("{BASE}knowledge: {{ retention: 3650d }}\n"),
        "shop.yaml",
        Path::new("."),
    )
    .expect("ten years is accepted");
    assert_eq!(c.retention, Duration::from_secs(3650 * 86_400));
}

// Item 15: every duration and count of the config is bounded.
#[test]
fn timeouts_leases_spans_and_counts_are_bounded() {
    let cases = [
        (
            "source: { prometheus: { url: 'http://p:9090', timeout: 1000y } }\n",
            "source.prometheus.timeout: `1000y` is out of range",
        ),
        (
            "source: { prometheus: { url: 'http://p:9090', max_in_flight: 100000 } }\n",
            "source.prometheus.max_in_flight: 100000 is out of range: must be between 1 and 1024",
        ),
        (
            "source: { prometheus: { url: 'http://p:9090', retries: 4000000000 } }\n",
            "source.prometheus.retries: 4000000000 is out of range: must be between 0 and 10",
        ),
        (
            "source: { prometheus: { url: 'http://p:9090', blind_after: 0 } }\n",
            "source.prometheus.blind_after: 0 is out of range: must be between 1 and 1000",
        ),
        (
            "actuators: { a: { http: { url: 'http://a', timeout: 1ns } } }\n",
            "actuators.a.http.timeout: `1ns` is out of range: must be between 100ms and 5m",
        ),
        (
            "knowledge: { lease: { ttl: 100y } }\n",
            "knowledge.lease.ttl: `100y` is out of range: must be between 500ms and 1h",
        ),
        (
            "knowledge: { learning: { half_life: 0s } }\n",
            "knowledge.learning.half_life: `0s` is out of range",
        ),
        (
            "actions: { restart: { time_to_effect: 1000y } }\n",
            "actions.restart.time_to_effect: `1000y` is out of range: must be between 0s and 7d",
        ),
        (
            "guardrails: { cooldown: 584000000000y }\n",
            "guardrails.cooldown: `584000000000y` is out of range",
        ),
    ];
    for (block, says) in cases {
        let out = lines(&format!("{BASE}{block}"));
        assert!(out.contains(says), "{block}: {out}");
        assert!(out.starts_with("shop.yaml:3:"), "{out}");
    }
}

// Item 18: the library's own words on base.
#[test]
fn structural_errors_speak_the_charters_language() {
    let dup = lines("name: shop\nname: again\ncomponents: [{ name: api }]\n");
    assert!(
        !dup.contains("DuplicateKeyPolicy") && !dup.contains("Options"),
        "{dup}"
    );
    assert!(dup.contains("duplicate key `name`"), "{dup}");

    let two = lines(&format!("{BASE}---\n{BASE}"));
    assert!(!two.contains("from_str_multiple"), "{two}");
    assert!(two.contains("a charter is one document"), "{two}");

    // An alias bomb: far more aliases than any charter needs.
    let mut bomb = String::from(
        "name: shop\ncomponents: [{ name: api }]\nactions:\n  restart:\n    params:\n      a: &a x\n",
    );
    bomb.push_str("guardrails:\n  auto_approve_kinds: [");
    bomb.push_str(&vec!["*a"; 60_000].join(", "));
    bomb.push_str("]\n");
    let out = within(Duration::from_secs(10), move || lines(&bomb));
    assert!(
        !out.contains("budget breached") && !out.contains("Aliases {"),
        "{out}"
    );
    assert!(
        out.contains("too large or too nested to be a charter"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1, "{out}");
}

// Item 18: "(document): invalid u32" on base.
#[test]
fn a_value_of_the_wrong_type_names_its_key_path() {
    let out = lines("name: shop\ncomponents:\n  - name: api\n    replicas: { min: -1, max: 3 }\n");
    assert!(
        out.contains("components[0].replicas.min: must be a whole number from 0 to 4294967295"),
        "{out}"
    );
    assert!(!out.contains("(document)"), "{out}");
    let out = lines("name: shop\ninterval: [1]\ncomponents: []\n");
    assert!(out.contains(": interval: "), "{out}");
}

// Item 18: a newline in an echoed value broke the one-error-per-line format on base.
#[test]
fn an_echoed_newline_stays_on_its_line() {
    let text = "name: shop\ncomponents:\n  - name: api\n    depends_on: [\"db\\nshop.yaml:1:1: name: forged\"]\n";
    let out = lines(text);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains("unknown component `db\\nshop.yaml:1:1: name: forged`"),
        "{out}"
    );
}

// Item 18: "cannot read charter X" with no cause on base.
#[test]
fn an_unreadable_charter_says_why() {
    let e = load_charter(Path::new("/nonexistent/charter.yaml")).expect_err("missing");
    let msg = e.to_string();
    assert!(
        msg.starts_with("cannot read charter /nonexistent/charter.yaml: "),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("no such file"), "{msg}");
    let e = load_charter(Path::new("/dev/zero")).expect_err("a device");
    assert!(e.to_string().contains("not a regular file"), "{e}");
}

// Item 15: a missing token file passed validate and failed run.
#[test]
fn validate_checks_every_named_file() {
    use charter_model::load_charter_checked;
    let dir = tempfile_dir("named-files");
    std::fs::write(dir.join("api-token"), "s3cret\n").expect("write");
    std::fs::write(dir.join("empty"), "\n").expect("write");
    let charter = dir.join("shop.yaml");
    std::fs::write(
        &charter,
        "name: shop\n\
         components: [{ name: api }]\n\
         alerts: { token_file: missing-token }\n\
         api: { token_file: api-token }\n\
         source: { prometheus: { url: 'http://p:9090', bearer_token_file: /dev/zero } }\n\
         knowledge: { postgres: { url_file: empty } }\n\
         actuators:\n\
         \x20 web: { http: { url: 'http://a', token_file: nowhere/token } }\n\
         \x20 k8s: { kubernetes: { namespace: shop, kubeconfig: no-kubeconfig } }\n",
    )
    .expect("write");
    let f = charter.display().to_string();
    let d = dir.display().to_string();
    // The plain load does not look at files (tests and tools compile charters that
    // name files elsewhere).
    load_charter(&charter).expect("valid without looking at files");
    let out = match load_charter_checked(&charter) {
        Err(ConfigError::Invalid(list)) => list,
        other => panic!("{other:?}"),
    };
    let out: Vec<String> = out.iter().map(ToString::to_string).collect();
    let expect = [
        format!(
            "{f}:3:23: alerts.token_file: cannot read token file {d}/missing-token: No such file"
        ),
        format!(
            "{f}:5:9: source.prometheus.bearer_token_file: token file /dev/zero is not a regular file"
        ),
        format!("{f}:6:36: knowledge.postgres.url_file: token file {d}/empty is empty"),
        format!(
            "{f}:8:8: actuators.web.http.token_file: cannot read token file {d}/nowhere/token: No such file"
        ),
        format!(
            "{f}:9:53: actuators.k8s.kubernetes.kubeconfig: cannot read {d}/no-kubeconfig: No such file"
        ),
    ];
    for e in &expect {
        assert!(
            out.iter().any(|l| l.starts_with(e.as_str())),
            "missing {e:?} in {out:#?}"
        );
    }
    assert_eq!(out.len(), expect.len(), "{out:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

// Item 15: credentials in an actuator URL passed validate and failed run.
#[test]
fn actuator_url_credentials_are_refused() {
    for (url, says) in [
        (
            "http://user:pass@act:8700",
            "must not carry a user name or password",
        ),
        (
            "https://token@act",
            "must not carry a user name or password",
        ),
        (
            "http://act:8700/x?key=1",
            "must not have a query or a fragment",
        ),
    ] {
        let out = lines(&format!(
            "{BASE}actuators: {{ a: {{ http: {{ url: '{url}' }} }} }}\n"
        ));
        assert!(
            out.contains(&format!("actuators.a.http.url: {says}")),
            "{url}: {out}"
        );
        assert!(
            !out.contains("@act"),
            "the message does not echo the URL: {out}"
        );
    }
    parse_charter(
        &format!("{BASE}actuators: {{ a: {{ http: {{ url: 'http://act:8700/base' }} }} }}\n"),
        "shop.yaml",
        Path::new("."),
    )
    .expect("a plain URL is fine");
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("charter-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

// Found by the charter fuzz target: promql-parser converts a bare-number duration
// with `Duration::from_secs_f64`, which panics past u64 seconds or on Inf/NaN; on
// base `validate` panicked on `rate(x[59223372036854775807])`.
#[test]
fn bare_number_durations_out_of_range_are_refused_not_a_panic() {
    for expr in [
        "sum(rate(requests_total[59223372036854775807]))",
        "rate(x[Inf])",
        "x offset 1e300",
        "x offset -1e300",
        "max_over_time(x[5m:1e300])",
        "rate(x[0xFFFFFFFFFFFFFFFFFF])",
    ] {
        let text = with_expr(expr);
        let out = within(Duration::from_secs(2), move || lines(&text));
        assert!(
            out.contains("objectives[0].expr: the duration `"),
            "{expr}: {out}"
        );
        assert!(out.contains("is out of range"), "{expr}: {out}");
    }
    for expr in [
        "rate(x[300])",
        "x offset 5m",
        "max_over_time(x[5m:30])",
        "x offset -90",
    ] {
        let text = with_expr(expr);
        let out = within(Duration::from_secs(2), move || lines_or_valid(&text));
        assert_eq!(out, "", "{expr}");
    }
}

/// The issues, or nothing when the charter is valid.
fn lines_or_valid(text: &str) -> String {
    match parse_charter(text, "shop.yaml", Path::new(".")) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}
