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
