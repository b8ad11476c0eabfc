//! Reading a threshold, and a guess at the signal, out of an alert's PromQL.

use super::labels::{self, LabelChoice};
use super::words;
use crate::charter::{Direction, Signal};
use promql_parser::label::Matcher;
use promql_parser::parser::token::TokenType;
use promql_parser::parser::token::{
    T_ADD, T_AVG, T_COUNT, T_DIV, T_EQLC, T_GROUP, T_GTE, T_GTR, T_LSS, T_LTE, T_MAX, T_MIN, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB, T_SUM, TokenId,
};
use promql_parser::parser::{
    BinaryExpr, Call, Expr, ParenExpr, VectorMatchCardinality, VectorSelector, parse,
};

/// The longest PromQL expression accepted, in bytes.
pub const MAX_EXPR_BYTES: usize = 64 * 1024;
/// The deepest nesting of brackets (`(`, `[`, `{`) accepted.
pub const MAX_EXPR_DEPTH: usize = 64;
/// The most tokens (names, numbers, strings, operators, brackets) accepted.
pub const MAX_EXPR_TOKENS: usize = 2_000;

/// Parse `text` as PromQL, within bounds: the parser recurses per nesting level and
/// takes time quadratic in the number of operands, so an expression past
/// [`MAX_EXPR_BYTES`], [`MAX_EXPR_DEPTH`] or [`MAX_EXPR_TOKENS`] is refused by a
/// linear pre-scan before the parser sees it. The error says which bound and where.
pub fn parse_bounded(text: &str) -> Result<Expr, String> {
    check_bounds(text)?;
    // The parser panics on some inputs the pre-scan cannot foresee; a panic there is
    // a refusal of the expression, not of the charter.
    match std::panic::catch_unwind(|| parse(text)) {
        Ok(parsed) => parsed.map_err(|e| format!("invalid PromQL: {}", e.trim())),
        Err(_) => Err("invalid PromQL: the parser failed on this expression".into()),
    }
}

/// The longest bare-number duration accepted (`x[N]`, `[N:M]`, `offset N`), in
/// seconds: the parser converts it with a conversion that panics past `u64` seconds,
/// and no range or offset is anywhere near this long.
const MAX_NUMBER_DURATION_SECS: f64 = 1e15;

/// Whether `part`, a token where the parser reads a duration, is a bare number the
/// parser cannot convert (too large, infinite, not a number).
fn bad_number_duration(part: &str) -> bool {
    let p = part.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if p == "inf" || p == "nan" || p == "infinity" {
        return true;
    }
    if !p.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return false;
    }
    let value = if let Some(hex) = p.strip_prefix("0x") {
        u128::from_str_radix(hex, 16).map_or(f64::INFINITY, |v| v as f64)
    } else {
        match p.parse::<f64>() {
            Ok(v) => v,
            Err(_) => return false, // a duration with units (`5m`): checked by the parser
        }
    };
    !(value.is_finite() && value < MAX_NUMBER_DURATION_SECS)
}

