//! `opsgenie_configs`: OpsGenie's Alert API v2 as Alertmanager uses it — while any
//! alert fires, `POST {api_url}v2/alerts` creating an alert (and, with `update_alerts`,
//! `PUT`s of its message and description); once all are resolved,
//! `POST {api_url}v2/alerts/{alias}/close?identifierType=alias` — with the key in an
//! `Authorization: GenieKey …` header.
//!
//! The invariant: the alias is the SHA-256 of the group key, the same for every
//! notification of a group on every replica, so creating twice updates one OpsGenie
//! alert and closing finds it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use super::http::{self, Renderer, SecretSource};
use super::template::Templates;
use super::{Context, Data, Integration, NotifyError};
use crate::config::OpsgenieConfig;
use crate::model::Alert;

const KIND: &str = "opsgenie";
const MAX_MESSAGE_RUNES: usize = 130;

pub struct Opsgenie {
    config: OpsgenieConfig,
    api_key: SecretSource,
    api_url: String,
    client: pyrite_http_client::HttpClient,
    templates: Arc<Templates>,
}

#[derive(Serialize)]
struct Create {
    alias: String,
    message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    details: BTreeMap<String, String>,
    source: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    responders: Vec<Responder>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    note: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    priority: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    entity: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    actions: Vec<String>,
}

#[derive(Serialize, PartialEq, Default)]
struct Responder {
    #[serde(skip_serializing_if = "String::is_empty")]
    id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    #[serde(rename = "type")]
    kind: String,
}

/// One request of a notification.
struct Request {
    method: reqwest::Method,
    url: String,
    body: Vec<u8>,
}

