//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9): which attributes a response
//! carries. `id` and `schemas` are always returned; `attributes` keeps only what it names,
//! `excludedAttributes` drops what it names. Names that are not attributes of the resource type
//! select nothing.

use serde_json::{Map, Value};

use super::filter::parse_path;
use super::path::resolve;
use super::schema::{ResourceType, Returned};

/// One selected attribute, in canonical spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// The extension URN holding it, `None` for core and common attributes.
    extension: Option<&'static str>,
    /// The top-level attribute; `None` selects the whole extension.
    attribute: Option<&'static str>,
    /// A sub-attribute.
    sub: Option<&'static str>,
}

/// What a response returns: the selection, less `returned: request` attributes not named.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Projection {
    selection: Selection,
    hidden: Vec<Selected>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
enum Selection {
    /// Every attribute whose `returned` is not `request` or `never`.
    #[default]
    Default,
    /// Only these (and the always-returned ones).
    Only(Vec<Selected>),
    /// All but these.
    Except(Vec<Selected>),
}

impl Projection {
    /// Reads the two parameters; when both are given, `attributes` wins (RFC 7644 §3.4.2.5
    /// leaves the combination undefined).
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
        resource: &ResourceType,
    ) -> Projection {
        let list = |text: &str| -> Vec<Selected> {
            text.split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .filter_map(|name| select(name, resource))
                .collect()
        };
        let selection = match (attributes, excluded) {
            (Some(names), _) if !names.trim().is_empty() => Selection::Only(list(names)),
            (_, Some(names)) if !names.trim().is_empty() => Selection::Except(list(names)),
            _ => Selection::Default,
        };
        let named = |s: &Selected| matches!(&selection, Selection::Only(list) if list.contains(s));
        let hidden = request_only(resource)
            .into_iter()
            .filter(|s| !named(s))
            .collect();
        Projection { selection, hidden }
    }

    /// Whether the response carries the top-level core attribute `name` (the store skips
    /// loading a group's members when it does not).
    pub fn returns(&self, name: &str) -> bool {
        let names =
            |selected: &Selected| selected.extension.is_none() && selected.attribute == Some(name);
        match &self.selection {
            Selection::Default => true,
            Selection::Only(list) => list.iter().any(names),
            Selection::Except(list) => !list.iter().any(|s| names(s) && s.sub.is_none()),
        }
    }

    /// Applies the projection to a rendered resource.
    pub fn apply(&self, resource: Value) -> Value {
        let Value::Object(mut fields) = resource else {
            return resource;
        };
        match &self.selection {
            Selection::Default => {}
            Selection::Only(list) => {
                let mut out = Map::new();
                for key in ALWAYS {
                    if let Some(value) = fields.get(key) {
                        out.insert(key.to_owned(), value.clone());
                    }
                }
                for selected in list {
                    copy(&fields, &mut out, selected);
                }
                fields = out;
            }
            Selection::Except(list) => {
                for selected in list {
                    remove(&mut fields, selected);
                }
            }
        }
        for selected in &self.hidden {
            remove(&mut fields, selected);
        }
        Value::Object(fields)
    }
}

/// Returned whatever the parameters say (RFC 7643 §7 `returned: always`, and `schemas`).
const ALWAYS: [&str; 2] = ["schemas", "id"];

/// The (sub-)attributes of the resource type returned only when named (RFC 7643 §7).
fn request_only(resource: &ResourceType) -> Vec<Selected> {
    let mut out = Vec::new();
    for schema in resource.schemas() {
        let extension = (schema.id != resource.schema.id).then_some(schema.id);
        for attribute in schema.attributes {
            if attribute.returned == Returned::Request {
                out.push(Selected {
                    extension,
                    attribute: Some(attribute.name),
                    sub: None,
                });
            }
            for sub in attribute.sub_attributes {
                if sub.returned == Returned::Request {
                    out.push(Selected {
                        extension,
                        attribute: Some(attribute.name),
                        sub: Some(sub.name),
                    });
                }
            }
        }
    }
    out
}

fn select(name: &str, resource: &ResourceType) -> Option<Selected> {
    if let Some(extension) = resource
        .extensions
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(name))
    {
        return Some(Selected {
            extension: Some(extension.id),
            attribute: None,
            sub: None,
        });
    }
    let resolved = resolve(&parse_path(name).ok()?, resource).ok()?;
    if resolved.attribute.returned == Returned::Always {
        return None;
    }
    Some(Selected {
        extension: resolved.extension,
        attribute: Some(resolved.attribute.name),
        sub: resolved.sub.map(|s| s.name),
    })
}

fn holder<'a>(
    fields: &'a Map<String, Value>,
    selected: &Selected,
) -> Option<&'a Map<String, Value>> {
    match selected.extension {
        None => Some(fields),
        Some(urn) => fields.get(urn).and_then(Value::as_object),
    }
}

