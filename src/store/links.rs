//! The links from a tenant's resources to their entries in a target: the anchor (entryUUID)
//! and location each managed entry had when a run last read the target.

use std::collections::{BTreeSet, HashMap, HashSet};

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Set,
};
use uuid::Uuid;

use super::entity::target_links;
use super::scratch::Scratch;
use super::{Store, error};
use crate::domain::sync::{LinkRef, TargetLink};
use crate::domain::{DomainError, TenantId};

/// Links are written and deleted in batches of this many rows.
pub const LINK_BATCH: usize = 500;

impl Store {
    /// The links of a tenant's resources in a target.
    pub async fn links(
        &self,
        tenant_id: TenantId,
        target: &str,
    ) -> Result<Vec<TargetLink>, DomainError> {
        let mut pages = LinkPages::new(self, tenant_id, target);
        let mut links = Vec::new();
        while let Some(page) = pages.next().await? {
            links.extend(page);
        }
        Ok(links)
    }

    /// The links of these resources (type and id), by id; a resource without one is left
    /// out.
    pub async fn links_of(
        &self,
        tenant_id: TenantId,
        target: &str,
        resources: &[(&str, Uuid)],
    ) -> Result<HashMap<Uuid, TargetLink>, DomainError> {
        let rows = self.link_rows(tenant_id, target, resources).await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.resource_id, link_of(row)))
            .collect())
    }

    /// The rows of exactly these links (type and id), [`LINK_LOOKUP`] per query.
    async fn link_rows(
        &self,
        tenant_id: TenantId,
        target: &str,
        keys: &[(&str, Uuid)],
    ) -> Result<Vec<target_links::Model>, DomainError> {
        let mut rows = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(LINK_LOOKUP) {
            let wanted: HashSet<(&str, Uuid)> = chunk.iter().copied().collect();
            let types: BTreeSet<&str> = chunk.iter().map(|(t, _)| *t).collect();
            // Both key columns are bound, so each backend looks the rows up by primary key;
            // the pairs the two lists cross into that were not asked for are dropped.
            let found = target_links::Entity::find()
                .filter(of_target(tenant_id, target))
                .filter(target_links::Column::ResourceType.is_in(types))
                .filter(target_links::Column::ResourceId.is_in(chunk.iter().map(|(_, id)| *id)));
            let found: Vec<target_links::Model> =
                self.scan_rows(QueryTrait::as_query(&found)).await?;
            rows.extend(
                found
                    .into_iter()
                    .filter(|row| wanted.contains(&(row.resource_type.as_str(), row.resource_id))),
            );
        }
        Ok(rows)
    }

    /// Deletes exactly these links (type and id), a type at a time: the two lists crossed
    /// could name a link of one resource under another type, which may be current.
    async fn delete_links(
        connection: &impl ConnectionTrait,
        tenant_id: TenantId,
        target: &str,
        keys: &[(&str, Uuid)],
    ) -> Result<(), DomainError> {
        for chunk in keys.chunks(LINK_BATCH) {
            let types: BTreeSet<&str> = chunk.iter().map(|(t, _)| *t).collect();
            for resource_type in types {
                let ids = chunk
                    .iter()
                    .filter(|(t, _)| *t == resource_type)
                    .map(|(_, id)| *id);
                target_links::Entity::delete_many()
                    .filter(of_target(tenant_id, target))
                    .filter(target_links::Column::ResourceType.eq(resource_type))
                    .filter(target_links::Column::ResourceId.is_in(ids))
                    .exec(connection)
                    .await
                    .map_err(error::classify)?;
            }
        }
        Ok(())
    }

    /// Up to [`LINK_BATCH`] links after `after`, in primary-key order. Read whole in one
    /// query, 100,000 links were 80 MB of SQLite row copies before the first was converted.
    async fn links_after(
        &self,
        tenant_id: TenantId,
        target: &str,
        after: Option<&TargetLink>,
    ) -> Result<Vec<TargetLink>, DomainError> {
        let mut query = target_links::Entity::find().filter(of_target(tenant_id, target));
        if let Some(after) = after {
            // A row-value comparison, which both backends answer from the primary key; the
            // same condition spelled with OR made SQLite scan from the tenant's first link on
            // every page (1.7 s for 100,000 links instead of 0.2).
            query = query.filter(
                Expr::tuple([
                    Expr::col(target_links::Column::ResourceType),
                    Expr::col(target_links::Column::ResourceId),
                ])
                .gt(Expr::tuple([
                    Expr::val(after.resource_type.as_str()),
                    Expr::val(after.resource_id),
                ])),
            );
        }
        let page = query
            .order_by_asc(target_links::Column::ResourceType)
            .order_by_asc(target_links::Column::ResourceId)
            .limit(LINK_BATCH as u64);
        let page: Vec<target_links::Model> = self.scan_rows(QueryTrait::as_query(&page)).await?;
        Ok(page.into_iter().map(link_of).collect())
    }

    /// Makes the tenant's links in the target exactly `links` (the first of two for one
    /// resource wins): [`LinkRecording`] over batches of them.
    pub async fn replace_links<'a>(
        &self,
        tenant_id: TenantId,
        target: &str,
        links: impl IntoIterator<Item = LinkRef<'a>>,
    ) -> Result<(), DomainError> {
        let mut recording = self.record_links(tenant_id, target)?;
        let mut batch = Vec::with_capacity(LINK_LOOKUP);
        for link in links {
            batch.push(link);
            if batch.len() == LINK_LOOKUP {
                recording.record(&batch).await?;
                batch.clear();
            }
        }
        recording.record(&batch).await?;
        recording.finish().await
    }

    /// Starts making the tenant's links in the target exactly what a read hands over.
    pub fn record_links<'s>(
        &'s self,
        tenant_id: TenantId,
        target: &'s str,
    ) -> Result<LinkRecording<'s>, DomainError> {
        Ok(LinkRecording {
            store: self,
            tenant_id,
            target,
            types: Vec::new(),
            seen: Scratch::open()?,
            differing: Vec::new(),
        })
    }
}

