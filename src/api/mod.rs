//! The HTTP surface, on warp: the SCIM API and the admin API, each on its own listener, plus
//! health endpoints on both. Handlers are thin: extract, authorize, one store call, map.

pub mod activity;
mod admin;
mod auth;
mod error;
mod health;
mod normalisations;
mod reply;
mod request;
mod scim;
mod server;
mod status_page;
pub mod tls;

pub use server::serve_scim;

use std::sync::Arc;

use warp::reply::Response;
use warp::{Filter, Rejection};

pub use error::ApiError;
pub use normalisations::NormalisationCounts;

use crate::clock::SharedClock;
use crate::scim::resource::Urls;
use crate::store::Store;

/// What the SCIM handlers share.
#[derive(Debug)]
pub struct ScimState {
    /// The store.
    pub store: Store,
    /// Public URLs of resources.
    pub urls: Urls,
    /// Path segments of the SCIM base path (`["api", "scim", "v2"]`).
    pub base_segments: Vec<String>,
    /// Largest request body.
    pub max_body_bytes: u64,
    /// What discovery advertises and Bulk enforces.
    pub limits: crate::scim::discovery::Limits,
    /// Normalisations fired, per tenant.
    pub normalisations: Arc<NormalisationCounts>,
    /// Per-tenant request quotas.
    pub quotas: Arc<crate::ratelimit::RateLimits>,
    /// What `/metrics` reports.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Requests per tenant over the last hour.
    pub activity: Arc<activity::Activity>,
    /// The clock.
    pub clock: SharedClock,
}

/// What the admin handlers share.
#[derive(Debug)]
pub struct AdminState {
    /// The store.
    pub store: Store,
    /// SHA-256 of the admin credential; the credential itself is not kept.
    pub credential_digest: String,
    /// Largest request body.
    pub max_body_bytes: u64,
    /// Normalisations fired, per tenant (shared with the SCIM listener).
    pub normalisations: Arc<NormalisationCounts>,
    /// Per-tenant request quotas (shared with the SCIM listener, so a quota set here applies
    /// at once).
    pub quotas: Arc<crate::ratelimit::RateLimits>,
    /// What `/metrics` reports.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Runs reconciliation on request.
    pub reconciliation: Arc<dyn Reconciliation>,
    /// Requests per tenant over the last hour (shared with the SCIM listener).
    pub activity: Arc<activity::Activity>,
    /// The clock.
    pub clock: SharedClock,
}

/// What the admin API needs of reconciliation; the app implements it over the reconciler, so
/// the HTTP layer does not depend on the sync engine.
#[async_trait::async_trait]
pub trait Reconciliation: Send + Sync + std::fmt::Debug {
    /// Runs one step per target of the tenant (or only `target`), in plan or apply mode, and
    /// answers the reports as JSON; an error is a sentence for the caller.
    async fn run(
        &self,
        tenant: &crate::domain::Tenant,
        target: Option<&str>,
        plan: bool,
        force: bool,
    ) -> Result<serde_json::Value, String>;

    /// The tenant's status as JSON (see `dirsync status`).
    async fn status(&self, tenant: &crate::domain::Tenant) -> Result<serde_json::Value, String>;

    /// The tenant's Qualytics permission model as JSON; an error when none is configured.
    async fn permissions(
        &self,
        tenant: &crate::domain::Tenant,
    ) -> Result<serde_json::Value, String>;
}

/// The SCIM listener's service.
pub fn scim_service(
    state: Arc<ScimState>,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    request::extract(state.max_body_bytes).then(move |request| {
        let state = state.clone();
        async move { scim::handle(&state, request).await }
    })
}

/// The admin listener's service.
pub fn admin_service(
    state: Arc<AdminState>,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    request::extract(state.max_body_bytes).then(move |request| {
        let state = state.clone();
        async move { admin::handle(&state, request).await }
    })
}

/// Serves the admin API on `listener` until `shutdown` is cancelled. It is for operators on a
/// management network, so warp's own server suffices: no TLS, no connection cap.
pub async fn serve_admin(
    listener: tokio::net::TcpListener,
    state: Arc<AdminState>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    warp::serve(admin_service(state))
        .incoming(listener)
        .graceful(shutdown.cancelled_owned())
        .run()
        .await;
}

/// `GET /hello` answering a constant: the benchmark's ceiling for loopback HTTP on this
/// machine, served by the same stack as the SCIM API so figures can be read as a fraction of it.
pub async fn serve_hello(
    listener: tokio::net::TcpListener,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let hello = warp::path!("hello")
        .and(warp::get())
        .map(|| Response::new("hello".into()));
    warp::serve(hello)
        .incoming(listener)
        .graceful(shutdown.cancelled_owned())
        .run()
        .await;
}
