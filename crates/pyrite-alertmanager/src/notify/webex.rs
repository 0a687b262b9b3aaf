//! `webex_configs`: Webex's Messages API as Alertmanager uses it — `{"markdown": …,
//! "roomId": …}` POSTed as JSON to `api_url`, the message cut to 7439 bytes (on a
//! character boundary, ending in `…`), the bot's token sent by `http_config`'s
//! `authorization`, which the configuration requires.
//!
//! The invariant: the message never exceeds Webex's limit in bytes, so a long alert
//! list is cut rather than refused.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use super::http::{self, Renderer};
use super::template::Templates;
use super::{Context, Data, Integration, NotifyError};
use crate::config::WebexConfig;
use crate::model::Alert;

const KIND: &str = "webex";
const MAX_MESSAGE_BYTES: usize = 7439;

pub struct Webex {
    config: WebexConfig,
    api_url: String,
    client: pyrite_http_client::HttpClient,
    templates: Arc<Templates>,
}

#[derive(Serialize)]
struct Message {
    markdown: String,
    #[serde(rename = "roomId", skip_serializing_if = "String::is_empty")]
    room_id: String,
}

/// Alertmanager's `TruncateInBytes`: at most `n` bytes, ending in `…` (three bytes)
/// when cut, never splitting a character.
pub(super) fn truncate_in_bytes(s: String, n: usize) -> (String, bool) {
    if s.len() <= n {
        return (s, false);
    }
    if n <= 3 {
        return (if n == 3 { "…".into() } else { ".".repeat(n) }, true);
    }
    let mut end = n - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (format!("{}…", &s[..end]), true)
}

impl Webex {
    pub fn new(config: &WebexConfig, base_dir: &Path, templates: Arc<Templates>) -> Result<Webex, String> {
        let api_url = config.api_url.clone().ok_or("no Webex api_url configured")?;
        Ok(Webex {
            client: http::client(&config.http_config, base_dir)?,
            config: config.clone(),
            api_url,
            templates,
        })
    }

    fn message(&self, data: &Data) -> Result<Message, NotifyError> {
        let mut r = Renderer::new(KIND, &self.templates, data);
        let (markdown, cut) = truncate_in_bytes(r.text(&self.config.message), MAX_MESSAGE_BYTES);
        if cut {
            tracing::debug!(
                integration = KIND,
                max_bytes = MAX_MESSAGE_BYTES,
                "truncated a notification field"
            );
        }
        let message = Message {
            markdown,
            room_id: r.text(&self.config.room_id),
        };
        r.finish()?;
        Ok(message)
    }
}

#[async_trait]
impl Integration for Webex {
    fn name(&self) -> &'static str {
        KIND
    }

    fn send_resolved(&self) -> bool {
        self.config.send_resolved
    }

    async fn notify(&self, ctx: &Context, alerts: &[Alert]) -> Result<(), NotifyError> {
        let body = http::json_body(KIND, &self.message(&Data::new(ctx, alerts))?)?;
        http::post_json(KIND, &self.client, &self.api_url, body, &[])
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HttpConfig;
    use crate::notify::testkit::{self, Recorder};
    use pyrite_config::Secret;

    fn config(url: &str) -> WebexConfig {
        WebexConfig {
            api_url: Some(format!("{url}/v1/messages")),
            room_id: "room-{{ .GroupLabels.alertname }}".into(),
            http_config: HttpConfig {
                authorization: Some(pyrite_http_client::Authorization {
                    credentials: Some(Secret::new("B0T")),
                    ..Default::default()
                }),
                ..HttpConfig::default()
            },
            ..WebexConfig::default()
        }
    }

    #[test]
    fn truncation_in_bytes_is_alertmanagers() {
        assert_eq!(truncate_in_bytes("abcdef".into(), 6), ("abcdef".to_string(), false));
        assert_eq!(truncate_in_bytes("abcdef".into(), 5), ("ab…".to_string(), true));
        assert_eq!(truncate_in_bytes("abcdef".into(), 3), ("…".to_string(), true));
        assert_eq!(truncate_in_bytes("abcdef".into(), 2), ("..".to_string(), true));
        // "é" is two bytes: four bytes leave room for one byte of text, which would split it.
        assert_eq!(truncate_in_bytes("éééé".into(), 4), ("…".to_string(), true));
        assert_eq!(truncate_in_bytes("éééé".into(), 5), ("é…".to_string(), true));
    }

    #[tokio::test]
    async fn posts_markdown_to_the_room() {
        let server = Recorder::start().await;
        let wx = Webex::new(&config(&server.url), Path::new("/"), testkit::templates()).unwrap();
        assert!(wx.send_resolved());
        let alerts = [testkit::alert("a:1", false)];
        wx.notify(&testkit::context(), &alerts).await.unwrap();

        let r = server.single();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/messages"));
        assert_eq!(r.header("content-type"), "application/json");
        assert_eq!(r.header("authorization"), "Bearer B0T");
        let markdown = testkit::templates()
            .execute(
                &WebexConfig::default().message,
                &Data::new(&testkit::context(), &alerts),
            )
            .unwrap();
        assert!(markdown.starts_with("Instance down"), "{markdown}");
        assert_eq!(
            r.json(),
            serde_json::json!({"markdown": markdown, "roomId": "room-Down"})
        );

        server.clear();
        let mut c = config(&server.url);
        c.message = "x".repeat(8000);
        c.room_id = String::new();
        c.send_resolved = false;
        let wx = Webex::new(&c, Path::new("/"), testkit::templates()).unwrap();
        assert!(!wx.send_resolved());
        testkit::send_one(&wx, true).await;
        let body = server.single().json();
        let markdown = body["markdown"].as_str().unwrap();
        assert_eq!(markdown.len(), MAX_MESSAGE_BYTES);
        assert!(markdown.ends_with('…'));
        assert!(body.get("roomId").is_none());
    }

    #[tokio::test]
    async fn failures_are_classified() {
        let server = Recorder::start().await;
        let wx = Webex::new(&config(&server.url), Path::new("/"), testkit::templates()).unwrap();
        let alerts = [testkit::alert("a:1", false)];
        let e = testkit::fail_with(&server, &wx, &alerts, (502, "application/json", "{}")).await;
        testkit::assert_failure(&e, true, &["B0T"]);
        let e = testkit::fail_with(&server, &wx, &alerts, (401, "application/json", "{}")).await;
        testkit::assert_failure(&e, false, &[]);
    }
}
