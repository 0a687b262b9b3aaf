//! `discord_configs`: a webhook message with one embed (title, description, colour),
//! POSTed as JSON to the webhook URL, as Alertmanager sends it — the title cut to 256
//! characters, the description to 4096 and the content to 2000, the colour red while
//! any alert fires and green once all are resolved.
//!
//! The invariant: the webhook URL, which carries its credential, is read only to send
//! and never appears in an error.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use super::http::{self, Renderer, SecretSource};
use super::template::Templates;
use super::{Context, Data, Integration, NotifyError};
use crate::config::DiscordConfig;
use crate::model::Alert;

const KIND: &str = "discord";
const MAX_TITLE_RUNES: usize = 256;
const MAX_DESCRIPTION_RUNES: usize = 4096;
const MAX_CONTENT_RUNES: usize = 2000;
const COLOR_FIRING: u32 = 0x992D22;
const COLOR_RESOLVED: u32 = 0x2ECC71;

pub struct Discord {
    config: DiscordConfig,
    url: SecretSource,
    client: pyrite_http_client::HttpClient,
    templates: Arc<Templates>,
}

#[derive(Serialize)]
struct Message {
    content: String,
    embeds: Vec<Embed>,
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    avatar_url: String,
}

#[derive(Serialize)]
struct Embed {
    title: String,
    description: String,
    color: u32,
}

impl Discord {
    pub fn new(config: &DiscordConfig, base_dir: &Path, templates: Arc<Templates>) -> Result<Discord, String> {
        let url = SecretSource::new(config.webhook_url.as_ref(), config.webhook_url_file.as_ref(), base_dir)
            .ok_or("one of webhook_url or webhook_url_file must be configured")?;
        Ok(Discord {
            client: http::client(&config.http_config, base_dir)?,
            config: config.clone(),
            url,
            templates,
        })
    }

    fn message(&self, data: &Data) -> Result<Message, NotifyError> {
        let c = &self.config;
        let mut r = Renderer::new(KIND, &self.templates, data);
        let title = r.truncated("title", &c.title, MAX_TITLE_RUNES);
        let description = r.truncated("message", &c.message, MAX_DESCRIPTION_RUNES);
        let content = r.truncated("content", &c.content, MAX_CONTENT_RUNES);
        r.finish()?;
        Ok(Message {
            content,
            embeds: vec![Embed {
                title,
                description,
                color: data.by_status(COLOR_FIRING, COLOR_RESOLVED),
            }],
            username: c.username.clone(),
            avatar_url: c.avatar_url.clone(),
        })
    }
}

#[async_trait]
impl Integration for Discord {
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

    #[tokio::test]
    async fn posts_one_embed() {
        let server = Recorder::start().await;
        let c = DiscordConfig {
            webhook_url: Some(Secret::new(format!("{}/api/webhooks/1/T0K3N", server.url))),
            username: "am".into(),
            ..DiscordConfig::default()
        };
        let discord = Discord::new(&c, Path::new("/"), testkit::templates()).unwrap();
        let alerts = [testkit::alert("a:1", false), testkit::alert("b:1", false)];
        discord.notify(&testkit::context(), &alerts).await.unwrap();

        let r = server.single();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/api/webhooks/1/T0K3N"));
        assert_eq!(r.header("content-type"), "application/json");
        assert_eq!(
            r.json(),
            serde_json::json!({
                "content": "",
                "embeds": [{
                    "title": testkit::subject(2),
                    "description": format!(
                        "\n\nAlerts Firing:\n{}{}\n\n\n",
                        testkit::text_list("a:1"),
                        testkit::text_list("b:1")
                    ),
                    "color": 0x992D22,
                }],
                "username": "am",
            })
        );

        server.clear();
        testkit::send_one(&discord, true).await;
        assert_eq!(server.single().json()["embeds"][0]["color"], 0x2ECC71);

        let e = testkit::fail_with(&server, &discord, &alerts, (500, "text/plain", "")).await;
        testkit::assert_failure(&e, true, &["T0K3N"]);
        server.answer(400, "text/plain", "");
        assert!(!discord.notify(&testkit::context(), &alerts).await.unwrap_err().retry);
    }
}
