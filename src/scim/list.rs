//! List responses and paging parameters (RFC 7644 §3.4.2).

use serde::Serialize;
use serde_json::Value;

use super::error::ScimError;
use crate::domain::PageRequest;

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
