//! `/Users` (RFC 7644 §3.3–§3.6).

use warp::reply::Response;

use super::super::error::ApiError;
use super::super::reply;
use super::context::ScimContext;
use crate::domain::{DomainError, UserData, UserId};
use crate::scim::list::ListParams;
use crate::scim::patch::parse_patch;
use crate::scim::resource::{parse_user, render_user};
use crate::scim::schema::USER_TYPE;

/// An id that is not a UUID cannot name a user: 404, like any unknown id.
fn user_id(id: &str) -> Result<UserId, ApiError> {
    id.parse()
        .map_err(|_| DomainError::not_found("User", id).into())
}

/// A page of users: `GET /Users` and `POST /Users/.search`.
pub async fn list(context: &ScimContext<'_>, params: &ListParams) -> Result<Response, ApiError> {
    let query = params.query(&USER_TYPE)?;
    let projection = params.projection(&USER_TYPE);
    let page = context.store().list_users(context.tenant(), &query).await?;
    let resources = page
        .items
        .iter()
        .map(|u| projection.apply(render_user(u, context.urls())))
        .collect();
    Ok(context.list(resources, page.total, page.start_index))
}

pub async fn create(context: &ScimContext<'_>) -> Result<Response, ApiError> {
    let (mut quirks, _) = context.dialect();
    let data = parse_user(context.json_body()?, &mut quirks);
    context.record(&quirks);
    let user = context.store().create_user(&context.actor(), data?).await?;
    let body = context
        .projection(&USER_TYPE)
        .apply(render_user(&user, context.urls()));
    Ok(context.created(&body, user.meta.version, &context.urls().user(user.id)))
}

pub async fn get(context: &ScimContext<'_>, id: &str) -> Result<Response, ApiError> {
    let user = context
        .store()
        .get_user(context.tenant(), user_id(id)?)
        .await?;
    if context.not_modified_since(user.meta.version) {
        return Ok(context.not_modified(user.meta.version));
    }
    let body = context
        .projection(&USER_TYPE)
        .apply(render_user(&user, context.urls()));
    Ok(context.resource(&body, user.meta.version))
}

/// PUT replaces the user. Okta sends it after a GET, carrying `groups` and `password`: both are
/// accepted and ignored (read-only and write-only).
pub async fn replace(context: &ScimContext<'_>, id: &str) -> Result<Response, ApiError> {
    let id = user_id(id)?;
    let (mut quirks, _) = context.dialect();
    let data = parse_user(context.json_body()?, &mut quirks);
    context.record(&quirks);
    let data = data?;
    let user = context
        .store()
        .update_user::<ApiError>(&context.actor(), id, context.if_match(), |_| Ok(data))
        .await?;
    let body = context
        .projection(&USER_TYPE)
        .apply(render_user(&user, context.urls()));
    Ok(context.resource(&body, user.meta.version))
}

/// PATCH applies to the stored user under its row lock, so concurrent PATCHes serialise.
pub async fn patch(context: &ScimContext<'_>, raw_id: &str) -> Result<Response, ApiError> {
    let id = user_id(raw_id)?;
    let (mut quirks, _) = context.dialect();
    let result = match parse_patch(context.json_body()?, &mut quirks) {
        Ok(patch) => {
            context
                .store()
                .update_user::<ApiError>(&context.actor(), id, context.if_match(), |current| {
                    let document = patch.apply_to_user(
                        &USER_TYPE,
                        raw_id,
                        current.data.document(),
                        &mut quirks,
                    )?;
                    Ok(UserData::from_document(document)?)
                })
                .await
        }
        Err(e) => Err(e.into()),
    };
    context.record(&quirks);
    let user = result?;
    let body = context
        .projection(&USER_TYPE)
        .apply(render_user(&user, context.urls()));
    Ok(context.resource(&body, user.meta.version))
}

pub async fn delete(context: &ScimContext<'_>, id: &str) -> Result<Response, ApiError> {
    context
        .store()
        .delete_user(&context.actor(), user_id(id)?, context.if_match())
        .await?;
    Ok(reply::no_content())
}
