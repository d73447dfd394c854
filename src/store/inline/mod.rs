//! SQLite through rusqlite: point reads on the calling thread, scans on a blocking thread, and
//! batches of creates in `writer`.
//!
//! sqlx runs each SQLite connection on a thread of its own: every query is handed to that thread
//! and its rows handed back one by one, and sqlx pings the connection (another round trip) each
//! time it goes back to the pool. A GET by id was two queries, so eight thread wake-ups for two
//! lookups that take SQLite microseconds; on two cores the wake-ups, not SQLite, held reads to
//! a tenth of what the machine's loopback HTTP can do. So:
//! - the reads the SCIM API makes on every request (the token, a user by id, a lookup by key)
//!   run on the task's own thread (`Store::read_rows`), through one connection per core that
//!   stays open with its statements prepared. Only reads of a few rows found through an index
//!   come this way: a read holds its runtime worker while it lasts;
//! - reads of many rows (pages of a tenant, members of groups, links) run on a blocking thread
//!   through connections of their own (`Store::scan_rows`): a page in one hand-off;
//! - user creates are written in batches by `writer`.
//!
//! The read connections cannot write (`query_only`). In WAL mode a read sees every transaction
//! committed before it started, through sqlx's writer or the inline one.
//!
//! sea-orm builds the statements. Rows come back as `serde_json` maps, by the type the schema
//! declares for each column, and are deserialised into the same row types sea-orm decodes on
//! PostgreSQL (`Store::read_rows`). A column aliased `prefix.column` lands in the nested object
//! `prefix`, as sea-orm's `nested(prefix = "prefix.")` reads it. (sea-orm's proxy connection
//! would let sea-orm decode these rows itself, but in sea-orm 2.0.4 its `proxy` feature does not
//! build together with `sqlx-sqlite`.)

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::SecondsFormat;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use sea_orm::{DbErr, RuntimeErr, Statement, Value};
use serde::de::DeserializeOwned;
use serde::de::value::MapDeserializer;
use serde_json::{Map, Value as Json};

mod writer;

pub(super) use writer::{InlineWriter, WriteTurn};

/// Prepared statements kept per connection: every distinct statement it runs, with room.
const KEPT_STATEMENTS: usize = 64;

/// The SQLite connections used through rusqlite.
#[derive(Debug)]
pub(super) struct Inline {
    /// For point reads.
    pub(super) reads: InlineReads,
    /// For reads of many rows, on blocking threads.
    pub(super) scans: InlineReads,
    /// For batches of creates.
    pub(super) writer: InlineWriter,
}

/// A few SQLite connections, each used by one thread at a time.
pub(super) struct InlineReads {
    connections: Box<[Mutex<Connection>]>,
    next: AtomicUsize,
}

impl std::fmt::Debug for InlineReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineReads")
            .field("connections", &self.connections.len())
            .finish()
    }
}

impl InlineReads {
    /// Opens `count` read connections (`open`).
    pub(super) fn open(
        path: &Path,
        count: usize,
        cache_kib: u32,
        busy_timeout: Duration,
    ) -> Result<InlineReads, rusqlite::Error> {
        let connections = (0..count.max(1))
            .map(|_| {
                let connection = open(path, cache_kib, busy_timeout)?;
                connection.pragma_update(None, "query_only", true)?;
                Ok(Mutex::new(connection))
            })
            .collect::<Result<Vec<_>, rusqlite::Error>>()?;
        Ok(InlineReads {
            connections: connections.into_boxed_slice(),
            next: AtomicUsize::new(0),
        })
    }

    /// The rows `statement` reads, each deserialised into `R`.
    pub(super) fn rows<R: DeserializeOwned>(&self, statement: &Statement) -> Result<Vec<R>, DbErr> {
        rows(&self.connection(), statement)
    }

    /// SQLite's `data_version` on the first connection: it changes whenever any other
    /// connection, of this process or another, commits (these connections never write). Two
    /// equal answers mean nothing was committed in between (`listing_memo`).
    pub(super) fn data_version(&self) -> Result<i64, DbErr> {
        let connection = self.connections[0]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut statement = connection
            .prepare_cached("PRAGMA data_version")
            .map_err(query_error)?;
        statement
            .query_row([], |row| row.get(0))
            .map_err(query_error)
    }

