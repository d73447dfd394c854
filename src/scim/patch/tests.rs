use serde_json::{Value, json};

use super::*;
use crate::domain::IdpKind;
use crate::scim::dialect::Dialect;
use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_TYPE, USER_TYPE};

const USER_ID: &str = "01939a5e-0000-7000-8000-000000000001";
const GROUP_ID: &str = "01939a5e-0000-7000-8000-000000000002";

fn document(value: Value) -> Document {
    match value {
        Value::Object(map) => Document::new(map),
        _ => Document::default(),
    }
}

fn patch(operations: Value) -> PatchRequest {
    parse_patch(
        json!({"schemas": [PATCH_SCHEMA], "Operations": operations}),
        &mut Quirks::strict(),
    )
    .unwrap_or_else(|e| unreachable!("{e:?}"))
}

fn user_after(current: Value, operations: Value) -> Result<Value, ScimError> {
    patch(operations)
        .apply_to_user(
            &USER_TYPE,
            USER_ID,
            &document(current),
            &mut Quirks::strict(),
        )
        .map(|d| Value::Object(d.into_attributes()))
}

fn scim_type(result: Result<Value, ScimError>) -> Option<ScimType> {
    result.err().and_then(|e| e.scim_type)
}

fn alice() -> Value {
    json!({
        "userName": "alice",
        "name": {"givenName": "Alice", "familyName": "Smith"},
        "emails": [
            {"value": "alice@work.example", "type": "work", "primary": true},
            {"value": "alice@home.example", "type": "home"}
        ],
        "active": true
    })
}

#[test]
fn replace_with_a_path_sets_simple_and_merges_complex_attributes() {
    let out = user_after(
        alice(),
        json!([
            {"op": "replace", "path": "active", "value": false},
            {"op": "replace", "path": "name", "value": {"givenName": "Al"}},
            {"op": "replace", "path": "NAME.familyName", "value": "Jones"},
        ]),
    )
    .ok();
    let out = out.as_ref();
    assert_eq!(out.map(|o| &o["active"]), Some(&json!(false)));
    assert_eq!(
        out.map(|o| &o["name"]),
        Some(&json!({"givenName": "Al", "familyName": "Jones"}))
    );
}

#[test]
fn pathless_values_name_attributes_and_extensions() {
    let out = user_after(
        alice(),
        json!([{"op": "replace", "value": {
            "displayName": "Alice S",
            "name": {"givenName": "Ally"},
            ENTERPRISE_USER_SCHEMA: {"department": "R&D"},
        }}]),
    )
    .ok();
    let out = out.as_ref();
    assert_eq!(out.map(|o| &o["displayName"]), Some(&json!("Alice S")));
    assert_eq!(
        out.map(|o| &o["name"]),
        Some(&json!({"givenName": "Ally", "familyName": "Smith"}))
    );
    assert_eq!(
        out.map(|o| &o[ENTERPRISE_USER_SCHEMA]),
        Some(&json!({"department": "R&D"}))
    );
    // Keys that are paths are Entra's dialect (`pathless_value_paths`), not RFC 7644.
    let dotted = user_after(
        alice(),
        json!([{"op": "replace", "value": {"name.givenName": "Ally"}}]),
    );
    assert_eq!(scim_type(dotted), Some(ScimType::InvalidPath));
}

#[test]
fn add_appends_to_lists_and_a_new_primary_takes_primary_from_the_others() {
    let out = user_after(
        alice(),
        json!([{"op": "add", "path": "emails", "value": [{"value": "a@new.example", "type": "other", "primary": true}]}]),
    )
    .ok();
    let emails = out.as_ref().map(|o| o["emails"].clone());
    assert_eq!(
        emails,
        Some(json!([
            {"value": "alice@work.example", "type": "work", "primary": false},
            {"value": "alice@home.example", "type": "home"},
            {"value": "a@new.example", "type": "other", "primary": true}
        ]))
    );
}

#[test]
fn filtered_paths_touch_only_the_selected_values() {
    let out = user_after(
        alice(),
        json!([
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "a@corp.example"},
            {"op": "remove", "path": "emails[type eq \"home\"]"},
        ]),
    )
    .ok();
    assert_eq!(
        out.map(|o| o["emails"].clone()),
        Some(json!([{"value": "a@corp.example", "type": "work", "primary": true}]))
    );
}

