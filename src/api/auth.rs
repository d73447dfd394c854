//! Bearer credentials (RFC 6750 §2.1): SCIM tokens decide the tenant; the admin credential
//! guards the admin API.

use warp::http::header;

use super::error::ApiError;
use super::request::HttpRequest;
use crate::secret;
use crate::store::{AuthFailure, Authenticated, Store};

/// The token in `Authorization: Bearer <token>`; the scheme is case-insensitive.
fn bearer(request: &HttpRequest) -> Result<&str, ApiError> {
    let value = request
        .header(header::AUTHORIZATION)
        .ok_or(ApiError::MissingCredential)?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::InvalidCredential)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::InvalidCredential);
    }
    Ok(token.trim())
}

/// Authenticates a SCIM request: the token decides which tenant the request may touch.
pub async fn tenant(request: &HttpRequest, store: &Store) -> Result<Authenticated, ApiError> {
    let token = bearer(request)?;
    store
        .authenticate(token)
        .await
        .map_err(|failure| match failure {
            AuthFailure::Store(e) => ApiError::Domain(e),
            other => {
                tracing::info!(reason = %other, "bearer token refused");
                ApiError::InvalidCredential
            }
        })
}

/// Checks the admin credential. Both sides are hashed first so the comparison takes the same
/// time whatever the length or content of the presented value.
pub fn admin(request: &HttpRequest, credential_digest: &str) -> Result<(), ApiError> {
    let presented = secret::token_digest(bearer(request)?);
    if secret::constant_time_eq(&presented, credential_digest) {
        Ok(())
    } else {
        Err(ApiError::InvalidCredential)
    }
}
