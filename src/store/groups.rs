//! Groups and their membership changes. Members live in their own rows (see `members`).

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QuerySelect, Set,
};
use serde_json::json;

use super::change_log::{Change, audit_detail};
use super::entity::groups;
use super::query::{self, Table};
use super::users::check_version;
use super::{Store, Via, error};
use crate::domain::change::{ChangeOp, ResourceKind};
use crate::domain::{
    Actor, Document, DomainError, Group, GroupData, GroupId, ListQuery, MemberRef, MemberValue,
    MembersChange, Page, ResourceMeta, TenantId, UnknownMembers,
};

impl Store {
    /// Stores a new group with its initial members. Member ids that are not users or groups of
    /// the tenant are skipped and recorded in the change log.
    pub async fn create_group(
        &self,
        actor: &Actor,
        data: GroupData,
        members: Vec<MemberValue>,
        unknown: UnknownMembers,
    ) -> Result<Group, DomainError> {
        let now = self.clock.now();
        let id = GroupId::new();
        let mut model = groups::ActiveModel {
            id: Set(id.as_uuid()),
            tenant_id: Set(actor.tenant_id.as_uuid()),
            version: Set(1),
            created_at: Set(now),
            ..Default::default()
        };
        set_data(&mut model, &data, now)?;
        let transaction = self.write().await?;
        let model = model.insert(&transaction).await.map_err(error::classify)?;
        let detail = audit_detail(None, Some(data.document()));
        self.record_change(
            &transaction,
            actor,
            group_change(id, ChangeOp::Create, detail),
        )
        .await?;
        self.apply_members(
            &transaction,
            actor,
            id,
            MembersChange::Replace(members),
            unknown,
        )
        .await?;
        let members = self.member_rows(Via::Transaction(&transaction), id).await?;
        transaction.commit().await.map_err(error::classify)?;
        group_from_model(model, Some(members))
    }

    /// The group with that id in the tenant, with its members when `with_members`.
    pub async fn get_group(
        &self,
        tenant_id: TenantId,
        id: GroupId,
        with_members: bool,
    ) -> Result<Group, DomainError> {
        let model = find_group(self.reader(), tenant_id, id, false).await?;
        let members = match with_members {
            true => Some(self.member_rows(Via::Scan, id).await?),
            false => None,
        };
        group_from_model(model, members)
    }

    /// One page of the tenant's groups matching the query, with their members when
    /// `with_members` (read in one query for the whole page).
    pub async fn list_groups(
        &self,
        tenant_id: TenantId,
        query: &ListQuery,
        with_members: bool,
    ) -> Result<Page<Group>, DomainError> {
        let mut select =
            groups::Entity::find().filter(groups::Column::TenantId.eq(tenant_id.as_uuid()));
        if let Some(filter) = &query.filter {
            select = select.filter(query::condition(self.backend, Table::Groups, filter)?);
        }
        let (models, total) =
            super::listing::page(self, Table::Groups, select, groups::Column::Id, query).await?;
        Ok(Page {
            items: self.groups_with_members(models, with_members).await?,
            total,
            start_index: query.page.start_index,
        })
    }

    /// Up to `count` of the tenant's groups after `after` in id order, with their members
    /// (`listing::keyset_page`).
    pub(crate) async fn groups_after(
        &self,
        tenant_id: TenantId,
        after: Option<GroupId>,
        count: u64,
    ) -> Result<Vec<Group>, DomainError> {
        let tenant =
            groups::Entity::find().filter(groups::Column::TenantId.eq(tenant_id.as_uuid()));
        let after = after.map(|id| id.as_uuid());
        let models =
            super::listing::keyset_page(self, tenant, groups::Column::Id, after, count).await?;
        self.groups_with_members(models, true).await
    }

