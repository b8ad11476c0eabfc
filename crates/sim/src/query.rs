//! The world's present as a Prometheus instant-query answer, for plain selectors only.
//!
//! `charter sim serve` answers `GET /api/v1/query` so that a charter with a
//! `prometheus` source can read the same world its HTTP actuator acts on, without a
//! real Prometheus in between (the crash test runs that way). Only what a charter's
//! `metric:` objective sends is understood: a metric name with optional `=` and `!=`
//! matchers (`westworld_error_ratio{service="api"}`). Functions, operators, ranges
//! and regular expressions are refused with `bad_data`, never approximated. The world
//! keeps no history, so the answer is the value now; a query for a time more than
//! [`MAX_SKEW`] away from now is refused too.

use crate::world::{METRICS, World};
use std::collections::BTreeMap;
use std::time::Duration;

/// How far the requested evaluation time may be from now.
pub const MAX_SKEW: Duration = Duration::from_secs(60);

/// One label matcher of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub label: String,
    /// `true` for `=`, `false` for `!=`.
    pub equal: bool,
    pub value: String,
}

/// A metric name and its matchers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub name: String,
    pub matchers: Vec<Matcher>,
}

/// One series of an instant vector: its labels (with `__name__`) and value.
pub type Series = (BTreeMap<String, String>, f64);

impl Selector {
    /// Parse `name` or `name{label="value",label!="value"}`.
    pub fn parse(query: &str) -> Result<Selector, String> {
        let q = query.trim();
        let name_len = q
            .char_indices()
            .find(|&(i, c)| !is_name_char(c, i == 0))
            .map_or(q.len(), |(i, _)| i);
        if name_len == 0 {
            return Err(unsupported(q, "it does not start with a metric name"));
        }
        let (name, rest) = q.split_at(name_len);
        let rest = rest.trim();
        let mut matchers = Vec::new();
        if !rest.is_empty() {
            let Some(inner) = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')) else {
                return Err(unsupported(q, "only `{...}` may follow the metric name"));
            };
            let mut chars = inner.chars().peekable();
            loop {
                skip_spaces(&mut chars);
                if chars.peek().is_none() {
                    break;
                }
                let mut label = String::new();
                while let Some(&c) = chars.peek() {
                    if !is_name_char(c, label.is_empty()) || c == ':' {
                        break;
                    }
                    label.push(c);
                    chars.next();
                }
                if label.is_empty() {
                    return Err(unsupported(q, "a matcher must start with a label name"));
                }
                skip_spaces(&mut chars);
                let equal = match (chars.next(), chars.peek()) {
                    (Some('='), Some('~')) | (Some('!'), Some('~')) => {
                        return Err(unsupported(q, "regular-expression matchers"));
                    }
                    (Some('='), _) => true,
                    (Some('!'), Some('=')) => {
                        chars.next();
                        false
                    }
                    _ => return Err(unsupported(q, "a matcher needs `=` or `!=`")),
                };
                skip_spaces(&mut chars);
                if chars.next() != Some('"') {
                    return Err(unsupported(q, "a label value must be double-quoted"));
                }
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => return Err(unsupported(q, "an unterminated label value")),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some(c @ ('\\' | '"')) => value.push(c),
                            _ => return Err(unsupported(q, "an unknown escape in a label value")),
                        },
                        Some(c) => value.push(c),
                    }
                }
                matchers.push(Matcher {
                    label,
                    equal,
                    value,
                });
                skip_spaces(&mut chars);
                match chars.next() {
                    None => break,
                    Some(',') => {}
                    Some(_) => return Err(unsupported(q, "matchers must be separated by `,`")),
                }
            }
        }
        Ok(Selector {
            name: name.to_string(),
            matchers,
        })
    }

    /// Whether a series with these labels is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        labels.get("__name__") == Some(&self.name)
            && self.matchers.iter().all(|m| {
                // An absent label matches the empty value, as in Prometheus.
                let v = labels.get(&m.label).map_or("", String::as_str);
                (v == m.value) == m.equal
            })
    }

    /// The selected series of `world` as it is now. Values that are not finite are
    /// left out, as `/metrics` leaves them out.
    pub fn evaluate(&self, world: &World) -> Vec<Series> {
        let mut out = Vec::new();
        for service in world.services() {
            let mut labels = BTreeMap::from([
                ("__name__".to_string(), self.name.clone()),
                ("service".to_string(), service.clone()),
            ]);
            let value = if self.name == "westworld_info" {
                let Ok(state) = world.describe(&service) else {
                    continue;
                };
                labels.insert("version".into(), state.version.unwrap_or_default());
                labels.insert("zone".into(), state.zone.unwrap_or_default());
                labels.insert("node".into(), world.node(&service).unwrap_or_default());
                Some(1.0)
            } else if METRICS.contains(&self.name.as_str()) {
                world.metric(&self.name, &service)
            } else {
                None
            };
            if let Some(v) = value.filter(|v| v.is_finite())
                && self.matches(&labels)
            {
                out.push((labels, v));
            }
        }
        out
    }
}

