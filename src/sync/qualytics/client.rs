//! The Qualytics controlplane's REST API (`<url>/api`), as documented: bearer auth, paged lists
//! answering `{items, total, page, size}` (or `{items, total_count}`), and 429/5xx answers that
//! are retried, waiting what `Retry-After` says or else a doubling delay.

use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

use crate::configuration::QualyticsSettings;
use crate::sync::target::TargetError;

/// Items per page when listing.
const PAGE_SIZE: u64 = 100;
/// The first wait before retrying without a `Retry-After`.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A client of one controlplane.
#[derive(Debug, Clone)]
pub struct QualyticsClient {
    http: Client,
    api: String,
    token: crate::secret::SecretString,
    max_retries: u32,
}

impl QualyticsClient {
    /// A client for these settings.
    pub fn new(settings: &QualyticsSettings) -> Result<Self, String> {
        let http = Client::builder()
            .timeout(settings.timeout)
            .danger_accept_invalid_certs(!settings.tls_verify)
            .build()
            .map_err(|e| format!("cannot build the Qualytics HTTP client: {e}"))?;
        Ok(Self {
            http,
            api: format!("{}/api", settings.url.trim_end_matches('/')),
            token: settings.token.clone(),
            max_retries: settings.max_retries,
        })
    }

    /// Sends one request, retrying 429 and 5xx answers. Answers the status and the JSON body
    /// (`Null` when there is none). 401/403 and exhausted retries are "unavailable": nothing
    /// more can be done in this run.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), TargetError> {
        let url = format!("{}{path}", self.api);
        let mut attempt = 0;
        loop {
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(self.token.expose());
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| TargetError::Unavailable(format!("{method} {url}: {e}")))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = response.text().await.unwrap_or_default();
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if retryable && attempt < self.max_retries {
                let backoff = FIRST_BACKOFF
                    .saturating_mul(2u32.saturating_pow(attempt))
                    .min(MAX_BACKOFF);
                let wait = retry_after.unwrap_or(backoff).min(MAX_BACKOFF);
                tracing::debug!(%status, attempt, wait_ms = wait.as_millis() as u64, %url, "Qualytics asked to retry");
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            if retryable {
                return Err(TargetError::Unavailable(format!(
                    "{method} {url}: {status} after {attempt} retries"
                )));
            }
            if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                return Err(TargetError::Unavailable(format!(
                    "{method} {url}: {status}: the token is refused (it must be an Admin service token, not a SCIM-only one)"
                )));
            }
            return Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)));
        }
    }

    /// Every item of a paged list.
    pub async fn list(&self, path: &str) -> Result<Vec<Value>, TargetError> {
        let mut items = Vec::new();
        let mut page = 1u64;
        loop {
            let separator = if path.contains('?') { '&' } else { '?' };
            let (status, body) = self
                .send(
                    Method::GET,
                    &format!("{path}{separator}page={page}&size={PAGE_SIZE}"),
                    None,
                )
                .await?;
            if !status.is_success() {
                return Err(TargetError::Unavailable(format!(
                    "listing {path} answered {status}"
                )));
            }
            let batch = body["items"].as_array().cloned().ok_or_else(|| {
                TargetError::Unavailable(format!("listing {path} answered no items list"))
            })?;
            let total = body["total"]
                .as_u64()
                .or_else(|| body["total_count"].as_u64());
            let got = batch.len() as u64;
            items.extend(batch);
            let done = match total {
                Some(total) => items.len() as u64 >= total,
                None => got < PAGE_SIZE,
            };
            if done || got == 0 {
                return Ok(items);
            }
            page += 1;
        }
    }
}
