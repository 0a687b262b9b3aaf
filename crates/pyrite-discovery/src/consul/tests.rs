use super::*;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State as Axum};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use tokio::sync::{mpsc, watch};

fn yaml(s: &str) -> ConsulSdConfig {
    serde_yaml::from_str(s).unwrap()
}

#[test]
fn configs_read_and_refused_as_prometheus_does() {
    let c = yaml("{}");
    assert_eq!(c.server, "localhost:8500");
    assert_eq!(c.scheme, "http");
    assert_eq!(c.tag_separator, ",");
    assert!(c.allow_stale);
    assert_eq!(c.refresh_interval.0, StdDuration::from_secs(30));
    assert!(c.validate().is_ok());
    assert_eq!(c.base_url().unwrap().as_str(), "http://localhost:8500/");
    assert_eq!(
        yaml("path_prefix: /consul/").base_url().unwrap().as_str(),
        "http://localhost:8500/consul"
    );

    assert_eq!(
        yaml("server: ' '").validate().unwrap_err(),
        "consul SD configuration requires a server address"
    );
    assert_eq!(
        yaml("username: u\nbasic_auth: {username: v}").validate().unwrap_err(),
        "at most one of consul SD configuration username and password and basic auth can be configured"
    );
    assert_eq!(
        yaml("token: t\nauthorization: {credentials: c}")
            .validate()
            .unwrap_err(),
        "at most one of consul SD token, authorization, or oauth2 can be configured"
    );
    assert!(serde_yaml::from_str::<ConsulSdConfig>("service: [web]").is_err());
    let printed = serde_yaml::to_string(&yaml("token: s3cret")).unwrap();
    assert!(!printed.contains("s3cret"), "{printed}");
}

#[test]
fn which_services_are_watched() {
    assert!(yaml("{}").watches_catalog());
    assert!(!yaml("services: [web]").watches_catalog());
    assert!(yaml("services: [web]\ntags: [prod]").watches_catalog());
    assert!(yaml("services: [web]\nfilter: 'ServiceName != \"x\"'").watches_catalog());
    let c = yaml("services: [web, db]\ntags: [prod, v1]");
    let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(c.should_watch("web", &tags(&["v1", "prod", "x"])));
    assert!(!c.should_watch("web", &tags(&["prod"])));
    assert!(!c.should_watch("cache", &tags(&["prod", "v1"])));
}

#[test]
fn queries_carry_the_configured_options() {
    let c = yaml("datacenter: dc2\nnamespace: team\npartition: p\nnode_meta: {rack: r1}\nallow_stale: false");
    let d = ConsulDiscoverer {
        api: Api {
            client: client(&c.http_client_config(), &Env::default()).unwrap(),
            base: c.base_url().unwrap(),
            token: None,
        },
        config: c,
    };
    let q = d.query(7);
    let has = |k: &str, v: &str| q.iter().any(|(a, b)| *a == k && b == v);
    assert!(has("dc", "dc2") && has("ns", "team") && has("partition", "p"));
    assert!(has("index", "7") && has("wait", "120000ms") && has("node-meta", "rack:r1"));
    assert!(!q.iter().any(|(k, _)| *k == "stale"));
    assert!(!d.query(0).iter().any(|(k, _)| *k == "index"));
}

#[test]
fn health_is_aggregated_as_consul_does() {
    let checks = |s: &[(&str, &str)]| -> Vec<Check> {
        s.iter()
            .map(|(id, st)| Check {
                check_id: id.to_string(),
                status: st.to_string(),
            })
            .collect()
    };
    assert_eq!(aggregated_status(&[]), "passing");
    assert_eq!(
        aggregated_status(&checks(&[("a", "passing"), ("b", "warning")])),
        "warning"
    );
    assert_eq!(
        aggregated_status(&checks(&[("a", "critical"), ("b", "warning")])),
        "critical"
    );
    assert_eq!(
        aggregated_status(&checks(&[("_node_maintenance", "critical"), ("b", "passing")])),
        "maintenance"
    );
    assert_eq!(aggregated_status(&checks(&[("a", "passing"), ("b", "unknown")])), "");
    assert_eq!(sanitize("redis-version.major"), "redis_version_major");
    assert_eq!(next_index(10, 12), 12);
    assert_eq!(next_index(10, 3), 0);
    assert_eq!(next_index(0, 0), 1);
}

/// What the replayed Consul holds: the catalog's index and service list, and each
/// service's index and instances (recorded answers from `testdata/consul`).
#[derive(Clone)]
struct Catalog {
    index: u64,
    services: &'static str,
    health: BTreeMap<&'static str, (u64, &'static str)>,
}

