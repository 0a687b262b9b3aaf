//! `http_sd_configs`: target groups fetched from an HTTP endpoint every
//! `refresh_interval`, as Prometheus's HTTP SD specifies: a `GET` with
//! `Accept: application/json` and `X-Prometheus-Refresh-Interval-Seconds`, answered with
//! `200`, `Content-Type: application/json` (optionally `; charset=utf-8`) and a JSON list
//! of `{"targets": [...], "labels": {...}}`.
//!
//! Groups are sourced `<url>:<index>` and each carries `__meta_url`. Also here: the one
//! place this crate makes an HTTP client from a user's options ([`client`]), shared with
//! `consul_sd_configs`.
//!
//! The invariant: only a whole, valid answer replaces what the discoverer last sent — a
//! failed request, another status, another content type or a body that does not parse
//! keeps the last groups; and when the list gets shorter, the indexes it lost are sent
//! as empty groups.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use pyrite_config::Duration;
use pyrite_http_client::HttpClientConfig;
use serde::{Deserialize, Serialize};

use crate::{Discoverer, DiscoveryError, Env, LabelSet, SdConfig, TargetGroup, Updates};

const URL_LABEL: &str = "__meta_url";

/// What Pyrite calls itself in the requests it makes for discovery.
pub(crate) const USER_AGENT: &str = concat!("Pyrite/", env!("CARGO_PKG_VERSION"));

pyrite_http_client::with_http_client_config! {
    /// One entry of `http_sd_configs`, with the HTTP client options inline.
    #[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct HttpSdConfig {
        #[serde(default)]
        pub url: String,
        #[serde(default = "default_refresh")]
        pub refresh_interval: Duration,
    }
}

fn default_refresh() -> Duration {
    Duration(StdDuration::from_secs(60))
}

impl HttpSdConfig {
    /// A configuration for `url` with every other option at its default.
    pub fn new(url: impl Into<String>) -> Self {
        serde_json::from_value(serde_json::json!({ "url": url.into() }))
            .expect("a URL alone is a complete http_sd_config")
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.url.is_empty() {
            return Err("URL is missing".into());
        }
        let url = reqwest::Url::parse(&self.url).map_err(|e| format!("parse {:?}: {e}", self.url))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err("URL scheme must be 'http' or 'https'".into());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("host is missing in URL".into());
        }
        self.http_client_config().validate().map_err(|e| e.to_string())
    }
}

impl SdConfig for HttpSdConfig {
    fn name(&self) -> &'static str {
        "http"
    }
    fn discoverer(&self, env: &Env) -> Result<Box<dyn Discoverer>, DiscoveryError> {
        self.validate().map_err(DiscoveryError::Config)?;
        Ok(Box::new(HttpDiscoverer {
            client: client(&self.http_client_config(), env)?,
            url: self.url.clone(),
            refresh: self.refresh_interval.0,
        }))
    }
}

/// An HTTP client made from a user's HTTP client options.
#[derive(Clone)]
pub(crate) struct Client(pyrite_http_client::HttpClient);

impl Client {
    /// A `GET` of `url` with the configured credentials on.
    pub(crate) async fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, String> {
        let request = self
            .0
            .request(reqwest::Method::GET, url)
            .await
            .map_err(|e| e.to_string())?;
        Ok(request.header(reqwest::header::USER_AGENT, USER_AGENT))
    }
}

/// The client for a discovery mechanism's HTTP client options (validated here, in
/// Prometheus's words); relative file names in them are taken from `env.base_dir`.
pub(crate) fn client(cfg: &HttpClientConfig, env: &Env) -> Result<Client, DiscoveryError> {
    cfg.build(&env.base_dir)
        .map(Client)
        .map_err(|e| DiscoveryError::Config(e.to_string()))
}

pub struct HttpDiscoverer {
    client: Client,
    url: String,
    refresh: StdDuration,
}

/// One group as the endpoint writes it; other fields are refused, as Prometheus does.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonGroup {
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

#[async_trait]
impl Discoverer for HttpDiscoverer {
    async fn run(self: Box<Self>, updates: Updates) {
        let mut last: Vec<TargetGroup> = Vec::new();
        let mut sent = false;
        let mut ticker = tokio::time::interval(self.refresh);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let groups = match self.fetch().await {
                Ok(groups) => groups,
                Err(e) => {
                    tracing::error!(url = %self.url, error = %e, "http_sd: refreshing targets");
                    continue;
                }
            };
            if sent && groups == last {
                continue;
            }
            let mut out = groups.clone();
            // Indexes the list no longer has.
            out.extend((groups.len()..last.len()).map(|i| TargetGroup {
                source: source(&self.url, i),
                ..TargetGroup::default()
            }));
            if updates.send(out).await.is_err() {
                return;
            }
            last = groups;
            sent = true;
        }
    }
}