#[test]
fn a_filter_that_selects_nothing_is_no_target_for_replace_and_harmless_for_remove() {
    let replace = user_after(
        alice(),
        json!([{"op": "replace", "path": "emails[type eq \"fax\"].value", "value": "x"}]),
    );
    assert_eq!(scim_type(replace), Some(ScimType::NoTarget));
    let remove = user_after(
        alice(),
        json!([{"op": "remove", "path": "emails[type eq \"fax\"]"}]),
    );
    assert_eq!(
        remove.ok().map(|o| o["emails"].as_array().map(Vec::len)),
        Some(Some(2))
    );
}

#[test]
fn remove_deletes_attributes_and_sub_attributes() {
    let out = user_after(
        alice(),
        json!([
            {"op": "remove", "path": "name.familyName"},
            {"op": "remove", "path": "emails"},
            {"op": "remove", "path": "title"},
        ]),
    )
    .ok();
    let out = out.as_ref();
    assert_eq!(
        out.map(|o| &o["name"]),
        Some(&json!({"givenName": "Alice"}))
    );
    assert_eq!(out.map(|o| o.get("emails").is_none()), Some(true));
}

#[test]
fn read_only_targets_are_mutability_errors() {
    for path in ["id", "meta.created", "groups", "meta"] {
        let result = user_after(
            alice(),
            json!([{"op": "replace", "path": path, "value": "x"}]),
        );
        assert_eq!(scim_type(result), Some(ScimType::Mutability), "{path}");
    }
}

#[test]
fn bad_paths_values_and_bodies_are_refused_with_their_scim_type() {
    let cases = [
        (
            json!([{"op": "replace", "path": "nope", "value": 1}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq", "value": 1}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "active", "value": "maybe"}]),
            ScimType::InvalidValue,
        ),
        (
            json!([{"op": "add", "path": "name", "value": {"nick": "x"}}]),
            ScimType::InvalidSyntax,
        ),
    ];
    for (operations, expected) in cases {
        assert_eq!(
            scim_type(user_after(alice(), operations.clone())),
            Some(expected),
            "{operations}"
        );
    }
    for body in [
        json!({"Operations": [{"op": "add", "path": "title", "value": "x"}]}),
        json!({"schemas": [PATCH_SCHEMA], "Operations": []}),
        json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "move", "path": "title"}]}),
        json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "remove"}]}),
        json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "add", "path": "title"}]}),
        json!([1, 2]),
    ] {
        assert!(
            parse_patch(body.clone(), &mut Quirks::strict()).is_err(),
            "{body}"
        );
    }
}

#[test]
fn a_failing_operation_leaves_the_document_untouched() {
    let current = document(alice());
    let request = patch(json!([
        {"op": "replace", "path": "displayName", "value": "changed"},
        {"op": "replace", "path": "id", "value": "x"},
    ]));
    assert!(
        request
            .apply_to_user(&USER_TYPE, USER_ID, &current, &mut Quirks::strict())
            .is_err()
    );
    assert_eq!(current.get("displayName"), None);
}

fn member(id: &str) -> MemberValue {
    MemberValue {
        value: id.into(),
        kind: None,
    }
}

