use std::collections::BTreeSet;

use uuid::Uuid;

use super::*;
use crate::sync::model::Attributes;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn attrs(pairs: &[(&str, &[&str])]) -> Attributes {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect()
}

/// A member set or an attribute's values.
fn set<T: FromIterator<String>>(items: &[&str]) -> T {
    items.iter().map(|s| s.to_string()).collect()
}

fn user(n: u128, name: &str) -> DesiredEntry {
    DesiredEntry {
        kind: Kind::User,
        id: id(n),
        location: format!("uid={name},ou=people"),
        attributes: attrs(&[
            ("uid", &[name]),
            ("mail", &[&format!("{name}@x")]),
            ("title", &[]),
        ]),
        members: BTreeSet::new(),
        active: true,
    }
}

fn group(n: u128, name: &str, members: &[&str]) -> DesiredEntry {
    DesiredEntry {
        kind: Kind::Group,
        id: id(n),
        location: format!("cn={name},ou=groups"),
        attributes: attrs(&[("cn", &[name])]),
        members: members
            .iter()
            .map(|m| format!("uid={m},ou=people"))
            .collect(),
        active: true,
    }
}

fn names(plan: &Plan) -> Vec<&'static str> {
    plan.operations.iter().map(Operation::name).collect()
}

#[test]
fn an_empty_target_gets_users_created_before_the_groups_that_contain_them() {
    let desired = Desired {
        entries: vec![
            group(10, "staff", &["bob", "alice"]),
            user(2, "bob"),
            user(1, "alice"),
        ],
    };
    let plan = plan(&desired, &Observed::default(), &[]);
    assert_eq!(names(&plan), ["create_user", "create_user", "create_group"]);
    let Operation::Create {
        location,
        attributes,
        ..
    } = &plan.operations[0]
    else {
        unreachable!()
    };
    assert_eq!(location, "uid=alice,ou=people");
    assert!(
        attributes.get("title").is_none(),
        "empty attributes are not written"
    );
    let Operation::Create { members, .. } = &plan.operations[2] else {
        unreachable!()
    };
    assert_eq!(*members, set(&["uid=alice,ou=people", "uid=bob,ou=people"]));
}

#[test]
fn a_target_that_holds_the_desired_state_needs_no_operation() {
    let (alice, staff) = (user(1, "alice"), group(10, "staff", &["alice"]));
    let observed = Observed {
        entries: vec![
            ObservedEntry::applied(&alice, "a-1"),
            ObservedEntry::applied(&staff, "g-1"),
        ],
    };
    let desired = Desired {
        entries: vec![alice, staff],
    };
    let plan = plan(&desired, &observed, &[]);
    assert_eq!(plan.operations, []);
    assert_eq!(plan.managed, 2);
}

#[test]
fn a_rename_is_a_move_of_the_linked_entry_and_members_follow_it() {
    let alice = user(1, "alice");
    let staff = group(10, "staff", &["alice"]);
    let observed = Observed {
        entries: vec![
            ObservedEntry::applied(&alice, "a-1"),
            ObservedEntry::applied(&staff, "g-1"),
        ],
    };
    let mut renamed = user(1, "alice2");
    renamed.attributes = attrs(&[("uid", &["alice2"]), ("mail", &["alice@x"]), ("title", &[])]);
    let desired = Desired {
        entries: vec![renamed, group(10, "staff", &["alice2"])],
    };
    let links = [Link {
        kind: Kind::User,
        id: id(1),
        anchor: "a-1".into(),
        location: "uid=alice,ou=people".into(),
    }];
    let plan = plan(&desired, &observed, &links);
    assert_eq!(
        names(&plan),
        ["move_user", "update_user", "add_members", "remove_members"]
    );
    assert_eq!(
        plan.operations[0],
        Operation::Move {
            kind: Kind::User,
            id: id(1),
            from: "uid=alice,ou=people".into(),
            to: "uid=alice2,ou=people".into()
        }
    );
    let Operation::AddMembers {
        members, was_empty, ..
    } = &plan.operations[2]
    else {
        unreachable!()
    };
    assert_eq!(
        (members.clone(), *was_empty),
        (set(&["uid=alice2,ou=people"]), false)
    );
    let Operation::RemoveMembers {
        members,
        leaves_empty,
        ..
    } = &plan.operations[3]
    else {
        unreachable!()
    };
    assert_eq!(
        (members.clone(), *leaves_empty),
        (set(&["uid=alice,ou=people"]), false)
    );
}

