//! Replays of the documented Kubernetes API: list bodies and watch streams recorded as
//! an API server sends them (`testdata/kubernetes/`), served on 127.0.0.1 by a small
//! axum server whose watch streams the test extends event by event.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, Uri};
use axum::response::Response;
use tokio::sync::{mpsc, Notify};

use super::*;
use crate::{LabelSet, TargetGroup};

#[derive(Default)]
struct Api {
    /// Path → list body.
    lists: HashMap<String, String>,
    /// Path → open watch streams.
    watches: HashMap<String, Vec<mpsc::UnboundedSender<String>>>,
    /// Every request's path and query.
    requests: Vec<String>,
}

#[derive(Clone, Default)]
struct Server {
    api: Arc<Mutex<Api>>,
    watch_opened: Arc<Notify>,
}

const EMPTY_LIST: &str = r#"{"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}"#;

fn testdata(name: &str) -> String {
    let path = format!("{}/testdata/kubernetes/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn answer(State(s): State<Server>, uri: Uri) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let mut api = s.api.lock().unwrap();
    api.requests.push(format!("{path}?{query}"));
    let body = if query.split('&').any(|p| p == "watch=true") {
        let (tx, rx) = mpsc::unbounded_channel::<String>();
        api.watches.entry(path).or_default().push(tx);
        s.watch_opened.notify_waiters();
        let events = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|line| (Ok::<_, Infallible>(format!("{line}\n")), rx))
        });
        Body::from_stream(events)
    } else {
        Body::from(api.lists.get(&path).cloned().unwrap_or_else(|| EMPTY_LIST.to_string()))
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap()
}

impl Server {
    /// Serves `lists` (API path → testdata file) and returns the server's URL.
    async fn start(lists: &[(&str, &str)]) -> (Server, String) {
        let s = Server::default();
        for (path, file) in lists {
            s.api.lock().unwrap().lists.insert(path.to_string(), testdata(file));
        }
        let app = axum::Router::new().fallback(answer).with_state(s.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (s, url)
    }

    /// Waits until a watch on `path` is open, then sends each line of a testdata file.
    async fn send(&self, path: &str, file: &str) {
        loop {
            let opened = self.watch_opened.notified();
            if self.api.lock().unwrap().watches.contains_key(path) {
                break;
            }
            tokio::time::timeout(Duration::from_secs(10), opened)
                .await
                .expect("no watch opened");
        }
        let text = testdata(file);
        let mut api = self.api.lock().unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            for tx in api.watches.get_mut(path).into_iter().flatten() {
                let _ = tx.send(line.to_string());
            }
        }
    }

    fn requests(&self) -> Vec<String> {
        self.api.lock().unwrap().requests.clone()
    }
}

/// Starts a discoverer for `yaml` (with `api_server` set to the server).
async fn discover(url: &str, yaml: &str) -> (mpsc::Receiver<Vec<TargetGroup>>, tokio::task::JoinHandle<()>) {
    let cfg: KubernetesSdConfig = serde_yaml::from_str(&format!("api_server: {url}\n{yaml}")).unwrap();
    let d = cfg.discoverer(&Env::default()).unwrap();
    let (tx, rx) = mpsc::channel(16);
    (rx, tokio::spawn(d.run(tx)))
}

async fn next(rx: &mut mpsc::Receiver<Vec<TargetGroup>>) -> BTreeMap<String, TargetGroup> {
    let groups = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("no update in time")
        .expect("discoverer stopped");
    groups.into_iter().map(|g| (g.source.clone(), g)).collect()
}

