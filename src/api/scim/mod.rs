//! The SCIM listener: routes RFC 7644 §3.2 endpoints under the base path. Resource names match
//! case-insensitively (`/users` is `/Users`); every failure is a SCIM error body.

mod bulk;
mod context;
mod discovery;
mod groups;
mod search;
mod users;

use std::time::Instant;

use tracing::Instrument;
use warp::http::{Method, header};
use warp::reply::Response;

use super::error::ApiError;
use super::request::HttpRequest;
use super::{ScimState, auth, health, reply};
use crate::ratelimit::{Class, Refusal};
use context::ScimContext;

/// Answers one request on the SCIM listener, logging it once with its outcome.
pub async fn handle(state: &ScimState, request: HttpRequest) -> Response {
    let started = Instant::now();
    let span = tracing::info_span!(
        "request",
        request_id = %request.request_id,
        method = %request.method,
        path = %request.path,
        tenant = tracing::field::Empty,
    );
    let mut tenant = None;
    async {
        let mut response = match route(state, &request, &mut tenant).await {
            Ok(response) => response,
            Err(error) => {
                if error.is_server_fault() {
                    tracing::error!(error = %error, "request failed");
                }
                error.scim_response()
            }
        };
        reply::set_header(
            &mut response,
            header::HeaderName::from_static("x-request-id"),
            &request.request_id,
        );
        if wants_plain_json(&request) && response.headers().contains_key(header::CONTENT_TYPE) {
            reply::set_header(&mut response, header::CONTENT_TYPE, "application/json");
        }
        let elapsed = started.elapsed().as_secs_f64();
        let status = response.status().as_u16();
        // Refused and failed requests are what an operator looks for; successful ones are in
        // the metrics, and every write is in the audit trail. Logging each of them at info cost
        // a fifth of the read throughput, so they show at debug.
        if status >= 400 {
            tracing::info!(status, elapsed_ms = elapsed * 1000.0, "request");
        } else {
            tracing::debug!(status, elapsed_ms = elapsed * 1000.0, "request");
        }
        let resource = request
            .segments
            .strip_prefix(state.base_segments.as_slice())
            .and_then(|rest| rest.first())
            .map(|s| s.to_ascii_lowercase())
            .filter(|s| {
                [
                    "users",
                    "groups",
                    "bulk",
                    ".search",
                    "schemas",
                    "resourcetypes",
                    "serviceproviderconfig",
                ]
                .contains(&s.as_str())
            })
            .unwrap_or_else(|| "other".to_owned());
        if let Some(id) = tenant {
            state
                .activity
                .record(id, state.clock.now(), response.status().as_u16() == 429);
        }
        let tenant = tenant
            .map(|t: crate::domain::TenantId| t.to_string())
            .unwrap_or_default();
        state.metrics.request(
            &tenant,
            &resource,
            request.method.as_str(),
            response.status().as_u16(),
            elapsed,
        );
        response
    }
    .instrument(span)
    .await
}

/// RFC 7644 §3.8: a client that accepts `application/json` but not `application/scim+json`
/// (OneLogin documents its connector so) gets the same body labelled `application/json`.
fn wants_plain_json(request: &HttpRequest) -> bool {
    request.header(header::ACCEPT).is_some_and(|accept| {
        let accept = accept.to_ascii_lowercase();
        accept.contains("application/json") && !accept.contains("application/scim+json")
    })
}

async fn route(
    state: &ScimState,
    request: &HttpRequest,
    tenant: &mut Option<crate::domain::TenantId>,
) -> Result<Response, ApiError> {
    if let Some(response) = health::answer(&request.segments, &state.store).await {
        return Ok(response);
    }
    let rest = request
        .segments
        .strip_prefix(state.base_segments.as_slice())
        .ok_or_else(|| ApiError::NoEndpoint(request.path.clone()))?;
    let authenticated = auth::tenant(request, &state.store).await?;
    *tenant = Some(authenticated.tenant.id);
    tracing::Span::current().record("tenant", tracing::field::display(authenticated.tenant.id));
    let class = match request.method {
        Method::GET | Method::HEAD => Class::Read,
        _ => Class::Write,
    };
    state
        .quotas
        .admit(authenticated.tenant.id, class)
        .map_err(|refusal| match refusal {
            Refusal::OverQuota(wait) => ApiError::RateLimited(wait),
            Refusal::Paused => ApiError::Paused,
        })?;
    let context = ScimContext::new(state, request, authenticated);
    dispatch(&context, rest).await
}

/// Routes an authenticated request by its path below the base URL (RFC 7644 §3.2). Bulk calls
/// this again for each of its operations.
async fn dispatch(context: &ScimContext<'_>, rest: &[String]) -> Result<Response, ApiError> {
    let method = context.method();
    let endpoint = rest.first().map(|s| s.to_ascii_lowercase());
    let tail = &rest[1.min(rest.len())..];
    if let Some(endpoint) = &endpoint
        && let Some(answer) = discovery::answer(context, endpoint, tail)
    {
        return answer;
    }
    let is_search = |segment: &String| segment.eq_ignore_ascii_case(".search");
    match (endpoint.as_deref(), tail) {
        (Some(".search"), []) => match method {
            Method::POST => search::root(context).await,
            _ => Err(context.method_not_allowed()),
        },
        (Some("bulk"), []) => match method {
            Method::POST => bulk::run(context).await,
            _ => Err(context.method_not_allowed()),
        },
        (Some("users"), []) => match method {
            Method::GET => users::list(context, &context.list_params()).await,
            Method::POST => users::create(context).await,
            _ => Err(context.method_not_allowed()),
        },
        (Some("users"), [search]) if is_search(search) => match method {
            Method::POST => search::users(context).await,
            _ => Err(context.method_not_allowed()),
        },
        (Some("users"), [id]) => match method {
            Method::GET => users::get(context, id).await,
            Method::PUT => users::replace(context, id).await,
            Method::PATCH => users::patch(context, id).await,
            Method::DELETE => users::delete(context, id).await,
            _ => Err(context.method_not_allowed()),
        },
        (Some("groups"), []) => match method {
            Method::GET => groups::list(context, &context.list_params()).await,
            Method::POST => groups::create(context).await,
            _ => Err(context.method_not_allowed()),
        },
        (Some("groups"), [search]) if is_search(search) => match method {
            Method::POST => search::groups(context).await,
            _ => Err(context.method_not_allowed()),
        },
        (Some("groups"), [id]) => match method {
            Method::GET => groups::get(context, id).await,
            Method::PUT => groups::replace(context, id).await,
            Method::PATCH => groups::patch(context, id).await,
            Method::DELETE => groups::delete(context, id).await,
            _ => Err(context.method_not_allowed()),
        },
        _ => Err(ApiError::NoEndpoint(context.path().to_owned())),
    }
}
