//! The inline connections against sqlx: same rows, same bindings.

use std::sync::Arc;

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait};

use crate::clock::SystemClock;
use crate::configuration::{DatabaseSettings, DatabaseUrl};
use crate::domain::{Actor, Document, IdpKind, TenantName, UserData};
use crate::store::Store;
use crate::store::entity::{api_tokens, tenants, users};

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
    let inline = &store.inline.clone().unwrap().reads;
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
    crate::store::select_nested(&mut query, users::Entity, "user");
    query
        .expr_as(Expr::val(7), sea_orm::sea_query::Alias::new("count"))
        .from(users::Entity)
        .and_where(users::Column::UserName.eq("plain"));
    let read: Vec<Nested> = inline.rows(&backend.build(&query)).unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].user.user_name, "plain");
    assert_eq!(read[0].count, 7);
}

/// A store in `directory` with one tenant.
async fn store_with_tenant(directory: &tempfile::TempDir) -> (Store, crate::domain::Tenant) {
    let store = store(directory).await;
    let tenant = store
        .create_tenant(&TenantName::parse("acme").unwrap(), IdpKind::Generic)
        .await
        .unwrap();
    (store, tenant)
}

fn user(name: &str) -> UserData {
    let serde_json::Value::Object(attributes) = serde_json::json!({ "userName": name }) else {
        unreachable!()
    };
    UserData::from_document(Document::new(attributes)).unwrap()
}

/// While another connection (as another process would) holds SQLite's write lock, a create
/// still succeeds: the inline writer does not wait in the lock, and sqlx's writer, whose busy
/// handler waits, writes it once the lock is free. The create and its change-log entry land.
#[tokio::test]
async fn a_create_while_another_connection_writes_goes_through_sqlx_once_the_lock_is_free() {
    let directory = tempfile::tempdir().unwrap();
    let (store, tenant) = store_with_tenant(&directory).await;
    let other = rusqlite::Connection::open(directory.path().join("dirsync.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (held, release) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _ = release.recv_timeout(Duration::from_millis(300));
        other.execute_batch("COMMIT").unwrap();
    });
    let created = store
        .create_user(&Actor::operator(tenant.id), user("waits"))
        .await
        .unwrap();
    drop(held);
    holder.join().unwrap();
    assert_eq!(
        store.get_user(tenant.id, created.id).await.unwrap().id,
        created.id
    );
    let trail = store.audit(tenant.id, 0, None, None, 10).await.unwrap();
    assert_eq!(trail.len(), 1);
}

/// Creates queued faster than a batch holds (256) are written by one turn batch after batch:
/// every one is answered, a name sent twice is stored once and answered 409 once, and each
/// stored create has its change-log entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_queued_beyond_one_batch_are_all_written_and_answered() {
    let directory = tempfile::tempdir().unwrap();
    let (store, tenant) = store_with_tenant(&directory).await;
    let actor = Actor::operator(tenant.id);
    let creates = (0..700).map(|i| {
        let (store, actor) = (store.clone(), actor.clone());
        // The last hundred repeat names sent earlier.
        let name = format!("queued{}", if i < 600 { i } else { i - 600 });
        tokio::spawn(async move { store.create_user(&actor, user(&name)).await })
    });
    let answers = futures_util::future::join_all(creates).await;
    let created = answers.iter().filter(|a| matches!(a, Ok(Ok(_)))).count();
    let refused: Vec<_> = answers.iter().filter(|a| !matches!(a, Ok(Ok(_)))).collect();
    assert_eq!(created, 600);
    assert_eq!(refused.len(), 100);
    assert!(
        refused
            .iter()
            .all(|a| matches!(a, Ok(Err(crate::domain::DomainError::Conflict(_))))),
        "{refused:?}"
    );
    let stored = users::Entity::find().all(&store.reader).await.unwrap();
    assert_eq!(stored.len(), 600);
    let log = store.changes_since(tenant.id, 0, 1000).await.unwrap();
    assert_eq!(log.len(), 600);
}

/// While creates keep coming, the batch writer gives sqlx's writer connection back from time
/// to time: another write (here a tenant's creation) goes in before the creates run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_write_gets_the_writer_while_creates_keep_coming() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const STREAMS: usize = 64;
    const EACH: usize = 60;
    let directory = tempfile::tempdir().unwrap();
    let (store, tenant) = store_with_tenant(&directory).await;
    let created = Arc::new(AtomicUsize::new(0));
    let streams: Vec<_> = (0..STREAMS)
        .map(|stream| {
            let (store, created) = (store.clone(), created.clone());
            let actor = Actor::operator(tenant.id);
            tokio::spawn(async move {
                for n in 0..EACH {
                    let name = format!("stream{stream}-{n}");
                    store.create_user(&actor, user(&name)).await.unwrap();
                    created.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    while created.load(Ordering::SeqCst) < 500 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    store
        .create_tenant(&TenantName::parse("other").unwrap(), IdpKind::Generic)
        .await
        .unwrap();
    let when = created.load(Ordering::SeqCst);
    futures_util::future::join_all(streams).await;
    assert!(when < STREAMS * EACH, "the write waited for every create");
}

/// The inline writer is opened as sqlx's writer is: foreign keys enforced (a user of a tenant
/// that does not exist is refused, as through sqlx) and NORMAL sync, not an fsync per commit.
#[tokio::test]
async fn the_inline_writer_enforces_foreign_keys_and_syncs_as_sqlx_does() {
    let directory = tempfile::tempdir().unwrap();
    let store = store(&directory).await;
    let inline = store.inline.clone().unwrap();
    let missing = crate::domain::TenantId::new();
    let refused = store
        .create_user(&Actor::operator(missing), user("orphan"))
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let rows = users::Entity::find().all(&store.reader).await.unwrap();
    assert!(rows.is_empty());
    let turn = inline.writer.turn().await.unwrap();
    let synchronous: i64 = turn
        .transaction(|t| {
            let rows: Vec<serde_json::Value> = t.rows(&sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                "PRAGMA synchronous".to_owned(),
            ))?;
            Ok::<_, sea_orm::DbErr>(rows[0]["synchronous"].as_i64().unwrap_or(-1))
        })
        .ok()
        .unwrap();
    assert_eq!(synchronous, 1, "NORMAL");
}

#[tokio::test]
async fn the_inline_connections_refuse_to_write() {
    let directory = tempfile::tempdir().unwrap();
    let store = store(&directory).await;
    let inline = &store.inline.clone().unwrap().reads;
    let delete = sea_orm::Statement::from_string(
        sea_orm::DbBackend::Sqlite,
        "DELETE FROM tenants".to_owned(),
    );
    let refused = inline.rows::<serde_json::Value>(&delete).unwrap_err();
    assert!(refused.to_string().contains("readonly"), "{refused}");
}

/// A failure of the file or a held lock answers 503 (unavailable, retry), as through sqlx; a
/// statement SQLite rejects is an internal error.
#[test]
fn sqlite_failures_are_classified_as_through_sqlx() {
    use crate::domain::DomainError;
    let failure = |code| {
        crate::store::error::classify(super::query_error(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        )))
    };
    for code in [
        rusqlite::ffi::SQLITE_BUSY,
        rusqlite::ffi::SQLITE_LOCKED,
        rusqlite::ffi::SQLITE_IOERR,
        rusqlite::ffi::SQLITE_CANTOPEN,
    ] {
        assert!(
            matches!(failure(code), DomainError::Unavailable(_)),
            "{code}"
        );
    }
    assert!(matches!(
        failure(rusqlite::ffi::SQLITE_ERROR),
        DomainError::Internal(_)
    ));
}
