//! `victorops_configs`: Splunk On-Call's (VictorOps) REST endpoint as Alertmanager uses
//! it — one JSON object of strings POSTed to `{api_url}{api_key}/{routing_key}`, with
//! `message_type` (`CRITICAL` unless the template gives `INFO` or `WARNING`, and
//! `RECOVERY` once all alerts are resolved), `entity_id` (the group key's hash),
//! `entity_display_name`, `state_message` (cut to 20480 characters),
//! `monitoring_tool` and the templated `custom_fields`.
//!
//! The invariant: the API key, which is part of the URL, never appears in an error, and
//! `entity_id` is the same for every notification of a group on every replica, so
//! VictorOps opens one incident and the recovery closes it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use super::http::{self, Renderer, SecretSource};
use super::template::Templates;
use super::{Context, Data, Integration, NotifyError};
use crate::config::VictorOpsConfig;
use crate::model::Alert;

const KIND: &str = "victorops";
const MAX_STATE_MESSAGE_RUNES: usize = 20480;
const TRIGGER: &str = "CRITICAL";
const RESOLVE: &str = "RECOVERY";

pub struct VictorOps {
    config: VictorOpsConfig,
    api_key: SecretSource,
    api_url: String,
    client: pyrite_http_client::HttpClient,
    templates: Arc<Templates>,
}

impl VictorOps {
    pub fn new(config: &VictorOpsConfig, base_dir: &Path, templates: Arc<Templates>) -> Result<VictorOps, String> {
        let api_key = SecretSource::new(config.api_key.as_ref(), config.api_key_file.as_ref(), base_dir)
            .ok_or("no VictorOps api_key or api_key_file configured")?;
        let api_url = http::with_slash(config.api_url.clone().ok_or("no VictorOps api_url configured")?);
        Ok(VictorOps {
            client: http::client(&config.http_config, base_dir)?,
            config: config.clone(),
            api_key,
            api_url,
            templates,
        })
    }

    /// The routing key and the message, every template executed.
    fn message(&self, ctx: &Context, data: &Data) -> Result<(String, BTreeMap<String, String>), NotifyError> {
        let c = &self.config;
        let mut r = Renderer::new(KIND, &self.templates, data);
        let routing_key = r.text(&c.routing_key);
        let mut message_type = r.text(&c.message_type);
        if data.status == "resolved" {
            message_type = RESOLVE.into();
        } else if !matches!(message_type.as_str(), "INFO" | "WARNING" | "CRITICAL") {
            message_type = TRIGGER.into();
        }
        let state_message = r.truncated("state_message", &c.state_message, MAX_STATE_MESSAGE_RUNES);
        let mut m = BTreeMap::new();
        m.insert("message_type".to_string(), message_type);
        m.insert("entity_id".to_string(), http::group_key_hash(&ctx.group_key));
        m.insert("entity_display_name".to_string(), r.text(&c.entity_display_name));
        m.insert("state_message".to_string(), state_message);
        m.insert("monitoring_tool".to_string(), r.text(&c.monitoring_tool));
        for (k, v) in &c.custom_fields {
            m.insert(k.clone(), r.text(v));
        }
        r.finish()?;
        Ok((routing_key, m))
    }
}

