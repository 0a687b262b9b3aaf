//! The client against a real HTTP server on 127.0.0.1 that records what it receives.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;

use base64::Engine;
use pyrite_config::Secret;
use reqwest::{Method, StatusCode};

use crate::testkit::http_server;
use crate::{Authorization, BasicAuth, HttpClient, HttpClientConfig, HttpClientError, OAuth2};

fn basic(user: &str, password: &str) -> String {
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {pair}")
}

async fn get(client: &HttpClient, url: &str) -> reqwest::Response {
    client.request(Method::GET, url).await.unwrap().send().await.unwrap()
}

fn build(config: &HttpClientConfig, dir: &Path) -> HttpClient {
    config.build(dir).unwrap()
}

#[tokio::test]
async fn basic_auth_reads_its_password_file_at_each_request() {
    let (base, rec) = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("password"), "first\n").unwrap();
    let config = HttpClientConfig {
        basic_auth: Some(BasicAuth {
            username: "pyrite".into(),
            password_file: Some("password".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let client = build(&config, dir.path());
    assert_eq!(get(&client, &format!("{base}/a")).await.status(), StatusCode::OK);
    std::fs::write(dir.path().join("password"), "second\n").unwrap();
    get(&client, &format!("{base}/b")).await;
    let seen = rec.seen();
    assert_eq!(seen[0].authorization(), Some(basic("pyrite", "first").as_str()));
    assert_eq!(seen[1].authorization(), Some(basic("pyrite", "second").as_str()));

    // A username from a file and an inline password.
    std::fs::write(dir.path().join("user"), "from-file\n").unwrap();
    let config = HttpClientConfig {
        basic_auth: Some(BasicAuth {
            username_file: Some(dir.path().join("user").to_str().unwrap().into()),
            password: Some(Secret::new("inline")),
            ..Default::default()
        }),
        ..Default::default()
    };
    get(&build(&config, Path::new("/nonexistent")), &format!("{base}/c")).await;
    assert_eq!(
        rec.at("/c")[0].authorization(),
        Some(basic("from-file", "inline").as_str())
    );

    // A password file gone at request time is an error that names the file.
    std::fs::remove_file(dir.path().join("password")).unwrap();
    let e = client.request(Method::GET, &base).await.unwrap_err().to_string();
    assert!(
        e.starts_with("unable to read password_file ") && e.contains("password"),
        "{e}"
    );
}

#[tokio::test]
async fn authorization_with_a_custom_type_and_a_credentials_file() {
    let (base, rec) = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let config = HttpClientConfig {
        authorization: Some(Authorization {
            kind: Some("Splunk".into()),
            credentials: Some(Secret::new("abc123")),
            ..Default::default()
        }),
        ..Default::default()
    };
    get(&build(&config, dir.path()), &format!("{base}/custom")).await;
    assert_eq!(rec.at("/custom")[0].authorization(), Some("Splunk abc123"));

    std::fs::write(dir.path().join("creds"), "tok-1\n").unwrap();
    let config = HttpClientConfig {
        authorization: Some(Authorization {
            credentials_file: Some("creds".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let client = build(&config, dir.path());
    get(&client, &format!("{base}/file1")).await;
    std::fs::write(dir.path().join("creds"), "tok-2").unwrap();
    get(&client, &format!("{base}/file2")).await;
    assert_eq!(rec.at("/file1")[0].authorization(), Some("Bearer tok-1"));
    assert_eq!(rec.at("/file2")[0].authorization(), Some("Bearer tok-2"));
}

#[tokio::test]
async fn legacy_bearer_token_and_bearer_token_file() {
    let (base, rec) = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "from-file\n").unwrap();
    let config = HttpClientConfig {
        bearer_token_file: Some("token".into()),
        ..Default::default()
    };
    get(&build(&config, dir.path()), &format!("{base}/file")).await;
    let config = HttpClientConfig {
        bearer_token: Some(Secret::new("inline")),
        ..Default::default()
    };
    get(&build(&config, dir.path()), &format!("{base}/inline")).await;
    get(
        &build(&HttpClientConfig::default(), dir.path()),
        &format!("{base}/none"),
    )
    .await;
    assert_eq!(rec.at("/file")[0].authorization(), Some("Bearer from-file"));
    assert_eq!(rec.at("/inline")[0].authorization(), Some("Bearer inline"));
    assert_eq!(rec.at("/none")[0].authorization(), None);
}

fn oauth2_config(base: &str, secret_file: &str) -> HttpClientConfig {
    HttpClientConfig {
        oauth2: Some(OAuth2 {
            client_id: "pyrite".into(),
            client_secret_file: Some(secret_file.into()),
            scopes: vec!["metrics:read".into(), "metrics:write".into()],
            token_url: format!("{base}/token"),
            endpoint_params: BTreeMap::from([("audience".to_string(), "pyrite-api".to_string())]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn oauth2_client_credentials_fetches_once_and_again_after_expiry() {
    let (base, rec) = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("client-secret"), "s3cr&t\n").unwrap();
    let client = build(&oauth2_config(&base, "client-secret"), dir.path());
    get(&client, &format!("{base}/one")).await;
    get(&client.clone(), &format!("{base}/two")).await;

    let token_requests = rec.at("/token");
    assert_eq!(token_requests.len(), 1, "the token is cached");
    let t = &token_requests[0];
    // The id and secret are form-encoded, then sent as HTTP basic authentication.
    assert_eq!(t.authorization(), Some(basic("pyrite", "s3cr%26t").as_str()));
    assert_eq!(
        t.headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        t.form(),
        [
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("scope".to_string(), "metrics:read metrics:write".to_string()),
            ("audience".to_string(), "pyrite-api".to_string()),
        ]
    );
    assert_eq!(rec.at("/one")[0].authorization(), Some("Bearer token-1"));
    assert_eq!(rec.at("/two")[0].authorization(), Some("Bearer token-1"));

    // A rotated client secret drops the cached token.
    std::fs::write(dir.path().join("client-secret"), "rotated").unwrap();
    get(&client, &format!("{base}/three")).await;
    assert_eq!(rec.at("/three")[0].authorization(), Some("Bearer token-2"));
    assert_eq!(
        rec.at("/token")[1].authorization(),
        Some(basic("pyrite", "rotated").as_str())
    );

    // Tokens that live no longer than the early-refresh margin are fetched for each request.
    rec.token_lifetime.store(5, Ordering::SeqCst);
    let short = build(&oauth2_config(&base, "client-secret"), dir.path());
    get(&short, &format!("{base}/four")).await;
    get(&short, &format!("{base}/five")).await;
    assert_eq!(rec.at("/four")[0].authorization(), Some("Bearer token-3"));
    assert_eq!(rec.at("/five")[0].authorization(), Some("Bearer token-4"));
    assert_eq!(rec.at("/token").len(), 4);
}

#[tokio::test]
async fn oauth2_refusal_is_reported_without_the_secret() {
    let (base, _rec) = http_server().await;
    let mut config = HttpClientConfig {
        oauth2: Some(OAuth2 {
            client_id: "pyrite".into(),
            client_secret: Some(Secret::new("hunter2-oauth")),
            token_url: format!("{base}/token-refused"),
            ..Default::default()
        }),
        ..Default::default()
    };
    let client = build(&config, Path::new("."));
    let e = client.request(Method::GET, &base).await.unwrap_err();
    let shown = format!("{e} {e:?} {client:?}");
    assert!(matches!(e, HttpClientError::OAuth2 { .. }), "{shown}");
    assert!(
        shown.contains("401") && shown.contains("invalid_client (unknown client)"),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");

    // Nobody listening: the error names the URL with its password masked.
    if let Some(o) = config.oauth2.as_mut() {
        o.token_url = "http://pyrite:hunter2-url@127.0.0.1:1/token".into();
    }
    let client = build(&config, Path::new("."));
    let e = client.request(Method::GET, &base).await.unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(shown.contains("http://pyrite:xxxxx@127.0.0.1:1/token"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[tokio::test]
async fn redirects_followed_or_handed_back() {
    let (base, rec) = http_server().await;
    let follow = build(&HttpClientConfig::default(), Path::new("."));
    assert_eq!(get(&follow, &format!("{base}/redirect")).await.status(), StatusCode::OK);
    assert_eq!(rec.at("/landed").len(), 1);

    let config = HttpClientConfig {
        follow_redirects: false,
        ..Default::default()
    };
    let stay = build(&config, Path::new("."));
    let response = get(&stay, &format!("{base}/redirect")).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers().get("location").unwrap(), "/landed");
    assert_eq!(rec.at("/landed").len(), 1);
}

#[tokio::test]
async fn proxy_url_and_no_proxy() {
    let (proxy, rec) = http_server().await;
    let config = HttpClientConfig {
        proxy_url: Some(proxy.clone()),
        ..Default::default()
    };
    let client = build(&config, Path::new("."));
    let response = get(&client, "http://pyrite-target.invalid/via-proxy").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(rec.at("/via-proxy")[0].uri, "http://pyrite-target.invalid/via-proxy");

    // The proxy refuses connections, but the target is listed in no_proxy.
    let (target, target_rec) = http_server().await;
    let config = HttpClientConfig {
        proxy_url: Some("http://127.0.0.1:1".into()),
        no_proxy: Some("127.0.0.1".into()),
        ..Default::default()
    };
    get(&build(&config, Path::new(".")), &format!("{target}/direct")).await;
    assert_eq!(target_rec.at("/direct").len(), 1);
}

#[tokio::test]
async fn no_secret_in_debug_output_or_errors() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = ["hunter2-pass", "hunter2-bearer", "hunter2-client", "hunter2-key"];
    let config = HttpClientConfig {
        basic_auth: Some(BasicAuth {
            username: "u".into(),
            password: Some(Secret::new(secrets[0])),
            ..Default::default()
        }),
        bearer_token: Some(Secret::new(secrets[1])),
        ..Default::default()
    };
    let mut shown = vec![format!("{config:?}"), config.validate().unwrap_err().to_string()];

    let config = HttpClientConfig {
        authorization: Some(Authorization {
            credentials: Some(Secret::new(format!("{}\nbad", secrets[1]))),
            ..Default::default()
        }),
        oauth2: None,
        tls_config: crate::TlsConfig {
            cert_file: Some("missing.pem".into()),
            key: Some(Secret::new(secrets[3])),
            ..Default::default()
        },
        ..Default::default()
    };
    let e = config.build(dir.path()).unwrap_err();
    shown.push(format!("{e} {e:?}"));
    let config = HttpClientConfig {
        tls_config: Default::default(),
        ..config
    };
    let client = config.build(dir.path()).unwrap();
    let e = client.request(Method::GET, "http://127.0.0.1:1/").await.unwrap_err();
    assert!(matches!(e, HttpClientError::HeaderValue { .. }));
    shown.push(format!("{e} {e:?} {client:?}"));

    let client = oauth2_config("http://127.0.0.1:1", "secret-file")
        .build(dir.path())
        .unwrap();
    shown.push(format!("{client:?}"));
    let config = HttpClientConfig {
        oauth2: Some(OAuth2 {
            client_secret: Some(Secret::new(secrets[2])),
            ..oauth2_config("http://x", "").oauth2.unwrap()
        }),
        ..Default::default()
    };
    shown.push(format!("{:?} {:?}", config, config.build(dir.path()).unwrap()));

    for s in &shown {
        for secret in secrets {
            assert!(!s.contains(secret), "{secret} shown in {s}");
        }
    }
}
