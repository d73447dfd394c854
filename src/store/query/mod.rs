//! Filter AST → SQL condition, and `sortBy` → ORDER BY expression (RFC 7644 §3.4.2.2–3).
//!
//! The database answers every filter; no request loads a tenant's resources to filter them in
//! memory. Attributes with a column of their own (userName, externalId, displayName, active,
//! meta dates, version) are compared on it, using its index where it has one; case-insensitive
//! ones on their lower-cased `*_key` column. Members and a user's groups are membership rows. Every other
//! attribute is read out of the stored document, whose keys are canonical (see
//! `scim::validate`), and multi-valued ones are `EXISTS` over their elements.
//!
//! Each comparison is NULL-safe (false when the attribute is absent), so `not (title eq "x")`
//! matches users without a title, as the RFC's logic expects.

mod sql;

use sea_orm::sea_query::{Condition, Expr, ExprTrait, SimpleExpr};
use uuid::Uuid;

use self::sql::Sql;
use super::Backend;
use crate::domain::DomainError;
use crate::domain::filter::{AttrRef, CompValue, CompareOp, Filter, Sort, ValueKind};

/// The table a query runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Users,
    Groups,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Groups => "groups",
        }
    }
    fn document(self) -> String {
        format!("\"{}\".\"resource\"", self.name())
    }
    fn column(self, column: &str) -> SimpleExpr {
        Expr::col((
            sea_orm::sea_query::Alias::new(self.name()),
            sea_orm::sea_query::Alias::new(column),
        ))
    }
}

/// The condition selecting the rows of `table` that match `filter`.
pub(crate) fn condition(
    backend: Backend,
    table: Table,
    filter: &Filter,
) -> Result<Condition, DomainError> {
    let translator = Translator {
        sql: Sql { backend },
        table,
    };
    Ok(Condition::all().add(translator.filter(filter)?))
}

/// Whether `filter` finds its rows through an index on a key: an `eq` on id, userName,
/// externalId or displayName, alone or within an `and`. Such a lookup (what IdPs send before
/// every create) reads a few rows however large the tenant, so it may run as a point read.
pub(crate) fn finds_by_key(backend: Backend, table: Table, filter: &Filter) -> bool {
    let translator = Translator {
        sql: Sql { backend },
        table,
    };
    translator.finds_by_key(filter)
}

/// The expression to order `table` by.
pub(crate) fn sort_expression(
    backend: Backend,
    table: Table,
    sort: &Sort,
) -> Result<SimpleExpr, DomainError> {
    let translator = Translator {
        sql: Sql { backend },
        table,
    };
    let attr = &sort.attr;
    if let Some(column) = translator.column(attr) {
        return Ok(column.expr);
    }
    if translator.membership(attr) {
        return Err(invalid(format!(
            "results cannot be sorted by {}",
            attr.name
        )));
    }
    // A multi-valued attribute sorts by its first value (RFC 7644 §3.4.2.3 allows the
    // service provider to choose).
    let mut keys = document_keys(attr);
    if attr.multi_valued {
        keys.insert(keys.len() - usize::from(attr.sub.is_some()), "0".into());
    }
    let text = translator.sql.json_text(&table.document(), &keys);
    Ok(match attr.case_exact {
        true => text,
        false => translator.sql.template("lower(?)", vec![text]),
    })
}

fn invalid(detail: String) -> DomainError {
    DomainError::InvalidFilter(detail)
}

/// An attribute with a column of its own.
struct Column {
    expr: SimpleExpr,
    kind: ColumnKind,
}

enum ColumnKind {
    /// A UUID key: only eq and ne.
    Id,
    /// Text compared as stored.
    Exact,
    /// Text stored lower-cased.
    Folded,
    Boolean,
    Time,
    /// `meta.version`, compared as the ETag `W/"n"` it is shown as.
    Version,
    /// `meta.resourceType`: the same for every row of the table.
    Constant(&'static str),
}

struct Translator {
    sql: Sql,
    table: Table,
}

impl Translator {
    fn finds_by_key(&self, filter: &Filter) -> bool {
        match filter {
            Filter::And(a, b) => self.finds_by_key(a) || self.finds_by_key(b),
            Filter::Compare {
                attr,
                op: CompareOp::Eq,
                value,
            } => {
                *value != CompValue::Null
                    && self.column(attr).is_some_and(|column| {
                        matches!(
                            column.kind,
                            ColumnKind::Id | ColumnKind::Exact | ColumnKind::Folded
                        )
                    })
            }
            _ => false,
        }
    }

