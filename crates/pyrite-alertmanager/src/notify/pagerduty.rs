//! `pagerduty_configs`: an Events API v2 event (`routing_key`) POSTed as JSON to `url`,
//! or a v1 event (`service_key`) to PagerDuty's generic endpoint, as Alertmanager sends
//! them: `trigger` while any alert fires, `resolve` once all are resolved, deduplicated
//! on the SHA-256 of the group key, every text a template, `details` templated into
//! `custom_details`, images and links without a `src`/`href` left out.
//!
//! The invariant: every notification of one group carries the same `dedup_key`
//! (`incident_key` for v1), whichever replica sends it and however often it is retried,
//! so PagerDuty sees one incident per group.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use super::http::{self, Renderer, SecretSource};
use super::template::Templates;
use super::{Context, Data, Integration, NotifyError};
use crate::config::PagerdutyConfig;
use crate::model::Alert;

const KIND: &str = "pagerduty";
const V1_URL: &str = "https://events.pagerduty.com/generic/2010-04-15/create_event.json";
const MAX_SUMMARY_RUNES: usize = 1024;
/// PagerDuty's limit on an event; past it the custom details are replaced.
const MAX_EVENT_BYTES: usize = 512_000;

enum Key {
    /// Events API v2.
    Routing(SecretSource),
    /// Events API v1.
    Service(SecretSource),
}

pub struct Pagerduty {
    config: PagerdutyConfig,
    key: Key,
    url: String,
    client: pyrite_http_client::HttpClient,
    templates: Arc<Templates>,
}

#[derive(Serialize, Default)]
struct Event {
    #[serde(skip_serializing_if = "String::is_empty")]
    routing_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    service_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    dedup_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    incident_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    event_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    event_action: String,
    payload: Option<Payload>,
    #[serde(skip_serializing_if = "String::is_empty")]
    client: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    client_url: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    details: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    images: Vec<Image>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<Link>,
}

#[derive(Serialize)]
struct Payload {
    summary: String,
    source: String,
    severity: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    timestamp: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    class: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    component: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    group: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    custom_details: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Image {
    src: String,
    alt: String,
    href: String,
}

#[derive(Serialize)]
struct Link {
    href: String,
    text: String,
}

impl Pagerduty {
    pub fn new(config: &PagerdutyConfig, base_dir: &Path, templates: Arc<Templates>) -> Result<Pagerduty, String> {
        let service = SecretSource::new(config.service_key.as_ref(), config.service_key_file.as_ref(), base_dir);
        let routing = SecretSource::new(config.routing_key.as_ref(), config.routing_key_file.as_ref(), base_dir);
        let (key, url) = match (service, routing) {
            (Some(s), _) => (Key::Service(s), V1_URL.to_string()),
            (None, Some(r)) => (
                Key::Routing(r),
                config.url.clone().ok_or("no PagerDuty url configured")?,
            ),
            (None, None) => return Err("missing service or routing key in PagerDuty config".into()),
        };
        Ok(Pagerduty {
            client: http::client(&config.http_config, base_dir)?,
            config: config.clone(),
            key,
            url,
            templates,
        })
    }

