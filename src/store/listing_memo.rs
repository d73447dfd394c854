//! What one request of a paged listing (RFC 7644 §3.4.2.4, `startIndex` and `count`) leaves
//! for the next: the listing's total, and which row each page ended on.
//!
//! An IdP importing a tenant asks for page after page of the same listing. Each page ran the
//! `COUNT` behind `totalResults` again, and skipped `startIndex - 1` rows again to reach its
//! first one; both grow with the tenant (at 100,000 users about 6 ms of a page's CPU). Here
//! the total is kept, and so is the id of the last row of each page read in the default order,
//! so the next page starts after that id through the index instead of skipping rows.
//!
//! Both hold only while the database is unchanged: each is recorded with the database's
//! version (`Store::data_version`), which changes whenever any connection (this process or
//! another) commits anything, and is ignored once it differs. A listing is keyed by its
//! statement as built, values included (tenant, filter), so two listings share nothing.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use uuid::Uuid;

/// At most this many listings are remembered; more, and all are forgotten.
const LISTINGS: usize = 64;
/// At most this many page ends per listing (an importer pages forward, so the latest matter).
const ENDS: usize = 16;

/// One listing as of one state of the database: the key its memo is kept under.
#[derive(Debug)]
pub(crate) struct Listing {
    /// The listing's statement as built, values included.
    pub(crate) statement: String,
    /// The database's version when the request started (`Store::data_version`).
    pub(crate) version: String,
}

/// Totals and page ends of recent listings.
#[derive(Debug, Default)]
pub(crate) struct ListingMemo {
    listings: Mutex<HashMap<String, Memo>>,
}

#[derive(Debug)]
struct Memo {
    /// The database version it holds for.
    version: String,
    total: Option<u64>,
    /// (rows before the next page, id of the last row before it), oldest first.
    ends: Vec<(u64, Uuid)>,
}

impl ListingMemo {
    /// The total of `listing`, if recorded.
    pub(crate) fn total(&self, listing: &Listing) -> Option<u64> {
        self.listings()
            .get(&listing.statement)
            .filter(|memo| memo.version == listing.version)
            .and_then(|memo| memo.total)
    }

    /// The id of the last row before row `offset` (0-based) of `listing` in id order, if a
    /// page ending there was recorded.
    pub(crate) fn end_before(&self, listing: &Listing, offset: u64) -> Option<Uuid> {
        self.listings()
            .get(&listing.statement)
            .filter(|memo| memo.version == listing.version)?
            .ends
            .iter()
            .find(|(at, _)| *at == offset)
            .map(|(_, id)| *id)
    }

    /// Records the total of `listing`.
    pub(crate) fn record_total(&self, listing: &Listing, total: u64) {
        self.memo(listing, |memo| memo.total = Some(total));
    }

    /// Records that the row before row `offset` of `listing` in id order is `id`.
    pub(crate) fn record_end(&self, listing: &Listing, offset: u64, id: Uuid) {
        self.memo(listing, |memo| {
            memo.ends.retain(|(at, _)| *at != offset);
            if memo.ends.len() == ENDS {
                memo.ends.remove(0);
            }
            memo.ends.push((offset, id));
        });
    }

    /// Changes the memo of `listing`, started afresh unless it holds for its version.
    fn memo(&self, listing: &Listing, change: impl FnOnce(&mut Memo)) {
        let mut listings = self.listings();
        if listings.len() >= LISTINGS && !listings.contains_key(&listing.statement) {
            listings.clear();
        }
        let fresh = || Memo {
            version: listing.version.clone(),
            total: None,
            ends: Vec::new(),
        };
        let memo = listings
            .entry(listing.statement.clone())
            .or_insert_with(fresh);
        if memo.version != listing.version {
            *memo = fresh();
        }
        change(memo);
    }

    /// The map. Nothing panics while holding the lock, and a memo is only ever a shortcut.
    fn listings(&self) -> MutexGuard<'_, HashMap<String, Memo>> {
        self.listings.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(statement: &str, version: i64) -> Listing {
        Listing {
            statement: statement.to_owned(),
            version: version.to_string(),
        }
    }

    #[test]
    fn a_memo_holds_only_at_the_version_it_was_recorded_at() {
        let memo = ListingMemo::default();
        let id = Uuid::from_u128(7);
        let (users, later) = (listing("users of acme", 3), listing("users of acme", 4));
        memo.record_total(&users, 100);
        memo.record_end(&users, 10, id);
        assert_eq!(memo.total(&users), Some(100));
        assert_eq!(memo.end_before(&users, 10), Some(id));
        assert_eq!(memo.end_before(&users, 20), None);
        assert_eq!(memo.total(&later), None);
        assert_eq!(memo.end_before(&later, 10), None);
        assert_eq!(memo.total(&listing("groups of acme", 3)), None);
        // A newer version starts the listing afresh.
        memo.record_total(&later, 101);
        assert_eq!(memo.total(&users), None);
        assert_eq!(memo.end_before(&later, 10), None);
    }

    #[test]
    fn a_memo_keeps_the_latest_ends_and_a_bounded_number_of_listings() {
        let memo = ListingMemo::default();
        let l = listing("l", 1);
        for page in 0..=ENDS as u64 {
            memo.record_end(&l, page * 10, Uuid::from_u128(page.into()));
        }
        assert_eq!(memo.end_before(&l, 0), None, "the oldest end went");
        assert!(memo.end_before(&l, ENDS as u64 * 10).is_some());
        for n in 0..=LISTINGS {
            memo.record_total(&listing(&format!("listing {n}"), 1), 1);
        }
        assert!(memo.listings().len() <= LISTINGS);
    }
}
