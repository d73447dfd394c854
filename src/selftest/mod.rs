//! Replaying an IdP's provisioning cycle against a running deployment: `dirsync selftest`, and
//! the replay tests in `tests/`. The sequences live in `tests/idp/<idp>.json`, written from each
//! IdP's documented behaviour (`shared/research/idp-quirks.md`), and are compiled in here.
//!
//! A step is one request and what must come back; `${name}` in a step is replaced by a value an
//! earlier step captured (`"capture": {"alice": "id"}` keeps the response's `id`), by `${run}`
//! (unique per replay, so names never collide with real data) or by `${uuid}` (a fresh random
//! UUID, as IdPs probe with). A step may also read a resource back (`then`) to check what the
//! deployment stored. Every resource a replay creates is deleted at its end.

mod matching;

use std::collections::HashMap;
use std::fmt::Write as _;

use reqwest::{Client, Method};
use serde::Deserialize;
use serde_json::Value;

use crate::domain::IdpKind;

/// A whole replay sequence.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corpus {
    /// Which IdP's dialect it speaks.
    pub idp: IdpKind,
    /// What it covers and where the behaviour comes from.
    pub description: String,
    /// The requests, in order.
    pub steps: Vec<Step>,
}

/// One request of a replay.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// What the step does, as the IdP would put it.
    pub name: String,
    /// The request.
    pub request: Request,
    /// What must come back.
    pub expect: Expect,
    /// Response values to keep: variable name → top-level field of the response body.
    #[serde(default)]
    pub capture: HashMap<String, String>,
    /// A read after the step, checking what was stored.
    #[serde(default)]
    pub then: Option<ReadBack>,
}

/// A request of a step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// GET, POST, PUT, PATCH or DELETE.
    pub method: String,
    /// Below the SCIM base URL, query string included.
    pub path: String,
    /// Headers to send; `null` removes a default (the Content-Type of a body).
    #[serde(default)]
    pub headers: HashMap<String, Option<String>>,
    /// The JSON body.
    #[serde(default)]
    pub body: Option<Value>,
}

/// What a response must be.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// One acceptable status, or a list of them.
    pub status: Status,
    /// A pattern the body must match (see `matching`).
    #[serde(default)]
    pub body: Option<Value>,
    /// Headers that must be there, compared without parameters (`; charset=...`).
    #[serde(default)]
    pub headers: HashMap<String, String>,
}

/// A status or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Status {
    /// Exactly this.
    One(u16),
    /// Any of these.
    Any(Vec<u16>),
}

impl Status {
    fn accepts(&self, status: u16) -> bool {
        match self {
            Status::One(s) => *s == status,
            Status::Any(all) => all.contains(&status),
        }
    }
}

/// A GET after a step and the pattern its body must match.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadBack {
    /// Below the SCIM base URL.
    pub path: String,
    /// The status (200 unless said).
    #[serde(default)]
    pub status: Option<u16>,
    /// The pattern.
    #[serde(default)]
    pub body: Option<Value>,
}

/// The corpus of an IdP kind, compiled in.
pub fn corpus(idp: IdpKind) -> Result<Corpus, String> {
    let text = match idp {
        IdpKind::Entra => include_str!("../../tests/idp/entra.json"),
        IdpKind::Okta => include_str!("../../tests/idp/okta.json"),
        IdpKind::Onelogin => include_str!("../../tests/idp/onelogin.json"),
        IdpKind::Jumpcloud => include_str!("../../tests/idp/jumpcloud.json"),
        IdpKind::Generic => {
            return Err(
                "there is no replay for generic; choose entra, okta, onelogin or jumpcloud".into(),
            );
        }
    };
    serde_json::from_str(text).map_err(|e| format!("the {idp} replay corpus does not parse: {e}"))
}

/// The outcome of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepResult {
    /// The step's name.
    pub name: String,
    /// `None` when it passed, else why it failed.
    pub failure: Option<String>,
}

/// The outcome of a replay.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every step, in order.
    pub steps: Vec<StepResult>,
    /// Resources the replay created and could not delete afterwards.
    pub left_behind: Vec<String>,
}

impl Report {
    /// How many steps passed and failed.
    pub fn counts(&self) -> (usize, usize) {
        let failed = self.steps.iter().filter(|s| s.failure.is_some()).count();
        (self.steps.len() - failed, failed)
    }
}

/// Replays `corpus` against the SCIM API at `base_url` with `token`. Steps run in order and a
/// failing step does not stop the replay (later steps then usually fail too, which the report
/// shows); every resource created is deleted at the end.
pub async fn replay(client: &Client, base_url: &str, token: &str, corpus: &Corpus) -> Report {
    let mut variables: HashMap<String, String> = HashMap::new();
    variables.insert(
        "run".into(),
        uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
    );
    let mut created: Vec<String> = Vec::new();
    let mut report = Report::default();
    let base_url = base_url.trim_end_matches('/');
    for step in &corpus.steps {
        variables.insert("uuid".into(), uuid::Uuid::new_v4().to_string());
        let failure = run_step(client, base_url, token, step, &mut variables, &mut created)
            .await
            .err();
        report.steps.push(StepResult {
            name: step.name.clone(),
            failure,
        });
    }
    for location in created.iter().rev() {
        let response = client.delete(location).bearer_auth(token).send().await;
        match response.map(|r| r.status().as_u16()) {
            Ok(204 | 404) => {}
            _ => report.left_behind.push(location.clone()),
        }
    }
    report
}