    fn filter(&self, filter: &Filter) -> Result<SimpleExpr, DomainError> {
        Ok(match filter {
            Filter::And(a, b) => self.filter(a)?.and(self.filter(b)?),
            Filter::Or(a, b) => self.filter(a)?.or(self.filter(b)?),
            Filter::Not(inner) => self.filter(inner)?.not(),
            Filter::Constant(value) => Expr::val(*value),
            Filter::Present(attr) => self.present(attr)?,
            Filter::Compare { attr, op, value } => self.compare(attr, *op, value)?,
            Filter::ValuePath { attr, filter } => {
                if self.membership(attr) {
                    return self.membership_filter(filter);
                }
                let keys = document_keys(&AttrRef {
                    sub: None,
                    ..attr.clone()
                });
                let mut failure = None;
                let exists = self
                    .sql
                    .exists_element(&self.table.document(), &keys, |element| {
                        self.element_filter(element, filter).unwrap_or_else(|e| {
                            failure = Some(e);
                            Expr::val(false)
                        })
                    });
                match failure {
                    Some(e) => return Err(e),
                    None => exists,
                }
            }
        })
    }

    /// A value-path's inner filter, on one element of the list.
    fn element_filter(&self, element: &str, filter: &Filter) -> Result<SimpleExpr, DomainError> {
        Ok(match filter {
            Filter::And(a, b) => self
                .element_filter(element, a)?
                .and(self.element_filter(element, b)?),
            Filter::Or(a, b) => self
                .element_filter(element, a)?
                .or(self.element_filter(element, b)?),
            Filter::Not(inner) => self.element_filter(element, inner)?.not(),
            Filter::Constant(value) => Expr::val(*value),
            Filter::Present(attr) => self.json_present(element, &element_keys(attr)),
            Filter::Compare { attr, op, value } => {
                self.json_compare(element, &element_keys(attr), attr, *op, value)?
            }
            Filter::ValuePath { .. } => {
                return Err(invalid("a value path cannot contain another".into()));
            }
        })
    }

    fn column(&self, attr: &AttrRef) -> Option<Column> {
        if attr.extension.is_some() {
            return None;
        }
        let t = self.table;
        let (column, kind) = match (t, attr.name.as_str(), attr.sub.as_deref()) {
            (_, "id", None) => ("id", ColumnKind::Id),
            (_, "externalId", None) => ("external_id", ColumnKind::Exact),
            (_, "displayName", None) => ("display_name_key", ColumnKind::Folded),
            (Table::Users, "userName", None) => ("user_name_key", ColumnKind::Folded),
            (Table::Users, "active", None) => ("active", ColumnKind::Boolean),
            (_, "meta", Some("created")) => ("created_at", ColumnKind::Time),
            (_, "meta", Some("lastModified")) => ("updated_at", ColumnKind::Time),
            (_, "meta", Some("version")) => ("version", ColumnKind::Version),
            (Table::Users, "meta", Some("resourceType")) => ("id", ColumnKind::Constant("User")),
            (Table::Groups, "meta", Some("resourceType")) => ("id", ColumnKind::Constant("Group")),
            _ => return None,
        };
        Some(Column {
            expr: t.column(column),
            kind,
        })
    }

    /// Attributes that are membership rows: `Group.members`, `User.groups`.
    fn membership(&self, attr: &AttrRef) -> bool {
        attr.extension.is_none()
            && matches!(
                (self.table, attr.name.as_str()),
                (Table::Groups, "members") | (Table::Users, "groups")
            )
    }

