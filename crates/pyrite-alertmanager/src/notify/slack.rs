//! `slack_configs`: one message with one attachment, every text field a template, POSTed
//! as JSON to `api_url` (an incoming webhook or `chat.postMessage`), as Alertmanager
//! sends it; the title is cut to 1024 characters.
//!
//! The invariant: a notification counts as delivered only when Slack accepted it — a
//! 2xx with the text `ok`, or with JSON saying `"ok": true` — since Slack reports some
//! failures with a 200.

use std::path::Path;

use async_trait::async_trait;
use serde::Serialize;

use super::http::{self, Renderer, SecretSource};
use super::template::Templates;
use super::{Context, Data, Integration, NotifyError};
use crate::config::{SlackAction, SlackConfig, SlackConfirmationField};
use crate::model::Alert;
use std::sync::Arc;

const KIND: &str = "slack";
const MAX_TITLE_RUNES: usize = 1024;

pub struct Slack {
    config: SlackConfig,
    api_url: SecretSource,
    client: pyrite_http_client::HttpClient,
    templates: Arc<Templates>,
}

#[derive(Serialize)]
struct Message {
    #[serde(skip_serializing_if = "String::is_empty")]
    channel: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    icon_emoji: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    icon_url: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    link_names: bool,
    attachments: Vec<Attachment>,
}

#[derive(Serialize)]
struct Attachment {
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    title_link: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pretext: String,
    text: String,
    fallback: String,
    callback_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<Field>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    actions: Vec<Action>,
    #[serde(skip_serializing_if = "String::is_empty")]
    image_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    thumb_url: String,
    footer: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    color: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mrkdwn_in: Vec<String>,
}

#[derive(Serialize)]
struct Field {
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    value: String,
    short: bool,
}

#[derive(Serialize)]
struct Action {
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    style: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    confirm: Option<Confirm>,
}

#[derive(Serialize)]
struct Confirm {
    #[serde(skip_serializing_if = "String::is_empty")]
    text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    ok_text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    dismiss_text: String,
}

impl Slack {
    pub fn new(config: &SlackConfig, base_dir: &Path, templates: Arc<Templates>) -> Result<Slack, String> {
        let api_url = SecretSource::new(config.api_url.as_ref(), config.api_url_file.as_ref(), base_dir)
            .ok_or("one of api_url or api_url_file must be configured")?;
        Ok(Slack {
            client: http::client(&config.http_config, base_dir)?,
            config: config.clone(),
            api_url,
            templates,
        })
    }

    fn message(&self, data: &Data) -> Result<Message, NotifyError> {
        let c = &self.config;
        let mut r = Renderer::new(KIND, &self.templates, data);
        let title = r.truncated("title", &c.title, MAX_TITLE_RUNES);
        let fields = c
            .fields
            .iter()
            .map(|f| Field {
                title: r.text(&f.title),
                value: r.text(&f.value),
                short: f.short.unwrap_or(c.short_fields),
            })
            .collect();
        let actions = c.actions.iter().map(|a| action(&mut r, a)).collect();
        let attachment = Attachment {
            title,
            title_link: r.text(&c.title_link),
            pretext: r.text(&c.pretext),
            text: r.text(&c.text),
            fallback: r.text(&c.fallback),
            callback_id: r.text(&c.callback_id),
            fields,
            actions,
            image_url: r.text(&c.image_url),
            thumb_url: r.text(&c.thumb_url),
            footer: r.text(&c.footer),
            color: r.text(&c.color),
            mrkdwn_in: if c.mrkdwn_in.is_empty() {
                vec!["fallback".into(), "pretext".into(), "text".into()]
            } else {
                c.mrkdwn_in.clone()
            },
        };
        let message = Message {
            channel: r.text(&c.channel),
            username: r.text(&c.username),
            icon_emoji: r.text(&c.icon_emoji),
            icon_url: r.text(&c.icon_url),
            link_names: c.link_names,
            attachments: vec![attachment],
        };
        r.finish()?;
        Ok(message)
    }
}

fn action(r: &mut Renderer<'_>, a: &SlackAction) -> Action {
    let confirm = a.confirm.as_ref().map(|c: &SlackConfirmationField| Confirm {
        title: r.text(&c.title),
        text: r.text(&c.text),
        ok_text: r.text(&c.ok_text),
        dismiss_text: r.text(&c.dismiss_text),
    });
    Action {
        kind: r.text(&a.kind),
        text: r.text(&a.text),
        url: r.text(&a.url),
        style: r.text(&a.style),
        name: r.text(&a.name),
        value: r.text(&a.value),
        confirm,
    }
}

