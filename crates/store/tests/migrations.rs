//! The two migration trees stay in step: the same migration names, each with up and down.

#![expect(
    clippy::unwrap_used,
    reason = "test helper: a failure should fail the test loudly"
)]

use std::collections::BTreeSet;
use std::path::Path;

fn migrations(backend: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(backend);
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        for file in ["up.sql", "down.sql"] {
            assert!(
                entry.path().join(file).is_file(),
                "{backend}/{name} lacks {file}"
            );
        }
        names.insert(name);
    }
    names
}

#[test]
fn sqlite_and_postgres_have_the_same_migrations() {
    let sqlite = migrations("sqlite");
    let postgres = migrations("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "every migration needs a twin of the same name in the other backend's tree"
    );
}
