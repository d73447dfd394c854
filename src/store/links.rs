//! The links from a tenant's resources to their entries in a target: the anchor (entryUUID)
//! and location each managed entry had when a run last read the target.

use std::collections::{BTreeSet, HashMap};

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use uuid::Uuid;

use super::entity::target_links;
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
        let mut links = HashMap::with_capacity(resources.len());
        for chunk in resources.chunks(LINK_BATCH) {
            let types: BTreeSet<&str> = chunk.iter().map(|(t, _)| *t).collect();
            let rows = target_links::Entity::find()
                .filter(target_links::Column::TenantId.eq(tenant_id.as_uuid()))
                .filter(target_links::Column::Target.eq(target))
                .filter(target_links::Column::ResourceType.is_in(types))
                .filter(target_links::Column::ResourceId.is_in(chunk.iter().map(|(_, id)| *id)))
                .all(self.reader())
                .await
                .map_err(error::classify)?;
            for row in rows {
                if chunk.contains(&(row.resource_type.as_str(), row.resource_id)) {
                    links.insert(row.resource_id, link_of(row));
                }
            }
        }
        Ok(links)
    }

    /// Up to [`LINK_BATCH`] links after `after`, in primary-key order. Read whole in one
    /// query, 100,000 links were 80 MB of SQLite row copies before the first was converted.
    async fn links_after(
        &self,
        tenant_id: TenantId,
        target: &str,
        after: Option<&TargetLink>,
    ) -> Result<Vec<TargetLink>, DomainError> {
        let mut query = target_links::Entity::find()
            .filter(target_links::Column::TenantId.eq(tenant_id.as_uuid()))
            .filter(target_links::Column::Target.eq(target));
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
        Ok(query
            .order_by_asc(target_links::Column::ResourceType)
            .order_by_asc(target_links::Column::ResourceId)
            .limit(LINK_BATCH as u64)
            .all(self.reader())
            .await
            .map_err(error::classify)?
            .into_iter()
            .map(link_of)
            .collect())
    }

    /// Makes the tenant's links in the target exactly `links` (the first of two for one
    /// resource wins): [`LinkRecording`] over batches of them.
    pub async fn replace_links<'a>(
        &self,
        tenant_id: TenantId,
        target: &str,
        links: impl IntoIterator<Item = LinkRef<'a>>,
    ) -> Result<(), DomainError> {
        let mut recording = self.record_links(tenant_id, target);
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
    pub fn record_links<'s>(&'s self, tenant_id: TenantId, target: &'s str) -> LinkRecording<'s> {
        LinkRecording {
            store: self,
            tenant_id,
            target,
            types: Vec::new(),
            seen: HashMap::new(),
            differing: Vec::new(),
        }
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
    /// The resources recorded so far, and their type's place in `types`.
    seen: HashMap<Uuid, u8>,
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
            if let std::collections::hash_map::Entry::Vacant(v) = self.seen.entry(link.resource_id)
            {
                v.insert(kind);
                fresh.push(link);
            }
        }
        for chunk in fresh.chunks(LINK_LOOKUP) {
            let held = self.held(chunk).await?;
            for link in chunk {
                let same = held.get(&link.resource_id).map(|row| {
                    (&*row.resource_type, &*row.anchor, &*row.location)
                        == (link.resource_type, link.anchor, link.location)
                });
                if same != Some(true) {
                    self.differing
                        .push((TargetLink::from(**link), same.is_some()));
                }
            }
        }
        if self.differing.len() >= HELD_LINKS {
            let differing = std::mem::take(&mut self.differing);
            self.write(&differing, &[]).await?;
        }
        Ok(())
    }

    /// What the store holds for these resources, by id.
    async fn held(
        &self,
        links: &[&LinkRef<'_>],
    ) -> Result<HashMap<Uuid, target_links::Model>, DomainError> {
        let types: BTreeSet<&str> = links.iter().map(|l| l.resource_type).collect();
        // Both key columns are bound, so each backend looks the rows up by primary key.
        Ok(target_links::Entity::find()
            .filter(target_links::Column::TenantId.eq(self.tenant_id.as_uuid()))
            .filter(target_links::Column::Target.eq(self.target))
            .filter(target_links::Column::ResourceType.is_in(types))
            .filter(target_links::Column::ResourceId.is_in(links.iter().map(|l| l.resource_id)))
            .all(self.store.reader())
            .await
            .map_err(error::classify)?
            .into_iter()
            .map(|row| (row.resource_id, row))
            .collect())
    }

    /// Writes the links that differ and deletes those of resources not recorded, or recorded
    /// as another type; call it only after a complete read.
    pub async fn finish(mut self) -> Result<(), DomainError> {
        let mut stale = Vec::new();
        let mut pages = LinkPages::new(self.store, self.tenant_id, self.target);
        while let Some(page) = pages.next().await? {
            for held in page {
                let recorded = self
                    .seen
                    .get(&held.resource_id)
                    .map(|&t| &*self.types[t as usize]);
                if recorded != Some(held.resource_type.as_str()) {
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
        let of_target = || {
            Condition::all()
                .add(target_links::Column::TenantId.eq(tenant_id))
                .add(target_links::Column::Target.eq(self.target))
        };
        let now = self.store.clock.now();
        let transaction = self.store.write().await?;
        for chunk in links.chunks(LINK_BATCH) {
            let replaced: Vec<&TargetLink> = chunk
                .iter()
                .filter(|(_, replaced)| *replaced)
                .map(|(link, _)| link)
                .collect();
            // Only links the store holds are deleted first: on a first read there are none,
            // and each DELETE is a search of the tenant's links.
            if !replaced.is_empty() {
                let types: BTreeSet<&str> =
                    replaced.iter().map(|l| l.resource_type.as_str()).collect();
                let ids = replaced.iter().map(|l| l.resource_id);
                target_links::Entity::delete_many()
                    .filter(of_target())
                    .filter(target_links::Column::ResourceType.is_in(types))
                    .filter(target_links::Column::ResourceId.is_in(ids))
                    .exec(&transaction)
                    .await
                    .map_err(error::classify)?;
            }
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
        for chunk in stale.chunks(LINK_BATCH) {
            for resource_type in chunk
                .iter()
                .map(|(t, _)| t.as_str())
                .collect::<BTreeSet<_>>()
            {
                let ids = chunk
                    .iter()
                    .filter(|(t, _)| t == resource_type)
                    .map(|(_, id)| *id);
                target_links::Entity::delete_many()
                    .filter(of_target())
                    .filter(target_links::Column::ResourceType.eq(resource_type))
                    .filter(target_links::Column::ResourceId.is_in(ids))
                    .exec(&transaction)
                    .await
                    .map_err(error::classify)?;
            }
        }
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
