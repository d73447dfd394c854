//! One page of a filtered, sorted list (RFC 7644 §3.4.2.4), shared by users and groups.

use sea_orm::sea_query::NullOrdering;
use sea_orm::{
    ColumnTrait, EntityTrait, ModelTrait, PaginatorTrait, QueryOrder, QuerySelect, QueryTrait,
    Select,
};
use serde::de::DeserializeOwned;

use super::listing_memo::Listing;
use super::query::{self, Table};
use super::users::sort_order;
use super::{Store, error};
use crate::domain::{DomainError, ListQuery};

/// Reads the page `query` asks for out of `filtered` (the tenant's rows matching the filter) in
/// its sort order, ties and the default order by `id` (creation order), and the size of the
/// whole result.
///
/// The count runs only when the page cannot tell it: a page shorter than asked for, not past the
/// end, is the end of the result, so `totalResults` is what came before it plus what it holds.
/// That spares the count for the lookups IdPs make all day (`userName eq "…"` finds one user or
/// none). Such a lookup, by a key (`query::finds_by_key`), is a point read (`Store::read_rows`);
/// any other page a scan (`Store::scan_rows`). Pages that follow one another in the default
/// order carry the total and where the last page ended (`listing_memo`).
pub(crate) async fn page<E>(
    store: &Store,
    table: Table,
    filtered: Select<E>,
    id: E::Column,
    query: &ListQuery,
) -> Result<(Vec<E::Model>, u64), DomainError>
where
    E: EntityTrait,
    E::Model: Sync + DeserializeOwned + Send + 'static,
{
    let backend = store.backend();
    let page = query.page;
    let by_key = by_key(store, table, query);
    // A lookup by key is one short page: nothing to carry.
    let memo = if by_key {
        None
    } else {
        let version = store.data_version().await?;
        let statement = filtered.build(store.reader().get_database_backend());
        Some(Listing {
            statement: format!("{} {:?}", statement.sql, statement.values),
            version,
        })
    };
    if page.count == 0 {
        let total = total(store, &filtered, memo.as_ref()).await?;
        return Ok((Vec::new(), total));
    }
    let mut ordered = filtered.clone();
    // In the default order, a page that starts where a remembered one ended starts after its
    // last id, through the index, instead of skipping the rows before it.
    let after = match (&query.sort, &memo) {
        (None, Some(listing)) if page.offset() > 0 => {
            store.listings.end_before(listing, page.offset())
        }
        _ => None,
    };
    if let Some(sort) = &query.sort {
        let order = query::sort_expression(backend, table, sort)?;
        QueryTrait::query(&mut ordered).order_by_expr_with_nulls(
            order,
            sort_order(sort),
            NullOrdering::Last,
        );
    }
    let ordered = match after {
        Some(after) => sea_orm::QueryFilter::filter(ordered, id.gt(after)),
        None => ordered.offset(page.offset()),
    }
    .order_by_asc(id)
    .limit(page.count);
    let models: Vec<E::Model> = match by_key {
        true => store.read_rows(QueryTrait::as_query(&ordered)).await?,
        false => store.scan_rows(QueryTrait::as_query(&ordered)).await?,
    };
    if let (None, Some(listing), Some(last)) = (&query.sort, &memo, models.last())
        && let sea_orm::Value::Uuid(Some(last)) = last.get(id)
    {
        let end = page.offset() + models.len() as u64;
        store.listings.record_end(listing, end, last);
    }
    let total = match total_from_page(page, models.len()) {
        Some(total) => total,
        None => total(store, &filtered, memo.as_ref()).await?,
    };
    Ok((models, total))
}

/// The size of the whole result: remembered, or counted (and remembered).
async fn total<E: EntityTrait>(
    store: &Store,
    filtered: &Select<E>,
    memo: Option<&Listing>,
) -> Result<u64, DomainError>
where
    E::Model: Sync,
{
    if let Some(total) = memo.and_then(|listing| store.listings.total(listing)) {
        return Ok(total);
    }
    let total = filtered
        .clone()
        .count(store.reader())
        .await
        .map_err(error::classify)?;
    if let Some(listing) = memo {
        store.listings.record_total(listing, total);
    }
    Ok(total)
}

/// Whether the listing's filter finds its rows by a key.
pub(crate) fn by_key(store: &Store, table: Table, query: &ListQuery) -> bool {
    query
        .filter
        .as_ref()
        .is_some_and(|filter| query::finds_by_key(store.backend(), table, filter))
}

/// Up to `count` rows of `filtered` after `after` in `id` order: a keyset page, which costs the
/// same at the end of a large tenant as at its start (an offset page reads everything before
/// it). Reconciliation reads whole tenants this way (`Store::scan_rows`).
pub(crate) async fn keyset_page<E, C>(
    store: &Store,
    filtered: Select<E>,
    id: C,
    after: Option<uuid::Uuid>,
    count: u64,
) -> Result<Vec<E::Model>, DomainError>
where
    E: EntityTrait,
    E::Model: DeserializeOwned + Send + 'static,
    C: ColumnTrait,
{
    let mut select = filtered;
    if let Some(after) = after {
        select = sea_orm::QueryFilter::filter(select, id.gt(after));
    }
    let select = select.order_by_asc(id).limit(count);
    store.scan_rows(QueryTrait::as_query(&select)).await
}

/// The size of the whole result when a page of `read` rows tells it: a page shorter than asked
/// for, not past the end, ends the result.
fn total_from_page(page: crate::domain::PageRequest, read: usize) -> Option<u64> {
    let read = read as u64;
    (read < page.count && (read > 0 || page.offset() == 0)).then(|| page.offset() + read)
}
