//! PATCH (RFC 7644 §3.5.2): a PatchOp body parsed into operations, and applied to one resource's
//! document. Group members never pass through the document: operations on `members` fold into a
//! [`MembersChange`] of row deltas, so no member list is ever read and written back.
//!
//! A request is all-or-nothing: operations apply in order to a copy, and the first failure
//! discards the copy.

use serde_json::{Map, Value};

use super::dialect::{Normalisation, Quirks};
use super::element_filter::matches;
use super::error::{ScimError, ScimType};
use super::filter::{self, parse_path};
use super::path::{Resolved, resolve, resolve_within};
use super::resource::parse_members;
use super::schema::{Attribute, Mutability, ResourceType};
use super::validate::{attribute_value, canonicalize};
use crate::domain::filter::{CompValue, CompareOp, Filter, ValueKind};
use crate::domain::{Document, MemberValue, MembersChange};

/// URN of the PatchOp message (RFC 7644 §3.5.2).
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Most operations accepted in one PATCH request.
pub const MAX_OPERATIONS: usize = 1000;

/// The three PATCH operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOp {
    /// Add values (append to lists, merge into complex attributes).
    Add,
    /// Replace values.
    Replace,
    /// Remove values.
    Remove,
}

/// One operation as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// What to do.
    pub op: PatchOp,
    /// Where, as text; `None` means the value names the attributes.
    pub path: Option<String>,
    /// The value, absent for most removes.
    pub value: Option<Value>,
}

/// A parsed PatchOp request.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    /// The operations, in request order.
    pub operations: Vec<Operation>,
}

/// Reads a PatchOp body.
pub fn parse_patch(body: Value, quirks: &mut Quirks) -> Result<PatchRequest, ScimError> {
    let Value::Object(body) = body else {
        return Err(ScimError::invalid_syntax(
            "a PATCH body is a PatchOp object",
        ));
    };
    let field = |name: &str| {
        body.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let declares_patch = field("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|s| s.as_str() == Some(PATCH_SCHEMA)));
    if !declares_patch {
        return Err(ScimError::invalid_syntax(format!(
            "a PATCH body must list {PATCH_SCHEMA} in \"schemas\""
        )));
    }
    let Some(Value::Array(items)) = field("Operations") else {
        return Err(ScimError::invalid_syntax(
            "a PATCH body needs \"Operations\", a list of operations",
        ));
    };
    if items.is_empty() || items.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_value(format!(
            "a PATCH request carries 1 to {MAX_OPERATIONS} operations, not {}",
            items.len()
        )));
    }
    let operations = items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_operation(item, quirks).map_err(|e| at_operation(e, i)))
        .collect::<Result<_, _>>()?;
    Ok(PatchRequest { operations })
}

fn at_operation(mut error: ScimError, index: usize) -> ScimError {
    error.detail = format!("operation {}: {}", index + 1, error.detail);
    error
}

fn parse_operation(item: &Value, quirks: &mut Quirks) -> Result<Operation, ScimError> {
    let Value::Object(fields) = item else {
        return Err(ScimError::invalid_syntax(
            "each operation is an object with \"op\"",
        ));
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let sent = field("op").and_then(Value::as_str).unwrap_or_default();
    let lower = sent.to_ascii_lowercase();
    let spelled_right = lower == sent || quirks.apply(Normalisation::OpsAnyCase);
    let op = match lower.as_str() {
        "add" if spelled_right => PatchOp::Add,
        "replace" if spelled_right => PatchOp::Replace,
        "remove" if spelled_right => PatchOp::Remove,
        _ => {
            return Err(ScimError::invalid_syntax(
                "\"op\" must be \"add\", \"replace\" or \"remove\"",
            ));
        }
    };
    let path = match field("path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if !p.trim().is_empty() => Some(p.trim().to_owned()),
        Some(_) => return Err(invalid_path("\"path\" must be a non-empty string")),
    };
    let value = field("value").filter(|v| !v.is_null()).cloned();
    match (op, &path, &value) {
        // RFC 7644 §3.5.2.2: a remove without a path is noTarget.
        (PatchOp::Remove, None, _) => Err(ScimError::bad_request(
            ScimType::NoTarget,
            "a remove operation needs a \"path\"",
        )),
        (PatchOp::Add | PatchOp::Replace, _, None) => Err(ScimError::invalid_value(
            "add and replace operations need a \"value\"",
        )),
        (PatchOp::Add | PatchOp::Replace, None, Some(v)) if !v.is_object() => {
            Err(ScimError::invalid_value(
                "without a \"path\", the value must be an object of attributes",
            ))
        }
        _ => Ok(Operation { op, path, value }),
    }
}

fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidPath, detail)
}

