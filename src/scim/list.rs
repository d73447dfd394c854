//! List responses and paging parameters (RFC 7644 §3.4.2).

use serde::Serialize;
use serde_json::Value;

use super::error::ScimError;
use super::filter::parse_path;
use super::path::{parse_filter, parse_filter_across, resolve};
use super::projection::Projection;
use super::schema::ResourceType;
use crate::domain::filter::{Filter, Sort};
use crate::domain::{ListQuery, PageRequest};

/// URN of the search request message (RFC 7644 §3.4.3).
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// The parameters of a list (query string) or search (`POST .search` body) request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    /// `filter`
    pub filter: Option<String>,
    /// `sortBy`
    pub sort_by: Option<String>,
    /// `sortOrder`
    pub sort_order: Option<String>,
    /// `startIndex`
    pub start_index: Option<String>,
    /// `count`
    pub count: Option<String>,
    /// `attributes`, comma-separated
    pub attributes: Option<String>,
    /// `excludedAttributes`, comma-separated
    pub excluded_attributes: Option<String>,
}

impl ListParams {
    /// Reads the query-string parameters through `get` (which matches names case-insensitively).
    pub fn from_query<'a>(get: impl Fn(&str) -> Option<&'a str>) -> ListParams {
        let owned = |name: &str| get(name).map(str::to_owned);
        ListParams {
            filter: owned("filter"),
            sort_by: owned("sortBy"),
            sort_order: owned("sortOrder"),
            start_index: owned("startIndex"),
            count: owned("count"),
            attributes: owned("attributes"),
            excluded_attributes: owned("excludedAttributes"),
        }
    }

    /// Reads a SearchRequest body (RFC 7644 §3.4.3): the same parameters as JSON, with
    /// `attributes` as lists.
    pub fn from_search_body(body: &Value) -> Result<ListParams, ScimError> {
        let Value::Object(fields) = body else {
            return Err(ScimError::invalid_syntax(
                "a search body is a SearchRequest object",
            ));
        };
        let field = |name: &str| -> Result<Option<String>, ScimError> {
            let value = fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v);
            Ok(match value {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .map(|i| i.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            ScimError::invalid_value(format!("{name} is a list of attribute names"))
                        })?
                        .join(","),
                ),
                Some(_) => {
                    return Err(ScimError::invalid_value(format!(
                        "{name} has the wrong type"
                    )));
                }
            })
        };
        Ok(ListParams {
            filter: field("filter")?,
            sort_by: field("sortBy")?,
            sort_order: field("sortOrder")?,
            start_index: field("startIndex")?,
            count: field("count")?,
            attributes: field("attributes")?,
            excluded_attributes: field("excludedAttributes")?,
        })
    }

    /// The projection these parameters ask for.
    pub fn projection(&self, resource: &ResourceType) -> Projection {
        Projection::parse(
            self.attributes.as_deref(),
            self.excluded_attributes.as_deref(),
            resource,
        )
    }

    /// The query these parameters ask for on `resource`.
    pub fn query(&self, resource: &ResourceType) -> Result<ListQuery, ScimError> {
        self.query_with(resource, parse_filter)
    }

    /// The query on one of several resource types of a root search: comparisons on attributes
    /// `resource` lacks are false rather than errors.
    pub fn query_across(&self, resource: &ResourceType) -> Result<ListQuery, ScimError> {
        self.query_with(resource, parse_filter_across)
    }

    fn query_with(
        &self,
        resource: &ResourceType,
        parse: fn(&str, &ResourceType) -> Result<Filter, ScimError>,
    ) -> Result<ListQuery, ScimError> {
        let filter = self
            .filter
            .as_deref()
            .filter(|f| !f.trim().is_empty())
            .map(|f| parse(f, resource))
            .transpose()?;
        let descending = match self.sort_order.as_deref().map(str::to_ascii_lowercase) {
            None => false,
            Some(order) if order == "ascending" => false,
            Some(order) if order == "descending" => true,
            Some(order) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder is \"ascending\" or \"descending\", not {order:?}"
                )));
            }
        };
        let sort = self
            .sort_by
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|name| {
                parse_path(name.trim())
                    .and_then(|path| resolve(&path, resource))
                    .map(|resolved| Sort {
                        attr: resolved.attr_ref(),
                        descending,
                    })
                    .map_err(|e| ScimError::invalid_value(format!("sortBy: {e}")))
            })
            .transpose()?;
        Ok(ListQuery {
            filter,
            sort,
            page: page_request(self.start_index.as_deref(), self.count.as_deref())?,
        })
    }
}

/// URN of the list response schema.
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// The largest page dirsync returns; a larger `count` is lowered to it (RFC 7644 §3.4.2.4 lets
/// the server return fewer results than asked).
pub const MAX_PAGE_SIZE: u64 = 1000;

/// A page of resources.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse {
    schemas: [&'static str; 1],
    total_results: u64,
    start_index: u64,
    items_per_page: u64,
    #[serde(rename = "Resources")]
    resources: Vec<Value>,
}

impl ListResponse {
    /// Wraps rendered resources.
    pub fn new(resources: Vec<Value>, total_results: u64, start_index: u64) -> Self {
        Self {
            schemas: [LIST_RESPONSE_SCHEMA],
            total_results,
            start_index,
            items_per_page: resources.len() as u64,
            resources,
        }
    }
}

/// Reads `startIndex` and `count`: a `startIndex` below 1 counts as 1, a negative `count` as 0,
/// and `count` defaults to, and is capped at, [`MAX_PAGE_SIZE`] (RFC 7644 §3.4.2.4).
pub fn page_request(
    start_index: Option<&str>,
    count: Option<&str>,
) -> Result<PageRequest, ScimError> {
    let number = |name: &str, value: Option<&str>| -> Result<Option<i64>, ScimError> {
        value
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    ScimError::invalid_value(format!("{name} must be an integer, not {v:?}"))
                })
            })
            .transpose()
    };
    let start_index = number("startIndex", start_index)?.unwrap_or(1).max(1) as u64;
    let count = number("count", count)?
        .map(|c| c.clamp(0, MAX_PAGE_SIZE as i64) as u64)
        .unwrap_or(MAX_PAGE_SIZE);
    Ok(PageRequest { start_index, count })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_defaults_and_clamps_per_rfc_7644() {
        let page = |s, c| page_request(s, c).ok();
        assert_eq!(
            page(None, None),
            Some(PageRequest {
                start_index: 1,
                count: MAX_PAGE_SIZE
            })
        );
        assert_eq!(
            page(Some("0"), Some("-5")),
            Some(PageRequest {
                start_index: 1,
                count: 0
            })
        );
        assert_eq!(
            page(Some("101"), Some("100")),
            Some(PageRequest {
                start_index: 101,
                count: 100
            })
        );
        assert_eq!(
            page(None, Some("99999")).map(|p| p.count),
            Some(MAX_PAGE_SIZE)
        );
        assert!(page_request(Some("x"), None).is_err());
    }
}
