//! Users: create, read, list with a filter, update, delete. Each write is one transaction with its
//! change-log row.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, Set,
    TryIntoModel,
};

use super::change_log::{Change, audit_detail};
use super::entity::{group_members, groups, users};
use super::query::{self, Table};
use super::{Backend, Store, Via, error};
use crate::domain::change::{ChangeOp, ResourceKind};
use crate::domain::filter::Sort;
use crate::domain::{
    Actor, Document, DomainError, ListQuery, Page, ResourceMeta, TenantId, User, UserData, UserId,
};

impl Store {
    /// Stores a new user. A userName already taken in the tenant (compared case-insensitively)
    /// is a conflict. On SQLite, creates that arrive together are written together (see
    /// `user_creates`); PostgreSQL writes concurrent transactions side by side and already
    /// flushes their commits together, so there each create is its own transaction.
    pub async fn create_user(&self, actor: &Actor, data: UserData) -> Result<User, DomainError> {
        let row = new_user_row(self.clock.now(), actor, &data)?;
        match self.backend {
            Backend::Sqlite => self.queue_create(actor, data, row).await,
            Backend::Postgres => self.create_user_alone(actor, &data, row).await,
        }
    }

    /// Stores one new user in a transaction of its own.
    pub(crate) async fn create_user_alone(
        &self,
        actor: &Actor,
        data: &UserData,
        row: users::ActiveModel,
    ) -> Result<User, DomainError> {
        let transaction = self.write().await?;
        users::Entity::insert(row.clone())
            .exec_without_returning(&transaction)
            .await
            .map_err(|e| user_name_conflict(e, data))?;
        self.record_change(&transaction, actor, created_change(&row, data)?)
            .await?;
        transaction.commit().await.map_err(error::classify)?;
        created_user(row)
    }

    /// Reads a user; with `lock`, on PostgreSQL the row stays locked until the transaction ends
    /// (SQLite's single writer needs no row lock).
    async fn find_user(
        &self,
        transaction: &DatabaseTransaction,
        tenant_id: TenantId,
        id: UserId,
        lock: bool,
    ) -> Result<User, DomainError> {
        let mut select = users::Entity::find_by_id(id.as_uuid())
            .filter(users::Column::TenantId.eq(tenant_id.as_uuid()));
        if lock {
            select = select.lock_exclusive();
        }
        let model = select
            .one(transaction)
            .await
            .map_err(error::classify)?
            .ok_or_else(|| DomainError::not_found("User", id))?;
        let mut groups = self
            .groups_of_users(Via::Transaction(transaction), &[id])
            .await?;
        user_from_model(model, groups.remove(&id).unwrap_or_default())
    }

    /// The id of the tenant's user with that userName (compared case-insensitively).
    pub async fn user_id_by_name(
        &self,
        tenant_id: TenantId,
        user_name: &str,
    ) -> Result<UserId, DomainError> {
        users::Entity::find()
            .filter(users::Column::TenantId.eq(tenant_id.as_uuid()))
            .filter(users::Column::UserNameKey.eq(user_name.to_lowercase()))
            .one(self.reader())
            .await
            .map_err(error::classify)?
            .map(|m| UserId::from_uuid(m.id))
            .ok_or_else(|| DomainError::not_found("User", user_name))
    }

    /// One page of the tenant's users matching the query's filter, in its order (creation order
    /// by default). The database answers the filter and the sort.
    pub async fn list_users(
        &self,
        tenant_id: TenantId,
        query: &ListQuery,
    ) -> Result<Page<User>, DomainError> {
        let mut select =
            users::Entity::find().filter(users::Column::TenantId.eq(tenant_id.as_uuid()));
        if let Some(filter) = &query.filter {
            select = select.filter(query::condition(self.backend, Table::Users, filter)?);
        }
        let (models, total) =
            super::listing::page(self, Table::Users, select, users::Column::Id, query).await?;
        let by_key = super::listing::by_key(self, Table::Users, query);
        Ok(Page {
            items: self.users_with_groups(models, by_key).await?,
            total,
            start_index: query.page.start_index,
        })
    }