fn ls(pairs: &[(&str, &str)]) -> LabelSet {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn pods_one_target_per_port_then_modified_and_deleted() {
    let (server, url) = Server::start(&[("/api/v1/namespaces/default/pods", "pods-list.json")]).await;
    let (mut rx, task) = discover(&url, "role: pod\nnamespaces: {names: [default]}\n").await;
    let first = next(&mut rx).await;
    assert_eq!(first.len(), 2, "{first:?}");
    let g = &first["pod/default/web-0"];
    let pod = ls(&[
        ("__meta_kubernetes_namespace", "default"),
        ("__meta_kubernetes_pod_name", "web-0"),
        ("__meta_kubernetes_pod_ip", "10.244.1.7"),
        ("__meta_kubernetes_pod_ready", "true"),
        ("__meta_kubernetes_pod_phase", "Running"),
        ("__meta_kubernetes_pod_node_name", "node-a"),
        ("__meta_kubernetes_pod_host_ip", "192.168.1.10"),
        ("__meta_kubernetes_pod_uid", "6b0a3c2e-1111-4c1e-9e2a-000000000001"),
        ("__meta_kubernetes_pod_label_app_kubernetes_io_name", "web"),
        ("__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name", "true"),
        ("__meta_kubernetes_pod_annotation_prometheus_io_scrape", "true"),
        ("__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape", "true"),
        ("__meta_kubernetes_pod_controller_kind", "StatefulSet"),
        ("__meta_kubernetes_pod_controller_name", "web"),
    ]);
    assert_eq!(g.labels, pod);
    let container = |addr: &str, port: Option<(&str, &str)>| {
        let mut t = ls(&[
            ("__address__", addr),
            ("__meta_kubernetes_pod_container_name", "web"),
            ("__meta_kubernetes_pod_container_id", "containerd://abc123"),
            ("__meta_kubernetes_pod_container_image", "nginx:1.27"),
            ("__meta_kubernetes_pod_container_init", "false"),
        ]);
        if let Some((number, name)) = port {
            t.extend(ls(&[
                ("__meta_kubernetes_pod_container_port_number", number),
                ("__meta_kubernetes_pod_container_port_name", name),
                ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
            ]));
        }
        t
    };
    let init = ls(&[
        ("__address__", "10.244.1.7"),
        ("__meta_kubernetes_pod_container_name", "setup"),
        ("__meta_kubernetes_pod_container_id", "containerd://init999"),
        ("__meta_kubernetes_pod_container_image", "busybox:1.36"),
        ("__meta_kubernetes_pod_container_init", "true"),
    ]);
    assert_eq!(
        g.targets,
        vec![
            container("10.244.1.7:8080", Some(("8080", "http"))),
            container("10.244.1.7:9090", Some(("9090", "metrics"))),
            init
        ]
    );
    // Pending, no IP: a group with nothing in it.
    assert!(first["pod/default/pending-0"].targets.is_empty());

    // The test sends a MODIFIED (now not ready) and a DELETED while the discoverer waits.
    server.send("/api/v1/namespaces/default/pods", "pods-watch.jsonl").await;
    let mut seen = BTreeMap::new();
    while seen.len() < 2 {
        seen.extend(next(&mut rx).await);
    }
    assert_eq!(seen["pod/default/web-0"].labels["__meta_kubernetes_pod_ready"], "false");
    assert_eq!(
        seen["pod/default/pending-0"],
        TargetGroup {
            source: "pod/default/pending-0".into(),
            ..Default::default()
        }
    );
    task.abort();
}

#[tokio::test]
async fn label_selector_and_namespaces_reach_the_api_server() {
    let (server, url) = Server::start(&[("/api/v1/namespaces/default/pods", "pods-list.json")]).await;
    let yaml = "role: pod\nnamespaces: {names: [default, monitoring]}\nselectors: [{role: pod, label: 'app=web', field: 'status.phase=Running'}]\n";
    let (mut rx, task) = discover(&url, yaml).await;
    let first = next(&mut rx).await;
    assert_eq!(first.len(), 2);
    let requests = server.requests();
    for ns in ["default", "monitoring"] {
        let r = requests
            .iter()
            .find(|r| r.starts_with(&format!("/api/v1/namespaces/{ns}/pods?")))
            .expect(ns);
        assert!(r.contains("labelSelector=app%3Dweb"), "{r}");
        assert!(r.contains("fieldSelector=status.phase%3DRunning"), "{r}");
    }
    assert!(
        requests.iter().all(|r| r.starts_with("/api/v1/namespaces/")),
        "{requests:?}"
    );
    task.abort();
}

#[tokio::test]
async fn nodes_at_the_kubelet_port_of_their_internal_ip() {
    let (server, url) = Server::start(&[("/api/v1/nodes", "nodes-list.json")]).await;
    let (mut rx, task) = discover(&url, "role: node\n").await;
    let first = next(&mut rx).await;
    let g = &first["node/node-a"];
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_node_name", "node-a"),
            ("__meta_kubernetes_node_provider_id", "aws:///eu-west-1a/i-0abc"),
            ("__meta_kubernetes_node_condition_ready", "true"),
            ("__meta_kubernetes_node_condition_memorypressure", "false"),
            ("__meta_kubernetes_node_label_kubernetes_io_hostname", "node-a"),
            ("__meta_kubernetes_node_labelpresent_kubernetes_io_hostname", "true"),
            ("__meta_kubernetes_node_annotation_node_alpha_kubernetes_io_ttl", "0"),
            (
                "__meta_kubernetes_node_annotationpresent_node_alpha_kubernetes_io_ttl",
                "true"
            ),
        ])
    );
    assert_eq!(
        g.targets,
        vec![ls(&[
            ("__address__", "192.168.1.10:10250"),
            ("instance", "node-a"),
            ("__meta_kubernetes_node_address_InternalIP", "192.168.1.10"),
            ("__meta_kubernetes_node_address_Hostname", "node-a"),
        ])]
    );
    server.send("/api/v1/nodes", "nodes-watch.jsonl").await;
    let gone = next(&mut rx).await;
    assert!(gone["node/node-a"].targets.is_empty() && gone["node/node-a"].labels.is_empty());
    task.abort();
}

