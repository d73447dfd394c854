//! Reading the audit trail: one line per change.

use crate::domain::change::ChangeRecord;

/// The attributes whose values differ between a change's before and after.
fn changed(entry: &ChangeRecord) -> Vec<String> {
    let Some(detail) = &entry.detail else {
        return Vec::new();
    };
    let empty = serde_json::Map::new();
    let before = detail["before"].as_object().unwrap_or(&empty);
    let after = detail["after"].as_object().unwrap_or(&empty);
    let mut keys: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// One change as a line: when, where in the log, what, by which token and request.
pub fn describe(entry: &ChangeRecord) -> String {
    let resource = entry
        .resource_id
        .map(|id| id.to_string())
        .unwrap_or_else(|| "-".into());
    let mut line = format!(
        "{}  #{}  {:<15} {:<5} {resource}  token {}  request {}",
        entry.occurred_at.format("%Y-%m-%d %H:%M:%SZ"),
        entry.seq,
        entry.operation,
        entry.resource_type,
        entry
            .token_id
            .map(|t| t.to_string())
            .unwrap_or_else(|| "operator".into()),
        entry.request_id.as_deref().unwrap_or("-"),
    );
    let changed = changed(entry);
    if !changed.is_empty() && entry.operation == "update" {
        line.push_str(&format!("  changed: {}", changed.join(", ")));
    }
    if let Some(detail) = entry
        .detail
        .as_ref()
        .filter(|_| matches!(entry.operation.as_str(), "membership" | "members_skipped"))
    {
        line.push_str(&format!("  {detail}"));
    }
    line
}
