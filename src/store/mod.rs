//! Persistence on sea-orm: SQLite (embedded default) or PostgreSQL. Every method takes and returns
//! domain types; `DbErr` is classified into `DomainError` here and goes no further.
//!
//! Every write runs in one transaction together with its change-log row (the outbox the
//! reconciler follows), so a change and its record commit or vanish together. On SQLite, user
//! creates that arrive together share one such transaction (`user_creates`).
//!
//! On SQLite, reads and the create batches go through rusqlite (`inline`): point reads on the
//! calling thread, pages on a blocking thread, because sqlx's hand-off of each statement and
//! each row to a connection thread of its own cost more than SQLite did. sea-orm still builds
//! every statement; other writes, counts and transactions stay on sqlx.

mod change_log;
mod connect;
mod entity;
mod error;
mod groups;
mod inline;
mod links;
mod listing;
mod listing_memo;
mod members;
mod query;
mod run_lock;
mod scratch;
mod shaped;
mod sync_state;
mod tenants;
mod tokens;
mod user_creates;
mod user_reads;
mod users;

use sea_orm::sea_query::SelectStatement;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, FromQueryResult,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use serde::de::DeserializeOwned;

use crate::clock::SharedClock;
use crate::domain::DomainError;
pub use connect::{Backend, ConnectError};
pub use links::{HELD_LINKS, LINK_BATCH, LINK_LOOKUP, LinkRecording};
pub use members::MemberResolution;
pub use run_lock::RunLock;
pub use scratch::{PendingGroup, Print, Scratch, SummaryRow};
pub use sync_state::{Paged, Pages};
pub use tokens::{AuthFailure, Authenticated, NewToken};

/// Selects every column of `entity` as `prefix.column`, which a row type reads as a nested
/// model (`#[sea_orm(nested(prefix = "prefix."))]`, and a nested object for serde).
fn select_nested<E: sea_orm::EntityTrait>(query: &mut SelectStatement, entity: E, prefix: &str) {
    use sea_orm::sea_query::{Alias, Expr};
    use sea_orm::{IdenStatic, Iterable};
    for column in E::Column::iter() {
        query.expr_as(
            Expr::col((entity, column)),
            Alias::new(format!("{prefix}.{}", column.as_str())),
        );
    }
}