#[tokio::test]
async fn services_one_target_per_port() {
    let (_server, url) = Server::start(&[("/api/v1/services", "services-list.json")]).await;
    let (mut rx, task) = discover(&url, "role: service\n").await;
    let first = next(&mut rx).await;
    let g = &first["svc/default/web"];
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_service_name", "web"),
            ("__meta_kubernetes_service_label_app", "web"),
            ("__meta_kubernetes_service_labelpresent_app", "true"),
        ])
    );
    let port = |n: &str, name: &str| {
        ls(&[
            ("__address__", &format!("web.default.svc:{n}")),
            ("__meta_kubernetes_service_port_name", name),
            ("__meta_kubernetes_service_port_number", n),
            ("__meta_kubernetes_service_port_protocol", "TCP"),
            ("__meta_kubernetes_service_type", "LoadBalancer"),
            ("__meta_kubernetes_service_cluster_ip", "10.96.0.20"),
            ("__meta_kubernetes_service_loadbalancer_ip", "203.0.113.5,203.0.113.6"),
        ])
    };
    assert_eq!(g.targets, vec![port("80", "http"), port("9090", "metrics")]);
    let ext = &first["svc/default/db"].targets[0];
    assert_eq!(ext["__meta_kubernetes_service_external_name"], "db.example.com");
    assert!(!ext.contains_key("__meta_kubernetes_service_cluster_ip"));
    task.abort();
}

/// Pod `web-0` as the endpoints and endpointslice roles label it.
fn web_0_labels() -> LabelSet {
    ls(&[
        ("__meta_kubernetes_pod_name", "web-0"),
        ("__meta_kubernetes_pod_ip", "10.244.1.7"),
        ("__meta_kubernetes_pod_ready", "true"),
        ("__meta_kubernetes_pod_phase", "Running"),
        ("__meta_kubernetes_pod_node_name", "node-a"),
        ("__meta_kubernetes_pod_host_ip", "192.168.1.10"),
        ("__meta_kubernetes_pod_uid", "6b0a3c2e-1111-4c1e-9e2a-000000000001"),
        ("__meta_kubernetes_pod_label_app_kubernetes_io_name", "web"),
        ("__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name", "true"),
        ("__meta_kubernetes_pod_annotation_prometheus_io_scrape", "true"),
        ("__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape", "true"),
        ("__meta_kubernetes_pod_controller_kind", "StatefulSet"),
        ("__meta_kubernetes_pod_controller_name", "web"),
    ])
}

