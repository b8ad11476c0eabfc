//! The charter's `api:` block: the token file of the REST API's mutating endpoints.

use charter_model::{ApiSpec, ConfigError, parse_charter};
use std::path::Path;

const BASE: &str = "name: shop\ncomponents: [{ name: api }]\n";

#[test]
fn the_token_file_is_resolved_against_the_charter_directory() {
    let text = format!("{BASE}api: {{ token_file: secrets/api-token }}\n");
    let (charter, _) = parse_charter(&text, "shop.yaml", Path::new("/etc/charter")).expect("valid");
    assert_eq!(
        charter.api,
        Some(ApiSpec {
            token_file: Path::new("/etc/charter/secrets/api-token").to_path_buf()
        })
    );
    let (charter, _) = parse_charter(BASE, "shop.yaml", Path::new(".")).expect("valid");
    assert_eq!(charter.api, None);
}

#[test]
fn an_api_block_without_a_token_file_is_an_error() {
    for (text, says) in [
        (format!("{BASE}api: {{}}\n"), "api: needs `token_file`"),
        (
            format!("{BASE}api: {{ token_file: \" \" }}\n"),
            "api.token_file: must name a file",
        ),
    ] {
        match parse_charter(&text, "shop.yaml", Path::new(".")) {
            Err(ConfigError::Invalid(issues)) => assert!(
                issues.iter().any(|i| i.to_string().contains(says)),
                "{issues:?}"
            ),
            other => panic!("expected an error for {text:?}, got {other:?}"),
        }
    }
    let text = format!("{BASE}api: {{ token: x }}\n");
    assert!(parse_charter(&text, "shop.yaml", Path::new(".")).is_err());
}
