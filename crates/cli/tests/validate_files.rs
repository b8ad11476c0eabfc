//! `charter validate` (issue 16 items 15 and 18): it opens every file the charter
//! names as `run` would, refuses actuator URL credentials, and an unreadable charter
//! says why. On base a missing token file passed validate and failed run, and
//! "cannot read charter X" had no cause.

use std::process::Command;

fn charter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_charter"))
}

#[test]
fn validate_opens_the_files_the_charter_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("shop.yaml");
    std::fs::write(
        &file,
        "name: shop\n\
         components: [{ name: api, actuator: web }]\n\
         alerts: { token_file: alert-token }\n\
         actuators:\n\
         \x20 web: { http: { url: 'http://user:secret@127.0.0.1:8700' } }\n",
    )
    .expect("write");
    let out = charter()
        .args(["validate", &file.display().to_string()])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let f = file.display().to_string();
    for expected in [
        format!(
            "{f}:3:23: alerts.token_file: cannot read token file {}: No such file",
            dir.path().join("alert-token").display()
        ),
        format!("{f}:5:23: actuators.web.http.url: must not carry a user name or password"),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");
    }
    assert!(!err.contains("secret"), "{err}");
    // With the token file in place, the charter is valid.
    std::fs::write(dir.path().join("alert-token"), "t0ken\n").expect("write");
    std::fs::write(
        &file,
        std::fs::read_to_string(&file)
            .expect("read")
            .replace("user:secret@", ""),
    )
    .expect("write");
    let out = charter()
        .args(["validate", &file.display().to_string()])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unreadable_charter_says_why() {
    let out = charter()
        .args(["validate", "/nonexistent/charter.yaml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read charter /nonexistent/charter.yaml: No such file or directory"),
        "{err}"
    );
}
