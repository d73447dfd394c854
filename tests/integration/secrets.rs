//! Token secrets never leave the request that carries them: not into the log (even at debug
//! level, where every request and query is logged), not into error bodies, metrics or the
//! audit trail. The daemon runs as a process here so that its whole log is what is searched.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::support::serve::Serve;
use crate::support::{json_of, patch_body, text_of, user_body};

#[tokio::test]
async fn token_secrets_appear_in_no_log_line_error_body_metric_or_audit_entry() {
    let serve = Serve::start_keeping_log(None, &[("DIRSYNC__LOG__LEVEL", "debug")]);
    let secret = serve.tenant().await;
    let (revoked_id, revoked) = serve.issue_token().await;
    serve
        .admin(Method::DELETE, &format!("/v1/tokens/{revoked_id}"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    // The real secret with its last character changed: a near miss.
    let mut near_miss = secret.clone();
    let last = near_miss.pop().unwrap();
    near_miss.push(if last == 'a' { 'b' } else { 'a' });

    let scim = |token: &str, method: Method, path: &str| serve.scim(method, path, token);
    let mut bodies = Vec::new();
    let alice =
        json_of(scim(&secret, Method::POST, "/Users").json(&user_body("alice@example.com"))).await;
    let alice = alice["id"].as_str().unwrap().to_owned();
    let patched = scim(&secret, Method::PATCH, &format!("/Users/{alice}"))
        .json(&patch_body(
            json!([{"op": "replace", "path": "displayName", "value": "Alice"}]),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    for token in [&near_miss, &revoked, &format!("{secret} {secret}")] {
        let refused = scim(token, Method::GET, "/Users").send().await.unwrap();
        assert_eq!(refused.status(), 401);
        bodies.push(refused.text().await.unwrap());
    }
    // A token in a header where none belongs, and in a bad request's body.
    let bad = scim(&secret, Method::POST, "/Users")
        .header("x-api-key", &secret)
        .json(&json!({"userName": 7, "password": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    bodies.push(bad.text().await.unwrap());
    // The admin listener's metrics, the audit trail and the token list, each holding something
    // of the requests above.
    for (path, holds) in [
        ("/metrics", "dirsync_scim_requests_total"),
        ("/v1/tenants/acme/audit", "alice@example.com"),
        ("/v1/tenants/acme/tokens", "process"),
    ] {
        let body = text_of(serve.admin(Method::GET, path)).await;
        assert!(body.contains(holds), "{path}: {body}");
        bodies.push(body);
    }

    // The log has the requests (debug level logs every one) before it is searched.
    let started = Instant::now();
    while serve
        .daemon
        .log()
        .iter()
        .filter(|l| l.contains("\"message\":\"request\""))
        .count()
        < 6
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "requests not logged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = serve.daemon.log().join("\n");
    // The random part of each secret: after the `dirsync_` prefix every token shares.
    for (what, token) in [
        ("secret", &secret),
        ("revoked", &revoked),
        ("near miss", &near_miss),
    ] {
        let random = &token["dirsync_".len()..];
        assert!(!log.contains(random), "the {what} token is in the log");
        for body in &bodies {
            assert!(!body.contains(random), "the {what} token is in {body}");
        }
    }
}
