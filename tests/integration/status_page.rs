//! `/admin/`, the status page: behind the admin credential (HTTP Basic for browsers), and
//! rendered as a real browser sees it (headless Chromium, from Debian's package).

use std::process::Command;

use reqwest::Method;

use crate::support::postgres::REQUIRE_SERVICES;
use crate::support::{ADMIN_TOKEN, Backend, TestApp, announce};

const CHROMIUM: &str = "/usr/bin/chromium";

#[tokio::test]
async fn the_status_page_asks_for_the_credential_and_shows_tenants_and_the_chart() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.create_user("page@example.com").await;
    app.scim(Method::GET, "/Users").send().await.unwrap();
    let page = format!("{}/admin/", app.admin);
    let anonymous = reqwest::get(&page).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let html = app
        .client
        .get(&page)
        .basic_auth("admin", Some(ADMIN_TOKEN))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<td>acme</td>"), "{html}");

    if !std::path::Path::new(CHROMIUM).is_file() {
        assert!(
            std::env::var_os(REQUIRE_SERVICES).is_none(),
            "Chromium is required ({REQUIRE_SERVICES}) but {CHROMIUM} is missing"
        );
        announce(
            "note: browser lane SKIPPED: /usr/bin/chromium not found (apt-get install chromium)",
        );
        return;
    }
    let profile = tempfile::tempdir().unwrap();
    let url = page.replacen("http://", &format!("http://admin:{ADMIN_TOKEN}@"), 1);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--dump-dom", &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dom.contains("<td>acme</td>"), "{dom}");
    assert!(
        dom.contains(r#"id="activity""#),
        "the chart is in the page: {dom}"
    );
    assert_eq!(
        dom.matches(r#"class="requests""#).count(),
        60,
        "a bar per minute"
    );
}