#[async_trait]
impl Integration for VictorOps {
    fn name(&self) -> &'static str {
        KIND
    }

    fn send_resolved(&self) -> bool {
        self.config.send_resolved
    }

    async fn notify(&self, ctx: &Context, alerts: &[Alert]) -> Result<(), NotifyError> {
        let (routing_key, message) = self.message(ctx, &Data::new(ctx, alerts))?;
        let body = http::json_body(KIND, &message)?;
        let key = self.api_key.get(KIND)?;
        let url = format!("{}{key}/{routing_key}", self.api_url);
        http::post_json(KIND, &self.client, &url, body, &[])
            .await
            .map(|_| ())
            .map_err(|e| http::hide(e, &[&key]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testkit::{self, Recorder};
    use pyrite_config::Secret;

    fn config(url: &str) -> VictorOpsConfig {
        VictorOpsConfig {
            api_key: Some(Secret::new("V0-K3Y")),
            api_url: Some(format!("{url}/integrations/generic/20131114/alert")),
            routing_key: "team-{{ .CommonLabels.severity }}".into(),
            custom_fields: [(
                "runbook".to_string(),
                "http://rb/{{ .GroupLabels.alertname }}".to_string(),
            )]
            .into(),
            ..VictorOpsConfig::default()
        }
    }

    #[tokio::test]
    async fn posts_a_trigger_then_a_recovery() {
        let server = Recorder::start().await;
        let vo = VictorOps::new(&config(&server.url), Path::new("/"), testkit::templates()).unwrap();
        assert!(vo.send_resolved());
        let alerts = [testkit::alert("a:1", false), testkit::alert("b:1", false)];
        vo.notify(&testkit::context(), &alerts).await.unwrap();

        let r = server.single();
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/integrations/generic/20131114/alert/V0-K3Y/team-page")
        );
        assert_eq!(r.header("content-type"), "application/json");
        assert!(r.header("user-agent").starts_with("Pyrite-Alertmanager/"));
        let state = format!(
            "Instance down\nAlerts Firing:\n{}{}\n",
            testkit::text_list("a:1"),
            testkit::text_list("b:1")
        );
        assert_eq!(
            r.json(),
            serde_json::json!({
                "message_type": "CRITICAL",
                "entity_id": testkit::GROUP_KEY_HASH,
                "entity_display_name": testkit::subject(2),
                "state_message": state,
                "monitoring_tool": "Alertmanager",
                "runbook": "http://rb/Down",
            })
        );

        server.clear();
        testkit::send_one(&vo, true).await;
        let r = server.single();
        let body = r.json();
        assert_eq!(body["message_type"], "RECOVERY");
        assert_eq!(body["entity_id"], testkit::GROUP_KEY_HASH);
        assert_eq!(body["entity_display_name"], "[RESOLVED] Down (a:1 page)");
    }

    #[tokio::test]
    async fn message_types_and_send_resolved() {
        let server = Recorder::start().await;
        let mut c = config(&server.url);
        c.message_type = "{{ if eq .CommonLabels.severity \"page\" }}WARNING{{ end }}".into();
        c.send_resolved = false;
        let vo = VictorOps::new(&c, Path::new("/"), testkit::templates()).unwrap();
        assert!(!vo.send_resolved());
        testkit::send_one(&vo, false).await;
        assert_eq!(server.single().json()["message_type"], "WARNING");

        server.clear();
        c.message_type = "BOGUS".into();
        let vo = VictorOps::new(&c, Path::new("/"), testkit::templates()).unwrap();
        testkit::send_one(&vo, false).await;
        assert_eq!(server.single().json()["message_type"], "CRITICAL");
    }

    #[tokio::test]
    async fn failures_are_classified_and_keep_the_key_out() {
        let server = Recorder::start().await;
        let vo = VictorOps::new(&config(&server.url), Path::new("/"), testkit::templates()).unwrap();
        let alerts = [testkit::alert("a:1", false)];
        let e = testkit::fail_with(&server, &vo, &alerts, (503, "application/json", "{}")).await;
        testkit::assert_failure(&e, true, &["V0-K3Y"]);
        let e = testkit::fail_with(&server, &vo, &alerts, (400, "application/json", "{}")).await;
        testkit::assert_failure(&e, false, &["V0-K3Y"]);

        let mut c = config("http://127.0.0.1:1");
        c.routing_key = "{{ nosuch }}".into();
        let vo = VictorOps::new(&c, Path::new("/"), testkit::templates()).unwrap();
        let e = vo.notify(&testkit::context(), &alerts).await.unwrap_err();
        assert!(!e.retry && e.message.contains("template error"), "{}", e.message);
    }
}
