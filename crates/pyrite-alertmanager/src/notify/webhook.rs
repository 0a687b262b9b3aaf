//! `webhook_configs`: the template data as JSON, `version: "4"`, with the group key and
//! how many alerts `max_alerts` left out, POSTed to the configured URL.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use super::{http, Context, Data, Integration, NotifyError};
use crate::config::WebhookConfig;
use crate::model::Alert;

pub struct Webhook {
    url: String,
    client: pyrite_http_client::HttpClient,
    send_resolved: bool,
    max_alerts: u64,
    timeout: Option<Duration>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    #[serde(flatten)]
    data: &'a Data,
    version: &'static str,
    group_key: &'a str,
    truncated_alerts: u64,
}

impl Webhook {
    pub fn new(config: &WebhookConfig, base_dir: &Path) -> Result<Webhook, String> {
        let url = match (&config.url, &config.url_file) {
            (Some(url), _) => url.expose().to_string(),
            (None, Some(file)) => {
                let path = base_dir.join(file);
                std::fs::read_to_string(&path)
                    .map_err(|e| format!("reading url_file {}: {e}", path.display()))?
                    .trim()
                    .to_string()
            }
            (None, None) => return Err("one of url or url_file must be configured".into()),
        };
        let client = http::client(&config.http_config, base_dir)?;
        Ok(Webhook {
            url,
            client,
            send_resolved: config.send_resolved,
            max_alerts: config.max_alerts,
            timeout: config.timeout.filter(|t| !t.is_zero()),
        })
    }
}

#[async_trait]
impl Integration for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    async fn notify(&self, ctx: &Context, alerts: &[Alert]) -> Result<(), NotifyError> {
        let (kept, truncated) = match usize::try_from(self.max_alerts) {
            Ok(max) if max > 0 && alerts.len() > max => (&alerts[..max], (alerts.len() - max) as u64),
            _ => (alerts, 0),
        };
        let data = Data::new(ctx, kept);
        let body = serde_json::to_vec(&Message {
            data: &data,
            version: "4",
            group_key: &ctx.group_key,
            truncated_alerts: truncated,
        })
        .map_err(|e| NotifyError::fatal(e.to_string()))?;
        let mut req = self
            .client
            .request(reqwest::Method::POST, &self.url)
            .await
            .map_err(|e| NotifyError::retry(format!("webhook: {e}")))?
            .header("Content-Type", "application/json")
            // The same for every replica and retry sending this notification.
            .header("Idempotency-Key", &ctx.idempotency_key)
            .header("User-Agent", http::USER_AGENT)
            .body(body);
        if let Some(t) = self.timeout {
            req = req.timeout(t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| NotifyError::retry(format!("webhook: {}", redact(&e.to_string(), &self.url))))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        Err(http::status_error("webhook", status.as_u16(), &[]))
    }
}

/// The URL may carry a secret; errors name the receiver instead.
fn redact(message: &str, url: &str) -> String {
    message.replace(url, "<redacted>")
}
