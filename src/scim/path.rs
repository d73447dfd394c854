//! Resolving attribute paths against a resource type's schemas (RFC 7644 §3.10): names match
//! case-insensitively, a URN prefix selects a schema, and the result carries the canonical
//! names and how values compare.

use super::error::ScimError;
use super::filter::{RawFilter, RawPath};
use super::schema::{Attribute, COMMON_ATTRIBUTES, Mutability, ResourceType, Returned};
use crate::domain::filter::{AttrRef, Filter, ValueKind};

/// A path resolved to schema attributes.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    /// The extension schema's URN, `None` for core and common attributes.
    pub extension: Option<&'static str>,
    /// The top-level attribute.
    pub attribute: &'static Attribute,
    /// The sub-attribute, if the path names one.
    pub sub: Option<&'static Attribute>,
}

impl Resolved {
    /// The attribute the path ends at.
    pub fn leaf(&self) -> &'static Attribute {
        self.sub.unwrap_or(self.attribute)
    }

    /// The resolved path as the domain's attribute reference.
    pub fn attr_ref(&self) -> AttrRef {
        let leaf = self.leaf();
        AttrRef {
            extension: self.extension.map(str::to_owned),
            name: self.attribute.name.to_owned(),
            sub: self.sub.map(|s| s.name.to_owned()),
            kind: leaf.kind,
            case_exact: leaf.case_exact,
            multi_valued: self.attribute.multi_valued,
        }
    }
}

/// Finds the attribute a path names in a resource type.
pub fn resolve(path: &RawPath, resource: &ResourceType) -> Result<Resolved, String> {
    let (extension, attribute) = match &path.uri {
        Some(uri) => {
            let schema = resource
                .schemas()
                .find(|s| s.id.eq_ignore_ascii_case(uri))
                .ok_or_else(|| format!("{uri:?} is not a schema of {}", resource.name))?;
            let is_core = schema.id == resource.schema.id;
            let attribute = schema
                .attribute(&path.attr)
                .or_else(|| is_core.then(|| common(&path.attr)).flatten())
                .ok_or_else(|| format!("{} has no attribute {:?}", schema.id, path.attr))?;
            ((!is_core).then_some(schema.id), attribute)
        }
        None => {
            // RFC 7644 §3.10: an unqualified name is a core attribute. One the core schema lacks
            // is looked up in the extensions (Entra writes `manager` for the Enterprise
            // extension's); no extension attribute of ours shares a core attribute's name.
            match common(&path.attr).or_else(|| resource.schema.attribute(&path.attr)) {
                Some(attribute) => (None, attribute),
                None => resource
                    .extensions
                    .iter()
                    .find_map(|s| s.attribute(&path.attr).map(|a| (Some(s.id), a)))
                    .ok_or_else(|| format!("{} has no attribute {:?}", resource.name, path.attr))?,
            }
        }
    };
    let sub = match &path.sub {
        Some(name) => Some(
            attribute
                .sub_attribute(name)
                .ok_or_else(|| format!("{} has no sub-attribute {name:?}", attribute.name))?,
        ),
        None => None,
    };
    Ok(Resolved {
        extension,
        attribute,
        sub,
    })
}

fn common(name: &str) -> Option<&'static Attribute> {
    COMMON_ATTRIBUTES
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

/// Resolves every path of a parsed filter; unknown attributes and attributes that cannot be
/// filtered (write-only ones) are `invalidFilter`.
pub fn resolve_filter(raw: &RawFilter, resource: &ResourceType) -> Result<Filter, ScimError> {
    resolve_with(raw, resource, false)
}

/// Like [`resolve_filter`], but a comparison on an attribute the resource type lacks is false
/// instead of an error: a root search's filter names attributes of several types.
pub fn resolve_filter_across(raw: &RawFilter, resource: &ResourceType) -> Filter {
    resolve_with(raw, resource, true).unwrap_or(Filter::Constant(false))
}

