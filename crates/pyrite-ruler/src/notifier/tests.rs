use super::*;
use pyrite_model::Labels;
use std::collections::BTreeMap;

fn alert(name: &str) -> Notification {
    Notification {
        labels: Labels::from_pairs(&[("alertname", name)]),
        annotations: BTreeMap::from([("summary".to_string(), "s".to_string())]),
        starts_at: 1_500_000_000_000,
        ends_at: 1_500_000_240_000,
        resolved: false,
        generator_url: "http://pyrite:9009/graph?g0.expr=up&g0.tab=1".into(),
    }
}

fn notifier(yaml: &str, urls: &[&str], capacity: usize) -> (Arc<Notifier>, NotifierMetrics) {
    let m = NotifierMetrics::default();
    let file = config::parse(yaml).unwrap();
    let urls = urls.iter().map(|u| u.to_string()).collect();
    (
        Notifier::new(&file, urls, capacity, Path::new("."), m.clone()).unwrap(),
        m,
    )
}

#[test]
fn queues_in_order_drops_the_oldest_and_batches_by_tenant() {
    let (n, m) = notifier("", &["http://am:9093/"], 3);
    n.notify("a", vec![alert("1"), alert("2")]);
    n.notify("b", vec![alert("3"), alert("4")]);
    assert_eq!(
        (m.dropped.get(), m.queue_length.get(), m.queue_capacity.get()),
        (1, 3, 3)
    );
    let first = n.take_batch();
    assert_eq!(first.len(), 1, "the oldest was dropped, and a batch holds one tenant");
    let json = postable(&first[0].1);
    assert_eq!(json["labels"]["alertname"], "2");
    assert_eq!(json["startsAt"], "2017-07-14T02:40:00Z");
    assert_eq!(json["endsAt"], "2017-07-14T02:44:00Z");
    assert_eq!(json["generatorURL"], "http://pyrite:9009/graph?g0.expr=up&g0.tab=1");
    assert_eq!(n.take_batch().len(), 2);
    assert!(n.take_batch().is_empty());
    assert_eq!(m.queue_length.get(), 0);
}

#[test]
fn adds_external_labels_an_alert_lacks_then_relabels() {
    let (n, _) = notifier(
        r#"
global: {external_labels: {cluster: eu1, alertname: never}}
alerting:
  alert_relabel_configs:
    - {source_labels: [alertname], regex: quiet, action: drop}
    - {target_label: team, replacement: ops}
  alertmanagers: [{static_configs: [{targets: ["am:9093"]}]}]
"#,
        &[],
        10,
    );
    n.notify("t", vec![alert("loud"), alert("quiet")]);
    let batch = n.take_batch();
    assert_eq!(batch.len(), 1);
    assert_eq!(
        batch[0].1.labels,
        Labels::from_pairs(&[("alertname", "loud"), ("cluster", "eu1"), ("team", "ops")])
    );
}

#[test]
fn without_alertmanagers_nothing_is_queued() {
    let (n, m) = notifier("global: {external_labels: {a: b}}", &[], 10);
    n.notify("t", vec![alert("1")]);
    assert!(n.take_batch().is_empty());
    assert_eq!(m.queue_length.get(), 0);
}