#[test]
fn group_member_operations_become_row_deltas_and_other_attributes_apply() {
    let request = patch(json!([
        {"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
        {"op": "remove", "path": "members[value eq \"u3\" or value eq \"u2\"]"},
        {"op": "replace", "value": {"displayName": "Renamed"}},
    ]));
    let out = request
        .apply_to_group(
            &GROUP_TYPE,
            GROUP_ID,
            &document(json!({"displayName": "Sales"})),
            &mut Quirks::strict(),
        )
        .ok();
    assert_eq!(
        out.as_ref().map(|g| g.members.clone()),
        Some(MembersChange::Delta {
            add: vec![member("u1")],
            remove: vec![member("u3"), member("u2")]
        })
    );
    assert_eq!(
        out.and_then(|g| g.document.get_str("displayName").map(str::to_owned)),
        Some("Renamed".into())
    );
}

#[test]
fn removing_members_with_a_value_removes_only_those_and_without_one_removes_all() {
    let group = document(json!({"displayName": "Sales"}));
    let only = patch(json!([{"op": "remove", "path": "members", "value": [{"value": "u1"}]}]))
        .apply_to_group(&GROUP_TYPE, GROUP_ID, &group, &mut Quirks::strict())
        .map(|g| g.members)
        .ok();
    assert_eq!(
        only,
        Some(MembersChange::Delta {
            add: vec![],
            remove: vec![member("u1")]
        })
    );
    let all = patch(json!([{"op": "remove", "path": "members"}]))
        .apply_to_group(&GROUP_TYPE, GROUP_ID, &group, &mut Quirks::strict())
        .map(|g| g.members)
        .ok();
    assert_eq!(all, Some(MembersChange::Clear));
    let replaced = patch(json!([{"op": "replace", "path": "members", "value": [{"value": "u9"}]}]))
        .apply_to_group(&GROUP_TYPE, GROUP_ID, &group, &mut Quirks::strict())
        .map(|g| g.members)
        .ok();
    assert_eq!(replaced, Some(MembersChange::Replace(vec![member("u9")])));
}

mod properties {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-zA-Z@. \\[\\]\"]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::hash_map(
                    "[a-zA-Z.:]{1,10}|value|type|primary|name|emails|members",
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn path() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z.:\\[\\]\" ]{0,30}",
            Just("emails[type eq \"work\"].value".to_owned()),
            Just("members[value eq \"x\"]".to_owned()),
            Just("name.givenName".to_owned()),
            Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager".to_owned()),
        ]
    }

    proptest! {
        #[test]
        fn patching_never_panics(
            op in prop_oneof![Just("add"), Just("replace"), Just("remove"), Just("Add")],
            path in proptest::option::of(path()),
            value in proptest::option::of(json_value()),
        ) {
            let mut operation = serde_json::Map::new();
            operation.insert("op".into(), json!(op));
            if let Some(path) = path { operation.insert("path".into(), json!(path)); }
            if let Some(value) = value { operation.insert("value".into(), value); }
            let body = json!({"schemas": [PATCH_SCHEMA], "Operations": [Value::Object(operation)]});
            if let Ok(request) = parse_patch(body, &mut Quirks::strict()) {
                let _ = request.apply_to_user(&USER_TYPE, USER_ID, &document(alice()), &mut Quirks::strict());
                let _ = request.apply_to_group(&GROUP_TYPE, GROUP_ID, &document(json!({"displayName": "G"})), &mut Quirks::strict());
            }
        }

        #[test]
        fn replacing_a_string_attribute_reads_back_what_was_written(title in "\\PC{1,40}") {
            let out = user_after(alice(), json!([{"op": "replace", "path": "title", "value": title}]));
            prop_assert_eq!(out.ok().map(|o| o["title"].clone()), Some(json!(title)));
        }

        #[test]
        fn add_then_remove_of_an_email_by_value_restores_the_list(local in "[a-z]{1,10}") {
            let address = format!("{local}@added.example");
            let out = user_after(alice(), json!([
                {"op": "add", "path": "emails", "value": [{"value": address, "type": "other"}]},
                {"op": "remove", "path": format!("emails[value eq \"{address}\"]")},
            ]));
            prop_assert_eq!(out.ok().map(|o| o["emails"].clone()), Some(alice()["emails"].clone()));
        }
    }
}

#[test]
fn a_path_naming_an_extension_targets_the_whole_extension() {
    let current =
        json!({"userName": "a", ENTERPRISE_USER_SCHEMA: {"department": "R&D", "division": "X"}});
    let replaced = user_after(
        current.clone(),
        json!([{"op": "replace", "path": ENTERPRISE_USER_SCHEMA, "value": {"costCenter": "7"}}]),
    );
    assert_eq!(
        replaced.ok().map(|o| o[ENTERPRISE_USER_SCHEMA].clone()),
        Some(json!({"costCenter": "7"}))
    );
    let added = user_after(
        current.clone(),
        json!([{"op": "add", "path": ENTERPRISE_USER_SCHEMA, "value": {"costCenter": "7"}}]),
    );
    assert_eq!(
        added.ok().map(|o| o[ENTERPRISE_USER_SCHEMA].clone()),
        Some(json!({"department": "R&D", "division": "X", "costCenter": "7"}))
    );
    let removed = user_after(
        current,
        json!([{"op": "remove", "path": ENTERPRISE_USER_SCHEMA}]),
    );
    assert_eq!(
        removed
            .ok()
            .map(|o| o.get(ENTERPRISE_USER_SCHEMA).is_none()),
        Some(true)
    );
}

/// Applies operations as a tenant of `kind`; the result and the normalisations that fired.
fn as_idp(
    kind: IdpKind,
    current: Value,
    operations: Value,
) -> Result<(Value, Vec<Normalisation>), ScimError> {
    let mut quirks = Quirks::new(Dialect::for_kind(kind));
    let body = json!({"schemas": [PATCH_SCHEMA], "Operations": operations});
    let request = parse_patch(body, &mut quirks)?;
    let out = request.apply_to_user(&USER_TYPE, USER_ID, &document(current), &mut quirks)?;
    Ok((
        Value::Object(out.into_attributes()),
        quirks.fired().to_vec(),
    ))
}

