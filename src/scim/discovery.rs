//! The discovery resources (RFC 7644 §4, RFC 7643 §5–§7): `/ServiceProviderConfig`,
//! `/ResourceTypes` and `/Schemas`, rendered from the schema data that validation, filters and
//! PATCH use, so what is advertised is what is implemented.

use serde_json::{Value, json};

use super::list::MAX_PAGE_SIZE;
use super::resource::Urls;
use super::schema::{
    Attribute, GROUP_TYPE, Mutability, ResourceType, Returned, Schema, USER_TYPE, Uniqueness,
};
use crate::domain::filter::ValueKind;

/// The resource types dirsync serves.
pub const RESOURCE_TYPES: [ResourceType; 2] = [USER_TYPE, GROUP_TYPE];

/// Limits advertised in the ServiceProviderConfig (RFC 7643 §5) and enforced by the API.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most operations in one Bulk request.
    pub bulk_max_operations: usize,
    /// Largest Bulk request body, in bytes.
    pub bulk_max_payload_bytes: u64,
}

/// `GET /ServiceProviderConfig`.
pub fn service_provider_config(urls: &Urls, limits: Limits) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://www.rfc-editor.org/rfc/rfc7644",
        "patch": {"supported": true},
        "bulk": {
            "supported": true,
            "maxOperations": limits.bulk_max_operations,
            "maxPayloadSize": limits.bulk_max_payload_bytes,
        },
        "filter": {"supported": true, "maxResults": MAX_PAGE_SIZE},
        // Passwords are accepted and discarded: dirsync authenticates nobody with them.
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A bearer token issued by `dirsync token create`, sent as \"Authorization: Bearer <token>\".",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", urls.base),
        },
    })
}

/// One `ResourceType` resource.
pub fn resource_type(resource: &ResourceType, urls: &Urls) -> Value {
    let extensions: Vec<Value> = resource
        .extensions
        .iter()
        .map(|s| json!({"schema": s.id, "required": false}))
        .collect();
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": resource.name,
        "name": resource.name,
        "endpoint": resource.endpoint,
        "description": resource.description,
        "schema": resource.schema.id,
        "schemaExtensions": extensions,
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{}/ResourceTypes/{}", urls.base, resource.name),
        },
    })
}

/// Every schema dirsync implements, core schemas first.
pub fn schemas() -> Vec<&'static Schema> {
    let mut all: Vec<&'static Schema> = Vec::new();
    for resource in &RESOURCE_TYPES {
        all.push(&resource.schema);
    }
    for resource in &RESOURCE_TYPES {
        all.extend(resource.extensions.iter());
    }
    all
}

/// One `Schema` resource (RFC 7643 §7).
pub fn schema(schema: &Schema, urls: &Urls) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attributes.iter().map(attribute).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Schema",
            "location": format!("{}/Schemas/{}", urls.base, schema.id),
        },
    })
}

fn attribute(attribute: &Attribute) -> Value {
    let mut out = json!({
        "name": attribute.name,
        "type": type_name(attribute.kind),
        "multiValued": attribute.multi_valued,
        "description": attribute.description,
        "required": attribute.required,
        "caseExact": attribute.case_exact,
        "mutability": match attribute.mutability {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        },
        "returned": match attribute.returned {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        },
        "uniqueness": match attribute.uniqueness {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        },
    });
    if let Some(fields) = out.as_object_mut() {
        if !attribute.canonical_values.is_empty() {
            fields.insert("canonicalValues".into(), json!(attribute.canonical_values));
        }
        if !attribute.reference_types.is_empty() {
            fields.insert("referenceTypes".into(), json!(attribute.reference_types));
        }
        if !attribute.sub_attributes.is_empty() {
            let subs: Vec<Value> = attribute
                .sub_attributes
                .iter()
                .map(self::attribute)
                .collect();
            fields.insert("subAttributes".into(), Value::Array(subs));
        }
    }
    out
}

fn type_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::String => "string",
        ValueKind::Boolean => "boolean",
        ValueKind::Decimal => "decimal",
        ValueKind::Integer => "integer",
        ValueKind::DateTime => "dateTime",
        ValueKind::Reference => "reference",
        ValueKind::Binary => "binary",
        ValueKind::Complex => "complex",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> Urls {
        Urls {
            base: "https://scim.example/api/scim/v2".into(),
        }
    }

    #[test]
    fn every_schema_attribute_is_advertised_with_its_characteristics() {
        let user = schema(&USER_TYPE.schema, &urls());
        let names: Vec<&str> = user["attributes"]
            .as_array()
            .map(|a| a.iter().filter_map(|a| a["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(names.len(), USER_TYPE.schema.attributes.len());
        let password =
            &user["attributes"][names.iter().position(|n| *n == "password").unwrap_or(0)];
        assert_eq!(password["mutability"], "writeOnly");
        assert_eq!(password["returned"], "never");
        let user_name = &user["attributes"][0];
        assert_eq!(
            (
                &user_name["name"],
                &user_name["uniqueness"],
                &user_name["caseExact"]
            ),
            (&json!("userName"), &json!("server"), &json!(false))
        );
        assert_eq!(schemas().len(), 3);
    }

    #[test]
    fn resource_types_name_their_schemas_and_extensions() {
        let user = resource_type(&USER_TYPE, &urls());
        assert_eq!(user["endpoint"], "/Users");
        assert_eq!(
            user["schemaExtensions"][0]["schema"],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        );
        assert_eq!(
            user["meta"]["location"],
            "https://scim.example/api/scim/v2/ResourceTypes/User"
        );
    }
}