/// Links recorded a batch at a time as a read streams, so neither the read's links nor the
/// store's are ever held all at once (a map of 100,000 wanted links was a no-change run's
/// peak). Each batch is compared with what the store holds for it, and only links that differ
/// are kept to be written: every run records every managed entry it read, and rewriting
/// 100,000 unchanged rows made a no-change run a large write.
///
/// What differs is written by `finish`, with the deletion of the links the read did not show,
/// in one transaction, so a run commits its links once (on PostgreSQL each commit waits for
/// a disk flush). Only when more than [`HELD_LINKS`] differ (a directory read for the first
/// time) are they written as they pass that; a read that fails then leaves those written,
/// each as it was read.
pub struct LinkRecording<'s> {
    store: &'s Store,
    tenant_id: TenantId,
    target: &'s str,
    /// Resource types seen, so `seen` holds a byte per link rather than a string.
    types: Vec<String>,
    /// The resources recorded so far, and their type's place in `types`, on disk (a run's
    /// working set: see `scratch`).
    seen: Scratch,
    /// Links that differ from the store's, not yet written, and whether the store holds
    /// one for the resource (to be replaced) or none.
    differing: Vec<(TargetLink, bool)>,
}

/// Links compared with the store's in one query. PostgreSQL reads a table of 10,000 links
/// whole for a lookup of any size, so fewer lookups are cheaper there; larger ones cost
/// memory (at 5,000 a 1 % run of 10,000 users peaked 13 MiB higher than at 1,000).
pub const LINK_LOOKUP: usize = 1_000;

/// At most this many differing links wait for `finish`.
pub const HELD_LINKS: usize = 2 * LINK_LOOKUP;

