//! Evaluating a value-path filter (`emails[type eq "work"]`, RFC 7644 §3.5.2) against one element
//! of a multi-valued attribute. PATCH uses it to pick the elements of the one resource it is
//! changing; list and search filters never come here: the database answers those.

use serde_json::Value;

use crate::domain::filter::{AttrRef, CompValue, CompareOp, Filter, ValueKind};

/// Whether `element` (one value of a multi-valued attribute) satisfies `filter`, whose attributes
/// name sub-attributes of that element.
pub fn matches(element: &Value, filter: &Filter) -> bool {
    match filter {
        Filter::And(a, b) => matches(element, a) && matches(element, b),
        Filter::Or(a, b) => matches(element, a) || matches(element, b),
        Filter::Not(inner) => !matches(element, inner),
        Filter::Constant(value) => *value,
        Filter::Present(attr) => field(element, attr).is_some_and(is_present),
        Filter::Compare { attr, op, value } => compare(field(element, attr), attr, *op, value),
        // The parser refuses a value path inside a value path.
        Filter::ValuePath { .. } => false,
    }
}

fn field<'a>(element: &'a Value, attr: &AttrRef) -> Option<&'a Value> {
    match &attr.sub {
        Some(sub) => element.get(sub.as_str()),
        // A multi-valued attribute of simple values: the element is the value.
        None => Some(element),
    }
}

fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => true,
    }
}

fn compare(found: Option<&Value>, attr: &AttrRef, op: CompareOp, wanted: &CompValue) -> bool {
    let found = found.filter(|v| !v.is_null());
    match (found, wanted) {
        (None, CompValue::Null) => op == CompareOp::Eq,
        (Some(_), CompValue::Null) => op == CompareOp::Ne,
        (None, _) => op == CompareOp::Ne,
        (Some(Value::Bool(have)), CompValue::Bool(want)) => match op {
            CompareOp::Eq => have == want,
            CompareOp::Ne => have != want,
            _ => false,
        },
        (Some(Value::Number(have)), CompValue::Number(want)) => {
            let (Some(have), Some(want)) = (have.as_f64(), want.as_f64()) else {
                return false;
            };
            ordered(have.partial_cmp(&want), op)
        }
        (Some(Value::String(have)), CompValue::Str(want)) => {
            let fold = !attr.case_exact && attr.kind != ValueKind::DateTime;
            let (have, want) = match fold {
                true => (have.to_lowercase(), want.to_lowercase()),
                false => (have.clone(), want.clone()),
            };
            match op {
                CompareOp::Co => have.contains(&want),
                CompareOp::Sw => have.starts_with(&want),
                CompareOp::Ew => have.ends_with(&want),
                _ => ordered(Some(have.cmp(&want)), op),
            }
        }
        _ => op == CompareOp::Ne,
    }
}

fn ordered(ordering: Option<std::cmp::Ordering>, op: CompareOp) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    matches!(
        (op, ordering),
        (CompareOp::Eq, Some(Equal))
            | (CompareOp::Ne, Some(Less | Greater) | None)
            | (CompareOp::Gt, Some(Greater))
            | (CompareOp::Ge, Some(Greater | Equal))
            | (CompareOp::Lt, Some(Less))
            | (CompareOp::Le, Some(Less | Equal))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::path::parse_filter;
    use crate::scim::schema::USER_TYPE;
    use serde_json::json;

    fn inner(text: &str) -> Filter {
        match parse_filter(text, &USER_TYPE) {
            Ok(Filter::ValuePath { filter, .. }) => *filter,
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn value_path_filters_select_elements() {
        let work = json!({"type": "Work", "value": "A@Example.com", "primary": true});
        let home = json!({"type": "home", "value": "a@home.example"});
        let filter = inner(r#"emails[type eq "work" and value co "example.com"]"#);
        assert!(matches(&work, &filter));
        assert!(!matches(&home, &filter));
        assert!(matches(&home, &inner(r#"emails[not (primary eq true)]"#)));
        assert!(matches(
            &work,
            &inner(r#"emails[primary eq true or type eq "x"]"#)
        ));
        assert!(matches(&home, &inner(r#"emails[display eq null]"#)));
        assert!(matches(&work, &inner(r#"emails[type pr]"#)));
        assert!(!matches(&work, &inner(r#"emails[display pr]"#)));
        assert!(matches(
            &work,
            &inner(r#"emails[value sw "a@" and value ew ".COM"]"#)
        ));
    }
}
