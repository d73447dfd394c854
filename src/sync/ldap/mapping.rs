//! How SCIM users and groups become LDAP entries: DNs, attributes, member values. Pure, so the
//! mapping is tested without a directory.
//!
//! - A tenant lives under `ou=<tenant>,<base_dn>` (or `<base_dn>` itself without `tenant_ou`),
//!   users under `users_ou`, groups under `groups_ou`.
//! - A user is `<user_rdn>=<value>,<users>`; the value is the mapped attribute's (uid from
//!   userName by default). A group is `cn=<displayName>,<groups>`.
//! - Every entry carries the marker `dirsync:<SCIM id>`; it is how dirsync knows an entry is its
//!   own (and whose it is) even after a rename done by hand.
//! - Attribute names are compared lower-cased: LDAP attribute names are case-insensitive.
//! - A deactivated user leaves its groups under every policy; `disabled_ou` also moves it,
//!   `lock_attribute` also sets the lock.

use serde_json::Value;

use crate::configuration::{Deactivation, LdapSettings};
use crate::domain::{Document, Tenant};

pub use crate::sync::model::{marker, parse_marker};

/// Where a tenant's entries live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The tenant's subtree.
    pub tenant: String,
    /// Its users container.
    pub users: String,
    /// Its groups container.
    pub groups: String,
    /// Where deactivated users go, under `disabled_ou`.
    pub disabled: Option<String>,
}

impl Layout {
    /// The layout of a tenant.
    pub fn of(settings: &LdapSettings, tenant: &Tenant) -> Layout {
        let root = match settings.tenant_ou {
            true => format!(
                "ou={},{}",
                escape_rdn_value(tenant.name.as_str()),
                settings.base_dn
            ),
            false => settings.base_dn.clone(),
        };
        Layout {
            users: format!("{},{root}", settings.users_ou),
            groups: format!("{},{root}", settings.groups_ou),
            disabled: match &settings.deactivation {
                Deactivation::DisabledOu(ou) => Some(format!("{ou},{root}")),
                _ => None,
            },
            tenant: root,
        }
    }

    /// The containers to create when missing, parents first.
    pub fn containers(&self, settings: &LdapSettings) -> Vec<String> {
        let mut all = Vec::new();
        if settings.tenant_ou {
            all.push(self.tenant.clone());
        }
        all.push(self.users.clone());
        all.push(self.groups.clone());
        all.extend(self.disabled.clone());
        all
    }
}

/// RFC 4514 §2.4: escapes an attribute value for use in an RDN.
pub fn escape_rdn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=')
            || (i == 0 && (c == ' ' || c == '#'))
            || (i == last && c == ' ');
        if c == '\0' {
            out.push_str("\\00");
        } else {
            if special {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// Splits a DN into its first RDN and its parent, honouring escapes.
pub fn split_dn(dn: &str) -> (&str, &str) {
    let mut escaped = false;
    for (i, c) in dn.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            ',' if !escaped => return (&dn[..i], dn[i + 1..].trim_start()),
            _ => escaped = false,
        }
    }
    (dn, "")
}

/// Every attribute name the user mapping manages, lower-cased.
pub fn user_attributes(settings: &LdapSettings) -> Vec<String> {
    let mut names: Vec<String> = settings
        .attributes
        .keys()
        .map(|k| k.to_lowercase())
        .collect();
    names.push(settings.marker_attribute.to_lowercase());
    if let Deactivation::LockAttribute(attribute, _) = &settings.deactivation {
        names.push(attribute.to_lowercase());
    }
    names.sort();
    names.dedup();
    names
}

/// Every attribute name the group mapping manages, lower-cased.
pub fn group_attributes(settings: &LdapSettings) -> Vec<String> {
    let mut names = vec!["cn".to_owned(), settings.marker_attribute.to_lowercase()];
    names.dedup();
    names
}

/// The value at a SCIM path in a user's document: `userName`, `name.familyName`,
/// `emails.value` (the primary value of a list, else its first), or a URN-qualified extension
/// attribute (`urn:…:enterprise:2.0:User:employeeNumber`).
pub fn value_at(document: &Document, path: &str) -> Option<String> {
    let (container, rest) = match path.rfind(':') {
        Some(i) if path.starts_with("urn:") => (document.get(&path[..i]), &path[i + 1..]),
        _ => (None, path),
    };
    let (attribute, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    let value = match container {
        Some(extension) => extension.get(attribute),
        None if path.starts_with("urn:") => None,
        None => document.get(attribute),
    }?;
    let value = match (value, sub) {
        (Value::Array(items), Some(sub)) => items
            .iter()
            .find(|i| i.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| items.first())?
            .get(sub)?,
        (Value::Object(fields), Some(sub)) => fields.get(sub)?,
        (value, None) => value,
        _ => return None,
    };
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "TRUE" } else { "FALSE" }.to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether groups are `posixGroup`s.
pub fn is_posix(settings: &LdapSettings) -> bool {
    settings
        .group_object_class
        .eq_ignore_ascii_case("posixGroup")
}

pub(super) fn group_location(layout: &Layout, display_name: &str) -> String {
    format!("cn={},{}", escape_rdn_value(display_name), layout.groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    fn document(value: Value) -> Document {
        match value {
            Value::Object(map) => Document::new(map),
            _ => Document::default(),
        }
    }

    #[test]
    fn rdn_values_are_escaped_per_rfc_4514_and_split_back() {
        assert_eq!(escape_rdn_value("Sales, EMEA"), "Sales\\, EMEA");
        assert_eq!(escape_rdn_value("#1 team "), "\\#1 team\\ ");
        assert_eq!(escape_rdn_value("a+b=c"), "a\\+b\\=c");
        assert_eq!(
            split_dn("cn=Sales\\, EMEA,ou=groups,dc=x"),
            ("cn=Sales\\, EMEA", "ou=groups,dc=x")
        );
        assert_eq!(split_dn("dc=x"), ("dc=x", ""));
    }

    #[test]
    fn scim_paths_read_simple_complex_list_and_extension_values() {
        let doc = document(json!({
            "userName": "alice",
            "name": {"familyName": "Archer"},
            "emails": [{"value": "a@home"}, {"value": "a@work", "primary": true}],
            "active": false,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "E1", "manager": {"value": "m"}}
        }));
        assert_eq!(value_at(&doc, "userName").as_deref(), Some("alice"));
        assert_eq!(value_at(&doc, "name.familyName").as_deref(), Some("Archer"));
        assert_eq!(value_at(&doc, "name.givenName"), None);
        assert_eq!(value_at(&doc, "emails.value").as_deref(), Some("a@work"));
        assert_eq!(value_at(&doc, "active").as_deref(), Some("FALSE"));
        assert_eq!(
            value_at(
                &doc,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
            )
            .as_deref(),
            Some("E1")
        );
        assert_eq!(
            value_at(
                &doc,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
            )
            .as_deref(),
            Some("m")
        );
    }

    #[test]
    fn markers_round_trip() {
        let id = Uuid::new_v4();
        assert_eq!(parse_marker(&marker(id)), Some(id));
        assert_eq!(parse_marker("made by hand"), None);
    }
}
