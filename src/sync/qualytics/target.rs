//! The Qualytics target. Entries are teams (location: the team's name, anchor: its id) and users
//! (location: the email Qualytics knows them by, anchor: their id).
//!
//! - Users cannot be created or deleted over the API (they appear on first sign-in, or through
//!   Qualytics' own SCIM); dirsync only sets their role and team memberships. A user the IdP has
//!   that Qualytics does not have yet waits, and is picked up on the run after it appears.
//! - Teams dirsync creates carry `dirsync:<group id>` in their description. A team a rule names
//!   that dirsync did not create is left alone unless `adopt_teams` is on. The Public team is
//!   never read into the plan, so it is never renamed, deleted or given members.
//! - A rename is a PUT of the same team id, never a delete and a new team, so the datastore
//!   assignments made in Qualytics survive.
//! - `role_mode = "add_only"` drops role changes that would lower a role.

use std::collections::{BTreeSet, HashMap};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use uuid::Uuid;

use super::client::QualyticsClient;
use super::permissions::{email_of, model};
use crate::configuration::{QualyticsSettings, ROLES};
use crate::domain::{DomainError, Group, Tenant, TenantId, User};
use crate::sync::model::{
    Attributes, Desired, DesiredEntry, Kind, Observed, ObservedEntry, Operation, Plan, Values,
    marker, parse_marker,
};
use crate::sync::target::{Target, TargetError, keeps};

/// A team as the last read (and our writes since) left it: what a PUT must send whole.
#[derive(Debug, Clone)]
struct TeamState {
    id: i64,
    name: String,
    description: String,
    permission: String,
    datastore_ids: BTreeSet<i64>,
    user_ids: BTreeSet<i64>,
}

/// What a read of one tenant's controlplane found, for the writes that follow it.
#[derive(Debug, Default, Clone)]
struct Snapshot {
    user_ids: HashMap<String, i64>,
    teams: HashMap<String, TeamState>,
}

/// The Qualytics target.
#[derive(Debug)]
pub struct QualyticsTarget {
    settings: QualyticsSettings,
    client: QualyticsClient,
    snapshots: Mutex<HashMap<TenantId, Snapshot>>,
}

impl QualyticsTarget {
    /// A target for these settings.
    pub fn new(settings: QualyticsSettings) -> Result<Self, String> {
        Ok(Self {
            client: QualyticsClient::new(&settings)?,
            settings,
            snapshots: Mutex::new(HashMap::new()),
        })
    }

    /// Looks something up in what the last read of the tenant found (and the writes since),
    /// under the lock, without copying it.
    async fn lookup<T>(&self, tenant: &Tenant, find: impl FnOnce(&Snapshot) -> T) -> T {
        let snapshots = self.snapshots.lock().await;
        let empty = Snapshot::default();
        find(snapshots.get(&tenant.id).unwrap_or(&empty))
    }

    async fn put_team(&self, team: &TeamState) -> Result<(), TargetError> {
        let body = team_body(team);
        let (status, answer) = self
            .client
            .send(Method::PUT, &format!("/teams/{}", team.id), Some(&body))
            .await?;
        expect_success(status, &answer, &format!("updating team {}", team.name))
    }

    async fn with_team<F>(
        &self,
        tenant: &Tenant,
        location: &str,
        change: F,
    ) -> Result<(), TargetError>
    where
        F: FnOnce(&mut TeamState, &HashMap<String, i64>),
    {
        let mut snapshots = self.snapshots.lock().await;
        let Snapshot { user_ids, teams } = snapshots.entry(tenant.id).or_default();
        let team = teams.get_mut(&location.to_lowercase()).ok_or_else(|| {
            TargetError::Refused(format!("team {location} is not in Qualytics any more"))
        })?;
        change(team, user_ids);
        let team = team.clone();
        drop(snapshots);
        self.put_team(&team).await
    }
}

fn team_body(team: &TeamState) -> Value {
    json!({
        "name": team.name,
        "description": team.description,
        "permission": team.permission,
        "datastore_ids": team.datastore_ids,
        "user_ids": team.user_ids,
    })
}

