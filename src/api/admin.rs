//! The admin API: tenants and tokens, the same operations as the CLI. Guarded by the admin
//! credential; answers JSON, errors as `{"error": "..."}`.
//!
//! | method | path                          | does                                  |
//! |--------|-------------------------------|---------------------------------------|
//! | GET    | /v1/tenants                   | list tenants                          |
//! | POST   | /v1/tenants                   | create `{"name", "idp"?}`             |
//! | GET    | /v1/tenants/{name}            | one tenant                            |
//! | PATCH  | /v1/tenants/{name}            | change `{"idp"?, "settings"?}`        |
//! | GET    | /v1/tenants/{name}/normalisations | dialect: what is on, how often it fired |
//! | POST   | /v1/tenants/{name}/pause, /resume | SCIM answers 503 while paused         |
//! | POST   | /v1/tenants/{name}/reconcile  | run `{"target"?, "mode"?: plan/apply, "force"?}` |
//! | GET    | /v1/tenants/{name}/runs       | the tenant's latest runs              |
//! | GET    | /v1/runs                      | the latest runs of every tenant       |
//! | GET    | /v1/tenants/{name}/audit      | the change log: `?after=&since=&user=&limit=` |
//! | GET    | /v1/tenants/{name}/status     | last request, requests/429s last hour, runs, drift, pending |
//! | GET    | /v1/tenants/{name}/permissions | the Qualytics permission model (`?user=`) |
//! | GET    | /v1/tenants/{name}/tokens     | list its tokens (never the secrets)   |
//! | POST   | /v1/tenants/{name}/tokens     | issue `{"name"?, "expires_in"?}`      |
//! | DELETE | /v1/tokens/{id}               | revoke                                |
//! | POST   | /v1/tokens/{id}/rotate        | new secret; old works `{"overlap"?}` more |

use std::time::Instant;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::Instrument;
use warp::http::{Method, StatusCode, header};
use warp::reply::Response;

use super::error::ApiError;
use super::request::{BodyError, HttpRequest};
use super::{AdminState, auth, health, reply};
use crate::domain::token::parse_lifetime;
use crate::domain::{
    DomainError, GroupPatchResponse, IdpKind, Normalisation, Quota, TenantName, TokenId,
    UnknownMembers,
};
use crate::scim::dialect::Dialect;

