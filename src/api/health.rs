//! `/healthz` (the process answers) and `/readyz` (and its database does), on both listeners.

use serde_json::json;
use warp::http::StatusCode;
use warp::reply::Response;

use super::reply;
use crate::store::Store;

/// Answers a health path, or `None` when the path is not one.
pub async fn answer(segments: &[String], store: &Store) -> Option<Response> {
    match segments {
        [one] if one == "healthz" => Some(reply::json(StatusCode::OK, &json!({"status": "ok"}))),
        [one] if one == "readyz" => Some(match store.ping().await {
            Ok(()) => reply::json(StatusCode::OK, &json!({"status": "ready"})),
            Err(e) => {
                tracing::warn!(error = %e, "readiness check failed");
                reply::json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({"status": "unavailable", "reason": "the database does not answer"}),
                )
            }
        }),
        _ => None,
    }
}
