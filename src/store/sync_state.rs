//! What reconciliation keeps in the store: run records and a tenant's whole desired state read
//! in pages. The links to target entries are in `links`, the lock that keeps one run per
//! (tenant, target) in `run_lock`.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::entity::{change_log, sync_runs};
use super::{Store, error};
use crate::domain::sync::{ChangePosition, SyncRun};
use crate::domain::{DomainError, Group, GroupId, TenantId, User, UserId};

/// Rows per page when a tenant's whole state is read.
const SNAPSHOT_PAGE: u64 = 1000;

/// How far below the newest entry a transaction still open may hold its number: one number per
/// write in flight across every tenant and replica, far fewer than this.
const LATE_COMMIT_WINDOW: i64 = 4096;

impl Store {
    /// Records the start of a run. The caller holds the (tenant, target) run lock, so a run of
    /// the pair still marked running was cut off (its process died mid-run); it is closed as
    /// `abandoned`, so no record claims to be running forever.
    pub async fn start_run(
        &self,
        tenant_id: TenantId,
        target: &str,
        trigger: &str,
        mode: &str,
        position: ChangePosition,
    ) -> Result<Uuid, DomainError> {
        let id = Uuid::now_v7();
        let now = self.clock.now();
        let transaction = self.write().await?;
        sync_runs::Entity::update_many()
            .col_expr(sync_runs::Column::Status, Expr::value("abandoned"))
            .col_expr(sync_runs::Column::FinishedAt, Expr::value(now))
            .col_expr(
                sync_runs::Column::Error,
                Expr::value("the process running it stopped before the run finished"),
            )
            .filter(sync_runs::Column::TenantId.eq(tenant_id.as_uuid()))
            .filter(sync_runs::Column::Target.eq(target))
            .filter(sync_runs::Column::FinishedAt.is_null())
            .exec(&transaction)
            .await
            .map_err(error::classify)?;
        sync_runs::ActiveModel {
            id: Set(id),
            tenant_id: Set(tenant_id.as_uuid()),
            target: Set(target.to_owned()),
            trigger: Set(trigger.to_owned()),
            mode: Set(mode.to_owned()),
            status: Set("running".to_owned()),
            started_at: Set(now),
            finished_at: Set(None),
            counts: Set(None),
            error: Set(None),
            change_seq: Set(Some(position.seq)),
            change_window: Set(Some(position.window)),
        }
        .insert(&transaction)
        .await
        .map_err(error::classify)?;
        transaction.commit().await.map_err(error::classify)?;
        Ok(id)
    }

    /// Records how a run ended.
    pub async fn finish_run(
        &self,
        id: Uuid,
        status: &str,
        counts: serde_json::Value,
        failure: Option<String>,
    ) -> Result<(), DomainError> {
        let transaction = self.write().await?;
        sync_runs::Entity::update_many()
            .col_expr(sync_runs::Column::Status, Expr::value(status))
            .col_expr(sync_runs::Column::FinishedAt, Expr::value(self.clock.now()))
            .col_expr(sync_runs::Column::Counts, Expr::value(counts))
            .col_expr(sync_runs::Column::Error, Expr::value(failure))
            .filter(sync_runs::Column::Id.eq(id))
            .exec(&transaction)
            .await
            .map_err(error::classify)?;
        transaction.commit().await.map_err(error::classify)
    }

    /// The latest runs, newest first; of one tenant when given.
    pub async fn runs(
        &self,
        tenant_id: Option<TenantId>,
        limit: u64,
    ) -> Result<Vec<SyncRun>, DomainError> {
        let mut select = sync_runs::Entity::find();
        if let Some(tenant) = tenant_id {
            select = select.filter(sync_runs::Column::TenantId.eq(tenant.as_uuid()));
        }
        Ok(select
            .order_by_desc(sync_runs::Column::StartedAt)
            .order_by_desc(sync_runs::Column::Id)
            .limit(limit)
            .all(self.reader())
            .await
            .map_err(error::classify)?
            .into_iter()
            .map(run_from_model)
            .collect())
    }

