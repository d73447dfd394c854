//! The links from a tenant's resources to their entries in a target: the anchor (entryUUID)
//! and location each managed entry had when a run last read the target.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use uuid::Uuid;

use super::entity::target_links;
use super::{Store, error};
use crate::domain::sync::{LinkRef, TargetLink};
use crate::domain::{DomainError, TenantId};

/// Links are written and deleted in batches of this many rows.
const LINK_BATCH: usize = 500;

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
            query = query.filter(
                Condition::any()
                    .add(target_links::Column::ResourceType.gt(after.resource_type.as_str()))
                    .add(
                        Condition::all()
                            .add(
                                target_links::Column::ResourceType.eq(after.resource_type.as_str()),
                            )
                            .add(target_links::Column::ResourceId.gt(after.resource_id)),
                    ),
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
            .map(|row| TargetLink {
                resource_type: row.resource_type,
                resource_id: row.resource_id,
                anchor: row.anchor,
                location: row.location,
            })
            .collect())
    }

    /// Makes the tenant's links in the target exactly `links` (the first of two for one
    /// resource wins), in one transaction. Only rows that differ are written: every run calls
    /// this with every managed entry it read, and rewriting 100,000 unchanged rows made a
    /// no-change run a large write.
    pub async fn replace_links<'a>(
        &self,
        tenant_id: TenantId,
        target: &str,
        links: impl IntoIterator<Item = LinkRef<'a>>,
    ) -> Result<(), DomainError> {
        // SCIM ids are UUIDs, unique across users and groups.
        let mut wanted: HashMap<Uuid, LinkRef<'a>> = HashMap::new();
        for link in links {
            wanted.entry(link.resource_id).or_insert(link);
        }
        let mut stale: HashMap<String, Vec<Uuid>> = HashMap::new();
        let mut pages = LinkPages::new(self, tenant_id, target);
        while let Some(page) = pages.next().await? {
            for held in page {
                match wanted.get(&held.resource_id) {
                    Some(link) if *link == held.borrowed() => {
                        wanted.remove(&held.resource_id);
                    }
                    _ => stale
                        .entry(held.resource_type)
                        .or_default()
                        .push(held.resource_id),
                }
            }
        }
        if stale.is_empty() && wanted.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let transaction = self.write().await?;
        for (resource_type, ids) in &stale {
            for chunk in ids.chunks(LINK_BATCH) {
                target_links::Entity::delete_many()
                    .filter(target_links::Column::TenantId.eq(tenant_id.as_uuid()))
                    .filter(target_links::Column::Target.eq(target))
                    .filter(target_links::Column::ResourceType.eq(resource_type.as_str()))
                    .filter(target_links::Column::ResourceId.is_in(chunk.iter().copied()))
                    .exec(&transaction)
                    .await
                    .map_err(error::classify)?;
            }
        }
        let inserts: Vec<LinkRef<'a>> = wanted.into_values().collect();
        for chunk in inserts.chunks(LINK_BATCH) {
            let rows = chunk.iter().map(|link| target_links::ActiveModel {
                tenant_id: Set(tenant_id.as_uuid()),
                target: Set(target.to_owned()),
                resource_type: Set(link.resource_type.to_owned()),
                resource_id: Set(link.resource_id),
                anchor: Set(link.anchor.to_owned()),
                location: Set(link.location.to_owned()),
                updated_at: Set(now),
            });
            target_links::Entity::insert_many(rows)
                .exec(&transaction)
                .await
                .map_err(error::classify)?;
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