    /// Groups from their rows; with `with_members`, the members of all of them in one query.
    async fn groups_with_members(
        &self,
        models: Vec<groups::Model>,
        with_members: bool,
    ) -> Result<Vec<Group>, DomainError> {
        let mut members = match with_members {
            true => {
                let ids: Vec<GroupId> = models.iter().map(|m| GroupId::from_uuid(m.id)).collect();
                Some(self.members_of_groups(Via::Scan, &ids).await?)
            }
            false => None,
        };
        models
            .into_iter()
            .map(|model| {
                let id = GroupId::from_uuid(model.id);
                let group_members = members
                    .as_mut()
                    .map(|all| all.remove(&id).unwrap_or_default());
                group_from_model(model, group_members)
            })
            .collect()
    }

    /// Changes a group in one transaction: `change` computes the new data from the current group
    /// (members not loaded), then `members` is applied as row deltas. The version goes up by one
    /// when the data or the members changed; a write that changes nothing (Entra adding a member
    /// the group has, a PUT of what is stored) leaves the group, its version (its ETag) and its
    /// `lastModified` as they were, as it leaves the change log.
    /// The group returned carries its members when `with_members`.
    pub async fn update_group<E>(
        &self,
        actor: &Actor,
        id: GroupId,
        expected_version: Option<i64>,
        with_members: bool,
        unknown: UnknownMembers,
        change: impl FnOnce(&Group) -> Result<(GroupData, MembersChange), E>,
    ) -> Result<Group, E>
    where
        E: From<DomainError>,
    {
        let transaction = self.write().await?;
        let stored = find_group(&transaction, actor.tenant_id, id, true).await?;
        let current = group_from_model(stored.clone(), None)?;
        check_version(current.meta.version, expected_version)?;
        let (data, members) = change(&current)?;
        let data_changed = data != current.data;
        // A members-only PATCH (Entra's every add and remove) is recorded once, by
        // `apply_members`; an update entry would copy the unchanged group twice per request.
        if data_changed {
            let detail = audit_detail(Some(current.data.document()), Some(data.document()));
            self.record_change(
                &transaction,
                actor,
                group_change(id, ChangeOp::Update, detail),
            )
            .await?;
        }
        let members_changed = self
            .apply_members(&transaction, actor, id, members, unknown)
            .await?;
        let model = match data_changed || members_changed {
            true => {
                let mut model = groups::ActiveModel {
                    id: Set(id.as_uuid()),
                    version: Set(current.meta.version + 1),
                    ..Default::default()
                };
                set_data(&mut model, &data, self.clock.now())?;
                model.update(&transaction).await.map_err(error::classify)?
            }
            false => stored,
        };
        let members = match with_members {
            true => Some(self.member_rows(Via::Transaction(&transaction), id).await?),
            false => None,
        };
        transaction.commit().await.map_err(error::classify)?;
        Ok(group_from_model(model, members)?)
    }

    /// Deletes a group; its membership rows (as a group and as a member) go with it.
    pub async fn delete_group(
        &self,
        actor: &Actor,
        id: GroupId,
        expected_version: Option<i64>,
    ) -> Result<(), DomainError> {
        let transaction = self.write().await?;
        let current = group_from_model(
            find_group(&transaction, actor.tenant_id, id, true).await?,
            None,
        )?;
        check_version(current.meta.version, expected_version)?;
        groups::Entity::delete_by_id(id.as_uuid())
            .exec(&transaction)
            .await
            .map_err(error::classify)?;
        let detail = audit_detail(Some(current.data.document()), None);
        self.record_change(
            &transaction,
            actor,
            group_change(id, ChangeOp::Delete, detail),
        )
        .await?;
        transaction.commit().await.map_err(error::classify)
    }

