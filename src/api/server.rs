//! The SCIM listener's accept loop, for plain HTTP and HTTPS alike: hyper serves each
//! connection (HTTP/1.1 or HTTP/2) with the warp service.
//!
//! Connections are bounded, because each one holds a task and buffers and an IdP (or anyone
//! who can reach the port) could open thousands: at most `max_connections` are served at once,
//! and one more is answered `503` with `Retry-After` and closed rather than left to queue
//! unseen. A connection must send a complete request header within `HEADER_READ_TIMEOUT`, and
//! a TLS client must finish its handshake within `HANDSHAKE_TIMEOUT`, so idle or slow clients
//! cannot keep their slots.
//!
//! Shutdown mirrors warp's: stop accepting when the token is cancelled, then wait for the
//! connections in flight to finish their requests.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use warp::Filter;
use warp::hyper;

use super::error::ApiError;
use super::{ScimState, scim_service};

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// At most one log line per this long about refused connections.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// How long a connection may take to send a request's header (HTTP/1.1).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves the SCIM API on `listener` (over TLS with `tls`) until `shutdown` is cancelled.
pub async fn serve_scim(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    state: Arc<ScimState>,
    max_connections: usize,
    shutdown: CancellationToken,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let service = warp::service(scim_service(state));
    let refusal = warp::service(warp::any().map(|| ApiError::TooManyConnections.scim_response()));
    let slots = Arc::new(Semaphore::new(max_connections));
    // Refusals are logged at most once per `REFUSAL_LOG_INTERVAL`, with how many there were:
    // a flood of connections must not become a flood of log lines.
    let mut refused = 0_u64;
    let mut last_logged: Option<tokio::time::Instant> = None;
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::debug!(error = %e, "accepting a connection failed");
                    continue;
                }
            },
        };
        let slot = slots.clone().try_acquire_owned().ok();
        if slot.is_none() {
            refused += 1;
            let now = tokio::time::Instant::now();
            if last_logged.is_none_or(|at| now - at >= REFUSAL_LOG_INTERVAL) {
                tracing::warn!(%peer, max_connections, refused, "connections refused: too many open");
                refused = 0;
                last_logged = Some(now);
            }
        }
        let (acceptor, watcher) = (acceptor.clone(), graceful.watcher());
        let service = service.clone();
        tokio::spawn(async move {
            let keep_alive = slot.is_some();
            // The slot is held for as long as the connection is served.
            let _slot = slot;
            match acceptor {
                None if keep_alive => serve(stream, hyper_service(service), true, watcher).await,
                None => serve(stream, hyper_service(refusal), false, watcher).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                    let tls = match handshake.await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    if keep_alive {
                        serve(tls, hyper_service(service), true, watcher).await;
                    } else {
                        serve(tls, hyper_service(refusal), false, watcher).await;
                    }
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

fn hyper_service<S>(service: S) -> TowerToHyperService<S> {
    TowerToHyperService::new(service)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves one connection with `service`; `keep_alive` false closes it after one answer.
async fn serve<I, S, B>(io: I, service: S, keep_alive: bool, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<B>,
        > + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(keep_alive);
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .into_owned();
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
