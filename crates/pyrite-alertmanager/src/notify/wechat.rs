//! `wechat_configs`: WeChat Work's (WeCom) application messages as Alertmanager sends
//! them — an access token from `GET {api_url}gettoken?corpid=…&corpsecret=…`, kept for
//! two hours, then the message POSTed as JSON to
//! `{api_url}message/send?access_token=…`: `touser`, `toparty`, `totag`, `agentid`
//! (templates, left out when empty), `safe` `"0"`, `msgtype`, and the templated
//! message as `text.content` or `markdown.content` (the other present and empty).
//!
//! Any answer to the send but a 200 is retried, as Alertmanager retries it; a 200
//! carries WeChat's own `errcode`, where 0 is success and 42001 (token expired)
//! drops the kept token and asks for a retry.
//!
//! The invariant: neither the API secret nor the access token, both carried in URLs,
//! appears in an error, and a token is kept only after WeChat issued it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use pyrite_config::Secret;
use serde::Serialize;

use super::http::{self, Renderer};
use super::template::Templates;
use super::{Context, Data, Integration, NotifyError};
use crate::config::WechatConfig;
use crate::model::Alert;

const KIND: &str = "wechat";
/// How long an access token is used before a new one is asked for.
const TOKEN_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);
/// WeChat's `errcode` for an expired access token.
const TOKEN_EXPIRED: i64 = 42001;

pub struct Wechat {
    config: WechatConfig,
    api_url: String,
    client: pyrite_http_client::HttpClient,
    templates: Arc<Templates>,
    /// The access token and when it was issued.
    token: Mutex<Option<(String, Instant)>>,
}

#[derive(Serialize)]
struct Message {
    text: Content,
    #[serde(skip_serializing_if = "String::is_empty")]
    touser: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    toparty: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    totag: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    agentid: String,
    safe: &'static str,
    msgtype: String,
    markdown: Content,
}

#[derive(Serialize, Default)]
struct Content {
    content: String,
}

impl Wechat {
    pub fn new(config: &WechatConfig, base_dir: &Path, templates: Arc<Templates>) -> Result<Wechat, String> {
        let api_url = http::with_slash(config.api_url.clone().ok_or("no WeChat api_url configured")?);
        Ok(Wechat {
            client: http::client(&config.http_config, base_dir)?,
            config: config.clone(),
            api_url,
            templates,
            token: Mutex::new(None),
        })
    }

    /// `message` with the API secret and `token` taken out.
    fn hide(&self, e: NotifyError, token: &str) -> NotifyError {
        let secret = self.config.api_secret.as_ref().map(Secret::expose).unwrap_or("");
        http::hide(e, &[secret, token])
    }

    /// The kept access token while it is young enough, else a new one from WeChat.
    async fn access_token(&self, data: &Data) -> Result<String, NotifyError> {
        if let Some((token, at)) = self.token.lock().clone() {
            if !token.is_empty() && at.elapsed() <= TOKEN_LIFETIME {
                return Ok(token);
            }
        }
        let mut r = Renderer::new(KIND, &self.templates, data);
        let secret = r.text(self.config.api_secret.as_ref().map(Secret::expose).unwrap_or(""));
        let corp_id = r.text(&self.config.corp_id);
        r.finish()?;
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("corpid", &corp_id)
            .append_pair("corpsecret", &secret)
            .finish();
        let url = format!("{}gettoken?{query}", self.api_url);
        let hide = |e: NotifyError| http::hide(self.hide(e, ""), &[&secret]);
        let req = http::request(KIND, &self.client, reqwest::Method::GET, &url)
            .await
            .map_err(hide)?;
        let resp = http::send(KIND, req, &[]).await.map_err(hide)?;
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            access_token: String,
        }
        let answer: Answer = resp
            .json()
            .await
            .map_err(|e| NotifyError::fatal(format!("{KIND}: reading the access token: {}", e.without_url())))?;
        if answer.access_token.is_empty() {
            return Err(NotifyError::fatal(format!(
                "{KIND}: invalid APISecret for CorpID: {}",
                self.config.corp_id
            )));
        }
        *self.token.lock() = Some((answer.access_token.clone(), Instant::now()));
        Ok(answer.access_token)
    }

    fn message(&self, data: &Data) -> Result<Message, NotifyError> {
        let c = &self.config;
        let mut r = Renderer::new(KIND, &self.templates, data);
        let mut message = Message {
            text: Content::default(),
            touser: r.text(&c.to_user),
            toparty: r.text(&c.to_party),
            totag: r.text(&c.to_tag),
            agentid: r.text(&c.agent_id),
            safe: "0",
            msgtype: c.message_type.clone(),
            markdown: Content::default(),
        };
        let content = r.text(&c.message);
        if c.message_type == "markdown" {
            message.markdown.content = content;
        } else {
            message.text.content = content;
        }
        r.finish()?;
        Ok(message)
    }
}