type Seen = Arc<Mutex<Vec<(String, Vec<(String, String)>, Option<String>)>>>;

#[derive(Clone)]
struct Replay {
    catalog: watch::Receiver<Catalog>,
    seen: Seen,
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

/// Consul's blocking query: answers at once when the caller's index is older than the
/// data's, else when the data changes or `wait` passes.
async fn block(replay: &Replay, q: &[(String, String)], index_of: impl Fn(&Catalog) -> u64) -> Catalog {
    let asked: u64 = param(q, "index").and_then(|i| i.parse().ok()).unwrap_or(0);
    let wait = param(q, "wait")
        .and_then(|w| w.strip_suffix("ms"))
        .and_then(|ms| ms.parse().ok())
        .map_or(StdDuration::from_secs(300), StdDuration::from_millis);
    let mut rx = replay.catalog.clone();
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        {
            let c = rx.borrow_and_update();
            if index_of(&c) > asked {
                return c.clone();
            }
        }
        tokio::select! {
            r = rx.changed() => if r.is_err() { break },
            _ = &mut deadline => break,
        }
    }
    let c = rx.borrow().clone();
    c
}

fn answer(index: u64, body: &'static str) -> axum::response::Response {
    (
        [
            ("X-Consul-Index", index.to_string()),
            ("Content-Type", "application/json".into()),
        ],
        body,
    )
        .into_response()
}

fn record(replay: &Replay, path: String, q: &[(String, String)], headers: &HeaderMap) {
    let token = headers
        .get("x-consul-token")
        .map(|t| t.to_str().unwrap_or("").to_string());
    replay.seen.lock().unwrap().push((path, q.to_vec(), token));
}

async fn serve(replay: Replay) -> String {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/v1/agent/self",
            get(|Axum(r): Axum<Replay>, h: HeaderMap| async move {
                record(&r, "/v1/agent/self".into(), &[], &h);
                (
                    [("Content-Type", "application/json")],
                    include_str!("../../testdata/consul/agent_self.json"),
                )
            }),
        )
        .route(
            "/v1/catalog/services",
            get(
                |Axum(r): Axum<Replay>, Query(q): Query<Vec<(String, String)>>, h: HeaderMap| async move {
                    record(&r, "/v1/catalog/services".into(), &q, &h);
                    let c = block(&r, &q, |c| c.index).await;
                    answer(c.index, c.services)
                },
            ),
        )
        .route(
            "/v1/health/service/{name}",
            get(
                |Axum(r): Axum<Replay>,
                 Path(name): Path<String>,
                 Query(q): Query<Vec<(String, String)>>,
                 h: HeaderMap| async move {
                    record(&r, format!("/v1/health/service/{name}"), &q, &h);
                    let of = |c: &Catalog| c.health.get(name.as_str()).copied().unwrap_or((c.index, "[]"));
                    let c = block(&r, &q, |c| of(c).0).await;
                    let (index, body) = of(&c);
                    answer(index, body)
                },
            ),
        )
        .with_state(replay);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr.to_string()
}

/// Applies updates to `groups` until `done` holds.
async fn until(
    rx: &mut mpsc::Receiver<Vec<TargetGroup>>,
    groups: &mut BTreeMap<String, TargetGroup>,
    done: impl Fn(&BTreeMap<String, TargetGroup>) -> bool,
) {
    let wait = async {
        while !done(groups) {
            for g in rx.recv().await.expect("discoverer stopped") {
                groups.insert(g.source.clone(), g);
            }
        }
    };
    if tokio::time::timeout(StdDuration::from_secs(10), wait).await.is_err() {
        panic!("not reached within 10 s; groups: {groups:#?}");
    }
}

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn web_1() -> LabelSet {
    labels(&[
        ("__address__", "10.1.10.21:8080"),
        ("__meta_consul_address", "10.1.10.21"),
        ("__meta_consul_node", "web-node-1"),
        ("__meta_consul_tags", ",prod,v1,"),
        ("__meta_consul_service_port", "8080"),
        ("__meta_consul_service_id", "web-1"),
        ("__meta_consul_health", "passing"),
        ("__meta_consul_metadata_rack", "r1"),
        ("__meta_consul_tagged_address_lan", "10.1.10.21"),
        ("__meta_consul_tagged_address_wan", "10.1.10.21"),
    ])
}

