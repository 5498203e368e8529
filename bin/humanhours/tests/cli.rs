//! The CLI as a new user meets it: commands run in the wrong place, wrong database URLs, a
//! taken port. Each gives a clear error naming the problem and writes nothing.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a failure should fail the test loudly"
)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the real binary in `dir` with no `HUMANHOURS_…` variables set.
fn humanhours(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_humanhours"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        // Only addresses on this machine: no daily sync of public feeds.
        .env("HUMANHOURS_PRICES_SYNC_URL", "off")
        .env("HUMANHOURS_FX_SYNC_URL", "off")
        .env("HUMANHOURS_LOG", "warn")
        .output()
        .unwrap()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Fails, says `needle` on stderr, and leaves `dir` as it was.
fn refused(dir: &Path, args: &[&str], needle: &str) {
    let before = files(dir);
    let out = humanhours(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert_eq!(files(dir), before, "{args:?} wrote files");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("hh_live_"),
        "{args:?}"
    );
}

#[test]
fn commands_other_than_serve_and_migrate_need_an_existing_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    refused(d, &["org", "list"], "no database at humanhours.db");
    refused(
        d,
        &["key", "create", "--org", "nosuchorg"],
        "no database at humanhours.db",
    );
    refused(
        d,
        &["dev", "seed", "--org", "x", "--events", "1"],
        "`humanhours migrate`",
    );
    // migrate creates one; then the others work on it.
    let out = humanhours(d, &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(files(d).contains(&"humanhours.db".to_owned()));
    let out = humanhours(d, &["org", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = humanhours(d, &["key", "create", "--org", "nosuchorg"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuchorg"));
}

#[test]
fn wrong_database_urls_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for cmd in [
        &["org", "list"][..],
        &["migrate"],
        &["serve", "--bind", "127.0.0.1:0"],
    ] {
        let mut args = vec!["--database-url", "mysql://x@y/z"];
        args.extend(cmd);
        refused(d, &args, "'mysql://' is not supported");
        let missing = format!("sqlite://{}/no/such/dir/h.db", d.display());
        let mut args = vec!["--database-url", missing.as_str()];
        args.extend(cmd);
        refused(d, &args, "/no/such/dir of the SQLite database");
    }
}

#[test]
fn a_server_that_cannot_take_its_port_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    refused(
        dir.path(),
        &["serve", "--bind", &addr],
        &format!("binding {addr}"),
    );
}

#[test]
fn a_bad_log_filter_is_refused_by_name_and_help_says_what_the_program_is() {
    let dir = tempfile::tempdir().unwrap();
    refused(
        dir.path(),
        &["--log", "info[", "org", "list"],
        "HUMANHOURS_LOG 'info['",
    );
    let out = humanhours(dir.path(), &["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("measures what AI agents are worth"), "{help}");
    let out = humanhours(dir.path(), &["org", "create", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("[possible values: free, pro, agency, enterprise]"),
        "{help}"
    );
    assert!(files(dir.path()).is_empty());
}

#[test]
fn a_database_without_its_pepper_is_refused_not_given_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = humanhours(d, &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        files(d).contains(&"humanhours.db.pepper".to_owned()),
        "{:?}",
        files(d)
    );
    let out = humanhours(d, &["org", "create", "--name", "acme"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = humanhours(d, &["key", "create", "--org", "acme"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The pepper lost: a new one would make the key above fail for good.
    std::fs::remove_file(d.join("humanhours.db.pepper")).unwrap();
    for args in [
        &["key", "create", "--org", "acme"][..],
        &["serve", "--bind", "127.0.0.1:0"],
    ] {
        let out = humanhours(d, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr.contains("the key pepper humanhours.db.pepper is missing"),
            "{stderr}"
        );
        assert!(
            !d.join("humanhours.db.pepper").exists(),
            "{args:?} made a new pepper"
        );
    }
}
