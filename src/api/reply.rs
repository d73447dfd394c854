//! Building responses.

use serde::Serialize;
use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

/// SCIM responses are `application/scim+json` (RFC 7644 §3.1).
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

fn with_body(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn serialize(value: &impl Serialize) -> Vec<u8> {
    // Serialising our own `Value`s and structs cannot fail; an empty object is the safe fallback.
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

/// A SCIM JSON response.
pub fn scim_json(status: StatusCode, value: &impl Serialize) -> Response {
    with_body(status, serialize(value), SCIM_CONTENT_TYPE)
}

/// A plain JSON response (admin API, health).
pub fn json(status: StatusCode, value: &impl Serialize) -> Response {
    with_body(status, serialize(value), "application/json")
}

/// An HTML page.
pub fn html(status: StatusCode, body: String) -> Response {
    with_body(status, body.into_bytes(), "text/html; charset=utf-8")
}

/// 204 No Content.
pub fn no_content() -> Response {
    let mut response = Vec::<u8>::new().into_response();
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// Sets a header whose value we built ourselves; a value that is not a valid header is dropped.
pub fn set_header(response: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}