/// Answers one request on the admin listener.
pub async fn handle(state: &AdminState, request: HttpRequest) -> Response {
    let started = Instant::now();
    let span = tracing::info_span!(
        "admin_request",
        request_id = %request.request_id,
        method = %request.method,
        path = %request.path,
    );
    async {
        let mut response = match route(state, &request).await {
            Ok(response) => response,
            Err(error) => {
                if error.is_server_fault() {
                    tracing::error!(error = %error, "admin request failed");
                }
                error.admin_response()
            }
        };
        reply::set_header(
            &mut response,
            header::HeaderName::from_static("x-request-id"),
            &request.request_id,
        );
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "admin request"
        );
        response
    }
    .instrument(span)
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
    #[serde(default)]
    idp: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantChange {
    #[serde(default)]
    idp: Option<String>,
    #[serde(default)]
    settings: Option<SettingsChange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsChange {
    #[serde(default)]
    group_patch_response: Option<GroupPatchResponse>,
    #[serde(default)]
    unknown_members: Option<UnknownMembers>,
    #[serde(default)]
    disabled_normalisations: Option<Vec<Normalisation>>,
    /// `{"per_second": 100, "burst": 200}`, or null for the default.
    #[serde(default, deserialize_with = "present")]
    quota: Option<Option<Quota>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReconcileRequest {
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateToken {
    #[serde(default)]
    overlap: Option<String>,
    #[serde(default)]
    expires_in: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    expires_in: Option<String>,
}

async fn route(state: &AdminState, request: &HttpRequest) -> Result<Response, ApiError> {
    if let Some(response) = health::answer(&request.segments, &state.store).await {
        return Ok(response);
    }
    // Prometheus scrapes without the admin credential; the admin listener belongs on a
    // management network (README.md, "Admin API").
    if request.segments == ["metrics"] && request.method == Method::GET {
        let mut response = warp::reply::Reply::into_response(state.metrics.render());
        reply::set_header(
            &mut response,
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        );
        return Ok(response);
    }
    if matches!(request.segments.as_slice(), [admin] if admin == "admin") {
        return Ok(status_page(state, request).await);
    }
    auth::admin(request, &state.credential_digest)?;
    let store = &state.store;
    let segments: Vec<&str> = request.segments.iter().map(String::as_str).collect();
    let not_allowed = || ApiError::MethodNotAllowed {
        method: request.method.to_string(),
        path: request.path.clone(),
    };
    match (segments.as_slice(), &request.method) {
        (["v1", "tenants"], &Method::GET) => Ok(ok(&store.list_tenants().await?)),
        (["v1", "tenants"], &Method::POST) => {
            let body: NewTenant = json_body(request)?;
            let idp = body
                .idp
                .as_deref()
                .map(str::parse)
                .transpose()?
                .unwrap_or(IdpKind::Generic);
            let tenant = store
                .create_tenant(&TenantName::parse(&body.name)?, idp)
                .await?;
            Ok(reply::json(StatusCode::CREATED, &tenant))
        }
        (["v1", "tenants"], _) => Err(not_allowed()),
        (["v1", "tenants", name], &Method::GET) => Ok(ok(&store.tenant_by_name(name).await?)),
        (["v1", "tenants", name], &Method::PATCH) => {
            let change: TenantChange = json_body(request)?;
            let idp = change.idp.as_deref().map(str::parse).transpose()?;
            let mut settings = store.tenant_by_name(name).await?.settings;
            if let Some(new) = change.settings {
                settings.group_patch_response = new
                    .group_patch_response
                    .unwrap_or(settings.group_patch_response);
                settings.unknown_members = new.unknown_members.unwrap_or(settings.unknown_members);
                if let Some(disabled) = new.disabled_normalisations {
                    settings.disabled_normalisations = disabled;
                }
                if let Some(quota) = new.quota {
                    if quota.is_some_and(|q| q.per_second == 0 || q.burst < q.per_second) {
                        return Err(DomainError::Invalid(
                            "a quota needs per_second ≥ 1 and burst ≥ per_second".into(),
                        )
                        .into());
                    }
                    settings.quota = quota;
                }
            }
            let tenant = store.update_tenant(name, idp, Some(settings)).await?;
            refresh_admission(state).await?;
            Ok(ok(&tenant))
        }
        (["v1", "tenants", _], _) => Err(not_allowed()),
        (["v1", "tenants", name, "normalisations"], &Method::GET) => {
            let tenant = store.tenant_by_name(name).await?;
            let dialect = Dialect::for_kind(tenant.idp_kind)
                .without(&tenant.settings.disabled_normalisations);
            let rows: Vec<_> = Normalisation::ALL
                .iter()
                .map(|n| {
                    json!({
                        "name": n.name(),
                        "enabled": dialect.has(*n),
                        "fired": state.normalisations.count(tenant.id, *n),
                    })
                })
                .collect();
            Ok(ok(
                &json!({"tenant": tenant.name, "idp": tenant.idp_kind, "normalisations": rows}),
            ))
        }
        (["v1", "tenants", _, "normalisations"], _) => Err(not_allowed()),
        (["v1", "tenants", name, action @ ("pause" | "resume")], &Method::POST) => {
            let mut settings = store.tenant_by_name(name).await?.settings;
            settings.paused = *action == "pause";
            let tenant = store.update_tenant(name, None, Some(settings)).await?;
            refresh_admission(state).await?;
            Ok(ok(&tenant))
        }
        (["v1", "tenants", _, "pause" | "resume"], _) => Err(not_allowed()),
        (["v1", "tenants", name, "reconcile"], &Method::POST) => {
            let body: ReconcileRequest = match &request.body {
                Ok(bytes) if bytes.is_empty() => ReconcileRequest::default(),
                _ => json_body(request)?,
            };
            let plan = match body.mode.as_deref() {
                None | Some("apply") => false,
                Some("plan") => true,
                Some(other) => {
                    return Err(DomainError::Invalid(format!(
                        "mode {other:?} is not \"plan\" or \"apply\""
                    ))
                    .into());
                }
            };
            let tenant = store.tenant_by_name(name).await?;
            let reports = state
                .reconciliation
                .run(&tenant, body.target.as_deref(), plan, body.force)
                .await
                .map_err(DomainError::Invalid)?;
            Ok(ok(&reports))
        }
        (["v1", "tenants", _, "reconcile"], _) => Err(not_allowed()),
        (["v1", "tenants", name, "runs"], &Method::GET) => {
            let tenant = store.tenant_by_name(name).await?;
            Ok(ok(&store.runs(Some(tenant.id), 50).await?))
        }
        (["v1", "tenants", _, "runs"], _) => Err(not_allowed()),
        (["v1", "tenants", name, "status"], &Method::GET) => {
            let tenant = store.tenant_by_name(name).await?;
            let mut status = state
                .reconciliation
                .status(&tenant)
                .await
                .map_err(DomainError::Invalid)?;
            let (requests, limited) = state.activity.last_hour(tenant.id, state.clock.now());
            status["requests_last_hour"] = json!(requests);
            status["rate_limited_last_hour"] = json!(limited);
            Ok(ok(&status))
        }
        (["v1", "tenants", _, "status"], _) => Err(not_allowed()),
        (["v1", "tenants", name, "audit"], &Method::GET) => {
            let tenant = store.tenant_by_name(name).await?;
            let number = |key: &str, default: u64| -> Result<u64, ApiError> {
                request.query_param(key).map_or(Ok(default), |v| {
                    v.parse()
                        .map_err(|_| DomainError::Invalid(format!("{key} must be a number")).into())
                })
            };
            let after = number("after", 0)? as i64;
            let limit = number("limit", 100)?.clamp(1, 1000);
            let since = request
                .query_param("since")
                .map(|s| {
                    chrono::DateTime::parse_from_rfc3339(s)
                        .map(|t| t.with_timezone(&chrono::Utc))
                        .map_err(|_| {
                            DomainError::Invalid("since must be an RFC 3339 instant".into())
                        })
                })
                .transpose()?;
            let resource = match request.query_param("user") {
                Some(user_name) => {
                    Some(store.user_id_by_name(tenant.id, user_name).await?.as_uuid())
                }
                None => None,
            };
            let entries = store
                .audit(tenant.id, after, since, resource, limit)
                .await?;
            let next = (entries.len() as u64 == limit)
                .then(|| entries.last().map(|e| e.seq))
                .flatten();
            Ok(ok(&json!({"entries": entries, "next_after": next})))
        }
        (["v1", "tenants", _, "audit"], _) => Err(not_allowed()),
        (["v1", "tenants", name, "permissions"], &Method::GET) => {
            let tenant = store.tenant_by_name(name).await?;
            let model = state
                .reconciliation
                .permissions(&tenant)
                .await
                .map_err(DomainError::Invalid)?;
            let user = request.query_param("user");
            let users: Vec<&serde_json::Value> = model["users"]
                .as_array()
                .map(|u| {
                    u.iter()
                        .filter(|a| user.is_none_or(|n| a["user_name"] == n))
                        .collect()
                })
                .unwrap_or_default();
            Ok(ok(&json!({"teams": model["teams"], "users": users})))
        }
        (["v1", "tenants", _, "permissions"], _) => Err(not_allowed()),
        (["v1", "runs"], &Method::GET) => Ok(ok(&store.runs(None, 50).await?)),
        (["v1", "runs"], _) => Err(not_allowed()),
        (["v1", "tenants", name, "tokens"], &Method::GET) => {
            let tenant = store.tenant_by_name(name).await?;
            Ok(ok(&store.list_tokens(tenant.id).await?))
        }
        (["v1", "tenants", name, "tokens"], &Method::POST) => {
            let body: NewToken = json_body(request)?;
            let lifetime = body.expires_in.as_deref().map(parse_lifetime).transpose()?;
            let tenant = store.tenant_by_name(name).await?;
            let label = body.name.unwrap_or_else(|| "token".to_owned());
            let issued = store.create_token(tenant.id, &label, lifetime).await?;
            let body = json!({"token": issued.token, "secret": issued.secret.expose()});
            Ok(reply::json(StatusCode::CREATED, &body))
        }
        (["v1", "tenants", _, "tokens"], _) => Err(not_allowed()),
        (["v1", "tokens", id, "rotate"], &Method::POST) => {
            let id: TokenId = id
                .parse()
                .map_err(|_| DomainError::not_found("token", id))?;
            let body: RotateToken = match &request.body {
                Ok(bytes) if bytes.is_empty() => RotateToken::default(),
                _ => json_body(request)?,
            };
            let overlap = parse_lifetime(body.overlap.as_deref().unwrap_or("24h"))?;
            let lifetime = body.expires_in.as_deref().map(parse_lifetime).transpose()?;
            let (issued, old) = store.rotate_token(id, overlap, lifetime).await?;
            let body = json!({"token": issued.token, "secret": issued.secret.expose(), "old": old});
            Ok(reply::json(StatusCode::CREATED, &body))
        }
        (["v1", "tokens", _, "rotate"], _) => Err(not_allowed()),
        (["v1", "tokens", id], &Method::DELETE) => {
            let id: TokenId = id
                .parse()
                .map_err(|_| DomainError::not_found("token", id))?;
            Ok(ok(&store.revoke_token(id).await?))
        }
        (["v1", "tokens", _], _) => Err(not_allowed()),
        _ => Err(ApiError::NoEndpoint(request.path.clone())),
    }
}

/// `/admin/`, for a browser: asks for the admin credential as a Basic password.
async fn status_page(state: &AdminState, request: &HttpRequest) -> Response {
    if auth::admin_in_browser(request, &state.credential_digest).is_err() {
        let mut response = reply::html(
            StatusCode::UNAUTHORIZED,
            "<!doctype html><p>The admin credential is the password (any user name).</p>".into(),
        );
        reply::set_header(
            &mut response,
            header::WWW_AUTHENTICATE,
            "Basic realm=\"dirsync admin\"",
        );
        return response;
    }
    let now = state.clock.now();
    let mut tenants = Vec::new();
    let mut marks = Vec::new();
    let all = state.store.list_tenants().await.unwrap_or_default();
    for tenant in &all {
        let Ok(mut status) = state.reconciliation.status(tenant).await else {
            continue;
        };
        let (requests, limited) = state.activity.last_hour(tenant.id, now);
        status["requests_last_hour"] = json!(requests);
        status["rate_limited_last_hour"] = json!(limited);
        tenants.push(super::status_page::TenantRow { status });
    }
    for run in state.store.runs(None, 200).await.unwrap_or_default() {
        let tenant = all
            .iter()
            .find(|t| t.id == run.tenant_id)
            .map(|t| t.name.to_string())
            .unwrap_or_default();
        marks.push(super::status_page::RunMark {
            at: run.started_at,
            outcome: run.status,
            tenant,
            target: run.target,
        });
    }
    let html = super::status_page::render(&tenants, &state.activity.per_minute(now), &marks, now);
    reply::html(StatusCode::OK, html)
}

/// Applies tenants' quotas and pauses to this process at once.
async fn refresh_admission(state: &AdminState) -> Result<(), ApiError> {
    let tenants = state.store.list_tenants().await?;
    state.quotas.set_paused(
        tenants
            .iter()
            .filter(|t| t.settings.paused)
            .map(|t| t.id)
            .collect(),
    );
    state.quotas.set_overrides(
        tenants
            .into_iter()
            .filter_map(|t| t.settings.quota.map(|q| (t.id, q)))
            .collect(),
    );
    Ok(())
}

fn ok(value: &impl serde::Serialize) -> Response {
    reply::json(StatusCode::OK, value)
}

fn json_body<T: DeserializeOwned>(request: &HttpRequest) -> Result<T, ApiError> {
    let body = match &request.body {
        Ok(body) => body,
        Err(BodyError::TooLarge(limit)) => return Err(ApiError::PayloadTooLarge(*limit)),
        Err(BodyError::Unreadable) => return Err(ApiError::UnreadableBody),
    };
    serde_json::from_slice(body).map_err(|e| {
        DomainError::Invalid(format!(
            "the request body is not what this endpoint takes: {e}"
        ))
        .into()
    })
}
