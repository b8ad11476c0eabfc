//! `knowledge:` — where knowledge is kept (SQLite or PostgreSQL), how long history
//! is retained, the leader lease of replicas sharing a store, and how outcomes are
//! learned from.

use super::defaults;
use super::issues::Issues;
use super::raw::{KnowledgeConfig, LearningConfig, LeaseConfig};
use crate::charter::{KnowledgeSpec, Learning, LeaseSpec, PostgresUrl};
use std::path::Path;
use std::time::Duration;

/// The compiled `knowledge:` block; every part has its default when left out.
pub(super) struct Knowledge {
    pub store: Option<KnowledgeSpec>,
    pub learning: Learning,
    pub retention: Duration,
    pub lease: LeaseSpec,
}

/// Compile `knowledge:`: the store, then learning, retention and the lease.
pub(super) fn compile(is: &mut Issues<'_>, k: Option<&KnowledgeConfig>, base: &Path) -> Knowledge {
    let store = k.and_then(|k| store_spec(is, base, k));
    let learning = k
        .and_then(|k| k.learning.as_ref())
        .map(|l| learning_spec(is, l))
        .unwrap_or_default();
    let retention = is.duration_in(
        &k.and_then(|k| k.retention.clone()),
        "knowledge.retention",
        defaults::RETENTION,
        defaults::RETENTION_RANGE,
    );
    let lease = k
        .and_then(|k| k.lease.as_ref())
        .map(|l| lease_spec(is, l))
        .unwrap_or_default();
    Knowledge {
        store,
        learning,
        retention,
        lease,
    }
}

/// `knowledge.sqlite` or `knowledge.postgres` (at most one); `None` when neither is
/// given (a `knowledge:` block with only learning settings).
fn store_spec(is: &mut Issues<'_>, base: &Path, k: &KnowledgeConfig) -> Option<KnowledgeSpec> {
    match (&k.sqlite, &k.postgres) {
        (Some(_), Some(pg)) => {
            is.at(
                pg,
                "knowledge.postgres",
                "`sqlite` and `postgres` are exclusive: keep knowledge in one store",
            );
            None
        }
        (Some(file), None) => {
            if file.value.trim().is_empty() {
                is.at(file, "knowledge.sqlite", "must name a database file");
            }
            Some(KnowledgeSpec::Sqlite {
                path: base.join(&file.value),
            })
        }
        (None, Some(pg)) => {
            let url = match (&pg.value.url, &pg.value.url_file) {
                (Some(url), None) => {
                    let u = url.value.trim();
                    if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
                        is.at(
                            url,
                            "knowledge.postgres.url",
                            "must be a postgres:// URL (postgres://user@host:port/database)",
                        );
                    } else if url_has_password(u) {
                        is.warn(
                            url,
                            "knowledge.postgres.url",
                            "holds a password; put the URL in a file named by `url_file` instead",
                        );
                    }
                    PostgresUrl::Inline(u.to_string())
                }
                (None, Some(file)) => {
                    if file.value.trim().is_empty() {
                        is.at(file, "knowledge.postgres.url_file", "must name a file");
                    }
                    PostgresUrl::File(base.join(&file.value))
                }
                (Some(_), Some(file)) => {
                    is.at(
                        file,
                        "knowledge.postgres",
                        "give either `url` or `url_file`, not both",
                    );
                    return None;
                }
                (None, None) => {
                    is.at(
                        pg,
                        "knowledge.postgres",
                        "needs `url` or `url_file` (a file holding the connection URL)",
                    );
                    return None;
                }
            };
            Some(KnowledgeSpec::Postgres { url })
        }
        (None, None) => None,
    }
}

/// Whether a connection URL carries a password (`user:password@`).
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// `knowledge.lease`: the renewal must leave room for at least one retry before the
/// lease can expire, so `renew` is at most half of `ttl`.
fn lease_spec(is: &mut Issues<'_>, l: &LeaseConfig) -> LeaseSpec {
    let default = LeaseSpec::default();
    let before = is.len();
    let ttl = is.duration_in(
        &l.ttl,
        "knowledge.lease.ttl",
        default.ttl,
        defaults::LEASE_TTL_RANGE,
    );
    if is.len() > before {
        return default;
    }
    let renew = is.duration(&l.renew, "knowledge.lease.renew", default.renew);
    if renew.is_zero() || renew.saturating_mul(2) > ttl {
        let why = format!(
            "must be longer than zero and at most half of the ttl ({}): a leader must be \
             able to miss one renewal without losing its lease",
            humantime::format_duration(ttl)
        );
        match (&l.renew, &l.ttl) {
            (Some(r), _) => is.at(r, "knowledge.lease.renew", why),
            (None, Some(t)) => is.at(t, "knowledge.lease.ttl", why),
            (None, None) => {}
        }
        return default;
    }
    LeaseSpec { ttl, renew }
}

/// `knowledge.learning`: what is left out keeps its default; a value that is out of
/// range is reported and the default kept.
fn learning_spec(is: &mut Issues<'_>, l: &LearningConfig) -> Learning {
    let mut out = Learning::default();
    out.half_life = is.duration_in(
        &l.half_life,
        "knowledge.learning.half_life",
        out.half_life,
        defaults::HALF_LIFE_RANGE,
    );
    if let Some(e) = l.exploration {
        out.exploration = e;
    }
    if let Some(seed) = l.seed {
        out.seed = seed;
    }
    if let Some(c) = &l.credit {
        let slots = [
            (&c.resolved, "resolved", &mut out.credit.resolved),
            (&c.improved, "improved", &mut out.credit.improved),
            (&c.no_effect, "no_effect", &mut out.credit.no_effect),
            (&c.worsened, "worsened", &mut out.credit.worsened),
            (&c.failed, "failed", &mut out.credit.failed),
        ];
        for (v, name, slot) in slots {
            let Some(v) = v else { continue };
            if (0.0..=1.0).contains(&v.value) {
                *slot = v.value;
            } else {
                is.at(
                    v,
                    format!("knowledge.learning.credit.{name}"),
                    "must be between 0 and 1 (the share of a success the class counts as)",
                );
            }
        }
    }
    out
}
