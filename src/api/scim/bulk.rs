//! `POST /Bulk` (RFC 7644 §3.7): many operations in one request. Each operation is dispatched
//! through the same router as a request of its own, so it has exactly the semantics, checks and
//! errors it would have alone, and commits on its own.
//!
//! `bulkId` (§3.7.2): a POST names its new resource `bulkId:X`; later operations may use
//! "bulkId:X" anywhere in their path or data. An operation whose reference is not created yet
//! waits until it is (the RFC allows references to operations further down); one that can never
//! be resolved, a cycle among them, fails with 409.

use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Map, Value, json};
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use warp::reply::Response;

use super::super::error::ApiError;
use super::super::reply;
use super::super::request::HttpRequest;
use super::context::ScimContext;
use crate::scim::ScimError;

const BULK_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// One operation as sent.
struct BulkOperation {
    index: usize,
    method: Method,
    bulk_id: Option<String>,
    version: Option<String>,
    path: String,
    data: Option<Value>,
}

pub async fn run(context: &ScimContext<'_>) -> Result<Response, ApiError> {
    let body = context.json_body()?;
    let (operations, fail_on_errors) = parse(&body, context.limits().bulk_max_operations)?;
    let mut created: Map<String, Value> = Map::new();
    let mut results: Vec<(usize, Value)> = Vec::new();
    let mut errors = 0usize;
    let mut pending = operations;
    // Each pass runs every operation whose references are resolved; a pass that runs none ends
    // the loop, and what is left cannot be resolved.
    while !pending.is_empty() {
        let before = pending.len();
        let mut waiting = Vec::new();
        for operation in pending {
            if fail_on_errors.is_some_and(|limit| errors >= limit) {
                break;
            }
            if unresolved(&operation, &created) {
                waiting.push(operation);
                continue;
            }
            let result = execute(context, &operation, &created).await;
            let status = result["status"].as_str().unwrap_or("500").to_owned();
            if !status.starts_with('2') {
                errors += 1;
            }
            if let (Some(bulk_id), Some(id)) = (&operation.bulk_id, result.get("id")) {
                created.insert(bulk_id.clone(), id.clone());
            }
            let mut result = result;
            if let Some(fields) = result.as_object_mut() {
                fields.remove("id");
            }
            results.push((operation.index, result));
        }
        if fail_on_errors.is_some_and(|limit| errors >= limit) {
            break;
        }
        if waiting.len() == before {
            for operation in waiting {
                let error = ScimError {
                    status: 409,
                    scim_type: None,
                    detail: "a bulkId this operation refers to is never created (or the references form a cycle)".into(),
                };
                results.push((
                    operation.index,
                    outcome(&operation, &error_response(&error)),
                ));
            }
            break;
        }
        pending = waiting;
    }
    results.sort_by_key(|(index, _)| *index);
    let operations: Vec<Value> = results.into_iter().map(|(_, r)| r).collect();
    Ok(reply::scim_json(
        StatusCode::OK,
        &json!({"schemas": [BULK_RESPONSE_SCHEMA], "Operations": operations}),
    ))
}

fn parse(
    body: &Value,
    max_operations: usize,
) -> Result<(Vec<BulkOperation>, Option<usize>), ApiError> {
    let field = |fields: &Map<String, Value>, name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let Value::Object(fields) = body else {
        return Err(ScimError::invalid_syntax("a Bulk body is a BulkRequest object").into());
    };
    let declared = field(fields, "schemas")
        .and_then(|s| s.as_array().cloned())
        .is_some_and(|s| s.iter().any(|s| s.as_str() == Some(BULK_REQUEST_SCHEMA)));
    if !declared {
        return Err(ScimError::invalid_syntax(format!(
            "a Bulk body must list {BULK_REQUEST_SCHEMA} in \"schemas\""
        ))
        .into());
    }
    let fail_on_errors =
        match field(fields, "failOnErrors") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                ScimError::invalid_value("failOnErrors must be a positive integer")
            })? as usize),
        };
    let Some(Value::Array(items)) = field(fields, "Operations") else {
        return Err(ScimError::invalid_syntax("a Bulk body needs \"Operations\", a list").into());
    };
    if items.len() > max_operations {
        // RFC 7644 §3.7.4: more operations than maxOperations is 413.
        return Err(ScimError {
            status: 413,
            scim_type: None,
            detail: format!(
                "the request has {} operations; the maximum is {max_operations}",
                items.len()
            ),
        }
        .into());
    }
    let mut operations = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let Value::Object(op) = item else {
            return Err(ScimError::invalid_syntax(format!(
                "operation {} is not an object",
                index + 1
            ))
            .into());
        };
        let text = |name: &str| field(op, name).and_then(|v| v.as_str().map(str::to_owned));
        let method = match text("method").map(|m| m.to_ascii_uppercase()).as_deref() {
            Some("POST") => Method::POST,
            Some("PUT") => Method::PUT,
            Some("PATCH") => Method::PATCH,
            Some("DELETE") => Method::DELETE,
            _ => {
                return Err(ScimError::invalid_syntax(format!(
                    "operation {}: \"method\" must be POST, PUT, PATCH or DELETE",
                    index + 1
                ))
                .into());
            }
        };
        let path = text("path").ok_or_else(|| {
            ScimError::invalid_syntax(format!("operation {} needs a \"path\"", index + 1))
        })?;
        let bulk_id = text("bulkId");
        if method == Method::POST && bulk_id.is_none() {
            return Err(ScimError::invalid_syntax(format!(
                "operation {}: a POST needs a \"bulkId\"",
                index + 1
            ))
            .into());
        }
        operations.push(BulkOperation {
            index,
            method,
            bulk_id,
            version: text("version"),
            path,
            data: field(op, "data"),
        });
    }
    Ok((operations, fail_on_errors))
}