fn copy(from: &Map<String, Value>, to: &mut Map<String, Value>, selected: &Selected) {
    let Some(source) = holder(from, selected) else {
        return;
    };
    let target = match selected.extension {
        None => to,
        Some(urn) => match to
            .entry(urn.to_owned())
            .or_insert_with(|| Value::Object(Map::new()))
        {
            Value::Object(map) => map,
            _ => return,
        },
    };
    let Some(attribute) = selected.attribute else {
        target.extend(source.clone());
        return;
    };
    let Some(value) = source.get(attribute) else {
        return;
    };
    let Some(sub) = selected.sub else {
        target.insert(attribute.to_owned(), value.clone());
        return;
    };
    let only_sub = |element: &Value| -> Option<(String, Value)> {
        element.get(sub).map(|v| (sub.to_owned(), v.clone()))
    };
    match (value, target.entry(attribute.to_owned())) {
        (Value::Object(_), entry) => {
            if let (Some((k, v)), Value::Object(map)) = (
                only_sub(value),
                entry.or_insert_with(|| Value::Object(Map::new())),
            ) {
                map.insert(k, v);
            }
        }
        (Value::Array(items), entry) => {
            // Several sub-attributes of one list (`emails.value,emails.type`) merge per element.
            let existing = entry.or_insert_with(|| {
                Value::Array(items.iter().map(|_| Value::Object(Map::new())).collect())
            });
            if let Value::Array(out) = existing {
                for (element, source) in out.iter_mut().zip(items) {
                    if let (Value::Object(element), Some((k, v))) = (element, only_sub(source)) {
                        element.insert(k, v);
                    }
                }
            }
        }
        _ => {}
    }
}

fn remove(fields: &mut Map<String, Value>, selected: &Selected) {
    let holder = match selected.extension {
        None => Some(fields),
        Some(urn) => {
            if selected.attribute.is_none() {
                fields.remove(urn);
                return;
            }
            fields.get_mut(urn).and_then(Value::as_object_mut)
        }
    };
    let (Some(holder), Some(attribute)) = (holder, selected.attribute) else {
        return;
    };
    match selected.sub {
        None => {
            holder.remove(attribute);
        }
        Some(sub) => match holder.get_mut(attribute) {
            Some(Value::Object(map)) => {
                map.remove(sub);
            }
            Some(Value::Array(items)) => {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    item.remove(sub);
                }
            }
            _ => {}
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, USER_TYPE};
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "1",
            "userName": "alice",
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "emails": [{"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"}],
            ENTERPRISE_USER_SCHEMA: {"department": "R&D", "costCenter": "7"},
            "meta": {"resourceType": "User"}
        })
    }

    fn project(attributes: Option<&str>, excluded: Option<&str>) -> Value {
        Projection::parse(attributes, excluded, &USER_TYPE).apply(user())
    }

    #[test]
    fn attributes_keep_only_what_they_name_plus_id_and_schemas() {
        assert_eq!(
            project(Some("USERNAME,name.givenName,emails.value"), None),
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": "1",
                "userName": "alice",
                "name": {"givenName": "Alice"},
                "emails": [{"value": "a@x"}, {"value": "b@x"}],
            })
        );
        let department = project(
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
            None,
        );
        assert_eq!(
            department[ENTERPRISE_USER_SCHEMA],
            json!({"department": "R&D"})
        );
    }

    #[test]
    fn excluded_attributes_drop_what_they_name_but_never_the_id() {
        let out = project(
            None,
            Some("emails,name.familyName,id,meta,".to_owned().as_str()),
        );
        assert_eq!(out["id"], "1");
        assert!(out.get("emails").is_none() && out.get("meta").is_none());
        assert_eq!(out["name"], json!({"givenName": "Alice"}));
        let out = project(None, Some(ENTERPRISE_USER_SCHEMA));
        assert!(out.get(ENTERPRISE_USER_SCHEMA).is_none());
    }

    #[test]
    fn request_only_attributes_appear_only_when_named() {
        let group = json!({"id": "g", "members": [{"value": "u", "display": "Alice"}]});
        let project = |attributes| {
            Projection::parse(attributes, None, &crate::scim::schema::GROUP_TYPE)
                .apply(group.clone())
        };
        assert_eq!(project(None)["members"], json!([{"value": "u"}]));
        assert_eq!(project(Some("members"))["members"], json!([{"value": "u"}]));
        assert_eq!(
            project(Some("members.display,members.value"))["members"],
            json!([{"display": "Alice", "value": "u"}])
        );
    }

    #[test]
    fn projections_say_whether_a_top_level_attribute_is_returned() {
        let only = Projection::parse(Some("displayName"), None, &crate::scim::schema::GROUP_TYPE);
        assert!(!only.returns("members"));
        let except = Projection::parse(None, Some("members"), &crate::scim::schema::GROUP_TYPE);
        assert!(!except.returns("members"));
        assert!(Projection::default().returns("members"));
    }
}
