//! Filter AST → SQL condition. Attributes with an indexed column are compared on that column;
//! case-insensitive attributes on their lower-cased `*_key` column.

use sea_orm::ColumnTrait;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, SimpleExpr};
use uuid::Uuid;

use super::entity::{groups, users};
use crate::domain::DomainError;
use crate::domain::filter::{AttrRef, CompValue, CompareOp, Filter};

/// The condition selecting users that match `filter`.
pub(crate) fn user_condition(filter: &Filter) -> Result<Condition, DomainError> {
    condition(filter, &|attr| match (
        attr.extension.as_deref(),
        attr.name.as_str(),
        attr.sub.as_deref(),
    ) {
        (None, "id", None) => Some(Column::Id(users::Column::Id.into_expr())),
        (None, "userName", None) => Some(Column::Folded(users::Column::UserNameKey.into_expr())),
        (None, "externalId", None) => Some(Column::Exact(users::Column::ExternalId.into_expr())),
        (None, "displayName", None) => {
            Some(Column::Folded(users::Column::DisplayNameKey.into_expr()))
        }
        (None, "active", None) => Some(Column::Boolean(users::Column::Active.into_expr())),
        _ => None,
    })
}

/// The condition selecting groups that match `filter`.
pub(crate) fn group_condition(filter: &Filter) -> Result<Condition, DomainError> {
    condition(filter, &|attr| match (
        attr.extension.as_deref(),
        attr.name.as_str(),
        attr.sub.as_deref(),
    ) {
        (None, "id", None) => Some(Column::Id(groups::Column::Id.into_expr())),
        (None, "externalId", None) => Some(Column::Exact(groups::Column::ExternalId.into_expr())),
        (None, "displayName", None) => {
            Some(Column::Folded(groups::Column::DisplayNameKey.into_expr()))
        }
        _ => None,
    })
}

/// An indexed column and how its values compare.
enum Column {
    /// A UUID primary key; a value that is not a UUID matches nothing.
    Id(Expr),
    /// Text compared exactly.
    Exact(Expr),
    /// Text stored lower-cased; the value is lower-cased too.
    Folded(Expr),
    /// A boolean.
    Boolean(Expr),
}

fn condition(
    filter: &Filter,
    columns: &dyn Fn(&AttrRef) -> Option<Column>,
) -> Result<Condition, DomainError> {
    Ok(match filter {
        Filter::And(left, right) => Condition::all()
            .add(condition(left, columns)?)
            .add(condition(right, columns)?),
        Filter::Or(left, right) => Condition::any()
            .add(condition(left, columns)?)
            .add(condition(right, columns)?),
        Filter::Not(inner) => condition(inner, columns)?.not(),
        Filter::Compare { attr, op, value } => {
            let column = columns(attr).ok_or_else(|| unsupported(attr))?;
            Condition::all().add(compare(column, *op, value, attr)?)
        }
        Filter::Present(attr) | Filter::ValuePath { attr, .. } => return Err(unsupported(attr)),
    })
}

fn compare(
    column: Column,
    op: CompareOp,
    value: &CompValue,
    attr: &AttrRef,
) -> Result<SimpleExpr, DomainError> {
    let text = |value: &CompValue| match value {
        CompValue::Str(s) => Ok(s.clone()),
        _ => Err(DomainError::InvalidFilter(format!(
            "{} is compared with a string",
            attr.name
        ))),
    };
    match (column, op) {
        (Column::Id(expr), CompareOp::Eq) => Ok(match Uuid::parse_str(&text(value)?) {
            Ok(id) => expr.eq(id),
            Err(_) => Expr::value(false),
        }),
        (Column::Exact(expr), CompareOp::Eq) => Ok(expr.eq(text(value)?)),
        (Column::Folded(expr), CompareOp::Eq) => Ok(expr.eq(text(value)?.to_lowercase())),
        (Column::Boolean(expr), CompareOp::Eq) => match value {
            CompValue::Bool(b) => Ok(expr.eq(*b)),
            _ => Err(DomainError::InvalidFilter(format!(
                "{} is compared with true or false",
                attr.name
            ))),
        },
        _ => Err(DomainError::InvalidFilter(format!(
            "the {op:?} operator on {} is not supported",
            attr.name
        ))),
    }
}

fn unsupported(attr: &AttrRef) -> DomainError {
    DomainError::InvalidFilter(format!("filtering on {} is not supported", attr.name))
}