fn no_target(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::NoTarget, detail)
}

/// A PATCH path resolved against the schema: `attr[.sub]` or `attr[filter][.sub]`.
#[derive(Debug, Clone)]
struct Target {
    resolved: Resolved,
    filter: Option<Filter>,
}

impl Target {
    fn attribute(&self) -> &'static Attribute {
        self.resolved.attribute
    }
    fn sub(&self) -> Option<&'static Attribute> {
        self.resolved.sub
    }
}

/// Parses `attrPath`, `attrPath "[" valFilter "]"` or `attrPath "[" valFilter "]." subAttr`
/// (RFC 7644 §3.5.2, the PATH rule).
fn parse_target(
    text: &str,
    resource: &ResourceType,
    quirks: &mut Quirks,
) -> Result<Target, ScimError> {
    let (attr_text, filter_text, sub_text) = match text.find('[') {
        None => (text, None, None),
        Some(open) => {
            let close = text
                .rfind(']')
                .filter(|&close| close > open)
                .ok_or_else(|| invalid_path(format!("{text:?}: \"[\" without \"]\"")))?;
            let after = &text[close + 1..];
            let sub = match after.strip_prefix('.') {
                Some(sub) => Some(sub),
                None if after.is_empty() => None,
                None => return Err(invalid_path(format!("{text:?}: unexpected {after:?}"))),
            };
            (&text[..open], Some(&text[open + 1..close]), sub)
        }
    };
    let raw = parse_path(attr_text).map_err(invalid_path)?;
    if filter_text.is_some() && raw.sub.is_some() {
        return Err(invalid_path(format!(
            "{text:?}: a filter follows an attribute, not a sub-attribute"
        )));
    }
    let mut resolved = resolve(&raw, resource).map_err(invalid_path)?;
    let filter = match filter_text {
        None => None,
        Some(inner) => {
            let filterable = resolved.attribute.multi_valued
                || (resolved.attribute.kind == ValueKind::Complex
                    && quirks.apply(Normalisation::FilterOnSingleValued));
            if !filterable {
                return Err(invalid_path(format!(
                    "{text:?}: only multi-valued attributes can be filtered"
                )));
            }
            let raw_filter = filter::parse(inner).map_err(|e| invalid_path(e.detail))?;
            Some(resolve_within(&raw_filter, resolved).map_err(|e| invalid_path(e.detail))?)
        }
    };
    if let Some(sub) = sub_text {
        resolved.sub = Some(resolved.attribute.sub_attribute(sub).ok_or_else(|| {
            invalid_path(format!(
                "{text:?}: {} has no sub-attribute {sub:?}",
                resolved.attribute.name
            ))
        })?);
    }
    let leaf = resolved.leaf();
    if resolved.attribute.mutability == Mutability::ReadOnly
        || leaf.mutability == Mutability::ReadOnly
    {
        return Err(ScimError::bad_request(
            ScimType::Mutability,
            format!("{text:?} is read-only"),
        ));
    }
    Ok(Target { resolved, filter })
}

/// The outcome of applying a PATCH to a group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupPatch {
    /// The group's new attributes, members excluded.
    pub document: Document,
    /// The members to add and remove.
    pub members: MembersChange,
}

impl PatchRequest {
    /// Applies the operations to a user's document; the result is validated like a PUT body.
    /// `id` is the user's, for operations that name it.
    pub fn apply_to_user(
        &self,
        resource: &ResourceType,
        id: &str,
        current: &Document,
        quirks: &mut Quirks,
    ) -> Result<Document, ScimError> {
        let mut members = MembersChange::Keep;
        self.apply(resource, id, current, &mut members, quirks)
    }

    /// Applies the operations to a group's document and folds member operations into one
    /// change of membership rows.
    pub fn apply_to_group(
        &self,
        resource: &ResourceType,
        id: &str,
        current: &Document,
        quirks: &mut Quirks,
    ) -> Result<GroupPatch, ScimError> {
        let mut members = MembersChange::Keep;
        let document = self.apply(resource, id, current, &mut members, quirks)?;
        Ok(GroupPatch { document, members })
    }

