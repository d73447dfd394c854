//! Persistence on sea-orm: SQLite (embedded default) or PostgreSQL. Every method takes and returns
//! domain types; `DbErr` is classified into `DomainError` here and goes no further.
//!
//! Every write runs in one transaction together with its change-log row (the outbox the
//! reconciler follows), so a change and its record commit or vanish together. On SQLite, user
//! creates that arrive together share one such transaction (`user_creates`).

mod change_log;
mod connect;
mod entity;
mod error;
mod groups;
mod links;
mod listing;
mod members;
mod query;
mod run_lock;
mod sync_state;
mod tenants;
mod tokens;
mod user_creates;
mod user_reads;
mod users;

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

use crate::clock::SharedClock;
use crate::domain::DomainError;
pub use connect::{Backend, ConnectError};
pub use links::{HELD_LINKS, LINK_BATCH, LINK_LOOKUP, LinkRecording};
pub use members::MemberResolution;
pub use run_lock::RunLock;
pub use sync_state::{Paged, Pages};
pub use tokens::{AuthFailure, Authenticated, NewToken};

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    /// Serves reads. On SQLite a pool of read connections, which WAL lets run beside the writer.
    reader: DatabaseConnection,
    /// Serves write transactions. On SQLite a single connection: SQLite has one writer at a time
    /// anyway, and queueing in the pool is far cheaper than SQLite's sleep-and-retry busy handler.
    /// On PostgreSQL the same pool as `reader`.
    writer: DatabaseConnection,
    backend: Backend,
    clock: SharedClock,
    /// User creates waiting to be written together.
    creates: std::sync::Arc<user_creates::CreateQueue>,
}

impl Store {
    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers; for `/readyz`.
    pub async fn ping(&self) -> Result<(), DomainError> {
        self.reader.ping().await.map_err(error::classify)
    }

    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`, which takes the write lock
    /// up front: a deferred transaction that reads first and writes later can fail with
    /// SQLITE_BUSY when another process (the CLI beside the daemon) wrote in between.
    async fn write(&self) -> Result<DatabaseTransaction, DomainError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        self.writer
            .begin_with_options(options)
            .await
            .map_err(error::classify)
    }

    /// Closes every connection; pending writes have finished when this returns.
    pub async fn close(self) {
        let _ = self.writer.close().await;
        let _ = self.reader.close().await;
    }
}
