//! `sns_configs`: Amazon SNS's `Publish` action as Alertmanager calls it — a form POSTed
//! to `api_url` (a template; `https://sns.{region}.amazonaws.com/` when empty), signed
//! with AWS Signature Version 4 for the service `sns`: `TopicArn` (with the group key's
//! hash as `MessageDeduplicationId` and `MessageGroupId` for a `.fifo` topic),
//! `PhoneNumber`, `TargetArn`, `Message` (cut to 256 KiB, or 1600 bytes for a phone
//! number, with the attribute `truncated` then set), `Subject` and the templated
//! `attributes` as string `MessageAttributes`.
//!
//! Credentials are `sigv4.access_key` and `sigv4.secret_key`, else the environment's
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; the region is
//! `sigv4.region`, else `AWS_REGION` or `AWS_DEFAULT_REGION`. Pyrite does not assume a
//! `role_arn` or read a `profile`'s files: a notification that needs either fails,
//! without retry, saying so.
//!
//! The invariant: the secret key is used only to sign and never appears in an error,
//! and each try is signed at the time it is sent, so a retry is never refused as stale.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pyrite_config::Secret;

use super::http::{self, Renderer};
use super::sigv4::{self, Credentials};
use super::template::Templates;
use super::{Context, Data, Integration, NotifyError};
use crate::config::SnsConfig;
use crate::model::Alert;

const KIND: &str = "sns";
const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
const MAX_MESSAGE_BYTES: usize = 256 * 1024;
const MAX_SMS_BYTES: usize = 1600;

pub struct Sns {
    config: SnsConfig,
    client: pyrite_http_client::HttpClient,
    templates: Arc<Templates>,
    /// The time a request is signed at: the clock, but fixed in tests.
    clock: fn() -> DateTime<Utc>,
    /// Reads the environment: `std::env::var`, but fixed in tests.
    env: fn(&str) -> Option<String>,
}

/// `s` cut to at most `n` bytes on a character boundary.
fn cut_bytes(mut s: String, n: usize) -> (String, bool) {
    if s.len() <= n {
        return (s, false);
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    (s, true)
}

/// The `Code` and `Message` of an AWS error answer, for the error Pyrite reports.
fn aws_error(body: &str) -> String {
    let tag = |name: &str| -> Option<&str> {
        let start = body.find(&format!("<{name}>"))? + name.len() + 2;
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(&body[start..end])
    };
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!(": {c}: {m}"),
        (Some(c), None) => format!(": {c}"),
        _ => String::new(),
    }
}

impl Sns {
    pub fn new(config: &SnsConfig, base_dir: &Path, templates: Arc<Templates>) -> Result<Sns, String> {
        Ok(Sns {
            client: http::client(&config.http_config, base_dir)?,
            config: config.clone(),
            templates,
            clock: Utc::now,
            env: |name| std::env::var(name).ok().filter(|v| !v.is_empty()),
        })
    }

