//! `rocketchat_configs`: Rocket.Chat's `chat.postMessage` as Alertmanager uses it — a
//! message with one attachment POSTed as JSON to `{api_url}/api/v1/chat.postMessage`
//! with the user's token in `X-Auth-Token` and its id in `X-User-Id`: `channel`,
//! `emoji`, `avatar` (from `icon_url`), and the attachment's `title` (cut to 1024
//! characters), `title_link`, `text`, `image_url`, `thumb_url`, `color`, `fields`
//! (each `short` falling back to `short_fields`) and `actions` (buttons with `text`,
//! `url` and `msg`), every text a template and empty ones left out.
//!
//! The invariant: a notification counts as delivered only when Rocket.Chat answered a
//! 2xx whose JSON says `"success": true`, since it reports some failures with a 200.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use super::http::{self, Renderer, SecretSource};
use super::template::Templates;
use super::{Context, Data, Integration, NotifyError};
use crate::config::RocketchatConfig;
use crate::model::Alert;

const KIND: &str = "rocketchat";
const MAX_TITLE_RUNES: usize = 1024;

pub struct Rocketchat {
    config: RocketchatConfig,
    token: SecretSource,
    token_id: SecretSource,
    url: String,
    client: pyrite_http_client::HttpClient,
    templates: Arc<Templates>,
}

#[derive(Serialize)]
struct Message {
    #[serde(skip_serializing_if = "String::is_empty")]
    channel: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    emoji: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    avatar: String,
    attachments: Vec<Attachment>,
}

#[derive(Serialize)]
struct Attachment {
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    title_link: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    image_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    thumb_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    color: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<Field>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    actions: Vec<Action>,
}

#[derive(Serialize)]
struct Field {
    short: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    value: String,
}

#[derive(Serialize)]
struct Action {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    url: String,
    is_webview: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    msg: String,
    msg_in_chat_window: bool,
}

/// A text of an action as written: Alertmanager reads an action's keys as its Go
/// field names in lower case (`text`, `url`, `msg`).
fn action_text(action: &serde_yaml::Value, key: &str) -> String {
    match action.get(key) {
        Some(serde_yaml::Value::String(s)) => s.clone(),
        Some(v @ (serde_yaml::Value::Number(_) | serde_yaml::Value::Bool(_))) => serde_yaml::to_string(v)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

impl Rocketchat {
    pub fn new(config: &RocketchatConfig, base_dir: &Path, templates: Arc<Templates>) -> Result<Rocketchat, String> {
        let token = SecretSource::new(config.token.as_ref(), config.token_file.as_ref(), base_dir)
            .ok_or("no Rocket.Chat token or token_file configured")?;
        let token_id = SecretSource::new(config.token_id.as_ref(), config.token_id_file.as_ref(), base_dir)
            .ok_or("no Rocket.Chat token_id or token_id_file configured")?;
        let api_url = config.api_url.clone().ok_or("no Rocket.Chat api_url configured")?;
        Ok(Rocketchat {
            client: http::client(&config.http_config, base_dir)?,
            config: config.clone(),
            token,
            token_id,
            url: format!("{}/api/v1/chat.postMessage", api_url.trim_end_matches('/')),
            templates,
        })
    }

    fn message(&self, data: &Data) -> Result<Message, NotifyError> {
        let c = &self.config;
        let mut r = Renderer::new(KIND, &self.templates, data);
        let title = r.truncated("title", &c.title, MAX_TITLE_RUNES);
        let mut attachment = Attachment {
            title,
            title_link: r.text(&c.title_link),
            text: r.text(&c.text),
            image_url: r.text(&c.image_url),
            thumb_url: r.text(&c.thumb_url),
            color: r.text(&c.color),
            fields: Vec::new(),
            actions: Vec::new(),
        };
        for f in &c.fields {
            attachment.fields.push(Field {
                short: f.short.unwrap_or(c.short_fields),
                title: r.text(&f.title),
                value: r.text(&f.value),
            });
        }
        for a in &c.actions {
            attachment.actions.push(Action {
                kind: "button",
                text: r.text(&action_text(a, "text")),
                url: r.text(&action_text(a, "url")),
                is_webview: false,
                msg: r.text(&action_text(a, "msg")),
                msg_in_chat_window: false,
            });
        }
        let message = Message {
            channel: r.text(&c.channel),
            emoji: r.text(&c.emoji),
            avatar: r.text(&c.icon_url),
            attachments: vec![attachment],
        };
        r.finish()?;
        Ok(message)
    }
}

/// Whether Rocket.Chat's answer to a 2xx says the message was posted: an answer that is
/// not JSON may be a proxy's and is worth another try; `"success": false` is not.
fn accepted(body: &str) -> Result<(), NotifyError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(default)]
        success: bool,
        #[serde(default)]
        error: String,
    }
    let answer: Answer = serde_json::from_str(body)
        .map_err(|e| NotifyError::retry(format!("{KIND}: could not read Rocket.Chat's answer: {e}")))?;
    if !answer.success {
        return Err(NotifyError::fatal(format!(
            "{KIND}: error response from Rocket.Chat: {}",
            answer.error
        )));
    }
    Ok(())
}

