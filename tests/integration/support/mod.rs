//! Test support: each test gets its own daemon, in process, on port 0, with its own database
//! (a temporary SQLite file, or a fresh database in the shared throwaway PostgreSQL cluster),
//! a clock the test controls, and a seeded tenant with a token.

pub mod postgres;
pub mod qualytics;
pub mod serve;
pub mod slapd;
pub mod tmpfs;

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use dirsync::app::{self, Running};
use dirsync::clock::{Clock, ManualClock, SystemClock};
use dirsync::configuration;
use dirsync::domain::{IdpKind, Tenant, TenantName};
use dirsync::store::Store;
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::Value;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The admin credential every test daemon is configured with.
pub const ADMIN_TOKEN: &str = "test-admin-credential-0123456789abcdef";

pub struct TestApp {
    /// `http://127.0.0.1:PORT/api/scim/v2`
    pub scim: String,
    /// `http://127.0.0.1:PORT` of the admin listener.
    pub admin: String,
    pub client: Client,
    pub clock: ManualClock,
    pub store: Store,
    pub reconciler: dirsync::sync::Reconciler,
    pub backend: Backend,
    /// The seeded tenant and a token for it.
    pub tenant: Tenant,
    pub token: String,
    _data_dir: tempfile::TempDir,
    /// Where the daemon's database is, for tests that look at it directly.
    pub database_url: String,
    /// What the daemon was started with (a second store on the same database opens with it).
    pub settings: configuration::Settings,
    running: Option<Running>,
}