/// Whether Slack's answer to a 2xx says the message was posted.
fn accepted(content_type: &str, body: &str) -> Result<(), NotifyError> {
    if content_type.starts_with("application/json") {
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            ok: bool,
            #[serde(default)]
            error: String,
        }
        let answer: Answer = serde_json::from_str(body)
            .map_err(|e| NotifyError::retry(format!("{KIND}: could not read Slack's answer: {e}")))?;
        if !answer.ok {
            return Err(NotifyError::fatal(format!(
                "{KIND}: error response from Slack: {}",
                answer.error
            )));
        }
        return Ok(());
    }
    if body != "ok" {
        let shown: String = body.chars().take(200).collect();
        return Err(NotifyError::fatal(format!(
            "{KIND}: received an error response from Slack: {shown}"
        )));
    }
    Ok(())
}

#[async_trait]
impl Integration for Slack {
    fn name(&self) -> &'static str {
        KIND
    }

    fn send_resolved(&self) -> bool {
        self.config.send_resolved
    }

    async fn notify(&self, ctx: &Context, alerts: &[Alert]) -> Result<(), NotifyError> {
        let message = self.message(&Data::new(ctx, alerts))?;
        let body = http::json_body(KIND, &message)?;
        let url = self.api_url.get(KIND)?;
        let req = http::json_request(KIND, &self.client, reqwest::Method::POST, &url, body).await?;
        let resp = http::send(KIND, req, &[])
            .await
            .map_err(|e| http::noting(e, format!("channel {:?}", message.channel)))?;
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = http::answer_text(KIND, resp).await?;
        accepted(&content_type, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SlackField;
    use crate::notify::testkit::{self, Recorder};
    use pyrite_config::Secret;

    fn config(url: &str) -> SlackConfig {
        SlackConfig {
            api_url: Some(Secret::new(format!("{url}/services/T000/B000/XXXX"))),
            channel: "#alerts".into(),
            ..SlackConfig::default()
        }
    }

    #[tokio::test]
    async fn posts_alertmanagers_message() {
        let server = Recorder::start().await;
        let mut c = config(&server.url);
        c.fields = vec![SlackField {
            title: "Severity".into(),
            value: "{{ .CommonLabels.severity }}".into(),
            short: None,
        }];
        c.short_fields = true;
        let slack = Slack::new(&c, Path::new("/"), testkit::templates()).unwrap();
        let alerts = [testkit::alert("a:1", false), testkit::alert("b:1", false)];
        slack.notify(&testkit::context(), &alerts).await.unwrap();

        let r = server.single();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/services/T000/B000/XXXX");
        assert_eq!(r.header("content-type"), "application/json");
        assert!(r.header("user-agent").starts_with("Pyrite-Alertmanager/"));
        let subject = testkit::subject(2);
        assert_eq!(
            r.json(),
            serde_json::json!({
                "channel": "#alerts",
                "username": "Alertmanager",
                "attachments": [{
                    "title": subject,
                    "title_link": testkit::AM_URL,
                    "text": "",
                    "fallback": format!("{subject} | {}", testkit::AM_URL),
                    "callback_id": "",
                    "fields": [{"title": "Severity", "value": "page", "short": true}],
                    "footer": "",
                    "color": "danger",
                    "mrkdwn_in": ["fallback", "pretext", "text"],
                }],
            })
        );
    }

    #[tokio::test]
    async fn failures_are_classified() {
        let server = Recorder::start().await;
        let slack = Slack::new(&config(&server.url), Path::new("/"), testkit::templates()).unwrap();
        let alerts = [testkit::alert("a:1", true)];
        let ctx = testkit::context();

        let e = testkit::fail_with(&server, &slack, &alerts, (500, "text/plain", "oops")).await;
        assert!(e.retry);
        assert!(!e.message.contains("XXXX"), "{}", e.message);

        server.answer(400, "text/plain", "invalid_payload");
        assert!(!slack.notify(&ctx, &alerts).await.unwrap_err().retry);

        let e = testkit::fail_with(
            &server,
            &slack,
            &alerts,
            (200, "application/json", r#"{"ok":false,"error":"channel_not_found"}"#),
        )
        .await;
        assert!(!e.retry && e.message.contains("channel_not_found"), "{}", e.message);

        server.answer(200, "application/json", r#"{"ok":true}"#);
        slack.notify(&ctx, &alerts).await.unwrap();
        assert_eq!(server.requests()[3].json()["attachments"][0]["color"], "good");
    }

    #[tokio::test]
    async fn a_template_error_is_fatal() {
        let server = Recorder::start().await;
        let mut c = config(&server.url);
        c.title = "{{ nosuch }}".into();
        let slack = Slack::new(&c, Path::new("/"), testkit::templates()).unwrap();
        let e = slack
            .notify(&testkit::context(), &[testkit::alert("a:1", false)])
            .await
            .unwrap_err();
        assert!(!e.retry && e.message.contains("template error"), "{}", e.message);
        assert!(server.requests().is_empty());
    }
}