/// The linear pre-scan of [`parse_bounded`]: size, bracket depth and token count.
/// Quoted strings (with `\` escapes, none in backquotes) and `#` comments count as
/// one token or none, so brackets and operators inside them do not count.
pub fn check_bounds(text: &str) -> Result<(), String> {
    if text.len() > MAX_EXPR_BYTES {
        return Err(format!(
            "the expression is {} bytes long; at most {MAX_EXPR_BYTES} are accepted \
             (split it into recording rules)",
            text.len()
        ));
    }
    let b = text.as_bytes();
    let (mut depth, mut tokens, mut i) = (0usize, 0usize, 0usize);
    // Whether the previous token puts a duration next: `[`, `:` or `offset`.
    let mut duration_next = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => {
                tokens += 1;
                i += 1;
                while i < b.len() && b[i] != c {
                    if b[i] == b'\\' && c != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                tokens += 1;
                depth += 1;
                if depth > MAX_EXPR_DEPTH {
                    return Err(format!(
                        "brackets are nested more than {MAX_EXPR_DEPTH} deep (at byte {i}); \
                         at most {MAX_EXPR_DEPTH} levels are accepted"
                    ));
                }
            }
            b')' | b']' | b'}' => {
                tokens += 1;
                depth = depth.saturating_sub(1);
            }
            c if c.is_ascii_whitespace() => {}
            c if c.is_ascii_alphanumeric() || matches!(c, b'_' | b':' | b'.') || c >= 0x80 => {
                tokens += 1;
                let start = i;
                while i + 1 < b.len()
                    && (b[i + 1].is_ascii_alphanumeric()
                        || matches!(b[i + 1], b'_' | b':' | b'.')
                        || b[i + 1] >= 0x80)
                {
                    i += 1;
                }
                let word = &text[start..=i];
                if duration_next && let Some(bad) = word.split(':').find(|p| bad_number_duration(p))
                {
                    return Err(format!(
                        "the duration `{bad}` (at byte {start}) is out of range; write a \
                         range or offset with units (`5m`, `1h`)"
                    ));
                }
                duration_next = word.eq_ignore_ascii_case("offset") || word.ends_with(':');
                i += 1;
                if tokens > MAX_EXPR_TOKENS {
                    return Err(format!(
                        "the expression has more than {MAX_EXPR_TOKENS} tokens (at byte {start}); \
                         at most {MAX_EXPR_TOKENS} are accepted (split it into recording rules)"
                    ));
                }
                continue;
            }
            _ => tokens += 1,
        }
        if !c.is_ascii_whitespace() {
            duration_next = matches!(c, b'[' | b':') || (duration_next && matches!(c, b'+' | b'-'));
        }
        if tokens > MAX_EXPR_TOKENS {
            return Err(format!(
                "the expression has more than {MAX_EXPR_TOKENS} tokens (at byte {i}); at most \
                 {MAX_EXPR_TOKENS} are accepted (split it into recording rules)"
            ));
        }
        i += 1;
    }
    Ok(())
}

/// An alert expression `EXPR <op> NUMBER` read as an objective's threshold, or
/// `absent(EXPR)` read as an absence objective.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Threshold {
    /// `EXPR`, printed back by the parser (checked to parse to the same tree).
    pub expr: String,
    pub direction: Direction,
    pub value: f64,
    /// How the comparison was rewritten, when it was not a plain `>` or `<`.
    pub note: Option<String>,
    pub signal: Signal,
    /// The label naming the component, and why.
    pub label: LabelChoice,
    /// `absent(EXPR)`: `expr` is the argument, violated while it returns nothing.
    pub absent: bool,
}

/// Read `text` as `EXPR <op> NUMBER` (or `NUMBER <op> EXPR`), as a comparison of two
/// expressions rewritten exactly into one of those, or as `absent(EXPR)`; the error
/// says why not. `preferred` is the component label to use when the expression's
/// grouping does not decide.
pub(super) fn read_threshold(
    text: &str,
    alert: &str,
    preferred: &str,
) -> Result<Threshold, String> {
    let parsed = parse_bounded(text)?;
    let top = unparen(&parsed);
    if let Expr::Call(c) = top {
        match c.func.name {
            "absent" => return read_absent(c, alert, preferred),
            "absent_over_time" => {
                return Err(format!(
                    "`{}` asks for no sample over a range; the charter's absence objective \
                     reads the latest samples, so write `absent: <the selector>` with `for:` \
                     the range instead",
                    short(top)
                ));
            }
            _ => {}
        }
    }
    let Expr::Binary(b) = top else {
        return Err(format!(
            "no comparison with a number in `{}`, so there is no threshold to import",
            short(top)
        ));
    };
    if b.op.is_set_operator() {
        return Err(format!(
            "combines conditions with `{}` at the top level; an objective is one \
             expression against one threshold",
            b.op
        ));
    }
    if !b.op.is_comparison_operator() {
        return Err(format!(
            "no comparison at the top level of `{}` (it is `{}`), so there is no threshold \
             to import",
            short(top),
            b.op
        ));
    }
    if b.modifier.as_ref().is_some_and(|m| m.return_bool) {
        return Err(format!(
            "uses `{} bool`, which returns 0 or 1 for every series instead of filtering, \
             so there is no threshold to import",
            b.op
        ));
    }
    let (inner, value, op) = match (constant(&b.lhs), constant(&b.rhs)) {
        (None, Some(v)) => (unparen(&b.lhs), v, b.op.id()),
        (Some(v), None) => (unparen(&b.rhs), v, flip(b.op.id())),
        (Some(_), Some(_)) => return Err("compares two numbers".into()),
        (None, None) => return two_expressions(b, alert, preferred),
    };
    if !value.is_finite() {
        return Err(format!("the threshold {value} is not a finite number"));
    }
    let v = value;
    let (direction, value, note) = match op {
        T_GTR => (Direction::Above, v, None),
        T_LSS => (Direction::Below, v, None),
        T_GTE => (Direction::Above, v, Some(strict(">=", "above", v))),
        T_LTE => (Direction::Below, v, Some(strict("<=", "below", v))),
        T_EQLC | T_NEQ => equality(op == T_EQLC, inner, v)?,
        _ => return Err(format!("unsupported comparison `{}`", b.op)),
    };
    let expr = inner.to_string();
    // The objective keeps the parser's printing, so it must mean what the rule meant.
    // The printer sorts label matchers, so compare with matchers sorted.
    if parse(&expr).ok().map(|e| canonical(&e)) != Some(canonical(inner)) {
        return Err(format!(
            "the compared expression does not print back faithfully (`{}`)",
            cut(&expr)
        ));
    }
    Ok(Threshold {
        expr,
        direction,
        value,
        note,
        signal: guess_signal(alert, inner),
        label: labels::choose(inner, preferred)?,
        absent: false,
    })
}

