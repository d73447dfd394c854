//! Bearer tokens: issued once, stored as a hash, looked up by hash, revocable, expiring.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, Set,
};

use super::entity::{api_tokens, tenants};
use super::shaped::Shape;
use super::tenants::tenant_from_model;
use super::{Store, error, select_nested};
use crate::domain::{ApiToken, DomainError, Tenant, TenantId, TokenId, token::TokenState};
use crate::secret::{self, SecretString};

/// A freshly issued token: the stored record and the secret, which is never available again.
#[derive(Debug)]
pub struct NewToken {
    /// What is stored.
    pub token: ApiToken,
    /// The bearer token to hand to the IdP.
    pub secret: SecretString,
}

/// A request's credential, once checked, with its tenant read in the same query (handlers
/// need its IdP kind and settings, and must not query for them per request or Bulk operation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The tenant every operation of the request is confined to.
    pub tenant: Tenant,
    /// The token used.
    pub token_id: TokenId,
}

/// A token's row and its tenant's, read in one query.
#[derive(FromQueryResult, serde::Deserialize)]
struct TokenOfTenant {
    #[sea_orm(nested(prefix = "token."))]
    token: api_tokens::Model,
    #[sea_orm(nested(prefix = "tenant."))]
    tenant: tenants::Model,
}

/// `last_used_at` is written at most this often per token, so authentication does not cost a
/// database write on every request.
const LAST_USED_RESOLUTION: Duration = Duration::seconds(60);

