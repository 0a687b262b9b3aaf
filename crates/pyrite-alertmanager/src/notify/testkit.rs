//! For the integrations' tests: a local HTTP server on 127.0.0.1 that records every
//! request (method, path with query, headers, body) and answers each with the status
//! and body it was told to, a fixed notification (context and alerts) to send, and
//! the steps most tests share (sending it, provoking a failure, checking its class).
//!
//! The invariant: requests are recorded in the order they arrived, and the recorder
//! lives until it is dropped (its server task is aborted then).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Router;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use super::template::Templates;
use super::{Context, Integration, NotifyError};
use crate::model::{Alert, LabelSet};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The path and query, e.g. `/v2/alerts/abc/close?identifierType=alias`.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    /// The status, content type and body of the answer.
    answer: Mutex<(u16, &'static str, String)>,
}

pub struct Recorder {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    shared.requests.lock().push(Recorded {
        method: method.to_string(),
        path: uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        headers,
        body: body.to_vec(),
    });
    let (status, content_type, body) = shared.answer.lock().clone();
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", content_type)],
        body,
    )
}

impl Recorder {
    /// A server answering `200 ok` (as text) until told otherwise.
    pub async fn start() -> Recorder {
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            answer: Mutex::new((200, "text/plain", "ok".into())),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(record).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Recorder { url, shared, task }
    }

    /// Answers every later request with `status` and `body` of `content_type`.
    pub fn answer(&self, status: u16, content_type: &'static str, body: &str) {
        *self.shared.answer.lock() = (status, content_type, body.to_string());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().clone()
    }

    /// The only request received.
    pub fn single(&self) -> Recorded {
        let r = self.requests();
        assert_eq!(r.len(), 1, "{r:?}");
        r[0].clone()
    }

    pub fn clear(&self) {
        self.shared.requests.lock().clear();
    }
}

fn set(pairs: &[(&str, &str)]) -> LabelSet {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// 2024-01-02T03:04:05Z.
pub const NOW: i64 = 1_704_164_645;
pub const GROUP_KEY: &str = "{}:{alertname=\"Down\"}";
/// The SHA-256 of [`GROUP_KEY`], in hex.
pub const GROUP_KEY_HASH: &str = "af94c9e8f6a3043625e36c6f472fe6be85ac23a9117184ee4cb7b4ad7401a47e";

pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).unwrap_or_default()
}

pub fn context() -> Context {
    Context {
        group_key: GROUP_KEY.into(),
        receiver: "ops".into(),
        group_labels: set(&[("alertname", "Down")]),
        external_url: "http://am.example".into(),
        idempotency_key: "idem-1".into(),
        now: now(),
    }
}

/// An alert of the group `alertname=Down`, on `instance`, firing unless `resolved`.
pub fn alert(instance: &str, resolved: bool) -> Alert {
    let t = now();
    Alert {
        labels: set(&[("alertname", "Down"), ("instance", instance), ("severity", "page")]),
        annotations: set(&[("summary", "Instance down")]),
        starts_at: t - chrono::Duration::minutes(10),
        ends_at: if resolved {
            t - chrono::Duration::minutes(1)
        } else {
            t + chrono::Duration::minutes(5)
        },
        generator_url: "http://prom/graph".into(),
        updated_at: t,
        timeout: false,
    }
}

/// Sends `alerts` by `i` with the fixed [`context`].
pub async fn notify(i: &dyn Integration, alerts: &[Alert]) -> Result<(), NotifyError> {
    i.notify(&context(), alerts).await
}

/// Sends one alert on `a:1` (firing unless `resolved`) by `i`, which must succeed.
pub async fn send_one(i: &dyn Integration, resolved: bool) {
    notify(i, &[alert("a:1", resolved)]).await.unwrap();
}

/// Has `server` answer `status` with `body` of `content_type`, sends `alerts` by `i`,
/// and gives the failure, which there must be.
pub async fn fail_with(
    server: &Recorder,
    i: &dyn Integration,
    alerts: &[Alert],
    (status, content_type, body): (u16, &'static str, &str),
) -> NotifyError {
    server.answer(status, content_type, body);
    notify(i, alerts).await.unwrap_err()
}

/// Asserts that `e` is retryable exactly when `retry` and names none of `secrets`.
#[track_caller]
pub fn assert_failure(e: &NotifyError, retry: bool, secrets: &[&str]) {
    assert_eq!(e.retry, retry, "{}", e.message);
    for s in secrets {
        assert!(!e.message.contains(s), "{s:?} in {}", e.message);
    }
}

pub fn templates() -> Arc<Templates> {
    Arc::new(Templates::defaults())
}

/// `[FIRING:n] Down (page)`-style subject of the fixed notification.
pub fn subject(firing: usize) -> String {
    if firing == 0 {
        "[RESOLVED] Down (page)".into()
    } else {
        format!("[FIRING:{firing}] Down (page)")
    }
}

pub const AM_URL: &str = "http://am.example/#/alerts?receiver=ops";

/// The plain alert list of the default templates for `alert(instance, _)`.
pub fn text_list(instance: &str) -> String {
    format!(
        "Labels:\n - alertname = Down\n - instance = {instance}\n - severity = page\n\
         Annotations:\n - summary = Instance down\nSource: http://prom/graph\n"
    )
}
