//! Opening the database and bringing its schema up to date.

use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

use super::inline::{Inline, InlineReads, InlineWriter};
use super::{Store, error};
use crate::clock::SharedClock;
use crate::configuration::{DatabaseSettings, DatabaseUrl};
use crate::domain::DomainError;

/// The database behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The database could not be reached or opened.
    #[error("cannot open the database at {url}: {reason}")]
    Open {
        /// Where, password redacted.
        url: String,
        /// What the driver said.
        reason: String,
    },
    /// The schema could not be brought up to date.
    #[error("cannot migrate the database at {url}: {reason}")]
    Migrate {
        /// Where, password redacted.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// An arbitrary constant: the PostgreSQL advisory lock that serialises migrations when several
/// replicas start at once.
const MIGRATION_LOCK_KEY: i64 = 0x6469_7273_796e_6301;

/// Page cache per connection. Every connection keeps its own, so sixteen readers at SQLite's
/// default of 2 MiB each would hold more memory than the rest of the daemon; the kernel's page
/// cache serves the pages they do not keep. The writer keeps more, for the index pages every
/// insert walks.
const READER_CACHE_KIB: u32 = 512;
const WRITER_CACHE_KIB: u32 = 8 * 1024;
/// The inline writer (`inline::InlineWriter`) writes only user creates: the users table, its
/// indexes and the change log.
const INLINE_WRITER_CACHE_KIB: u32 = 4 * 1024;

/// Point reads run on the runtime's worker threads, one per core, so they need no more
/// connections than cores (at least two, at most the configured pool size): each keeps its own
/// page cache, and idle ones would only hold memory.
fn inline_readers(max_connections: u32) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    cores.max(2).min(max_connections.max(1) as usize)
}

/// sqlx pings every connection that comes back to the pool, and by default again on checkout:
/// a second round trip per query. A PostgreSQL connection is pinged on checkout only after this
/// long idle, when a restart, a proxy or a firewall may have cut it; a recently used one that
/// turns out dead fails its query (503) and is dropped.
const POSTGRES_PING_WHEN_IDLE: Duration = Duration::from_secs(5);

/// How long SQLite waits for another process's write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite's "unable to open database file" does not say why; the operating system does. The
/// database, its WAL and its shared-memory file must all be writable, so try the directory.
fn explain_sqlite_open(path: &std::path::Path, reason: String) -> String {
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let probe = directory.join(format!(".dirsync-write-check-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            reason
        }
        Err(e) => format!("{reason} ({} cannot be written: {e})", directory.display()),
    }
}

/// Whether the SQLite behind `connection` was built with the query planner stability guarantee
/// (`.cargo/config.toml` sets it). Without it, SQLite compiles a statement again every time a
/// value is bound to its `LIMIT ?`, even the same value: sea-orm's `.one()` and every page.
async fn sqlite_keeps_plans(connection: &DatabaseConnection) -> Result<bool, sea_orm::DbErr> {
    let found = connection
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT 1 FROM pragma_compile_options WHERE compile_options = 'ENABLE_QPSG'",
        ))
        .await?;
    Ok(found.is_some())
}

/// Only a warning: the daemon is correct without it, a third slower at reads. A failing query
/// here says nothing about the option, and the migration that follows reports the database.
async fn warn_unless_sqlite_keeps_plans(connection: &DatabaseConnection) {
    if let Ok(false) = sqlite_keeps_plans(connection).await {
        tracing::warn!(
            "this build's SQLite lacks SQLITE_ENABLE_QPSG (set in .cargo/config.toml): every \
             query with a LIMIT is compiled again on each use, which costs a third of read \
             throughput; build dirsync from its repository directory"
        );
    }
}