/// Alertmanager's `safeSplit`: the non-empty parts of `s` trimmed, split on `sep`.
fn safe_split(s: &str, sep: char) -> Vec<String> {
    s.trim()
        .split(sep)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

impl Opsgenie {
    pub fn new(config: &OpsgenieConfig, base_dir: &Path, templates: Arc<Templates>) -> Result<Opsgenie, String> {
        let api_key = SecretSource::new(config.api_key.as_ref(), config.api_key_file.as_ref(), base_dir)
            .ok_or("one of api_key or api_key_file must be configured")?;
        let api_url = http::with_slash(config.api_url.clone().ok_or("no OpsGenie api_url configured")?);
        Ok(Opsgenie {
            client: http::client(&config.http_config, base_dir)?,
            config: config.clone(),
            api_key,
            api_url,
            templates,
        })
    }

    fn requests(&self, ctx: &Context, data: &Data) -> Result<Vec<Request>, NotifyError> {
        let c = &self.config;
        let alias = http::group_key_hash(&ctx.group_key);
        let mut r = Renderer::new(KIND, &self.templates, data);
        let mut out = Vec::new();
        if data.status == "resolved" {
            #[derive(Serialize)]
            struct Close {
                source: String,
            }
            out.push(Request {
                method: reqwest::Method::POST,
                url: format!("{}v2/alerts/{alias}/close?identifierType=alias", self.api_url),
                body: http::json_body(
                    KIND,
                    &Close {
                        source: r.text(&c.source),
                    },
                )?,
            });
            r.finish()?;
            return Ok(out);
        }
        let mut details = data.common_labels.clone();
        for (k, v) in &c.details {
            details.insert(k.clone(), r.text(v));
        }
        let mut responders = Vec::new();
        for resp in &c.responders {
            let responder = Responder {
                id: r.text(&resp.id),
                name: r.text(&resp.name),
                username: r.text(&resp.username),
                kind: r.text(&resp.kind),
            };
            if responder == Responder::default() {
                continue;
            }
            if responder.kind == "teams" {
                for team in safe_split(&responder.name, ',') {
                    responders.push(Responder {
                        name: r.text(&team),
                        kind: "team".into(),
                        ..Responder::default()
                    });
                }
                continue;
            }
            responders.push(responder);
        }
        let message = r.truncated("message", &c.message, MAX_MESSAGE_RUNES);
        let create = Create {
            alias: alias.clone(),
            message,
            description: r.text(&c.description),
            details,
            source: r.text(&c.source),
            responders,
            tags: safe_split(&r.text(&c.tags), ','),
            note: r.text(&c.note),
            priority: r.text(&c.priority),
            entity: r.text(&c.entity),
            actions: safe_split(&r.text(&c.actions), ','),
        };
        r.finish()?;
        out.push(Request {
            method: reqwest::Method::POST,
            url: format!("{}v2/alerts", self.api_url),
            body: http::json_body(KIND, &create)?,
        });
        if c.update_alerts {
            let update = |what: &str, field: &str, value: &str| -> Result<Request, NotifyError> {
                let mut body = serde_json::Map::new();
                if !value.is_empty() {
                    body.insert(field.to_string(), serde_json::Value::from(value));
                }
                Ok(Request {
                    method: reqwest::Method::PUT,
                    url: format!("{}v2/alerts/{alias}/{what}?identifierType=alias", self.api_url),
                    body: http::json_body(KIND, &body)?,
                })
            };
            out.push(update("message", "message", &create.message)?);
            out.push(update("description", "description", &create.description)?);
        }
        Ok(out)
    }
}

#[async_trait]
impl Integration for Opsgenie {
    fn name(&self) -> &'static str {
        KIND
    }

    fn send_resolved(&self) -> bool {
        self.config.send_resolved
    }

    async fn notify(&self, ctx: &Context, alerts: &[Alert]) -> Result<(), NotifyError> {
        let data = Data::new(ctx, alerts);
        let requests = self.requests(ctx, &data)?;
        let key = self.api_key.get(KIND)?;
        let key = self
            .templates
            .execute(&key, &data)
            .map_err(|_| NotifyError::fatal(format!("{KIND}: template error in the API key")))?;
        for req in requests {
            let builder = http::json_request(KIND, &self.client, req.method, &req.url, req.body)
                .await?
                .header("Authorization", format!("GenieKey {key}"));
            http::send(KIND, builder, &[]).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OpsgenieResponder;
    use crate::notify::testkit::{self, Recorder};
    use pyrite_config::Secret;

    fn config(url: &str) -> OpsgenieConfig {
        OpsgenieConfig {
            api_key: Some(Secret::new("S3CRET")),
            api_url: Some(format!("{url}/")),
            tags: "a, b,,{{ .CommonLabels.severity }}".into(),
            priority: "P1".into(),
            details: [("team".to_string(), "core".to_string())].into(),
            responders: vec![
                OpsgenieResponder {
                    name: "sre,dba".into(),
                    kind: "teams".into(),
                    ..OpsgenieResponder::default()
                },
                OpsgenieResponder {
                    username: "jane".into(),
                    kind: "user".into(),
                    ..OpsgenieResponder::default()
                },
            ],
            ..OpsgenieConfig::default()
        }
    }

    #[tokio::test]
    async fn creates_and_closes_by_alias() {
        let server = Recorder::start().await;
        let og = Opsgenie::new(&config(&server.url), Path::new("/"), testkit::templates()).unwrap();
        let alerts = [testkit::alert("a:1", false), testkit::alert("b:1", false)];
        og.notify(&testkit::context(), &alerts).await.unwrap();

        let r = server.single();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v2/alerts"));
        assert_eq!(r.header("authorization"), "GenieKey S3CRET");
        assert_eq!(r.header("content-type"), "application/json");
        let firing = format!(
            "Instance down\nAlerts Firing:\n{}{}\n",
            testkit::text_list("a:1"),
            testkit::text_list("b:1")
        );
        assert_eq!(
            r.json(),
            serde_json::json!({
                "alias": testkit::GROUP_KEY_HASH,
                "message": testkit::subject(2),
                "description": firing,
                "details": {"alertname": "Down", "severity": "page", "team": "core"},
                "source": testkit::AM_URL,
                "responders": [
                    {"name": "sre", "type": "team"},
                    {"name": "dba", "type": "team"},
                    {"username": "jane", "type": "user"},
                ],
                "tags": ["a", " b", "page"],
                "priority": "P1",
            })
        );

        server.clear();
        testkit::send_one(&og, true).await;
        let r = server.single();
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.path,
            format!("/v2/alerts/{}/close?identifierType=alias", testkit::GROUP_KEY_HASH)
        );
        assert_eq!(r.header("authorization"), "GenieKey S3CRET");
        assert_eq!(r.json(), serde_json::json!({"source": testkit::AM_URL}));
    }

    #[tokio::test]
    async fn update_alerts_puts_message_and_description() {
        let server = Recorder::start().await;
        let mut c = config(&server.url);
        c.update_alerts = true;
        let og = Opsgenie::new(&c, Path::new("/"), testkit::templates()).unwrap();
        testkit::send_one(&og, false).await;
        let r = server.requests();
        let seen: Vec<(&str, &str)> = r.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
        let h = testkit::GROUP_KEY_HASH;
        assert_eq!(
            seen,
            [
                ("POST", "/v2/alerts".to_string()),
                ("PUT", format!("/v2/alerts/{h}/message?identifierType=alias")),
                ("PUT", format!("/v2/alerts/{h}/description?identifierType=alias")),
            ]
            .iter()
            .map(|(m, p)| (*m, p.as_str()))
            .collect::<Vec<_>>()
        );
        assert_eq!(
            r[1].json(),
            serde_json::json!({"message": "[FIRING:1] Down (a:1 page)"})
        );
    }

    #[tokio::test]
    async fn failures_are_classified_and_keep_the_key_out() {
        let server = Recorder::start().await;
        let og = Opsgenie::new(&config(&server.url), Path::new("/"), testkit::templates()).unwrap();
        let alerts = [testkit::alert("a:1", false)];
        let e = testkit::fail_with(&server, &og, &alerts, (503, "application/json", "{}")).await;
        testkit::assert_failure(&e, true, &["S3CRET"]);
        let e = testkit::fail_with(&server, &og, &alerts, (422, "application/json", "{}")).await;
        testkit::assert_failure(&e, false, &["S3CRET"]);
    }
}
