//! SCIM User and Group resources on the wire (RFC 7643 §4): reading request bodies into domain
//! data, and rendering stored resources with `id`, `meta` and derived attributes.

use serde_json::{Map, Value, json};

use super::dialect::Quirks;
use super::error::ScimError;
use super::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, GROUP_TYPE, USER_SCHEMA, USER_TYPE};
use super::validate::canonicalize;
use crate::domain::{
    Document, DomainError, Group, GroupData, MemberKind, MemberRef, MemberValue, ResourceMeta,
    User, UserData,
};

/// Where resources live, for `meta.location`, `$ref` and the `Location` header.
#[derive(Debug, Clone)]
pub struct Urls {
    /// The public base URL of the SCIM API, without a trailing slash.
    pub base: String,
}

impl Urls {
    /// `…/Users/{id}`
    pub fn user(&self, id: impl std::fmt::Display) -> String {
        format!("{}/Users/{id}", self.base)
    }
    /// `…/Groups/{id}`
    pub fn group(&self, id: impl std::fmt::Display) -> String {
        format!("{}/Groups/{id}", self.base)
    }
}

/// The weak ETag of a resource version (RFC 7644 §3.14).
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Attributes the server manages or derives; a client's values for them are ignored
/// (RFC 7643 §3.1: `id` and `meta` are assigned by the service provider; `groups` is readOnly).
const SERVER_MANAGED: [&str; 3] = ["id", "meta", "schemas"];

fn body_object(body: Value) -> Result<Map<String, Value>, ScimError> {
    match body {
        Value::Object(map) => Ok(map),
        other => Err(ScimError::invalid_syntax(format!(
            "the request body must be a JSON object, not {}",
            json_kind(&other)
        ))),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn invalid(error: DomainError) -> ScimError {
    ScimError::invalid_value(error.to_string())
}

/// Reads a User from a POST or PUT body. `password` is write-only and never stored; `groups` is
/// derived from memberships, so a client's value is ignored.
pub fn parse_user(body: Value, quirks: &mut Quirks) -> Result<UserData, ScimError> {
    let mut attributes = body_object(body)?;
    for key in SERVER_MANAGED.iter().chain(&["groups", "password"]) {
        attributes.retain(|name, _| !name.eq_ignore_ascii_case(key));
    }
    let attributes = canonicalize(&USER_TYPE, attributes, quirks)?;
    UserData::from_document(Document::new(attributes)).map_err(invalid)
}

/// Reads a Group and its members from a POST or PUT body.
pub fn parse_group(
    body: Value,
    quirks: &mut Quirks,
) -> Result<(GroupData, Vec<MemberValue>), ScimError> {
    let mut attributes = body_object(body)?;
    for key in SERVER_MANAGED {
        attributes.retain(|name, _| !name.eq_ignore_ascii_case(key));
    }
    let members_key = attributes
        .keys()
        .find(|k| k.eq_ignore_ascii_case("members"))
        .cloned();
    let members = match members_key.and_then(|k| attributes.remove(&k)) {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => parse_members(value)?,
    };
    let attributes = canonicalize(&GROUP_TYPE, attributes, quirks)?;
    Ok((
        GroupData::from_document(Document::new(attributes)).map_err(invalid)?,
        members,
    ))
}

/// Reads a `members` value: a list of `{"value": id, "type": "User"|"Group"}`.
pub fn parse_members(value: Value) -> Result<Vec<MemberValue>, ScimError> {
    let items = match value {
        Value::Array(items) => items,
        single @ Value::Object(_) => vec![single],
        other => {
            return Err(ScimError::invalid_value(format!(
                "members must be a list of objects, not {}",
                json_kind(&other)
            )));
        }
    };
    items.into_iter().map(parse_member).collect()
}

fn parse_member(item: Value) -> Result<MemberValue, ScimError> {
    let Value::Object(fields) = item else {
        return Err(ScimError::invalid_value(
            "each member must be an object with a \"value\"",
        ));
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let value = match field("value") {
        Some(Value::String(id)) => id.clone(),
        _ => {
            return Err(ScimError::invalid_value(
                "each member needs a \"value\" holding the member's id",
            ));
        }
    };
    let kind = match field("type") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if t.eq_ignore_ascii_case("User") => Some(MemberKind::User),
        Some(Value::String(t)) if t.eq_ignore_ascii_case("Group") => Some(MemberKind::Group),
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "a member's type must be \"User\" or \"Group\", not {other}"
            )));
        }
    };
    Ok(MemberValue { value, kind })
}

fn meta(resource_type: &str, meta: &ResourceMeta, location: String) -> Value {
    json!({
        "resourceType": resource_type,
        "created": meta.created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "lastModified": meta.last_modified.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "version": etag(meta.version),
        "location": location,
    })
}

/// Renders a stored user.
pub fn render_user(user: &User, urls: &Urls) -> Value {
    let mut out = user.data.document().attributes().clone();
    let mut schemas = vec![USER_SCHEMA];
    if out.contains_key(ENTERPRISE_USER_SCHEMA) {
        schemas.push(ENTERPRISE_USER_SCHEMA);
    }
    out.insert("schemas".into(), json!(schemas));
    out.insert("id".into(), json!(user.id.to_string()));
    if !user.groups.is_empty() {
        let groups: Vec<Value> = user
            .groups
            .iter()
            .map(|g| json!({"value": g.id.to_string(), "$ref": urls.group(g.id), "display": g.display, "type": "direct"}))
            .collect();
        out.insert("groups".into(), Value::Array(groups));
    }
    out.insert("meta".into(), meta("User", &user.meta, urls.user(user.id)));
    Value::Object(out)
}

/// Renders a stored group; `members` is present when the group was read with its members.
pub fn render_group(group: &Group, urls: &Urls) -> Value {
    let mut out = group.data.document().attributes().clone();
    out.insert("schemas".into(), json!([GROUP_SCHEMA]));
    out.insert("id".into(), json!(group.id.to_string()));
    if let Some(members) = &group.members {
        let members: Vec<Value> = members
            .iter()
            .map(|m| {
                let (kind, location) = match m.member {
                    MemberRef::User(id) => ("User", urls.user(id)),
                    MemberRef::Group(id) => ("Group", urls.group(id)),
                };
                let mut member =
                    json!({"value": m.member.id_string(), "$ref": location, "type": kind});
                if let (Some(display), Some(fields)) = (&m.display, member.as_object_mut()) {
                    fields.insert("display".into(), json!(display));
                }
                member
            })
            .collect();
        out.insert("members".into(), Value::Array(members));
    }
    out.insert(
        "meta".into(),
        meta("Group", &group.meta, urls.group(group.id)),
    );
    Value::Object(out)
}