fn expect_success(status: StatusCode, answer: &Value, what: &str) -> Result<(), TargetError> {
    match status {
        s if s.is_success() => Ok(()),
        StatusCode::CONFLICT => Err(TargetError::Refused(format!(
            "{what}: a team of that name exists and is not dirsync's (set qualytics.adopt_teams to take it over)"
        ))),
        s => Err(TargetError::Refused(format!("{what}: {s} {answer}"))),
    }
}

fn user_ids(known: &HashMap<String, i64>, emails: &BTreeSet<String>) -> BTreeSet<i64> {
    emails
        .iter()
        .filter_map(|e| known.get(&e.to_lowercase()).copied())
        .collect()
}

fn datastores(attributes: &Attributes) -> BTreeSet<i64> {
    attributes
        .get("datastores")
        .map(|v| v.iter().filter_map(|d| d.parse().ok()).collect())
        .unwrap_or_default()
}

fn single(attributes: &Attributes, name: &str) -> String {
    attributes
        .get(name)
        .and_then(|v| v.iter().next().cloned())
        .unwrap_or_default()
}

#[async_trait::async_trait]
impl Target for QualyticsTarget {
    fn name(&self) -> &'static str {
        "qualytics"
    }

    fn serves(&self, tenant: &Tenant) -> bool {
        keeps(&self.settings.tenants, tenant)
    }

    fn desired(
        &self,
        tenant: &Tenant,
        users: &[User],
        groups: &[Group],
    ) -> Result<Desired, DomainError> {
        let model = model(&self.settings, tenant, users, groups);
        let emails: HashMap<Uuid, String> = users
            .iter()
            .filter_map(|u| email_of(u).map(|e| (u.id.as_uuid(), e.to_lowercase())))
            .collect();
        let mut entries: Vec<DesiredEntry> = model
            .users
            .iter()
            .filter_map(|user| {
                let email = user.email.as_ref()?.to_lowercase();
                Some(DesiredEntry {
                    kind: Kind::User,
                    id: user.user_id,
                    location: email,
                    attributes: Attributes::from([(
                        "role".to_owned(),
                        Values::from([user.role.clone()]),
                    )]),
                    members: BTreeSet::new(),
                    active: user.active,
                })
            })
            .collect();
        entries.extend(model.teams.iter().map(|team| {
            DesiredEntry {
                kind: Kind::Group,
                id: team.group_id,
                location: team.name.clone(),
                attributes: Attributes::from([
                    (
                        "permission".to_owned(),
                        Values::from([team.permission.clone()]),
                    ),
                    (
                        "datastores".to_owned(),
                        team.datastores.iter().map(i64::to_string).collect(),
                    ),
                    (
                        "description".to_owned(),
                        Values::from([marker(team.group_id)]),
                    ),
                ]),
                members: team
                    .members
                    .iter()
                    .filter_map(|id| emails.get(id).cloned())
                    .collect(),
                active: true,
            }
        }));
        Ok(Desired { entries })
    }

    async fn observe(&self, tenant: &Tenant) -> Result<Observed, TargetError> {
        let users = self.client.list("/users").await?;
        let teams = self.client.list("/teams").await?;
        let mut snapshot = Snapshot::default();
        let mut entries = Vec::new();
        for user in &users {
            // Deactivated (soft-deleted) users and service users are not the IdP's to manage.
            if !user["deleted_at"].is_null() || user["user_type"].as_str() == Some("Service") {
                continue;
            }
            let (Some(id), Some(email)) = (user["id"].as_i64(), user["email"].as_str()) else {
                continue;
            };
            let email = email.to_lowercase();
            snapshot.user_ids.insert(email.clone(), id);
            entries.push(ObservedEntry {
                kind: Kind::User,
                anchor: format!("user:{id}"),
                location: email,
                managed_id: None,
                attributes: Attributes::from([(
                    "role".to_owned(),
                    user["role"]
                        .as_str()
                        .map(|r| Values::from([r.to_owned()]))
                        .unwrap_or_default(),
                )]),
                members: BTreeSet::new(),
                adoptable: true,
            });
        }
        for team in &teams {
            let (Some(id), Some(name)) = (team["id"].as_i64(), team["name"].as_str()) else {
                continue;
            };
            if name.eq_ignore_ascii_case("public") {
                continue;
            }
            let members: Vec<(i64, String)> = team["users"]
                .as_array()
                .map(|users| {
                    users
                        .iter()
                        .filter_map(|u| {
                            Some((u["id"].as_i64()?, u["email"].as_str()?.to_lowercase()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let description = team["description"].as_str().unwrap_or_default().to_owned();
            let permission = team["permission"].as_str().unwrap_or_default().to_owned();
            let datastore_ids: BTreeSet<i64> = team["datastore_ids"]
                .as_array()
                .or_else(|| team["datastores"].as_array())
                .map(|ids| {
                    ids.iter()
                        .filter_map(|d| d.as_i64().or_else(|| d["id"].as_i64()))
                        .collect()
                })
                .unwrap_or_default();
            let state = TeamState {
                id,
                name: name.to_owned(),
                description: description.clone(),
                permission: permission.clone(),
                datastore_ids: datastore_ids.clone(),
                user_ids: members.iter().map(|(id, _)| *id).collect(),
            };
            snapshot.teams.insert(name.to_lowercase(), state);
            entries.push(ObservedEntry {
                kind: Kind::Group,
                anchor: format!("team:{id}"),
                location: name.to_owned(),
                managed_id: parse_marker(&description),
                attributes: Attributes::from([
                    (
                        "permission".to_owned(),
                        Values::from([permission])
                            .into_iter()
                            .filter(|p| !p.is_empty())
                            .collect(),
                    ),
                    (
                        "datastores".to_owned(),
                        datastore_ids.iter().map(i64::to_string).collect(),
                    ),
                    (
                        "description".to_owned(),
                        Values::from([description])
                            .into_iter()
                            .filter(|d| !d.is_empty())
                            .collect(),
                    ),
                ]),
                members: members.into_iter().map(|(_, email)| email).collect(),
                adoptable: self.settings.adopt_teams,
            });
        }
        self.snapshots.lock().await.insert(tenant.id, snapshot);
        Ok(Observed { entries })
    }

    fn adjust(&self, _tenant: &Tenant, plan: &mut Plan, observed: &Observed) {
        let present: BTreeSet<String> = observed
            .entries
            .iter()
            .filter(|e| e.kind == Kind::User)
            .map(|e| e.location.to_lowercase())
            .collect();
        let roles: HashMap<String, String> = observed
            .entries
            .iter()
            .filter(|e| e.kind == Kind::User)
            .map(|e| (e.location.to_lowercase(), single(&e.attributes, "role")))
            .collect();
        let rank = |role: &str| {
            ROLES
                .iter()
                .position(|r| r.eq_ignore_ascii_case(role))
                .unwrap_or(0)
        };
        let add_only = self.settings.roles_add_only;
        let mut waiting = Vec::new();
        plan.operations.retain_mut(|op| match op {
            Operation::Create {
                kind: Kind::User,
                location,
                ..
            } => {
                waiting.push(location.clone());
                false
            }
            Operation::Move {
                kind: Kind::User, ..
            }
            | Operation::Delete {
                kind: Kind::User, ..
            } => false,
            Operation::Update {
                kind: Kind::User,
                location,
                changes,
                ..
            } => {
                if add_only {
                    let current = roles
                        .get(&location.to_lowercase())
                        .map(String::as_str)
                        .unwrap_or("Member");
                    changes.retain(|c| {
                        c.name != "role" || c.values.iter().any(|r| rank(r) > rank(current))
                    });
                }
                !changes.is_empty()
            }
            // Members who are not in Qualytics yet cannot be added; they wait with their user.
            Operation::Create {
                kind: Kind::Group,
                members,
                ..
            } => {
                members.retain(|m| present.contains(&m.to_lowercase()));
                true
            }
            Operation::AddMembers { members, .. } => {
                members.retain(|m| present.contains(&m.to_lowercase()));
                !members.is_empty()
            }
            _ => true,
        });
        plan.waiting = waiting;
    }

    async fn apply(&self, tenant: &Tenant, operation: &Operation) -> Result<(), TargetError> {
        match operation {
            Operation::Create {
                kind: Kind::Group,
                location,
                attributes,
                members,
                ..
            } => {
                let known = self
                    .lookup(tenant, |s| user_ids(&s.user_ids, members))
                    .await;
                let mut team = TeamState {
                    id: 0,
                    name: location.clone(),
                    description: single(attributes, "description"),
                    permission: single(attributes, "permission"),
                    datastore_ids: datastores(attributes),
                    user_ids: known,
                };
                let (status, answer) = self
                    .client
                    .send(Method::POST, "/teams", Some(&team_body(&team)))
                    .await?;
                expect_success(status, &answer, &format!("creating team {location}"))?;
                team.id = answer["id"].as_i64().unwrap_or_default();
                self.snapshots
                    .lock()
                    .await
                    .entry(tenant.id)
                    .or_default()
                    .teams
                    .insert(location.to_lowercase(), team);
                Ok(())
            }
            Operation::Move {
                kind: Kind::Group,
                from,
                to,
                ..
            } => {
                let to = to.clone();
                self.with_team(tenant, from, |team, _| team.name = to.clone())
                    .await?;
                let mut snapshots = self.snapshots.lock().await;
                if let Some(snapshot) = snapshots.get_mut(&tenant.id)
                    && let Some(team) = snapshot.teams.remove(&from.to_lowercase())
                {
                    snapshot.teams.insert(to.to_lowercase(), team);
                }
                Ok(())
            }
            Operation::Update {
                kind: Kind::Group,
                location,
                changes,
                ..
            } => {
                self.with_team(tenant, location, |team, _| {
                    for change in changes {
                        let first = change.values.iter().next().cloned().unwrap_or_default();
                        match change.name.as_str() {
                            "permission" => team.permission = first,
                            "description" => team.description = first,
                            "datastores" => {
                                team.datastore_ids = change
                                    .values
                                    .iter()
                                    .filter_map(|d| d.parse().ok())
                                    .collect();
                            }
                            _ => {}
                        }
                    }
                })
                .await
            }
            Operation::AddMembers {
                location, members, ..
            } => {
                self.with_team(tenant, location, |team, known| {
                    team.user_ids.extend(user_ids(known, members))
                })
                .await
            }
            Operation::RemoveMembers {
                location, members, ..
            } => {
                self.with_team(tenant, location, |team, known| {
                    let gone = user_ids(known, members);
                    team.user_ids.retain(|id| !gone.contains(id));
                })
                .await
            }
            Operation::Delete {
                kind: Kind::Group,
                location,
                ..
            } => {
                let key = location.to_lowercase();
                let id = self
                    .lookup(tenant, |s| s.teams.get(&key).map(|t| t.id))
                    .await;
                let Some(id) = id else { return Ok(()) };
                let (status, answer) = self
                    .client
                    .send(Method::DELETE, &format!("/teams/{id}"), None)
                    .await?;
                match status {
                    StatusCode::NOT_FOUND => Ok(()),
                    status => expect_success(status, &answer, &format!("deleting team {location}")),
                }
            }
            Operation::Update {
                kind: Kind::User,
                location,
                changes,
                ..
            } => {
                let key = location.to_lowercase();
                let id = self
                    .lookup(tenant, |s| s.user_ids.get(&key).copied())
                    .await
                    .ok_or_else(|| {
                        TargetError::Refused(format!("user {location} is not in Qualytics"))
                    })?;
                let Some(role) = changes
                    .iter()
                    .find(|c| c.name == "role")
                    .and_then(|c| c.values.iter().next())
                else {
                    return Ok(());
                };
                let (status, answer) = self
                    .client
                    .send(
                        Method::PUT,
                        &format!("/users/{id}"),
                        Some(&json!({"role": role})),
                    )
                    .await?;
                expect_success(status, &answer, &format!("setting the role of {location}"))
            }
            // Users are neither created, moved nor deleted here (see `adjust`).
            Operation::Create {
                kind: Kind::User, ..
            }
            | Operation::Move {
                kind: Kind::User, ..
            }
            | Operation::Delete {
                kind: Kind::User, ..
            } => Ok(()),
        }
    }
}
