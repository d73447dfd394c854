//! GET by id, the request IdPs send most: the user's row, then its groups, as two point reads
//! of fixed shape (`Store::read_shaped`). A join that repeats the user's row once per group it
//! is in saves a round trip on PostgreSQL, but decodes the user's whole document again for
//! every group, and a user of a large company is in dozens; on SQLite a point read costs
//! microseconds.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryTrait};

use super::Store;
use super::entity::users;
use super::shaped::Shape;
use super::users::user_from_model;
use crate::domain::{DomainError, TenantId, User, UserId};

impl Store {
    /// The user with that id in the tenant, with its groups in membership order.
    pub async fn get_user(&self, tenant_id: TenantId, id: UserId) -> Result<User, DomainError> {
        let query = || {
            users::Entity::find_by_id(id.as_uuid())
                .filter(users::Column::TenantId.eq(tenant_id.as_uuid()))
                .into_query()
        };
        let values = vec![id.as_uuid().into(), tenant_id.as_uuid().into()];
        let model = self
            .read_shaped::<users::Model>(Shape::UserById, values, query)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| DomainError::not_found("User", id))?;
        user_from_model(model, self.groups_of_user(id).await?)
    }
}