    /// A free connection, or the next one in turn when all are busy. A connection is held only
    /// while one statement runs, never across an await, so a wait is one statement long.
    fn connection(&self) -> MutexGuard<'_, Connection> {
        let count = self.connections.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for offset in 0..count {
            if let Ok(connection) = self.connections[(start + offset) % count].try_lock() {
                return connection;
            }
        }
        self.connections[start % count]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Opens a connection to the database file, which must exist in WAL mode (sqlx's writer creates
/// it and sets the mode first).
fn open(
    path: &Path,
    cache_kib: u32,
    busy_timeout: Duration,
) -> Result<Connection, rusqlite::Error> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(busy_timeout)?;
    connection.set_prepared_statement_cache_capacity(KEPT_STATEMENTS);
    // A negative size is in KiB (https://sqlite.org/pragma.html#pragma_cache_size).
    connection.pragma_update(None, "cache_size", -i64::from(cache_kib))?;
    Ok(connection)
}

/// Runs `statement` on `connection`: its parameters bound, its statement kept prepared.
fn prepared<'c>(
    connection: &'c Connection,
    statement: &Statement,
) -> Result<rusqlite::CachedStatement<'c>, DbErr> {
    let mut prepared = connection
        .prepare_cached(&statement.sql)
        .map_err(query_error)?;
    for (index, value) in statement.values.iter().flat_map(|v| v.0.iter()).enumerate() {
        prepared
            .raw_bind_parameter(index + 1, Bound(value))
            .map_err(query_error)?;
    }
    Ok(prepared)
}

/// The rows `statement` reads (or an INSERT returns), each deserialised into `R`.
fn rows<R: DeserializeOwned>(
    connection: &Connection,
    statement: &Statement,
) -> Result<Vec<R>, DbErr> {
    let mut prepared = prepared(connection, statement)?;
    let columns: Vec<Column> = prepared.columns().iter().map(Column::new).collect();
    let mut rows = prepared.raw_query();
    let mut read = Vec::new();
    while let Some(row) = rows.next().map_err(query_error)? {
        // Fields keyed by the columns' own names, so a row allocates no key (a page of a
        // tenant is a thousand rows); only a nested object, which a few point reads use, owns
        // its keys.
        let mut fields: Vec<(&str, Json)> = Vec::with_capacity(columns.len());
        for (index, column) in columns.iter().enumerate() {
            let value = column.decode(row.get_ref(index).map_err(query_error)?)?;
            let Some(prefix) = &column.nested else {
                fields.push((&column.name, value));
                continue;
            };
            let position = match fields.iter().position(|(key, _)| key == prefix) {
                Some(position) => position,
                None => {
                    fields.push((prefix, Json::Object(Map::new())));
                    fields.len() - 1
                }
            };
            match &mut fields[position].1 {
                Json::Object(nested) => nested.insert(column.name.clone(), value),
                _ => return Err(decode_error(&format!("{prefix} is not a prefix"))),
            };
        }
        let fields = MapDeserializer::<_, serde_json::Error>::new(fields.into_iter());
        read.push(R::deserialize(fields).map_err(|e| decode_error(&e))?);
    }
    Ok(read)
}

/// Runs a statement that returns no rows; how many rows it changed.
fn execute(connection: &Connection, statement: &Statement) -> Result<usize, DbErr> {
    prepared(connection, statement)?
        .raw_execute()
        .map_err(query_error)
}

/// A result column: where its value goes, and how it decodes.
struct Column {
    name: String,
    nested: Option<String>,
    declared: Declared,
}

/// How a column's SQLite value becomes JSON, from the type the schema declares for it (the
/// migrations' sea-query type names), matching how sqlx stores each type.
#[derive(Clone, Copy)]
enum Declared {
    /// A 16-byte blob.
    Uuid,
    /// JSON text.
    Json,
    /// 0 or 1.
    Bool,
    /// Anything else, by SQLite's storage class: times are RFC 3339 text already.
    Stored,
}

impl Column {
    fn new(column: &rusqlite::Column<'_>) -> Column {
        let (nested, name) = match column.name().split_once('.') {
            Some((prefix, name)) => (Some(prefix.to_owned()), name.to_owned()),
            None => (None, column.name().to_owned()),
        };
        let declared = match column.decl_type().map(str::to_ascii_lowercase).as_deref() {
            Some("uuid_text") => Declared::Uuid,
            Some("jsonb_text" | "json_text") => Declared::Json,
            Some("boolean") => Declared::Bool,
            _ => Declared::Stored,
        };
        Column {
            name,
            nested,
            declared,
        }
    }