/// `absent(EXPR)` as an absence objective on `EXPR`.
fn read_absent(c: &Call, alert: &str, preferred: &str) -> Result<Threshold, String> {
    let arg = c
        .args
        .args
        .first()
        .ok_or("`absent()` without an argument")?;
    let inner = unparen(arg);
    let expr = inner.to_string();
    if parse(&expr).ok().map(|e| canonical(&e)) != Some(canonical(inner)) {
        return Err(format!(
            "the expression inside `absent()` does not print back faithfully (`{}`)",
            cut(&expr)
        ));
    }
    let label = labels::choose(inner, preferred)?;
    let note = match &label.component {
        Some(c) => format!(
            "`absent({})` became an `absent` objective for component `{c}`: violated while \
             no series of it has `{}=\"{c}\"`",
            cut(&expr),
            label.label
        ),
        None => format!(
            "`absent({})` became an `absent` objective: violated for each component with \
             no series (Prometheus's `absent()` fires only when no series at all is left)",
            cut(&expr)
        ),
    };
    Ok(Threshold {
        expr,
        direction: Direction::Above,
        value: 0.0,
        note: Some(note),
        signal: guess_signal(alert, inner),
        label,
        absent: true,
    })
}

/// `a OP b`, both expressions, rewritten exactly into one expression against a
/// number: `a != b` as `abs(a - b)` above 0, `a > b * k` as `a / b` above `k` when
/// `b` is never negative, any other order comparison as `a - b` against 0.
fn two_expressions(b: &BinaryExpr, alert: &str, preferred: &str) -> Result<Threshold, String> {
    let op = b.op.id();
    let shown = format!("`{}` {} `{}`", short(&b.lhs), b.op, short(&b.rhs));
    if op == T_EQLC && !(whole(&b.lhs) && whole(&b.rhs)) {
        return Err(format!(
            "tests two expressions for equality ({shown}); an objective compares one value \
             with a threshold: if both are whole numbers, write `abs(a - b)` with \
             `below: {{critical: 1}}`"
        ));
    }
    if !matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE) {
        return Err(format!("unsupported comparison `{}`", b.op));
    }
    let with = |op: TokenId, lhs: &Expr, rhs: &Expr| {
        Expr::Binary(BinaryExpr {
            op: TokenType::new(op),
            lhs: Box::new(grouped(lhs)),
            rhs: Box::new(grouped(rhs)),
            modifier: b.modifier.clone(),
        })
    };
    let (new, direction, value, note) = if op == T_EQLC {
        let diff = with(T_SUB, &b.lhs, &b.rhs);
        let text = format!("abs({diff})");
        let new = parse(&text).map_err(|e| format!("cannot rewrite {shown}: {}", e.trim()))?;
        let note = format!(
            "{shown} became `abs(a - b)` below 1, reading both as whole numbers (counts, \
             replicas): they differ by at least 1 whenever they differ"
        );
        (new, Direction::Below, 1.0, note)
    } else if op == T_NEQ {
        let diff = with(T_SUB, &b.lhs, &b.rhs);
        let text = format!("abs({diff})");
        let new = parse(&text).map_err(|e| format!("cannot rewrite {shown}: {}", e.trim()))?;
        let note = format!(
            "{shown} became `abs(a - b)` above 0: the same series breach, exactly when \
             the two values differ"
        );
        (new, Direction::Above, 0.0, note)
    } else {
        // Put a scaled side on the right: `b * 0.8 < a` is `a > b * 0.8`.
        let (lhs, rhs, op) = if scaled(&b.rhs).is_none()
            && scaled(&b.lhs).is_some()
            && b.modifier
                .as_ref()
                .is_none_or(|m| matches!(m.card, VectorMatchCardinality::OneToOne))
        {
            (&b.rhs, &b.lhs, flip(op))
        } else {
            (&b.lhs, &b.rhs, op)
        };
        let direction = if matches!(op, T_GTR | T_GTE) {
            Direction::Above
        } else {
            Direction::Below
        };
        let side = if direction == Direction::Above {
            "above"
        } else {
            "below"
        };
        let strictness = if matches!(op, T_GTE | T_LTE) {
            " (the charter compares strictly, so a value exactly at the threshold no \
             longer breaches)"
        } else {
            ""
        };
        match scaled(rhs) {
            Some((base, k)) if k.is_finite() && non_negative(base) => {
                let new = with(T_DIV, lhs, base);
                let note = format!(
                    "{shown} became `{}` {side} {k}: the same series breach, since `{}` is \
                     never negative (a count, rate, size or replica number; where it is 0 \
                     the ratio is ±Inf or NaN and breaches just as the original does){strictness}",
                    cut(&new.to_string()),
                    short(base)
                );
                (new, direction, k, note)
            }
            _ => {
                let new = with(T_SUB, lhs, rhs);
                let note =
                    format!("{shown} became `a - b` {side} 0: the same series breach{strictness}");
                (new, direction, 0.0, note)
            }
        }
    };
    let expr = new.to_string();
    if parse(&expr).ok().map(|e| canonical(&e)) != Some(canonical(&new)) {
        return Err(format!(
            "the rewritten expression does not print back faithfully (`{}`)",
            cut(&expr)
        ));
    }
    Ok(Threshold {
        expr,
        direction,
        value,
        note: Some(note),
        signal: guess_signal(alert, &new),
        label: labels::choose(&new, preferred)?,
        absent: false,
    })
}