fn web_2(health: &str) -> LabelSet {
    labels(&[
        ("__address__", "10.1.20.22:8081"),
        ("__meta_consul_address", "10.1.10.22"),
        ("__meta_consul_node", "web-node-2"),
        ("__meta_consul_tags", ",prod,v1,"),
        ("__meta_consul_service_address", "10.1.20.22"),
        ("__meta_consul_service_port", "8081"),
        ("__meta_consul_service_id", "web-2"),
        ("__meta_consul_health", health),
        ("__meta_consul_tagged_address_lan", "10.1.10.22"),
        ("__meta_consul_tagged_address_wan", "10.1.10.22"),
    ])
}

fn group(service: &str, targets: Vec<LabelSet>) -> TargetGroup {
    TargetGroup {
        source: service.into(),
        targets,
        labels: labels(&[("__meta_consul_service", service), ("__meta_consul_dc", "dc1")]),
    }
}

#[tokio::test]
async fn a_replayed_catalog_becomes_targets_and_follows_its_changes() {
    let (tx, catalog) = watch::channel(Catalog {
        index: 25,
        services: include_str!("../../testdata/consul/catalog_services.json"),
        health: BTreeMap::from([
            (
                "web",
                (21, include_str!("../../testdata/consul/health_service_web.json")),
            ),
            (
                "redis",
                (12, include_str!("../../testdata/consul/health_service_redis.json")),
            ),
        ]),
    });
    let seen = Seen::default();
    let server = serve(Replay {
        catalog,
        seen: seen.clone(),
    })
    .await;
    let cfg = yaml(&format!("server: {server}\ntoken: s3cret\nrefresh_interval: 50ms\n"));
    let d = cfg.discoverer(&Env::default()).unwrap();
    let (updates, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(d.run(updates));

    let mut groups = BTreeMap::new();
    until(&mut rx, &mut groups, |g| {
        ["consul", "redis", "web"].iter().all(|s| g.contains_key(*s))
    })
    .await;
    assert_eq!(groups["web"], group("web", vec![web_1(), web_2("warning")]));
    assert_eq!(
        groups["redis"],
        group(
            "redis",
            vec![labels(&[
                ("__address__", "[2001:db8::12]:6379"),
                ("__meta_consul_address", "10.1.10.12"),
                ("__meta_consul_node", "foobar"),
                ("__meta_consul_namespace", "default"),
                ("__meta_consul_partition", "default"),
                ("__meta_consul_tags", ",primary,"),
                ("__meta_consul_service_address", "2001:db8::12"),
                ("__meta_consul_service_port", "6379"),
                ("__meta_consul_service_id", "redis"),
                ("__meta_consul_health", "maintenance"),
                ("__meta_consul_metadata_instance_type", "t2.medium"),
                ("__meta_consul_service_metadata_redis_version", "4.0"),
                ("__meta_consul_tagged_address_lan", "10.1.10.12"),
                ("__meta_consul_tagged_address_wan", "10.1.10.12"),
            ])]
        )
    );
    assert_eq!(groups["consul"], group("consul", vec![]));

    // The catalog drops redis and one web instance turns critical: redis is retracted
    // (an empty group, after its watch stopped) and web is sent again.
    tx.send_modify(|c| {
        c.index = 40;
        c.services = include_str!("../../testdata/consul/catalog_services_without_redis.json");
        c.health.insert(
            "web",
            (
                40,
                include_str!("../../testdata/consul/health_service_web_critical.json"),
            ),
        );
    });
    until(&mut rx, &mut groups, |g| {
        g["redis"]
            == TargetGroup {
                source: "redis".into(),
                ..TargetGroup::default()
            }
            && g["web"]
                .targets
                .get(1)
                .is_some_and(|t| t["__meta_consul_health"] == "critical")
    })
    .await;
    assert_eq!(groups["web"], group("web", vec![web_1(), web_2("critical")]));
    task.abort();

    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].0, "/v1/agent/self", "the datacenter is asked first");
    assert!(seen.iter().all(|(_, _, token)| token.as_deref() == Some("s3cret")));
    let blocking: Vec<_> = seen.iter().filter(|(p, _, _)| p != "/v1/agent/self").collect();
    for (path, q, _) in &blocking {
        assert_eq!(param(q, "wait"), Some("120000ms"), "{path}");
        assert_eq!(param(q, "stale"), Some(""), "{path}");
    }
    // After the first answer every query blocks on the index it was given.
    assert!(blocking
        .iter()
        .any(|(p, q, _)| p == "/v1/catalog/services" && param(q, "index") == Some("25")));
    assert!(blocking
        .iter()
        .any(|(p, q, _)| p == "/v1/health/service/web" && param(q, "index") == Some("21")));
}
