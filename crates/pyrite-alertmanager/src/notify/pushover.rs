//! `pushover_configs`: Pushover's Messages API as Alertmanager uses it — a POST to
//! `https://api.pushover.net/1/messages.json` with an empty `text/plain` body and every
//! parameter in the query string (sorted by name): `token`, `user`, `title` (cut to
//! 250 characters), `message` (cut to 1024, trimmed, `(no details)` when empty; HTML
//! with `html: true`), `url` (cut to 512), `url_title`, `priority`, `retry` and `expire`
//! in seconds, `device`, `sound`, and `html`, `monospace` and `ttl` when set.
//!
//! The invariant: the application token and the user key travel only in the request's
//! query and never appear in an error.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use super::http::{self, Renderer, SecretSource};
use super::template::Templates;
use super::{Context, Data, Integration, NotifyError};
use crate::config::PushoverConfig;
use crate::model::Alert;

const KIND: &str = "pushover";
const API_URL: &str = "https://api.pushover.net/1/messages.json";
const MAX_TITLE_RUNES: usize = 250;
const MAX_MESSAGE_RUNES: usize = 1024;
const MAX_URL_RUNES: usize = 512;

pub struct Pushover {
    config: PushoverConfig,
    token: SecretSource,
    user_key: SecretSource,
    api_url: String,
    client: pyrite_http_client::HttpClient,
    templates: Arc<Templates>,
}

impl Pushover {
    pub fn new(config: &PushoverConfig, base_dir: &Path, templates: Arc<Templates>) -> Result<Pushover, String> {
        let token = SecretSource::new(config.token.as_ref(), config.token_file.as_ref(), base_dir)
            .ok_or("one of token or token_file must be configured")?;
        let user_key = SecretSource::new(config.user_key.as_ref(), config.user_key_file.as_ref(), base_dir)
            .ok_or("one of user_key or user_key_file must be configured")?;
        Ok(Pushover {
            client: http::client(&config.http_config, base_dir)?,
            config: config.clone(),
            token,
            user_key,
            api_url: API_URL.to_string(),
            templates,
        })
    }

    /// The request's query parameters, every template executed.
    fn parameters(
        &self,
        data: &Data,
        token: &str,
        user_key: &str,
    ) -> Result<BTreeMap<&'static str, String>, NotifyError> {
        let c = &self.config;
        let mut r = Renderer::new(KIND, &self.templates, data);
        let mut p = BTreeMap::new();
        p.insert("token", r.text(token));
        p.insert("user", r.text(user_key));
        p.insert("title", r.truncated("title", &c.title, MAX_TITLE_RUNES));
        let message = if c.html {
            p.insert("html", "1".to_string());
            self.templates
                .execute_html(&c.message, data)
                .map_err(|e| http::template_error(KIND, e))?
        } else {
            r.text(&c.message)
        };
        if c.monospace {
            p.insert("monospace", "1".to_string());
        }
        let message = http::truncate(KIND, "message", message, MAX_MESSAGE_RUNES);
        let message = message.trim();
        p.insert(
            "message",
            if message.is_empty() { "(no details)" } else { message }.to_string(),
        );
        p.insert("url", r.truncated("url", &c.url, MAX_URL_RUNES));
        p.insert("url_title", r.text(&c.url_title));
        p.insert("priority", r.text(&c.priority));
        let secs = |d: Option<std::time::Duration>| d.map_or(0, |d| d.as_secs());
        p.insert("retry", secs(c.retry).to_string());
        p.insert("expire", secs(c.expire).to_string());
        p.insert("device", r.text(&c.device));
        p.insert("sound", r.text(&c.sound));
        if secs(c.ttl) > 0 {
            p.insert("ttl", secs(c.ttl).to_string());
        }
        r.finish()?;
        Ok(p)
    }
}

