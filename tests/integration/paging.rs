//! Paging a listing with `startIndex` and `count` (RFC 7644 §3.4.2.4) as an IdP importing a
//! tenant does: page after page, while the tenant may change between them.

use reqwest::Method;
use serde_json::Value;

use crate::on_both_databases;
use crate::support::TestApp;

on_both_databases!(
    paging_forward_backward_and_filtered_returns_each_user_once_in_creation_order,
    a_page_read_again_after_a_write_shows_the_tenant_as_it_now_is,
);

/// The ids of a page and its total.
async fn page(app: &TestApp, query: &str) -> (Vec<String>, u64) {
    let (status, list) = app.get_json(&format!("/Users?{query}")).await;
    assert_eq!(status, 200, "{query}: {list}");
    let ids = list["Resources"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|u| u["id"].as_str())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    (ids, list["totalResults"].as_u64().unwrap_or(u64::MAX))
}

async fn paging_forward_backward_and_filtered_returns_each_user_once_in_creation_order(
    app: TestApp,
) {
    let mut created = Vec::new();
    for i in 0..23 {
        // Every third a "pager", for the filtered listing.
        let name = match i % 3 {
            0 => format!("pager{i}@example.com"),
            _ => format!("other{i}@example.com"),
        };
        created.push(app.create_user(&name).await);
    }
    let mut forward = Vec::new();
    for start in (1..24).step_by(4) {
        let (ids, total) = page(&app, &format!("startIndex={start}&count=4")).await;
        assert_eq!(total, 23, "startIndex={start}");
        forward.extend(ids);
    }
    assert_eq!(forward, created);
    let mut backward = Vec::new();
    for start in (1..24).step_by(4).rev() {
        let (ids, _) = page(&app, &format!("startIndex={start}&count=4")).await;
        backward.splice(0..0, ids);
    }
    assert_eq!(backward, created);
    let pagers: Vec<String> = created.iter().step_by(3).cloned().collect();
    let mut filtered = Vec::new();
    for start in [1, 3, 5, 7] {
        let query = format!("filter=userName%20sw%20%22pager%22&startIndex={start}&count=2");
        let (ids, total) = page(&app, &query).await;
        assert_eq!(total, 8, "{query}");
        filtered.extend(ids);
    }
    assert_eq!(filtered, pagers);
}

/// A page read again after the tenant changed, or the next page after a change, is the
/// tenant as it now is: neither where the last page ended nor the total is taken from before.
async fn a_page_read_again_after_a_write_shows_the_tenant_as_it_now_is(app: TestApp) {
    let mut created = Vec::new();
    for i in 0..6 {
        created.push(app.create_user(&format!("u{i}@example.com")).await);
    }
    assert_eq!(
        page(&app, "startIndex=1&count=2").await,
        (created[0..2].to_vec(), 6)
    );
    assert_eq!(
        page(&app, "startIndex=3&count=2").await,
        (created[2..4].to_vec(), 6)
    );
    // The first user goes and two arrive: the third row is now the fourth user created.
    let deleted = app
        .scim(Method::DELETE, &format!("/Users/{}", created[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    created.remove(0);
    for i in 6..8 {
        created.push(app.create_user(&format!("u{i}@example.com")).await);
    }
    assert_eq!(
        page(&app, "startIndex=3&count=2").await,
        (created[2..4].to_vec(), 7)
    );
    assert_eq!(
        page(&app, "startIndex=5&count=2").await,
        (created[4..6].to_vec(), 7)
    );
    let (_, list): (u16, Value) = app.get_json("/Users?count=0").await;
    assert_eq!(list["totalResults"], 7);
}
