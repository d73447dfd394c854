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

/// Checks the admin credential as a browser sends it: HTTP Basic (RFC 7617) with the
/// credential as the password (any user name), or a bearer token.
pub fn admin_in_browser(request: &HttpRequest, credential_digest: &str) -> Result<(), ApiError> {
    use base64::Engine;
    let value = request
        .header(header::AUTHORIZATION)
        .ok_or(ApiError::MissingCredential)?;
    let Some(encoded) = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, rest)| rest.trim())
    else {
        return admin(request, credential_digest);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(ApiError::InvalidCredential)?;
    let password = decoded.split_once(':').map_or("", |(_, p)| p);
    let presented = secret::token_digest(password);
    if secret::constant_time_eq(&presented, credential_digest) {
        Ok(())
    } else {
        Err(ApiError::InvalidCredential)
    }
}
