//! The real `humanhours` Python SDK from PyPI against the real server: the compatibility
//! promise of the README. `just test` installs the SDK when it is missing.

mod common;

use common::TestApp;
use ratelimit::Plan;

#[actix_web::test]
async fn the_python_sdk_works_against_this_server() {
    let app = TestApp::spawn().await;
    let (org, key) = app.org(Plan::Pro);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/smoke.py");
    let base = app.base.clone();
    let out = actix_web::web::block(move || {
        std::process::Command::new("python3")
            .arg(script)
            .env("HUMANHOURS_BASE_URL", base)
            .env("HUMANHOURS_API_KEY", key)
            .output()
    })
    .await
    .unwrap()
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SDK smoke failed (install the SDK with `python3 -m pip install humanhours==0.0.1`):\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("sdk smoke: all passed"), "{stdout}");
    // seed + first (replay is not a new event) + decorated + needs_review
    assert_eq!(app.store.count_events(&org).unwrap(), 4);
}
