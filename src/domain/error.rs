/// What can go wrong in the domain and in the store underneath it. Storage errors arrive here
/// already classified: no database type crosses this boundary.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// A value broke a rule of the domain (an empty userName, a tenant name with spaces).
    #[error("{0}")]
    Invalid(String),
    /// The resource does not exist in this tenant.
    #[error("{kind} {id} not found")]
    NotFound {
        /// What was looked for ("User", "Group", "tenant", "token").
        kind: &'static str,
        /// The identifier the caller gave.
        id: String,
    },
    /// A filter that cannot be answered (an attribute that cannot be filtered on).
    #[error("{0}")]
    InvalidFilter(String),
    /// A uniqueness rule would be broken (a second userName in a tenant).
    #[error("{0}")]
    Conflict(String),
    /// The caller's version of the resource is not the current one (If-Match).
    #[error("{0}")]
    VersionMismatch(String),
    /// The database could not be reached or timed out; the request may be retried.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The database answers but cannot take writes: why, as a sentence an operator can act on
    /// ("its disk is full"). Reads still work; the request may be retried once it is fixed.
    #[error("the database cannot take writes: {0}")]
    Unwritable(&'static str),
    /// Anything else that went wrong in storage; details are logged, not shown to callers.
    #[error("internal storage error: {0}")]
    Internal(String),
}

impl DomainError {
    /// Shorthand for [`DomainError::NotFound`].
    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        DomainError::NotFound {
            kind,
            id: id.to_string(),
        }
    }
}
