//! `knowledge:`: the store, learning, retention and the lease.

use super::*;

#[test]
fn learning_settings_parse_with_defaults_for_what_is_left_out() {
    use crate::charter::{Exploration, Learning};
    let (c, _) = parse_charter(VALID, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(c.learning, Learning::default());
    assert_eq!(c.learning.half_life, Duration::from_secs(7 * 24 * 3600));
    let text = format!(
        "{VALID}knowledge:\n  sqlite: k.db\n  learning:\n    half_life: 2d\n    exploration: thompson\n    seed: 42\n    credit: {{ improved: 0.25, worsened: 0 }}\n"
    );
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(c.learning.half_life, Duration::from_secs(2 * 24 * 3600));
    assert_eq!(c.learning.exploration, Exploration::Thompson);
    assert_eq!(c.learning.seed, 42);
    assert_eq!(c.learning.credit.improved, 0.25);
    assert_eq!(c.learning.credit.resolved, 1.0);
    assert!(matches!(c.knowledge, Some(KnowledgeSpec::Sqlite { .. })));
}

#[test]
fn learning_credit_outside_zero_to_one_and_zero_half_life_are_errors() {
    let text = format!(
        "{VALID}knowledge:\n  sqlite: k.db\n  learning: {{ half_life: 0s, credit: {{ improved: 1.5 }} }}\n"
    );
    let errs = errors(&text);
    assert!(
        errs.iter()
            .any(|e| e.path == "knowledge.learning.credit.improved"),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.path == "knowledge.learning.half_life"),
        "{errs:?}"
    );
}

#[test]
fn knowledge_in_postgres_reads_its_url_from_a_file_or_inline() {
    use crate::charter::PostgresUrl;
    let text = format!("{VALID}knowledge:\n  postgres: {{ url_file: secrets/pg-url }}\n");
    let (c, warnings) =
        parse_charter(&text, "shop.yaml", Path::new("/etc/charter")).expect("valid");
    assert_eq!(
        c.knowledge,
        Some(KnowledgeSpec::Postgres {
            url: PostgresUrl::File(PathBuf::from("/etc/charter/secrets/pg-url"))
        })
    );
    assert!(
        warnings.iter().all(|w| !w.path.starts_with("knowledge")),
        "{warnings:?}"
    );

    let text =
        format!("{VALID}knowledge:\n  postgres: {{ url: \"postgres://charter@db:5432/k\" }}\n");
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(
        c.knowledge,
        Some(KnowledgeSpec::Postgres {
            url: PostgresUrl::Inline("postgres://charter@db:5432/k".into())
        })
    );
}

#[test]
fn a_password_in_an_inline_postgres_url_is_a_warning() {
    let text =
        format!("{VALID}knowledge:\n  postgres: {{ url: \"postgres://charter:pw@db/k\" }}\n");
    let (_, warnings) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    assert!(
        warnings
            .iter()
            .any(|w| w.path == "knowledge.postgres.url" && w.warning),
        "{warnings:?}"
    );
}

#[test]
fn knowledge_store_settings_that_conflict_are_errors() {
    let both = format!(
        "{VALID}knowledge:\n  sqlite: k.db\n  postgres: {{ url: \"postgres://charter@db/k\" }}\n"
    );
    assert!(errors(&both).iter().any(|e| e.path == "knowledge.postgres"));
    let neither = format!("{VALID}knowledge:\n  postgres: {{}}\n");
    assert!(
        errors(&neither)
            .iter()
            .any(|e| e.path == "knowledge.postgres")
    );
    let two_urls = format!(
        "{VALID}knowledge:\n  postgres: {{ url: \"postgres://charter@db/k\", url_file: f }}\n"
    );
    assert!(
        errors(&two_urls)
            .iter()
            .any(|e| e.path == "knowledge.postgres")
    );
    let not_a_url = format!("{VALID}knowledge:\n  postgres: {{ url: \"mysql://x\" }}\n");
    assert!(
        errors(&not_a_url)
            .iter()
            .any(|e| e.path == "knowledge.postgres.url")
    );
}

#[test]
fn retention_and_lease_defaults_and_settings() {
    use crate::charter::LeaseSpec;
    use crate::config::defaults;
    let (c, _) = parse_charter(VALID, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(c.retention, defaults::RETENTION);
    assert_eq!(c.lease, LeaseSpec::default());
    assert_eq!(c.knowledge, None);
    let text = format!("{VALID}knowledge:\n  retention: 7d\n  lease: {{ ttl: 20s, renew: 10s }}\n");
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(c.retention, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(
        c.lease,
        LeaseSpec {
            ttl: Duration::from_secs(20),
            renew: Duration::from_secs(10)
        }
    );
}

#[test]
fn a_short_retention_and_a_lease_that_cannot_miss_a_renewal_are_errors() {
    let text = format!("{VALID}knowledge:\n  retention: 12h\n  lease: {{ ttl: 100ms }}\n");
    assert_eq!(
        located(&text),
        [
            "27:14: knowledge.retention: `12h` is out of range: must be between 1d and 3650d",
            "28:17: knowledge.lease.ttl: `100ms` is out of range: must be between 500ms and 1h",
        ]
    );
    let why = |ttl: &str| {
        format!(
            "must be longer than zero and at most half of the ttl ({ttl}): a leader must be able to miss one renewal without losing its lease"
        )
    };
    let text = format!("{VALID}knowledge:\n  lease: {{ ttl: 10s, renew: 6s }}\n");
    assert_eq!(
        located(&text),
        [format!("27:29: knowledge.lease.renew: {}", why("10s"))]
    );
    // Only the ttl is written, so the default renewal is reported at it.
    let text = format!("{VALID}knowledge:\n  lease: {{ ttl: 8s }}\n");
    assert_eq!(
        located(&text),
        [format!("27:17: knowledge.lease.ttl: {}", why("8s"))]
    );
}
