//! The rules page, `/rules` (also under `/prometheus`): the request's tenant's groups as
//! Prometheus's rules page shows them — each group with its interval and last
//! evaluation, each rule with its query, health, last error and evaluation, and each
//! alerting rule's active alerts with their state and since when.
//!
//! The invariant: like the API, the page only copies what a group's state holds, under
//! the group's lock, and shows nothing of another tenant.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use pyrite_api::reject_tenant;
use pyrite_rules::RuleKind;
use pyrite_template::html_escape;
use pyrite_tenant::{Access, Tenant, TenantLayer};

use crate::alerting::AlertState;
use crate::api::rfc3339;
use crate::manager::Manager;

const HEAD: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Rules - Pyrite</title>\
<style>body{font-family:sans-serif}table{border-collapse:collapse;margin-bottom:2em}\
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
pre{margin:0}.ok{color:#070}.err{color:#b00}.firing{color:#b00}.pending{color:#a60}</style>\
</head><body><h1>Rules</h1>";

/// The page, at `/rules` and `/prometheus/rules`.
pub fn routes(manager: Arc<Manager>) -> Router {
    let page = Router::new()
        .route("/rules", get(page))
        .route_layer(TenantLayer::new(Access::Read, reject_tenant))
        .with_state(manager);
    Router::new().merge(page.clone()).nest("/prometheus", page)
}

async fn page(State(manager): State<Arc<Manager>>, tenant: Tenant) -> Html<String> {
    let mut h = String::from(HEAD);
    let groups: Vec<_> = manager
        .groups()
        .into_iter()
        .filter(|g| g.key.tenant == *tenant)
        .collect();
    if groups.is_empty() {
        h.push_str("<p>No rule groups.</p>");
    }
    for g in groups {
        let state = g.state.lock().await.clone();
        let _ = write!(
            h,
            "<h2>{} &gt; {}</h2><p>every {}; last evaluated {}, in {:.3}s</p>",
            html_escape(&g.key.file),
            html_escape(&g.key.name),
            pyrite_rules::format_duration(g.interval_ms),
            rfc3339(state.last_evaluation),
            state.evaluation_seconds,
        );
        h.push_str(
            "<table><tr><th>Rule</th><th>State</th><th>Error</th><th>Last evaluation</th><th>Evaluation time</th></tr>",
        );
        for (i, rule) in g.loaded.group.rules.iter().enumerate() {
            let rs = state.rules.get(i).cloned().unwrap_or_default();
            let mut text = match &rule.kind {
                RuleKind::Recording { record } => format!("record: {record}\nexpr: {}", rule.expr),
                RuleKind::Alerting { alert, for_ms, .. } => {
                    let mut t = format!("alert: {alert}\nexpr: {}", rule.expr);
                    if *for_ms > 0 {
                        let _ = write!(t, "\nfor: {}", pyrite_rules::format_duration(*for_ms));
                    }
                    t
                }
            };
            for (name, value) in &rule.labels {
                let _ = write!(text, "\n{name}: {value}");
            }
            let shown = match &rule.kind {
                RuleKind::Recording { .. } => rs.health.as_str().to_string(),
                RuleKind::Alerting { .. } => {
                    let count = |s: AlertState| rs.alerts.iter().filter(|a| a.state == s).count();
                    format!(
                        "{}; {} firing, {} pending",
                        rs.health.as_str(),
                        count(AlertState::Firing),
                        count(AlertState::Pending)
                    )
                }
            };
            let _ = write!(
                h,
                "<tr><td><pre>{}</pre></td><td class=\"{}\">{}</td><td class=\"err\">{}</td><td>{}</td><td>{:.3}s</td></tr>",
                html_escape(&text),
                rs.health.as_str(),
                html_escape(&shown),
                html_escape(rs.last_error.as_deref().unwrap_or("")),
                rfc3339(rs.last_evaluation),
                rs.evaluation_seconds,
            );
            for a in rs.alerts.iter().filter(|a| a.state != AlertState::Inactive) {
                let _ = write!(
                    h,
                    "<tr><td colspan=\"2\">{}</td><td class=\"{}\">{}</td><td>active since {}</td><td>value {}</td></tr>",
                    html_escape(&a.labels.to_string()),
                    a.state.as_str(),
                    a.state.as_str(),
                    rfc3339(Some(a.active_at)),
                    a.value,
                );
            }
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>");
    Html(h)
}
