//! Prometheus alerting rules to charter objectives (being written).