    fn apply(
        &self,
        resource: &ResourceType,
        id: &str,
        current: &Document,
        members: &mut MembersChange,
        quirks: &mut Quirks,
    ) -> Result<Document, ScimError> {
        let mut document = current.attributes().clone();
        for (i, operation) in self.operations.iter().enumerate() {
            let mut engine = Engine {
                resource,
                id,
                document: &mut document,
                members,
                quirks,
            };
            engine
                .operation(operation)
                .map_err(|e| at_operation(e, i))?;
        }
        Ok(Document::new(canonicalize(resource, document, quirks)?))
    }
}

struct Engine<'a> {
    resource: &'a ResourceType,
    id: &'a str,
    document: &'a mut Map<String, Value>,
    members: &'a mut MembersChange,
    quirks: &'a mut Quirks,
}

impl Engine<'_> {
    fn operation(&mut self, operation: &Operation) -> Result<(), ScimError> {
        match (&operation.path, &operation.value) {
            (Some(path), value) => {
                if let Some(schema) = self
                    .resource
                    .extensions
                    .iter()
                    .find(|s| s.id.eq_ignore_ascii_case(path))
                {
                    return self.extension(operation.op, schema.id, value.clone());
                }
                let target = parse_target(path, self.resource, self.quirks)?;
                self.at(operation.op, &target, value.clone())
            }
            (None, Some(Value::Object(attributes))) => self.pathless(operation.op, attributes),
            (None, _) => Err(ScimError::invalid_value("the operation has no target")),
        }
    }

    /// RFC 7644 §3.5.2.1/§3.5.2.3 without a path: each key of the value names an attribute (or
    /// an extension's URN, whose object names that extension's attributes).
    fn pathless(&mut self, op: PatchOp, attributes: &Map<String, Value>) -> Result<(), ScimError> {
        for (key, value) in attributes {
            if key.eq_ignore_ascii_case("schemas") {
                continue;
            }
            if key.eq_ignore_ascii_case("id")
                && value
                    .as_str()
                    .is_some_and(|id| id.eq_ignore_ascii_case(self.id))
                && self.quirks.apply(Normalisation::PatchIdEcho)
            {
                continue;
            }
            let extension = self
                .resource
                .extensions
                .iter()
                .find(|s| s.id.eq_ignore_ascii_case(key));
            match (extension, value) {
                (Some(schema), Value::Object(inner)) => {
                    for (name, value) in inner {
                        if name.eq_ignore_ascii_case("schemas") {
                            continue;
                        }
                        let path = format!("{}:{name}", schema.id);
                        let target = parse_target(&path, self.resource, self.quirks)?;
                        self.at(op, &target, Some(value.clone()))?;
                    }
                }
                _ => {
                    // RFC 7644 §3.5.2.1: without a path the value's keys are attribute names;
                    // Entra writes paths there.
                    let is_name = key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "$-_".contains(c));
                    if !is_name && !self.quirks.apply(Normalisation::PathlessValuePaths) {
                        return Err(invalid_path(format!(
                            "{key:?}: without a \"path\", the value's keys are attribute names"
                        )));
                    }
                    let target = parse_target(key, self.resource, self.quirks)?;
                    self.at(op, &target, Some(value.clone()))?;
                }
            }
        }
        Ok(())
    }

    /// A path that is an extension's URN: the whole extension. Remove drops it; add and replace
    /// take an object of that extension's attributes.
    fn extension(&mut self, op: PatchOp, urn: &str, value: Option<Value>) -> Result<(), ScimError> {
        match (op, value) {
            (PatchOp::Remove, _) => {
                self.document.remove(urn);
                Ok(())
            }
            (_, Some(Value::Object(attributes))) => {
                if op == PatchOp::Replace {
                    self.document.remove(urn);
                }
                let wrapped = Map::from_iter([(urn.to_owned(), Value::Object(attributes))]);
                self.pathless(op, &wrapped)
            }
            _ => Err(ScimError::invalid_value(format!(
                "the value for {urn} is an object of its attributes"
            ))),
        }
    }

    fn at(&mut self, op: PatchOp, target: &Target, value: Option<Value>) -> Result<(), ScimError> {
        let attribute = target.attribute();
        if attribute.mutability == Mutability::WriteOnly {
            // The password: accepted, never stored (RFC 7643 §4.1.1).
            return Ok(());
        }
        if self.resource.name == "Group" && attribute.name == "members" {
            return self.members_at(op, target, value);
        }
        let Some(container) = container(self.document, target, op)? else {
            return Ok(()); // removing from an extension that has no values
        };
        let name = attribute.name;
        let quirks = &mut *self.quirks;
        match (&target.filter, target.sub()) {
            (None, None) => whole_attribute(container, attribute, op, value, quirks),
            (None, Some(sub)) => sub_attribute(container, attribute, sub, op, value, quirks),
            (Some(filter), sub) => {
                let edit = Edit {
                    attribute,
                    filter,
                    sub,
                    op,
                    value,
                };
                let result = match attribute.multi_valued {
                    true => filtered(container, &edit, quirks),
                    false => filtered_single(container, &edit, quirks),
                };
                result.map_err(|e| match e.scim_type {
                    Some(ScimType::NoTarget) if e.detail.is_empty() => {
                        no_target(format!("no value of {name} matches the filter"))
                    }
                    _ => e,
                })
            }
        }
    }

    fn members_at(
        &mut self,
        op: PatchOp,
        target: &Target,
        value: Option<Value>,
    ) -> Result<(), ScimError> {
        if target.sub().is_some() {
            return Err(invalid_path(
                "members are changed whole: use the path \"members\" or members[value eq \"id\"]",
            ));
        }
        let change = std::mem::replace(self.members, MembersChange::Keep);
        *self.members = match (op, &target.filter, value) {
            (PatchOp::Add, None, Some(value)) => change.then_add(member_list(value)?),
            (PatchOp::Replace, None, Some(value)) => change.then_replace(member_list(value)?),
            // RFC 7644 §3.5.2.2 says a remove of "members" without a filter removes them all.
            // A value naming members means only those: removing everyone when a client meant
            // one member is the data loss this server exists to prevent.
            (PatchOp::Remove, None, Some(value)) => change.then_remove(member_list(value)?),
            (PatchOp::Remove, None, None) => change.then_replace(Vec::new()),
            (PatchOp::Remove, Some(filter), _) => change.then_remove(member_ids(filter)?),
            (_, Some(_), _) => {
                return Err(invalid_path(
                    "a members filter selects members to remove; add and replace take the path \"members\"",
                ));
            }
            (_, None, None) => return Err(ScimError::invalid_value("the operation needs a value")),
        };
        Ok(())
    }
}

