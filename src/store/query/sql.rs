//! The few SQL fragments that differ between SQLite and PostgreSQL: reading a value out of the
//! stored JSON document, iterating a JSON list, finding a substring, and byte-order string
//! comparison. Everything else the filter translation writes is plain SQL both understand.
//!
//! Fragments are templates with `?` for each argument; arguments are bound values or other
//! expressions, never text spliced into SQL, so no attribute value can change the statement.

use sea_orm::sea_query::{Expr, SimpleExpr};

use crate::store::Backend;

/// Builds SQL for one backend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sql {
    pub backend: Backend,
}

impl Sql {
    /// An expression from a template whose `?`s take `args` in order. PostgreSQL's
    /// placeholders are numbered (`$1`), SQLite's are not; sea-query renumbers them to the
    /// statement's own when the expression is put into a statement.
    pub fn template(&self, template: &str, args: Vec<SimpleExpr>) -> SimpleExpr {
        let text = match self.backend {
            Backend::Sqlite => template.to_owned(),
            Backend::Postgres => {
                let mut out = String::with_capacity(template.len() + 8);
                let mut n = 0;
                for c in template.chars() {
                    if c == '?' {
                        n += 1;
                        out.push_str(&format!("${n}"));
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        };
        Expr::cust_with_exprs(text, args)
    }

    /// The text of the JSON value at `keys` inside `document` (a JSON column or a list element),
    /// NULL when absent or JSON null.
    pub fn json_text(&self, document: &str, keys: &[String]) -> SimpleExpr {
        match self.backend {
            Backend::Sqlite => self.template(
                &format!("json_extract({document}, ?)"),
                vec![Expr::val(sqlite_path(keys))],
            ),
            // A list of simple values: the element itself.
            Backend::Postgres if keys.is_empty() => {
                self.template(&format!("({document} #>> '{{}}')"), vec![])
            }
            Backend::Postgres => self.template(
                &format!(
                    "jsonb_extract_path_text({document}{})",
                    ", ?".repeat(keys.len())
                ),
                keys.iter().map(|k| Expr::val(k.clone())).collect(),
            ),
        }
    }

    /// True when the JSON value at `keys` is `true`.
    pub fn json_is_true(&self, document: &str, keys: &[String]) -> SimpleExpr {
        match self.backend {
            Backend::Sqlite => self.template(
                &format!("(json_type({document}, ?) = 'true')"),
                vec![Expr::val(sqlite_path(keys))],
            ),
            Backend::Postgres => {
                let text = self.json_text(document, keys);
                self.template("(? = 'true')", vec![text])
            }
        }
    }

    /// `EXISTS` over the elements of the JSON list at `keys` of `document`; `condition` is built
    /// on the element expression it is given.
    pub fn exists_element(
        &self,
        document: &str,
        keys: &[String],
        condition: impl FnOnce(&str) -> SimpleExpr,
    ) -> SimpleExpr {
        match self.backend {
            Backend::Sqlite => {
                let inner = condition("e.value");
                self.template(
                    &format!("EXISTS (SELECT 1 FROM json_each({document}, ?) AS e WHERE ?)"),
                    vec![Expr::val(sqlite_path(keys)), inner],
                )
            }
            Backend::Postgres => {
                let inner = condition("e.elem");
                let list = |sql: &Sql| {
                    sql.template(
                        &format!("jsonb_extract_path({document}{})", ", ?".repeat(keys.len())),
                        keys.iter().map(|k| Expr::val(k.clone())).collect(),
                    )
                };
                // A stored list is always a JSON array (validation guarantees it); the CASE keeps
                // a hand-edited row from failing the whole query.
                self.template(
                    "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(?) = 'array' \
                     THEN ? ELSE '[]'::jsonb END) AS e(elem) WHERE ?)",
                    vec![list(self), list(self), inner],
                )
            }
        }
    }

    /// `haystack` contains `needle`, case-sensitively (LIKE is case-insensitive on SQLite).
    pub fn contains(&self, haystack: SimpleExpr, needle: SimpleExpr) -> SimpleExpr {
        let function = match self.backend {
            Backend::Sqlite => "instr",
            Backend::Postgres => "strpos",
        };
        self.template(&format!("({function}(?, ?) > 0)"), vec![haystack, needle])
    }

    /// `left op right` comparing strings by code point on both backends (PostgreSQL would
    /// otherwise use the database's locale).
    pub fn ordered(&self, left: SimpleExpr, op: &str, right: SimpleExpr) -> SimpleExpr {
        match self.backend {
            Backend::Sqlite => self.template(&format!("(? {op} ?)"), vec![left, right]),
            Backend::Postgres => {
                self.template(&format!("(? COLLATE \"C\" {op} ?)"), vec![left, right])
            }
        }
    }
}

/// SQLite's JSON path for `keys`: `$."name"."givenName"`; digits index into lists.
fn sqlite_path(keys: &[String]) -> String {
    let mut path = String::from("$");
    for key in keys {
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{key}]"));
        } else {
            path.push_str(&format!(".\"{}\"", key.replace('"', "")));
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_quote_keys_so_urns_with_dots_and_colons_work() {
        assert_eq!(
            sqlite_path(&[
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into(),
                "manager".into(),
                "value".into()
            ]),
            "$.\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\".\"manager\".\"value\""
        );
        assert_eq!(
            sqlite_path(&["emails".into(), "0".into(), "value".into()]),
            "$.\"emails\"[0].\"value\""
        );
    }
}