impl LinkRecording<'_> {
    fn type_of(&mut self, resource_type: &str) -> u8 {
        match self.types.iter().position(|t| t == resource_type) {
            Some(i) => i as u8,
            None => {
                self.types.push(resource_type.to_owned());
                (self.types.len() - 1) as u8
            }
        }
    }

    /// Records a batch of links; a resource already recorded keeps its first link.
    pub async fn record(&mut self, links: &[LinkRef<'_>]) -> Result<(), DomainError> {
        let mut fresh = Vec::with_capacity(links.len());
        for link in links {
            let kind = self.type_of(link.resource_type);
            if self.seen.see(link.resource_id, kind)? {
                fresh.push(link);
            }
        }
        let keys: Vec<(&str, Uuid)> = fresh
            .iter()
            .map(|l| (l.resource_type, l.resource_id))
            .collect();
        let held: HashMap<Uuid, target_links::Model> = self
            .store
            .link_rows(self.tenant_id, self.target, &keys)
            .await?
            .into_iter()
            .map(|row| (row.resource_id, row))
            .collect();
        for link in fresh {
            let held = held.get(&link.resource_id);
            if held.is_none_or(|row| (&*row.anchor, &*row.location) != (link.anchor, link.location))
            {
                self.differing
                    .push((TargetLink::from(*link), held.is_some()));
            }
        }
        if self.differing.len() >= HELD_LINKS {
            let differing = std::mem::take(&mut self.differing);
            self.write(&differing, &[]).await?;
        }
        Ok(())
    }

    /// Writes the links that differ and deletes those of resources not recorded, or recorded
    /// as another type; call it only after a complete read.
    pub async fn finish(mut self) -> Result<(), DomainError> {
        let mut stale = Vec::new();
        let mut pages = LinkPages::new(self.store, self.tenant_id, self.target);
        while let Some(page) = pages.next().await? {
            for held in page {
                let recorded = self.seen.seen_type(held.resource_id)?;
                let recorded = recorded.and_then(|t| self.types.get(usize::from(t)));
                if recorded.map(String::as_str) != Some(held.resource_type.as_str()) {
                    stale.push((held.resource_type, held.resource_id));
                }
            }
        }
        let differing = std::mem::take(&mut self.differing);
        self.write(&differing, &stale).await
    }

    /// In one transaction: stores each link given, replacing the resource's link where the
    /// store holds one, and deletes the `stale` ones (type and id).
    async fn write(
        &self,
        links: &[(TargetLink, bool)],
        stale: &[(String, Uuid)],
    ) -> Result<(), DomainError> {
        if links.is_empty() && stale.is_empty() {
            return Ok(());
        }
        let tenant_id = self.tenant_id.as_uuid();
        let now = self.store.clock.now();
        let transaction = self.store.write().await?;
        for chunk in links.chunks(LINK_BATCH) {
            // Only links the store holds are deleted first: on a first read there are none,
            // and each DELETE is a search of the tenant's links.
            let replaced: Vec<(&str, Uuid)> = chunk
                .iter()
                .filter(|(_, replaced)| *replaced)
                .map(|(link, _)| (link.resource_type.as_str(), link.resource_id))
                .collect();
            Store::delete_links(&transaction, self.tenant_id, self.target, &replaced).await?;
            let rows = chunk.iter().map(|(link, _)| target_links::ActiveModel {
                tenant_id: Set(tenant_id),
                target: Set(self.target.to_owned()),
                resource_type: Set(link.resource_type.clone()),
                resource_id: Set(link.resource_id),
                anchor: Set(link.anchor.clone()),
                location: Set(link.location.clone()),
                updated_at: Set(now),
            });
            target_links::Entity::insert_many(rows)
                .exec(&transaction)
                .await
                .map_err(error::classify)?;
        }
        let stale: Vec<(&str, Uuid)> = stale.iter().map(|(t, id)| (t.as_str(), *id)).collect();
        Store::delete_links(&transaction, self.tenant_id, self.target, &stale).await?;
        transaction.commit().await.map_err(error::classify)
    }
}

/// The links of a tenant in a target, [`LINK_BATCH`] at a time in primary-key order.
struct LinkPages<'a> {
    store: &'a Store,
    tenant_id: TenantId,
    target: &'a str,
    after: Option<TargetLink>,
    done: bool,
}

impl<'a> LinkPages<'a> {
    fn new(store: &'a Store, tenant_id: TenantId, target: &'a str) -> Self {
        Self {
            store,
            tenant_id,
            target,
            after: None,
            done: false,
        }
    }

    async fn next(&mut self) -> Result<Option<Vec<TargetLink>>, DomainError> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .store
            .links_after(self.tenant_id, self.target, self.after.as_ref())
            .await?;
        self.done = page.len() < LINK_BATCH;
        self.after = page.last().cloned();
        Ok(Some(page))
    }
}

fn link_of(row: target_links::Model) -> TargetLink {
    TargetLink {
        resource_type: row.resource_type,
        resource_id: row.resource_id,
        anchor: row.anchor,
        location: row.location,
    }
}

/// The rows of a tenant's links in a target.
fn of_target(tenant_id: TenantId, target: &str) -> Condition {
    Condition::all()
        .add(target_links::Column::TenantId.eq(tenant_id.as_uuid()))
        .add(target_links::Column::Target.eq(target))
}