/// `e` in brackets when it is a binary expression, so that it keeps its meaning as
/// an operand.
fn grouped(e: &Expr) -> Expr {
    match e {
        Expr::Binary(_) => Expr::Paren(ParenExpr {
            expr: Box::new(e.clone()),
        }),
        _ => e.clone(),
    }
}

/// `b * k`, `k * b` or `b / k` with `k` a constant: `(b, k)` (`1 / k` for the last).
fn scaled(e: &Expr) -> Option<(&Expr, f64)> {
    let Expr::Binary(b) = unparen(e) else {
        return None;
    };
    if b.modifier.as_ref().is_some_and(|m| m.return_bool) {
        return None;
    }
    match (b.op.id(), constant(&b.lhs), constant(&b.rhs)) {
        (T_MUL, None, Some(k)) => Some((&b.lhs, k)),
        (T_MUL, Some(k), None) => Some((&b.rhs, k)),
        (T_DIV, None, Some(k)) if k != 0.0 => Some((&b.lhs, 1.0 / k)),
        _ => None,
    }
}

/// Whether `e` can never be negative, by what it computes or, for a selector, by the
/// naming conventions of its metric (counters end in `_total`, sizes in `_bytes`).
fn non_negative(e: &Expr) -> bool {
    match e {
        Expr::Paren(p) => non_negative(&p.expr),
        Expr::NumberLiteral(n) => n.val >= 0.0,
        Expr::VectorSelector(vs) => metric_non_negative(vs),
        Expr::MatrixSelector(ms) => metric_non_negative(&ms.vs),
        Expr::Call(c) => match c.func.name {
            "rate" | "irate" | "increase" | "count_over_time" | "abs" | "absent"
            | "absent_over_time" | "present_over_time" | "changes" | "resets" | "time"
            | "histogram_count" => true,
            "sum_over_time" | "avg_over_time" | "min_over_time" | "max_over_time"
            | "last_over_time" | "quantile_over_time" | "histogram_quantile" | "ceil" | "floor"
            | "round" | "sqrt" => c
                .args
                .args
                .iter()
                .filter(|a| !matches!(a.as_ref(), Expr::NumberLiteral(_)))
                .all(|a| non_negative(a)),
            _ => false,
        },
        Expr::Aggregate(a) => match a.op.id() {
            T_COUNT | T_GROUP => true,
            T_SUM | T_MIN | T_MAX | T_AVG => non_negative(&a.expr),
            _ => false,
        },
        Expr::Binary(b) => {
            matches!(b.op.id(), T_ADD | T_MUL | T_DIV)
                && b.modifier.as_ref().is_none_or(|m| !m.return_bool)
                && non_negative(&b.lhs)
                && non_negative(&b.rhs)
        }
        _ => false,
    }
}