async fn run_step(
    client: &Client,
    base_url: &str,
    token: &str,
    step: &Step,
    variables: &mut HashMap<String, String>,
    created: &mut Vec<String>,
) -> Result<(), String> {
    let request = &step.request;
    let method = Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("the corpus has an unknown method {:?}", request.method))?;
    let url = format!("{base_url}{}", substitute_text(&request.path, variables)?);
    let mut builder = client.request(method, &url).bearer_auth(token);
    let mut headers = request.headers.clone();
    if let Some(body) = &request.body {
        let body = substitute(body, variables)?;
        headers
            .entry("Content-Type".into())
            .or_insert_with(|| Some("application/scim+json".into()));
        builder = builder.body(serde_json::to_vec(&body).map_err(|e| e.to_string())?);
    }
    for (name, value) in headers {
        if let Some(value) = value {
            builder = builder.header(name, substitute_text(&value, variables)?);
        }
    }
    let response = builder
        .send()
        .await
        .map_err(|e| format!("the request failed: {e}"))?;
    let status = response.status().as_u16();
    let response_headers = response.headers().clone();
    let text = response
        .text()
        .await
        .map_err(|e| format!("the response could not be read: {e}"))?;
    let body: Option<Value> = serde_json::from_str(&text).ok();
    if status == 201
        && let Some(location) = body.as_ref().and_then(|b| b["meta"]["location"].as_str())
    {
        created.push(location.to_owned());
    }
    if !step.expect.status.accepts(status) {
        let mut detail = format!("status {status}, expected {:?}", step.expect.status);
        if let Some(body) = &body {
            let _ = write!(detail, ": {body}");
        }
        return Err(detail);
    }
    for (name, wanted) in &step.expect.headers {
        let found = response_headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned());
        if found.as_deref() != Some(wanted.as_str()) {
            return Err(format!(
                "header {name}: expected {wanted:?}, found {found:?}"
            ));
        }
    }
    if let Some(pattern) = &step.expect.body {
        let pattern = substitute(pattern, variables)?;
        if let Some(difference) = matching::mismatch(&pattern, body.as_ref(), "body") {
            return Err(difference);
        }
    }
    for (variable, field) in &step.capture {
        let value = body
            .as_ref()
            .and_then(|b| b.get(field))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("the response has no {field:?} to keep as {variable}"))?;
        variables.insert(variable.clone(), value.to_owned());
    }
    if let Some(read) = &step.then {
        let url = format!("{base_url}{}", substitute_text(&read.path, variables)?);
        let response = client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| format!("reading back failed: {e}"))?;
        let status = response.status().as_u16();
        let body: Option<Value> = response.json().await.ok();
        if status != read.status.unwrap_or(200) {
            return Err(format!("reading back {}: status {status}", read.path));
        }
        if let Some(pattern) = &read.body {
            let pattern = substitute(pattern, variables)?;
            if let Some(difference) = matching::mismatch(&pattern, body.as_ref(), "stored") {
                return Err(difference);
            }
        }
    }
    Ok(())
}

fn substitute(value: &Value, variables: &HashMap<String, String>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(substitute_text(s, variables)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| substitute(v, variables))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (key, value) in map {
                out.insert(
                    substitute_text(key, variables)?,
                    substitute(value, variables)?,
                );
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn substitute_text(text: &str, variables: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
        let name = &rest[start + 2..start + end];
        let value = variables
            .get(name)
            .ok_or_else(|| format!("${{{name}}} has not been captured by an earlier step"))?;
        out.push_str(value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_corpus_parses_and_names_its_idp() {
        for idp in [
            IdpKind::Entra,
            IdpKind::Okta,
            IdpKind::Onelogin,
            IdpKind::Jumpcloud,
        ] {
            let corpus = corpus(idp);
            assert_eq!(
                corpus.as_ref().map(|c| c.idp).ok(),
                Some(idp),
                "{:?}",
                corpus.err()
            );
        }
    }

    #[test]
    fn variables_are_substituted_and_unknown_ones_refused() {
        let variables = HashMap::from([("alice".to_owned(), "u-1".to_owned())]);
        assert_eq!(
            substitute_text("/Users/${alice}", &variables).ok(),
            Some("/Users/u-1".into())
        );
        assert!(substitute_text("/Users/${bob}", &variables).is_err());
        assert!(substitute_text("/Users/${alice", &variables).is_err());
    }
}