    fn present(&self, attr: &AttrRef) -> Result<SimpleExpr, DomainError> {
        if let Some(column) = self.column(attr) {
            return Ok(match column.kind {
                ColumnKind::Exact | ColumnKind::Folded => {
                    column.expr.clone().is_not_null().and(column.expr.ne(""))
                }
                _ => Expr::val(true),
            });
        }
        if self.membership(attr) {
            return self.membership_exists(None);
        }
        if attr.multi_valued && attr.sub.is_some() {
            let keys = document_keys(&AttrRef {
                sub: None,
                ..attr.clone()
            });
            let sub = element_keys(attr);
            return Ok(self
                .sql
                .exists_element(&self.table.document(), &keys, |element| {
                    self.json_present(element, &sub)
                }));
        }
        Ok(self.json_present(&self.table.document(), &document_keys(attr)))
    }

    fn compare(
        &self,
        attr: &AttrRef,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<SimpleExpr, DomainError> {
        if *value == CompValue::Null {
            return match op {
                CompareOp::Eq => Ok(self.present(attr)?.not()),
                CompareOp::Ne => self.present(attr),
                _ => Err(invalid(format!(
                    "{} cannot be ordered against null",
                    attr.name
                ))),
            };
        }
        if op == CompareOp::Ne {
            return Ok(self.compare(attr, CompareOp::Eq, value)?.not());
        }
        if let Some(column) = self.column(attr) {
            return self.column_compare(column, attr, op, value);
        }
        if self.membership(attr) {
            return self.membership_compare(attr, op, value);
        }
        if attr.multi_valued {
            let keys = document_keys(&AttrRef {
                sub: None,
                ..attr.clone()
            });
            let sub = element_keys(attr);
            let mut failure = None;
            let exists = self
                .sql
                .exists_element(&self.table.document(), &keys, |element| {
                    self.json_compare(element, &sub, attr, op, value)
                        .unwrap_or_else(|e| {
                            failure = Some(e);
                            Expr::val(false)
                        })
                });
            return match failure {
                Some(e) => Err(e),
                None => Ok(exists),
            };
        }
        self.json_compare(
            &self.table.document(),
            &document_keys(attr),
            attr,
            op,
            value,
        )
    }

    fn column_compare(
        &self,
        column: Column,
        attr: &AttrRef,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<SimpleExpr, DomainError> {
        let name = attr_name(attr);
        match column.kind {
            ColumnKind::Id => match (op, text(value, &name)?.trim().parse::<Uuid>()) {
                (CompareOp::Eq, Ok(id)) => Ok(column.expr.eq(id)),
                (CompareOp::Eq, Err(_)) => Ok(Expr::val(false)),
                _ => Err(invalid(format!("{name} supports only eq and ne"))),
            },
            ColumnKind::Exact => Ok(self.text_compare(column.expr, op, text(value, &name)?)),
            ColumnKind::Folded => {
                Ok(self.text_compare(column.expr, op, text(value, &name)?.to_lowercase()))
            }
            ColumnKind::Boolean => match (op, value) {
                (CompareOp::Eq, CompValue::Bool(b)) => Ok(column.expr.eq(*b)),
                _ => Err(invalid(format!(
                    "{name} is compared with eq or ne and true or false"
                ))),
            },
            ColumnKind::Time => {
                let instant = chrono::DateTime::parse_from_rfc3339(&text(value, &name)?)
                    .map_err(|_| invalid(format!("{name} is compared with an RFC 3339 date-time")))?
                    .with_timezone(&chrono::Utc);
                ordered_compare(column.expr, op, instant, &name)
            }
            ColumnKind::Version => {
                let version = text(value, &name)?
                    .trim_start_matches("W/")
                    .trim_matches('"')
                    .parse::<i64>()
                    .map_err(|_| {
                        invalid(format!("{name} is compared with an ETag like W/\"3\""))
                    })?;
                ordered_compare(column.expr, op, version, &name)
            }
            ColumnKind::Constant(constant) => {
                let matches = match op {
                    CompareOp::Eq => constant.eq_ignore_ascii_case(&text(value, &name)?),
                    _ => return Err(invalid(format!("{name} supports only eq and ne"))),
                };
                Ok(Expr::val(matches))
            }
        }
    }

    /// A string comparison, NULL-safe. `value` is already folded when the column is.
    fn text_compare(&self, expr: SimpleExpr, op: CompareOp, value: String) -> SimpleExpr {
        let needle: SimpleExpr = Expr::val(value.clone());
        let compared = match op {
            CompareOp::Eq | CompareOp::Ne => expr.clone().eq(value),
            CompareOp::Co => self.sql.contains(expr.clone(), needle),
            CompareOp::Sw => self.sql.template(
                "(substr(?, 1, length(?)) = ?)",
                vec![expr.clone(), needle.clone(), needle],
            ),
            CompareOp::Ew => self.sql.template(
                "(substr(?, length(?) - length(?) + 1) = ?)",
                vec![expr.clone(), expr.clone(), needle.clone(), needle],
            ),
            CompareOp::Gt => self.sql.ordered(expr.clone(), ">", needle),
            CompareOp::Ge => self.sql.ordered(expr.clone(), ">=", needle),
            CompareOp::Lt => self.sql.ordered(expr.clone(), "<", needle),
            CompareOp::Le => self.sql.ordered(expr.clone(), "<=", needle),
        };
        expr.is_not_null().and(compared)
    }

    fn json_present(&self, document: &str, keys: &[String]) -> SimpleExpr {
        let text = self.sql.json_text(document, keys);
        self.sql.template("(COALESCE(?, '') <> '')", vec![text])
    }

    fn json_compare(
        &self,
        document: &str,
        keys: &[String],
        attr: &AttrRef,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<SimpleExpr, DomainError> {
        let name = attr_name(attr);
        match attr.kind {
            ValueKind::Boolean => match (op, value) {
                (CompareOp::Eq, CompValue::Bool(true)) => Ok(self.sql.json_is_true(document, keys)),
                (CompareOp::Eq, CompValue::Bool(false)) => {
                    let is_true = self.sql.json_is_true(document, keys);
                    Ok(self.json_present(document, keys).and(is_true.not()))
                }
                _ => Err(invalid(format!(
                    "{name} is compared with eq or ne and true or false"
                ))),
            },
            ValueKind::String | ValueKind::Reference | ValueKind::Binary | ValueKind::DateTime => {
                let value = text(value, &name)?;
                let extracted = self.sql.json_text(document, keys);
                Ok(match attr.case_exact {
                    true => self.text_compare(extracted, op, value),
                    false => {
                        let folded = self.sql.template("lower(?)", vec![extracted]);
                        self.text_compare(folded, op, value.to_lowercase())
                    }
                })
            }
            ValueKind::Integer | ValueKind::Decimal | ValueKind::Complex => {
                Err(invalid(format!("filtering on {name} is not supported")))
            }
        }
    }

    /// `members[...]` on groups, `groups[...]` on users: a condition on membership rows.
    fn membership_filter(&self, filter: &Filter) -> Result<SimpleExpr, DomainError> {
        Ok(match filter {
            Filter::And(a, b) => self.membership_filter(a)?.and(self.membership_filter(b)?),
            Filter::Or(a, b) => self.membership_filter(a)?.or(self.membership_filter(b)?),
            Filter::Not(inner) => self.membership_filter(inner)?.not(),
            Filter::Constant(value) => Expr::val(*value),
            Filter::Present(inner) => self.present(inner)?,
            Filter::Compare {
                attr: inner,
                op,
                value,
            } => self.compare(inner, *op, value)?,
            Filter::ValuePath { .. } => {
                return Err(invalid("a value path cannot contain another".into()));
            }
        })
    }

    fn membership_compare(
        &self,
        attr: &AttrRef,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<SimpleExpr, DomainError> {
        let name = attr_name(attr);
        let sub = attr.sub.as_deref().unwrap_or("value");
        match (self.table, sub, op) {
            (_, "value", CompareOp::Eq) => match text(value, &name)?.trim().parse::<Uuid>() {
                Ok(id) => self.membership_exists(Some(id)),
                Err(_) => Ok(Expr::val(false)),
            },
            (Table::Groups, "type", CompareOp::Eq) => {
                let column = match text(value, &name)?.to_ascii_lowercase().as_str() {
                    "user" => "user_id",
                    "group" => "member_group_id",
                    _ => return Ok(Expr::val(false)),
                };
                Ok(self.sql.template(
                    &format!(
                        "EXISTS (SELECT 1 FROM \"group_members\" AS gm WHERE gm.\"group_id\" = \"groups\".\"id\" AND gm.\"{column}\" IS NOT NULL)"
                    ),
                    vec![],
                ))
            }
            (Table::Users, "type", CompareOp::Eq) => {
                let direct = text(value, &name)?.eq_ignore_ascii_case("direct");
                match direct {
                    true => self.membership_exists(None),
                    false => Ok(Expr::val(false)),
                }
            }
            (Table::Users, "display", _) => {
                let inner = self.text_compare(
                    Expr::cust("lower(g.\"display_name\")"),
                    op,
                    text(value, &name)?.to_lowercase(),
                );
                Ok(self.sql.template(
                    "EXISTS (SELECT 1 FROM \"group_members\" AS gm JOIN \"groups\" AS g ON g.\"id\" = gm.\"group_id\" \
                     WHERE gm.\"user_id\" = \"users\".\"id\" AND ?)",
                    vec![inner],
                ))
            }
            _ => Err(invalid(format!("{name} supports only eq and ne"))),
        }
    }

    /// Whether the row has a membership (with that member or group id, when given).
    fn membership_exists(&self, id: Option<Uuid>) -> Result<SimpleExpr, DomainError> {
        let (own, other) = match self.table {
            Table::Groups => (
                "gm.\"group_id\" = \"groups\".\"id\"",
                "(gm.\"user_id\" = ? OR gm.\"member_group_id\" = ?)",
            ),
            Table::Users => ("gm.\"user_id\" = \"users\".\"id\"", "gm.\"group_id\" = ?"),
        };
        let base = format!("EXISTS (SELECT 1 FROM \"group_members\" AS gm WHERE {own}");
        Ok(match id {
            None => self.sql.template(&format!("{base})"), vec![]),
            Some(id) => {
                let args: Vec<SimpleExpr> = match self.table {
                    Table::Groups => vec![Expr::val(id), Expr::val(id)],
                    Table::Users => vec![Expr::val(id)],
                };
                self.sql.template(&format!("{base} AND {other})"), args)
            }
        })
    }
}

fn ordered_compare<V>(
    expr: SimpleExpr,
    op: CompareOp,
    value: V,
    name: &str,
) -> Result<SimpleExpr, DomainError>
where
    V: Into<sea_orm::Value>,
{
    Ok(match op {
        CompareOp::Eq | CompareOp::Ne => expr.eq(value),
        CompareOp::Gt => expr.gt(value),
        CompareOp::Ge => expr.gte(value),
        CompareOp::Lt => expr.lt(value),
        CompareOp::Le => expr.lte(value),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            return Err(invalid(format!(
                "{name} is not a string: use eq, ne, gt, ge, lt or le"
            )));
        }
    })
}

fn text(value: &CompValue, name: &str) -> Result<String, DomainError> {
    match value {
        CompValue::Str(s) => Ok(s.clone()),
        _ => Err(invalid(format!("{name} is compared with a \"string\""))),
    }
}

fn attr_name(attr: &AttrRef) -> String {
    match &attr.sub {
        Some(sub) => format!("{}.{sub}", attr.name),
        None => attr.name.clone(),
    }
}

/// Where an attribute lives in the stored document.
fn document_keys(attr: &AttrRef) -> Vec<String> {
    let mut keys = Vec::with_capacity(3);
    keys.extend(attr.extension.clone());
    keys.push(attr.name.clone());
    keys.extend(attr.sub.clone());
    keys
}

/// Where a sub-attribute lives in one element of a list; a list of simple values is compared
/// element by element.
fn element_keys(attr: &AttrRef) -> Vec<String> {
    attr.sub.iter().cloned().collect()
}