    /// Up to `count` of the tenant's users after `after` in id order (creation order), without
    /// their groups (`listing::keyset_page`).
    pub(crate) async fn users_after(
        &self,
        tenant_id: TenantId,
        after: Option<UserId>,
        count: u64,
    ) -> Result<Vec<User>, DomainError> {
        let tenant = users::Entity::find().filter(users::Column::TenantId.eq(tenant_id.as_uuid()));
        let after = after.map(|id| id.as_uuid());
        let models =
            super::listing::keyset_page(self, tenant, users::Column::Id, after, count).await?;
        // Without their groups: what reads a tenant whole (reconciliation, the Qualytics
        // model) takes membership from the groups' members, and a query per page for each
        // user's groups was a tenth of a run's read of the store.
        models
            .into_iter()
            .map(|model| user_from_model(model, Vec::new()))
            .collect()
    }

    /// Users from their rows, each with its groups, read in one query for all of them (a point
    /// read when a lookup by key found the users).
    async fn users_with_groups(
        &self,
        models: Vec<users::Model>,
        by_key: bool,
    ) -> Result<Vec<User>, DomainError> {
        let ids: Vec<UserId> = models.iter().map(|m| UserId::from_uuid(m.id)).collect();
        let via = match by_key {
            true => Via::Point,
            false => Via::Scan,
        };
        let mut groups = self.groups_of_users(via, &ids).await?;
        models
            .into_iter()
            .map(|model| {
                let user_groups = groups
                    .remove(&UserId::from_uuid(model.id))
                    .unwrap_or_default();
                user_from_model(model, user_groups)
            })
            .collect()
    }

    /// Changes a user in one transaction: reads the current user (locked against concurrent
    /// writers), checks the expected version, lets `change` compute the new data, and stores it
    /// with the version bumped. An error from `change` leaves the user untouched, and so does
    /// a change to what is stored already (an IdP pushing a profile again): its version (its
    /// ETag) and `lastModified` stay, and nothing enters the change log, so reconciliation is
    /// not triggered for nothing.
    pub async fn update_user<E>(
        &self,
        actor: &Actor,
        id: UserId,
        expected_version: Option<i64>,
        change: impl FnOnce(&User) -> Result<UserData, E>,
    ) -> Result<User, E>
    where
        E: From<DomainError>,
    {
        let transaction = self.write().await?;
        let current = self
            .find_user(&transaction, actor.tenant_id, id, true)
            .await?;
        check_version(current.meta.version, expected_version)?;
        let data = change(&current)?;
        if data == current.data {
            transaction.commit().await.map_err(error::classify)?;
            return Ok(current);
        }
        let now = self.clock.now();
        let mut model = users::ActiveModel {
            id: Set(id.as_uuid()),
            version: Set(current.meta.version + 1),
            ..Default::default()
        };
        set_data(&mut model, &data, now)?;
        let model = model
            .update(&transaction)
            .await
            .map_err(|e| user_name_conflict(e, &data))?;
        let detail = audit_detail(Some(current.data.document()), Some(data.document()));
        self.record_change(
            &transaction,
            actor,
            user_change(id, ChangeOp::Update, detail),
        )
        .await?;
        transaction.commit().await.map_err(error::classify)?;
        Ok(user_from_model(model, current.groups)?)
    }

    /// Deletes a user and, through the foreign key, its memberships; the groups it was in get a
    /// new version because their member lists changed.
    pub async fn delete_user(
        &self,
        actor: &Actor,
        id: UserId,
        expected_version: Option<i64>,
    ) -> Result<(), DomainError> {
        let transaction = self.write().await?;
        let current = self
            .find_user(&transaction, actor.tenant_id, id, true)
            .await?;
        check_version(current.meta.version, expected_version)?;
        let member_of = sea_orm::sea_query::Query::select()
            .column(group_members::Column::GroupId)
            .from(group_members::Entity)
            .and_where(group_members::Column::UserId.eq(id.as_uuid()))
            .to_owned();
        groups::Entity::update_many()
            .col_expr(
                groups::Column::Version,
                Expr::col(groups::Column::Version).add(1),
            )
            .col_expr(groups::Column::UpdatedAt, Expr::value(self.clock.now()))
            .filter(groups::Column::Id.in_subquery(member_of))
            .exec(&transaction)
            .await
            .map_err(error::classify)?;
        users::Entity::delete_by_id(id.as_uuid())
            .exec(&transaction)
            .await
            .map_err(error::classify)?;
        let detail = audit_detail(Some(current.data.document()), None);
        self.record_change(
            &transaction,
            actor,
            user_change(id, ChangeOp::Delete, detail),
        )
        .await?;
        transaction.commit().await.map_err(error::classify)
    }
}

