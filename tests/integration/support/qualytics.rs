//! A stand-in Qualytics controlplane: the documented REST contract of `/api/users` and
//! `/api/teams` (`shared/research/qualytics-and-ldap.md` 1.6) — bearer auth (401), paged lists
//! `{items, total, page, size}`, 404 for unknown ids, 409 for a duplicate team name, the Public
//! team that cannot be renamed, emptied or deleted (400) — plus a throttle that answers 429 with
//! `Retry-After`, a delay for a slow controlplane, and a record of every request. Qualytics is proprietary; this is the only
//! stand-in the project allows itself.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use warp::Filter;
use warp::http::StatusCode;

pub const TOKEN: &str = "qualytics-admin-service-token";

#[derive(Debug, Default)]
pub struct World {
    pub users: Vec<Value>,
    pub teams: Vec<Value>,
    next_team: i64,
    /// The next this many requests answer 429.
    pub throttle: u32,
    /// Every answer waits this long first (a slow controlplane).
    pub delay: std::time::Duration,
    /// Every request: method, path, body.
    pub requests: Vec<(String, String, Value)>,
}

impl World {
    pub fn team(&self, name: &str) -> Option<Value> {
        self.teams.iter().find(|t| t["name"] == name).cloned()
    }
    pub fn user(&self, email: &str) -> Option<Value> {
        self.users.iter().find(|u| u["email"] == email).cloned()
    }
    /// Requests that changed something.
    pub fn writes(&self) -> Vec<(String, String, Value)> {
        self.requests
            .iter()
            .filter(|(m, _, _)| m != "GET")
            .cloned()
            .collect()
    }
}

