//! Issue 16 item 15: an import is validated before anything is stored. On base,
//! `time_to_effect_secs: 1e300` was stored and made `/api/v1/knowledge` panic, and
//! absurd evidence was accepted as it came.

use charter_knowledge::export::{ImportError, KnowledgeExport, import};
use charter_model::Timestamp;

const T0: Timestamp = Timestamp(1_767_225_600_000);

fn file(context: &str) -> KnowledgeExport {
    serde_json::from_str(&format!(
        r#"{{"format":"charter-knowledge","version":1,"source":"a","exported_at":0,
            "half_life_secs":604800,"contexts":[{context}]}}"#
    ))
    .expect("export json")
}

const OK: &str = r#"{"kind":"restart","objective":"mem","component":"orders","alpha":9,"beta":1,"outcomes":10,"time_to_effect_secs":90}"#;

#[test]
fn absurd_values_are_refused_with_the_context_and_field() {
    for (from, to, field) in [
        (
            r#""time_to_effect_secs":90"#,
            r#""time_to_effect_secs":1e300"#,
            "time_to_effect_secs 1e300",
        ),
        (
            r#""time_to_effect_secs":90"#,
            r#""time_to_effect_secs":-1"#,
            "time_to_effect_secs -1",
        ),
        (r#""alpha":9"#, r#""alpha":1e300"#, "alpha 1e300"),
        (r#""beta":1"#, r#""beta":1e12"#, "beta 1e12"),
    ] {
        let f = file(&OK.replace(from, to));
        let e = import(&f, 1.0, T0).expect_err(to);
        assert!(matches!(e, ImportError::OutOfRange { .. }), "{to}: {e:?}");
        let msg = e.to_string();
        assert!(
            msg.starts_with("contexts[0] (restart/mem/orders): ") && msg.contains(field),
            "{msg}"
        );
    }
    let mut f = file(OK);
    f.half_life_secs = 1e300;
    let e = import(&f, 1.0, T0).expect_err("half-life");
    assert!(e.to_string().contains("half_life_secs"), "{e}");
    let priors = import(&file(OK), 0.5, T0).expect("a sane export imports");
    assert_eq!(priors[0].time_to_effect_secs, Some(90.0));
}