fn resolve_with(
    raw: &RawFilter,
    resource: &ResourceType,
    lenient: bool,
) -> Result<Filter, ScimError> {
    let term = |result: Result<Filter, ScimError>| match (result, lenient) {
        (Err(_), true) => Ok(Filter::Constant(false)),
        (result, _) => result,
    };
    Ok(match raw {
        RawFilter::And(a, b) => Filter::And(
            Box::new(resolve_with(a, resource, lenient)?),
            Box::new(resolve_with(b, resource, lenient)?),
        ),
        RawFilter::Or(a, b) => Filter::Or(
            Box::new(resolve_with(a, resource, lenient)?),
            Box::new(resolve_with(b, resource, lenient)?),
        ),
        RawFilter::Not(inner) => Filter::Not(Box::new(resolve_with(inner, resource, lenient)?)),
        RawFilter::Present(path) => term(filterable(path, resource, false).map(Filter::Present))?,
        RawFilter::Compare(path, op, value) => term(filterable(path, resource, true).map(
            |attr| Filter::Compare {
                attr,
                op: *op,
                value: value.clone(),
            },
        ))?,
        RawFilter::ValuePath(path, inner) => term(resolve_value_path(path, inner, resource))?,
    })
}

fn resolve_value_path(
    path: &RawPath,
    inner: &RawFilter,
    resource: &ResourceType,
) -> Result<Filter, ScimError> {
    let parent = resolve(path, resource).map_err(ScimError::invalid_filter)?;
    if parent.attribute.kind != ValueKind::Complex {
        return Err(ScimError::invalid_filter(format!(
            "{} has no sub-attributes to filter on in [...]",
            parent.attribute.name
        )));
    }
    Ok(Filter::ValuePath {
        attr: parent.attr_ref(),
        filter: Box::new(resolve_within(inner, parent)?),
    })
}

/// Resolves the inner filter of a value path: its names are sub-attributes of `parent`.
pub(crate) fn resolve_within(raw: &RawFilter, parent: Resolved) -> Result<Filter, ScimError> {
    let sub = |path: &RawPath| -> Result<AttrRef, ScimError> {
        let found = (path.uri.is_none() && path.sub.is_none())
            .then(|| parent.attribute.sub_attribute(&path.attr))
            .flatten()
            .ok_or_else(|| {
                ScimError::invalid_filter(format!(
                    "{} has no sub-attribute {:?}",
                    parent.attribute.name, path.attr
                ))
            })?;
        Ok(Resolved {
            sub: Some(found),
            ..parent
        }
        .attr_ref())
    };
    Ok(match raw {
        RawFilter::And(a, b) => Filter::And(
            Box::new(resolve_within(a, parent)?),
            Box::new(resolve_within(b, parent)?),
        ),
        RawFilter::Or(a, b) => Filter::Or(
            Box::new(resolve_within(a, parent)?),
            Box::new(resolve_within(b, parent)?),
        ),
        RawFilter::Not(inner) => Filter::Not(Box::new(resolve_within(inner, parent)?)),
        RawFilter::Present(path) => Filter::Present(sub(path)?),
        RawFilter::Compare(path, op, value) => Filter::Compare {
            attr: sub(path)?,
            op: *op,
            value: value.clone(),
        },
        RawFilter::ValuePath(..) => {
            return Err(ScimError::invalid_filter(
                "a value path cannot contain another value path",
            ));
        }
    })
}

/// Resolves a path used in a comparison or `pr`. Comparing a complex attribute without naming a
/// sub-attribute compares its `value` (RFC 7644 §3.4.2.2: `emails co "example.com"`).
fn filterable(
    path: &RawPath,
    resource: &ResourceType,
    comparing: bool,
) -> Result<AttrRef, ScimError> {
    let mut resolved = resolve(path, resource).map_err(ScimError::invalid_filter)?;
    if comparing && resolved.sub.is_none() && resolved.attribute.kind == ValueKind::Complex {
        resolved.sub = Some(resolved.attribute.sub_attribute("value").ok_or_else(|| {
            ScimError::invalid_filter(format!(
                "{} is complex: compare one of its sub-attributes, like {}.{}",
                resolved.attribute.name,
                resolved.attribute.name,
                resolved
                    .attribute
                    .sub_attributes
                    .first()
                    .map(|s| s.name)
                    .unwrap_or("value")
            ))
        })?);
    }
    let leaf = resolved.leaf();
    if leaf.mutability == Mutability::WriteOnly || leaf.returned == Returned::Never {
        return Err(ScimError::invalid_filter(format!(
            "{} cannot be filtered on",
            leaf.name
        )));
    }
    Ok(resolved.attr_ref())
}