#[test]
fn entra_patches_normalise_and_keep_every_normal_operation() {
    let operations = json!([
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@work.example"},
        {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"},
        {"op": "replace", "value": {"name.familyName": "Jones",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Retail"}},
        {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m-9"},
        {"op": "replace", "path": "title", "value": "Lead"},
    ]);
    let (out, fired) = as_idp(IdpKind::Entra, alice(), operations.clone()).unwrap_or_default();
    assert_eq!(out["active"], json!(false));
    assert_eq!(out["emails"][0]["value"], "new@work.example");
    assert_eq!(
        out["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555"}])
    );
    assert_eq!(out["name"]["familyName"], "Jones");
    assert_eq!(
        out[ENTERPRISE_USER_SCHEMA],
        json!({"department": "Retail", "manager": {"value": "m-9"}})
    );
    assert_eq!(out["title"], "Lead");
    for expected in [
        Normalisation::OpsAnyCase,
        Normalisation::StringBooleans,
        Normalisation::FilteredPathCreates,
        Normalisation::PathlessValuePaths,
        Normalisation::ManagerAsString,
    ] {
        assert!(fired.contains(&expected), "{expected} in {fired:?}");
    }
    // A generic tenant is RFC-strict: the same request is refused whole.
    assert!(as_idp(IdpKind::Generic, alice(), operations).is_err());
}

#[test]
fn entra_removes_a_manager_by_a_filter_on_the_single_value() {
    let current = json!({"userName": "a", ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m-1"}, "department": "X"}});
    let remove = |id: &str| {
        json!([{"op": "remove",
                "path": format!("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq \"{id}\"]")}])
    };
    let (other, _) = as_idp(IdpKind::Entra, current.clone(), remove("m-2")).unwrap_or_default();
    assert_eq!(
        other[ENTERPRISE_USER_SCHEMA]["manager"],
        json!({"value": "m-1"})
    );
    let (removed, fired) =
        as_idp(IdpKind::Entra, current.clone(), remove("m-1")).unwrap_or_default();
    assert_eq!(removed[ENTERPRISE_USER_SCHEMA], json!({"department": "X"}));
    assert_eq!(fired, [Normalisation::FilterOnSingleValued]);
    assert!(as_idp(IdpKind::Generic, current, remove("m-1")).is_err());
}

#[test]
fn okta_push_group_renames_may_carry_the_groups_own_id() {
    let body = json!({"schemas": [PATCH_SCHEMA], "Operations": [
        {"op": "remove", "path": "members[value eq \"u1\"]"},
        {"op": "add", "path": "members", "value": [{"value": "u2", "display": "Bob"}]},
        {"op": "replace", "value": {"id": GROUP_ID, "displayName": "Renamed"}},
    ]});
    let group = document(json!({"displayName": "Sales"}));
    let mut quirks = Quirks::new(Dialect::for_kind(IdpKind::Okta));
    let out = parse_patch(body.clone(), &mut quirks)
        .and_then(|p| p.apply_to_group(&GROUP_TYPE, GROUP_ID, &group, &mut quirks))
        .ok();
    assert_eq!(
        out.as_ref().map(|g| g.members.clone()),
        Some(MembersChange::Delta {
            add: vec![member("u2")],
            remove: vec![member("u1")]
        })
    );
    assert_eq!(
        out.and_then(|g| g.document.get_str("displayName").map(str::to_owned)),
        Some("Renamed".into())
    );
    assert_eq!(quirks.fired(), [Normalisation::PatchIdEcho]);
    // Another group's id is still a change of a read-only attribute.
    let mut strict = Quirks::new(Dialect::for_kind(IdpKind::Okta));
    let other = parse_patch(body, &mut strict)
        .and_then(|p| p.apply_to_group(&GROUP_TYPE, USER_ID, &group, &mut strict));
    assert_eq!(
        other.err().and_then(|e| e.scim_type),
        Some(ScimType::Mutability)
    );
}

#[test]
fn a_disabled_normalisation_does_not_fire() {
    let dialect = Dialect::for_kind(IdpKind::Entra).without(&[Normalisation::StringBooleans]);
    let mut quirks = Quirks::new(dialect);
    let body = json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    let result = parse_patch(body, &mut quirks)
        .and_then(|p| p.apply_to_user(&USER_TYPE, USER_ID, &document(alice()), &mut quirks));
    assert_eq!(
        result.err().and_then(|e| e.scim_type),
        Some(ScimType::InvalidValue)
    );
    assert_eq!(quirks.fired(), [Normalisation::OpsAnyCase]);
}
