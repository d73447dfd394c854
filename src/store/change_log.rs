//! Appending to and reading the change log.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, NotSet, QueryFilter, QueryOrder, QuerySelect, Set,
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

/// The audit detail of a write: the resource before and after, redacted. Documents never hold a
/// password (it is dropped when a body is read), but any key that names a secret is removed
/// here all the same, so the audit trail cannot become a copy of one.
pub(crate) fn audit_detail(
    before: Option<&crate::domain::Document>,
    after: Option<&crate::domain::Document>,
) -> Option<serde_json::Value> {
    fn redact(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.retain(|key, _| {
                    let key = key.to_ascii_lowercase();
                    !(key.contains("password") || key.contains("secret") || key.contains("token"))
                });
                map.values_mut().for_each(redact);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
            _ => {}
        }
    }
    let mut detail = serde_json::Map::new();
    for (key, document) in [("before", before), ("after", after)] {
        if let Some(document) = document {
            let mut value = serde_json::Value::Object(document.attributes().clone());
            redact(&mut value);
            detail.insert(key.to_owned(), value);
        }
    }
    Some(serde_json::Value::Object(detail))
}

impl Store {
    /// Appends a change-log row on `connection`, which must be the transaction making the change.
    pub(crate) async fn record_change(
        &self,
        connection: &impl ConnectionTrait,
        actor: &Actor,
        change: Change,
    ) -> Result<(), DomainError> {
        self.record_changes(connection, [(actor, change)]).await
    }

    /// Appends change-log rows, in order, in one statement on `connection`, which must be the
    /// transaction making the changes.
    pub(crate) async fn record_changes<'a>(
        &self,
        connection: &impl ConnectionTrait,
        changes: impl IntoIterator<Item = (&'a Actor, Change)>,
    ) -> Result<(), DomainError> {
        // Nothing of the rows is needed back, so no RETURNING rows to decode.
        self.change_rows(changes)
            .exec_without_returning(connection)
            .await
            .map_err(error::classify)?;
        Ok(())
    }

    /// The insert of change-log rows, in order, stamped now.
    pub(crate) fn change_rows<'a>(
        &self,
        changes: impl IntoIterator<Item = (&'a Actor, Change)>,
    ) -> sea_orm::InsertMany<change_log::ActiveModel> {
        let now = self.clock.now();
        let rows = changes
            .into_iter()
            .map(|(actor, change)| change_log::ActiveModel {
                seq: NotSet,
                tenant_id: Set(actor.tenant_id.as_uuid()),
                occurred_at: Set(now),
                token_id: Set(actor.token_id.map(|t| t.as_uuid())),
                request_id: Set(actor.request_id.clone()),
                resource_type: Set(change.kind.as_str().to_owned()),
                resource_id: Set(change.resource_id),
                operation: Set(change.op.as_str().to_owned()),
                detail: Set(change.detail),
            });
        change_log::Entity::insert_many(rows)
    }

    /// A page of the audit trail: the tenant's changes after `after_seq`, oldest first, since
    /// `since` and of one resource when given.
    pub async fn audit(
        &self,
        tenant_id: TenantId,
        after_seq: i64,
        since: Option<chrono::DateTime<chrono::Utc>>,
        resource: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<ChangeRecord>, DomainError> {
        let mut select = change_log::Entity::find()
            .filter(change_log::Column::TenantId.eq(tenant_id.as_uuid()))
            .filter(change_log::Column::Seq.gt(after_seq));
        if let Some(since) = since {
            select = select.filter(change_log::Column::OccurredAt.gte(since));
        }
        if let Some(resource) = resource {
            select = select.filter(change_log::Column::ResourceId.eq(resource));
        }
        Ok(select
            .order_by_asc(change_log::Column::Seq)
            .limit(limit)
            .all(self.reader())
            .await
            .map_err(error::classify)?
            .into_iter()
            .map(record_from_model)
            .collect())
    }

    /// Deletes change-log entries older than `before`: the retention of the audit trail. The
    /// reconciler does not need them: a run reads the whole state, and the schedule's drift
    /// check converges whatever the follower missed.
    pub async fn prune_changes(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, DomainError> {
        let transaction = self.write().await?;
        let deleted = change_log::Entity::delete_many()
            .filter(change_log::Column::OccurredAt.lt(before))
            .exec(&transaction)
            .await
            .map_err(error::classify)?
            .rows_affected;
        transaction.commit().await.map_err(error::classify)?;
        Ok(deleted)
    }

    /// A tenant's change log after `after_seq`, oldest first, at most `limit` entries.
    pub async fn changes_since(
        &self,
        tenant_id: TenantId,
        after_seq: i64,
        limit: u64,
    ) -> Result<Vec<ChangeRecord>, DomainError> {
        self.audit(tenant_id, after_seq, None, None, limit).await
    }
}

fn record_from_model(row: change_log::Model) -> ChangeRecord {
    ChangeRecord {
        seq: row.seq,
        tenant_id: TenantId::from_uuid(row.tenant_id),
        occurred_at: row.occurred_at,
        token_id: row.token_id.map(TokenId::from_uuid),
        request_id: row.request_id,
        resource_type: row.resource_type,
        resource_id: row.resource_id,
        operation: row.operation,
        detail: row.detail,
    }
}
