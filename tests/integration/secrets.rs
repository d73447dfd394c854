//! Token secrets never leave the request that carries them: not into the log (even at debug
//! level, where every request and query is logged), not into error bodies, metrics or the
//! audit trail. The daemon runs as a process here so that its whole log is what is searched.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, Method};
use serde_json::{Value, json};

use crate::support::{ADMIN_TOKEN, user_body};

struct Serve {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    scim: String,
    admin: String,
}

impl Serve {
    // The child is reaped by `Drop for Serve`, which clippy cannot follow.
    #[allow(clippy::zombie_processes)]
    async fn start(dir: &std::path::Path) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dirsync"))
            .arg("serve")
            .env("DIRSYNC__SERVER__DATA_DIR", dir)
            .env("DIRSYNC__SCIM__LISTEN", "127.0.0.1:0")
            .env("DIRSYNC__ADMIN__LISTEN", "127.0.0.1:0")
            .env("DIRSYNC__ADMIN__TOKEN", ADMIN_TOKEN)
            .env("DIRSYNC__LOG__FORMAT", "json")
            .env("DIRSYNC__LOG__LEVEL", "debug")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        let started = Instant::now();
        let address = |what: &str| -> Option<String> {
            log.lock().unwrap().iter().find_map(|line| {
                let event: Value = serde_json::from_str(line).unwrap_or_default();
                let message = event["message"].as_str()?;
                message
                    .starts_with(what)
                    .then(|| event["address"].as_str().unwrap_or_default().to_owned())
            })
        };
        loop {
            if let (Some(scim), Some(admin)) = (
                address("SCIM API listening"),
                address("admin API listening"),
            ) {
                return Serve {
                    child,
                    log,
                    scim: format!("http://{scim}/api/scim/v2"),
                    admin: format!("http://{admin}"),
                };
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve did not start");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn token_secrets_appear_in_no_log_line_error_body_metric_or_audit_entry() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path()).await;
    let client = Client::new();
    let admin = |method: Method, path: &str| {
        client
            .request(method, format!("{}{path}", serve.admin))
            .bearer_auth(ADMIN_TOKEN)
    };
    admin(Method::POST, "/v1/tenants")
        .json(&json!({"name": "acme", "idp": "okta"}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let issue = || async {
        let issued: Value = admin(Method::POST, "/v1/tenants/acme/tokens")
            .json(&json!({"name": "okta"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            issued["token"]["id"].as_str().unwrap().to_owned(),
            issued["secret"].as_str().unwrap().to_owned(),
        )
    };
    let (_, secret) = issue().await;
    let (revoked_id, revoked) = issue().await;
    admin(Method::DELETE, &format!("/v1/tokens/{revoked_id}"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    // The real secret with its last character changed: a near miss.
    let mut near_miss = secret.clone();
    let last = near_miss.pop().unwrap();
    near_miss.push(if last == 'a' { 'b' } else { 'a' });

    let scim = |token: &str, method: Method, path: &str| {
        client
            .request(method, format!("{}{path}", serve.scim))
            .bearer_auth(token)
    };
    let mut bodies = Vec::new();
    let created = scim(&secret, Method::POST, "/Users")
        .json(&user_body("alice@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let alice: Value = created.json().await.unwrap();
    let alice = alice["id"].as_str().unwrap().to_owned();
    let patched = scim(&secret, Method::PATCH, &format!("/Users/{alice}"))
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Alice"}]
        }))
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
    let metrics = client
        .get(format!("{}/metrics", serve.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("dirsync_scim_requests_total"), "{metrics}");
    bodies.push(metrics);
    let audit = admin(Method::GET, "/v1/tenants/acme/audit")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(audit.contains("alice@example.com"), "{audit}");
    bodies.push(audit);
    let tokens = admin(Method::GET, "/v1/tenants/acme/tokens")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    bodies.push(tokens);

    // The log has the requests (debug level logs every one) before it is searched.
    let started = Instant::now();
    while serve
        .log
        .lock()
        .unwrap()
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
    let log = serve.log.lock().unwrap().join("\n");
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
