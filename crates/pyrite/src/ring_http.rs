//! The ring over HTTP, served by every process: `GET /ring` (JSON, or `?format=html` as
//! a page; on an ingester with the leaders of its local shards) is open, and
//! `POST /ring/changes` commits an operator's ring change behind the admin token.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pyrite_client::ShardClient;
use pyrite_ingester::ShardHost;
use pyrite_ring::change::RingChange;
use pyrite_template::html_escape;
use serde::Deserialize;

use crate::admin::{require_admin, AdminToken};

/// `GET /ring` is open (read-only); `POST /ring/changes` needs the admin token.
pub fn routes(client: ShardClient, host: Option<Arc<ShardHost>>, admin: AdminToken) -> Router {
    let state = RingState { client, host };
    let changes = post(change_ring).layer(axum::middleware::from_fn_with_state(admin, require_admin));
    Router::new()
        .route("/ring", get(ring_page))
        .route("/ring/changes", changes)
        .with_state(state)
}

#[derive(Clone)]
struct RingState {
    client: ShardClient,
    host: Option<Arc<ShardHost>>,
}

/// `POST /ring/changes` (behind the admin token): commits a ring change given as JSON,
/// e.g. `{"op": "set_replicas", "shard": 0, "replicas": [2, 3, 4]}`,
/// `{"op": "add_shard", "replicas": [4, 1, 2]}` or
/// `{"op": "set_metadata_voters", "ingesters": [3, 4, 5]}`; answers the new ring. A
/// change the ring refuses (it could lose data, see `pyrite_ring::change`) is 400.
async fn change_ring(State(s): State<RingState>, body: axum::body::Bytes) -> Response {
    let change: RingChange = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("invalid ring change: {e}\n")).into_response(),
    };
    if !change.is_operator_change() {
        return (
            StatusCode::BAD_REQUEST,
            "bootstrap, settled, drained and metadata_settled are the cluster's own changes\n",
        )
            .into_response();
    }
    match s.client.change_ring(&change).await {
        Ok(desc) => Json(desc).into_response(),
        Err(e) if e.code() == tonic::Code::InvalidArgument => {
            (StatusCode::BAD_REQUEST, format!("{}\n", e.message())).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{}\n", e.message())).into_response(),
    }
}

#[derive(Deserialize)]
struct RingQuery {
    format: Option<String>,
}

/// `GET /ring`: the ring as JSON, or `?format=html` as a page; on an ingester also the
/// leader of each local shard as this node sees it.
async fn ring_page(State(s): State<RingState>, Query(q): Query<RingQuery>) -> Response {
    let desc = s.client.ring().read().desc().clone();
    let mut leaders = Vec::new();
    if let Some(host) = &s.host {
        leaders = host.leaders();
    }
    if q.format.as_deref() == Some("html") {
        let mut html = String::from("<!doctype html><title>Pyrite ring</title><h1>Ring</h1>");
        html.push_str(&format!(
            "<p>version {}, {} tokens per shard</p>",
            desc.version, desc.tokens_per_shard
        ));
        html.push_str(&format!(
            "<p>metadata group: {:?} (leaving: {:?})</p>",
            desc.meta, desc.meta_leaving
        ));
        html.push_str(
            "<table border=1><tr><th>shard</th><th>replicas</th><th>leaving</th><th>state</th><th>leader (as seen here)</th></tr>",
        );
        for shard in desc.shards.values() {
            let replicas: Vec<String> = shard
                .replicas
                .iter()
                .map(|id| {
                    let addr = desc.ingesters.get(id).map_or("?", |i| i.addr.as_str());
                    format!("{id} ({})", html_escape(addr))
                })
                .collect();
            let leader = leaders
                .iter()
                .find(|(s, _)| *s == shard.id)
                .map_or("-".to_string(), |(_, l)| l.map_or("none".into(), |l| l.to_string()));
            let state = match (shard.draining, shard.drained) {
                (_, true) => "drained",
                (true, false) => "draining",
                _ => "serving",
            };
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td></tr>",
                shard.id,
                replicas.join(", "),
                shard.leaving,
                state,
                leader
            ));
        }
        html.push_str("</table>");
        return Html(html).into_response();
    }
    let leaders: Vec<serde_json::Value> = leaders
        .into_iter()
        .map(|(shard, leader)| serde_json::json!({"shard": shard, "leader": leader}))
        .collect();
    Json(serde_json::json!({"ring": desc, "local_leaders": leaders})).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{header, Request};
    use parking_lot::RwLock;
    use pyrite_client::Channels;
    use pyrite_ring::Ring;
    use tower::ServiceExt;

    use super::*;

    fn routes(admin: AdminToken) -> Router {
        let desc = pyrite_ring::RingDesc::even(
            vec![pyrite_ring::Ingester {
                id: 1,
                addr: "127.0.0.1:1".into(),
            }],
            1,
            1,
        );
        let ring = Arc::new(RwLock::new(Ring::new(desc).unwrap()));
        let client = ShardClient::new(ring, Channels::default());
        super::routes(client, None, admin)
    }

    async fn post(admin: &AdminToken, auth: Option<&str>, body: &str) -> (StatusCode, String, Option<String>) {
        let mut req = Request::post("/ring/changes");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let resp = routes(admin.clone())
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let challenge = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_string());
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned(), challenge)
    }

    /// A change the handler refuses itself: reaching it means the credential passed.
    const OWN: &str = r#"{"op":"settled","shard":0,"replicas":[1]}"#;

    #[tokio::test]
    async fn ring_changes_need_the_admin_token() {
        let none = AdminToken::default();
        let (status, body, _) = post(&none, Some("Bearer anything"), OWN).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "no token configured: nothing passes");
        assert!(body.contains("--cluster.admin-token-file"), "{body}");

        let admin = AdminToken::new("s3cr3t").unwrap();
        let (status, _, challenge) = post(&admin, None, OWN).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge.as_deref(), Some("Bearer realm=\"pyrite\""));
        for missing in ["Basic czNjcjN0", "Bearer ", "s3cr3t"] {
            let (status, _, _) = post(&admin, Some(missing), OWN).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "no bearer credential: {missing}");
        }
        for wrong in [
            "Bearer s3cr3",
            "Bearer s3cr3t2",
            "Bearer S3CR3T",
            "Bearer s3cr3t s3cr3t",
        ] {
            let (status, body, _) = post(&admin, Some(wrong), OWN).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{wrong}");
            assert!(!body.contains("s3cr3t"), "the answer never shows the token");
        }
        let (status, body, _) = post(&admin, Some("Bearer s3cr3t"), OWN).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "past the check, the handler answers: {body}"
        );
        assert!(body.contains("the cluster's own changes"), "{body}");
        let (status, _, _) = post(&admin, Some("bearer s3cr3t"), "nonsense").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn the_ring_stays_readable_without_a_token() {
        for admin in [AdminToken::default(), AdminToken::new("s3cr3t").unwrap()] {
            let resp = routes(admin)
                .oneshot(Request::get("/ring").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
        }
    }
}