fn metric_non_negative(vs: &VectorSelector) -> bool {
    let Some(name) = vs.name.as_deref() else {
        return false;
    };
    [
        "_total",
        "_count",
        "_bucket",
        "_bytes",
        "_replicas",
        "_info",
    ]
    .iter()
    .any(|s| name.ends_with(s))
}

fn strict(op: &str, side: &str, v: f64) -> String {
    format!(
        "`{op} {v}` became `{side} {v}`: the charter compares strictly, so a value of \
         exactly {v} no longer breaches"
    )
}

/// `== 0` / `!= 0` on whole numbers and `== 1` / `!= 1` on 0/1 flags; see the module
/// documentation for why nothing else converts.
fn equality(eq: bool, inner: &Expr, v: f64) -> Result<(Direction, f64, Option<String>), String> {
    let op = if eq { "==" } else { "!=" };
    let convertible = (v == 0.0 && whole(inner)) || (v == 1.0 && flag(inner));
    if !convertible {
        return Err(format!(
            "`{op} {v}` tests an exact value; only `== 0` / `!= 0` on a selector (or a sum, \
             min, max or count of one) and `== 1` / `!= 1` on a bare selector (a 0/1 flag) \
             convert to thresholds"
        ));
    }
    let reading = if v == 0.0 {
        "a non-negative whole number (a count, or a 0/1 flag like `up`)"
    } else {
        "a 0/1 flag"
    };
    // `== 0` and `!= 1` mean "is zero"; `!= 0` and `== 1` mean "is not zero".
    let (direction, threshold, side) = if eq == (v == 0.0) {
        (Direction::Below, 1.0, "below 1")
    } else {
        (Direction::Above, 0.0, "above 0")
    };
    let note = format!("`{op} {v}` became `{side}`, reading the value as {reading}");
    Ok((direction, threshold, Some(note)))
}

/// A value assumed to be a whole number: a selector, or a sum, min, max or count.
fn whole(e: &Expr) -> bool {
    match unparen(e) {
        Expr::VectorSelector(_) => true,
        Expr::Aggregate(a) => match a.op.id() {
            T_COUNT => true,
            T_SUM | T_MIN | T_MAX => whole(&a.expr),
            _ => false,
        },
        _ => false,
    }
}

/// A value assumed to be a 0/1 flag: a bare selector, or a min or max of one.
fn flag(e: &Expr) -> bool {
    match unparen(e) {
        Expr::VectorSelector(_) => true,
        Expr::Aggregate(a) => matches!(a.op.id(), T_MIN | T_MAX) && flag(&a.expr),
        _ => false,
    }
}

/// `e` with every selector's label matchers in a fixed order, which does not change
/// what it selects.
fn canonical(e: &Expr) -> Expr {
    let mut e = e.clone();
    sort_matchers(&mut e);
    e
}

