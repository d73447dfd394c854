//! Where database errors stop: each becomes a `DomainError` a caller can act on.

use sea_orm::{DbErr, RuntimeErr, SqlErr};

use crate::domain::DomainError;

/// Classifies a database error. Uniqueness violations become `Conflict`; a missing connection
/// becomes `Unavailable` (the request may be retried); everything else is `Internal`, with the
/// database's text kept for the log only.
pub(crate) fn classify(error: DbErr) -> DomainError {
    if let Some(SqlErr::UniqueConstraintViolation(detail)) = error.sql_err() {
        return DomainError::Conflict(detail);
    }
    if let DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) = &error
        && let Some(why) = unwritable(e)
    {
        tracing::error!(error = %error, "the database cannot take writes: {why}");
        return DomainError::Unwritable(why);
    }
    match &error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => DomainError::Unavailable(error.to_string()),
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))
            if is_unavailable(e) =>
        {
            DomainError::Unavailable(error.to_string())
        }
        _ => DomainError::Internal(error.to_string()),
    }
}

/// Why the database cannot be written, when that is the error: the disk is full or read-only,
/// which an operator must fix and a retry then gets past.
fn unwritable(error: &sea_orm::sqlx::Error) -> Option<&'static str> {
    let sea_orm::sqlx::Error::Database(db) = error else {
        return None;
    };
    let code = db.code()?;
    let sqlite = code.parse::<u32>().ok();
    match (code.as_ref(), sqlite.map(|c| c & 0xff)) {
        // SQLITE_FULL; PostgreSQL class 53 (insufficient resources: disk_full is 53100).
        (_, Some(13)) | ("53100", _) => Some("its disk is full"),
        // SQLITE_READONLY and its extended codes; PostgreSQL's read_only_sql_transaction (a
        // standby, not the primary).
        (_, Some(8)) | ("25006", _) => Some("it is read-only"),
        // SQLITE_IOERR: a write the operating system refused (EROFS when the file system was
        // remounted read-only, EIO from a failing disk).
        (_, Some(10)) => Some("a write to its disk failed (read-only or failing disk)"),
        _ => None,
    }
}

fn is_unavailable(error: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match error {
        Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => true,
        // SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6) after the busy timeout; PostgreSQL:
        // class 57 (operator intervention: shutdown, cancel) and 08 (connection exception).
        Error::Database(db) => db.code().is_some_and(|code| {
            matches!(code.as_ref(), "5" | "6" | "517" | "262")
                || code.starts_with("57")
                || code.starts_with("08")
        }),
        _ => false,
    }
}
