//! Every failure of an API request, and the one table that turns each into an HTTP status and,
//! for SCIM, a `scimType` (RFC 7644 §3.12).

use serde_json::json;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::domain::DomainError;
use crate::scim::{ScimError, ScimType};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No credential was presented.
    #[error("authentication required: send \"Authorization: Bearer <token>\"")]
    MissingCredential,
    /// The credential is unknown, expired or revoked.
    #[error("the bearer token is invalid, expired or revoked")]
    InvalidCredential,
    /// The SCIM layer refused the request (bad JSON, bad filter, bad value).
    #[error(transparent)]
    Scim(#[from] ScimError),
    /// The domain or the store refused or failed.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// No endpoint has this path.
    #[error("no endpoint at {0}")]
    NoEndpoint(String),
    /// The endpoint does not take this method.
    #[error("{method} is not supported on {path}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The path.
        path: String,
    },
    /// The body was larger than the configured limit.
    #[error("the request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(u64),
    /// The body could not be read.
    #[error("the request body could not be read")]
    UnreadableBody,
    /// The body's Content-Type is not JSON.
    #[error("unsupported Content-Type {0:?}: send application/scim+json or application/json")]
    UnsupportedMediaType(String),
    /// The tenant is over its quota; retry after this long.
    #[error("the tenant is over its request quota; retry later")]
    RateLimited(std::time::Duration),
    /// An operator paused the tenant.
    #[error("this tenant is paused by its operator; retry later")]
    Paused,
    /// The listener already holds `scim.max_connections` connections.
    #[error("the server has too many connections open; retry later")]
    TooManyConnections,
    /// A feature dirsync does not offer (yet).
    #[error("{0}")]
    NotImplemented(&'static str),
}

impl ApiError {
    /// The status table: every error's status, `scimType` and client-facing detail. Internal
    /// failures keep their cause out of the response; it is logged where the request ends.
    pub fn parts(&self) -> (StatusCode, Option<ScimType>, String) {
        use ApiError as E;
        use DomainError as D;
        let detail = self.to_string();
        match self {
            E::MissingCredential | E::InvalidCredential => (StatusCode::UNAUTHORIZED, None, detail),
            E::Scim(e) => (
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
                e.scim_type,
                detail,
            ),
            E::Domain(D::Invalid(_)) => (
                StatusCode::BAD_REQUEST,
                Some(ScimType::InvalidValue),
                detail,
            ),
            E::Domain(D::InvalidFilter(_)) => (
                StatusCode::BAD_REQUEST,
                Some(ScimType::InvalidFilter),
                detail,
            ),
            E::Domain(D::NotFound { .. }) => (StatusCode::NOT_FOUND, None, detail),
            E::Domain(D::Conflict(_)) => (StatusCode::CONFLICT, Some(ScimType::Uniqueness), detail),
            E::Domain(D::VersionMismatch(_)) => (StatusCode::PRECONDITION_FAILED, None, detail),
            E::Domain(D::Unavailable(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "the database is unavailable; retry later".to_owned(),
            ),
            E::Domain(D::Unwritable(why)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                format!("the database cannot take writes: {why}; retry later"),
            ),
            E::Domain(D::Internal(_)) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "an internal error occurred; the server log has the details".to_owned(),
            ),
            E::NoEndpoint(_) => (StatusCode::NOT_FOUND, None, detail),
            E::MethodNotAllowed { .. } => (StatusCode::METHOD_NOT_ALLOWED, None, detail),
            E::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, None, detail),
            E::UnreadableBody => (
                StatusCode::BAD_REQUEST,
                Some(ScimType::InvalidSyntax),
                detail,
            ),
            E::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, None, detail),
            E::NotImplemented(_) => (StatusCode::NOT_IMPLEMENTED, None, detail),
            E::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, None, detail),
            E::Paused | E::TooManyConnections => (StatusCode::SERVICE_UNAVAILABLE, None, detail),
        }
    }

    /// True for failures of the server rather than of the request; logged as errors.
    pub fn is_server_fault(&self) -> bool {
        matches!(
            self,
            ApiError::Domain(
                DomainError::Internal(_) | DomainError::Unavailable(_) | DomainError::Unwritable(_)
            )
        )
    }

    /// The SCIM error response.
    pub fn scim_response(&self) -> Response {
        let (status, scim_type, detail) = self.parts();
        let error = ScimError {
            status: status.as_u16(),
            scim_type,
            detail,
        };
        let mut response = super::reply::scim_json(status, &error.body());
        self.add_headers(&mut response);
        response
    }

    /// The admin API's error response: `{"error": "..."}`.
    pub fn admin_response(&self) -> Response {
        let (status, _, detail) = self.parts();
        let mut response = super::reply::json(status, &json!({ "error": detail }));
        self.add_headers(&mut response);
        response
    }

    fn add_headers(&self, response: &mut Response) {
        let headers = response.headers_mut();
        match self {
            // RFC 6750 §3: a 401 names the scheme; for a bad token also the error code.
            ApiError::MissingCredential => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"dirsync\""),
                );
            }
            ApiError::InvalidCredential => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"dirsync\", error=\"invalid_token\""),
                );
            }
            ApiError::Domain(DomainError::Unavailable(_) | DomainError::Unwritable(_)) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            ApiError::Paused => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            }
            ApiError::TooManyConnections => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            // RFC 6585 §4: whole seconds, at least one.
            ApiError::RateLimited(wait) => {
                let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
                if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                    headers.insert(header::RETRY_AFTER, value);
                }
            }
            _ => {}
        }
    }
}