impl HttpDiscoverer {
    /// One request, within the refresh interval.
    async fn fetch(&self) -> Result<Vec<TargetGroup>, String> {
        let request = self
            .client
            .get(&self.url)
            .await?
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                "X-Prometheus-Refresh-Interval-Seconds",
                self.refresh.as_secs_f64().to_string(),
            )
            .timeout(self.refresh);
        let response = request.send().await.map_err(|e| e.without_url().to_string())?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!("server returned HTTP status {}", response.status()));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        if !is_json(&content_type) {
            return Err(format!("unsupported content type {content_type:?}"));
        }
        let body = response.bytes().await.map_err(|e| e.without_url().to_string())?;
        parse(&self.url, &body)
    }
}

/// The groups a body holds, sourced and labelled for `url`.
fn parse(url: &str, body: &[u8]) -> Result<Vec<TargetGroup>, String> {
    let entries: Vec<Option<JsonGroup>> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut groups = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let entry = entry.ok_or("nil target group item found")?;
        let mut labels = entry.labels.unwrap_or_default();
        if let Some(bad) = labels.keys().find(|n| !pyrite_model::is_valid_label_name(n)) {
            return Err(format!("{bad:?} is not a valid label name"));
        }
        labels.insert(URL_LABEL.into(), url.to_string());
        groups.push(TargetGroup {
            source: source(url, i),
            targets: entry
                .targets
                .unwrap_or_default()
                .into_iter()
                .map(|t| LabelSet::from([("__address__".to_string(), t)]))
                .collect(),
            labels,
        });
    }
    Ok(groups)
}

fn source(url: &str, i: usize) -> String {
    format!("{url}:{i}")
}