/// The object holding the target attribute: the document, or its extension's object.
fn container<'d>(
    document: &'d mut Map<String, Value>,
    target: &Target,
    op: PatchOp,
) -> Result<Option<&'d mut Map<String, Value>>, ScimError> {
    let Some(urn) = target.resolved.extension else {
        return Ok(Some(document));
    };
    if op == PatchOp::Remove && !document.contains_key(urn) {
        return Ok(None);
    }
    let entry = document
        .entry(urn.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    match entry {
        Value::Object(map) => Ok(Some(map)),
        _ => Err(ScimError::invalid_value(format!("{urn} is not an object"))),
    }
}

fn member_list(value: Value) -> Result<Vec<MemberValue>, ScimError> {
    parse_members(value)
}

/// The ids a members filter selects: `value eq "id"` terms joined by `or`.
fn member_ids(filter: &Filter) -> Result<Vec<MemberValue>, ScimError> {
    match filter {
        Filter::Or(a, b) => Ok([member_ids(a)?, member_ids(b)?].concat()),
        Filter::Compare {
            attr,
            op: CompareOp::Eq,
            value: CompValue::Str(id),
        } if attr.sub.as_deref() == Some("value") => Ok(vec![MemberValue {
            value: id.clone(),
            kind: None,
        }]),
        _ => Err(ScimError::invalid_filter(
            "members are selected by id: members[value eq \"id\"], joined with \"or\"",
        )),
    }
}

