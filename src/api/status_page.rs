//! `/admin/`: the status page. Server-rendered HTML with no script and no build step: each
//! tenant's state, and an inline SVG chart of provisioning requests per minute over the last
//! hour with the reconciliation runs of that hour marked on the same time axis.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// What one tenant's row shows.
pub struct TenantRow {
    /// Its status as the admin API's status endpoint answers it.
    pub status: Value,
}

/// A run marked on the chart.
pub struct RunMark {
    /// When it started.
    pub at: DateTime<Utc>,
    /// Its outcome.
    pub outcome: String,
    /// Its tenant.
    pub tenant: String,
    /// Its target.
    pub target: String,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn chart(requests: &[u64], runs: &[RunMark], now: DateTime<Utc>) -> String {
    let (width, height, bar) = (600.0_f64, 120.0_f64, 10.0_f64);
    let peak = requests.iter().copied().max().unwrap_or(0).max(1) as f64;
    let mut svg = format!(
        r#"<svg id="activity" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {}" width="{width}" height="{}" role="img" aria-label="Provisioning requests per minute and sync runs, last hour">"#,
        height + 30.0,
        height + 30.0
    );
    for (minute, count) in requests.iter().enumerate() {
        let h = (*count as f64 / peak) * height;
        let _ = write!(
            svg,
            r#"<rect class="requests" x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}"><title>{count} requests</title></rect>"#,
            minute as f64 * bar,
            height - h,
            bar - 2.0
        );
    }
    for run in runs {
        let age = (now - run.at).num_seconds() as f64 / 60.0;
        if !(0.0..60.0).contains(&age) {
            continue;
        }
        let x = (60.0 - age) * bar;
        let colour = match run.outcome.as_str() {
            "applied" | "planned" => "#2a7",
            "refused" | "partial" => "#c80",
            _ => "#c33",
        };
        let _ = write!(
            svg,
            r#"<circle class="run" cx="{x:.1}" cy="{:.1}" r="5" fill="{colour}"><title>{} {} {}</title></circle>"#,
            height + 15.0,
            escape(&run.tenant),
            escape(&run.target),
            escape(&run.outcome)
        );
    }
    svg.push_str(&format!(
        r#"<text x="0" y="{:.0}" font-size="10">60 min ago</text><text x="{:.0}" y="{:.0}" font-size="10" text-anchor="end">now</text></svg>"#,
        height + 30.0,
        width,
        height + 30.0
    ));
    svg
}

/// The whole page.
pub fn render(
    tenants: &[TenantRow],
    requests: &[u64],
    runs: &[RunMark],
    now: DateTime<Utc>,
) -> String {
    let mut rows = String::new();
    for row in tenants {
        let s = &row.status;
        let text = |v: &Value| v.as_str().map(escape).unwrap_or_else(|| "—".into());
        let mut targets = String::new();
        for t in s["targets"].as_array().into_iter().flatten() {
            let _ = write!(
                targets,
                "{}: {} ({} pending)<br>",
                text(&t["target"]),
                text(&t["last_run"]["status"]),
                t["pending_changes"].as_u64().unwrap_or(0)
            );
        }
        let _ = write!(
            rows,
            r#"<tr class="tenant"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            text(&s["tenant"]),
            if s["paused"] == true {
                "paused"
            } else {
                "serving"
            },
            text(&s["last_scim_request"]),
            s["requests_last_hour"].as_u64().unwrap_or(0),
            s["rate_limited_last_hour"].as_u64().unwrap_or(0),
            if targets.is_empty() {
                "none".to_owned()
            } else {
                targets
            },
        );
    }
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>dirsync status</title>
<meta http-equiv="refresh" content="30"><style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}table{{border-collapse:collapse}}
td,th{{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}}
rect.requests{{fill:#48c}}</style></head><body>
<h1>dirsync</h1><p>As of {}. Refreshes every 30 seconds.</p>
<h2>Provisioning requests per minute, and sync runs</h2>{}
<h2>Tenants</h2><table><tr><th>tenant</th><th>state</th><th>last SCIM request</th><th>requests (1 h)</th><th>429s (1 h)</th><th>targets</th></tr>{rows}</table>
</body></html>"#,
        now.format("%Y-%m-%d %H:%M:%SZ"),
        chart(requests, runs, now)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_page_shows_tenants_bars_and_runs_and_escapes_text() {
        let now = DateTime::UNIX_EPOCH + chrono::Duration::days(1);
        let tenants = [TenantRow {
            status: json!({"tenant": "acme", "paused": false, "requests_last_hour": 7,
                           "targets": [{"target": "ldap", "last_run": {"status": "applied"}, "pending_changes": 2}]}),
        }];
        let runs = [RunMark {
            at: now - chrono::Duration::minutes(5),
            outcome: "failed".into(),
            tenant: "<x>".into(),
            target: "ldap".into(),
        }];
        let html = render(&tenants, &[1; 60], &runs, now);
        assert!(html.contains("<td>acme</td>") && html.contains("ldap: applied (2 pending)"));
        assert_eq!(html.matches("<rect class=\"requests\"").count(), 60);
        assert_eq!(html.matches("<circle class=\"run\"").count(), 1);
        assert!(html.contains("&lt;x&gt;") && !html.contains("<x>"));
    }
}
