//! `/Users` (RFC 7644 §3.3–§3.6).

use warp::reply::Response;

use super::super::error::ApiError;
use super::super::reply;
use super::context::ScimContext;
use crate::domain::{DomainError, UserId};
use crate::scim::path::parse_filter;
use crate::scim::resource::{parse_user, render_user};
use crate::scim::schema::USER_TYPE;

/// An id that is not a UUID cannot name a user: 404, like any unknown id.
fn user_id(id: &str) -> Result<UserId, ApiError> {
    id.parse()
        .map_err(|_| DomainError::not_found("User", id).into())
}

pub async fn list(context: &ScimContext<'_>) -> Result<Response, ApiError> {
    let filter = context
        .query("filter")
        .map(|f| parse_filter(f, &USER_TYPE))
        .transpose()?;
    let page = context
        .store()
        .list_users(context.tenant(), filter.as_ref(), context.page()?)
        .await?;
    let resources = page
        .items
        .iter()
        .map(|u| render_user(u, context.urls()))
        .collect();
    Ok(context.list(resources, page.total, page.start_index))
}

pub async fn create(context: &ScimContext<'_>) -> Result<Response, ApiError> {
    let data = parse_user(context.json_body()?)?;
    let user = context.store().create_user(&context.actor(), data).await?;
    Ok(context.created(
        &render_user(&user, context.urls()),
        user.meta.version,
        &context.urls().user(user.id),
    ))
}

pub async fn get(context: &ScimContext<'_>, id: &str) -> Result<Response, ApiError> {
    let user = context
        .store()
        .get_user(context.tenant(), user_id(id)?)
        .await?;
    Ok(context.resource(&render_user(&user, context.urls()), user.meta.version))
}

pub async fn replace(context: &ScimContext<'_>, id: &str) -> Result<Response, ApiError> {
    let id = user_id(id)?;
    let data = parse_user(context.json_body()?)?;
    let user = context
        .store()
        .update_user::<ApiError>(&context.actor(), id, None, |_| Ok(data))
        .await?;
    Ok(context.resource(&render_user(&user, context.urls()), user.meta.version))
}

pub async fn delete(context: &ScimContext<'_>, id: &str) -> Result<Response, ApiError> {
    context
        .store()
        .delete_user(&context.actor(), user_id(id)?, None)
        .await?;
    Ok(reply::no_content())
}