/// Whether the operation names a bulkId that has not been created yet.
fn unresolved(operation: &BulkOperation, created: &Map<String, Value>) -> bool {
    let mut missing = false;
    let mut check = |text: &str| {
        for reference in references(text) {
            missing |= !created.contains_key(reference);
        }
    };
    check(&operation.path);
    if let Some(data) = &operation.data {
        visit_strings(data, &mut check);
    }
    missing
}

fn references(text: &str) -> impl Iterator<Item = &str> {
    text.split('/')
        .filter_map(|part| part.strip_prefix("bulkId:"))
}

fn visit_strings(value: &Value, visit: &mut impl FnMut(&str)) {
    match value {
        Value::String(s) => visit(s),
        Value::Array(items) => items.iter().for_each(|v| visit_strings(v, visit)),
        Value::Object(map) => map.values().for_each(|v| visit_strings(v, visit)),
        _ => {}
    }
}

/// Replaces `bulkId:X` with X's new id, in strings and in path segments.
fn substitute(value: &mut Value, created: &Map<String, Value>) {
    match value {
        Value::String(s) => {
            if let Some(id) = s
                .strip_prefix("bulkId:")
                .and_then(|r| created.get(r))
                .and_then(Value::as_str)
            {
                *s = id.to_owned();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, created)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute(v, created)),
        _ => {}
    }
}

async fn execute(
    context: &ScimContext<'_>,
    operation: &BulkOperation,
    created: &Map<String, Value>,
) -> Value {
    let segments: Vec<String> = operation
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.strip_prefix("bulkId:")
                .and_then(|r| created.get(r))
                .and_then(Value::as_str)
                .unwrap_or(s)
                .to_owned()
        })
        .collect();
    if segments
        .first()
        .is_some_and(|s| s.eq_ignore_ascii_case("bulk"))
    {
        let error = ScimError::invalid_syntax("a Bulk operation cannot be another Bulk request");
        return outcome(operation, &error_response(&error));
    }
    let mut data = operation.data.clone();
    if let Some(data) = &mut data {
        substitute(data, created);
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/scim+json"),
    );
    if let Some(version) = operation
        .version
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::IF_MATCH, version);
    }
    let request = HttpRequest {
        method: operation.method.clone(),
        path: format!("/{}", segments.join("/")),
        segments: segments.clone(),
        query: Vec::new(),
        headers,
        body: Ok(data
            .map(|d| Bytes::from(serde_json::to_vec(&d).unwrap_or_default()))
            .unwrap_or_default()),
        request_id: format!("{}.{}", context.request_id(), operation.index + 1),
    };
    let child = context.for_request(&request);
    let response = match Box::pin(super::dispatch(&child, &segments)).await {
        Ok(response) => response,
        Err(error) => error.scim_response(),
    };
    outcome(operation, &response_parts(response).await)
}

/// A sub-response reduced to what a BulkResponse operation reports.
struct Parts {
    status: StatusCode,
    location: Option<String>,
    etag: Option<String>,
    body: Option<Value>,
}

async fn response_parts(response: Response) -> Parts {
    let (head, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = |name: header::HeaderName| {
        head.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Parts {
        status: head.status,
        location: text(header::LOCATION),
        etag: text(header::ETAG),
        body: serde_json::from_slice(&bytes).ok(),
    }
}

fn error_response(error: &ScimError) -> Parts {
    Parts {
        status: StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST),
        location: None,
        etag: None,
        body: serde_json::to_value(error.body()).ok(),
    }
}

/// The BulkResponse entry (RFC 7644 §3.7.3): failures carry the error body as `response`. The
/// new resource's `id` rides along for bulkId bookkeeping and is removed before answering.
fn outcome(operation: &BulkOperation, parts: &Parts) -> Value {
    let mut out = Map::new();
    out.insert("method".into(), json!(operation.method.as_str()));
    if let Some(bulk_id) = &operation.bulk_id {
        out.insert("bulkId".into(), json!(bulk_id));
    }
    let location = parts.location.clone().or_else(|| {
        parts
            .body
            .as_ref()
            .and_then(|b| b["meta"]["location"].as_str().map(str::to_owned))
    });
    if let Some(location) = location {
        out.insert("location".into(), json!(location));
    }
    if let Some(etag) = &parts.etag {
        out.insert("version".into(), json!(etag));
    }
    out.insert("status".into(), json!(parts.status.as_u16().to_string()));
    if !parts.status.is_success() {
        if let Some(body) = &parts.body {
            out.insert("response".into(), body.clone());
        }
    } else if let Some(id) = parts.body.as_ref().and_then(|b| b.get("id")) {
        out.insert("id".into(), id.clone());
    }
    Value::Object(out)
}
