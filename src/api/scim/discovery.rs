//! Discovery endpoints (RFC 7644 §4): read-only; any other method is 405.

use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::super::error::ApiError;
use super::super::reply;
use super::context::ScimContext;
use crate::domain::DomainError;
use crate::scim::discovery::{self, RESOURCE_TYPES};

/// `/ServiceProviderConfig`, `/ResourceTypes[/{name}]`, `/Schemas[/{urn}]`; `None` when the path
/// is none of them.
pub fn answer(
    context: &ScimContext<'_>,
    endpoint: &str,
    rest: &[String],
) -> Option<Result<Response, ApiError>> {
    let known = matches!(
        endpoint,
        "serviceproviderconfig" | "resourcetypes" | "schemas"
    );
    if !known {
        return None;
    }
    if context.method() != Method::GET {
        return Some(Err(context.method_not_allowed()));
    }
    let urls = context.urls();
    Some(match (endpoint, rest) {
        ("serviceproviderconfig", []) => Ok(reply::scim_json(
            StatusCode::OK,
            &discovery::service_provider_config(urls, context.limits()),
        )),
        ("resourcetypes", []) => {
            let all = RESOURCE_TYPES
                .iter()
                .map(|r| discovery::resource_type(r, urls))
                .collect::<Vec<_>>();
            let total = all.len() as u64;
            Ok(context.list(all, total, 1))
        }
        ("resourcetypes", [name]) => RESOURCE_TYPES
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
            .map(|r| reply::scim_json(StatusCode::OK, &discovery::resource_type(r, urls)))
            .ok_or_else(|| DomainError::not_found("ResourceType", name).into()),
        ("schemas", []) => {
            let all = discovery::schemas()
                .into_iter()
                .map(|s| discovery::schema(s, urls))
                .collect::<Vec<_>>();
            let total = all.len() as u64;
            Ok(context.list(all, total, 1))
        }
        ("schemas", [id]) => discovery::schemas()
            .into_iter()
            .find(|s| s.id.eq_ignore_ascii_case(id))
            .map(|s| reply::scim_json(StatusCode::OK, &discovery::schema(s, urls)))
            .ok_or_else(|| DomainError::not_found("Schema", id).into()),
        _ => Err(ApiError::NoEndpoint(context.path().to_owned())),
    })
}
