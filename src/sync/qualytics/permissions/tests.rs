use serde_json::json;

use super::*;
use crate::configuration::{RoleRule, TeamRule};
use crate::domain::fixtures::{self, tenant};
use crate::domain::{GroupId, UserId};
use crate::secret::SecretString;

fn user(name: &str, active: bool) -> User {
    let doc =
        json!({"userName": name, "active": active, "emails": [{"value": name, "primary": true}]});
    fixtures::user(UserId::new(), doc)
}

fn group(name: &str, members: &[&User]) -> Group {
    let members = members.iter().map(|u| MemberRef::User(u.id)).collect();
    fixtures::group(GroupId::new(), name, members)
}

fn settings(teams: Vec<TeamRule>, roles: Vec<RoleRule>) -> QualyticsSettings {
    QualyticsSettings {
        url: "https://q.example".into(),
        token: SecretString::new("t".into()),
        tls_verify: true,
        timeout: std::time::Duration::from_secs(1),
        max_retries: 0,
        tenants: vec![],
        roles_add_only: false,
        adopt_teams: false,
        teams,
        roles,
    }
}

fn team_rule(group: GroupMatch, permission: &str, datastores: &[i64]) -> TeamRule {
    TeamRule {
        tenant: None,
        group,
        team: None,
        permission: permission.into(),
        datastores: datastores.to_vec(),
    }
}

#[test]
fn rules_make_teams_and_roles_and_the_highest_permission_wins() {
    let (alice, bob, carol) = (
        user("alice@x", true),
        user("bob@x", true),
        user("carol@x", false),
    );
    let engineers = group("Data Engineers", &[&alice, &bob, &carol]);
    let analysts = group("analysts-emea", &[&bob]);
    let admins = group("Qualytics Admins", &[&alice]);
    let rules = settings(
        vec![
            team_rule(GroupMatch::Name("Data Engineers".into()), "Author", &[1, 2]),
            team_rule(GroupMatch::Pattern("analysts-*".into()), "Editor", &[2]),
        ],
        vec![RoleRule {
            tenant: None,
            group: GroupMatch::Name("Qualytics Admins".into()),
            role: "Admin".into(),
        }],
    );
    let model = model(
        &rules,
        &tenant(),
        &[alice.clone(), bob.clone(), carol.clone()],
        &[engineers, analysts, admins],
    );
    assert_eq!(model.teams.len(), 2);
    let team = model
        .teams
        .iter()
        .find(|t| t.name == "Data Engineers")
        .map(|t| t.members.len());
    assert_eq!(team, Some(2), "the deactivated user is in no team");
    let find = |u: &User| {
        model
            .users
            .iter()
            .find(|a| a.user_id == u.id.as_uuid())
            .cloned()
    };
    let alice = find(&alice);
    assert_eq!(alice.as_ref().map(|a| a.role.as_str()), Some("Admin"));
    assert_eq!(
        alice.map(|a| a.datastores.is_empty()),
        Some(true),
        "Admins are not bound by teams"
    );
    let bob = find(&bob);
    assert_eq!(bob.as_ref().map(|b| b.role.as_str()), Some("Member"));
    assert_eq!(
        bob.map(|b| b.datastores),
        Some(BTreeMap::from([
            (1, "Author".to_owned()),
            (2, "Editor".to_owned())
        ]))
    );
    let carol = find(&carol);
    assert_eq!(
        carol.map(|c| (c.role, c.teams.len())),
        Some(("Member".to_owned(), 0))
    );
}

#[test]
fn a_rule_change_is_described_by_what_it_grants_and_revokes() {
    let users: Vec<User> = (0..12).map(|n| user(&format!("u{n}@x"), true)).collect();
    let refs: Vec<&User> = users.iter().collect();
    let groups = [group("Engineers", &refs)];
    let before = model(
        &settings(
            vec![team_rule(
                GroupMatch::Name("Engineers".into()),
                "Viewer",
                &[7],
            )],
            vec![],
        ),
        &tenant(),
        &users,
        &groups,
    );
    let after = model(
        &settings(
            vec![team_rule(
                GroupMatch::Name("Engineers".into()),
                "Editor",
                &[7],
            )],
            vec![],
        ),
        &tenant(),
        &users,
        &groups,
    );
    assert_eq!(
        diff(&before, &after),
        ["gives 12 users Editor on datastore 7"]
    );
    let none = model(&settings(vec![], vec![]), &tenant(), &users, &groups);
    assert_eq!(
        diff(&after, &none),
        [
            "takes Editor on datastore 7 from 12 users",
            "no longer manages team Engineers"
        ]
    );
    assert!(diff(&after, &after).is_empty());
}

#[test]
fn patterns_match_with_wildcards_case_insensitively() {
    assert!(glob("analysts-*", "Analysts-EMEA"));
    assert!(glob("*-admins", "qualytics-admins"));
    assert!(glob("a*b*c", "axxbyyc"));
    assert!(!glob("a*b", "abc"));
    assert!(glob("exact", "EXACT"));
}
