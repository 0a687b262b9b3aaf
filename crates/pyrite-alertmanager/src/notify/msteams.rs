//! `msteams_configs`: an Office 365 connector card (`MessageCard`) POSTed as JSON to the
//! incoming webhook URL, as Alertmanager sends it — title, summary and text templated,
//! the theme colour red while any alert fires and green once all are resolved.
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
use crate::config::MsTeamsConfig;
use crate::model::Alert;

const KIND: &str = "msteams";
const COLOR_FIRING: &str = "8C1A1A";
const COLOR_RESOLVED: &str = "2DC72D";

pub struct MsTeams {
    config: MsTeamsConfig,
    url: SecretSource,
    client: pyrite_http_client::HttpClient,
    templates: Arc<Templates>,
}

#[derive(Serialize)]
struct Card {
    #[serde(rename = "@context")]
    context: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    title: String,
    summary: String,
    text: String,
    #[serde(rename = "themeColor")]
    theme_color: &'static str,
}

impl MsTeams {
    pub fn new(config: &MsTeamsConfig, base_dir: &Path, templates: Arc<Templates>) -> Result<MsTeams, String> {
        let url = SecretSource::new(config.webhook_url.as_ref(), config.webhook_url_file.as_ref(), base_dir)
            .ok_or("one of webhook_url or webhook_url_file must be configured")?;
        Ok(MsTeams {
            client: http::client(&config.http_config, base_dir)?,
            config: config.clone(),
            url,
            templates,
        })
    }

    fn card(&self, data: &Data) -> Result<Card, NotifyError> {
        let mut r = Renderer::new(KIND, &self.templates, data);
        let card = Card {
            context: "http://schema.org/extensions",
            kind: "MessageCard",
            title: r.text(&self.config.title),
            summary: r.text(&self.config.summary),
            text: r.text(&self.config.text),
            theme_color: data.by_status(COLOR_FIRING, COLOR_RESOLVED),
        };
        r.finish()?;
        Ok(card)
    }
}

#[async_trait]
impl Integration for MsTeams {
    fn name(&self) -> &'static str {
        KIND
    }

    fn send_resolved(&self) -> bool {
        self.config.send_resolved
    }

    async fn notify(&self, ctx: &Context, alerts: &[Alert]) -> Result<(), NotifyError> {
        let body = http::json_body(KIND, &self.card(&Data::new(ctx, alerts))?)?;
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
    async fn posts_a_message_card() {
        let server = Recorder::start().await;
        let c = MsTeamsConfig {
            webhook_url: Some(Secret::new(format!("{}/webhookb2/T0K3N", server.url))),
            ..MsTeamsConfig::default()
        };
        let teams = MsTeams::new(&c, Path::new("/"), testkit::templates()).unwrap();
        let alerts = [testkit::alert("a:1", false), testkit::alert("b:1", true)];
        teams.notify(&testkit::context(), &alerts).await.unwrap();

        let r = server.single();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/webhookb2/T0K3N"));
        assert_eq!(r.header("content-type"), "application/json");
        let md = |instance: &str| {
            format!(
                "\nLabels:\n  - alertname = Down\n  - instance = {instance}\n  - severity = page\n\
                 \nAnnotations:\n  - summary = Instance down\n\nSource: http://prom/graph\n\n"
            )
        };
        let subject = "[FIRING:1] Down (page)";
        assert_eq!(
            r.json(),
            serde_json::json!({
                "@context": "http://schema.org/extensions",
                "type": "MessageCard",
                "title": subject,
                "summary": subject,
                "text": format!(
                    "\n\n# Alerts Firing:\n{}\n\n\n# Alerts Resolved:\n{}\n\n",
                    md("a:1"),
                    md("b:1")
                ),
                "themeColor": "8C1A1A",
            })
        );

        server.clear();
        testkit::send_one(&teams, true).await;
        assert_eq!(server.single().json()["themeColor"], "2DC72D");

        let e = testkit::fail_with(&server, &teams, &alerts, (502, "text/plain", "")).await;
        testkit::assert_failure(&e, true, &["T0K3N"]);
        server.answer(400, "text/plain", "");
        assert!(!teams.notify(&testkit::context(), &alerts).await.unwrap_err().retry);
    }
}
