//! The Qualytics permission model a tenant's IdP groups and the configured rules ask for: a
//! pure function of the store and the rules (`shared/research/qualytics-and-ldap.md` 1.1–1.3,
//! 3.1).
//!
//! - A team rule turns each group it matches into a team with the rule's permission over the
//!   rule's datastores; permission and datastores come from configuration, never from SCIM.
//!   Team members are the group's direct user members (Qualytics does not cascade nested
//!   groups either).
//! - A role rule gives its groups' members a role; a user's role is the highest any rule
//!   grants, else Member.
//! - A user's effective permission on a datastore is the highest of its teams' (Qualytics:
//!   "the highest level wins"); Admins are not bound by teams.
//! - A deactivated user is in no team and has the role Member in the target, but keeps its
//!   memberships in dirsync, so reactivation gives everything back.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use uuid::Uuid;

use crate::configuration::{GroupMatch, PERMISSIONS, QualyticsSettings, ROLES};
use crate::domain::{Group, MemberRef, Tenant, User};

/// One team the model asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamAccess {
    /// The SCIM group it comes from.
    pub group_id: Uuid,
    /// Its name in Qualytics.
    pub name: String,
    /// Its permission level.
    pub permission: String,
    /// The datastores it covers.
    pub datastores: BTreeSet<i64>,
    /// Its members (active users), by SCIM id.
    pub members: BTreeSet<Uuid>,
}

/// One user's access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserAccess {
    /// The SCIM user.
    pub user_id: Uuid,
    /// Its userName.
    pub user_name: String,
    /// The email Qualytics knows the user by (primary email, else a userName that is one).
    pub email: Option<String>,
    /// Whether the IdP has the user active.
    pub active: bool,
    /// Its role (Member when deactivated).
    pub role: String,
    /// Its teams (none when deactivated).
    pub teams: Vec<String>,
    /// Effective permission per datastore (empty for Admins: they see everything).
    pub datastores: BTreeMap<i64, String>,
}

/// The whole model of a tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PermissionModel {
    /// Teams, by name.
    pub teams: Vec<TeamAccess>,
    /// Users, by userName.
    pub users: Vec<UserAccess>,
}

fn rank(list: &[&str], value: &str) -> usize {
    list.iter()
        .position(|v| v.eq_ignore_ascii_case(value))
        .unwrap_or(0)
}

/// `*` wildcards, case-insensitive.
fn glob(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.to_lowercase(), text.to_lowercase());
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(stripped) = rest.strip_prefix(part) else {
                return false;
            };
            rest = stripped;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    rest.is_empty()
}

fn matches(rule: &GroupMatch, group: &Group) -> bool {
    match rule {
        GroupMatch::Name(name) => group.data.display_name() == name,
        GroupMatch::Id(id) => group.id.to_string().eq_ignore_ascii_case(id),
        GroupMatch::Pattern(pattern) => glob(pattern, group.data.display_name()),
    }
}

fn applies(rule_tenant: &Option<String>, tenant: &Tenant) -> bool {
    rule_tenant
        .as_deref()
        .is_none_or(|t| t == tenant.name.as_str())
}

/// The email Qualytics knows a user by.
pub fn email_of(user: &User) -> Option<String> {
    user.data.primary_email().map(str::to_owned).or_else(|| {
        let name = user.data.user_name().as_str();
        name.contains('@').then(|| name.to_lowercase())
    })
}