/// Which connection a read goes through.
#[derive(Clone, Copy)]
pub(crate) enum Via<'a> {
    /// A few rows found through an index (`Store::read_rows`).
    Point,
    /// Many rows (`Store::scan_rows`).
    Scan,
    /// The transaction of the write it is part of.
    Transaction(&'a DatabaseTransaction),
}

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    /// Serves reads. On SQLite a pool of read connections, which WAL lets run beside the writer.
    reader: DatabaseConnection,
    /// On SQLite, connections used on the calling thread: point reads (`read_rows`) and batches
    /// of creates (`user_creates`).
    inline: Option<std::sync::Arc<inline::Inline>>,
    /// Serves write transactions. On SQLite a single connection: SQLite has one writer at a time
    /// anyway, and queueing in the pool is far cheaper than SQLite's sleep-and-retry busy handler.
    /// On PostgreSQL the same pool as `reader`.
    writer: DatabaseConnection,
    backend: Backend,
    clock: SharedClock,
    /// User creates waiting to be written together.
    creates: std::sync::Arc<user_creates::CreateQueue>,
    /// Totals and page ends of recent listings.
    listings: std::sync::Arc<listing_memo::ListingMemo>,
    /// The SQL of the reads every GET by id makes.
    shapes: std::sync::Arc<shaped::ShapedStatements>,
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

    /// What changes whenever anything is committed, by any connection of any process: SQLite's
    /// `data_version` on one read connection, or PostgreSQL's current snapshot. A snapshot's
    /// `xmax` moves past every transaction that writes, and its list of running ones loses each
    /// that commits, so two equal snapshots mean nothing was committed in between. The listing
    /// memo holds only while this is unchanged (`listing_memo`).
    async fn data_version(&self) -> Result<String, DomainError> {
        if let Some(inline) = &self.inline {
            let version = inline.reads.data_version().map_err(error::classify)?;
            return Ok(version.to_string());
        }
        let statement = sea_orm::Statement::from_string(
            self.reader.get_database_backend(),
            "SELECT pg_current_snapshot()::text AS version",
        );
        let row = self
            .reader
            .query_one_raw(statement)
            .await
            .map_err(error::classify)?
            .ok_or_else(|| DomainError::Internal("PostgreSQL returned no snapshot".into()))?;
        row.try_get::<String>("", "version")
            .map_err(error::classify)
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

    /// Rows of a read that finds a few rows through an index, decoded as `R`: on SQLite on this
    /// thread (`inline`), on PostgreSQL through the pool. Reads of many rows go through
    /// `reader`, so they never hold a runtime worker.
    async fn read_rows<R>(&self, query: &SelectStatement) -> Result<Vec<R>, DomainError>
    where
        R: FromQueryResult + DeserializeOwned,
    {
        self.read_statement(self.reader.get_database_backend().build(query))
            .await
    }

    /// The same for a read of a fixed shape, whose SQL is built once (`shaped`): `values` are
    /// its values in the order of its placeholders, and `build` makes the whole statement.
    async fn read_shaped<R>(
        &self,
        shape: shaped::Shape,
        values: Vec<sea_orm::Value>,
        build: impl FnOnce() -> SelectStatement,
    ) -> Result<Vec<R>, DomainError>
    where
        R: FromQueryResult + DeserializeOwned,
    {
        let backend = self.reader.get_database_backend();
        let statement = self.shapes.statement(backend, shape, values, build)?;
        self.read_statement(statement).await
    }

    async fn read_statement<R>(&self, statement: sea_orm::Statement) -> Result<Vec<R>, DomainError>
    where
        R: FromQueryResult + DeserializeOwned,
    {
        match &self.inline {
            Some(inline) => inline.reads.rows(&statement),
            None => R::find_by_statement(statement).all(&self.reader).await,
        }
        .map_err(error::classify)
    }

    /// Rows of a read of many rows (a list page, a page of a whole tenant, members of groups,
    /// links), decoded as `R`: on SQLite on a blocking thread through connections of their own
    /// (`inline`), a page in one hand-off where sqlx hands each row over on its own; on
    /// PostgreSQL through the pool.
    async fn scan_rows<R>(&self, query: &SelectStatement) -> Result<Vec<R>, DomainError>
    where
        R: FromQueryResult + DeserializeOwned + Send + 'static,
    {
        let statement = self.reader.get_database_backend().build(query);
        match &self.inline {
            Some(inline) => {
                let inline = inline.clone();
                tokio::task::spawn_blocking(move || inline.scans.rows(&statement))
                    .await
                    .map_err(|e| DomainError::Internal(format!("a read stopped: {e}")))?
            }
            None => R::find_by_statement(statement).all(&self.reader).await,
        }
        .map_err(error::classify)
    }

    /// Rows of `query` decoded as `R`, through `via`.
    async fn rows_via<R>(
        &self,
        via: Via<'_>,
        query: &SelectStatement,
    ) -> Result<Vec<R>, DomainError>
    where
        R: FromQueryResult + DeserializeOwned + Send + 'static,
    {
        match via {
            Via::Point => self.read_rows(query).await,
            Via::Scan => self.scan_rows(query).await,
            Via::Transaction(transaction) => {
                let statement = transaction.get_database_backend().build(query);
                R::find_by_statement(statement)
                    .all(transaction)
                    .await
                    .map_err(error::classify)
            }
        }
    }

    /// Closes every connection; pending writes have finished when this returns.
    pub async fn close(self) {
        let _ = self.writer.close().await;
        let _ = self.reader.close().await;
    }
}
