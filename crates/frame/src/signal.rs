//! What a metric measures and which direction of change is harmful, guessed from
//! its name when the data does not say.

use charter_analyze::Worse;
use charter_model::Signal;

/// The signal and harmful direction of `metric`, from its name.
///
/// The name is cut into lowercase words (at non-alphanumerics and camelCase
/// humps) and a rule applies when a word starts with one of its stems, so that
/// `p99_latency_ms` is a latency but `platform_count` is not. First match wins:
///
/// | stem                       | signal         | harmful |
/// |----------------------------|----------------|---------|
/// | `lat`, `duration`          | latency        | up      |
/// | `err`                      | errors         | up      |
/// | `cpu`                      | utilization    | up      |
/// | `mem`                      | memory         | up      |
/// | `avail`, `success`         | availability   | down    |
/// | `hit`                      | cache          | down    |
/// | `miss`                     | cache          | up      |
/// | anything else              | other          | either  |
pub fn infer_signal(metric: &str) -> (Signal, Worse) {
    const RULES: &[(&[&str], Signal, Worse)] = &[
        (&["lat", "duration"], Signal::Latency, Worse::Up),
        (&["err"], Signal::Errors, Worse::Up),
        (&["cpu"], Signal::Utilization, Worse::Up),
        (&["mem"], Signal::Memory, Worse::Up),
        (&["avail", "success"], Signal::Availability, Worse::Down),
        (&["hit"], Signal::Cache, Worse::Down),
        (&["miss"], Signal::Cache, Worse::Up),
    ];
    let words = words(metric);
    RULES
        .iter()
        .find(|(stems, _, _)| words.iter().any(|w| stems.iter().any(|s| w.starts_with(s))))
        .map_or((Signal::Other, Worse::Either), |&(_, s, w)| (s, w))
}

/// Lowercase words of a name: split at non-alphanumerics and before an uppercase
/// letter that follows a lowercase one (`httpLatency` → `http`, `latency`).
pub fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        let boundary = !c.is_alphanumeric() || (c.is_uppercase() && prev_lower);
        if boundary && !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        }
        prev_lower = c.is_lowercase();
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_inferred_from_whole_words() {
        assert_eq!(infer_signal("latency"), (Signal::Latency, Worse::Up));
        assert_eq!(infer_signal("p99_lat_ms"), (Signal::Latency, Worse::Up));
        assert_eq!(
            infer_signal("http_request_duration_seconds"),
            (Signal::Latency, Worse::Up)
        );
        assert_eq!(infer_signal("httpLatency"), (Signal::Latency, Worse::Up));
        assert_eq!(infer_signal("errors_total"), (Signal::Errors, Worse::Up));
        assert_eq!(infer_signal("cpu"), (Signal::Utilization, Worse::Up));
        assert_eq!(infer_signal("mem_rss"), (Signal::Memory, Worse::Up));
        assert_eq!(
            infer_signal("success_ratio"),
            (Signal::Availability, Worse::Down)
        );
        assert_eq!(
            infer_signal("availability"),
            (Signal::Availability, Worse::Down)
        );
        assert_eq!(
            infer_signal("cache_hit_ratio"),
            (Signal::Cache, Worse::Down)
        );
        assert_eq!(infer_signal("requests"), (Signal::Other, Worse::Either));
        // Stems inside a word do not count.
        assert_eq!(
            infer_signal("platform_count"),
            (Signal::Other, Worse::Either)
        );
    }
}
