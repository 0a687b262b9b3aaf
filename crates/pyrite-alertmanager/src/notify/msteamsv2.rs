//! `msteamsv2_configs`: Microsoft Teams through a Power Automate (Workflows) webhook, as
//! Alertmanager sends it — a `message` with one Adaptive Card (version 1.2, full
//! width) POSTed as JSON to the webhook URL: a bold heading with the templated title,
//! coloured `Attention` while any alert fires and `Good` once all are resolved, then
//! the templated text.
//!
//! The invariant: the webhook URL, which carries its signature, is read only to send
//! and never appears in an error.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use super::http::{self, Renderer, SecretSource};
use super::template::Templates;
use super::{Context, Data, Integration, NotifyError};
use crate::config::MsTeamsV2Config;
use crate::model::Alert;

const KIND: &str = "msteamsv2";
const COLOR_FIRING: &str = "Attention";
const COLOR_RESOLVED: &str = "Good";

pub struct MsTeamsV2 {
    config: MsTeamsV2Config,
    url: SecretSource,
    client: pyrite_http_client::HttpClient,
    templates: Arc<Templates>,
}

#[derive(Serialize)]
struct Message {
    #[serde(rename = "type")]
    kind: &'static str,
    attachments: Vec<Attachment>,
}

#[derive(Serialize)]
struct Attachment {
    #[serde(rename = "contentType")]
    content_type: &'static str,
    /// Always `null`.
    #[serde(rename = "contentUrl")]
    content_url: Option<String>,
    content: Card,
}

#[derive(Serialize)]
struct Card {
    #[serde(rename = "$schema")]
    schema: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    version: &'static str,
    body: Vec<TextBlock>,
    msteams: Width,
}

#[derive(Serialize)]
struct TextBlock {
    #[serde(rename = "type")]
    kind: &'static str,
    text: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    weight: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    size: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    wrap: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    style: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    color: &'static str,
}

#[derive(Serialize)]
struct Width {
    width: &'static str,
}

impl MsTeamsV2 {
    pub fn new(config: &MsTeamsV2Config, base_dir: &Path, templates: Arc<Templates>) -> Result<MsTeamsV2, String> {
        let url = SecretSource::new(config.webhook_url.as_ref(), config.webhook_url_file.as_ref(), base_dir)
            .ok_or("one of webhook_url or webhook_url_file must be configured")?;
        Ok(MsTeamsV2 {
            client: http::client(&config.http_config, base_dir)?,
            config: config.clone(),
            url,
            templates,
        })
    }

    fn message(&self, data: &Data) -> Result<Message, NotifyError> {
        let mut r = Renderer::new(KIND, &self.templates, data);
        let title = r.text(&self.config.title);
        let text = r.text(&self.config.text);
        r.finish()?;
        let color = data.by_status(COLOR_FIRING, COLOR_RESOLVED);
        Ok(Message {
            kind: "message",
            attachments: vec![Attachment {
                content_type: "application/vnd.microsoft.card.adaptive",
                content_url: None,
                content: Card {
                    schema: "http://adaptivecards.io/schemas/adaptive-card.json",
                    kind: "AdaptiveCard",
                    version: "1.2",
                    body: vec![
                        TextBlock {
                            kind: "TextBlock",
                            text: title,
                            weight: "Bolder",
                            size: "Medium",
                            wrap: true,
                            style: "heading",
                            color,
                        },
                        TextBlock {
                            kind: "TextBlock",
                            text,
                            weight: "",
                            size: "",
                            wrap: true,
                            style: "",
                            color: "",
                        },
                    ],
                    msteams: Width { width: "full" },
                },
            }],
        })
    }
}

#[async_trait]
impl Integration for MsTeamsV2 {
    fn name(&self) -> &'static str {
        KIND
    }

    fn send_resolved(&self) -> bool {
        self.config.send_resolved
    }

    async fn notify(&self, ctx: &Context, alerts: &[Alert]) -> Result<(), NotifyError> {
        let body = http::json_body(KIND, &self.message(&Data::new(ctx, alerts))?)?;
        let url = self.url.get(KIND)?;
        http::post_json(KIND, &self.client, &url, body, &[]).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testkit::{self, Recorder};
    use pyrite_config::Secret;

    fn config(url: &str) -> MsTeamsV2Config {
        MsTeamsV2Config {
            webhook_url: Some(Secret::new(format!(
                "{url}/workflows/abc/triggers/manual/paths/invoke?sig=S1G"
            ))),
            ..MsTeamsV2Config::default()
        }
    }

    #[tokio::test]
    async fn posts_an_adaptive_card() {
        let server = Recorder::start().await;
        let mut c = config(&server.url);
        c.text = "{{ len .Alerts }} alert(s)".into();
        let teams = MsTeamsV2::new(&c, Path::new("/"), testkit::templates()).unwrap();
        assert!(teams.send_resolved());
        teams
            .notify(
                &testkit::context(),
                &[testkit::alert("a:1", false), testkit::alert("b:1", false)],
            )
            .await
            .unwrap();

        let r = server.single();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/workflows/abc/triggers/manual/paths/invoke?sig=S1G");
        assert_eq!(r.header("content-type"), "application/json");
        let card = |title: String, color: &str| {
            serde_json::json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.2",
                        "body": [
                            {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium",
                             "wrap": true, "style": "heading", "color": color},
                            {"type": "TextBlock", "text": if color == "Good" { "1 alert(s)" } else { "2 alert(s)" }, "wrap": true},
                        ],
                        "msteams": {"width": "full"},
                    },
                }],
            })
        };
        assert_eq!(r.json(), card(testkit::subject(2), "Attention"));

        server.clear();
        testkit::send_one(&teams, true).await;
        assert_eq!(
            server.single().json(),
            card("[RESOLVED] Down (a:1 page)".into(), "Good")
        );
    }

    #[tokio::test]
    async fn the_default_text_and_send_resolved() {
        let server = Recorder::start().await;
        let mut c = config(&server.url);
        c.send_resolved = false;
        let teams = MsTeamsV2::new(&c, Path::new("/"), testkit::templates()).unwrap();
        assert!(!teams.send_resolved());
        let alerts = [testkit::alert("a:1", false)];
        teams.notify(&testkit::context(), &alerts).await.unwrap();
        let text = testkit::templates()
            .execute(
                "{{ template \"msteamsv2.default.text\" . }}",
                &Data::new(&testkit::context(), &alerts),
            )
            .unwrap();
        assert!(text.contains("a:1"), "{text}");
        assert_eq!(
            server.single().json()["attachments"][0]["content"]["body"][1]["text"],
            text.as_str()
        );
    }

    #[tokio::test]
    async fn failures_are_classified_and_keep_the_url_out() {
        let server = Recorder::start().await;
        let teams = MsTeamsV2::new(&config(&server.url), Path::new("/"), testkit::templates()).unwrap();
        let alerts = [testkit::alert("a:1", false)];
        let e = testkit::fail_with(&server, &teams, &alerts, (500, "text/plain", "oops")).await;
        testkit::assert_failure(&e, true, &["S1G"]);
        let e = testkit::fail_with(&server, &teams, &alerts, (400, "text/plain", "bad")).await;
        testkit::assert_failure(&e, false, &["S1G"]);

        let e = MsTeamsV2::new(&config("http://127.0.0.1:1"), Path::new("/"), testkit::templates())
            .unwrap()
            .notify(&testkit::context(), &alerts)
            .await
            .unwrap_err();
        testkit::assert_failure(&e, true, &["S1G"]);
    }
}