/// Computes the model.
pub fn model(
    settings: &QualyticsSettings,
    tenant: &Tenant,
    users: &[User],
    groups: &[Group],
) -> PermissionModel {
    let active: BTreeMap<Uuid, bool> = users
        .iter()
        .map(|u| (u.id.as_uuid(), u.data.active()))
        .collect();
    let user_members = |group: &Group| -> BTreeSet<Uuid> {
        group
            .members
            .iter()
            .flatten()
            .filter_map(|m| match m.member {
                MemberRef::User(id) => Some(id.as_uuid()),
                MemberRef::Group(_) => None,
            })
            .collect()
    };
    let mut teams: BTreeMap<String, TeamAccess> = BTreeMap::new();
    for rule in settings.teams.iter().filter(|r| applies(&r.tenant, tenant)) {
        for group in groups.iter().filter(|g| matches(&rule.group, g)) {
            let name = rule
                .team
                .clone()
                .unwrap_or_else(|| group.data.display_name().to_owned());
            // The first rule naming a team decides it; later ones cannot hijack it.
            teams.entry(name.clone()).or_insert_with(|| TeamAccess {
                group_id: group.id.as_uuid(),
                name,
                permission: rule.permission.clone(),
                datastores: rule.datastores.iter().copied().collect(),
                members: user_members(group)
                    .into_iter()
                    .filter(|id| active.get(id).copied().unwrap_or(false))
                    .collect(),
            });
        }
    }
    let mut granted: BTreeMap<Uuid, &str> = BTreeMap::new();
    for rule in settings.roles.iter().filter(|r| applies(&r.tenant, tenant)) {
        for group in groups.iter().filter(|g| matches(&rule.group, g)) {
            for member in user_members(group) {
                let current = granted.entry(member).or_insert("Member");
                if rank(&ROLES, &rule.role) > rank(&ROLES, current) {
                    *current = &rule.role;
                }
            }
        }
    }
    let users = users
        .iter()
        .map(|user| {
            let id = user.id.as_uuid();
            let is_active = user.data.active();
            let role = match is_active {
                true => granted.get(&id).copied().unwrap_or("Member").to_owned(),
                false => "Member".to_owned(),
            };
            let mine: Vec<&TeamAccess> =
                teams.values().filter(|t| t.members.contains(&id)).collect();
            let mut datastores: BTreeMap<i64, String> = BTreeMap::new();
            if role != "Admin" {
                for team in &mine {
                    for datastore in &team.datastores {
                        let best = datastores
                            .entry(*datastore)
                            .or_insert_with(|| team.permission.clone());
                        if rank(&PERMISSIONS, &team.permission) > rank(&PERMISSIONS, best) {
                            *best = team.permission.clone();
                        }
                    }
                }
            }
            UserAccess {
                user_id: id,
                user_name: user.data.user_name().as_str().to_owned(),
                email: email_of(user),
                active: is_active,
                role,
                teams: mine.iter().map(|t| t.name.clone()).collect(),
                datastores,
            }
        })
        .collect();
    PermissionModel {
        teams: teams.into_values().collect(),
        users,
    }
}

/// What changes from `before` to `after`, in sentences: "gives 12 users Editor on datastore 3".
pub fn diff(before: &PermissionModel, after: &PermissionModel) -> Vec<String> {
    let mut lines = Vec::new();
    let old: BTreeMap<Uuid, &UserAccess> = before.users.iter().map(|u| (u.user_id, u)).collect();
    let mut gives: BTreeMap<(i64, String), usize> = BTreeMap::new();
    let mut takes: BTreeMap<(i64, String), usize> = BTreeMap::new();
    let mut roles: BTreeMap<(String, String), usize> = BTreeMap::new();
    for user in &after.users {
        let previous = old.get(&user.user_id);
        let had = previous.map(|p| p.datastores.clone()).unwrap_or_default();
        for (datastore, permission) in &user.datastores {
            if had.get(datastore) != Some(permission) {
                *gives.entry((*datastore, permission.clone())).or_default() += 1;
            }
        }
        for (datastore, permission) in &had {
            if !user.datastores.contains_key(datastore) {
                *takes.entry((*datastore, permission.clone())).or_default() += 1;
            }
        }
        if let Some(previous) = previous
            && previous.role != user.role
        {
            *roles
                .entry((previous.role.clone(), user.role.clone()))
                .or_default() += 1;
        }
    }
    let users = |n: usize| {
        if n == 1 {
            "1 user".to_owned()
        } else {
            format!("{n} users")
        }
    };
    for ((datastore, permission), n) in gives {
        lines.push(format!(
            "gives {} {permission} on datastore {datastore}",
            users(n)
        ));
    }
    for ((datastore, permission), n) in takes {
        lines.push(format!(
            "takes {permission} on datastore {datastore} from {}",
            users(n)
        ));
    }
    for ((from, to), n) in roles {
        lines.push(format!(
            "changes the role of {} from {from} to {to}",
            users(n)
        ));
    }
    let names = |m: &PermissionModel| -> BTreeSet<String> {
        m.teams.iter().map(|t| t.name.clone()).collect()
    };
    for team in names(after).difference(&names(before)) {
        lines.push(format!("creates team {team}"));
    }
    for team in names(before).difference(&names(after)) {
        lines.push(format!("no longer manages team {team}"));
    }
    lines
}

#[cfg(test)]
mod tests;
