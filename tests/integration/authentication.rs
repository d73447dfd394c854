//! Bearer tokens on the SCIM API: missing, unknown, revoked and expired tokens are refused
//! with 401, a SCIM error body and `WWW-Authenticate: Bearer`; tokens are stored only as hashes.

use std::sync::Arc;

use chrono::Duration;
use dirsync::clock::{Clock, ManualClock};
use dirsync::store::Store;
use reqwest::Method;
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::on_both_databases;
use crate::support::{TestApp, assert_scim_error};

on_both_databases!(
    a_request_without_a_token_is_401_with_www_authenticate,
    an_unknown_or_malformed_token_is_401,
    a_revoked_token_stops_working_at_once,
    an_expired_token_is_refused_after_its_expiry,
    a_token_issued_by_a_process_with_a_fast_clock_expires_by_the_answering_daemons_clock,
    last_use_is_recorded_at_most_once_a_minute,
    tokens_are_stored_only_as_hashes,
);

async fn expect_401(app: &TestApp, request: reqwest::RequestBuilder) {
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert_eq!(response.headers()["content-type"], "application/scim+json");
    assert_scim_error(&response.json().await.unwrap(), 401, None);
    let _ = app;
}

async fn a_request_without_a_token_is_401_with_www_authenticate(app: TestApp) {
    expect_401(&app, app.client.get(format!("{}/Users", app.scim))).await;
    expect_401(
        &app,
        app.client.get(format!("{}/Groups/whatever", app.scim)),
    )
    .await;
}

async fn an_unknown_or_malformed_token_is_401(app: TestApp) {
    // The token with its last character changed (to `x`, or `y` when it already ends in `x`:
    // one random token in 62 does, and then the "almost" token was the token itself).
    let (head, last) = app.token.split_at(app.token.len() - 1);
    let almost = format!("{head}{}", if last == "x" { "y" } else { "x" });
    for header in [
        format!("Bearer {almost}"),
        "Bearer ".into(),
        format!("Basic {}", app.token),
        app.token.clone(),
    ] {
        let request = app
            .client
            .get(format!("{}/Users", app.scim))
            .header("authorization", header);
        expect_401(&app, request).await;
    }
    // The scheme is case-insensitive (RFC 7235 §2.1).
    let response = app
        .client
        .get(format!("{}/Users", app.scim))
        .header("authorization", format!("bearer {}", app.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn a_revoked_token_stops_working_at_once(app: TestApp) {
    assert_eq!(
        app.scim(Method::GET, "/Users")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let tokens = app.store.list_tokens(app.tenant.id).await.unwrap();
    app.store.revoke_token(tokens[0].id).await.unwrap();
    expect_401(&app, app.scim(Method::GET, "/Users")).await;
}

async fn an_expired_token_is_refused_after_its_expiry(app: TestApp) {
    let issued = app
        .store
        .create_token(app.tenant.id, "short", Some(Duration::hours(1)))
        .await
        .unwrap();
    let token = issued.secret.expose().to_owned();
    assert_eq!(
        app.scim_as(&token, Method::GET, "/Users")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.clock.advance(Duration::minutes(61));
    expect_401(&app, app.scim_as(&token, Method::GET, "/Users")).await;
    // The token without expiry still works.
    assert_eq!(
        app.scim(Method::GET, "/Users")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// Replicas and the CLI each read their own clock. A token's expiry is an absolute time, set by
/// the clock of the process that issued it and judged by the clock of the process that answers,
/// so a skew between them lengthens or shortens a token's life by the skew and no more.
async fn a_token_issued_by_a_process_with_a_fast_clock_expires_by_the_answering_daemons_clock(
    app: TestApp,
) {
    let fast = ManualClock::new(app.clock.now() + Duration::minutes(10));
    let issuer = Store::connect(&app.settings.database, Arc::new(fast.clone()))
        .await
        .unwrap();
    let issued = issuer
        .create_token(app.tenant.id, "skewed", Some(Duration::hours(1)))
        .await
        .unwrap();
    let token = issued.secret.expose().to_owned();
    let status = |token: String| {
        let request = app.scim_as(&token, Method::GET, "/Users");
        async move { request.send().await.unwrap().status() }
    };
    // An hour by the issuer's clock is seventy minutes by the daemon's.
    app.clock.advance(Duration::minutes(69));
    assert_eq!(status(token.clone()).await, 200);
    let used = app.store.list_tokens(app.tenant.id).await.unwrap();
    let used = used.iter().find(|t| t.id == issued.token.id).unwrap();
    let millis = |at: Option<chrono::DateTime<chrono::Utc>>| at.map(|t| t.timestamp_millis());
    assert_eq!(millis(used.last_used_at), millis(Some(app.clock.now())));
    app.clock.advance(Duration::minutes(2));
    expect_401(&app, app.scim_as(&token, Method::GET, "/Users")).await;

    // A replica whose clock runs ahead records a use; the daemon, whose clock is behind it,
    // does not move that record back.
    let other = issuer
        .create_token(app.tenant.id, "recorded", None)
        .await
        .unwrap();
    fast.advance(Duration::minutes(71));
    issuer.authenticate(other.secret.expose()).await.unwrap();
    let ahead = fast.now();
    assert_eq!(status(other.secret.expose().to_owned()).await, 200);
    let tokens = app.store.list_tokens(app.tenant.id).await.unwrap();
    let recorded = tokens.iter().find(|t| t.id == other.token.id).unwrap();
    assert_eq!(millis(recorded.last_used_at), millis(Some(ahead)));
}

async fn last_use_is_recorded_at_most_once_a_minute(app: TestApp) {
    let last_used =
        || async { app.store.list_tokens(app.tenant.id).await.unwrap()[0].last_used_at };
    assert_eq!(last_used().await, None);
    app.scim(Method::GET, "/Users").send().await.unwrap();
    let first = last_used().await.expect("recorded");
    app.clock.advance(Duration::seconds(30));
    app.scim(Method::GET, "/Users").send().await.unwrap();
    assert_eq!(
        last_used().await,
        Some(first),
        "not rewritten within the minute"
    );
    app.clock.advance(Duration::seconds(31));
    app.scim(Method::GET, "/Users").send().await.unwrap();
    assert!(last_used().await.unwrap() > first);
}

async fn tokens_are_stored_only_as_hashes(app: TestApp) {
    let listed = app.store.list_tokens(app.tenant.id).await.unwrap();
    assert!(app.token.starts_with(&listed[0].hint) && listed[0].hint.len() < 16);
    let db = Database::connect(app.database_url.as_str()).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT name, hint, token_hash FROM api_tokens",
        ))
        .await
        .unwrap();
    let stored: Vec<String> = rows
        .iter()
        .flat_map(|row| {
            ["name", "hint", "token_hash"].map(|c| row.try_get::<String>("", c).unwrap())
        })
        .collect();
    let secret = &app.token["dirsync_".len()..];
    assert!(
        stored.iter().all(|value| !value.contains(secret)),
        "the token's secret part is in the database"
    );
    assert!(
        stored.contains(&dirsync::secret::token_digest(&app.token)),
        "{stored:?}"
    );
}
