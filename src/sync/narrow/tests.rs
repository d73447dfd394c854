use std::collections::{BTreeSet, HashMap, HashSet};

use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::sync::model::{Operation, Plan, Values};
use crate::sync::plan::{plan, plan_within};

/// What a narrowed run keeps: the target reduced to summaries and the links handed over
/// (recorded as the store does, by SCIM id), then desired entries considered one by one,
/// and the kept entries named from those links; with `defer`, creates as stubs.
fn narrow(desired: &Desired, observed: &Observed, defer: bool) -> Narrowed {
    let mut index = ObservedIndex::new().unwrap();
    let mut links: HashMap<Uuid, TargetLink> = HashMap::new();
    for entry in observed.entries.iter().cloned() {
        if let Some(link) = index.push(entry).unwrap() {
            let first = links.insert(link.resource_id, link);
            assert!(first.is_none(), "one link per resource");
        }
    }
    let mut narrowing = index.narrow(defer).unwrap();
    desired
        .entries
        .iter()
        .cloned()
        .for_each(|e| narrowing.consider(e).unwrap());
    match narrowing.finish().unwrap().name(&links) {
        Ok(narrowed) => narrowed,
        Err(why) => panic!("{why}"),
    }
}

/// Plans over `observed` and `desired` the way a narrowed run does, the entries kept read
/// again from `observed` (a directory answers a read by location with the entry there);
/// also how many were read again, and the creates deferred.
fn narrowed_plan(desired: &Desired, observed: &Observed, defer: bool) -> (Plan, usize, Deferred) {
    let mut narrowed = narrow(desired, observed, defer);
    let wanted: HashSet<(Kind, String)> = narrowed
        .to_read_again()
        .into_iter()
        .map(|(kind, location)| (kind, key(&location)))
        .collect();
    let read_again = wanted.len();
    let fresh = observed
        .entries
        .iter()
        .filter(|e| wanted.contains(&(e.kind, key(&e.location))))
        .cloned()
        .collect();
    let observed = narrowed.observed(fresh);
    let plan = plan_within(narrowed.desired, &observed, &[], &narrowed.context);
    (plan, read_again, narrowed.deferred)
}

fn values(items: &[&str]) -> Values {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn user(n: u128, name: &str, title: &[&str]) -> DesiredEntry {
    DesiredEntry {
        kind: Kind::User,
        id: Uuid::from_u128(n),
        location: format!("uid={name},ou=people"),
        attributes: Attributes::from([
            ("uid".to_owned(), values(&[name])),
            ("title".to_owned(), values(title)),
        ]),
        members: BTreeSet::new(),
        active: true,
    }
}

/// What a directory holds for `entry` once it was applied, its DNs as it chose to spell them.
fn held(entry: &DesiredEntry, anchor: &str) -> ObservedEntry {
    let mut held = ObservedEntry::applied(entry, anchor);
    held.location = held.location.to_uppercase();
    held.members = held.members.iter().map(|m| m.to_uppercase()).collect();
    held
}

#[test]
fn a_target_that_already_holds_everything_keeps_nothing_but_summaries() {
    let users: Vec<DesiredEntry> = (1..=50).map(|n| user(n, &format!("u{n}"), &[])).collect();
    let mut staff = user(100, "ignored", &[]);
    staff.kind = Kind::Group;
    staff.location = "cn=staff,ou=groups".into();
    staff.members = users.iter().map(|u| u.location.clone()).collect();
    let desired = Desired {
        entries: users.iter().cloned().chain([staff]).collect(),
    };
    // Case differs on both sides (DNs compare without it); an unset attribute is absent.
    let observed = Observed {
        entries: desired
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| held(e, &format!("anchor-{i}")))
            .collect(),
    };
    let mut narrowed = narrow(&desired, &observed, true);
    assert!(narrowed.desired.entries.is_empty());
    assert!(narrowed.deferred.is_empty());
    assert!(narrowed.to_read_again().is_empty());
    assert!(narrowed.observed(Vec::new()).entries.is_empty());
    assert_eq!(narrowed.context.managed, 51);
}

#[test]
fn a_changed_attribute_a_new_member_and_a_departed_user_are_all_that_is_kept() {
    let mut desired: Vec<DesiredEntry> = (1..=20).map(|n| user(n, &format!("u{n}"), &[])).collect();
    let mut staff = user(100, "ignored", &[]);
    staff.kind = Kind::Group;
    staff.location = "cn=staff,ou=groups".into();
    staff.attributes = Attributes::from([("cn".to_owned(), values(&["staff"]))]);
    staff.members = BTreeSet::from([desired[0].location.clone()]);
    let observed: Vec<ObservedEntry> = desired
        .iter()
        .chain([&staff])
        .enumerate()
        .map(|(i, e)| held(e, &format!("anchor-{i}")))
        .collect();
    desired.push(staff.clone());
    // u3 got a title, the group a member, and u20 left the IdP.
    desired[2] = user(3, "u3", &["Engineer"]);
    let u2 = desired[1].location.clone();
    desired[20].members.insert(u2);
    desired.remove(19);
    let desired = Desired { entries: desired };
    let observed = Observed { entries: observed };
    let (narrowed, read_again, _) = narrowed_plan(&desired, &observed, false);
    assert_eq!(narrowed, plan(&desired, &observed, &[]));
    let names: Vec<&str> = narrowed.operations.iter().map(Operation::name).collect();
    assert_eq!(names, ["update_user", "add_members", "delete_user"]);
    assert_eq!(read_again, 2, "the changed user and the changed group");
}

