use super::*;

fn row(kind: u8, id: Option<u128>, location: u64, named: bool) -> SummaryRow {
    SummaryRow {
        kind,
        adoptable: named,
        managed_id: id.map(Uuid::from_u128),
        anchor: [location, u64::MAX - location],
        location: [location, 7],
        content: [u64::MAX, location],
        names: named.then(|| (format!("anchor {location}"), format!("cn={location}"))),
    }
}

#[test]
fn summaries_are_found_by_marker_location_and_place_the_last_one_winning() {
    let scratch = Scratch::open().unwrap();
    scratch.push_summary(0, &row(0, Some(1), 10, true)).unwrap();
    scratch
        .push_summary(1, &row(1, Some(1), 11, false))
        .unwrap();
    scratch
        .push_summary(2, &row(0, Some(1), 12, false))
        .unwrap();
    scratch.push_summary(3, &row(0, None, 12, true)).unwrap();
    scratch.index_summaries().unwrap();
    let by_marker = scratch.last_by_marker(0, Uuid::from_u128(1)).unwrap();
    assert_eq!(by_marker, Some((2, row(0, Some(1), 12, false))));
    let group = scratch.last_by_marker(1, Uuid::from_u128(1)).unwrap();
    assert_eq!(group.map(|(place, _)| place), Some(1));
    assert_eq!(scratch.last_by_marker(0, Uuid::from_u128(2)).unwrap(), None);
    let by_location = scratch.last_by_location(&[12, 7]).unwrap();
    assert_eq!(by_location, Some((3, row(0, None, 12, true))));
    assert_eq!(
        scratch.summary_at(0).unwrap(),
        Some(row(0, Some(1), 10, true))
    );
    assert_eq!(scratch.summary_at(9).unwrap(), None);
}

#[test]
fn unmatched_summaries_are_those_whose_anchor_no_match_named() {
    let scratch = Scratch::open().unwrap();
    for place in 0..5 {
        scratch
            .push_summary(place, &row(0, None, u64::from(place), false))
            .unwrap();
    }
    scratch.mark_matched(&[1, u64::MAX - 1]).unwrap();
    scratch.mark_matched(&[3, u64::MAX - 3]).unwrap();
    scratch.mark_matched(&[3, u64::MAX - 3]).unwrap();
    let mut unmatched = Vec::new();
    scratch
        .each_unmatched(&mut |place| unmatched.push(place))
        .unwrap();
    assert_eq!(unmatched, [0, 2, 4]);
}

#[test]
fn a_resource_is_seen_once_with_its_first_type() {
    let scratch = Scratch::open().unwrap();
    let id = Uuid::from_u128(5);
    assert_eq!(scratch.seen_type(id).unwrap(), None);
    assert!(scratch.see(id, 1).unwrap());
    assert!(!scratch.see(id, 0).unwrap());
    assert_eq!(scratch.seen_type(id).unwrap(), Some(1));
}

#[test]
fn a_working_set_larger_than_its_cache_is_kept_whole() {
    let scratch = Scratch::open().unwrap();
    // About 30,000 rows of some 100 bytes with their indexes: well past the cache.
    let count = 30_000u32;
    for place in 0..count {
        let named = place % 3 == 0;
        let id = Some(u128::from(place));
        scratch
            .push_summary(place, &row(0, id, u64::from(place), named))
            .unwrap();
    }
    scratch.index_summaries().unwrap();
    for place in (0..count).step_by(997) {
        let found = scratch.last_by_location(&[u64::from(place), 7]).unwrap();
        let expected = row(0, Some(u128::from(place)), u64::from(place), place % 3 == 0);
        assert_eq!(found, Some((place, expected)));
    }
}

#[test]
fn groups_come_back_in_order_a_batch_at_a_time_with_their_members() {
    let scratch = Scratch::open().unwrap();
    let group = |n: u128| PendingGroup {
        id: Uuid::from_u128(n),
        display_name: format!("group {n}"),
        members: vec![
            MemberRef::User(UserId::from_uuid(Uuid::from_u128(n * 10))),
            MemberRef::Group(GroupId::from_uuid(Uuid::from_u128(n + 1))),
        ],
    };
    for (place, n) in (1..=5).enumerate() {
        scratch.push_group(place as u32, &group(n)).unwrap();
    }
    let first = scratch.groups_after(None, 2).unwrap();
    assert_eq!(first, [(0, group(1)), (1, group(2))]);
    let rest = scratch.groups_after(Some(1), 10).unwrap();
    assert_eq!(rest.iter().map(|(p, _)| *p).collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(rest[2].1, group(5));
    assert!(scratch.groups_after(Some(4), 10).unwrap().is_empty());
    let name = scratch.group_name(Uuid::from_u128(3)).unwrap();
    assert_eq!(name.as_deref(), Some("group 3"));
    assert_eq!(scratch.group_name(Uuid::from_u128(9)).unwrap(), None);
}

#[test]
fn a_user_kept_again_keeps_what_it_was_given_last() {
    let scratch = Scratch::open().unwrap();
    let id = Uuid::from_u128(1);
    assert_eq!(scratch.rdn(id).unwrap(), None);
    scratch.keep_rdn(id, Some("alice")).unwrap();
    assert_eq!(scratch.rdn(id).unwrap(), Some(Some("alice".to_owned())));
    scratch.keep_rdn(id, None).unwrap();
    assert_eq!(scratch.rdn(id).unwrap(), Some(None));
}

#[test]
fn only_the_first_entry_with_a_marker_is_first() {
    let scratch = Scratch::open().unwrap();
    assert!(scratch.first_with_marker(Uuid::from_u128(1)).unwrap());
    assert!(scratch.first_with_marker(Uuid::from_u128(2)).unwrap());
    assert!(!scratch.first_with_marker(Uuid::from_u128(1)).unwrap());
}

#[test]
fn a_deferred_create_is_taken_out_once_with_where_it_goes() {
    let scratch = Scratch::open().unwrap();
    let id = Uuid::from_u128(3);
    assert!(scratch.defer(0, id, "uid=a,ou=people").unwrap());
    assert!(!scratch.defer(0, id, "uid=b,ou=people").unwrap());
    assert!(scratch.defer(1, id, "cn=a,ou=groups").unwrap());
    let taken = scratch.take_deferred(0, id).unwrap();
    assert_eq!(taken.as_deref(), Some("uid=a,ou=people"));
    assert_eq!(scratch.take_deferred(0, id).unwrap(), None);
    let group = scratch.take_deferred(1, id).unwrap();
    assert_eq!(group.as_deref(), Some("cn=a,ou=groups"));
}