/// Parses and resolves a filter for a resource type: what list and search requests call.
pub fn parse_filter_across(text: &str, resource: &ResourceType) -> Result<Filter, ScimError> {
    Ok(resolve_filter_across(
        &super::filter::parse(text)?,
        resource,
    ))
}

/// Parses and resolves a filter for a resource type: what list and search requests call.
pub fn parse_filter(text: &str, resource: &ResourceType) -> Result<Filter, ScimError> {
    resolve_filter(&super::filter::parse(text)?, resource)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::filter::{CompValue, CompareOp};
    use crate::scim::schema::{GROUP_TYPE, USER_TYPE};

    fn attr(filter: &Filter) -> Option<&AttrRef> {
        match filter {
            Filter::Compare { attr, .. } | Filter::Present(attr) => Some(attr),
            _ => None,
        }
    }

    #[test]
    fn attribute_names_resolve_to_their_canonical_case() {
        let filter = parse_filter(r#"USERNAME eq "x""#, &USER_TYPE).ok();
        let resolved = filter.as_ref().and_then(attr);
        assert_eq!(resolved.map(|a| a.name.as_str()), Some("userName"));
        assert_eq!(resolved.map(|a| a.case_exact), Some(false));
    }

    #[test]
    fn urn_qualified_core_and_extension_names_resolve() {
        let core = parse_filter(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq "B""#,
            &USER_TYPE,
        )
        .ok();
        let core = core.as_ref().and_then(attr);
        assert_eq!(
            core.map(|a| (a.name.as_str(), a.sub.as_deref())),
            Some(("name", Some("givenName")))
        );
        let ext = parse_filter(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "R""#,
            &USER_TYPE,
        )
        .ok();
        let ext = ext.as_ref().and_then(attr);
        assert!(ext.is_some_and(|a| a.extension.is_some() && a.name == "department"));
    }

    #[test]
    fn comparing_a_complex_attribute_compares_its_value() {
        let filter = parse_filter(r#"emails co "example.com""#, &USER_TYPE).ok();
        assert_eq!(
            filter
                .as_ref()
                .and_then(attr)
                .and_then(|a| a.sub.as_deref()),
            Some("value")
        );
    }

    #[test]
    fn value_path_filters_name_sub_attributes_of_their_attribute() {
        let filter = parse_filter(r#"emails[TYPE eq "work"]"#, &USER_TYPE);
        let Ok(Filter::ValuePath { attr, filter }) = filter else {
            unreachable!("{filter:?}")
        };
        assert_eq!(attr.name, "emails");
        assert_eq!(
            *filter,
            Filter::Compare {
                attr: AttrRef {
                    extension: None,
                    name: "emails".into(),
                    sub: Some("type".into()),
                    kind: ValueKind::String,
                    case_exact: false,
                    multi_valued: true,
                },
                op: CompareOp::Eq,
                value: CompValue::Str("work".into()),
            }
        );
    }

    #[test]
    fn unknown_and_unfilterable_attributes_are_invalid_filters() {
        for text in [
            r#"nope eq "x""#,
            r#"name.nope eq "x""#,
            r#"password eq "x""#,
            r#"name eq "x""#,
            r#"emails[nope eq "x"]"#,
        ] {
            let result = parse_filter(text, &USER_TYPE);
            assert!(
                matches!(&result, Err(e) if e.detail.len() > 5),
                "{text}: {result:?}"
            );
        }
        assert!(parse_filter(r#"userName eq "x""#, &GROUP_TYPE).is_err());
    }

    #[test]
    fn unqualified_extension_attribute_names_resolve_to_their_extension() {
        let filter = parse_filter(r#"manager eq "m-1""#, &USER_TYPE).ok();
        let resolved = filter.as_ref().and_then(attr);
        assert_eq!(
            resolved.map(|a| (a.extension.as_deref(), a.name.as_str(), a.sub.as_deref())),
            Some((
                Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
                "manager",
                Some("value")
            ))
        );
    }

    #[test]
    fn meta_attributes_are_filterable() {
        let filter = parse_filter(
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            &GROUP_TYPE,
        )
        .ok();
        assert_eq!(
            filter.as_ref().and_then(attr).map(|a| a.kind),
            Some(ValueKind::DateTime)
        );
    }
}
