//! The API as clients see it: a server on port 0, spoken to over HTTP.

use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use super::*;
use crate::config::Config;
use crate::tenants::testing::replicated;

async fn serve(ams: Shared) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, routes(ams)).await });
    format!("http://{addr}")
}

/// Status and body of a request for `tenant`.
async fn call(method: Method, url: &str, tenant: &str, body: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .request(method, url)
        .header(pyrite_model::TENANT_HEADER, tenant)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn get_json(url: &str, tenant: &str) -> Value {
    let (status, body) = call(Method::GET, url, tenant, "").await;
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn reads_for_a_new_tenant_answer_as_a_fresh_alertmanager_and_make_none() {
    let dir = tempfile::tempdir().unwrap();
    let (ams, records, _) = replicated(dir.path(), true).await;
    let base = serve(ams.clone()).await;
    let v2 = format!("{base}/alertmanager/api/v2");
    for path in ["/alerts", "/alerts/groups", "/silences"] {
        assert_eq!(get_json(&format!("{v2}{path}"), "new").await, json!([]), "{path}");
    }
    assert_eq!(get_json(&format!("{base}/api/v2/alerts"), "new").await, json!([]));
    assert_eq!(
        get_json(&format!("{v2}/receivers"), "new").await,
        json!([{"name": "empty"}])
    );
    let status = get_json(&format!("{v2}/status"), "new").await;
    assert_eq!(status["config"]["original"], json!(ams.config().to_yaml()));
    let (code, _) = call(Method::GET, &format!("{v2}/silence/nope"), "new", "").await;
    assert_eq!(code, 404);
    let (code, body) = call(Method::GET, &format!("{base}/api/v1/alerts"), "new", "").await;
    assert_eq!((code, body.as_str()), (404, "alertmanager storage object not found\n"));
    // Bad input is still refused as it would be.
    let (code, _) = call(Method::GET, &format!("{v2}/alerts?filter=%7B"), "new", "").await;
    assert_eq!(code, 400);
    let (code, _) = call(Method::GET, &format!("{v2}/alerts/groups?muted=maybe"), "new", "").await;
    assert_eq!(code, 400);

    assert!(ams.tenants().is_empty(), "no read made a tenant");
    assert_eq!(records.puts.load(Ordering::SeqCst), 0, "nor committed anything");

    // A write does.
    let (code, body) = call(
        Method::POST,
        &format!("{v2}/alerts"),
        "new",
        r#"[{"labels":{"a":"b"}}]"#,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(ams.tenants(), ["new"]);
    let record = records.record.lock().clone().unwrap();
    let committed: crate::state::Snapshot = serde_json::from_str(&record.value).unwrap();
    assert_eq!(committed.tenants.keys().collect::<Vec<_>>(), ["new"]);
    assert_eq!(
        get_json(&format!("{v2}/alerts"), "new").await.as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn writes_and_reads_each_name_one_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let (ams, _, _) = replicated(dir.path(), true).await;
    let base = serve(ams.clone()).await;
    let v2 = format!("{base}/api/v2");
    let several_writes = json!("multi-tenant writes are not supported").to_string();
    let several_reads = json!("queries across several tenants are not supported").to_string();
    for (method, url, refusal) in [
        (Method::POST, format!("{v2}/alerts"), &several_writes),
        (Method::POST, format!("{v2}/silences"), &several_writes),
        (Method::DELETE, format!("{v2}/silence/x"), &several_writes),
        (Method::POST, format!("{base}/api/v1/alerts"), &several_writes),
        (Method::DELETE, format!("{base}/api/v1/alerts"), &several_writes),
        (Method::GET, format!("{v2}/alerts"), &several_reads),
        (Method::GET, format!("{v2}/alerts/groups"), &several_reads),
        (Method::GET, format!("{v2}/silences"), &several_reads),
        (Method::GET, format!("{v2}/silence/x"), &several_reads),
        (Method::GET, format!("{v2}/receivers"), &several_reads),
        (Method::GET, format!("{v2}/status"), &several_reads),
        (Method::GET, format!("{base}/api/v1/alerts"), &several_reads),
    ] {
        let answer = call(method.clone(), &url, "a|b", "[]").await;
        assert_eq!(answer, (400, refusal.clone()), "{method} {url}");
    }
    assert!(ams.tenants().is_empty());
}

const MUTING: &str = r#"
route:
  receiver: x
  group_by: [alertname]
  routes:
    - {matchers: ['alertname="Muted"'], mute_time_intervals: [always, never]}
    - {matchers: ['alertname="Outside"'], active_time_intervals: [never]}
receivers: [{name: x}]
time_intervals:
  - {name: always, time_intervals: [{}]}
  - {name: never, time_intervals: [{years: ['1999']}]}
"#;

/// Each shown alert's name, state and `mutedBy`, in order.
fn statuses(alerts: &Value) -> Vec<(String, String, Value)> {
    alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap().to_string(),
                a["status"]["state"].as_str().unwrap().to_string(),
                a["status"]["mutedBy"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn groups_show_the_time_intervals_muting_them() {
    let dir = tempfile::tempdir().unwrap();
    let ams = Alertmanagers::new(
        Config::parse(MUTING).unwrap(),
        "http://am",
        "me",
        dir.path().into(),
        None,
    );
    let base = serve(ams.clone()).await;
    let v2 = format!("{base}/api/v2");
    let posted =
        r#"[{"labels":{"alertname":"Muted"}},{"labels":{"alertname":"Outside"}},{"labels":{"alertname":"Plain"}}]"#;
    assert_eq!(call(Method::POST, &format!("{v2}/alerts"), "t", posted).await.0, 200);

    let groups = get_json(&format!("{v2}/alerts/groups"), "t").await;
    let mut shown: Vec<_> = groups
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| statuses(&g["alerts"]))
        .collect();
    shown.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        shown,
        [
            ("Muted".into(), "suppressed".into(), json!(["always"])),
            ("Outside".into(), "suppressed".into(), json!(["never"])),
            ("Plain".into(), "active".into(), json!([])),
        ]
    );
    // `muted=false` leaves muted groups out.
    let unmuted = get_json(&format!("{v2}/alerts/groups?muted=false"), "t").await;
    let names: Vec<_> = unmuted
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| statuses(&g["alerts"]))
        .map(|s| s.0)
        .collect();
    assert_eq!(names, ["Plain"]);
    // The state filters look at silences and inhibitions only.
    assert_eq!(
        get_json(&format!("{v2}/alerts/groups?active=false"), "t").await,
        json!([])
    );

    // The list of alerts shows no group's muting.
    let mut listed = statuses(&get_json(&format!("{v2}/alerts"), "t").await);
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        listed
            .iter()
            .all(|(_, state, muted)| state == "active" && *muted == json!([])),
        "{listed:?}"
    );
    assert_eq!(listed.len(), 3);
}
