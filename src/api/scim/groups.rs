//! `/Groups` (RFC 7644 §3.3–§3.6). Members are rows of their own; a group read loads them only
//! when they are not excluded (Entra reads with `excludedAttributes=members`).

use warp::reply::Response;

use super::super::error::ApiError;
use super::super::reply;
use super::context::ScimContext;
use crate::domain::MembersChange;
use crate::domain::{DomainError, GroupId};
use crate::scim::path::parse_filter;
use crate::scim::resource::{parse_group, render_group};
use crate::scim::schema::GROUP_TYPE;

fn group_id(id: &str) -> Result<GroupId, ApiError> {
    id.parse()
        .map_err(|_| DomainError::not_found("Group", id).into())
}

/// Whether the response should carry members (RFC 7644 §3.4.2.5).
fn wants_members(context: &ScimContext<'_>) -> bool {
    let named = |param: &str| {
        context.query(param).is_some_and(|list| {
            list.split(',')
                .any(|a| a.trim().eq_ignore_ascii_case("members"))
        })
    };
    !named("excludedAttributes")
}

pub async fn list(context: &ScimContext<'_>) -> Result<Response, ApiError> {
    let filter = context
        .query("filter")
        .map(|f| parse_filter(f, &GROUP_TYPE))
        .transpose()?;
    let page = context
        .store()
        .list_groups(
            context.tenant(),
            filter.as_ref(),
            context.page()?,
            wants_members(context),
        )
        .await?;
    let resources = page
        .items
        .iter()
        .map(|g| render_group(g, context.urls()))
        .collect();
    Ok(context.list(resources, page.total, page.start_index))
}

pub async fn create(context: &ScimContext<'_>) -> Result<Response, ApiError> {
    let (data, members) = parse_group(context.json_body()?)?;
    let group = context
        .store()
        .create_group(&context.actor(), data, members)
        .await?;
    Ok(context.created(
        &render_group(&group, context.urls()),
        group.meta.version,
        &context.urls().group(group.id),
    ))
}

pub async fn get(context: &ScimContext<'_>, id: &str) -> Result<Response, ApiError> {
    let group = context
        .store()
        .get_group(context.tenant(), group_id(id)?, wants_members(context))
        .await?;
    Ok(context.resource(&render_group(&group, context.urls()), group.meta.version))
}

/// PUT replaces the group, members included: the members not listed are removed.
pub async fn replace(context: &ScimContext<'_>, id: &str) -> Result<Response, ApiError> {
    let id = group_id(id)?;
    let (data, members) = parse_group(context.json_body()?)?;
    let group = context
        .store()
        .update_group::<ApiError>(&context.actor(), id, None, |_| {
            Ok((data, MembersChange::Replace(members)))
        })
        .await?;
    Ok(context.resource(&render_group(&group, context.urls()), group.meta.version))
}

pub async fn delete(context: &ScimContext<'_>, id: &str) -> Result<Response, ApiError> {
    context
        .store()
        .delete_group(&context.actor(), group_id(id)?, None)
        .await?;
    Ok(reply::no_content())
}
