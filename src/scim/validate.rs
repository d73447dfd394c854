//! Checking a resource body against its schemas (RFC 7643 §2, §7) and bringing it into canonical
//! form: attribute names in the schema's spelling (names are case-insensitive, RFC 7643 §2.1),
//! extension attributes under their schema URN, unassigned (`null`, `[]`) attributes dropped,
//! read-only sub-attributes dropped (RFC 7643 §7: clients' values for them are ignored).
//!
//! The stored document is always canonical, so the database can answer a filter on
//! `name.givenName` by looking at exactly that key.

use serde_json::{Map, Value};

use super::dialect::{Normalisation, Quirks};
use super::error::ScimError;
use super::schema::{Attribute, COMMON_ATTRIBUTES, Mutability, ResourceType, Schema};
use crate::domain::filter::ValueKind;

/// Validates and canonicalises the attributes of a resource. Attributes the server manages
/// (`id`, `meta`, `schemas`) must already be removed.
pub fn canonicalize(
    resource: &ResourceType,
    attributes: Map<String, Value>,
    quirks: &mut Quirks,
) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    for (key, value) in attributes {
        if let Some(extension) = resource
            .extensions
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(&key))
        {
            let Value::Object(inner) = value else {
                if value.is_null() || empty_string(&value, quirks) {
                    continue;
                }
                return Err(ScimError::invalid_syntax(format!(
                    "{} must be an object holding that extension's attributes",
                    extension.id
                )));
            };
            let inner = canonicalize_schema(extension, inner, quirks)?;
            if !inner.is_empty() {
                out.insert(extension.id.to_owned(), Value::Object(inner));
            }
            continue;
        }
        let attribute = resource.schema.attribute(&key).or_else(|| common(&key));
        let Some(attribute) = attribute else {
            if quirks.apply(Normalisation::DropUnknownAttributes) {
                continue;
            }
            return Err(unknown(&key, resource.schema.id));
        };
        insert(&mut out, attribute, value, quirks)?;
    }
    Ok(out)
}

fn canonicalize_schema(
    schema: &Schema,
    attributes: Map<String, Value>,
    quirks: &mut Quirks,
) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    for (key, value) in attributes {
        // Some clients repeat "schemas" inside an extension's object; it carries nothing.
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let Some(attribute) = schema.attribute(&key) else {
            if quirks.apply(Normalisation::DropUnknownAttributes) {
                continue;
            }
            return Err(unknown(&key, schema.id));
        };
        insert(&mut out, attribute, value, quirks)?;
    }
    Ok(out)
}

fn common(name: &str) -> Option<&'static Attribute> {
    COMMON_ATTRIBUTES
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name) && a.mutability != Mutability::ReadOnly)
}

fn unknown(name: &str, schema: &str) -> ScimError {
    ScimError::invalid_syntax(format!("{name:?} is not an attribute of {schema}"))
}

fn insert(
    out: &mut Map<String, Value>,
    attribute: &'static Attribute,
    value: Value,
    quirks: &mut Quirks,
) -> Result<(), ScimError> {
    if attribute.mutability == Mutability::ReadOnly {
        return Ok(());
    }
    if let Some(value) = attribute_value(attribute, value, quirks)? {
        out.insert(attribute.name.to_owned(), value);
    }
    Ok(())
}

/// `""` where empty values count as unassigned (OneLogin).
fn empty_string(value: &Value, quirks: &mut Quirks) -> bool {
    value.as_str() == Some("") && quirks.apply(Normalisation::DropEmptyValues)
}