fn is_name_char(c: char, first: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (!first && c.is_ascii_digit())
}

fn skip_spaces(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars.peek().is_some_and(|c| c.is_whitespace()) {
        chars.next();
    }
}

fn unsupported(query: &str, why: &str) -> String {
    let shown: String = query.chars().take(200).collect();
    format!(
        "the simulator answers only plain selectors such as name{{label=\"value\"}}; \
         `{shown}`: {why}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plain_selectors_parse() {
        let s = Selector::parse(r#" westworld_error_ratio{service="a\"b", zone != "x" ,} "#)
            .expect("valid");
        assert_eq!(s.name, "westworld_error_ratio");
        assert_eq!(
            s.matchers,
            vec![
                Matcher {
                    label: "service".into(),
                    equal: true,
                    value: "a\"b".into()
                },
                Matcher {
                    label: "zone".into(),
                    equal: false,
                    value: "x".into()
                },
            ]
        );
        assert_eq!(
            Selector::parse("up").expect("valid"),
            Selector {
                name: "up".into(),
                matchers: vec![]
            }
        );
    }

    #[test]
    fn anything_but_a_plain_selector_is_refused() {
        for q in [
            "",
            "sum(westworld_error_ratio)",
            "max by (service) (westworld_error_ratio)",
            "westworld_error_ratio[1m]",
            "westworld_error_ratio > 0.1",
            r#"westworld_error_ratio{service=~"a.*"}"#,
            r#"westworld_error_ratio{service="a"#,
            "westworld_error_ratio{service=a}",
        ] {
            let e = Selector::parse(q).expect_err(q);
            assert!(e.contains("plain selectors"), "{q}: {e}");
        }
    }

    #[test]
    fn matchers_select_series_like_prometheus() {
        let s = Selector::parse(r#"m{service="api",zone!="b"}"#).expect("valid");
        assert!(s.matches(&labels(&[("__name__", "m"), ("service", "api")])));
        assert!(!s.matches(&labels(&[
            ("__name__", "m"),
            ("service", "api"),
            ("zone", "b")
        ])));
        assert!(!s.matches(&labels(&[("__name__", "n"), ("service", "api")])));
    }

    #[test]
    fn evaluation_reads_the_world_now() {
        let scenario = Scenario::builtin("no-fault").expect("built in");
        let world = World::new(&scenario, 1);
        let s = Selector::parse(r#"westworld_ready_replicas{service="api"}"#).expect("valid");
        let series = s.evaluate(&world);
        assert_eq!(series.len(), 1);
        assert_eq!(
            series[0].1,
            world
                .metric("westworld_ready_replicas", "api")
                .expect("metric")
        );
        let all = Selector::parse("westworld_ready_replicas").expect("valid");
        assert_eq!(all.evaluate(&world).len(), world.services().len());
        let info = Selector::parse(r#"westworld_info{service="api"}"#).expect("valid");
        assert!(info.evaluate(&world)[0].0.contains_key("version"));
        assert!(
            Selector::parse("nothing")
                .expect("valid")
                .evaluate(&world)
                .is_empty()
        );
    }
}