    /// Applies a members change as row deltas and records it; whether a member was added or
    /// removed. Member ids to add that are not users or groups of the tenant are skipped and
    /// recorded, and the rest applies; with `UnknownMembers::Reject` they fail the whole write
    /// instead.
    async fn apply_members(
        &self,
        transaction: &DatabaseTransaction,
        actor: &Actor,
        id: GroupId,
        change: MembersChange,
        policy: UnknownMembers,
    ) -> Result<bool, DomainError> {
        let tenant = actor.tenant_id;
        let (added, removed, unknown) = match change {
            MembersChange::Keep => return Ok(false),
            MembersChange::Clear => (
                0,
                self.remove_all_member_rows(transaction, id).await?,
                Vec::new(),
            ),
            MembersChange::Replace(values) => {
                let wanted = self.resolve_members(transaction, tenant, &values).await?;
                let stale: Vec<MemberRef> = self
                    .member_rows(Via::Transaction(transaction), id)
                    .await?
                    .into_iter()
                    .map(|m| m.member)
                    .filter(|m| !wanted.found.contains(m))
                    .collect();
                let removed = self.remove_member_rows(transaction, id, &stale).await?;
                let added = self
                    .add_member_rows(transaction, tenant, id, &wanted.found)
                    .await?;
                (added, removed, wanted.unknown)
            }
            MembersChange::Delta { add, remove } => {
                let to_remove = self.resolve_members(transaction, tenant, &remove).await?;
                let removed = self
                    .remove_member_rows(transaction, id, &to_remove.found)
                    .await?;
                let to_add = self.resolve_members(transaction, tenant, &add).await?;
                let added = self
                    .add_member_rows(transaction, tenant, id, &to_add.found)
                    .await?;
                (added, removed, to_add.unknown)
            }
        };
        if policy == UnknownMembers::Reject && !unknown.is_empty() {
            return Err(DomainError::Invalid(format!(
                "these members are not users or groups of this tenant: {}",
                unknown.join(", ")
            )));
        }
        if added + removed > 0 {
            let detail = json!({"added": added, "removed": removed});
            self.record_change(
                transaction,
                actor,
                group_change(id, ChangeOp::Membership, Some(detail)),
            )
            .await?;
        }
        if !unknown.is_empty() {
            tracing::info!(group = %id, skipped = unknown.len(), "skipped members that are not users or groups of this tenant");
            let detail = json!({"unknown_members": unknown});
            self.record_change(
                transaction,
                actor,
                group_change(id, ChangeOp::MembersSkipped, Some(detail)),
            )
            .await?;
        }
        Ok(added + removed > 0)
    }
}

async fn find_group(
    connection: &impl ConnectionTrait,
    tenant_id: TenantId,
    id: GroupId,
    lock: bool,
) -> Result<groups::Model, DomainError> {
    let mut select = groups::Entity::find_by_id(id.as_uuid())
        .filter(groups::Column::TenantId.eq(tenant_id.as_uuid()));
    if lock {
        select = select.lock_exclusive();
    }
    select
        .one(connection)
        .await
        .map_err(error::classify)?
        .ok_or_else(|| DomainError::not_found("Group", id))
}

fn group_change(id: GroupId, op: ChangeOp, detail: Option<serde_json::Value>) -> Change {
    Change {
        kind: ResourceKind::Group,
        resource_id: Some(id.as_uuid()),
        op,
        detail,
    }
}

fn set_data(
    model: &mut groups::ActiveModel,
    data: &GroupData,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), DomainError> {
    model.display_name = Set(data.display_name().to_owned());
    model.display_name_key = Set(data.display_name().to_lowercase());
    model.external_id = Set(data.external_id().map(str::to_owned));
    model.resource =
        Set(serde_json::to_value(data.document())
            .map_err(|e| DomainError::Internal(e.to_string()))?);
    model.updated_at = Set(now);
    Ok(())
}

fn group_from_model(
    model: groups::Model,
    members: Option<Vec<crate::domain::Member>>,
) -> Result<Group, DomainError> {
    let document: Document = serde_json::from_value(model.resource).map_err(|e| {
        DomainError::Internal(format!("stored group {} is unreadable: {e}", model.id))
    })?;
    Ok(Group {
        id: GroupId::from_uuid(model.id),
        tenant_id: TenantId::from_uuid(model.tenant_id),
        meta: ResourceMeta {
            created: model.created_at,
            last_modified: model.updated_at,
            version: model.version,
        },
        data: GroupData::from_document(document)?,
        members,
    })
}
