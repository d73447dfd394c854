//! `/Groups` (RFC 7644 §3.3–§3.6). Members are rows of their own; a group read loads them only
//! when the response returns them (Entra reads with `excludedAttributes=members`).

use warp::reply::Response;

use super::super::error::ApiError;
use super::super::reply;
use super::context::ScimContext;
use crate::domain::{DomainError, GroupData, GroupId, GroupPatchResponse, MembersChange};
use crate::scim::list::ListParams;
use crate::scim::patch::parse_patch;
use crate::scim::resource::{parse_group, render_group};
use crate::scim::schema::GROUP_TYPE;

fn group_id(id: &str) -> Result<GroupId, ApiError> {
    id.parse()
        .map_err(|_| DomainError::not_found("Group", id).into())
}

/// A page of groups: `GET /Groups` and `POST /Groups/.search`.
pub async fn list(context: &ScimContext<'_>, params: &ListParams) -> Result<Response, ApiError> {
    let query = params.query(&GROUP_TYPE)?;
    let projection = params.projection(&GROUP_TYPE);
    let page = context
        .store()
        .list_groups(context.tenant(), &query, projection.returns("members"))
        .await?;
    let resources = page
        .items
        .iter()
        .map(|g| projection.apply(render_group(g, context.urls())))
        .collect();
    Ok(context.list(resources, page.total, page.start_index))
}

pub async fn create(context: &ScimContext<'_>) -> Result<Response, ApiError> {
    let (mut quirks, settings) = context.dialect();
    let parsed = parse_group(context.json_body()?, &mut quirks);
    context.record(&quirks);
    let (data, members) = parsed?;
    let group = context
        .store()
        .create_group(&context.actor(), data, members, settings.unknown_members)
        .await?;
    let body = context
        .projection(&GROUP_TYPE)
        .apply(render_group(&group, context.urls()));
    Ok(context.created(&body, group.meta.version, &context.urls().group(group.id)))
}

pub async fn get(context: &ScimContext<'_>, id: &str) -> Result<Response, ApiError> {
    let projection = context.projection(&GROUP_TYPE);
    let group = context
        .store()
        .get_group(
            context.tenant(),
            group_id(id)?,
            projection.returns("members"),
        )
        .await?;
    if context.not_modified_since(group.meta.version) {
        return Ok(context.not_modified(group.meta.version));
    }
    let body = projection.apply(render_group(&group, context.urls()));
    Ok(context.resource(&body, group.meta.version))
}

/// PUT replaces the group, members included: the members not listed are removed.
pub async fn replace(context: &ScimContext<'_>, id: &str) -> Result<Response, ApiError> {
    let id = group_id(id)?;
    let (mut quirks, settings) = context.dialect();
    let parsed = parse_group(context.json_body()?, &mut quirks);
    context.record(&quirks);
    let (data, members) = parsed?;
    let projection = context.projection(&GROUP_TYPE);
    let group = context
        .store()
        .update_group::<ApiError>(
            &context.actor(),
            id,
            context.if_match(),
            projection.returns("members"),
            settings.unknown_members,
            |_| Ok((data, MembersChange::Replace(members))),
        )
        .await?;
    let body = projection.apply(render_group(&group, context.urls()));
    Ok(context.resource(&body, group.meta.version))
}

/// PATCH: attribute operations apply to the stored document; member operations become row
/// inserts and deletes, so concurrent PATCHes adding different members lose none.
pub async fn patch(context: &ScimContext<'_>, raw_id: &str) -> Result<Response, ApiError> {
    let id = group_id(raw_id)?;
    let projection = context.projection(&GROUP_TYPE);
    let (mut quirks, settings) = context.dialect();
    let answer_with_group = settings.group_patch_response == GroupPatchResponse::Resource;
    let result = match parse_patch(context.json_body()?, &mut quirks) {
        Ok(patch) => {
            context
                .store()
                .update_group::<ApiError>(
                    &context.actor(),
                    id,
                    context.if_match(),
                    answer_with_group && projection.returns("members"),
                    settings.unknown_members,
                    |current| {
                        let document = current.data.document();
                        let changed =
                            patch.apply_to_group(&GROUP_TYPE, raw_id, document, &mut quirks)?;
                        Ok((GroupData::from_document(changed.document)?, changed.members))
                    },
                )
                .await
        }
        Err(e) => Err(e.into()),
    };
    context.record(&quirks);
    let group = result?;
    if !answer_with_group {
        return Ok(context.no_content(group.meta.version));
    }
    let body = projection.apply(render_group(&group, context.urls()));
    Ok(context.resource(&body, group.meta.version))
}

pub async fn delete(context: &ScimContext<'_>, id: &str) -> Result<Response, ApiError> {
    context
        .store()
        .delete_group(&context.actor(), group_id(id)?, context.if_match())
        .await?;
    Ok(reply::no_content())
}