/// A small world where names, markers and locations collide often: entries of both kinds,
/// entries made by hand, entries a resource may adopt, deactivated users, and DNs that differ
/// only in case.
fn world() -> impl Strategy<Value = (Desired, Observed)> {
    let kind = prop_oneof![Just(Kind::User), Just(Kind::Group)];
    let name = prop::sample::select(vec!["a", "A", "b", "c", "d"]);
    let attributes = prop::collection::vec(
        (
            prop::sample::select(vec!["x", "y"]),
            prop::collection::vec(prop::sample::select(vec!["1", "2"]), 0..3),
        ),
        0..3,
    )
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v.into_iter().map(str::to_owned).collect()))
            .collect::<Attributes>()
    });
    let members = prop::collection::btree_set(
        prop::sample::select(vec!["user/a", "USER/A", "user/b", "group/c"]).prop_map(str::to_owned),
        0..3,
    );
    let desired_entry = (
        kind.clone(),
        0u128..6,
        name.clone(),
        attributes.clone(),
        members.clone(),
        any::<bool>(),
    )
        .prop_map(
            |(kind, id, name, attributes, members, active)| DesiredEntry {
                kind,
                id: Uuid::from_u128(id),
                location: format!("{}/{name}", kind.as_str()),
                attributes,
                members,
                active,
            },
        );
    let observed_entry = (
        kind.clone(),
        name,
        prop::option::of(0u128..6),
        attributes,
        members,
        any::<bool>(),
    )
        .prop_map(
            |(kind, name, managed, attributes, members, adoptable)| ObservedEntry {
                kind,
                anchor: String::new(),
                location: format!("{}/{name}", kind.as_str()),
                managed_id: managed.map(Uuid::from_u128),
                attributes,
                members,
                adoptable,
            },
        );
    (
        prop::collection::vec(desired_entry, 0..10),
        prop::collection::vec(observed_entry, 0..10),
    )
        .prop_map(|(desired, observed)| {
            // The store holds a resource once; a directory has one entry per DN and anchor.
            let mut ids = HashSet::new();
            let desired = desired
                .into_iter()
                .filter(|e| ids.insert((e.kind, e.id)))
                .collect();
            let mut locations = HashSet::new();
            let observed = observed
                .into_iter()
                .filter(|e| locations.insert(key(&e.location)))
                .enumerate()
                .map(|(i, mut e)| {
                    e.anchor = format!("n{i}");
                    e
                })
                .collect();
            (Desired { entries: desired }, Observed { entries: observed })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    // Against `plan` with the links a run records, the managed entries of the same read:
    // the narrowed run matches by marker alone, and plans the same.
    #[test]
    fn a_narrowed_plan_is_the_plan_of_everything((desired, observed) in world()) {
        let (narrowed, _, deferred) = narrowed_plan(&desired, &observed, false);
        prop_assert!(deferred.is_empty());
        prop_assert_eq!(narrowed, plan(&desired, &observed, &observed.links()));
    }

    // Deferring takes the creates out of the plan, nothing else: the same other operations
    // in the same order, and every create deferred with where it goes.
    #[test]
    fn a_plan_deferring_its_creates_is_the_plan_of_everything_without_its_creates(
        (desired, observed) in world()
    ) {
        let (narrowed, _, mut deferred) = narrowed_plan(&desired, &observed, true);
        let mut whole = plan(&desired, &observed, &observed.links());
        // Counted as the plan counts its creates, then each taken out once with its place.
        let creates: Vec<(&str, usize)> = whole
            .counts()
            .into_iter()
            .filter(|(name, _)| name.starts_with("create"))
            .collect();
        prop_assert_eq!(deferred.counts().collect::<Vec<_>>(), creates);
        for op in &whole.operations {
            if let Operation::Create { kind, id, location, .. } = op {
                prop_assert_eq!(deferred.take(*kind, *id).unwrap(), Some(key(location)));
            }
        }
        prop_assert!(deferred.is_empty(), "only the creates are deferred");
        whole.operations.retain(|op| !matches!(op, Operation::Create { .. }));
        prop_assert_eq!(narrowed, whole);
    }
}