fn service_group_labels() -> LabelSet {
    ls(&[
        ("__meta_kubernetes_namespace", "default"),
        ("__meta_kubernetes_service_name", "web"),
        ("__meta_kubernetes_service_label_app", "web"),
        ("__meta_kubernetes_service_labelpresent_app", "true"),
    ])
}

/// The target for web-0's port 9090, which no endpoint port covers.
fn web_0_metrics_port() -> LabelSet {
    let mut t = web_0_labels();
    t.extend(ls(&[
        ("__address__", "10.244.1.7:9090"),
        ("__meta_kubernetes_pod_container_name", "web"),
        ("__meta_kubernetes_pod_container_image", "nginx:1.27"),
        ("__meta_kubernetes_pod_container_port_name", "metrics"),
        ("__meta_kubernetes_pod_container_port_number", "9090"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ("__meta_kubernetes_pod_container_init", "false"),
    ]));
    t
}

#[tokio::test]
async fn endpoints_with_service_pod_and_node_metadata() {
    let (_server, url) = Server::start(&[
        ("/api/v1/namespaces/default/endpoints", "endpoints-list.json"),
        ("/api/v1/namespaces/default/services", "services-list.json"),
        ("/api/v1/namespaces/default/pods", "pods-list.json"),
        ("/api/v1/nodes", "nodes-list.json"),
    ])
    .await;
    let yaml = "role: endpoints\nnamespaces: {names: [default]}\nattach_metadata: {node: true}\n";
    let (mut rx, task) = discover(&url, yaml).await;
    let first = next(&mut rx).await;
    let g = &first["endpoints/default/web"];
    let mut labels = service_group_labels();
    labels.extend(ls(&[
        ("__meta_kubernetes_endpoints_name", "web"),
        ("__meta_kubernetes_endpoints_label_app", "web"),
        ("__meta_kubernetes_endpoints_labelpresent_app", "true"),
    ]));
    assert_eq!(g.labels, labels);
    let node = ls(&[
        ("__meta_kubernetes_node_name", "node-a"),
        ("__meta_kubernetes_node_label_kubernetes_io_hostname", "node-a"),
        ("__meta_kubernetes_node_labelpresent_kubernetes_io_hostname", "true"),
        ("__meta_kubernetes_node_annotation_node_alpha_kubernetes_io_ttl", "0"),
        (
            "__meta_kubernetes_node_annotationpresent_node_alpha_kubernetes_io_ttl",
            "true",
        ),
    ]);
    let mut ready = web_0_labels();
    ready.extend(node);
    ready.extend(ls(&[
        ("__address__", "10.244.1.7:8080"),
        ("__meta_kubernetes_endpoint_port_name", "http"),
        ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
        ("__meta_kubernetes_endpoint_ready", "true"),
        ("__meta_kubernetes_endpoint_address_target_kind", "Pod"),
        ("__meta_kubernetes_endpoint_address_target_name", "web-0"),
        ("__meta_kubernetes_endpoint_node_name", "node-a"),
        ("__meta_kubernetes_endpoint_hostname", "web-0"),
        ("__meta_kubernetes_pod_container_name", "web"),
        ("__meta_kubernetes_pod_container_image", "nginx:1.27"),
        ("__meta_kubernetes_pod_container_port_name", "http"),
        ("__meta_kubernetes_pod_container_port_number", "8080"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ("__meta_kubernetes_pod_container_init", "false"),
    ]));
    let not_ready = ls(&[
        ("__address__", "10.244.2.9:8080"),
        ("__meta_kubernetes_endpoint_port_name", "http"),
        ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
        ("__meta_kubernetes_endpoint_ready", "false"),
    ]);
    assert_eq!(g.targets, vec![ready, not_ready, web_0_metrics_port()]);
    task.abort();
}

#[tokio::test]
async fn endpointslices_with_service_and_pod() {
    let (_server, url) = Server::start(&[
        ("/apis/discovery.k8s.io/v1/endpointslices", "endpointslices-list.json"),
        ("/api/v1/services", "services-list.json"),
        ("/api/v1/pods", "pods-list.json"),
    ])
    .await;
    let (mut rx, task) = discover(&url, "role: endpointslice\n").await;
    let first = next(&mut rx).await;
    let g = &first["endpointslice/default/web-abcde"];
    let mut labels = service_group_labels();
    labels.extend(ls(&[
        ("__meta_kubernetes_endpointslice_name", "web-abcde"),
        ("__meta_kubernetes_endpointslice_address_type", "IPv4"),
        (
            "__meta_kubernetes_endpointslice_label_kubernetes_io_service_name",
            "web",
        ),
        (
            "__meta_kubernetes_endpointslice_labelpresent_kubernetes_io_service_name",
            "true",
        ),
    ]));
    assert_eq!(g.labels, labels);
    let mut t = web_0_labels();
    t.extend(ls(&[
        ("__address__", "10.244.1.7:8080"),
        ("__meta_kubernetes_endpointslice_port", "8080"),
        ("__meta_kubernetes_endpointslice_port_name", "http"),
        ("__meta_kubernetes_endpointslice_port_protocol", "TCP"),
        ("__meta_kubernetes_endpointslice_port_app_protocol", "http"),
        ("__meta_kubernetes_endpointslice_endpoint_conditions_ready", "true"),
        ("__meta_kubernetes_endpointslice_endpoint_conditions_serving", "true"),
        (
            "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
            "false",
        ),
        ("__meta_kubernetes_endpointslice_endpoint_hostname", "web-0"),
        ("__meta_kubernetes_endpointslice_endpoint_node_name", "node-a"),
        ("__meta_kubernetes_endpointslice_endpoint_zone", "eu-west-1a"),
        ("__meta_kubernetes_endpointslice_address_target_kind", "Pod"),
        ("__meta_kubernetes_endpointslice_address_target_name", "web-0"),
        ("__meta_kubernetes_pod_container_name", "web"),
        ("__meta_kubernetes_pod_container_image", "nginx:1.27"),
        ("__meta_kubernetes_pod_container_port_name", "http"),
        ("__meta_kubernetes_pod_container_port_number", "8080"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ("__meta_kubernetes_pod_container_init", "false"),
    ]));
    assert_eq!(g.targets, vec![t, web_0_metrics_port()]);
    task.abort();
}

#[tokio::test]
async fn ingresses_one_target_per_host_and_path() {
    let (_server, url) = Server::start(&[("/apis/networking.k8s.io/v1/ingresses", "ingresses-list.json")]).await;
    let (mut rx, task) = discover(&url, "role: ingress\n").await;
    let first = next(&mut rx).await;
    let g = &first["ingress/default/shop"];
    assert_eq!(
        g.labels,
        ls(&[
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_ingress_name", "shop"),
            ("__meta_kubernetes_ingress_class_name", "nginx"),
            ("__meta_kubernetes_ingress_annotation_kubernetes_io_tls_acme", "true"),
            (
                "__meta_kubernetes_ingress_annotationpresent_kubernetes_io_tls_acme",
                "true"
            ),
        ])
    );
    let t = |host: &str, scheme: &str, path: &str| {
        ls(&[
            ("__address__", host),
            ("__meta_kubernetes_ingress_scheme", scheme),
            ("__meta_kubernetes_ingress_host", host),
            ("__meta_kubernetes_ingress_path", path),
        ])
    };
    assert_eq!(
        g.targets,
        vec![
            t("shop.example.com", "https", "/"),
            t("shop.example.com", "https", "/api"),
            t("admin.internal", "http", "/"),
        ]
    );
    task.abort();
}
