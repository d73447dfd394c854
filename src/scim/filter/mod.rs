//! The SCIM filter language (RFC 7644 §3.4.2.2), parsed by recursive descent:
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"
//! attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//! logExp    = FILTER SP ("and" / "or") SP FILTER
//! ```
//!
//! `not` binds tighter than `and`, which binds tighter than `or`. Keywords and operators are
//! case-insensitive (ABNF literals are). The parser yields a [`RawFilter`] whose attribute paths
//! are still text; [`super::path`] resolves them against the schema into a domain `Filter`.
//! Errors say where the filter broke, as a character position.

use serde_json::Number;

use super::error::ScimError;
use crate::domain::filter::{CompValue, CompareOp};

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LENGTH: usize = 4096;
/// Deepest nesting of parentheses, `not` and value paths accepted.
pub const MAX_FILTER_DEPTH: usize = 32;

/// An attribute path as written: `[URI ":"] ATTRNAME ["." subAttr]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPath {
    /// The schema URN, when the name was qualified.
    pub uri: Option<String>,
    /// The attribute name.
    pub attr: String,
    /// The sub-attribute name.
    pub sub: Option<String>,
}

/// A parsed filter whose attribute paths are not resolved yet.
#[derive(Debug, Clone, PartialEq)]
pub enum RawFilter {
    /// `a and b`
    And(Box<RawFilter>, Box<RawFilter>),
    /// `a or b`
    Or(Box<RawFilter>, Box<RawFilter>),
    /// `not (a)`
    Not(Box<RawFilter>),
    /// `attr pr`
    Present(RawPath),
    /// `attr op value`
    Compare(RawPath, CompareOp, CompValue),
    /// `attr[filter]`; inner paths are relative to `attr`.
    ValuePath(RawPath, Box<RawFilter>),
}

/// Parses a filter expression.
pub fn parse(text: &str) -> Result<RawFilter, ScimError> {
    if text.len() > MAX_FILTER_LENGTH {
        return Err(ScimError::invalid_filter(format!(
            "the filter is longer than {MAX_FILTER_LENGTH} bytes"
        )));
    }
    let mut parser = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    let filter = parser.or_expression(false)?;
    parser.skip_space();
    if parser.pos < text.len() {
        return Err(parser.error("unexpected text after the end of the filter"));
    }
    Ok(filter)
}