impl Store {
    /// Opens the configured database. Does not migrate; call [`Store::migrate`].
    pub async fn connect(
        settings: &DatabaseSettings,
        clock: SharedClock,
    ) -> Result<Store, ConnectError> {
        let open_error = |reason: String| ConnectError::Open {
            url: settings.url.redacted(),
            reason,
        };
        match &settings.url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        open_error(format!("cannot create directory {}: {e}", parent.display()))
                    })?;
                }
                let open = |max_connections: u32, cache_kib: u32| {
                    let path = path.clone();
                    // The URL only selects the driver; the path is set below, so no character in
                    // it needs URL escaping.
                    let mut options = ConnectOptions::new("sqlite://dirsync.db");
                    options
                        .max_connections(max_connections)
                        .acquire_timeout(settings.connect_timeout)
                        // A file has no server or network to drop the connection, so the
                        // pool's ping on every checkout is a wasted round trip.
                        .test_before_acquire(false)
                        .sqlx_logging(false)
                        .map_sqlx_sqlite_opts(move |o| {
                            o.filename(path.clone())
                                .create_if_missing(true)
                                // WAL lets readers run beside the writer; NORMAL sync keeps
                                // every committed transaction across a process crash (only
                                // power loss can take the last ones).
                                .journal_mode(SqliteJournalMode::Wal)
                                .synchronous(SqliteSynchronous::Normal)
                                .foreign_keys(true)
                                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                                // A negative size is in KiB (https://sqlite.org/pragma.html#pragma_cache_size).
                                .pragma("cache_size", format!("-{cache_kib}"))
                        });
                    Database::connect(options)
                };
                let writer = open(1, WRITER_CACHE_KIB)
                    .await
                    .map_err(|e| open_error(explain_sqlite_open(path, e.to_string())))?;
                let reader = open(settings.max_connections, READER_CACHE_KIB)
                    .await
                    .map_err(|e| open_error(e.to_string()))?;
                warn_unless_sqlite_keeps_plans(&reader).await;
                let inline = Inline {
                    reads: InlineReads::open(
                        path,
                        inline_readers(settings.max_connections),
                        READER_CACHE_KIB,
                        SQLITE_BUSY_TIMEOUT,
                    )
                    .map_err(|e| open_error(e.to_string()))?,
                    scans: InlineReads::open(path, 2, READER_CACHE_KIB, SQLITE_BUSY_TIMEOUT)
                        .map_err(|e| open_error(e.to_string()))?,
                    writer: InlineWriter::open(
                        path,
                        writer.get_sqlite_connection_pool().clone(),
                        INLINE_WRITER_CACHE_KIB,
                    )
                    .map_err(|e| open_error(e.to_string()))?,
                };
                Ok(Store {
                    reader,
                    inline: Some(std::sync::Arc::new(inline)),
                    writer,
                    backend: Backend::Sqlite,
                    clock,
                    creates: Default::default(),
                    listings: Default::default(),
                    shapes: Default::default(),
                })
            }
            DatabaseUrl::Postgres(url) => {
                let mut options = ConnectOptions::new(url.expose());
                options
                    .max_connections(settings.max_connections)
                    .connect_timeout(settings.connect_timeout)
                    .acquire_timeout(settings.connect_timeout)
                    .test_before_acquire_if_idle_for(POSTGRES_PING_WHEN_IDLE)
                    .sqlx_logging(false);
                let pool = Database::connect(options)
                    .await
                    .map_err(|e| open_error(e.to_string()))?;
                Ok(Store {
                    reader: pool.clone(),
                    inline: None,
                    writer: pool,
                    backend: Backend::Postgres,
                    clock,
                    creates: Default::default(),
                    listings: Default::default(),
                    shapes: Default::default(),
                })
            }
        }
    }

    /// Applies pending migrations. Safe to call from several processes at once: on PostgreSQL an
    /// advisory lock, on SQLite the write lock, lets one migrate while the others wait and then
    /// find nothing left to do.
    pub async fn migrate(&self) -> Result<(), DomainError> {
        let transaction = self.write().await?;
        if self.backend == Backend::Postgres {
            transaction
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_advisory_xact_lock($1)",
                    [MIGRATION_LOCK_KEY.into()],
                ))
                .await
                .map_err(error::classify)?;
        }
        Migrator::up(&transaction, None)
            .await
            .map_err(error::classify)?;
        transaction.commit().await.map_err(error::classify)
    }

    /// Opens the database and migrates it: what every command that uses the store does first.
    pub async fn open(
        settings: &DatabaseSettings,
        clock: SharedClock,
    ) -> Result<Store, ConnectError> {
        let store = Self::connect(settings, clock).await?;
        store.migrate().await.map_err(|e| ConnectError::Migrate {
            url: settings.url.redacted(),
            reason: e.to_string(),
        })?;
        Ok(store)
    }

    /// The pool that serves reads.
    pub(crate) fn reader(&self) -> &DatabaseConnection {
        &self.reader
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::SystemClock;

    #[tokio::test]
    async fn the_sqlite_built_here_keeps_statements_with_a_bound_limit_prepared() {
        let directory = tempfile::tempdir().unwrap();
        let settings = DatabaseSettings {
            url: DatabaseUrl::Sqlite(directory.path().join("dirsync.db")),
            max_connections: 1,
            connect_timeout: Duration::from_secs(5),
        };
        let store = Store::connect(&settings, Arc::new(SystemClock))
            .await
            .unwrap();
        assert!(sqlite_keeps_plans(store.reader()).await.unwrap());
    }
}