fn sort_matchers(e: &mut Expr) {
    let sort = |vs: &mut VectorSelector| {
        let key = |m: &Matcher| (m.name.clone(), m.value.clone(), m.op.to_string());
        vs.matchers.matchers.sort_by_key(key);
        for group in &mut vs.matchers.or_matchers {
            group.sort_by_key(key);
        }
    };
    match e {
        Expr::VectorSelector(vs) => sort(vs),
        Expr::MatrixSelector(ms) => sort(&mut ms.vs),
        Expr::Aggregate(a) => {
            sort_matchers(&mut a.expr);
            if let Some(p) = &mut a.param {
                sort_matchers(p);
            }
        }
        Expr::Unary(u) => sort_matchers(&mut u.expr),
        Expr::Binary(b) => {
            sort_matchers(&mut b.lhs);
            sort_matchers(&mut b.rhs);
        }
        Expr::Paren(p) => sort_matchers(&mut p.expr),
        Expr::Subquery(s) => sort_matchers(&mut s.expr),
        Expr::Call(c) => {
            for a in &mut c.args.args {
                sort_matchers(a);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unparen(&p.expr),
        _ => e,
    }
}

/// The value of a constant expression (`5`, `-1`, `(0.5)`, `86400 * 7`).
fn constant(e: &Expr) -> Option<f64> {
    match e {
        Expr::NumberLiteral(n) => Some(n.val),
        Expr::Paren(p) => constant(&p.expr),
        Expr::Unary(u) => constant(&u.expr).map(|v| -v),
        Expr::Binary(b) if b.modifier.as_ref().is_none_or(|m| !m.return_bool) => {
            let (l, r) = (constant(&b.lhs)?, constant(&b.rhs)?);
            match b.op.id() {
                T_ADD => Some(l + r),
                T_SUB => Some(l - r),
                T_MUL => Some(l * r),
                T_DIV => Some(l / r),
                T_MOD => Some(l % r),
                T_POW => Some(l.powf(r)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The same comparison with its sides swapped: `5 < a` is `a > 5`.
fn flip(op: TokenId) -> TokenId {
    match op {
        T_GTR => T_LSS,
        T_LSS => T_GTR,
        T_GTE => T_LTE,
        T_LTE => T_GTE,
        other => other,
    }
}

fn short(e: &Expr) -> String {
    cut(&e.to_string())
}

fn cut(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// Guess what an alert measures from its name and the metric names it reads.
///
/// The first matching rule wins, most specific first: `up`-like metrics, then CPU,
/// memory, disk, cache and pool words (so `node_cpu_seconds_total` is utilization,
/// not latency), then errors, availability, latency and traffic.
pub(super) fn guess_signal(alert: &str, expr: &Expr) -> Signal {
    let mut selectors = Vec::new();
    collect_selectors(expr, &mut selectors);
    let mut metrics = Vec::new();
    let mut server_errors = false;
    for vs in &selectors {
        let matchers = vs
            .matchers
            .matchers
            .iter()
            .chain(vs.matchers.or_matchers.iter().flatten());
        for m in matchers {
            if m.name == "__name__" {
                metrics.push(m.value.clone());
            }
            // `code=~"5.."` and friends select server errors.
            if matches!(
                m.name.as_str(),
                "code" | "status" | "status_code" | "response_code"
            ) && m.value.starts_with('5')
            {
                server_errors = true;
            }
        }
        metrics.extend(vs.name.clone());
    }
    if metrics
        .iter()
        .any(|m| m == "up" || m.ends_with("_up") || m == "probe_success")
    {
        return Signal::Availability;
    }
    let mut ws = words(alert);
    for m in &metrics {
        ws.extend(words(m));
    }
    let any = |f: &dyn Fn(&str) -> bool| ws.iter().any(|w| f(w));
    if any(&|w| w.contains("cpu")) {
        Signal::Utilization
    } else if any(&|w| w.contains("memory") || w == "mem" || w.starts_with("oom")) {
        Signal::Memory
    } else if any(&|w| {
        w.starts_with("disk")
            || w == "fs"
            || w.starts_with("filesystem")
            || w == "volume"
            || w.starts_with("inode")
    }) {
        Signal::Saturation
    } else if any(&|w| w.contains("cache")) {
        Signal::Cache
    } else if any(&|w| w.contains("pool") || w.contains("connect")) {
        Signal::Pool
    } else if server_errors
        || any(&|w| w.contains("error") || w.starts_with("fail") || w.contains("5xx"))
    {
        Signal::Errors
    } else if any(&|w| {
        w == "up"
            || w == "down"
            || matches!(w, "replica" | "replicas")
            || w.contains("available")
            || w == "availability"
    }) {
        Signal::Availability
    } else if any(&|w| {
        w.contains("latency") || w.contains("duration") || w == "seconds" || w == "lag"
    }) {
        Signal::Latency
    } else if any(&|w| matches!(w, "traffic" | "throughput" | "rps" | "requests")) {
        Signal::Traffic
    } else {
        Signal::Other
    }
}

pub(super) fn collect_selectors<'a>(e: &'a Expr, out: &mut Vec<&'a VectorSelector>) {
    match e {
        Expr::VectorSelector(vs) => out.push(vs),
        Expr::MatrixSelector(ms) => out.push(&ms.vs),
        Expr::Aggregate(a) => {
            collect_selectors(&a.expr, out);
            if let Some(p) = &a.param {
                collect_selectors(p, out);
            }
        }
        Expr::Unary(u) => collect_selectors(&u.expr, out),
        Expr::Binary(b) => {
            collect_selectors(&b.lhs, out);
            collect_selectors(&b.rhs, out);
        }
        Expr::Paren(p) => collect_selectors(&p.expr, out),
        Expr::Subquery(s) => collect_selectors(&s.expr, out),
        Expr::Call(c) => {
            for a in &c.args.args {
                collect_selectors(a, out);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}