#[test]
fn an_entry_moved_by_hand_is_found_by_its_anchor_and_moved_back() {
    let alice = user(1, "alice");
    let mut moved = ObservedEntry::applied(&alice, "a-1");
    moved.location = "uid=alice,ou=elsewhere".into();
    let links = [Link {
        kind: Kind::User,
        id: id(1),
        anchor: "a-1".into(),
        location: alice.location.clone(),
    }];
    let plan = plan(
        &Desired {
            entries: vec![alice],
        },
        &Observed {
            entries: vec![moved],
        },
        &links,
    );
    assert_eq!(names(&plan), ["move_user"]);
}

#[test]
fn attribute_drift_is_one_update_with_only_the_differing_attributes() {
    let alice = user(1, "alice");
    let mut edited = ObservedEntry::applied(&alice, "a-1");
    edited.attributes.insert("mail".into(), set(&["hand@edit"]));
    edited.attributes.insert("title".into(), set(&["Boss"]));
    let plan = plan(
        &Desired {
            entries: vec![alice],
        },
        &Observed {
            entries: vec![edited],
        },
        &[],
    );
    assert_eq!(
        plan.operations,
        [Operation::Update {
            kind: Kind::User,
            id: id(1),
            location: "uid=alice,ou=people".into(),
            changes: vec![
                AttributeChange {
                    name: "mail".into(),
                    values: set(&["alice@x"])
                },
                AttributeChange {
                    name: "title".into(),
                    values: set(&[])
                },
            ],
        }]
    );
}

#[test]
fn managed_entries_without_a_resource_are_deleted_and_hand_made_ones_left_alone() {
    let gone_user = ObservedEntry::applied(&user(3, "carol"), "c-1");
    let gone_group = ObservedEntry::applied(&group(11, "old", &["carol"]), "g-2");
    let mut hand_made = ObservedEntry::applied(&user(4, "root"), "r-1");
    hand_made.managed_id = None;
    let plan = plan(
        &Desired::default(),
        &Observed {
            entries: vec![gone_user, hand_made, gone_group],
        },
        &[],
    );
    assert_eq!(names(&plan), ["delete_group", "delete_user"]);
    assert_eq!(plan.unmanaged, ["uid=root,ou=people"]);
    assert_eq!(plan.destructive(), 2);
}

#[test]
fn a_desired_entry_whose_place_a_hand_made_entry_takes_is_a_conflict_not_a_takeover() {
    let alice = user(1, "alice");
    let mut hand_made = ObservedEntry::applied(&alice, "h-1");
    hand_made.managed_id = None;
    hand_made
        .attributes
        .insert("mail".into(), set(&["someone@else"]));
    let plan = plan(
        &Desired {
            entries: vec![alice],
        },
        &Observed {
            entries: vec![hand_made],
        },
        &[],
    );
    assert_eq!(plan.operations, []);
    assert_eq!(plan.conflicts, ["uid=alice,ou=people"]);
    assert!(plan.unmanaged.is_empty());
}

#[test]
fn an_adoptable_entry_at_the_desired_location_is_taken_over_not_a_conflict() {
    let alice = user(1, "alice");
    let mut existing = ObservedEntry::applied(&alice, "q-1");
    existing.managed_id = None;
    existing.adoptable = true;
    existing.attributes.insert("mail".into(), set(&["old@x"]));
    let plan = plan(
        &Desired {
            entries: vec![alice],
        },
        &Observed {
            entries: vec![existing],
        },
        &[],
    );
    assert_eq!(names(&plan), ["update_user"]);
    assert!(plan.conflicts.is_empty());
}

