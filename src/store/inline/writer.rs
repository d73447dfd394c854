//! A write transaction on the calling thread, for the batches of user creates an IdP's first
//! cycle sends (`user_creates`).
//!
//! Through sqlx a batch is six round trips to the writer connection's thread: BEGIN, the users'
//! INSERT, the change log's INSERT, COMMIT, and the ping when the connection goes back to the
//! pool. With the machine busy serving the requests, each round trip waits for a core, and the
//! batches, not SQLite, bounded creates. Here the batch is written by a connection of its own.
//!
//! SQLite has one writer at a time. Two writer connections in one process would meet inside
//! SQLite's lock, and the loser would sleep in the busy handler for a millisecond or more. So
//! the batches first take sqlx's writer connection out of its pool (one connection: holding it
//! is the process's turn to write) and hold it, idle, while they are written here. Another process
//! (the CLI beside the daemon) may still hold SQLite's lock; this connection does not wait for
//! it on the runtime's thread (no busy timeout) but fails, and the caller writes through sqlx,
//! whose busy handler waits on sqlx's thread.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::Connection;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{Sqlite, SqlitePool};
use sea_orm::{DbErr, Statement};
use serde::de::DeserializeOwned;

use super::{execute, open, query_error, rows};

/// The writer for create batches.
pub(in crate::store) struct InlineWriter {
    /// sqlx's writer pool, of one connection.
    turn: SqlitePool,
    connection: Mutex<Connection>,
}

impl std::fmt::Debug for InlineWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineWriter").finish_non_exhaustive()
    }
}

/// A write transaction on the inline writer.
pub(in crate::store) struct InlineTransaction<'c>(&'c Connection);

impl InlineTransaction<'_> {
    /// The rows `statement` returns (an INSERT … RETURNING), each deserialised into `R`.
    pub(in crate::store) fn rows<R: DeserializeOwned>(
        &self,
        statement: &Statement,
    ) -> Result<Vec<R>, DbErr> {
        rows(self.0, statement)
    }

    /// Runs a statement that returns nothing.
    pub(in crate::store) fn execute(&self, statement: &Statement) -> Result<usize, DbErr> {
        execute(self.0, statement)
    }
}

impl InlineWriter {
    /// Opens the writer's connection beside sqlx's writer pool `turn`.
    pub(in crate::store) fn open(
        path: &Path,
        turn: SqlitePool,
        cache_kib: u32,
    ) -> Result<InlineWriter, rusqlite::Error> {
        let connection = open(path, cache_kib, Duration::ZERO)?;
        // As sqlx's writer is opened (`store::connect`): NORMAL sync in WAL mode keeps every
        // commit across a process crash without an fsync per commit, and the foreign keys hold
        // (a create racing its tenant's deletion fails rather than leaving an orphan).
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "foreign_keys", true)?;
        Ok(InlineWriter {
            turn,
            connection: Mutex::new(connection),
        })
    }

    /// Takes the process's turn to write: sqlx's writer connection, held idle until the turn
    /// is dropped. A turn serves any number of transactions, so creates that keep arriving
    /// are written batch after batch without giving the connection back between them (each
    /// return to sqlx's pool is a ping on sqlx's thread, which the next batch waited for).
    pub(in crate::store) async fn turn(&self) -> Result<WriteTurn<'_>, DbErr> {
        let held = self.turn.acquire().await.map_err(|e| {
            DbErr::Conn(sea_orm::RuntimeErr::Internal(format!(
                "cannot take the writer connection: {e}"
            )))
        })?;
        Ok(WriteTurn {
            writer: self,
            _held: held,
        })
    }
}

/// The process's turn to write (see [`InlineWriter::turn`]).
pub(in crate::store) struct WriteTurn<'w> {
    writer: &'w InlineWriter,
    /// No sqlx write of this process can start while it is held; dropping it gives the
    /// connection back to sqlx's pool.
    _held: PoolConnection<Sqlite>,
}

impl WriteTurn<'_> {
    /// Runs `work` in one IMMEDIATE transaction and commits it; on any failure, including
    /// another process holding SQLite's lock, rolls it back and says why.
    pub(in crate::store) fn transaction<T>(
        &self,
        work: impl FnOnce(&InlineTransaction<'_>) -> Result<T, DbErr>,
    ) -> Result<T, DbErr> {
        let connection = self
            .writer
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        connection
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(query_error)?;
        let done = work(&InlineTransaction(&connection));
        let ended = match &done {
            Ok(_) => connection.execute_batch("COMMIT"),
            Err(_) => connection.execute_batch("ROLLBACK"),
        };
        if let Err(e) = ended {
            // A failed COMMIT leaves the transaction open in some cases
            // (https://sqlite.org/lang_transaction.html); end it so the next batch can begin.
            if !connection.is_autocommit() {
                let _ = connection.execute_batch("ROLLBACK");
            }
            return Err(query_error(e));
        }
        done
    }
}