pub(crate) fn sort_order(sort: &Sort) -> sea_orm::Order {
    match sort.descending {
        true => sea_orm::Order::Desc,
        false => sea_orm::Order::Asc,
    }
}

pub(crate) fn check_version(current: i64, expected: Option<i64>) -> Result<(), DomainError> {
    match expected {
        Some(expected) if expected != current => Err(DomainError::VersionMismatch(format!(
            "the resource is at version {current}, not {expected}"
        ))),
        _ => Ok(()),
    }
}

/// The row of a user about to be created: a new id, version 1, created now.
pub(crate) fn new_user_row(
    now: chrono::DateTime<chrono::Utc>,
    actor: &Actor,
    data: &UserData,
) -> Result<users::ActiveModel, DomainError> {
    let mut row = users::ActiveModel {
        id: Set(UserId::new().as_uuid()),
        tenant_id: Set(actor.tenant_id.as_uuid()),
        version: Set(1),
        created_at: Set(now),
        ..Default::default()
    };
    set_data(&mut row, data, now)?;
    Ok(row)
}

/// The change-log entry of a created user.
pub(crate) fn created_change(
    row: &users::ActiveModel,
    data: &UserData,
) -> Result<Change, DomainError> {
    let id = row
        .id
        .clone()
        .take()
        .ok_or_else(|| DomainError::Internal("a new user row has no id".into()))?;
    let detail = audit_detail(None, Some(data.document()));
    Ok(user_change(UserId::from_uuid(id), ChangeOp::Create, detail))
}

/// The user a stored create row describes: every column was set, so nothing is read back.
pub(crate) fn created_user(row: users::ActiveModel) -> Result<User, DomainError> {
    user_from_model(row.try_into_model().map_err(error::classify)?, Vec::new())
}

pub(crate) fn user_change(id: UserId, op: ChangeOp, detail: Option<serde_json::Value>) -> Change {
    Change {
        kind: ResourceKind::User,
        resource_id: Some(id.as_uuid()),
        op,
        detail,
    }
}

fn set_data(
    model: &mut users::ActiveModel,
    data: &UserData,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), DomainError> {
    model.user_name = Set(data.user_name().as_str().to_owned());
    model.user_name_key = Set(data.user_name().key());
    model.external_id = Set(data.external_id().map(str::to_owned));
    model.active = Set(data.active());
    model.display_name = Set(data.display_name().map(str::to_owned));
    model.display_name_key = Set(data.display_name().map(str::to_lowercase));
    model.primary_email = Set(data.primary_email().map(str::to_owned));
    model.resource =
        Set(serde_json::to_value(data.document())
            .map_err(|e| DomainError::Internal(e.to_string()))?);
    model.updated_at = Set(now);
    Ok(())
}

pub(crate) fn user_name_conflict(error: sea_orm::DbErr, data: &UserData) -> DomainError {
    match error::classify(error) {
        DomainError::Conflict(_) => user_name_taken(data),
        other => other,
    }
}

/// The conflict answer for a userName already taken in the tenant.
pub(crate) fn user_name_taken(data: &UserData) -> DomainError {
    DomainError::Conflict(format!(
        "userName {:?} is already taken in this tenant",
        data.user_name().as_str()
    ))
}

pub(super) fn user_from_model(
    model: users::Model,
    groups: Vec<crate::domain::UserGroup>,
) -> Result<User, DomainError> {
    let document: Document = serde_json::from_value(model.resource).map_err(|e| {
        DomainError::Internal(format!("stored user {} is unreadable: {e}", model.id))
    })?;
    Ok(User {
        id: UserId::from_uuid(model.id),
        tenant_id: TenantId::from_uuid(model.tenant_id),
        meta: ResourceMeta {
            created: model.created_at,
            last_modified: model.updated_at,
            version: model.version,
        },
        data: UserData::from_document(document)?,
        groups,
    })
}