    fn decode(&self, raw: ValueRef<'_>) -> Result<Json, DbErr> {
        Ok(match (self.declared, raw) {
            (_, ValueRef::Null) => Json::Null,
            (Declared::Uuid, ValueRef::Blob(bytes)) => Json::String(
                uuid::Uuid::from_slice(bytes)
                    .map_err(|e| decode_error(&e))?
                    .to_string(),
            ),
            (Declared::Json, raw) => {
                serde_json::from_str(text(raw)?).map_err(|e| decode_error(&e))?
            }
            (Declared::Bool, ValueRef::Integer(i)) => Json::Bool(i != 0),
            (_, ValueRef::Integer(i)) => Json::from(i),
            (_, ValueRef::Real(f)) => Json::from(f),
            (_, ValueRef::Text(_)) => Json::String(text(raw)?.to_owned()),
            (_, ValueRef::Blob(_)) => {
                return Err(decode_error(&format!("column {} holds a blob", self.name)));
            }
        })
    }
}

/// A parameter bound as sqlx binds it for SQLite, so that a key or a time written through sqlx
/// compares equal here: UUIDs as 16-byte blobs, times as RFC 3339 text, JSON as text.
struct Bound<'a>(&'a Value);

impl rusqlite::ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        fn or_null<'a, T>(
            value: Option<T>,
            to: impl FnOnce(T) -> ToSqlOutput<'a>,
        ) -> ToSqlOutput<'a> {
            value.map_or(ToSqlOutput::Owned(rusqlite::types::Value::Null), to)
        }
        Ok(match self.0 {
            Value::Bool(b) => or_null(*b, |b| ToSqlOutput::from(i64::from(b))),
            Value::TinyInt(i) => or_null(*i, ToSqlOutput::from),
            Value::SmallInt(i) => or_null(*i, ToSqlOutput::from),
            Value::Int(i) => or_null(*i, ToSqlOutput::from),
            Value::BigInt(i) => or_null(*i, ToSqlOutput::from),
            Value::TinyUnsigned(i) => or_null(*i, ToSqlOutput::from),
            Value::SmallUnsigned(i) => or_null(*i, ToSqlOutput::from),
            Value::Unsigned(i) => or_null(*i, ToSqlOutput::from),
            // LIMIT and OFFSET come as u64.
            Value::BigUnsigned(Some(i)) => ToSqlOutput::from(
                i64::try_from(*i).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?,
            ),
            Value::Float(f) => or_null(*f, |f| ToSqlOutput::from(f64::from(f))),
            Value::Double(f) => or_null(*f, ToSqlOutput::from),
            Value::String(s) => or_null(s.as_deref(), ToSqlOutput::from),
            Value::Char(c) => or_null(*c, |c| ToSqlOutput::from(c.to_string())),
            Value::Bytes(b) => or_null(b.as_deref(), ToSqlOutput::from),
            Value::Uuid(u) => or_null(u.as_ref(), |u| ToSqlOutput::from(&u.as_bytes()[..])),
            Value::ChronoDateTimeUtc(t) => or_null(t.as_ref(), |t| {
                ToSqlOutput::from(t.to_rfc3339_opts(SecondsFormat::AutoSi, false))
            }),
            Value::Json(j) => or_null(j.as_deref(), |j| ToSqlOutput::from(j.to_string())),
            other if !other.is_some() => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("no SQLite binding here for {other:?}").into(),
                ));
            }
        })
    }
}

fn text(raw: ValueRef<'_>) -> Result<&str, DbErr> {
    raw.as_str().map_err(|e| decode_error(&e))
}

fn decode_error(error: &dyn std::fmt::Display) -> DbErr {
    DbErr::Type(format!("cannot decode a SQLite row: {error}"))
}

/// A busy or locked database, or a file that cannot be read, makes the database unavailable
/// (503, retried), as the same failures through sqlx do; anything else is a failed query.
fn query_error(error: rusqlite::Error) -> DbErr {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)
        }
        Some(ErrorCode::SystemIoFailure | ErrorCode::CannotOpen) => {
            DbErr::Conn(RuntimeErr::Internal(format!("SQLite: {error}")))
        }
        _ => DbErr::Query(RuntimeErr::Internal(format!("SQLite: {error}"))),
    }
}

#[cfg(test)]
mod tests;
