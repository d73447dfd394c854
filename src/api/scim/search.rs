//! `POST /.search` (RFC 7644 §3.4.3): a query in the body instead of the URL. Per resource type
//! it is the list request; at the root it searches Users, then Groups, as one result set.

use warp::reply::Response;

use super::super::error::ApiError;
use super::context::ScimContext;
use super::{groups, users};
use crate::domain::PageRequest;
use crate::scim::list::{ListParams, page_request};
use crate::scim::resource::{render_group, render_user};
use crate::scim::schema::{GROUP_TYPE, USER_TYPE};

/// The parameters of a search body.
pub fn params(context: &ScimContext<'_>) -> Result<ListParams, ApiError> {
    Ok(ListParams::from_search_body(&context.json_body()?)?)
}

pub async fn users(context: &ScimContext<'_>) -> Result<Response, ApiError> {
    users::list(context, &params(context)?).await
}

pub async fn groups(context: &ScimContext<'_>) -> Result<Response, ApiError> {
    groups::list(context, &params(context)?).await
}

/// A root search: users first, then groups, paged as one list. A comparison on an attribute only
/// one type has (userName) is false for the other; a filter valid for neither is 400.
pub async fn root(context: &ScimContext<'_>) -> Result<Response, ApiError> {
    let params = params(context)?;
    let page = page_request(params.start_index.as_deref(), params.count.as_deref())?;
    // Valid for at least one type, or the filter is refused; then each type reads it with
    // the other type's attributes as never matching.
    if let (Err(e), Err(_)) = (params.query(&USER_TYPE), params.query(&GROUP_TYPE)) {
        return Err(e.into());
    }
    let (user_query, group_query) = (
        params.query_across(&USER_TYPE),
        params.query_across(&GROUP_TYPE),
    );
    let mut resources = Vec::new();
    let mut user_total = 0;
    if let Ok(mut query) = user_query {
        query.page = page;
        let found = context.store().list_users(context.tenant(), &query).await?;
        let projection = params.projection(&USER_TYPE);
        user_total = found.total;
        resources.extend(
            found
                .items
                .iter()
                .map(|u| projection.apply(render_user(u, context.urls()))),
        );
    }
    let mut group_total = 0;
    if let Ok(mut query) = group_query {
        query.page = PageRequest {
            start_index: page.start_index.saturating_sub(user_total).max(1),
            count: page.count.saturating_sub(resources.len() as u64),
        };
        let projection = params.projection(&GROUP_TYPE);
        let found = context
            .store()
            .list_groups(context.tenant(), &query, projection.returns("members"))
            .await?;
        group_total = found.total;
        // Groups come after every user: a page that starts inside the users starts the groups
        // at their first.
        resources.extend(
            found
                .items
                .iter()
                .map(|g| projection.apply(render_group(g, context.urls()))),
        );
    }
    Ok(context.list(resources, user_total + group_total, page.start_index))
}