#[async_trait]
impl Integration for Rocketchat {
    fn name(&self) -> &'static str {
        KIND
    }

    fn send_resolved(&self) -> bool {
        self.config.send_resolved
    }

    async fn notify(&self, ctx: &Context, alerts: &[Alert]) -> Result<(), NotifyError> {
        let message = self.message(&Data::new(ctx, alerts))?;
        let body = http::json_body(KIND, &message)?;
        let token = self.token.get(KIND)?;
        let token_id = self.token_id.get(KIND)?;
        let in_channel = |e: NotifyError| http::noting(e, format!("channel {:?}", message.channel));
        let req = http::json_request(KIND, &self.client, reqwest::Method::POST, &self.url, body)
            .await?
            .header("X-Auth-Token", token)
            .header("X-User-Id", token_id);
        let resp = http::send(KIND, req, &[]).await.map_err(in_channel)?;
        let text = http::answer_text(KIND, resp).await?;
        accepted(&text).map_err(in_channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RocketchatField;
    use crate::notify::testkit::{self, Recorder};
    use pyrite_config::Secret;

    fn config(url: &str) -> RocketchatConfig {
        RocketchatConfig {
            api_url: Some(format!("{url}/")),
            token: Some(Secret::new("T0K3N")),
            token_id: Some(Secret::new("user-1")),
            channel: "#alerts".into(),
            ..RocketchatConfig::default()
        }
    }

    #[tokio::test]
    async fn posts_the_message_with_the_token_headers() {
        let server = Recorder::start().await;
        server.answer(200, "application/json", r#"{"success":true}"#);
        let mut c = config(&server.url);
        c.short_fields = true;
        c.fields = vec![
            RocketchatField {
                short: None,
                title: "Severity".into(),
                value: "{{ .CommonLabels.severity }}".into(),
            },
            RocketchatField {
                short: Some(false),
                title: "Instances".into(),
                value: "{{ range .Alerts }}{{ .Labels.instance }} {{ end }}".into(),
            },
        ];
        c.actions = vec![serde_yaml::from_str("{text: Silence, url: 'http://am/#/silences/new', msg: hi}").unwrap()];
        let rc = Rocketchat::new(&c, Path::new("/"), testkit::templates()).unwrap();
        assert!(!rc.send_resolved());
        let alerts = [testkit::alert("a:1", false), testkit::alert("b:1", false)];
        rc.notify(&testkit::context(), &alerts).await.unwrap();

        let r = server.single();
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/api/v1/chat.postMessage")
        );
        assert_eq!(r.header("content-type"), "application/json");
        assert_eq!(r.header("x-auth-token"), "T0K3N");
        assert_eq!(r.header("x-user-id"), "user-1");
        assert_eq!(
            r.json(),
            serde_json::json!({
                "channel": "#alerts",
                "attachments": [{
                    "title": testkit::subject(2),
                    "title_link": testkit::AM_URL,
                    "color": "red",
                    "fields": [
                        {"short": true, "title": "Severity", "value": "page"},
                        {"short": false, "title": "Instances", "value": "a:1 b:1 "},
                    ],
                    "actions": [{
                        "type": "button", "text": "Silence", "url": "http://am/#/silences/new",
                        "is_webview": false, "msg": "hi", "msg_in_chat_window": false,
                    }],
                }],
            })
        );

        server.clear();
        c.send_resolved = true;
        c.fields.clear();
        c.actions.clear();
        let rc = Rocketchat::new(&c, Path::new("/"), testkit::templates()).unwrap();
        assert!(rc.send_resolved());
        testkit::send_one(&rc, true).await;
        assert_eq!(
            server.single().json(),
            serde_json::json!({
                "channel": "#alerts",
                "attachments": [{
                    "title": "[RESOLVED] Down (a:1 page)",
                    "title_link": testkit::AM_URL,
                    "color": "green",
                }],
            })
        );
    }

    #[tokio::test]
    async fn failures_are_classified() {
        let server = Recorder::start().await;
        let rc = Rocketchat::new(&config(&server.url), Path::new("/"), testkit::templates()).unwrap();
        let alerts = [testkit::alert("a:1", false)];
        let ctx = testkit::context();

        let e = testkit::fail_with(&server, &rc, &alerts, (503, "text/plain", "down")).await;
        assert!(
            e.retry && e.message.contains("#alerts") && !e.message.contains("T0K3N"),
            "{}",
            e.message
        );

        server.answer(401, "application/json", r#"{"success":false,"error":"unauthorized"}"#);
        assert!(!rc.notify(&ctx, &alerts).await.unwrap_err().retry);

        let e = testkit::fail_with(
            &server,
            &rc,
            &alerts,
            (
                200,
                "application/json",
                r#"{"success":false,"error":"error-invalid-channel"}"#,
            ),
        )
        .await;
        assert!(!e.retry && e.message.contains("error-invalid-channel"), "{}", e.message);

        server.answer(200, "text/html", "<html>proxy</html>");
        assert!(rc.notify(&ctx, &alerts).await.unwrap_err().retry);
    }
}
