//! The SCIM error response (RFC 7644 §3.12).

use serde::Serialize;

/// URN of the error message schema.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType` keywords of RFC 7644 §3.12, table 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ScimType {
    /// The filter syntax is invalid or names something that cannot be filtered.
    InvalidFilter,
    /// The filter yields more results than the server will compute.
    TooMany,
    /// A value is already taken (userName).
    Uniqueness,
    /// An attempt to change an attribute that cannot be changed.
    Mutability,
    /// The request body is not valid JSON or does not follow the schema.
    InvalidSyntax,
    /// A PATCH path is invalid.
    InvalidPath,
    /// A PATCH path matched nothing.
    NoTarget,
    /// A value is of the wrong type or out of range.
    InvalidValue,
    /// Wrong protocol version.
    InvalidVers,
    /// The request cannot be completed because of sensitive information in the URI.
    Sensitive,
}

/// An error as the SCIM layer finds it while reading a request: the status and keyword it
/// calls for, and a sentence for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ScimError {
    /// HTTP status.
    pub status: u16,
    /// `scimType`, where RFC 7644 defines one.
    pub scim_type: Option<ScimType>,
    /// What went wrong, for the client.
    pub detail: String,
}

impl ScimError {
    /// A 400 with a `scimType`.
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self {
            status: 400,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// A 400 `invalidSyntax`.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }

    /// A 400 `invalidValue`.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }

    /// A 400 `invalidFilter`.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }

    /// The JSON body of this error.
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            schemas: [ERROR_SCHEMA],
            status: self.status.to_string(),
            scim_type: self.scim_type,
            detail: &self.detail,
        }
    }
}

/// The wire form: `status` is a string (RFC 7644 §3.12).
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    schemas: [&'static str; 1],
    status: String,
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    scim_type: Option<ScimType>,
    detail: &'a str,
}