/// `application/json`, optionally with `; charset=utf-8` (quoted or not), in any case.
fn is_json(content_type: &str) -> bool {
    let ct = content_type.trim().to_ascii_lowercase();
    let Some(rest) = ct.strip_prefix("application/json") else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(param) = rest.strip_prefix(';') else {
        return false;
    };
    matches!(
        param.trim_start_matches(char::is_whitespace),
        "charset=utf-8" | "charset=\"utf-8\""
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use tokio::sync::{mpsc, watch};

    #[test]
    fn configs_read_and_refused_as_prometheus_does() {
        let c: HttpSdConfig =
            serde_yaml::from_str("url: http://sd.example.test/targets\nbasic_auth: {username: u, password: p}\n")
                .unwrap();
        assert_eq!(c.refresh_interval.0, StdDuration::from_secs(60));
        assert_eq!(c.http_client_config().basic_auth.unwrap().username, "u");
        assert!(c.validate().is_ok());
        assert_eq!(HttpSdConfig::new("https://h/x").refresh_interval, default_refresh());

        let err = |url: &str| HttpSdConfig::new(url).validate().unwrap_err();
        assert_eq!(err(""), "URL is missing");
        assert_eq!(err("ftp://h/x"), "URL scheme must be 'http' or 'https'");
        assert!(err("http//h").starts_with("parse"));
        assert!(serde_yaml::from_str::<HttpSdConfig>("url: http://h\nurls: []\n").is_err());
    }

    #[test]
    fn only_json_answers_are_read() {
        for ok in [
            "application/json",
            "Application/JSON",
            " application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in [
            "",
            "text/plain",
            "application/jsonl",
            "application/json; charset=latin1",
        ] {
            assert!(!is_json(bad), "{bad}");
        }
    }

    #[test]
    fn bodies_parse_as_prometheus_reads_them() {
        let url = "http://h/sd";
        let groups = parse(
            url,
            br#"[{"targets": ["a:1"], "labels": {"env": "prod"}}, {"labels": null}]"#,
        )
        .unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[1].source, "http://h/sd:1");
        assert!(groups[1].targets.is_empty());
        assert_eq!(groups[1].labels["__meta_url"], url);
        assert_eq!(parse(url, b"[null]").unwrap_err(), "nil target group item found");
        assert!(parse(url, br#"[{"targets": [], "extra": 1}]"#).is_err());
        assert!(parse(url, br#"[{"labels": {"1bad": "x"}}]"#)
            .unwrap_err()
            .contains("1bad"));
        assert!(parse(url, br#"{"targets": []}"#).is_err());
    }

    /// What the test endpoint answers, and the headers of the requests it saw.
    #[derive(Clone)]
    struct Reply {
        status: StatusCode,
        content_type: &'static str,
        body: &'static str,
    }

    struct Endpoint {
        reply: Mutex<Reply>,
        seen: Mutex<Vec<HeaderMap>>,
        requests: watch::Sender<usize>,
    }

    async fn serve(endpoint: Arc<Endpoint>) -> String {
        let app = axum::Router::new().route(
            "/sd",
            axum::routing::get(move |headers: HeaderMap| {
                let endpoint = endpoint.clone();
                async move {
                    let reply = endpoint.reply.lock().unwrap().clone();
                    endpoint.seen.lock().unwrap().push(headers);
                    endpoint.requests.send_modify(|n| *n += 1);
                    (reply.status, [("content-type", reply.content_type)], reply.body).into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/sd")
    }

    async fn next(rx: &mut mpsc::Receiver<Vec<TargetGroup>>) -> Vec<TargetGroup> {
        tokio::time::timeout(StdDuration::from_secs(10), rx.recv())
            .await
            .expect("no update within 10 s")
            .expect("discoverer stopped")
    }

    #[tokio::test]
    async fn groups_follow_the_endpoint_and_survive_its_failures() {
        let (requests, mut counted) = watch::channel(0);
        let endpoint = Arc::new(Endpoint {
            reply: Mutex::new(Reply {
                status: StatusCode::OK,
                content_type: "application/json",
                body: r#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}},
                          {"targets": ["c:3"]}]"#,
            }),
            seen: Mutex::new(Vec::new()),
            requests,
        });
        let url = serve(endpoint.clone()).await;
        let mut cfg = HttpSdConfig::new(url.clone());
        cfg.refresh_interval = Duration(StdDuration::from_millis(100));
        let d = cfg.discoverer(&Env::default()).unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(d.run(tx));
        let addr = |a: &str| LabelSet::from([("__address__".to_string(), a.to_string())]);
        let labels = |pairs: &[(&str, &str)]| -> LabelSet {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };

        assert_eq!(
            next(&mut rx).await,
            vec![
                TargetGroup {
                    source: format!("{url}:0"),
                    targets: vec![addr("a:1"), addr("b:2")],
                    labels: labels(&[("env", "prod"), ("__meta_url", &url)]),
                },
                TargetGroup {
                    source: format!("{url}:1"),
                    targets: vec![addr("c:3")],
                    labels: labels(&[("__meta_url", &url)]),
                },
            ]
        );
        {
            let seen = endpoint.seen.lock().unwrap();
            let h = &seen[0];
            assert_eq!(h["accept"], "application/json");
            assert_eq!(h["x-prometheus-refresh-interval-seconds"], "0.1");
            assert!(h["user-agent"].to_str().unwrap().starts_with("Pyrite/"));
        }

        // Answers that are not a valid list keep the last groups: nothing is sent.
        let broken = [
            (StatusCode::INTERNAL_SERVER_ERROR, "application/json", "[]"),
            (StatusCode::OK, "text/plain", "[]"),
            (StatusCode::OK, "application/json", "[{\"targets\": [\"a:1\"]"),
            (StatusCode::OK, "application/json", "[null]"),
        ];
        for (status, content_type, body) in broken {
            *endpoint.reply.lock().unwrap() = Reply {
                status,
                content_type,
                body,
            };
            // Two requests answered this way, so at least one whole refresh saw it.
            let from = *counted.borrow_and_update();
            counted.wait_for(|n| *n >= from + 2).await.unwrap();
            assert!(
                rx.try_recv().is_err(),
                "{status} {content_type} {body} changed the groups"
            );
        }

        // A shorter list: the first group is sent again, the second empty.
        *endpoint.reply.lock().unwrap() = Reply {
            status: StatusCode::OK,
            content_type: "application/json; charset=utf-8",
            body: r#"[{"targets": ["a:1"]}]"#,
        };
        assert_eq!(
            next(&mut rx).await,
            vec![
                TargetGroup {
                    source: format!("{url}:0"),
                    targets: vec![addr("a:1")],
                    labels: labels(&[("__meta_url", &url)]),
                },
                TargetGroup {
                    source: format!("{url}:1"),
                    ..TargetGroup::default()
                },
            ]
        );
        task.abort();
    }
}
