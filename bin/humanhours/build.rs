//! Tells the tests which database backend this build's test run is for, so a test that cannot
//! run on it is compiled as `#[ignore]` (reported as skipped) instead of returning early and
//! counting as passed: `cfg(test_backend = "postgres")` when `HUMANHOURS_TEST_BACKEND=postgres`.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(test_backend, values(\"postgres\"))");
    println!("cargo::rerun-if-env-changed=HUMANHOURS_TEST_BACKEND");
    println!("cargo::rerun-if-changed=build.rs");
    #[expect(
        clippy::disallowed_methods,
        reason = "a build script reads its environment once, here"
    )]
    let backend = std::env::var("HUMANHOURS_TEST_BACKEND").unwrap_or_default();
    if backend == "postgres" {
        println!("cargo::rustc-cfg=test_backend=\"postgres\"");
    }
}
