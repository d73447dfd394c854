//! Identifiers as newtypes, so that a user id can never be passed where a group id belongs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, new = $new:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh identifier.
            pub fn new() -> Self {
                Self($new)
            }

            /// Wraps an identifier read back from storage.
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A tenant: one IdP connection.
    TenantId,
    new = Uuid::new_v4()
);
uuid_id!(
    /// A bearer token. Only its id and hash are ever stored.
    TokenId,
    new = Uuid::new_v4()
);
// Users and groups get time-ordered UUIDv7 ids: listing by id is listing in creation order, which
// gives SCIM paging (RFC 7644 §3.4.2.4) a stable order, and new rows append to the primary index.
uuid_id!(
    /// A SCIM User's `id`.
    UserId,
    new = Uuid::now_v7()
);
uuid_id!(
    /// A SCIM Group's `id`.
    GroupId,
    new = Uuid::now_v7()
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_parse_back_from_their_display_form() {
        let id = UserId::new();
        assert_eq!(id.to_string().parse::<UserId>().ok(), Some(id));
    }

    #[test]
    fn ids_that_are_not_uuids_do_not_parse() {
        assert!("010101001010101011001010101011".parse::<UserId>().is_err());
    }

    #[test]
    fn user_ids_created_later_sort_later() {
        let ids: Vec<UserId> = (0..10_000).map(|_| UserId::new()).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    }
}