/// `op` on a whole attribute (RFC 7644 §3.5.2.1–3).
fn whole_attribute(
    container: &mut Map<String, Value>,
    attribute: &Attribute,
    op: PatchOp,
    value: Option<Value>,
    quirks: &mut Quirks,
) -> Result<(), ScimError> {
    let name = attribute.name;
    let Some(value) = value.filter(|_| op != PatchOp::Remove) else {
        container.remove(name);
        return Ok(());
    };
    if attribute.multi_valued {
        let value = match value {
            Value::Array(_) => value,
            single => Value::Array(vec![single]),
        };
        let new = match attribute_value(attribute, value, quirks)? {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        let mut list = match (op, container.remove(name)) {
            (PatchOp::Add, Some(Value::Array(existing))) => existing,
            _ => Vec::new(),
        };
        let first_new = list.len();
        for item in new {
            if !list.contains(&item) {
                list.push(item);
            }
        }
        keep_one_primary(&mut list, first_new);
        if !list.is_empty() {
            container.insert(name.to_owned(), Value::Array(list));
        }
        return Ok(());
    }
    let Some(value) = attribute_value(attribute, value, quirks)? else {
        container.remove(name);
        return Ok(());
    };
    match (attribute.kind, value, container.get_mut(name)) {
        // A complex value's sub-attributes replace or add to the current ones; the others
        // stay (RFC 7644 §3.5.2.1 and §3.5.2.3).
        (ValueKind::Complex, Value::Object(subs), Some(Value::Object(current))) => {
            current.extend(subs);
        }
        (_, value, _) => {
            container.insert(name.to_owned(), value);
        }
    }
    Ok(())
}

/// `op` on `attr.sub`: on a complex attribute, that sub-attribute; on a multi-valued one, that
/// sub-attribute of every value.
fn sub_attribute(
    container: &mut Map<String, Value>,
    attribute: &Attribute,
    sub: &Attribute,
    op: PatchOp,
    value: Option<Value>,
    quirks: &mut Quirks,
) -> Result<(), ScimError> {
    let name = attribute.name;
    let value = match (op, value) {
        (PatchOp::Remove, _) | (_, None) => None,
        (_, Some(v)) => attribute_value(sub, v, quirks)?,
    };
    let elements: Vec<&mut Map<String, Value>> = match container.get_mut(name) {
        Some(Value::Object(map)) => vec![map],
        Some(Value::Array(items)) => items.iter_mut().filter_map(Value::as_object_mut).collect(),
        _ => Vec::new(),
    };
    if elements.is_empty() {
        if let Some(value) = value {
            let element = Value::Object(Map::from_iter([(sub.name.to_owned(), value)]));
            let element = match attribute.multi_valued {
                true => Value::Array(vec![element]),
                false => element,
            };
            container.insert(name.to_owned(), element);
        }
        return Ok(());
    }
    for element in elements {
        set_or_remove(element, sub.name, value.clone());
    }
    Ok(())
}

/// One filtered operation: `attr[filter]` or `attr[filter].sub`.
struct Edit<'a> {
    attribute: &'a Attribute,
    filter: &'a Filter,
    sub: Option<&'a Attribute>,
    op: PatchOp,
    value: Option<Value>,
}

/// `op` on `attr[filter]` or `attr[filter].sub`: only the values the filter selects.
fn filtered(
    container: &mut Map<String, Value>,
    edit: &Edit<'_>,
    quirks: &mut Quirks,
) -> Result<(), ScimError> {
    let name = edit.attribute.name;
    let mut list = match container.remove(name) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let result = edit_list(&mut list, edit, quirks);
    if !list.is_empty() {
        container.insert(name.to_owned(), Value::Array(list));
    }
    result
}

/// A filter on a single-valued complex attribute (`manager[value eq "id"]`): its one value is
/// selected when it matches; it is never created this way.
fn filtered_single(
    container: &mut Map<String, Value>,
    edit: &Edit<'_>,
    quirks: &mut Quirks,
) -> Result<(), ScimError> {
    let name = edit.attribute.name;
    let mut list: Vec<Value> = container.remove(name).into_iter().collect();
    let result = match list.iter().any(|v| matches(v, edit.filter)) {
        true => edit_list(&mut list, edit, quirks),
        false if edit.op == PatchOp::Remove => Ok(()),
        false => Err(no_target("")),
    };
    if let Some(value) = list.pop() {
        container.insert(name.to_owned(), value);
    }
    result
}

