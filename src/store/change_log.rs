//! Appending to and reading the change log.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, NotSet, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::entity::change_log;
use super::{Store, error};
use crate::domain::change::{ChangeOp, ChangeRecord, ResourceKind};
use crate::domain::{Actor, DomainError, TenantId, TokenId};

/// One change to record.
pub(crate) struct Change {
    pub kind: ResourceKind,
    pub resource_id: Option<Uuid>,
    pub op: ChangeOp,
    pub detail: Option<serde_json::Value>,
}

impl Store {
    /// Appends a change-log row on `connection`, which must be the transaction making the change.
    pub(crate) async fn record_change(
        &self,
        connection: &impl ConnectionTrait,
        actor: &Actor,
        change: Change,
    ) -> Result<(), DomainError> {
        change_log::ActiveModel {
            seq: NotSet,
            tenant_id: Set(actor.tenant_id.as_uuid()),
            occurred_at: Set(self.clock.now()),
            token_id: Set(actor.token_id.map(|t| t.as_uuid())),
            request_id: Set(actor.request_id.clone()),
            resource_type: Set(change.kind.as_str().to_owned()),
            resource_id: Set(change.resource_id),
            operation: Set(change.op.as_str().to_owned()),
            detail: Set(change.detail),
        }
        .insert(connection)
        .await
        .map_err(error::classify)?;
        Ok(())
    }

    /// A tenant's change log after `after_seq`, oldest first, at most `limit` entries.
    pub async fn changes_since(
        &self,
        tenant_id: TenantId,
        after_seq: i64,
        limit: u64,
    ) -> Result<Vec<ChangeRecord>, DomainError> {
        Ok(change_log::Entity::find()
            .filter(change_log::Column::TenantId.eq(tenant_id.as_uuid()))
            .filter(change_log::Column::Seq.gt(after_seq))
            .order_by_asc(change_log::Column::Seq)
            .limit(limit)
            .all(self.reader())
            .await
            .map_err(error::classify)?
            .into_iter()
            .map(|row| ChangeRecord {
                seq: row.seq,
                tenant_id: TenantId::from_uuid(row.tenant_id),
                occurred_at: row.occurred_at,
                token_id: row.token_id.map(TokenId::from_uuid),
                request_id: row.request_id,
                resource_type: row.resource_type,
                resource_id: row.resource_id,
                operation: row.operation,
                detail: row.detail,
            })
            .collect())
    }
}
