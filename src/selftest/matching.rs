//! Comparing a response with what a replay step expects: the expected JSON is a pattern that
//! the actual JSON must contain.
//!
//! - an object matches when every expected key matches (other keys may be there);
//! - `"$absent"` as a value means the key must not be there; `"$any"` means it must be;
//! - a list matches a list of the same length whose elements match one each, in any order
//!   (member lists come back in insertion order, which a replay cannot always predict);
//! - strings compare exactly, except `$`-prefixed patterns above.

use serde_json::Value;

/// `None` when `actual` matches `expected`, else where and how it differs.
pub fn mismatch(expected: &Value, actual: Option<&Value>, at: &str) -> Option<String> {
    match (expected, actual) {
        (Value::String(s), None) if s == "$absent" => None,
        (Value::String(s), Some(found)) if s == "$absent" => {
            Some(format!("{at}: expected no value, found {found}"))
        }
        (_, None) => Some(format!("{at}: missing, expected {expected}")),
        (Value::String(s), Some(_)) if s == "$any" => None,
        (Value::Object(want), Some(Value::Object(have))) => want
            .iter()
            .find_map(|(key, value)| mismatch(value, have.get(key), &format!("{at}.{key}"))),
        (Value::Array(want), Some(Value::Array(have))) => {
            if want.len() != have.len() {
                return Some(format!(
                    "{at}: expected {} values, found {}: {}",
                    want.len(),
                    have.len(),
                    Value::Array(have.clone())
                ));
            }
            let mut unused: Vec<&Value> = have.iter().collect();
            for (i, wanted) in want.iter().enumerate() {
                let place = format!("{at}[{i}]");
                match unused
                    .iter()
                    .position(|candidate| mismatch(wanted, Some(candidate), &place).is_none())
                {
                    Some(found) => {
                        unused.remove(found);
                    }
                    None => {
                        return Some(format!(
                            "{place}: nothing in {} matches {wanted}",
                            Value::Array(have.clone())
                        ));
                    }
                }
            }
            None
        }
        (want, Some(have)) if want == have => None,
        (want, Some(have)) => Some(format!("{at}: expected {want}, found {have}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expected_json_is_a_pattern_the_actual_json_contains() {
        let actual =
            json!({"id": "1", "active": false, "members": [{"value": "b"}, {"value": "a"}]});
        assert_eq!(
            mismatch(&json!({"active": false}), Some(&actual), "$"),
            None
        );
        assert_eq!(
            mismatch(
                &json!({"members": [{"value": "a"}, {"value": "b"}]}),
                Some(&actual),
                "$"
            ),
            None
        );
        assert_eq!(
            mismatch(
                &json!({"id": "$any", "title": "$absent"}),
                Some(&actual),
                "$"
            ),
            None
        );
        assert!(mismatch(&json!({"active": true}), Some(&actual), "$").is_some());
        assert!(mismatch(&json!({"members": [{"value": "a"}]}), Some(&actual), "$").is_some());
        assert!(mismatch(&json!({"id": "$absent"}), Some(&actual), "$").is_some());
        assert!(mismatch(&json!({"title": "x"}), Some(&actual), "$").is_some());
    }
}