impl Store {
    /// Issues a token for a tenant. `expires_in` of `None` means it never expires.
    pub async fn create_token(
        &self,
        tenant_id: TenantId,
        name: &str,
        expires_in: Option<Duration>,
    ) -> Result<NewToken, DomainError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 128 {
            return Err(DomainError::Invalid(
                "a token name must have 1 to 128 characters".into(),
            ));
        }
        let secret = secret::generate_token();
        let now = self.clock.now();
        let model = api_tokens::ActiveModel {
            id: Set(TokenId::new().as_uuid()),
            tenant_id: Set(tenant_id.as_uuid()),
            name: Set(name.to_owned()),
            hint: Set(secret::token_hint(secret.expose())),
            token_hash: Set(secret::token_digest(secret.expose())),
            created_at: Set(now),
            expires_at: Set(expires_in.map(|d| now + d)),
            revoked_at: Set(None),
            last_used_at: Set(None),
        };
        let transaction = self.write().await?;
        let model = model.insert(&transaction).await.map_err(error::classify)?;
        transaction.commit().await.map_err(error::classify)?;
        Ok(NewToken {
            token: token_from_model(model),
            secret,
        })
    }

    /// A tenant's tokens, newest first.
    pub async fn list_tokens(&self, tenant_id: TenantId) -> Result<Vec<ApiToken>, DomainError> {
        Ok(api_tokens::Entity::find()
            .filter(api_tokens::Column::TenantId.eq(tenant_id.as_uuid()))
            .order_by_desc(api_tokens::Column::CreatedAt)
            .all(self.reader())
            .await
            .map_err(error::classify)?
            .into_iter()
            .map(token_from_model)
            .collect())
    }

    /// Revokes a token. Revoking it again keeps the first revocation time.
    pub async fn revoke_token(&self, id: TokenId) -> Result<ApiToken, DomainError> {
        let transaction = self.write().await?;
        let model = api_tokens::Entity::find_by_id(id.as_uuid())
            .one(&transaction)
            .await
            .map_err(error::classify)?
            .ok_or_else(|| DomainError::not_found("token", id))?;
        let model = if model.revoked_at.is_some() {
            model
        } else {
            let mut active: api_tokens::ActiveModel = model.into();
            active.revoked_at = Set(Some(self.clock.now()));
            active.update(&transaction).await.map_err(error::classify)?
        };
        transaction.commit().await.map_err(error::classify)?;
        Ok(token_from_model(model))
    }

    /// Rotates a token: issues a new one for the same tenant and label, and lets the old one
    /// work only for `overlap` more (or until its own expiry, if sooner), so an IdP can be
    /// switched to the new secret without a gap. A revoked or expired token cannot be rotated.
    pub async fn rotate_token(
        &self,
        id: TokenId,
        overlap: Duration,
        expires_in: Option<Duration>,
    ) -> Result<(NewToken, ApiToken), DomainError> {
        let now = self.clock.now();
        let old = api_tokens::Entity::find_by_id(id.as_uuid())
            .one(self.reader())
            .await
            .map_err(error::classify)?
            .map(token_from_model)
            .ok_or_else(|| DomainError::not_found("token", id))?;
        if old.state(now) != TokenState::Active {
            return Err(DomainError::Invalid(format!(
                "token {id} is revoked or expired; issue a new one with `dirsync token create`"
            )));
        }
        let issued = self
            .create_token(old.tenant_id, &old.name, expires_in)
            .await?;
        let until = old
            .expires_at
            .map_or(now + overlap, |e| Ord::min(e, now + overlap));
        let transaction = self.write().await?;
        api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::ExpiresAt, Expr::value(until))
            .filter(api_tokens::Column::Id.eq(id.as_uuid()))
            .exec(&transaction)
            .await
            .map_err(error::classify)?;
        transaction.commit().await.map_err(error::classify)?;
        let old = ApiToken {
            expires_at: Some(until),
            ..old
        };
        Ok((issued, old))
    }

    /// Checks a presented bearer token. The lookup goes by the token's SHA-256, so its timing
    /// tells nothing about how much of a guessed token was right; the digest is compared again
    /// in constant time all the same.
    pub async fn authenticate(&self, presented: &str) -> Result<Authenticated, AuthFailure> {
        let digest = secret::token_digest(presented);
        let query = || {
            let mut query = Query::select();
            select_nested(&mut query, api_tokens::Entity, "token");
            select_nested(&mut query, tenants::Entity, "tenant");
            query
                .from(api_tokens::Entity)
                .inner_join(
                    tenants::Entity,
                    Expr::col((tenants::Entity, tenants::Column::Id))
                        .equals((api_tokens::Entity, api_tokens::Column::TenantId)),
                )
                .and_where(
                    Expr::col((api_tokens::Entity, api_tokens::Column::TokenHash))
                        .eq(digest.as_str()),
                )
                .to_owned()
        };
        let values = vec![digest.as_str().into()];
        let TokenOfTenant { token, tenant } = self
            .read_shaped::<TokenOfTenant>(Shape::TokenOfTenant, values, query)
            .await
            .map_err(AuthFailure::Store)?
            .into_iter()
            .next()
            .filter(|row| secret::constant_time_eq(&row.token.token_hash, &digest))
            .ok_or(AuthFailure::Unknown)?;
        let tenant = tenant_from_model(tenant).map_err(AuthFailure::Store)?;
        let now = self.clock.now();
        let token = token_from_model(token);
        match token.state(now) {
            TokenState::Active => {}
            TokenState::Expired => return Err(AuthFailure::Expired(token.id)),
            TokenState::Revoked => return Err(AuthFailure::Revoked(token.id)),
        }
        if token
            .last_used_at
            .is_none_or(|last| now - last >= LAST_USED_RESOLUTION)
        {
            self.touch_token(token.id, now).await;
        }
        Ok(Authenticated {
            tenant,
            token_id: token.id,
        })
    }

    /// Records use of a token. Only rows not touched within the resolution are updated, so
    /// concurrent requests (or replicas) write it once. A failure here must not fail the
    /// request: it is logged and the next request tries again.
    async fn touch_token(&self, id: TokenId, now: DateTime<Utc>) {
        let stale = Condition::any()
            .add(api_tokens::Column::LastUsedAt.is_null())
            .add(api_tokens::Column::LastUsedAt.lt(now - LAST_USED_RESOLUTION));
        let update = api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::LastUsedAt, Expr::value(now))
            .filter(api_tokens::Column::Id.eq(id.as_uuid()))
            .filter(stale)
            .exec(&self.writer)
            .await;
        if let Err(e) = update {
            tracing::warn!(token_id = %id, error = %e, "could not record token use");
        }
    }
}

/// Why a bearer token was not accepted. Callers answer 401 for all but `Store`.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    /// No such token.
    #[error("unknown token")]
    Unknown,
    /// The token expired.
    #[error("token {0} has expired")]
    Expired(TokenId),
    /// The token was revoked.
    #[error("token {0} was revoked")]
    Revoked(TokenId),
    /// The store could not answer.
    #[error(transparent)]
    Store(DomainError),
}

fn token_from_model(model: api_tokens::Model) -> ApiToken {
    ApiToken {
        id: TokenId::from_uuid(model.id),
        tenant_id: TenantId::from_uuid(model.tenant_id),
        name: model.name,
        hint: model.hint,
        created_at: model.created_at,
        expires_at: model.expires_at,
        revoked_at: model.revoked_at,
        last_used_at: model.last_used_at,
    }
}
