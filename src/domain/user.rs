//! SCIM Users as the domain sees them: a document plus the few attributes that are indexed.

use std::fmt;

use serde_json::Value;

use super::document::indexed;
use super::{Document, DomainError, GroupId, ResourceMeta, TenantId, UserId};

/// A user's `userName`: unique per tenant, compared case-insensitively (RFC 7643 §4.1.1,
/// `caseExact: false`), stored as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    /// Checks a proposed userName: it must have a non-blank value.
    pub fn parse(name: &str) -> Result<Self, DomainError> {
        if name.trim().is_empty() {
            return Err(DomainError::Invalid("userName must not be empty".into()));
        }
        Ok(Self(indexed("userName", name)?.to_owned()))
    }

    /// The userName as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for uniqueness and filtering.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a client writes of a user: the document and the attributes extracted from it for indexes.
/// Built only through [`UserData::from_document`], so the two can never disagree.
#[derive(Debug, Clone, PartialEq)]
pub struct UserData {
    user_name: UserName,
    external_id: Option<String>,
    active: bool,
    display_name: Option<String>,
    primary_email: Option<String>,
    document: Document,
}

impl UserData {
    /// Extracts the indexed attributes from a validated document. `active` defaults to true when
    /// absent; the primary email is the one marked `primary`, else the first.
    pub fn from_document(document: Document) -> Result<Self, DomainError> {
        let user_name = match document.get("userName") {
            Some(Value::String(name)) => UserName::parse(name)?,
            _ => return Err(DomainError::Invalid("userName is required".into())),
        };
        let primary_email = document
            .get("emails")
            .and_then(Value::as_array)
            .and_then(|emails| {
                emails
                    .iter()
                    .find(|email| email.get("primary") == Some(&Value::Bool(true)))
                    .or_else(|| emails.first())
            })
            .and_then(|email| email.get("value"))
            .and_then(Value::as_str)
            .map(|email| indexed("the primary email", email).map(str::to_lowercase))
            .transpose()?;
        let indexed_str = |name: &str| {
            document
                .get_str(name)
                .map(|value| indexed(name, value).map(str::to_owned))
                .transpose()
        };
        Ok(Self {
            external_id: indexed_str("externalId")?,
            display_name: indexed_str("displayName")?,
            user_name,
            active: document
                .get("active")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            primary_email,
            document,
        })
    }

    /// The user's userName.
    pub fn user_name(&self) -> &UserName {
        &self.user_name
    }
    /// The IdP's own identifier for the user.
    pub fn external_id(&self) -> Option<&str> {
        self.external_id.as_deref()
    }
    /// False when the IdP deactivated the user; the user is kept.
    pub fn active(&self) -> bool {
        self.active
    }
    /// The user's displayName.
    pub fn display_name(&self) -> Option<&str> {
        self.display_name.as_deref()
    }
    /// The primary email address, lower-cased.
    pub fn primary_email(&self) -> Option<&str> {
        self.primary_email.as_deref()
    }
    /// Every attribute the client wrote.
    pub fn document(&self) -> &Document {
        &self.document
    }
}

/// A group the user is a direct member of (for the read-only `groups` attribute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGroup {
    /// The group's id.
    pub id: GroupId,
    /// The group's displayName.
    pub display: String,
}

/// A stored user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Server-assigned, stable id.
    pub id: UserId,
    /// The tenant that owns the user.
    pub tenant_id: TenantId,
    /// Created, modified, version.
    pub meta: ResourceMeta,
    /// What the client wrote.
    pub data: UserData,
    /// Groups the user is a direct member of, derived from memberships.
    pub groups: Vec<UserGroup>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document(value: Value) -> Document {
        match value {
            Value::Object(map) => Document::new(map),
            _ => Document::default(),
        }
    }

    #[test]
    fn an_indexed_attribute_longer_than_the_limit_is_refused_naming_it() {
        let long = "a".repeat(crate::domain::document::MAX_INDEXED_BYTES + 1);
        let fits = "a".repeat(crate::domain::document::MAX_INDEXED_BYTES);
        for attribute in ["userName", "externalId", "displayName"] {
            let mut fields = json!({"userName": "alice"});
            fields[attribute] = json!(long);
            match UserData::from_document(document(fields)) {
                Err(DomainError::Invalid(why)) => assert!(why.starts_with(attribute), "{why}"),
                other => panic!("{attribute}: {other:?}"),
            }
            let mut fields = json!({"userName": "alice"});
            fields[attribute] = json!(fits);
            assert!(UserData::from_document(document(fields)).is_ok());
        }
        let email = json!({"userName": "alice", "emails": [{"value": long}]});
        assert!(UserData::from_document(document(email)).is_err());
        // Only indexed attributes are limited.
        let title = json!({"userName": "alice", "title": long});
        assert!(UserData::from_document(document(title)).is_ok());
    }

    #[test]
    fn indexed_attributes_come_from_the_document() {
        let data = UserData::from_document(document(json!({
            "userName": "Alice@Example.com",
            "externalId": "ext-1",
            "displayName": "Alice",
            "active": false,
            "emails": [{"value": "a2@example.com"}, {"value": "A@Example.com", "primary": true}]
        })))
        .ok();
        let data = data.as_ref();
        assert_eq!(
            data.map(|d| d.user_name().key()),
            Some("alice@example.com".into())
        );
        assert_eq!(data.and_then(|d| d.external_id()), Some("ext-1"));
        assert_eq!(data.and_then(|d| d.display_name()), Some("Alice"));
        assert_eq!(data.map(|d| d.active()), Some(false));
        assert_eq!(data.and_then(|d| d.primary_email()), Some("a@example.com"));
    }

    #[test]
    fn a_user_is_active_unless_the_document_says_otherwise() {
        let data = UserData::from_document(document(json!({"userName": "bob"})));
        assert_eq!(data.map(|d| d.active()).ok(), Some(true));
    }

    #[test]
    fn a_user_without_a_user_name_is_refused() {
        assert!(UserData::from_document(document(json!({"displayName": "x"}))).is_err());
        assert!(UserData::from_document(document(json!({"userName": "  "}))).is_err());
    }
}