pub struct StandIn {
    pub url: String,
    pub world: Arc<Mutex<World>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl StandIn {
    /// Whether the controlplane holds a team of that name.
    pub fn has_team(&self, name: &str) -> bool {
        self.world.lock().unwrap().team(name).is_some()
    }

    /// A controlplane with these users (emails; ids from 1) and the Public team holding them.
    pub async fn start(emails: &[&str]) -> StandIn {
        let users: Vec<Value> = emails
            .iter()
            .enumerate()
            .map(|(i, e)| json!({"id": i as i64 + 1, "email": e, "name": e, "user_name": e, "role": "Member", "user_type": "Human", "deleted_at": null}))
            .collect();
        let public = json!({"id": 1, "name": "Public", "description": "", "permission": "Viewer", "datastore_ids": [],
                            "user_ids": (1..=emails.len() as i64).collect::<Vec<_>>()});
        let world = Arc::new(Mutex::new(World {
            users,
            teams: vec![public],
            next_team: 2,
            ..World::default()
        }));
        let state = world.clone();
        let routes = warp::method()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::body::bytes())
            .then(
                move |method: warp::http::Method,
                      path: warp::path::FullPath,
                      query: String,
                      auth: Option<String>,
                      body: bytes::Bytes| {
                    let state = state.clone();
                    async move {
                        let delay = state.lock().unwrap().delay;
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        let mut world = state.lock().unwrap();
                        let (status, answer, retry) = handle(
                            &mut world,
                            method.as_str(),
                            path.as_str(),
                            &query,
                            auth.as_deref(),
                            body,
                        );
                        let mut reply =
                            warp::reply::with_status(warp::reply::json(&answer), status)
                                .into_response();
                        if retry {
                            reply
                                .headers_mut()
                                .insert("retry-after", warp::http::HeaderValue::from_static("0"));
                        }
                        reply
                    }
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(
            warp::serve(routes)
                .incoming(listener)
                .graceful(async {
                    let _ = stopped.await;
                })
                .run(),
        );
        StandIn {
            url,
            world,
            _stop: stop,
        }
    }
}

use warp::Reply;

fn page(items: &[Value], query: &str) -> Value {
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let (page, size) = (
        param("page").unwrap_or(1).max(1),
        param("size").unwrap_or(50).max(1),
    );
    let slice: Vec<Value> = items
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .cloned()
        .collect();
    json!({"items": slice, "total": items.len(), "page": page, "size": size})
}

/// Where the team with the id in this path segment is.
fn team_index(world: &World, team_id: &str) -> Option<usize> {
    world
        .teams
        .iter()
        .position(|t| t["id"].as_i64() == team_id.parse::<i64>().ok())
}

fn team_view(world: &World, team: &Value) -> Value {
    let ids: Vec<i64> = team["user_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    let users: Vec<Value> = world
        .users
        .iter()
        .filter(|u| ids.contains(&u["id"].as_i64().unwrap_or(0)))
        .map(|u| json!({"id": u["id"], "email": u["email"], "name": u["name"], "role": u["role"]}))
        .collect();
    let mut view = team.clone();
    view["users"] = Value::Array(users);
    view
}

fn handle(
    world: &mut World,
    method: &str,
    path: &str,
    query: &str,
    auth: Option<&str>,
    body: Value,
) -> (StatusCode, Value, bool) {
    world
        .requests
        .push((method.to_owned(), path.to_owned(), body.clone()));
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return (
            StatusCode::UNAUTHORIZED,
            json!({"detail": "Not authenticated"}),
            false,
        );
    }
    if world.throttle > 0 {
        world.throttle -= 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"detail": "Too many requests"}),
            true,
        );
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let id = |s: &str| s.parse::<i64>().ok();
    match (method, segments.as_slice()) {
        ("GET", ["api", "users"]) => (StatusCode::OK, page(&world.users, query), false),
        ("PUT", ["api", "users", user]) => {
            let Some(user) = world
                .users
                .iter_mut()
                .find(|u| u["id"].as_i64() == id(user))
            else {
                return (
                    StatusCode::NOT_FOUND,
                    json!({"detail": "User not found"}),
                    false,
                );
            };
            match body["role"].as_str() {
                Some(role @ ("Member" | "Manager" | "Admin")) => {
                    user["role"] = json!(role);
                    (StatusCode::OK, user.clone(), false)
                }
                _ => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"detail": "invalid role"}),
                    false,
                ),
            }
        }
        ("GET", ["api", "teams"]) => {
            let views: Vec<Value> = world.teams.iter().map(|t| team_view(world, t)).collect();
            (StatusCode::OK, page(&views, query), false)
        }
        ("POST", ["api", "teams"]) => {
            let name = body["name"].as_str().unwrap_or_default().to_owned();
            if world.teams.iter().any(|t| {
                t["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&name))
            }) {
                return (
                    StatusCode::CONFLICT,
                    json!({"detail": "A team with this name already exists"}),
                    false,
                );
            }
            let mut team = body.clone();
            team["id"] = json!(world.next_team);
            world.next_team += 1;
            world.teams.push(team.clone());
            (StatusCode::OK, team_view(world, &team), false)
        }
        ("PUT", ["api", "teams", team_id]) => {
            let Some(index) = team_index(world, team_id) else {
                return (
                    StatusCode::NOT_FOUND,
                    json!({"detail": "Team not found"}),
                    false,
                );
            };
            let current = world.teams[index].clone();
            if current["name"] == "Public"
                && (body["name"] != "Public" || body["user_ids"] != current["user_ids"])
            {
                return (
                    StatusCode::BAD_REQUEST,
                    json!({"detail": "The Public team cannot be renamed or edited"}),
                    false,
                );
            }
            let mut team = body.clone();
            team["id"] = current["id"].clone();
            world.teams[index] = team.clone();
            (StatusCode::OK, team_view(world, &team), false)
        }
        ("DELETE", ["api", "teams", team_id]) => {
            let Some(index) = team_index(world, team_id) else {
                return (
                    StatusCode::NOT_FOUND,
                    json!({"detail": "Team not found"}),
                    false,
                );
            };
            if world.teams[index]["name"] == "Public" {
                return (
                    StatusCode::BAD_REQUEST,
                    json!({"detail": "The Public team cannot be deleted"}),
                    false,
                );
            }
            world.teams.remove(index);
            (StatusCode::NO_CONTENT, Value::Null, false)
        }
        _ => (StatusCode::NOT_FOUND, json!({"detail": "Not Found"}), false),
    }
}