#[test]
fn generator_url_is_the_graph_page_of_the_expression() {
    assert_eq!(
        generator_url("http://pyrite:9009/", r#"up{job="a b"} == 0"#),
        "http://pyrite:9009/graph?g0.expr=up%7Bjob%3D%22a+b%22%7D+%3D%3D+0&g0.tab=1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_what_each_alertmanager_took_and_refused() {
    let app = axum::Router::new()
        .route("/ok/api/v2/alerts", axum::routing::post(|| async { "" }))
        .route(
            "/bad/api/v2/alerts",
            axum::routing::post(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (ok, bad) = (format!("http://{addr}/ok"), format!("http://{addr}/bad"));
    let (n, m) = notifier(
        "alerting: {alertmanagers: [{path_prefix: /ok, alert_relabel_configs: [{source_labels: [alertname], regex: '2', action: drop}], static_configs: [{targets: [\"ADDR\"]}]}]}"
            .replace("ADDR", &addr.to_string())
            .as_str(),
        &[&bad],
        10,
    );
    // Queued before the Alertmanagers are found: sent once they are.
    n.notify("t", vec![alert("0")]);
    tokio::spawn(n.clone().run());
    n.notify("t", vec![alert("1"), alert("2")]);
    let sent = |u: &str| {
        m.sent
            .get_or_create(&vec![("alertmanager".to_string(), format!("{u}/api/v2/alerts"))])
            .get()
    };
    let errors = |u: &str| {
        m.errors
            .get_or_create(&vec![("alertmanager".to_string(), format!("{u}/api/v2/alerts"))])
            .get()
    };
    for _ in 0..500 {
        if sent(&ok) + sent(&bad) == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!((sent(&ok), errors(&ok)), (2, 0), "the set's relabeling dropped one");
    assert_eq!((sent(&bad), errors(&bad)), (3, 3));
    assert_eq!(m.dropped.get(), 0, "one Alertmanager took them");
    assert_eq!(m.alertmanagers_discovered.get(), 2);
}

#[test]
fn a_new_file_keeps_the_queue_and_applies_to_alerts_notified_after() {
    let (n, m) = notifier(
        r#"
global: {external_labels: {cluster: eu1}}
alerting: {alertmanagers: [{static_configs: [{targets: ["old:9093"]}]}]}
"#,
        &[],
        10,
    );
    n.notify("t", vec![alert("before")]);
    let broken = config::parse("alerting: {alertmanagers: [{tls_config: {ca_file: /nonexistent/ca.pem}}]}").unwrap();
    assert!(n.apply(&broken, Path::new(".")).is_err());
    assert_eq!(n.external_labels(), Labels::from_pairs(&[("cluster", "eu1")]), "kept");
    let new = config::parse(
        r#"
global: {external_labels: {cluster: eu2}}
alerting:
  alert_relabel_configs: [{target_label: team, replacement: ops}]
  alertmanagers: [{static_configs: [{targets: ["new:9093"]}]}]
"#,
    )
    .unwrap();
    n.apply(&new, Path::new(".")).unwrap();
    assert_eq!(n.external_labels(), Labels::from_pairs(&[("cluster", "eu2")]));
    n.notify("t", vec![alert("after")]);
    assert_eq!(m.queue_length.get(), 2);
    let labels: Vec<Labels> = n.take_batch().into_iter().map(|(_, a)| a.labels).collect();
    assert_eq!(
        labels,
        vec![
            Labels::from_pairs(&[("alertname", "before"), ("cluster", "eu1")]),
            Labels::from_pairs(&[("alertname", "after"), ("cluster", "eu2"), ("team", "ops")]),
        ],
        "the queued alert stays as it was queued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_new_file_alerts_go_to_its_alertmanagers_only() {
    type Seen = Arc<Mutex<Vec<Json>>>;
    let (old, new): (Seen, Seen) = Default::default();
    let record = |seen: &Seen| {
        let seen = seen.clone();
        axum::routing::post(move |axum::Json(body): axum::Json<Vec<Json>>| async move {
            seen.lock().extend(body);
            ""
        })
    };
    let app = axum::Router::new()
        .route("/old/api/v2/alerts", record(&old))
        .route("/new/api/v2/alerts", record(&new));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let file = |prefix: &str, cluster: &str| {
        format!(
            "global: {{external_labels: {{cluster: {cluster}}}}}\n\
             alerting: {{alertmanagers: [{{path_prefix: /{prefix}, static_configs: [{{targets: [\"{addr}\"]}}]}}]}}"
        )
    };
    let (n, m) = notifier(&file("old", "eu1"), &[], 10);
    tokio::spawn(n.clone().run());
    let wait = |seen: &Seen, len: usize| {
        let seen = seen.clone();
        async move {
            for _ in 0..500 {
                if seen.lock().len() >= len {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            seen.lock().clone()
        }
    };
    n.notify("t", vec![alert("1")]);
    let got = wait(&old, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["labels"], json!({"alertname": "1", "cluster": "eu1"}));

    n.apply(&config::parse(&file("new", "eu2")).unwrap(), Path::new("."))
        .unwrap();
    n.notify("t", vec![alert("2")]);
    let got = wait(&new, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["labels"], json!({"alertname": "2", "cluster": "eu2"}));
    assert_eq!(old.lock().len(), 1, "the old set is no longer sent to");
    assert_eq!(m.alertmanagers_discovered.get(), 1);
    assert_eq!(m.dropped.get(), 0);

    // A file taken before `run` starts is the one discovered.
    let (n, _) = notifier(&file("old", "eu1"), &[], 10);
    n.apply(&config::parse(&file("new", "eu3")).unwrap(), Path::new("."))
        .unwrap();
    tokio::spawn(n.clone().run());
    n.notify("t", vec![alert("3")]);
    let got = wait(&new, 2).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[1]["labels"], json!({"alertname": "3", "cluster": "eu3"}));
    assert_eq!(old.lock().len(), 1);
}