    fn event(&self, ctx: &Context, data: &Data) -> Result<Event, NotifyError> {
        let c = &self.config;
        let action = if data.status == "resolved" {
            "resolve"
        } else {
            "trigger"
        };
        let details = c
            .details
            .iter()
            .map(|(k, v)| {
                self.templates
                    .execute(v, data)
                    .map(|out| (k.clone(), out))
                    .map_err(|e| NotifyError::fatal(format!("{KIND}: {k:?}: template error: {e}")))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        let mut r = Renderer::new(KIND, &self.templates, data);
        let hash = http::group_key_hash(&ctx.group_key);
        let event = match &self.key {
            Key::Service(key) => {
                let description = r.truncated("description", &c.description, MAX_SUMMARY_RUNES);
                let triggered = action == "trigger";
                Event {
                    service_key: r.text(&key.get(KIND)?),
                    event_type: action.into(),
                    incident_key: hash,
                    description,
                    details,
                    client: if triggered { r.text(&c.client) } else { String::new() },
                    client_url: if triggered {
                        r.text(&c.client_url)
                    } else {
                        String::new()
                    },
                    ..Event::default()
                }
            }
            Key::Routing(key) => {
                let summary = r.truncated("summary", &c.description, MAX_SUMMARY_RUNES);
                let severity = if c.severity.is_empty() { "error" } else { &c.severity };
                Event {
                    client: r.text(&c.client),
                    client_url: r.text(&c.client_url),
                    routing_key: r.text(&key.get(KIND)?),
                    event_action: action.into(),
                    dedup_key: hash,
                    payload: Some(Payload {
                        summary,
                        source: r.text(&c.source),
                        severity: r.text(severity),
                        timestamp: String::new(),
                        class: r.text(&c.class),
                        component: r.text(&c.component),
                        group: r.text(&c.group),
                        custom_details: details,
                    }),
                    images: c
                        .images
                        .iter()
                        .map(|i| Image {
                            src: r.text(&i.src),
                            alt: r.text(&i.alt),
                            href: r.text(&i.href),
                        })
                        .filter(|i| !i.src.is_empty())
                        .collect(),
                    links: c
                        .links
                        .iter()
                        .map(|l| Link {
                            href: r.text(&l.href),
                            text: r.text(&l.text),
                        })
                        .filter(|l| !l.href.is_empty())
                        .collect(),
                    ..Event::default()
                }
            }
        };
        r.finish()?;
        if event.routing_key.is_empty() && event.service_key.is_empty() {
            return Err(NotifyError::fatal(format!("{KIND}: the key is empty after templating")));
        }
        Ok(event)
    }
}

/// The event's JSON; past PagerDuty's size limit, with the details replaced by a note.
fn encode(mut event: Event) -> Result<Vec<u8>, NotifyError> {
    let body = http::json_body(KIND, &event)?;
    if body.len() <= MAX_EVENT_BYTES {
        return Ok(body);
    }
    let note: BTreeMap<String, String> = [(
        "error".to_string(),
        "Custom details have been removed because the original event exceeds the maximum size of 512kB".to_string(),
    )]
    .into();
    match &mut event.payload {
        Some(p) => p.custom_details = note,
        None => event.details = note,
    }
    http::json_body(KIND, &event)
}

#[async_trait]
impl Integration for Pagerduty {
    fn name(&self) -> &'static str {
        KIND
    }

    fn send_resolved(&self) -> bool {
        self.config.send_resolved
    }

    async fn notify(&self, ctx: &Context, alerts: &[Alert]) -> Result<(), NotifyError> {
        let event = self.event(ctx, &Data::new(ctx, alerts))?;
        let body = encode(event)?;
        // v1 is rate limited with 403, v2 with 429.
        let retry_codes: &[u16] = match self.key {
            Key::Service(_) => &[403],
            Key::Routing(_) => &[],
        };
        http::post_json(KIND, &self.client, &self.url, body, retry_codes)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PagerdutyImage, PagerdutyLink};
    use crate::notify::testkit::{self, Recorder};
    use pyrite_config::Secret;

    fn config(url: &str) -> PagerdutyConfig {
        let mut c = PagerdutyConfig {
            routing_key: Some(Secret::new("R0UT1NG")),
            url: Some(format!("{url}/v2/enqueue")),
            component: "{{ .CommonLabels.instance }}".into(),
            images: vec![
                PagerdutyImage {
                    src: "http://img/{{ .Status }}.png".into(),
                    alt: "status".into(),
                    href: String::new(),
                },
                PagerdutyImage::default(),
            ],
            links: vec![PagerdutyLink {
                href: "{{ .ExternalURL }}".into(),
                text: "AM".into(),
            }],
            ..PagerdutyConfig::default()
        };
        c.check().unwrap();
        c
    }

    #[tokio::test]
    async fn sends_an_events_v2_trigger_and_resolve() {
        let server = Recorder::start().await;
        let pd = Pagerduty::new(&config(&server.url), Path::new("/"), testkit::templates()).unwrap();
        let alerts = [testkit::alert("a:1", false), testkit::alert("b:1", true)];
        pd.notify(&testkit::context(), &alerts).await.unwrap();

        let r = server.single();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v2/enqueue"));
        assert_eq!(r.header("content-type"), "application/json");
        let subject = "[FIRING:1] Down (page)";
        assert_eq!(
            r.json(),
            serde_json::json!({
                "routing_key": "R0UT1NG",
                "dedup_key": testkit::GROUP_KEY_HASH,
                "event_action": "trigger",
                "client": "Alertmanager",
                "client_url": testkit::AM_URL,
                "payload": {
                    "summary": subject,
                    "source": "Alertmanager",
                    "severity": "error",
                    "custom_details": {
                        "firing": testkit::text_list("a:1"),
                        "resolved": testkit::text_list("b:1"),
                        "num_firing": "1",
                        "num_resolved": "1",
                    },
                },
                "images": [{"src": "http://img/firing.png", "alt": "status", "href": ""}],
                "links": [{"href": "http://am.example", "text": "AM"}],
            })
        );

        server.clear();
        testkit::send_one(&pd, true).await;
        let r = server.single().json();
        assert_eq!(r["event_action"], "resolve");
        assert_eq!(r["dedup_key"], testkit::GROUP_KEY_HASH);
        assert_eq!(r["payload"]["component"], "a:1");
    }

    #[tokio::test]
    async fn failures_are_classified_and_keep_the_key_out() {
        let server = Recorder::start().await;
        let pd = Pagerduty::new(&config(&server.url), Path::new("/"), testkit::templates()).unwrap();
        let alerts = [testkit::alert("a:1", false)];
        let e = testkit::fail_with(&server, &pd, &alerts, (500, "application/json", "{}")).await;
        assert!(e.retry);
        server.answer(429, "application/json", "{}");
        assert!(pd.notify(&testkit::context(), &alerts).await.unwrap_err().retry);
        let e = testkit::fail_with(
            &server,
            &pd,
            &alerts,
            (
                400,
                "application/json",
                r#"{"status":"invalid event","message":"R0UT1NG"}"#,
            ),
        )
        .await;
        assert!(!e.retry);
        assert!(!e.message.contains("R0UT1NG"), "{}", e.message);
    }

    #[tokio::test]
    async fn a_routing_key_file_is_read_when_sending() {
        let server = Recorder::start().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "FROMFILE\n").unwrap();
        let mut c = config(&server.url);
        c.routing_key = None;
        c.routing_key_file = Some("key".into());
        let pd = Pagerduty::new(&c, dir.path(), testkit::templates()).unwrap();
        testkit::send_one(&pd, false).await;
        assert_eq!(server.single().json()["routing_key"], "FROMFILE");
    }

    #[tokio::test]
    async fn a_service_key_sends_an_events_v1_event() {
        let c = PagerdutyConfig {
            service_key: Some(Secret::new("S3RV1CE")),
            ..config("http://unused")
        };
        let pd = Pagerduty::new(&c, Path::new("/"), testkit::templates()).unwrap();
        assert_eq!(pd.url, V1_URL);
        let event = pd
            .event(
                &testkit::context(),
                &Data::new(&testkit::context(), &[testkit::alert("a:1", true)]),
            )
            .unwrap();
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["service_key"], "S3RV1CE");
        assert_eq!(json["event_type"], "resolve");
        assert_eq!(json["incident_key"], testkit::GROUP_KEY_HASH);
        assert_eq!(json["description"], "[RESOLVED] Down (a:1 page)");
        assert_eq!(json["payload"], serde_json::Value::Null);
        assert!(json.get("client").is_none(), "a resolve carries no client");
        assert_eq!(json["details"]["num_resolved"], "1");
    }
}