#[async_trait]
impl Integration for Pushover {
    fn name(&self) -> &'static str {
        KIND
    }

    fn send_resolved(&self) -> bool {
        self.config.send_resolved
    }

    async fn notify(&self, ctx: &Context, alerts: &[Alert]) -> Result<(), NotifyError> {
        let token = self.token.get(KIND)?;
        let user_key = self.user_key.get(KIND)?;
        let params = self.parameters(&Data::new(ctx, alerts), &token, &user_key)?;
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        let url = format!("{}?{query}", self.api_url);
        let hide = |e: NotifyError| http::hide(e, &[&token, &user_key]);
        let req = http::request(KIND, &self.client, reqwest::Method::POST, &url)
            .await
            .map_err(hide)?
            .header("Content-Type", "text/plain");
        http::send(KIND, req, &[]).await.map_err(hide)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testkit::{self, Recorder};
    use pyrite_config::Secret;
    use std::time::Duration;

    fn pushover(url: &str, c: &PushoverConfig) -> Pushover {
        let mut p = Pushover::new(c, Path::new("/"), testkit::templates()).unwrap();
        p.api_url = format!("{url}/1/messages.json");
        p
    }

    fn config() -> PushoverConfig {
        PushoverConfig {
            token: Some(Secret::new("T0K3N")),
            user_key: Some(Secret::new("US3R")),
            ..PushoverConfig::default()
        }
    }

    fn query(path: &str) -> (String, BTreeMap<String, String>) {
        let (p, q) = path.split_once('?').unwrap();
        (
            p.to_string(),
            url::form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
        )
    }

    #[tokio::test]
    async fn posts_the_parameters_in_the_query() {
        let server = Recorder::start().await;
        let mut c = config();
        c.sound = "siren".into();
        c.ttl = Some(Duration::from_secs(90));
        let po = pushover(&server.url, &c);
        assert!(po.send_resolved());
        let alerts = [testkit::alert("a:1", false)];
        po.notify(&testkit::context(), &alerts).await.unwrap();

        let r = server.single();
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-type"), "text/plain");
        assert!(r.body.is_empty());
        let (path, q) = query(&r.path);
        assert_eq!(path, "/1/messages.json");
        let names: Vec<&str> = r
            .path
            .split_once('?')
            .unwrap()
            .1
            .split('&')
            .map(|kv| kv.split('=').next().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "device",
                "expire",
                "message",
                "priority",
                "retry",
                "sound",
                "title",
                "token",
                "ttl",
                "url",
                "url_title",
                "user"
            ]
        );
        let message = testkit::templates()
            .execute(&c.message, &Data::new(&testkit::context(), &alerts))
            .unwrap();
        let want: BTreeMap<String, String> = [
            ("device", ""),
            ("expire", "3600"),
            ("message", message.trim()),
            ("priority", "2"),
            ("retry", "60"),
            ("sound", "siren"),
            ("title", "[FIRING:1] Down (a:1 page)"),
            ("token", "T0K3N"),
            ("ttl", "90"),
            ("url", testkit::AM_URL),
            ("url_title", ""),
            ("user", "US3R"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(q, want);
        assert!(q["message"].starts_with("Instance down"), "{}", q["message"]);

        server.clear();
        testkit::send_one(&po, true).await;
        let (_, q) = query(&server.single().path);
        assert_eq!(q["priority"], "0");
        assert_eq!(q["title"], "[RESOLVED] Down (a:1 page)");
    }

    #[tokio::test]
    async fn html_monospace_empty_messages_and_send_resolved() {
        let server = Recorder::start().await;
        let mut c = config();
        c.html = true;
        c.message = "<b>{{ .CommonLabels.instance }}</b>".into();
        c.send_resolved = false;
        let po = pushover(&server.url, &c);
        assert!(!po.send_resolved());
        po.notify(&testkit::context(), &[testkit::alert("a<1>", false)])
            .await
            .unwrap();
        let (_, q) = query(&server.single().path);
        assert_eq!(q["html"], "1");
        assert_eq!(q["message"], "<b>a&lt;1&gt;</b>");

        server.clear();
        let mut c = config();
        c.monospace = true;
        c.message = "  {{ \"\" }} ".into();
        pushover(&server.url, &c)
            .notify(&testkit::context(), &[testkit::alert("a:1", false)])
            .await
            .unwrap();
        let (_, q) = query(&server.single().path);
        assert_eq!(q["monospace"], "1");
        assert_eq!(q["message"], "(no details)");
        assert!(!q.contains_key("html") && !q.contains_key("ttl"));
    }

    #[tokio::test]
    async fn failures_are_classified_and_keep_the_secrets_out() {
        let server = Recorder::start().await;
        let po = pushover(&server.url, &config());
        let alerts = [testkit::alert("a:1", false)];
        let e = testkit::fail_with(&server, &po, &alerts, (500, "application/json", r#"{"status":0}"#)).await;
        testkit::assert_failure(&e, true, &["T0K3N", "US3R"]);
        let e = testkit::fail_with(
            &server,
            &po,
            &alerts,
            (
                400,
                "application/json",
                r#"{"status":0,"errors":["user key is invalid"]}"#,
            ),
        )
        .await;
        testkit::assert_failure(&e, false, &["T0K3N"]);

        let e = pushover("http://127.0.0.1:1", &config())
            .notify(&testkit::context(), &alerts)
            .await
            .unwrap_err();
        testkit::assert_failure(&e, true, &["T0K3N", "US3R"]);
    }
}
