//! `dirsync serve` as a child process of the built binary (`dirsync::bench::daemon`), for tests
//! of what crosses processes: replicas on one database, a SIGKILL, the whole log.

use reqwest::{Client, Method, RequestBuilder};
use serde_json::json;

use dirsync::bench::daemon::Daemon;

const BINARY: &str = env!("CARGO_BIN_EXE_dirsync");

/// A daemon process and a client for it.
pub struct Serve {
    pub daemon: Daemon,
    client: Client,
}

impl Serve {
    /// Starts one on this database (SQLite in its own directory when `None`).
    pub fn start(database_url: Option<&str>, settings: &[(&str, &str)]) -> Serve {
        Self::launch(database_url, settings, false)
    }

    /// The same, keeping every line it logs (`Daemon::log`).
    pub fn start_keeping_log(database_url: Option<&str>, settings: &[(&str, &str)]) -> Serve {
        Self::launch(database_url, settings, true)
    }

    fn launch(database_url: Option<&str>, settings: &[(&str, &str)], keep_log: bool) -> Serve {
        let settings: Vec<(String, String)> = settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let start = if keep_log {
            Daemon::start_binary_keeping_log
        } else {
            Daemon::start_binary
        };
        Serve {
            daemon: start(BINARY.as_ref(), database_url, &settings).unwrap(),
            client: Client::new(),
        }
    }

    /// An admin API request with its admin credential.
    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.daemon.admin(&self.client, method, path)
    }

    /// A SCIM request with this token.
    pub fn scim(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.daemon.scim))
            .bearer_auth(token)
    }

    /// Creates tenant "acme" and returns a token's secret.
    pub async fn tenant(&self) -> String {
        self.admin(Method::POST, "/v1/tenants")
            .json(&json!({"name": "acme", "idp": "entra"}))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
        self.issue_token().await.1
    }

    /// Issues another token for "acme": its id and secret.
    pub async fn issue_token(&self) -> (String, String) {
        let issued = super::json_of(
            self.admin(Method::POST, "/v1/tenants/acme/tokens")
                .json(&json!({"name": "process"})),
        )
        .await;
        (
            issued["token"]["id"].as_str().unwrap().to_owned(),
            issued["secret"].as_str().unwrap().to_owned(),
        )
    }
}
