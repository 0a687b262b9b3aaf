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