#[test]
fn entries_are_matched_by_marker_when_no_link_is_known() {
    let alice = user(1, "alice");
    let mut elsewhere = ObservedEntry::applied(&alice, "a-9");
    elsewhere.location = "uid=old,ou=people".into();
    let plan = plan(
        &Desired {
            entries: vec![alice],
        },
        &Observed {
            entries: vec![elsewhere],
        },
        &[],
    );
    assert_eq!(names(&plan), ["move_user"]);
}

#[test]
fn member_changes_say_when_a_group_was_or_becomes_empty() {
    let empty = group(10, "staff", &[]);
    let observed = Observed {
        entries: vec![
            ObservedEntry::applied(&user(1, "alice"), "a-1"),
            ObservedEntry::applied(&empty, "g-1"),
        ],
    };
    let add = plan(
        &Desired {
            entries: vec![user(1, "alice"), group(10, "staff", &["alice"])],
        },
        &observed,
        &[],
    );
    assert!(matches!(
        &add.operations[..],
        [Operation::AddMembers {
            was_empty: true,
            ..
        }]
    ));
    let full = Observed {
        entries: vec![
            ObservedEntry::applied(&user(1, "alice"), "a-1"),
            ObservedEntry::applied(&group(10, "staff", &["alice"]), "g-1"),
        ],
    };
    let remove = plan(
        &Desired {
            entries: vec![user(1, "alice"), empty],
        },
        &full,
        &[],
    );
    assert!(matches!(
        &remove.operations[..],
        [Operation::RemoveMembers {
            leaves_empty: true,
            ..
        }]
    ));
}

#[test]
fn a_deactivated_users_changes_count_for_the_guard() {
    let mut bob = user(2, "bob");
    let observed = Observed {
        entries: vec![
            ObservedEntry::applied(&bob, "b-1"),
            ObservedEntry::applied(&group(10, "staff", &["bob"]), "g-1"),
        ],
    };
    bob.active = false;
    // Deactivated users leave their groups (the LDAP target's default policy).
    let desired = Desired {
        entries: vec![bob, group(10, "staff", &[])],
    };
    let plan = plan(&desired, &observed, &[]);
    assert_eq!(names(&plan), ["remove_members"]);
    assert_eq!(plan.deactivations, 1);
    assert_eq!(plan.destructive(), 1);
}

#[test]
fn every_kind_of_operation_comes_in_the_fixed_order() {
    let (keep, renamed, drifted) = (user(1, "keep"), user(2, "old"), user(3, "drift"));
    let (team, gone_group) = (group(10, "team", &["keep"]), group(11, "gone", &[]));
    let gone_user = user(4, "gone");
    let mut drifted_held = ObservedEntry::applied(&drifted, "d-1");
    drifted_held.attributes.insert("mail".into(), set(&["x@y"]));
    let observed = Observed {
        entries: vec![
            ObservedEntry::applied(&keep, "k-1"),
            ObservedEntry::applied(&renamed, "r-1"),
            drifted_held,
            ObservedEntry::applied(&team, "t-1"),
            ObservedEntry::applied(&gone_group, "g-1"),
            ObservedEntry::applied(&gone_user, "u-4"),
        ],
    };
    let mut new_name = user(2, "new");
    new_name.attributes = renamed.attributes.clone();
    let desired = Desired {
        entries: vec![
            group(12, "fresh", &["keep"]),
            group(10, "team", &["drift", "new"]),
            user(5, "newcomer"),
            keep,
            new_name,
            drifted,
        ],
    };
    let plan = plan(&desired, &observed, &[]);
    assert_eq!(
        names(&plan),
        [
            "create_user",
            "move_user",
            "update_user",
            "create_group",
            "add_members",
            "remove_members",
            "delete_group",
            "delete_user"
        ]
    );
}
