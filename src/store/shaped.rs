//! The point reads made on every GET by id, whose SQL never changes, only their values: the
//! token and its tenant, the user, and the user's groups. sea-query builds each of them once per
//! store; after that a read binds its values to the SQL it kept. Building a statement (its
//! expressions, then its SQL text) cost a GET more CPU than SQLite spent running it.
//!
//! Each call site still says how to build its statement, and names its values in the order of
//! the statement's placeholders. Debug builds build the statement every time and refuse to run
//! it when those values differ from the ones sea-query placed, or its SQL from the SQL kept, so
//! the test suite checks each call site on every read.

use std::sync::OnceLock;

use sea_orm::sea_query::SelectStatement;
use sea_orm::{DbBackend, Statement, Value, Values};

use crate::domain::DomainError;

/// A read of a fixed shape.
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    /// A token by its digest, with its tenant (`Store::authenticate`).
    TokenOfTenant,
    /// A user by id in a tenant (`Store::get_user`).
    UserById,
    /// One user's groups (`Store::get_user`).
    GroupsOfUser,
}

/// The SQL of each shape, once built.
#[derive(Debug, Default)]
pub(super) struct ShapedStatements {
    token_of_tenant: OnceLock<String>,
    user_by_id: OnceLock<String>,
    groups_of_user: OnceLock<String>,
}

impl ShapedStatements {
    /// The statement `build` makes, with `values` bound to the SQL kept for `shape`.
    pub(super) fn statement(
        &self,
        backend: DbBackend,
        shape: Shape,
        values: Vec<Value>,
        build: impl FnOnce() -> SelectStatement,
    ) -> Result<Statement, DomainError> {
        let kept = match shape {
            Shape::TokenOfTenant => &self.token_of_tenant,
            Shape::UserById => &self.user_by_id,
            Shape::GroupsOfUser => &self.groups_of_user,
        };
        let built =
            (cfg!(debug_assertions) || kept.get().is_none()).then(|| backend.build(&build()));
        let sql = kept.get_or_init(|| built.as_ref().map(|b| b.sql.clone()).unwrap_or_default());
        if let Some(built) = &built {
            let placed = built.values.as_ref().map_or(&[][..], |v| v.0.as_slice());
            if placed != values.as_slice() {
                return Err(DomainError::Internal(format!(
                    "the {shape:?} read names its values as {values:?}, but its statement places {placed:?}"
                )));
            }
            if built.sql != *sql {
                return Err(DomainError::Internal(format!(
                    "the {shape:?} read is not of one shape: {} after {sql}",
                    built.sql
                )));
            }
        }
        Ok(Statement {
            sql: sql.clone(),
            values: Some(Values(values)),
            db_backend: backend,
        })
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};

    use super::*;

    /// `SELECT id FROM t WHERE <column> = <value>`.
    fn select_where(column: &str, value: &str) -> SelectStatement {
        Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("t"))
            .and_where(Expr::col(Alias::new(column)).eq(value))
            .to_owned()
    }

    #[test]
    fn a_shape_keeps_its_sql_and_binds_each_reads_values() {
        let shapes = ShapedStatements::default();
        let first = shapes
            .statement(DbBackend::Sqlite, Shape::UserById, vec!["a".into()], || {
                select_where("name", "a")
            })
            .unwrap();
        let second = shapes
            .statement(DbBackend::Sqlite, Shape::UserById, vec!["b".into()], || {
                select_where("name", "b")
            })
            .unwrap();
        assert_eq!(first.sql, second.sql);
        assert_eq!(second.values, Some(Values(vec!["b".into()])));
    }

    #[test]
    #[cfg(debug_assertions)]
    fn a_read_whose_sql_changes_is_refused() {
        let shapes = ShapedStatements::default();
        shapes
            .statement(
                DbBackend::Sqlite,
                Shape::TokenOfTenant,
                vec!["a".into()],
                || select_where("name", "a"),
            )
            .unwrap();
        let refused = shapes.statement(
            DbBackend::Sqlite,
            Shape::TokenOfTenant,
            vec!["a".into()],
            || select_where("id", "a"),
        );
        assert!(
            matches!(refused, Err(DomainError::Internal(_))),
            "{refused:?}"
        );
    }

    #[test]
    fn values_that_are_not_the_statements_are_refused() {
        let shapes = ShapedStatements::default();
        let refused = shapes.statement(DbBackend::Sqlite, Shape::GroupsOfUser, vec![], || {
            select_where("name", "a")
        });
        assert!(
            matches!(refused, Err(DomainError::Internal(_))),
            "{refused:?}"
        );
    }
}