    fn credentials(&self) -> Result<Credentials, NotifyError> {
        let s = &self.config.sigv4;
        if !s.role_arn.is_empty() {
            return Err(NotifyError::fatal(format!(
                "{KIND}: sigv4.role_arn is not supported; give sigv4.access_key and sigv4.secret_key"
            )));
        }
        let secret = s.secret_key.as_ref().map(Secret::expose).unwrap_or("");
        if !s.access_key.is_empty() && !secret.is_empty() {
            return Ok(Credentials {
                access_key: s.access_key.clone(),
                secret_key: secret.to_string(),
                session_token: None,
            });
        }
        if !s.profile.is_empty() {
            return Err(NotifyError::fatal(format!(
                "{KIND}: sigv4.profile is not supported; give sigv4.access_key and sigv4.secret_key"
            )));
        }
        match ((self.env)("AWS_ACCESS_KEY_ID"), (self.env)("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key), Some(secret_key)) => Ok(Credentials {
                access_key,
                secret_key,
                session_token: (self.env)("AWS_SESSION_TOKEN"),
            }),
            _ => Err(NotifyError::fatal(format!(
                "{KIND}: no credentials in sns.sigv4 or in the environment"
            ))),
        }
    }

    fn region(&self) -> Result<String, NotifyError> {
        let s = &self.config.sigv4;
        if !s.region.is_empty() {
            return Ok(s.region.clone());
        }
        (self.env)("AWS_REGION")
            .or_else(|| (self.env)("AWS_DEFAULT_REGION"))
            .ok_or_else(|| {
                NotifyError::fatal(format!(
                    "{KIND}: region not configured in sns.sigv4.region or in the environment"
                ))
            })
    }

    /// The endpoint and the `Publish` form, every template executed.
    fn publish(
        &self,
        ctx: &Context,
        data: &Data,
        region: &str,
    ) -> Result<(String, BTreeMap<String, String>), NotifyError> {
        let c = &self.config;
        let mut r = Renderer::new(KIND, &self.templates, data);
        let endpoint = match r.text(&c.api_url) {
            u if u.is_empty() => format!("https://sns.{region}.amazonaws.com/"),
            u => u,
        };
        let mut attributes: BTreeMap<String, String> =
            c.attributes.iter().map(|(k, v)| (r.text(k), r.text(v))).collect();
        let mut form = BTreeMap::new();
        form.insert("Action".to_string(), "Publish".to_string());
        form.insert("Version".to_string(), "2010-03-31".to_string());
        let mut limit = MAX_MESSAGE_BYTES;
        if !c.topic_arn.is_empty() {
            let topic = r.text(&c.topic_arn);
            if topic.ends_with(".fifo") {
                let key = http::group_key_hash(&ctx.group_key);
                form.insert("MessageDeduplicationId".to_string(), key.clone());
                form.insert("MessageGroupId".to_string(), key);
            }
            form.insert("TopicArn".to_string(), topic);
        }
        if !c.phone_number.is_empty() {
            form.insert("PhoneNumber".to_string(), r.text(&c.phone_number));
            limit = MAX_SMS_BYTES;
        }
        if !c.target_arn.is_empty() {
            form.insert("TargetArn".to_string(), r.text(&c.target_arn));
        }
        let (message, cut) = cut_bytes(r.text(&c.message), limit);
        if cut {
            tracing::warn!(integration = KIND, max_bytes = limit, "truncated a notification field");
            attributes.insert("truncated".to_string(), "true".to_string());
        }
        form.insert("Message".to_string(), message);
        if !c.subject.is_empty() {
            form.insert("Subject".to_string(), r.text(&c.subject));
        }
        r.finish()?;
        for (i, (k, v)) in attributes.into_iter().enumerate() {
            let p = format!("MessageAttributes.entry.{}", i + 1);
            form.insert(format!("{p}.Name"), k);
            form.insert(format!("{p}.Value.DataType"), "String".to_string());
            form.insert(format!("{p}.Value.StringValue"), v);
        }
        Ok((endpoint, form))
    }
}

