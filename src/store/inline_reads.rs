//! SQLite point reads on the calling thread.
//!
//! sqlx runs each SQLite connection on a thread of its own: every query is handed to that thread
//! and its rows handed back, and sqlx pings the connection (another round trip) each time it goes
//! back to the pool. A GET by id is two queries, so eight thread wake-ups for two lookups that
//! take SQLite microseconds; on two cores the wake-ups, not SQLite, held reads to a tenth of
//! what the machine's loopback HTTP can do. The reads the SCIM API makes on every request (the
//! token, a user by id, a lookup by userName) run here instead, on the task's own thread,
//! through connections that stay open with their statements prepared.
//!
//! Only reads of a few rows found through an index come here: a read holds its runtime worker
//! while it lasts, so pages and whole tenants stay on sqlx's threads. Writes never come here
//! (`query_only`); they go through sqlx's writer in transactions, and in WAL mode a read here
//! sees every transaction committed before it started.
//!
//! sea-orm builds the statements. Rows come back as `serde_json` maps, by the type the schema
//! declares for each column, and are deserialised into the same row types sea-orm decodes on
//! PostgreSQL (`Store::read_rows`). A column aliased `prefix.column` lands in the nested object
//! `prefix`, as sea-orm's `nested(prefix = "prefix.")` reads it.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::SecondsFormat;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use sea_orm::{DbErr, RuntimeErr, Statement, Value};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

