//! Bearer tokens and the actor on whose behalf a change is made.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{TenantId, TokenId};

/// A bearer token as stored: everything but the secret, which is never kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    /// Stable identifier, used to revoke the token.
    pub id: TokenId,
    /// The only tenant this token can act on.
    pub tenant_id: TenantId,
    /// Operator's label ("entra-prod").
    pub name: String,
    /// The token's first characters, so an operator can tell which token a leaked one is.
    pub hint: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// After this instant the token no longer authenticates.
    pub expires_at: Option<DateTime<Utc>>,
    /// Set when an operator revoked it.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last successful authentication, recorded at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Whether a token authenticates at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenState {
    /// It authenticates.
    Active,
    /// Its expiry has passed.
    Expired,
    /// An operator revoked it.
    Revoked,
}

impl ApiToken {
    /// The token's state at `now`; revocation wins over expiry.
    pub fn state(&self, now: DateTime<Utc>) -> TokenState {
        if self.revoked_at.is_some() {
            TokenState::Revoked
        } else if self.expires_at.is_some_and(|expiry| expiry <= now) {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }
}

/// How long a new token stays valid: a whole number and a unit, `s`, `m`, `h`, `d` or `w`
/// ("90d", "12h").
pub fn parse_lifetime(text: &str) -> Result<chrono::Duration, super::DomainError> {
    let text = text.trim();
    let invalid = || {
        super::DomainError::Invalid(format!(
            "{text:?} is not a lifetime: write a number and a unit, like \"90d\", \"12h\" or \"30m\""
        ))
    };
    let split = text
        .len()
        .checked_sub(1)
        .filter(|&i| text.is_char_boundary(i))
        .ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().ok().filter(|n| *n > 0).ok_or_else(invalid)?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(invalid()),
    };
    number
        .checked_mul(seconds_per_unit)
        .filter(|s| *s <= 100 * 365 * 86_400)
        .map(chrono::Duration::seconds)
        .ok_or_else(invalid)
}

/// Who makes a change: the tenant it applies to and, for SCIM requests, the token and request id.
/// Every write takes one, and the change log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The tenant whose data may be touched; nothing outside it is visible.
    pub tenant_id: TenantId,
    /// The token that authenticated the request, if the change came over SCIM.
    pub token_id: Option<TokenId>,
    /// The request's id, for correlating the change log with logs.
    pub request_id: Option<String>,
}

impl Actor {
    /// An actor for changes made from the command line or the admin API.
    pub fn operator(tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            token_id: None,
            request_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn token(expires_at: Option<DateTime<Utc>>, revoked_at: Option<DateTime<Utc>>) -> ApiToken {
        ApiToken {
            id: TokenId::new(),
            tenant_id: TenantId::new(),
            name: "t".into(),
            hint: "dirsync_abcd".into(),
            created_at: DateTime::UNIX_EPOCH,
            expires_at,
            revoked_at,
            last_used_at: None,
        }
    }

    #[test]
    fn a_token_expires_at_its_expiry_instant() {
        let expiry = DateTime::UNIX_EPOCH + Duration::days(90);
        let t = token(Some(expiry), None);
        assert_eq!(t.state(expiry - Duration::seconds(1)), TokenState::Active);
        assert_eq!(t.state(expiry), TokenState::Expired);
    }

    #[test]
    fn lifetimes_take_a_number_and_a_unit() {
        assert_eq!(parse_lifetime("90d").ok(), Some(Duration::days(90)));
        assert_eq!(parse_lifetime("12h").ok(), Some(Duration::hours(12)));
        assert_eq!(parse_lifetime(" 2w ").ok(), Some(Duration::weeks(2)));
        for bad in [
            "",
            "d",
            "90",
            "0d",
            "-1d",
            "90y",
            "1.5d",
            "999999999999w",
            "9é",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn revocation_wins_over_expiry() {
        let t = token(Some(DateTime::UNIX_EPOCH), Some(DateTime::UNIX_EPOCH));
        assert_eq!(t.state(DateTime::UNIX_EPOCH), TokenState::Revoked);
    }
}