    /// The change-log position of the last run that applied successfully to the target, with
    /// the window the run counted below it. A run recorded before runs counted it has a window
    /// no count can pass.
    pub async fn last_applied_position(
        &self,
        tenant_id: TenantId,
        target: &str,
    ) -> Result<Option<ChangePosition>, DomainError> {
        Ok(sync_runs::Entity::find()
            .filter(sync_runs::Column::TenantId.eq(tenant_id.as_uuid()))
            .filter(sync_runs::Column::Target.eq(target))
            .filter(sync_runs::Column::Status.eq("applied"))
            .order_by_desc(sync_runs::Column::ChangeSeq)
            // Of runs at the same position the newest (ids are UUIDv7), whose window counted
            // what committed late before it.
            .order_by_desc(sync_runs::Column::Id)
            .one(self.reader())
            .await
            .map_err(error::classify)?
            .and_then(|run| {
                Some(ChangePosition {
                    seq: run.change_seq?,
                    window: run.change_window.unwrap_or(i64::MAX),
                })
            }))
    }

    /// The tenant's change-log position now: what a run notes before it reads the store.
    pub async fn change_position(
        &self,
        tenant_id: TenantId,
    ) -> Result<ChangePosition, DomainError> {
        let seq = self.latest_change_seq(tenant_id).await?;
        let window = self.entries_in_window(tenant_id, seq).await?;
        Ok(ChangePosition { seq, window })
    }

    /// Whether an entry numbered at or below `position` became visible after it was noted: a
    /// change the run that noted it may not have seen. PostgreSQL numbers entries when they are
    /// inserted, and their transactions commit in any order, so `seq` alone cannot tell; a
    /// transaction still open when a run noted its position holds a number within
    /// `LATE_COMMIT_WINDOW` below it, where a later count comes out higher.
    pub async fn committed_late(
        &self,
        tenant_id: TenantId,
        position: ChangePosition,
    ) -> Result<bool, DomainError> {
        Ok(self.late_entries(tenant_id, position).await? > 0)
    }

    /// How many of the tenant's changes the last applied run of `target` did not see: those
    /// numbered after its position, and those that committed late below it (see
    /// `committed_late`). Every change when nothing was applied yet.
    pub async fn pending_changes(
        &self,
        tenant_id: TenantId,
        target: &str,
    ) -> Result<u64, DomainError> {
        let Some(position) = self.last_applied_position(tenant_id, target).await? else {
            return self.changes_after(tenant_id, 0).await;
        };
        let after = self.changes_after(tenant_id, position.seq).await?;
        Ok(after + self.late_entries(tenant_id, position).await?)
    }

    /// How many entries numbered at or below `position` committed after it was noted. None on
    /// SQLite, where entries commit in their order: no count is run there (the follower asks
    /// for every tenant on every tick).
    async fn late_entries(
        &self,
        tenant_id: TenantId,
        position: ChangePosition,
    ) -> Result<u64, DomainError> {
        if self.backend == super::Backend::Sqlite {
            return Ok(0);
        }
        let late = self.entries_in_window(tenant_id, position.seq).await? - position.window;
        Ok(u64::try_from(late).unwrap_or(0))
    }

    /// How many of the tenant's entries are numbered in the window ending at `seq`.
    async fn entries_in_window(&self, tenant_id: TenantId, seq: i64) -> Result<i64, DomainError> {
        use sea_orm::PaginatorTrait;
        let count = change_log::Entity::find()
            .filter(change_log::Column::TenantId.eq(tenant_id.as_uuid()))
            .filter(change_log::Column::Seq.gt(seq - LATE_COMMIT_WINDOW))
            .filter(change_log::Column::Seq.lte(seq))
            .count(self.reader())
            .await
            .map_err(error::classify)?;
        Ok(i64::try_from(count).unwrap_or(i64::MAX))
    }

    /// The tenant's latest change-log position (0 for none).
    pub async fn latest_change_seq(&self, tenant_id: TenantId) -> Result<i64, DomainError> {
        Ok(change_log::Entity::find()
            .filter(change_log::Column::TenantId.eq(tenant_id.as_uuid()))
            .order_by_desc(change_log::Column::Seq)
            .one(self.reader())
            .await
            .map_err(error::classify)?
            .map(|row| row.seq)
            .unwrap_or(0))
    }