#[async_trait]
impl Integration for Sns {
    fn name(&self) -> &'static str {
        KIND
    }

    fn send_resolved(&self) -> bool {
        self.config.send_resolved
    }

    async fn notify(&self, ctx: &Context, alerts: &[Alert]) -> Result<(), NotifyError> {
        let region = self.region()?;
        let (endpoint, form) = self.publish(ctx, &Data::new(ctx, alerts), &region)?;
        let creds = self.credentials()?;
        let url =
            url::Url::parse(&endpoint).map_err(|e| NotifyError::fatal(format!("{KIND}: api_url {endpoint:?}: {e}")))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(NotifyError::fatal(format!("{KIND}: api_url {endpoint:?} has no host"))),
        };
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter())
            .finish()
            .into_bytes();
        let signed = sigv4::sign(
            &sigv4::Request {
                method: "POST",
                host: &host,
                path: url.path(),
                content_type: CONTENT_TYPE,
                body: &body,
            },
            &creds,
            &region,
            KIND,
            (self.clock)(),
        );
        let mut req = http::request(KIND, &self.client, reqwest::Method::POST, url.as_str())
            .await?
            .header("Content-Type", CONTENT_TYPE);
        for (name, value) in signed {
            req = req.header(name, value);
        }
        // Not `http::send`: a failure carries AWS's error code and message.
        let resp = http::send_any_status(KIND, req.body(body)).await?;
        let code = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        let e = http::status_error(KIND, code, &[]);
        Err(NotifyError {
            message: format!("{}{}", e.message, aws_error(&text)),
            ..e
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SigV4Config;
    use crate::notify::testkit::{self, Recorder};

    fn config(url: &str) -> SnsConfig {
        SnsConfig {
            api_url: format!("{url}/"),
            topic_arn: "arn:aws:sns:eu-west-1:123456789012:alerts".into(),
            sigv4: SigV4Config {
                region: "eu-west-1".into(),
                access_key: "AKID".into(),
                secret_key: Some(Secret::new("S3CRET")),
                ..SigV4Config::default()
            },
            attributes: [("severity".to_string(), "{{ .CommonLabels.severity }}".to_string())].into(),
            ..SnsConfig::default()
        }
    }

    fn sns(c: &SnsConfig) -> Sns {
        let mut s = Sns::new(c, Path::new("/"), testkit::templates()).unwrap();
        s.clock = testkit::now;
        s.env = |_| None;
        s
    }

    fn form(body: &[u8]) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(body).into_owned().collect()
    }

    #[tokio::test]
    async fn publishes_a_signed_form() {
        let server = Recorder::start().await;
        let c = config(&server.url);
        let s = sns(&c);
        assert!(s.send_resolved());
        let alerts = [testkit::alert("a:1", false)];
        s.notify(&testkit::context(), &alerts).await.unwrap();

        let r = server.single();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/"));
        assert_eq!(r.header("content-type"), CONTENT_TYPE);
        assert_eq!(r.header("x-amz-date"), "20240102T030405Z");
        // The request is signed as sigv4 signs it: same host, path, type, body and time.
        let host = server.url.trim_start_matches("http://");
        let want = sigv4::sign(
            &sigv4::Request {
                method: "POST",
                host,
                path: "/",
                content_type: CONTENT_TYPE,
                body: &r.body,
            },
            &Credentials {
                access_key: "AKID".into(),
                secret_key: "S3CRET".into(),
                session_token: None,
            },
            "eu-west-1",
            "sns",
            testkit::now(),
        );
        assert_eq!(r.header("host"), host);
        assert_eq!(r.header("authorization"), want[0].1);
        assert!(r.header("authorization").starts_with(
            "AWS4-HMAC-SHA256 Credential=AKID/20240102/eu-west-1/sns/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, Signature="
        ));
        let message = testkit::templates()
            .execute(&c.message, &Data::new(&testkit::context(), &alerts))
            .unwrap();
        let want: BTreeMap<String, String> = [
            ("Action", "Publish"),
            ("Version", "2010-03-31"),
            ("TopicArn", "arn:aws:sns:eu-west-1:123456789012:alerts"),
            ("Message", message.as_str()),
            ("Subject", "[FIRING:1] Down (a:1 page)"),
            ("MessageAttributes.entry.1.Name", "severity"),
            ("MessageAttributes.entry.1.Value.DataType", "String"),
            ("MessageAttributes.entry.1.Value.StringValue", "page"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(form(&r.body), want);

        server.clear();
        testkit::send_one(&s, true).await;
        assert_eq!(form(&server.single().body)["Subject"], "[RESOLVED] Down (a:1 page)");
    }

    #[tokio::test]
    async fn fifo_topics_phone_numbers_and_truncation() {
        let server = Recorder::start().await;
        let mut c = config(&server.url);
        c.topic_arn = "arn:aws:sns:eu-west-1:123456789012:alerts.fifo".into();
        c.attributes.clear();
        c.send_resolved = false;
        let s = sns(&c);
        assert!(!s.send_resolved());
        testkit::send_one(&s, false).await;
        let f = form(&server.single().body);
        assert_eq!(f["MessageDeduplicationId"], testkit::GROUP_KEY_HASH);
        assert_eq!(f["MessageGroupId"], testkit::GROUP_KEY_HASH);
        assert!(!f.keys().any(|k| k.starts_with("MessageAttributes")));

        server.clear();
        let mut c = config(&server.url);
        c.topic_arn = String::new();
        c.phone_number = "+15555550100".into();
        c.subject = String::new();
        c.attributes.clear();
        c.message = "é".repeat(1000);
        sns(&c)
            .notify(&testkit::context(), &[testkit::alert("a:1", false)])
            .await
            .unwrap();
        let f = form(&server.single().body);
        assert_eq!(f["PhoneNumber"], "+15555550100");
        assert_eq!(f["Message"], "é".repeat(800));
        assert!(!f.contains_key("Subject") && !f.contains_key("TopicArn"));
        assert_eq!(f["MessageAttributes.entry.1.Name"], "truncated");
        assert_eq!(f["MessageAttributes.entry.1.Value.StringValue"], "true");
    }

    #[tokio::test]
    async fn credentials_and_region_from_the_environment() {
        let server = Recorder::start().await;
        let mut c = config(&server.url);
        c.sigv4 = SigV4Config::default();
        let mut s = sns(&c);
        s.env = |name| match name {
            "AWS_ACCESS_KEY_ID" => Some("ENVKEY".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("ENVSECRET".into()),
            "AWS_SESSION_TOKEN" => Some("TOKEN".into()),
            "AWS_DEFAULT_REGION" => Some("ap-south-1".into()),
            _ => None,
        };
        testkit::send_one(&s, false).await;
        let r = server.single();
        assert_eq!(r.header("x-amz-security-token"), "TOKEN");
        assert!(r
            .header("authorization")
            .contains("Credential=ENVKEY/20240102/ap-south-1/sns/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"));

        let mut c = config(&server.url);
        c.sigv4.role_arn = "arn:aws:iam::123456789012:role/am".into();
        let e = sns(&c)
            .notify(&testkit::context(), &[testkit::alert("a:1", false)])
            .await
            .unwrap_err();
        assert!(!e.retry && e.message.contains("role_arn"), "{}", e.message);
        c.sigv4 = SigV4Config::default();
        let e = sns(&c)
            .notify(&testkit::context(), &[testkit::alert("a:1", false)])
            .await
            .unwrap_err();
        assert!(!e.retry && e.message.contains("region"), "{}", e.message);
    }

    #[tokio::test]
    async fn failures_are_classified_and_keep_the_secret_out() {
        let server = Recorder::start().await;
        let s = sns(&config(&server.url));
        let alerts = [testkit::alert("a:1", false)];
        let e = testkit::fail_with(
            &server,
            &s,
            &alerts,
            (
                503,
                "text/xml",
                "<ErrorResponse><Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error></ErrorResponse>",
            ),
        )
        .await;
        assert!(
            e.retry && e.message.contains("ServiceUnavailable: busy"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("S3CRET"));
        let e = testkit::fail_with(
            &server,
            &s,
            &alerts,
            (
                403,
                "text/xml",
                "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>",
            ),
        )
        .await;
        assert!(
            !e.retry && e.message.ends_with("403: SignatureDoesNotMatch"),
            "{}",
            e.message
        );
        let e = sns(&config("http://127.0.0.1:1"))
            .notify(&testkit::context(), &alerts)
            .await
            .unwrap_err();
        testkit::assert_failure(&e, true, &["S3CRET"]);
    }
}