/// Prints straight to stderr, past the test harness's output capture, so a skipped lane is
/// visible in a plain `cargo test` run.
pub fn announce(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

impl TestApp {
    /// A daemon on `backend`; `None` when PostgreSQL is not available and not required.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, &[]).await
    }

    /// Like `spawn`, with extra `DIRSYNC__…` settings.
    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> Option<TestApp> {
        Self::spawn_with_config(backend, extra, None).await
    }

    /// Like `spawn_with`, with a configuration file of this text too.
    pub async fn spawn_with_config(
        backend: Backend,
        extra: &[(&str, &str)],
        file: Option<&str>,
    ) -> Option<TestApp> {
        let data_dir = tempfile::tempdir().expect("temporary directory");
        let database_url = match backend {
            Backend::Sqlite => String::new(),
            Backend::Postgres => postgres::database_or_skip().await?,
        };
        let mut env: HashMap<String, String> = [
            ("DIRSYNC__SCIM__LISTEN", "127.0.0.1:0"),
            ("DIRSYNC__ADMIN__LISTEN", "127.0.0.1:0"),
            ("DIRSYNC__ADMIN__TOKEN", ADMIN_TOKEN),
            ("DIRSYNC__SERVER__SHUTDOWN_GRACE", "5s"),
            ("DIRSYNC__DATABASE__MAX_CONNECTIONS", "8"),
            // Tests run reconciliation themselves, unless they test the loops.
            ("DIRSYNC__SYNC__SCHEDULE", ""),
            ("DIRSYNC__SYNC__CHANGE_DELAY", "0s"),
            // Tests hammer the API faster than any IdP; quotas have tests of their own.
            ("DIRSYNC__SCIM__REQUESTS_PER_SECOND", "100000"),
            ("DIRSYNC__SCIM__BURST", "100000"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.insert(
            "DIRSYNC__SERVER__DATA_DIR".into(),
            data_dir.path().to_string_lossy().into(),
        );
        env.insert("DIRSYNC__DATABASE__URL".into(), database_url.clone());
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}/dirsync.db", data_dir.path().display()),
            Backend::Postgres => database_url,
        };
        for (key, value) in extra {
            env.insert(key.to_string(), value.to_string());
        }
        let config_file = data_dir.path().join("dirsync.toml");
        if let Some(text) = file {
            std::fs::write(&config_file, text).expect("config file");
        }
        let settings = configuration::load(file.map(|_| config_file.as_path()), Some(env))
            .expect("test settings");
        let clock = ManualClock::new(SystemClock.now());
        let running = app::start(&settings, Arc::new(clock.clone()))
            .await
            .expect("daemon starts");
        let store = running.store.clone();
        let reconciler = running.reconciler.clone();
        let tenant = store
            .create_tenant(&TenantName::parse("acme").unwrap(), IdpKind::Generic)
            .await
            .unwrap();
        let token = store
            .create_token(tenant.id, "test", None)
            .await
            .unwrap()
            .secret;
        Some(TestApp {
            scim: format!("http://{}/api/scim/v2", running.scim_address),
            admin: format!("http://{}", running.admin_address),
            client: Client::new(),
            clock,
            store,
            reconciler,
            backend,
            tenant,
            token: token.expose().to_owned(),
            _data_dir: data_dir,
            database_url,
            settings,
            running: Some(running),
        })
    }

    /// Creates another tenant and returns it with a token.
    pub async fn another_tenant(&self, name: &str) -> (Tenant, String) {
        self.another_tenant_of_kind(name, IdpKind::Generic).await
    }

    /// Creates another tenant of an IdP kind and returns it with a token.
    pub async fn another_tenant_of_kind(&self, name: &str, kind: IdpKind) -> (Tenant, String) {
        let tenant = self
            .store
            .create_tenant(&TenantName::parse(name).unwrap(), kind)
            .await
            .unwrap();
        let token = self
            .store
            .create_token(tenant.id, "test", None)
            .await
            .unwrap()
            .secret;
        (tenant, token.expose().to_owned())
    }

    /// A SCIM request with the seeded tenant's token; `path` is relative to the base URL.
    pub fn scim(&self, method: Method, path: &str) -> RequestBuilder {
        self.scim_as(&self.token, method, path)
    }

    /// A SCIM request with the given token.
    pub fn scim_as(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.scim))
            .bearer_auth(token)
    }

    /// An admin API request with the admin credential.
    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(ADMIN_TOKEN)
    }

    /// GETs an admin API path and returns its JSON body.
    pub async fn admin_get_json(&self, path: &str) -> Value {
        let response = self.admin(Method::GET, path).send().await.unwrap();
        response.json().await.unwrap()
    }

    /// POSTs a resource as the seeded tenant and returns the response.
    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.scim(Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a user with that userName and returns its id.
    pub async fn create_user(&self, user_name: &str) -> String {
        let response = self.post("/Users", user_body(user_name)).await;
        assert_eq!(response.status(), 201, "creating {user_name}");
        id_of(response).await
    }

    /// Creates a group with those member ids and returns its id.
    pub async fn create_group(&self, display_name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members
            .iter()
            .map(|id| serde_json::json!({"value": id}))
            .collect();
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": display_name,
            "members": members,
        });
        let response = self.post("/Groups", body).await;
        assert_eq!(response.status(), 201, "creating group {display_name}");
        id_of(response).await
    }

    /// Sends a SCIM request with a JSON body and returns status and JSON body.
    pub async fn send(&self, method: Method, path: &str, body: Value) -> (u16, Value) {
        let response = self.scim(method, path).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// PATCHes a resource with these operations (RFC 7644 §3.5.2).
    pub async fn patch(&self, path: &str, operations: Value) -> (u16, Value) {
        self.send(Method::PATCH, path, patch_body(operations)).await
    }

    /// GETs a path as the seeded tenant and returns status and JSON body.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.scim(Method::GET, path).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The SCIM listener's `host:port`, for tests that talk TCP to it.
    pub fn scim_address(&self) -> String {
        let address = self.scim.trim_start_matches("http://");
        address.split('/').next().unwrap().to_owned()
    }

    /// The daemon, for tests of shutdown.
    pub fn take_running(&mut self) -> Running {
        self.running.take().expect("running")
    }
}

/// Settings as `dirsync` would load them from this file (if any) and these variables only.
pub fn settings(file: Option<&std::path::Path>, vars: &[(&str, &str)]) -> configuration::Settings {
    let env = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    configuration::load(file, Some(env)).expect("settings load")
}

/// A minimal valid User body.
/// A PatchOp body with these operations (RFC 7644 §3.5.2).
pub fn patch_body(operations: Value) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": operations,
    })
}

/// Sends a request and returns its JSON body.
pub async fn json_of(request: RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Sends a request and returns its body as text.
pub async fn text_of(request: RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}

pub fn user_body(user_name: &str) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Given", "familyName": "Family"},
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true,
    })
}

/// The `id` of the resource in a response.
pub async fn id_of(response: Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().expect("an id").to_owned()
}

/// Asserts a SCIM error body (RFC 7644 §3.12) with the given status and, if any, scimType.
pub fn assert_scim_error(body: &Value, status: u16, scim_type: Option<&str>) {
    assert_eq!(
        body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{body}"
    );
    assert_eq!(body["status"], status.to_string(), "{body}");
    assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

/// Declares each listed `async fn(TestApp)` as two tests, `sqlite::NAME` and `postgres::NAME`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let app = $crate::support::TestApp::spawn($crate::support::Backend::Sqlite).await.unwrap();
                    super::$name(app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) = $crate::support::TestApp::spawn($crate::support::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}