/// Prepared statements kept per connection: every distinct point read, with room.
const KEPT_STATEMENTS: usize = 64;

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
    /// Opens `count` connections to the database file, which must exist in WAL mode (sqlx's
    /// writer creates it and sets the mode first).
    pub(super) fn open(
        path: &Path,
        count: usize,
        cache_kib: u32,
        busy_timeout: Duration,
    ) -> Result<InlineReads, rusqlite::Error> {
        let connections = (0..count.max(1))
            .map(|_| {
                let connection = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                connection.busy_timeout(busy_timeout)?;
                connection.set_prepared_statement_cache_capacity(KEPT_STATEMENTS);
                // A negative size is in KiB (https://sqlite.org/pragma.html#pragma_cache_size).
                connection.pragma_update(None, "cache_size", -i64::from(cache_kib))?;
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
        let connection = self.connection();
        let mut prepared = connection
            .prepare_cached(&statement.sql)
            .map_err(query_error)?;
        for (index, value) in statement.values.iter().flat_map(|v| v.0.iter()).enumerate() {
            prepared
                .raw_bind_parameter(index + 1, Bound(value))
                .map_err(query_error)?;
        }
        let columns: Vec<Column> = prepared.columns().iter().map(Column::new).collect();
        let mut rows = prepared.raw_query();
        let mut read = Vec::new();
        while let Some(row) = rows.next().map_err(query_error)? {
            let mut object = Map::new();
            for (index, column) in columns.iter().enumerate() {
                let value = column.decode(row.get_ref(index).map_err(query_error)?)?;
                match &column.nested {
                    None => object.insert(column.name.clone(), value),
                    Some(prefix) => match object
                        .entry(prefix.clone())
                        .or_insert_with(|| Json::Object(Map::new()))
                    {
                        Json::Object(nested) => nested.insert(column.name.clone(), value),
                        _ => return Err(decode_error(&format!("{prefix} is not a prefix"))),
                    },
                };
            }
            read.push(serde_json::from_value(Json::Object(object)).map_err(|e| decode_error(&e))?);
        }
        Ok(read)
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

/// A busy or locked database is a moment's unavailability, as it is through sqlx; anything else
/// is a failed query.
fn query_error(error: rusqlite::Error) -> DbErr {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)
        }
        _ => DbErr::Query(RuntimeErr::Internal(format!("SQLite: {error}"))),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::sea_query::{Expr, Query};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait};

    use super::super::Store;
    use super::super::entity::{api_tokens, tenants, users};
    use crate::clock::SystemClock;
    use crate::configuration::{DatabaseSettings, DatabaseUrl};
    use crate::domain::{Actor, Document, IdpKind, TenantName, UserData};

    use std::time::Duration;

    async fn store(directory: &tempfile::TempDir) -> Store {
        let settings = DatabaseSettings {
            url: DatabaseUrl::Sqlite(directory.path().join("dirsync.db")),
            max_connections: 2,
            connect_timeout: Duration::from_secs(5),
        };
        Store::open(&settings, Arc::new(SystemClock)).await.unwrap()
    }

    /// Every type the schema stores (UUID blobs, RFC 3339 times, JSON text, booleans, nulls)
    /// comes back from the inline connections as the same model sqlx decodes, and parameters of
    /// each type bind so that they match what sqlx wrote.
    #[tokio::test]
    async fn rows_read_on_the_calling_thread_equal_what_sqlx_reads() {
        let directory = tempfile::tempdir().unwrap();
        let store = store(&directory).await;
        let inline = store.inline.clone().unwrap();
        let tenant = store
            .create_tenant(&TenantName::parse("acme").unwrap(), IdpKind::Entra)
            .await
            .unwrap();
        let kept = store
            .create_token(tenant.id, "kept", Some(chrono::Duration::days(1)))
            .await
            .unwrap();
        let revoked = store
            .create_token(tenant.id, "revoked", None)
            .await
            .unwrap();
        store.revoke_token(revoked.token.id).await.unwrap();
        for (name, active) in [("zoë@example.com", false), ("plain", true)] {
            let document = serde_json::json!({"userName": name, "active": active});
            let serde_json::Value::Object(attributes) = document else {
                unreachable!()
            };
            let data = UserData::from_document(Document::new(attributes)).unwrap();
            store
                .create_user(&Actor::operator(tenant.id), data)
                .await
                .unwrap();
        }

        let backend = sea_orm::DbBackend::Sqlite;
        let tokens = api_tokens::Entity::find()
            .filter(api_tokens::Column::TenantId.eq(tenant.id.as_uuid()))
            .filter(api_tokens::Column::CreatedAt.lte(store.clock.now()));
        let read: Vec<api_tokens::Model> = inline.rows(&tokens.build(backend)).unwrap();
        assert_eq!(read, tokens.all(&store.reader).await.unwrap());
        assert_eq!(read.len(), 2);
        assert!(
            read.iter()
                .any(|t| t.revoked_at.is_some() && t.expires_at.is_none())
        );

        let expiring = api_tokens::Entity::find()
            .filter(api_tokens::Column::ExpiresAt.gt(store.clock.now()))
            .filter(api_tokens::Column::Id.eq(kept.token.id.as_uuid()));
        let read: Vec<api_tokens::Model> = inline.rows(&expiring.build(backend)).unwrap();
        assert_eq!(read.len(), 1);
        // A time equal to the stored one, to the nanosecond and in sqlx's text form.
        let created =
            api_tokens::Entity::find().filter(api_tokens::Column::CreatedAt.eq(read[0].created_at));
        let read: Vec<api_tokens::Model> = inline.rows(&created.build(backend)).unwrap();
        assert_eq!(read.len(), 1);

        let tenants = tenants::Entity::find();
        let read: Vec<tenants::Model> = inline.rows(&tenants.build(backend)).unwrap();
        assert_eq!(read, tenants.all(&store.reader).await.unwrap());
        assert!(read[0].settings.is_some());

        let inactive = users::Entity::find()
            .filter(users::Column::Active.eq(false))
            .limit(5);
        let read: Vec<users::Model> = inline.rows(&inactive.build(backend)).unwrap();
        assert_eq!(read, inactive.all(&store.reader).await.unwrap());
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].user_name, "zoë@example.com");

        // A column aliased `prefix.column` fills the nested object a row type reads.
        #[derive(serde::Deserialize)]
        struct Nested {
            user: users::Model,
            count: i64,
        }
        let mut query = Query::select();
        super::super::select_nested(&mut query, users::Entity, "user");
        query
            .expr_as(Expr::val(7), sea_orm::sea_query::Alias::new("count"))
            .from(users::Entity)
            .and_where(users::Column::UserName.eq("plain"));
        let read: Vec<Nested> = inline.rows(&backend.build(&query)).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].user.user_name, "plain");
        assert_eq!(read[0].count, 7);
    }

    #[tokio::test]
    async fn the_inline_connections_refuse_to_write() {
        let directory = tempfile::tempdir().unwrap();
        let store = store(&directory).await;
        let inline = store.inline.clone().unwrap();
        let delete = sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "DELETE FROM tenants".to_owned(),
        );
        let refused = inline.rows::<serde_json::Value>(&delete).unwrap_err();
        assert!(refused.to_string().contains("readonly"), "{refused}");
    }
}