fn edit_list(list: &mut Vec<Value>, edit: &Edit<'_>, quirks: &mut Quirks) -> Result<(), ScimError> {
    let mut selected: Vec<usize> = (0..list.len())
        .filter(|&i| matches(&list[i], edit.filter))
        .collect();
    if selected.is_empty() && edit.op != PatchOp::Remove {
        let Some(element) = element_from_filter(edit.filter)
            .filter(|_| quirks.apply(Normalisation::FilteredPathCreates))
        else {
            return Err(no_target(""));
        };
        list.push(element);
        selected.push(list.len() - 1);
    }
    match (edit.op, edit.sub) {
        (PatchOp::Remove, None) => {
            let mut index = 0;
            list.retain(|_| {
                index += 1;
                !selected.contains(&(index - 1))
            });
        }
        (op, Some(sub)) => {
            let value = match (op, edit.value.clone()) {
                (PatchOp::Remove, _) | (_, None) => None,
                (_, Some(v)) => attribute_value(sub, v, quirks)?,
            };
            for &i in &selected {
                if let Some(element) = list[i].as_object_mut() {
                    set_or_remove(element, sub.name, value.clone());
                }
            }
            if sub.name == "primary" && value == Some(Value::Bool(true)) {
                keep_one_primary_at(list, &selected);
            }
        }
        (op, None) => {
            let replacement = edit
                .value
                .clone()
                .map(|v| element_value(edit.attribute, v, quirks))
                .transpose()?
                .flatten();
            for &i in &selected {
                match (op, &replacement, list[i].as_object_mut()) {
                    (PatchOp::Add, Some(Value::Object(subs)), Some(element)) => {
                        element.extend(subs.clone());
                    }
                    (_, Some(replacement), _) => list[i] = replacement.clone(),
                    _ => {}
                }
            }
            if selected
                .iter()
                .any(|&i| list[i].get("primary") == Some(&Value::Bool(true)))
            {
                keep_one_primary_at(list, &selected);
            }
        }
    }
    Ok(())
}

/// The value a filter of `sub eq "x"` terms describes (`type eq "work"` → `{"type": "work"}`),
/// for Entra's filtered paths that create what they do not find. Anything but `eq` and `and`
/// describes no single value.
fn element_from_filter(filter: &Filter) -> Option<Value> {
    fn collect(filter: &Filter, into: &mut Map<String, Value>) -> Option<()> {
        match filter {
            Filter::And(a, b) => {
                collect(a, into)?;
                collect(b, into)
            }
            Filter::Compare {
                attr,
                op: CompareOp::Eq,
                value,
            } => {
                let value = match value {
                    CompValue::Str(s) => Value::String(s.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    _ => return None,
                };
                into.insert(attr.sub.clone()?, value);
                Some(())
            }
            _ => None,
        }
    }
    let mut element = Map::new();
    collect(filter, &mut element)?;
    Some(Value::Object(element))
}

/// One value of an attribute, checked: an element of a list, or a single complex value.
fn element_value(
    attribute: &Attribute,
    value: Value,
    quirks: &mut Quirks,
) -> Result<Option<Value>, ScimError> {
    if !attribute.multi_valued {
        return attribute_value(attribute, value, quirks);
    }
    Ok(
        match attribute_value(attribute, Value::Array(vec![value]), quirks)? {
            Some(Value::Array(mut items)) => items.pop(),
            _ => None,
        },
    )
}

fn set_or_remove(element: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(value) => {
            element.insert(key.to_owned(), value);
        }
        None => {
            element.remove(key);
        }
    }
}

/// RFC 7644 §3.5.2: a value added as primary takes "primary" from every other value. Values
/// from `first_new` on are the new ones; the last new primary wins.
fn keep_one_primary(list: &mut [Value], first_new: usize) {
    let new_primary = (first_new..list.len())
        .rev()
        .find(|&i| list[i].get("primary") == Some(&Value::Bool(true)));
    if let Some(keep) = new_primary {
        keep_one_primary_at(list, &[keep]);
    }
}

fn keep_one_primary_at(list: &mut [Value], preferred: &[usize]) {
    let Some(&keep) = preferred
        .iter()
        .rev()
        .find(|&&i| list[i].get("primary") == Some(&Value::Bool(true)))
    else {
        return;
    };
    for (i, element) in list.iter_mut().enumerate() {
        if i != keep
            && let Some(map) = element.as_object_mut()
            && map.get("primary") == Some(&Value::Bool(true))
        {
            map.insert("primary".into(), Value::Bool(false));
        }
    }
}

#[cfg(test)]
mod tests;