/// The canonical value of one attribute, `None` when unassigned.
pub fn attribute_value(
    attribute: &Attribute,
    value: Value,
    quirks: &mut Quirks,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() || empty_string(&value, quirks) {
        return Ok(None);
    }
    if !attribute.multi_valued {
        return single_value(attribute, value, quirks);
    }
    let Value::Array(items) = value else {
        return Err(ScimError::invalid_value(format!(
            "{} is multi-valued: send a list",
            attribute.name
        )));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(item) = single_value(attribute, item, quirks)? {
            out.push(item);
        }
    }
    let primaries = out
        .iter()
        .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
        .count();
    if primaries > 1 {
        // RFC 7643 §2.4: the primary attribute value "true" MUST appear no more than once.
        return Err(ScimError::invalid_value(format!(
            "at most one value of {} may be primary",
            attribute.name
        )));
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

fn single_value(
    attribute: &Attribute,
    value: Value,
    quirks: &mut Quirks,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() || empty_string(&value, quirks) {
        return Ok(None);
    }
    if attribute.kind != ValueKind::Complex {
        return simple_value(attribute, value, quirks).map(Some);
    }
    let value = bare_complex_value(attribute, value, quirks);
    let Value::Object(fields) = value else {
        return Err(ScimError::invalid_value(format!(
            "{} must be an object with sub-attributes ({})",
            attribute.name,
            sub_names(attribute)
        )));
    };
    let mut out = Map::new();
    for (key, value) in fields {
        let Some(sub) = attribute.sub_attribute(&key) else {
            if quirks.apply(Normalisation::DropUnknownAttributes) {
                continue;
            }
            return Err(ScimError::invalid_syntax(format!(
                "{key:?} is not a sub-attribute of {} (it has {})",
                attribute.name,
                sub_names(attribute)
            )));
        };
        if sub.mutability == Mutability::ReadOnly || value.is_null() || empty_string(&value, quirks)
        {
            continue;
        }
        out.insert(sub.name.to_owned(), simple_value(sub, value, quirks)?);
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

/// Entra sends `manager` as `"id"` or `[{"value": "id"}]`; the complex form is `{"value": "id"}`.
fn bare_complex_value(attribute: &Attribute, value: Value, quirks: &mut Quirks) -> Value {
    if attribute.multi_valued || attribute.sub_attribute("value").is_none() {
        return value;
    }
    match value {
        Value::String(id) if quirks.apply(Normalisation::ManagerAsString) => {
            Value::Object(Map::from_iter([("value".to_owned(), Value::String(id))]))
        }
        Value::Array(mut items)
            if items.len() == 1
                && items[0].is_object()
                && quirks.apply(Normalisation::ManagerAsString) =>
        {
            items.pop().unwrap_or_default()
        }
        other => other,
    }
}

fn sub_names(attribute: &Attribute) -> String {
    attribute
        .sub_attributes
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks a value against a simple attribute's type (RFC 7643 §2.3).
fn simple_value(
    attribute: &Attribute,
    value: Value,
    quirks: &mut Quirks,
) -> Result<Value, ScimError> {
    if attribute.kind == ValueKind::Boolean
        && let Some(text) = value.as_str()
    {
        let parsed = match text.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        };
        if let Some(parsed) = parsed
            && quirks.apply(Normalisation::StringBooleans)
        {
            return Ok(Value::Bool(parsed));
        }
    }
    let fits = match attribute.kind {
        ValueKind::String | ValueKind::Reference | ValueKind::Binary => value.is_string(),
        ValueKind::Boolean => value.is_boolean(),
        ValueKind::Integer => value.is_i64() || value.is_u64(),
        ValueKind::Decimal => value.is_number(),
        ValueKind::DateTime => value
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        ValueKind::Complex => false,
    };
    if fits {
        return Ok(value);
    }
    let expected = match attribute.kind {
        ValueKind::String | ValueKind::Reference | ValueKind::Binary => "a string",
        ValueKind::Boolean => "true or false",
        ValueKind::Integer => "an integer",
        ValueKind::Decimal => "a number",
        ValueKind::DateTime => "an RFC 3339 date-time string",
        ValueKind::Complex => "an object",
    };
    Err(ScimError::invalid_value(format!(
        "{} must be {expected}, not {value}",
        attribute.name
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_TYPE, USER_TYPE};
    use serde_json::json;

    fn user(value: Value) -> Result<Value, ScimError> {
        let Value::Object(map) = value else {
            unreachable!()
        };
        canonicalize(&USER_TYPE, map, &mut Quirks::strict()).map(Value::Object)
    }

    #[test]
    fn names_take_the_schema_spelling_and_nulls_are_dropped() {
        let out = user(json!({
            "USERNAME": "a",
            "Name": {"GivenName": "B", "familyName": null},
            "EMAILS": [{"Value": "a@x", "PRIMARY": true}],
            "title": null,
            "phoneNumbers": [],
            "externalid": "e",
        }));
        assert_eq!(
            out.ok(),
            Some(json!({
                "userName": "a",
                "name": {"givenName": "B"},
                "emails": [{"value": "a@x", "primary": true}],
                "externalId": "e",
            }))
        );
    }

    #[test]
    fn extension_attributes_live_under_their_urn_and_read_only_parts_are_ignored() {
        let out = user(json!({
            "userName": "a",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {
                "Department": "R&D",
                "manager": {"value": "m", "displayName": "ignored"}
            },
            "groups": [{"value": "g"}],
        }));
        assert_eq!(
            out.ok(),
            Some(json!({
                "userName": "a",
                ENTERPRISE_USER_SCHEMA: {"department": "R&D", "manager": {"value": "m"}},
            }))
        );
    }

    #[test]
    fn wrong_types_unknown_attributes_and_two_primaries_are_refused() {
        for (body, scim_type) in [
            (json!({"userName": "a", "active": "maybe"}), "invalidValue"),
            (json!({"userName": 7}), "invalidValue"),
            (json!({"userName": "a", "emails": "a@x"}), "invalidValue"),
            (json!({"userName": "a", "name": "B"}), "invalidValue"),
            (json!({"userName": "a", "shoeSize": 42}), "invalidSyntax"),
            (
                json!({"userName": "a", "name": {"nick": "x"}}),
                "invalidSyntax",
            ),
            (
                json!({"userName": "a", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}),
                "invalidValue",
            ),
        ] {
            let error = user(body.clone()).err();
            let found = error.as_ref().and_then(|e| e.scim_type);
            assert_eq!(
                found.map(|t| format!("{t:?}")),
                Some(format!(
                    "{}{}",
                    scim_type[..1].to_uppercase(),
                    &scim_type[1..]
                )),
                "{body}"
            );
        }
    }

    #[test]
    fn dialects_normalise_what_their_idp_sends_and_generic_refuses_it() {
        use crate::domain::IdpKind;
        use crate::scim::dialect::Dialect;
        let read = |kind: IdpKind, body: Value| {
            let Value::Object(map) = body else {
                unreachable!()
            };
            let mut quirks = Quirks::new(Dialect::for_kind(kind));
            canonicalize(&USER_TYPE, map, &mut quirks)
                .map(|m| (Value::Object(m), quirks.fired().to_vec()))
        };
        let entra = json!({"userName": "a", "active": "False",
                           ENTERPRISE_USER_SCHEMA: {"manager": "m-1"}});
        let (out, fired) = read(IdpKind::Entra, entra.clone()).unwrap_or_default();
        assert_eq!(out["active"], json!(false));
        assert_eq!(
            out[ENTERPRISE_USER_SCHEMA]["manager"],
            json!({"value": "m-1"})
        );
        assert_eq!(
            fired,
            [
                Normalisation::StringBooleans,
                Normalisation::ManagerAsString
            ]
        );
        assert!(read(IdpKind::Generic, entra).is_err());
        let onelogin = json!({"userName": "a", "title": "", "customField": "x",
                              "name": {"givenName": "", "familyName": "F"}});
        let (out, _) = read(IdpKind::Onelogin, onelogin.clone()).unwrap_or_default();
        assert_eq!(out, json!({"userName": "a", "name": {"familyName": "F"}}));
        assert!(read(IdpKind::Generic, onelogin).is_err());
    }

    #[test]
    fn groups_validate_against_the_group_schema() {
        let Value::Object(map) = json!({"DISPLAYNAME": "Sales", "externalId": "x"}) else {
            unreachable!()
        };
        assert_eq!(
            canonicalize(&GROUP_TYPE, map, &mut Quirks::strict())
                .ok()
                .map(Value::Object),
            Some(json!({"displayName": "Sales", "externalId": "x"}))
        );
    }
}
