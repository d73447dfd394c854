//! The lock that keeps one reconciliation run per (tenant, target) at a time, across every
//! process on the database (several replicas, the CLI beside the daemon): two writers would
//! fight over the same entries.
//!
//! On PostgreSQL it is a transaction-scoped advisory lock (`pg_try_advisory_xact_lock`) held by
//! a transaction that stays open for the whole run. It lives and dies with its connection: a
//! replica killed mid-run loses its connection, PostgreSQL releases the lock at once, and the
//! next trigger on any other replica takes over. Nothing is written, so a run costs no rows.
//!
//! On SQLite, where processes share a file and not a server, it is a lease row with an expiry:
//! a holder that dies without giving it back blocks the pair until the lease expires
//! (`sync.lease`). Two processes racing for a free lease both insert, and the primary key lets
//! one win.

use chrono::Duration;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, Set, Statement, TransactionTrait,
};
use sha2::{Digest, Sha256};

use super::entity::sync_leases;
use super::{Backend, Store, error};
use crate::domain::{DomainError, TenantId};

/// The right to run one (tenant, target); give it back with [`RunLock::release`]. Dropped
/// without release (a cancelled run), the advisory lock goes with its transaction's queued
/// rollback, and a lease row at its expiry.
#[derive(Debug)]
pub struct RunLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    Advisory(DatabaseTransaction),
    Lease {
        store: Store,
        tenant_id: TenantId,
        target: String,
        holder: String,
    },
}

impl Store {
    /// Takes the run lock of (tenant, target) unless another run holds it. `holder` names this
    /// process and `ttl` bounds a lease row (SQLite).
    pub async fn lock_run(
        &self,
        tenant_id: TenantId,
        target: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<RunLock>, DomainError> {
        let held = match self.backend {
            Backend::Postgres => {
                let transaction = self.writer.begin().await.map_err(error::classify)?;
                let row = transaction
                    .query_one_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "SELECT pg_try_advisory_xact_lock($1) AS locked",
                        [advisory_key(tenant_id, target).into()],
                    ))
                    .await
                    .map_err(error::classify)?;
                let locked = row
                    .map(|r| r.try_get::<bool>("", "locked"))
                    .transpose()
                    .map_err(error::classify)?;
                if locked != Some(true) {
                    let _ = transaction.rollback().await;
                    return Ok(None);
                }
                Held::Advisory(transaction)
            }
            Backend::Sqlite => {
                if !self.try_lease(tenant_id, target, holder, ttl).await? {
                    return Ok(None);
                }
                Held::Lease {
                    store: self.clone(),
                    tenant_id,
                    target: target.to_owned(),
                    holder: holder.to_owned(),
                }
            }
        };
        Ok(Some(RunLock { held }))
    }

    async fn try_lease(
        &self,
        tenant_id: TenantId,
        target: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, DomainError> {
        let now = self.clock.now();
        let transaction = self.write().await?;
        let current = sync_leases::Entity::find_by_id((tenant_id.as_uuid(), target.to_owned()))
            .one(&transaction)
            .await
            .map_err(error::classify)?;
        let row = sync_leases::ActiveModel {
            tenant_id: Set(tenant_id.as_uuid()),
            target: Set(target.to_owned()),
            holder: Set(holder.to_owned()),
            expires_at: Set(now + ttl),
        };
        let written = match current {
            None => row.insert(&transaction).await.map(|_| ()),
            Some(lease) if lease.holder == holder || lease.expires_at <= now => {
                row.update(&transaction).await.map(|_| ())
            }
            Some(_) => return Ok(false),
        };
        match written.map_err(error::classify) {
            Ok(()) => {}
            Err(DomainError::Conflict(_)) => return Ok(false),
            Err(e) => return Err(e),
        }
        match transaction.commit().await.map_err(error::classify) {
            Ok(()) => Ok(true),
            Err(DomainError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl RunLock {
    /// Gives the lock back.
    pub async fn release(self) -> Result<(), DomainError> {
        match self.held {
            // Nothing was written in it: rolling back ends it and frees the lock.
            Held::Advisory(transaction) => transaction.rollback().await.map_err(error::classify),
            Held::Lease {
                store,
                tenant_id,
                target,
                holder,
            } => {
                let transaction = store.write().await?;
                sync_leases::Entity::delete_many()
                    .filter(sync_leases::Column::TenantId.eq(tenant_id.as_uuid()))
                    .filter(sync_leases::Column::Target.eq(target))
                    .filter(sync_leases::Column::Holder.eq(holder))
                    .exec(&transaction)
                    .await
                    .map_err(error::classify)?;
                transaction.commit().await.map_err(error::classify)
            }
        }
    }
}

/// The advisory lock's 64-bit key: the first eight bytes of SHA-256 over the tenant's id and
/// the target's name, so every process derives the same key and pairs do not collide.
fn advisory_key(tenant_id: TenantId, target: &str) -> i64 {
    let digest = Sha256::new()
        .chain_update(tenant_id.as_uuid().as_bytes())
        .chain_update(target.as_bytes())
        .finalize();
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}
