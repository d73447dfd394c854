//! Paging of list results (RFC 7644 §3.4.2.4): 1-based start index and a page size.

/// Which slice of a result set to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based index of the first result.
    pub start_index: u64,
    /// At most this many results; 0 asks for the total only.
    pub count: u64,
}

impl PageRequest {
    /// The number of rows to skip.
    pub fn offset(&self) -> u64 {
        self.start_index.saturating_sub(1)
    }
}

/// One page of results and the size of the whole result set.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The results on this page.
    pub items: Vec<T>,
    /// How many results the whole query has.
    pub total: u64,
    /// 1-based index of `items[0]`.
    pub start_index: u64,
}

/// A list or search request: which resources, in which order, which page.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// Only resources matching this.
    pub filter: Option<super::filter::Filter>,
    /// In this order; creation order when `None`.
    pub sort: Option<super::filter::Sort>,
    /// Which slice.
    pub page: PageRequest,
}
