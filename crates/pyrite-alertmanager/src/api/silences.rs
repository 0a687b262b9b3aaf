//! `/silences` (GET, POST) and `/silence/{id}` (GET, DELETE).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use pyrite_tenant::Tenant;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{api_time, error, existing, forward, instance, ApiResult, Query, Shared};
use crate::instance::ChangeError;
use crate::matchers::{MatchOp, Matcher, Matchers};
use crate::silence::{Silence, SilenceError, SilenceState};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiMatcher {
    name: String,
    value: String,
    is_regex: bool,
    #[serde(default = "yes")]
    is_equal: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Postable {
    #[serde(default)]
    id: String,
    matchers: Vec<ApiMatcher>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    created_by: String,
    comment: String,
}

fn gettable(s: &Silence, now: DateTime<Utc>) -> Value {
    json!({
        "id": s.id,
        "status": {"state": s.state(now).as_str()},
        "updatedAt": api_time(s.updated_at),
        "comment": s.comment,
        "createdBy": s.created_by,
        "endsAt": api_time(s.ends_at),
        "matchers": s.matchers.iter().map(|m| json!({
            "isEqual": m.op.is_equal(),
            "isRegex": m.op.is_regex(),
            "name": m.name,
            "value": m.value,
        })).collect::<Vec<_>>(),
        "startsAt": api_time(s.starts_at),
    })
}

pub(super) async fn list(State(ams): State<Shared>, tenant: Tenant, RawQuery(q): RawQuery) -> ApiResult {
    let filter = Query::parse(q.as_deref()).filter()?;
    let now = Utc::now();
    let mut silences: Vec<Silence> = match existing(&ams, &tenant) {
        Some(inst) => inst.with_state(|st| st.silences.iter().cloned().collect()),
        None => Vec::new(),
    };
    // A filter matches a silence whose equality matchers, read as labels, satisfy it.
    silences.retain(|s| {
        let labels = s.matchers.iter().map(|m| (m.name.clone(), m.value.clone())).collect();
        filter.iter().all(|f| f.matches(&labels))
    });
    // Active first (soonest end first), then pending (soonest start), then expired
    // (latest end first), as Alertmanager lists them.
    silences.sort_by_key(|s| match s.state(now) {
        SilenceState::Active => (0, s.ends_at.timestamp_millis()),
        SilenceState::Pending => (1, s.starts_at.timestamp_millis()),
        SilenceState::Expired => (2, -s.ends_at.timestamp_millis()),
    });
    Ok(Json(silences.iter().map(|s| gettable(s, now)).collect::<Vec<_>>()).into_response())
}

pub(super) async fn post(State(ams): State<Shared>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> ApiResult {
    if let Some(answer) = forward(
        &ams,
        &headers,
        &tenant,
        Method::POST,
        "/alertmanager/api/v2/silences",
        body.clone(),
    )
    .await
    {
        return answer;
    }
    let p: Postable = serde_json::from_slice(&body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("parsing silence body: {e}")))?;
    let mut matchers = Vec::with_capacity(p.matchers.len());
    for m in p.matchers {
        match Matcher::new(m.name, MatchOp::from_flags(m.is_regex, m.is_equal), m.value) {
            Ok(m) => matchers.push(m),
            Err(e) => return Err(error(StatusCode::BAD_REQUEST, e.to_string())),
        }
    }
    let silence = Silence {
        id: p.id,
        matchers: Matchers(matchers),
        starts_at: p.starts_at,
        ends_at: p.ends_at,
        updated_at: Utc::now(),
        created_by: p.created_by,
        comment: p.comment,
    };
    let inst = instance(&ams, &tenant)?;
    match inst.set_silence(silence, Utc::now()).await {
        Ok(id) => Ok(Json(json!({"silenceID": id})).into_response()),
        Err(e @ ChangeError::Silence(SilenceError::NotFound(_))) => Err(error(StatusCode::NOT_FOUND, e.to_string())),
        Err(e @ ChangeError::Save(_)) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        Err(e) => Err(error(StatusCode::BAD_REQUEST, e.to_string())),
    }
}

pub(super) async fn get_one(State(ams): State<Shared>, tenant: Tenant, Path(id): Path<String>) -> ApiResult {
    let silence = existing(&ams, &tenant).and_then(|inst| inst.with_state(|st| st.silences.get(&id).cloned()));
    match silence {
        Some(s) => Ok(Json(gettable(&s, Utc::now())).into_response()),
        None => Ok(StatusCode::NOT_FOUND.into_response()),
    }
}

pub(super) async fn delete(
    State(ams): State<Shared>,
    tenant: Tenant,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let path = format!(
        "/alertmanager/api/v2/silence/{}",
        url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
    );
    if let Some(answer) = forward(&ams, &headers, &tenant, Method::DELETE, &path, Bytes::new()).await {
        return answer;
    }
    let inst = instance(&ams, &tenant)?;
    match inst.expire_silence(&id, Utc::now()).await {
        Ok(()) => Ok(StatusCode::OK.into_response()),
        Err(ChangeError::Silence(SilenceError::NotFound(_))) => Ok(StatusCode::NOT_FOUND.into_response()),
        Err(e @ ChangeError::Save(_)) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}