/// Parses an attribute path (also used for PATCH paths and `sortBy`).
pub fn parse_path(text: &str) -> Result<RawPath, String> {
    // The URI part may itself contain ':' and '.' ("…:core:2.0:User"), so the attribute name is
    // whatever follows the last ':'.
    let (uri, rest) = match text.rfind(':') {
        Some(i) => (Some(&text[..i]), &text[i + 1..]),
        None => (None, text),
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((attr, sub)) => (attr, Some(sub)),
        None => (rest, None),
    };
    let valid_name = |name: &str| {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !valid_name(attr) || sub.is_some_and(|s| !valid_name(s)) || uri.is_some_and(str::is_empty) {
        return Err(format!("{text:?} is not an attribute path"));
    }
    Ok(RawPath {
        uri: uri.map(str::to_owned),
        attr: attr.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> ScimError {
        let near: String = self.text[self.pos..].chars().take(20).collect();
        let near = if near.is_empty() {
            "the end".to_owned()
        } else {
            format!("{near:?}")
        };
        ScimError::invalid_filter(format!(
            "invalid filter at character {}: {what} (near {near})",
            self.text[..self.pos].chars().count() + 1
        ))
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    fn peek_char(&mut self) -> Option<char> {
        self.skip_space();
        self.rest().chars().next()
    }

    fn eat_char(&mut self, c: char) -> bool {
        if self.peek_char() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// The next word: a run of characters up to space, a bracket, a parenthesis or a quote.
    fn peek_word(&mut self) -> &str {
        self.skip_space();
        let rest = self.rest();
        let end = rest
            .find(|c: char| c.is_whitespace() || "()[]\"".contains(c))
            .unwrap_or(rest.len());
        &rest[..end]
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        if self.peek_word().eq_ignore_ascii_case(keyword) {
            self.pos += keyword.len();
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(self.error(&format!("nested deeper than {MAX_FILTER_DEPTH} levels")));
        }
        Ok(())
    }

    /// `and_expression ("or" and_expression)*`; `in_value_path` forbids nested value paths.
    fn or_expression(&mut self, in_value_path: bool) -> Result<RawFilter, ScimError> {
        let mut left = self.and_expression(in_value_path)?;
        while self.eat_keyword("or") {
            let right = self.and_expression(in_value_path)?;
            left = RawFilter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expression(&mut self, in_value_path: bool) -> Result<RawFilter, ScimError> {
        let mut left = self.unary(in_value_path)?;
        while self.eat_keyword("and") {
            let right = self.unary(in_value_path)?;
            left = RawFilter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, in_value_path: bool) -> Result<RawFilter, ScimError> {
        if self.eat_keyword("not") {
            if self.peek_char() != Some('(') {
                return Err(self.error("expected \"(\" after \"not\""));
            }
            return Ok(RawFilter::Not(Box::new(self.group(in_value_path)?)));
        }
        if self.peek_char() == Some('(') {
            return self.group(in_value_path);
        }
        self.attribute_expression(in_value_path)
    }

    fn group(&mut self, in_value_path: bool) -> Result<RawFilter, ScimError> {
        self.enter()?;
        self.eat_char('(');
        let inner = self.or_expression(in_value_path)?;
        if !self.eat_char(')') {
            return Err(self.error("expected \")\""));
        }
        self.depth -= 1;
        Ok(inner)
    }

    fn attribute_expression(&mut self, in_value_path: bool) -> Result<RawFilter, ScimError> {
        let word = self.peek_word().to_owned();
        if word.is_empty() {
            return Err(self.error("expected an attribute name"));
        }
        let path = parse_path(&word).map_err(|e| self.error(&e))?;
        self.pos += word.len();
        if self.rest().starts_with('[') {
            if in_value_path {
                return Err(self.error("a value path cannot contain another value path"));
            }
            if path.sub.is_some() {
                return Err(self.error("a value path names an attribute, not a sub-attribute"));
            }
            self.enter()?;
            self.pos += 1;
            let inner = self.or_expression(true)?;
            if !self.eat_char(']') {
                return Err(self.error("expected \"]\""));
            }
            self.depth -= 1;
            // `emails[type eq "work"].value eq "x"`: not in the RFC grammar, but Entra sends it
            // when matching on email; it means `emails[type eq "work" and value eq "x"]`.
            if self.rest().starts_with('.') {
                self.pos += 1;
                let sub_word = self.peek_word().to_owned();
                let sub = parse_path(&sub_word)
                    .ok()
                    .filter(|p| p.uri.is_none() && p.sub.is_none())
                    .ok_or_else(|| self.error("expected a sub-attribute name after \"].\""))?;
                self.pos += sub_word.len();
                let condition = self.comparison(RawPath {
                    uri: None,
                    attr: sub.attr,
                    sub: None,
                })?;
                return Ok(RawFilter::ValuePath(
                    path,
                    Box::new(RawFilter::And(Box::new(inner), Box::new(condition))),
                ));
            }
            return Ok(RawFilter::ValuePath(path, Box::new(inner)));
        }
        self.comparison(path)
    }

    fn comparison(&mut self, path: RawPath) -> Result<RawFilter, ScimError> {
        let operator = self.peek_word().to_ascii_lowercase();
        let op = match operator.as_str() {
            "pr" => {
                self.pos += 2;
                return Ok(RawFilter::Present(path));
            }
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            "" => {
                return Err(
                    self.error("expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)")
                );
            }
            other => return Err(self.error(&format!("unknown operator {other:?}"))),
        };
        self.pos += operator.len();
        let value = self.value()?;
        Ok(RawFilter::Compare(path, op, value))
    }

    fn value(&mut self) -> Result<CompValue, ScimError> {
        if self.peek_char() == Some('"') {
            return self.string();
        }
        let word = self.peek_word().to_owned();
        let value = match word.to_ascii_lowercase().as_str() {
            "true" => CompValue::Bool(true),
            "false" => CompValue::Bool(false),
            "null" => CompValue::Null,
            "" => return Err(self.error("expected a value")),
            _ => match serde_json::from_str::<Number>(&word) {
                Ok(number) => CompValue::Number(number),
                Err(_) => {
                    return Err(
                        self.error("expected a value: a \"string\", a number, true, false or null")
                    );
                }
            },
        };
        self.pos += word.len();
        Ok(value)
    }

    /// A JSON string literal, escapes and all.
    fn string(&mut self) -> Result<CompValue, ScimError> {
        let rest = self.rest();
        let mut escaped = false;
        let end = rest
            .char_indices()
            .skip(1)
            .find(|&(_, c)| {
                let closes = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                closes
            })
            .map(|(i, _)| i + 1)
            .ok_or_else(|| self.error("unterminated string"))?;
        let value: String = serde_json::from_str(&rest[..end])
            .map_err(|_| self.error("invalid escape in string"))?;
        self.pos += end;
        Ok(CompValue::Str(value))
    }
}

#[cfg(test)]
mod tests;
