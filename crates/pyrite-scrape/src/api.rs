//! The scrape side of the HTTP API, shaped as Prometheus shapes it:
//! `GET /api/v1/targets` (`state=active|dropped|any`, `scrapePool=`),
//! `GET /api/v1/targets/metadata` (`match_target=`, `metric=`, `limit=`),
//! `GET /api/v1/scrape_pools`, and the `/targets` page. Each active target also says
//! which node scrapes it (`scrapedBy`), and shows the state that node knows
//! ([`crate::peers`]), which serves it to the others on `/scrape/v1/owned`.
//!
//! The invariant: these handlers only read the manager's views; nothing here starts,
//! stops or changes a scrape.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pyrite_template::html_escape;
use serde_json::{json, Map, Value};

use crate::manager::Manager;
use crate::peers::{self, views_everywhere};

pub fn router(manager: Arc<Manager>) -> Router {
    let api = Router::new()
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/targets/metadata", get(metadata))
        .route("/api/v1/scrape_pools", get(scrape_pools));
    Router::new()
        .merge(api.clone())
        .nest("/prometheus", api)
        .route("/targets", get(page))
        .route(peers::OWNED_PATH, get(peers::owned))
        .with_state(manager)
}

fn success(data: Value) -> Response {
    pyrite_api::success(data, &[], &[])
}

fn bad_data(msg: String) -> Response {
    pyrite_api::ApiError::bad_data(msg).into_response()
}

fn rfc3339(t: Option<std::time::SystemTime>) -> String {
    match t {
        Some(t) => chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        None => "0001-01-01T00:00:00Z".to_string(),
    }
}

async fn targets(State(m): State<Arc<Manager>>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let state = q.get("state").map(|s| s.to_ascii_lowercase()).unwrap_or_default();
    let (show_active, show_dropped) = match state.as_str() {
        "" | "any" => (true, true),
        "active" => (true, false),
        "dropped" => (false, true),
        other => return bad_data(format!("invalid state {other:?}: it must be active, dropped or any")),
    };
    let pool = q.get("scrapePool").filter(|p| !p.is_empty());
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    let mut dropped_counts = Map::new();
    for (job, (cfg, view)) in views_everywhere(&m).await {
        if pool.is_some_and(|p| *p != job) {
            continue;
        }
        dropped_counts.insert(job.clone(), json!(view.dropped.len()));
        if show_active {
            for a in &view.active {
                let h = a.status.lock().health.clone();
                active.push(json!({
                    "discoveredLabels": json!(a.target.discovered),
                    "labels": json!(a.target.labels),
                    "scrapePool": job,
                    "scrapeUrl": a.target.url,
                    "globalUrl": a.target.url,
                    "lastError": h.last_error,
                    "lastScrape": rfc3339(h.last_scrape),
                    "lastScrapeDuration": h.last_duration.as_secs_f64(),
                    "health": if a.owner.mine || h.health != "unknown" { h.health } else { "unknown" },
                    "scrapeInterval": a.target.all.get("__scrape_interval__"),
                    "scrapeTimeout": a.target.all.get("__scrape_timeout__"),
                    "scrapedBy": a.owner.node,
                    "tenant": cfg.tenant,
                }));
            }
        }
        if show_dropped {
            for d in &view.dropped {
                dropped.push(json!({"discoveredLabels": json!(d.discovered)}));
            }
        }
    }
    let mut data = Map::new();
    if show_active {
        data.insert("activeTargets".into(), Value::Array(active));
    }
    if show_dropped {
        data.insert("droppedTargets".into(), Value::Array(dropped));
        data.insert("droppedTargetCounts".into(), Value::Object(dropped_counts));
    }
    success(Value::Object(data))
}

async fn scrape_pools(State(m): State<Arc<Manager>>) -> Response {
    let pools: Vec<String> = m.views().into_keys().collect();
    success(json!({ "scrapePools": pools }))
}

async fn metadata(State(m): State<Arc<Manager>>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let groups = match q.get("match_target").filter(|s| !s.is_empty()) {
        Some(s) => match pyrite_api::parse_selector(s) {
            Ok(groups) => groups,
            Err(e) => return bad_data(format!("invalid match_target {s:?}: {}", e.message)),
        },
        None => vec![Vec::new()],
    };
    let metric = q.get("metric").filter(|s| !s.is_empty());
    let limit = match q.get("limit").map(|l| l.parse::<i64>()) {
        None => -1,
        Some(Ok(n)) => n,
        Some(Err(_)) => return bad_data("limit must be a number".into()),
    };
    let mut out = Vec::new();
    'all: for (_, (_, view)) in views_everywhere(&m).await {
        for a in &view.active {
            if !groups.iter().any(|g| pyrite_model::matches_all(g, &a.target.labels)) {
                continue;
            }
            let md = a.status.lock().metadata.clone();
            for (name, meta) in md.iter() {
                if metric.is_some_and(|m| m != name) {
                    continue;
                }
                if limit >= 0 && out.len() as i64 >= limit {
                    break 'all;
                }
                out.push(json!({
                    "target": json!(a.target.labels),
                    "metric": name,
                    "type": meta.kind,
                    "help": meta.help,
                    "unit": meta.unit,
                }));
            }
        }
    }
    success(Value::Array(out))
}

/// A plain page listing every job's targets, their state and last error.
async fn page(State(m): State<Arc<Manager>>) -> impl IntoResponse {
    let mut h = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Targets - Pyrite</title>\
         <style>body{font-family:sans-serif}table{border-collapse:collapse;margin-bottom:2em}\
         td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.up{color:#070}.down{color:#b00}</style>\
         </head><body><h1>Targets</h1>",
    );
    for (job, (_, view)) in views_everywhere(&m).await {
        let up = view
            .active
            .iter()
            .filter(|a| a.status.lock().health.health == "up")
            .count();
        let _ = write!(
            h,
            "<h2 id=\"{0}\">{0} ({up}/{1} up)</h2>",
            html_escape(&job),
            view.active.len()
        );
        if let Some(e) = &view.error {
            let _ = write!(h, "<p class=\"down\">{}</p>", html_escape(e));
        }
        h.push_str("<table><tr><th>Endpoint</th><th>State</th><th>Labels</th><th>Last scrape</th><th>Scrape duration</th><th>Error</th><th>Scraped by</th></tr>");
        for a in &view.active {
            let s = a.status.lock().health.clone();
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{:.3}s</td><td>{}</td><td>{}</td></tr>",
                html_escape(&a.target.url),
                s.health,
                s.health.to_uppercase(),
                html_escape(&a.target.labels.to_string()),
                html_escape(&rfc3339(s.last_scrape)),
                s.last_duration.as_secs_f64(),
                html_escape(&s.last_error),
                html_escape(&a.owner.node),
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>");
    Html(h)
}
