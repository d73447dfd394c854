//! Tenants: create, list, look up.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entity::tenants;
use super::{Store, error};
use crate::domain::{DomainError, IdpKind, Tenant, TenantId, TenantName, TenantSettings};

impl Store {
    /// Creates a tenant; a second tenant of the same name is a conflict.
    pub async fn create_tenant(
        &self,
        name: &TenantName,
        idp_kind: IdpKind,
    ) -> Result<Tenant, DomainError> {
        let model = tenants::ActiveModel {
            id: Set(TenantId::new().as_uuid()),
            name: Set(name.to_string()),
            idp_kind: Set(idp_kind.to_string()),
            created_at: Set(self.clock.now()),
            settings: Set(Some(
                serde_json::to_value(TenantSettings::for_kind(idp_kind))
                    .map_err(|e| DomainError::Internal(e.to_string()))?,
            )),
        };
        let transaction = self.write().await?;
        let model = model
            .insert(&transaction)
            .await
            .map_err(|e| match error::classify(e) {
                DomainError::Conflict(_) => {
                    DomainError::Conflict(format!("tenant {name} already exists"))
                }
                other => other,
            })?;
        transaction.commit().await.map_err(error::classify)?;
        tenant_from_model(model)
    }

    /// Every tenant, by name.
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, DomainError> {
        tenants::Entity::find()
            .order_by_asc(tenants::Column::Name)
            .all(self.reader())
            .await
            .map_err(error::classify)?
            .into_iter()
            .map(tenant_from_model)
            .collect()
    }

    /// The tenant of that name.
    pub async fn tenant_by_name(&self, name: &str) -> Result<Tenant, DomainError> {
        let model = tenants::Entity::find()
            .filter(tenants::Column::Name.eq(name))
            .one(self.reader())
            .await
            .map_err(error::classify)?
            .ok_or_else(|| DomainError::not_found("tenant", name))?;
        tenant_from_model(model)
    }

    /// Changes a tenant's IdP kind and settings; `None` leaves that part as it is.
    pub async fn update_tenant(
        &self,
        name: &str,
        idp_kind: Option<IdpKind>,
        settings: Option<TenantSettings>,
    ) -> Result<Tenant, DomainError> {
        let transaction = self.write().await?;
        let model = tenants::Entity::find()
            .filter(tenants::Column::Name.eq(name))
            .one(&transaction)
            .await
            .map_err(error::classify)?
            .ok_or_else(|| DomainError::not_found("tenant", name))?;
        let mut active: tenants::ActiveModel = model.into();
        if let Some(kind) = idp_kind {
            active.idp_kind = Set(kind.to_string());
        }
        if let Some(settings) = settings {
            let json =
                serde_json::to_value(settings).map_err(|e| DomainError::Internal(e.to_string()))?;
            active.settings = Set(Some(json));
        }
        let model = active.update(&transaction).await.map_err(error::classify)?;
        transaction.commit().await.map_err(error::classify)?;
        tenant_from_model(model)
    }

    /// The tenant with that id.
    pub async fn tenant_by_id(&self, id: TenantId) -> Result<Tenant, DomainError> {
        let model = tenants::Entity::find_by_id(id.as_uuid())
            .one(self.reader())
            .await
            .map_err(error::classify)?
            .ok_or_else(|| DomainError::not_found("tenant", id))?;
        tenant_from_model(model)
    }
}

pub(super) fn tenant_from_model(model: tenants::Model) -> Result<Tenant, DomainError> {
    let settings = match model.settings {
        None => TenantSettings::default(),
        Some(json) => serde_json::from_value(json).map_err(|e| {
            DomainError::Internal(format!(
                "tenant {} has unreadable settings: {e}",
                model.name
            ))
        })?,
    };
    Ok(Tenant {
        id: TenantId::from_uuid(model.id),
        name: TenantName::parse(&model.name)?,
        idp_kind: model.idp_kind.parse()?,
        created_at: model.created_at,
        settings,
    })
}
