//! `/alerts` (GET, POST) and `/alerts/groups`.
//!
//! As in Alertmanager, time intervals mute groups rather than alerts: `/alerts/groups`
//! shows each group's muting intervals as its alerts' `mutedBy` (their state then
//! `suppressed`), and hides muted groups under `muted=false`; `/alerts` shows no
//! `mutedBy`, and the `active`, `silenced` and `inhibited` filters look only at
//! silences and inhibitions. A group's `mutedBy` is worked out at the request's instant
//! from its route and the configuration, so every replica answers alike.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use pyrite_tenant::Tenant;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{api_time, error, existing, forward, instance, ApiError, ApiResult, Query, Shared};
use crate::instance::{ChangeError, Instance, PostedAlert};
use crate::model::{Alert, LabelSet};
use crate::route::Route;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Postable {
    labels: Option<LabelSet>,
    #[serde(default)]
    annotations: LabelSet,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
}

/// Seconds of Go's zero time, 0001-01-01T00:00:00Z.
const ZERO_TIME: i64 = -62135596800;

pub(super) async fn post(State(ams): State<Shared>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> ApiResult {
    if let Some(answer) = forward(
        &ams,
        &headers,
        &tenant,
        Method::POST,
        "/alertmanager/api/v2/alerts",
        body.clone(),
    )
    .await
    {
        return answer;
    }
    let posted: Vec<Postable> = serde_json::from_slice(&body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("parsing alerts body: {e}")))?;
    let mut alerts = Vec::with_capacity(posted.len());
    for p in posted {
        let Some(labels) = p.labels else {
            return Err(error(StatusCode::UNPROCESSABLE_ENTITY, "labels in body is required"));
        };
        // Go's zero time is how senders say "not set".
        let set = |t: Option<DateTime<Utc>>| t.filter(|t| t.timestamp() > ZERO_TIME);
        alerts.push(PostedAlert {
            labels,
            annotations: p.annotations,
            starts_at: set(p.starts_at),
            ends_at: set(p.ends_at),
            generator_url: p.generator_url,
        });
    }
    let inst = instance(&ams, &tenant)?;
    match inst.receive_alerts(alerts, Utc::now()).await {
        Ok(()) => Ok(StatusCode::OK.into_response()),
        Err(e @ ChangeError::Invalid(_)) => Err(error(StatusCode::BAD_REQUEST, e.to_string())),
        Err(e) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

/// Which alerts a listing shows.
struct Filter {
    active: bool,
    silenced: bool,
    inhibited: bool,
    matchers: Vec<crate::matchers::Matcher>,
    receiver: Option<regex::Regex>,
}

impl Filter {
    fn parse(q: &Query) -> Result<Filter, ApiError> {
        let receiver = match q.one("receiver") {
            Some(r) => Some(
                regex::Regex::new(&format!("^(?:{r})$"))
                    .map_err(|e| error(StatusCode::BAD_REQUEST, format!("failed to parse receiver param: {e}")))?,
            ),
            None => None,
        };
        Ok(Filter {
            active: q.flag("active", true)?,
            silenced: q.flag("silenced", true)?,
            inhibited: q.flag("inhibited", true)?,
            matchers: q.filter()?,
            receiver,
        })
    }
}

/// An alert in the API's `gettableAlert` shape, or None when the filter leaves it out;
/// `muted_by`: the time intervals muting its group, if shown in one.
fn gettable(
    inst: &Instance,
    a: &Alert,
    receivers: &[String],
    muted_by: &[String],
    f: &Filter,
    now: DateTime<Utc>,
) -> Option<Value> {
    if a.resolved_at(now) || !f.matchers.iter().all(|m| m.matches(&a.labels)) {
        return None;
    }
    if let Some(re) = &f.receiver {
        if !receivers.iter().any(|r| re.is_match(r)) {
            return None;
        }
    }
    let mut status = inst.status(a, now);
    // Each filter leaves out what it names: an alert silenced and inhibited is left out
    // by `inhibited=false` even with silenced ones asked for.
    if (!f.active && status.state() == "active")
        || (!f.silenced && !status.silenced_by.is_empty())
        || (!f.inhibited && !status.inhibited_by.is_empty())
    {
        return None;
    }
    status.muted_by = muted_by.to_vec();
    Some(json!({
        "annotations": a.annotations,
        "endsAt": api_time(a.ends_at),
        "fingerprint": a.fingerprint().to_string(),
        "receivers": receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
        "startsAt": api_time(a.starts_at),
        "status": {
            "inhibitedBy": status.inhibited_by,
            "silencedBy": status.silenced_by,
            "mutedBy": status.muted_by,
            "state": status.state(),
        },
        "updatedAt": api_time(a.updated_at),
        "generatorURL": a.generator_url,
        "labels": a.labels,
    }))
}

fn receivers_of(root: &Route, labels: &LabelSet) -> Vec<String> {
    let mut out: Vec<String> = root.matching(labels).iter().map(|r| r.receiver.clone()).collect();
    out.dedup();
    out
}

pub(super) async fn list(State(ams): State<Shared>, tenant: Tenant, RawQuery(q): RawQuery) -> ApiResult {
    let q = Query::parse(q.as_deref());
    let filter = Filter::parse(&q)?;
    let Some(inst) = existing(&ams, &tenant) else {
        return Ok(Json(Vec::<Value>::new()).into_response());
    };
    let now = Utc::now();
    let alerts: Vec<Alert> = inst.with_state(|st| st.alerts.values().cloned().collect());
    let root = inst.with_state(|st| st.dispatcher.root().clone());
    let out: Vec<Value> = alerts
        .iter()
        .filter_map(|a| gettable(&inst, a, &receivers_of(&root, &a.labels), &[], &filter, now))
        .collect();
    Ok(Json(out).into_response())
}

pub(super) async fn groups(State(ams): State<Shared>, tenant: Tenant, RawQuery(q): RawQuery) -> ApiResult {
    let q = Query::parse(q.as_deref());
    let filter = Filter::parse(&q)?;
    let with_muted = q.flag("muted", true)?;
    let Some(inst) = existing(&ams, &tenant) else {
        return Ok(Json(Vec::<Value>::new()).into_response());
    };
    let now = Utc::now();
    let groups: Vec<(LabelSet, String, Vec<String>, Vec<Alert>)> = inst.with_state(|st| {
        st.dispatcher
            .groups()
            .map(|(id, g)| {
                (
                    id.labels.clone(),
                    g.route.receiver.clone(),
                    g.route.muted_by(&st.config, now),
                    g.alerts.values().cloned().collect(),
                )
            })
            .collect()
    });
    let mut out = Vec::new();
    for (labels, receiver, muted_by, mut alerts) in groups {
        if let Some(re) = &filter.receiver {
            if !re.is_match(&receiver) {
                continue;
            }
        }
        if !with_muted && !muted_by.is_empty() {
            continue;
        }
        alerts.sort_by(crate::dispatch::alert_order);
        let receivers = std::slice::from_ref(&receiver);
        let shown: Vec<Value> = alerts
            .iter()
            .filter_map(|a| gettable(&inst, a, receivers, &muted_by, &filter, now))
            .collect();
        if shown.is_empty() {
            continue;
        }
        out.push(json!({"labels": labels, "receiver": {"name": receiver}, "alerts": shown}));
    }
    Ok(Json(out).into_response())
}
