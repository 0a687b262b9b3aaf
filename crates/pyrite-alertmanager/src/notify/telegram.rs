//! `telegram_configs`: the Bot API's `sendMessage`, POSTed as JSON to
//! `{api_url}/bot{token}/sendMessage` with the fields as strings, as the Go client
//! Alertmanager uses sends them — `chat_id`, `text` (cut to 4096 characters),
//! `parse_mode`, `disable_web_page_preview`, and `disable_notification` and
//! `message_thread_id` when set. With `parse_mode: HTML` the message is executed as
//! Alertmanager's `html/template` does, the data's values HTML-escaped.
//!
//! The invariant: the bot token, which is part of the URL, never appears in an error.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use super::http::{self, SecretSource};
use super::template::Templates;
use super::{Context, Data, Integration, NotifyError};
use crate::config::TelegramConfig;
use crate::model::Alert;

const KIND: &str = "telegram";
const MAX_MESSAGE_RUNES: usize = 4096;

pub struct Telegram {
    config: TelegramConfig,
    token: SecretSource,
    api_url: String,
    client: pyrite_http_client::HttpClient,
    templates: Arc<Templates>,
}

impl Telegram {
    pub fn new(config: &TelegramConfig, base_dir: &Path, templates: Arc<Templates>) -> Result<Telegram, String> {
        let token = SecretSource::new(config.bot_token.as_ref(), config.bot_token_file.as_ref(), base_dir)
            .ok_or("missing bot_token or bot_token_file on telegram_config")?;
        let api_url = config.api_url.clone().ok_or("no Telegram api_url configured")?;
        Ok(Telegram {
            client: http::client(&config.http_config, base_dir)?,
            config: config.clone(),
            token,
            api_url: api_url.trim_end_matches('/').to_string(),
            templates,
        })
    }

    fn message(&self, data: &Data) -> Result<BTreeMap<&'static str, String>, NotifyError> {
        let c = &self.config;
        let text = if c.parse_mode == "HTML" {
            self.templates.execute_html(&c.message, data)
        } else {
            self.templates.execute(&c.message, data)
        }
        .map_err(|e| http::template_error(KIND, e))?;
        let text = http::truncate(KIND, "message", text, MAX_MESSAGE_RUNES);
        let mut m = BTreeMap::new();
        m.insert("chat_id", c.chat_id.to_string());
        m.insert("text", text);
        m.insert("disable_web_page_preview", "true".to_string());
        if !c.parse_mode.is_empty() {
            m.insert("parse_mode", c.parse_mode.clone());
        }
        if c.disable_notifications {
            m.insert("disable_notification", "true".to_string());
        }
        if c.message_thread_id != 0 {
            m.insert("message_thread_id", c.message_thread_id.to_string());
        }
        Ok(m)
    }
}

#[async_trait]
impl Integration for Telegram {
    fn name(&self) -> &'static str {
        KIND
    }

    fn send_resolved(&self) -> bool {
        self.config.send_resolved
    }

    async fn notify(&self, ctx: &Context, alerts: &[Alert]) -> Result<(), NotifyError> {
        let body = http::json_body(KIND, &self.message(&Data::new(ctx, alerts))?)?;
        let token = self.token.get(KIND)?;
        let url = format!("{}/bot{token}/sendMessage", self.api_url);
        let resp = http::post_json(KIND, &self.client, &url, body, &[])
            .await
            .map_err(|e| http::hide(e, &[&token]))?;
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            ok: bool,
            #[serde(default)]
            description: String,
        }
        let text = http::answer_text(KIND, resp).await?;
        match serde_json::from_str::<Answer>(&text) {
            Ok(a) if !a.ok => Err(NotifyError::fatal(format!(
                "{KIND}: {}",
                http::redact(&a.description, &token)
            ))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testkit::{self, Recorder};
    use pyrite_config::Secret;

    fn config(url: &str) -> TelegramConfig {
        TelegramConfig {
            api_url: Some(url.to_string()),
            bot_token: Some(Secret::new("123:T0K3N")),
            chat_id: -1001234,
            ..TelegramConfig::default()
        }
    }

    #[tokio::test]
    async fn sends_the_message() {
        let server = Recorder::start().await;
        server.answer(200, "application/json", r#"{"ok":true,"result":{}}"#);
        let mut c = config(&server.url);
        c.disable_notifications = true;
        c.message_thread_id = 7;
        let tg = Telegram::new(&c, Path::new("/"), testkit::templates()).unwrap();
        let mut alert = testkit::alert("a:1", false);
        alert.generator_url = "http://prom/graph?a=1&b=2".into();
        tg.notify(&testkit::context(), &[alert]).await.unwrap();

        let r = server.single();
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/bot123:T0K3N/sendMessage")
        );
        assert_eq!(r.header("content-type"), "application/json");
        let list = testkit::text_list("a:1").replace("http://prom/graph", "http://prom/graph?a=1&amp;b=2");
        assert_eq!(
            r.json(),
            serde_json::json!({
                "chat_id": "-1001234",
                "text": format!("\n\nAlerts Firing:\n{list}\n\n\n"),
                "parse_mode": "HTML",
                "disable_web_page_preview": "true",
                "disable_notification": "true",
                "message_thread_id": "7",
            })
        );
    }

    #[tokio::test]
    async fn failures_are_classified_and_keep_the_token_out() {
        let server = Recorder::start().await;
        let mut c = config(&server.url);
        c.parse_mode = String::new();
        let tg = Telegram::new(&c, Path::new("/"), testkit::templates()).unwrap();
        let alerts = [testkit::alert("a:1", false)];

        let e = testkit::fail_with(&server, &tg, &alerts, (500, "application/json", r#"{"ok":false}"#)).await;
        testkit::assert_failure(&e, true, &["T0K3N"]);

        let e = testkit::fail_with(
            &server,
            &tg,
            &alerts,
            (
                400,
                "application/json",
                r#"{"ok":false,"description":"Bad Request: chat not found"}"#,
            ),
        )
        .await;
        testkit::assert_failure(&e, false, &["T0K3N"]);

        server.answer(200, "application/json", r#"{"ok":true}"#);
        tg.notify(&testkit::context(), &alerts).await.unwrap();
        let body = server.requests()[2].json();
        assert!(body.get("parse_mode").is_none() && body.get("disable_notification").is_none());
    }
}
