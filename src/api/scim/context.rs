//! What a SCIM handler gets: the shared state, the request, and the authenticated tenant.

use serde_json::Value;
use warp::http::{StatusCode, header};
use warp::reply::Response;

use super::super::ScimState;
use super::super::error::ApiError;
use super::super::reply;
use super::super::request::{BodyError, HttpRequest};
use crate::domain::{Actor, TenantId, TenantSettings};
use crate::scim::ScimError;
use crate::scim::dialect::{Dialect, Quirks};
use crate::scim::discovery::Limits;
use crate::scim::list::{ListParams, ListResponse};
use crate::scim::projection::Projection;
use crate::scim::resource::{Urls, etag};
use crate::scim::schema::ResourceType;
use crate::store::{Authenticated, Store};

/// A request in flight on the SCIM API.
pub struct ScimContext<'a> {
    state: &'a ScimState,
    request: &'a HttpRequest,
    authenticated: Authenticated,
}

impl<'a> ScimContext<'a> {
    pub fn new(
        state: &'a ScimState,
        request: &'a HttpRequest,
        authenticated: Authenticated,
    ) -> Self {
        Self {
            state,
            request,
            authenticated,
        }
    }

    /// The same tenant and state for another request: a Bulk operation.
    pub fn for_request<'b>(&self, request: &'b HttpRequest) -> ScimContext<'b>
    where
        'a: 'b,
    {
        ScimContext::new(self.state, request, self.authenticated.clone())
    }

    pub fn request_id(&self) -> &str {
        &self.request.request_id
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    pub fn urls(&self) -> &Urls {
        &self.state.urls
    }

    /// The only tenant this request may read or change.
    pub fn tenant(&self) -> TenantId {
        self.authenticated.tenant.id
    }

    /// Who is changing things, for the change log.
    pub fn actor(&self) -> Actor {
        Actor {
            tenant_id: self.authenticated.tenant.id,
            token_id: Some(self.authenticated.token_id),
            request_id: Some(self.request.request_id.clone()),
        }
    }

    pub fn method(&self) -> warp::http::Method {
        self.request.method.clone()
    }

    pub fn path(&self) -> &str {
        &self.request.path
    }

    /// The limits the discovery endpoint advertises and Bulk enforces.
    pub fn limits(&self) -> Limits {
        self.state.limits
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.request.query_param(name)
    }

    /// The body as JSON. The Content-Type may be absent (Okta's SPEC test sends none), or
    /// `application/scim+json` or `application/json` with any parameters (RFC 7644 §3.1).
    pub fn json_body(&self) -> Result<Value, ApiError> {
        if let Some(content_type) = self.request.header(header::CONTENT_TYPE) {
            let essence = content_type.split(';').next().unwrap_or_default().trim();
            if !essence.eq_ignore_ascii_case("application/scim+json")
                && !essence.eq_ignore_ascii_case("application/json")
            {
                return Err(ApiError::UnsupportedMediaType(content_type.to_owned()));
            }
        }
        let body = match &self.request.body {
            Ok(body) => body,
            Err(BodyError::TooLarge(limit)) => return Err(ApiError::PayloadTooLarge(*limit)),
            Err(BodyError::Unreadable) => return Err(ApiError::UnreadableBody),
        };
        if body.is_empty() {
            return Err(ScimError::invalid_syntax("the request needs a JSON body").into());
        }
        serde_json::from_slice(body).map_err(|e| {
            ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")).into()
        })
    }

    /// The list parameters of the query string.
    pub fn list_params(&self) -> ListParams {
        ListParams::from_query(|name| self.query(name))
    }

    /// What a response returning one resource carries (`attributes`, `excludedAttributes`).
    pub fn projection(&self, resource: &ResourceType) -> Projection {
        self.list_params().projection(resource)
    }

    /// The version `If-Match` requires (RFC 7644 §3.14), `None` without one or for `*`. An
    /// ETag that is not one of ours can match no version.
    pub fn if_match(&self) -> Option<i64> {
        let header = self.request.header(header::IF_MATCH)?.trim();
        if header == "*" {
            return None;
        }
        Some(parse_etag(header).unwrap_or(-1))
    }

    /// Whether `If-None-Match` names this version (or is `*`): a GET then answers 304.
    pub fn not_modified_since(&self, version: i64) -> bool {
        self.request
            .header(header::IF_NONE_MATCH)
            .is_some_and(|header| {
                header
                    .split(',')
                    .map(str::trim)
                    .any(|tag| tag == "*" || parse_etag(tag) == Some(version))
            })
    }

    /// 204 with the ETag of the version just written.
    pub fn no_content(&self, version: i64) -> Response {
        let mut response = reply::no_content();
        reply::set_header(&mut response, header::ETAG, &etag(version));
        response
    }

    /// For a request that writes: the tenant's dialect, as a fresh [`Quirks`], and its
    /// settings (as read with the token).
    pub fn dialect(&self) -> (Quirks, &TenantSettings) {
        let tenant = &self.authenticated.tenant;
        let dialect =
            Dialect::for_kind(tenant.idp_kind).without(&tenant.settings.disabled_normalisations);
        (Quirks::new(dialect), &tenant.settings)
    }

    /// Logs and counts the normalisations a request needed (whether or not it then succeeded).
    pub fn record(&self, quirks: &Quirks) {
        let tenant = self.tenant().to_string();
        for normalisation in quirks.fired() {
            tracing::debug!(%normalisation, "normalised the IdP's dialect");
            self.state.metrics.normalised(&tenant, normalisation.name());
        }
        self.state
            .normalisations
            .record(self.tenant(), quirks.fired());
    }

    /// 304 Not Modified with the current ETag.
    pub fn not_modified(&self, version: i64) -> Response {
        let mut response = reply::no_content();
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        reply::set_header(&mut response, header::ETAG, &etag(version));
        response
    }

    pub fn method_not_allowed(&self) -> ApiError {
        ApiError::MethodNotAllowed {
            method: self.request.method.to_string(),
            path: self.request.path.clone(),
        }
    }

    /// 200 with a resource and its ETag.
    pub fn resource(&self, body: &Value, version: i64) -> Response {
        let mut response = reply::scim_json(StatusCode::OK, body);
        reply::set_header(&mut response, header::ETAG, &etag(version));
        response
    }

    /// 201 with a new resource, its ETag and its Location (RFC 7644 §3.3).
    pub fn created(&self, body: &Value, version: i64, location: &str) -> Response {
        let mut response = reply::scim_json(StatusCode::CREATED, body);
        reply::set_header(&mut response, header::ETAG, &etag(version));
        reply::set_header(&mut response, header::LOCATION, location);
        response
    }

    /// 200 with a list response.
    pub fn list(&self, resources: Vec<Value>, total: u64, start_index: u64) -> Response {
        reply::scim_json(
            StatusCode::OK,
            &ListResponse::new(resources, total, start_index),
        )
    }
}

/// The version in an ETag we issued: `W/"3"` or `"3"`.
fn parse_etag(tag: &str) -> Option<i64> {
    tag.trim()
        .trim_start_matches("W/")
        .strip_prefix('"')?
        .strip_suffix('"')?
        .parse()
        .ok()
}