    /// How many change-log entries the tenant has after `seq`.
    pub async fn changes_after(&self, tenant_id: TenantId, seq: i64) -> Result<u64, DomainError> {
        use sea_orm::PaginatorTrait;
        change_log::Entity::find()
            .filter(change_log::Column::TenantId.eq(tenant_id.as_uuid()))
            .filter(change_log::Column::Seq.gt(seq))
            .count(self.reader())
            .await
            .map_err(error::classify)
    }

    /// When the change at `seq` of the tenant's log happened.
    pub async fn change_time(
        &self,
        tenant_id: TenantId,
        seq: i64,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, DomainError> {
        Ok(change_log::Entity::find()
            .filter(change_log::Column::TenantId.eq(tenant_id.as_uuid()))
            .filter(change_log::Column::Seq.eq(seq))
            .one(self.reader())
            .await
            .map_err(error::classify)?
            .map(|row| row.occurred_at))
    }

    /// Every user of the tenant, read a keyset page at a time, without their groups (read
    /// the groups for membership).
    pub async fn all_users(&self, tenant_id: TenantId) -> Result<Vec<User>, DomainError> {
        self.pages(tenant_id).collect().await
    }

    /// Every group of the tenant with its members, read a keyset page at a time.
    pub async fn all_groups(&self, tenant_id: TenantId) -> Result<Vec<Group>, DomainError> {
        self.pages(tenant_id).collect().await
    }

    /// The tenant's users or groups, a page of [`SNAPSHOT_PAGE`] at a time in id order: a run
    /// reads the whole tenant this way without holding it.
    pub fn pages<T: Paged>(&self, tenant_id: TenantId) -> Pages<'_, T> {
        Pages {
            store: self,
            tenant_id,
            after: None,
            done: false,
        }
    }
}

/// A resource a tenant is read in pages of: users (without their groups, which the groups'
/// members say) or groups (with their members).
pub trait Paged: Sized + Send {
    /// What pages are keyed by.
    type Id: Copy + Send + Sync;
    /// Its id.
    fn id(&self) -> Self::Id;
    /// Up to `count` of the tenant's after `after`.
    fn page(
        store: &Store,
        tenant_id: TenantId,
        after: Option<Self::Id>,
        count: u64,
    ) -> impl std::future::Future<Output = Result<Vec<Self>, DomainError>> + Send;
}

impl Paged for User {
    type Id = UserId;
    fn id(&self) -> UserId {
        self.id
    }
    async fn page(
        store: &Store,
        tenant_id: TenantId,
        after: Option<UserId>,
        count: u64,
    ) -> Result<Vec<User>, DomainError> {
        store.users_after(tenant_id, after, count).await
    }
}

impl Paged for Group {
    type Id = GroupId;
    fn id(&self) -> GroupId {
        self.id
    }
    async fn page(
        store: &Store,
        tenant_id: TenantId,
        after: Option<GroupId>,
        count: u64,
    ) -> Result<Vec<Group>, DomainError> {
        store.groups_after(tenant_id, after, count).await
    }
}

/// A keyset cursor over a tenant's users or groups ([`Store::pages`]).
pub struct Pages<'a, T: Paged> {
    store: &'a Store,
    tenant_id: TenantId,
    after: Option<T::Id>,
    done: bool,
}

impl<T: Paged> Pages<'_, T> {
    /// The next page, or `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Vec<T>>, DomainError> {
        if self.done {
            return Ok(None);
        }
        let page = T::page(self.store, self.tenant_id, self.after, SNAPSHOT_PAGE).await?;
        self.done = page.len() < SNAPSHOT_PAGE as usize;
        self.after = page.last().map(T::id);
        Ok(Some(page))
    }

    /// Every remaining page, in one vector.
    pub async fn collect(mut self) -> Result<Vec<T>, DomainError> {
        let mut all = Vec::new();
        while let Some(page) = self.next().await? {
            all.extend(page);
        }
        Ok(all)
    }
}

fn run_from_model(model: sync_runs::Model) -> SyncRun {
    SyncRun {
        id: model.id,
        tenant_id: TenantId::from_uuid(model.tenant_id),
        target: model.target,
        trigger: model.trigger,
        mode: model.mode,
        status: model.status,
        started_at: model.started_at,
        finished_at: model.finished_at,
        counts: model.counts,
        error: model.error,
        change_seq: model.change_seq,
    }
}