#[async_trait]
impl Integration for Wechat {
    fn name(&self) -> &'static str {
        KIND
    }

    fn send_resolved(&self) -> bool {
        self.config.send_resolved
    }

    async fn notify(&self, ctx: &Context, alerts: &[Alert]) -> Result<(), NotifyError> {
        let data = Data::new(ctx, alerts);
        let token = self.access_token(&data).await?;
        let body = http::json_body(KIND, &self.message(&data)?)?;
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("access_token", &token)
            .finish();
        let url = format!("{}message/send?{query}", self.api_url);
        // Not `http::send`: WeChat retries every status but 200, even a 4xx.
        let req = http::json_request(KIND, &self.client, reqwest::Method::POST, &url, body)
            .await
            .map_err(|e| self.hide(e, &token))?;
        let resp = http::send_any_status(KIND, req).await?;
        if resp.status().as_u16() != 200 {
            return Err(NotifyError::retry(format!(
                "{KIND}: unexpected status code {}",
                resp.status().as_u16()
            )));
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            errcode: i64,
            #[serde(default)]
            errmsg: String,
        }
        let text = http::answer_text(KIND, resp).await?;
        let answer: Answer = serde_json::from_str(&text)
            .map_err(|e| NotifyError::retry(format!("{KIND}: could not read WeChat's answer: {e}")))?;
        match answer.errcode {
            0 => Ok(()),
            TOKEN_EXPIRED => {
                *self.token.lock() = None;
                Err(NotifyError::retry(format!("{KIND}: {}", answer.errmsg)))
            }
            _ => Err(self.hide(NotifyError::fatal(format!("{KIND}: {}", answer.errmsg)), &token)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testkit::{self, Recorder};

    fn config(url: &str) -> WechatConfig {
        WechatConfig {
            api_url: Some(format!("{url}/cgi-bin/")),
            api_secret: Some(Secret::new("S3CRET")),
            corp_id: "corp-1".into(),
            to_user: "@all".into(),
            agent_id: "1000002".into(),
            message_type: "text".into(),
            ..WechatConfig::default()
        }
    }

    /// One answer fits both calls: the token for `gettoken`, the code for the send.
    fn answer(server: &Recorder, errcode: i64) {
        server.answer(
            200,
            "application/json",
            &format!(r#"{{"access_token":"AT-1","expires_in":7200,"errcode":{errcode},"errmsg":"e{errcode}"}}"#),
        );
    }

    #[tokio::test]
    async fn fetches_a_token_keeps_it_and_sends() {
        let server = Recorder::start().await;
        answer(&server, 0);
        let wc = Wechat::new(&config(&server.url), Path::new("/"), testkit::templates()).unwrap();
        assert!(!wc.send_resolved());
        let alerts = [testkit::alert("a:1", false)];
        wc.notify(&testkit::context(), &alerts).await.unwrap();

        let r = server.requests();
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(
            (r[0].method.as_str(), r[0].path.as_str()),
            ("GET", "/cgi-bin/gettoken?corpid=corp-1&corpsecret=S3CRET")
        );
        assert_eq!(
            (r[1].method.as_str(), r[1].path.as_str()),
            ("POST", "/cgi-bin/message/send?access_token=AT-1")
        );
        assert_eq!(r[1].header("content-type"), "application/json");
        let content = testkit::templates()
            .execute(
                &WechatConfig::default().message,
                &Data::new(&testkit::context(), &alerts),
            )
            .unwrap();
        assert!(
            content.starts_with("[FIRING:1] Down (a:1 page)\nInstance down\n"),
            "{content}"
        );
        assert_eq!(
            r[1].json(),
            serde_json::json!({
                "text": {"content": content},
                "touser": "@all",
                "agentid": "1000002",
                "safe": "0",
                "msgtype": "text",
                "markdown": {"content": ""},
            })
        );

        // The token is kept: the next notification is one request.
        server.clear();
        testkit::send_one(&wc, true).await;
        let r = server.single();
        assert_eq!(r.path, "/cgi-bin/message/send?access_token=AT-1");
        assert!(r.json()["text"]["content"].as_str().unwrap().starts_with("[RESOLVED]"));
    }

    #[tokio::test]
    async fn markdown_messages() {
        let server = Recorder::start().await;
        answer(&server, 0);
        let mut c = config(&server.url);
        c.message_type = "markdown".into();
        c.message = "**{{ .Status }}**".into();
        c.send_resolved = true;
        let wc = Wechat::new(&c, Path::new("/"), testkit::templates()).unwrap();
        assert!(wc.send_resolved());
        testkit::send_one(&wc, false).await;
        let body = server.requests()[1].json();
        assert_eq!(body["markdown"], serde_json::json!({"content": "**firing**"}));
        assert_eq!(body["text"], serde_json::json!({"content": ""}));
        assert_eq!(body["msgtype"], "markdown");
    }

    #[tokio::test]
    async fn failures_are_classified_and_keep_the_secrets_out() {
        let server = Recorder::start().await;
        let wc = Wechat::new(&config(&server.url), Path::new("/"), testkit::templates()).unwrap();
        let alerts = [testkit::alert("a:1", false)];
        let ctx = testkit::context();

        // An expired token is dropped and retried: the next try asks for a new one.
        answer(&server, TOKEN_EXPIRED);
        let e = wc.notify(&ctx, &alerts).await.unwrap_err();
        testkit::assert_failure(&e, true, &[]);
        server.clear();
        answer(&server, 0);
        wc.notify(&ctx, &alerts).await.unwrap();
        assert_eq!(server.requests().len(), 2);

        // Any other code is final.
        answer(&server, 60020);
        let e = wc.notify(&ctx, &alerts).await.unwrap_err();
        assert!(
            !e.retry && e.message.contains("e60020") && !e.message.contains("AT-1"),
            "{}",
            e.message
        );

        // Every status but 200 is retried, even a 4xx.
        let e = testkit::fail_with(&server, &wc, &alerts, (404, "text/plain", "nope")).await;
        testkit::assert_failure(&e, true, &["AT-1"]);

        // No token: final, and the secret stays out.
        let fresh = Wechat::new(&config(&server.url), Path::new("/"), testkit::templates()).unwrap();
        let e = testkit::fail_with(
            &server,
            &fresh,
            &alerts,
            (
                200,
                "application/json",
                r#"{"errcode":40001,"errmsg":"invalid credential"}"#,
            ),
        )
        .await;
        assert!(
            !e.retry && e.message.contains("corp-1") && !e.message.contains("S3CRET"),
            "{}",
            e.message
        );
        let e = testkit::fail_with(&server, &fresh, &alerts, (500, "text/plain", "down")).await;
        testkit::assert_failure(&e, true, &["S3CRET"]);
    }
}
