//! TLS options against a real TLS server on 127.0.0.1 with a throw-away CA.

use std::path::Path;

use reqwest::Method;

use super::{client_config, Alpn};
use crate::testkit::{pki, tls_server, Pki};
use crate::{HttpClientConfig, TlsConfig};

/// The TLS version the server reports, or the request's error.
async fn fetch(tls: TlsConfig, dir: &Path, url: &str) -> Result<String, String> {
    let config = HttpClientConfig {
        tls_config: tls,
        ..Default::default()
    };
    let client = config.build(dir).map_err(|e| e.to_string())?;
    let request = client.request(Method::GET, url).await.map_err(|e| e.to_string())?;
    let response = request.send().await.map_err(|e| format!("{e:?}"))?;
    response.text().await.map_err(|e| format!("{e:?}"))
}

fn write_pki(pki: &Pki, dir: &Path) {
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(dir.join("client.pem"), &pki.client_cert_pem).unwrap();
    std::fs::write(dir.join("client.key"), &pki.client_key_pem).unwrap();
}

#[tokio::test]
async fn server_certificates_are_checked_against_the_configured_ca() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    write_pki(&pki, dir.path());
    let url = format!("https://{}/", tls_server(&pki, false).await);
    let with_ca = TlsConfig {
        ca_file: Some("ca.pem".into()),
        ..Default::default()
    };

    assert_eq!(fetch(with_ca.clone(), dir.path(), &url).await.unwrap(), "Some(TLSv1_3)");
    let inline = TlsConfig {
        ca: Some(pki.ca_pem.clone()),
        ..Default::default()
    };
    assert!(fetch(inline, dir.path(), &url).await.is_ok());

    // Without the CA: the system's roots do not know it.
    let e = fetch(TlsConfig::default(), dir.path(), &url).await.unwrap_err();
    assert!(e.contains("UnknownIssuer") || e.contains("no trusted CA"), "{e}");

    // server_name replaces the URL's host in verification: the certificate names
    // pyrite.test and 127.0.0.1, not other.test.
    let named = |name: &str| TlsConfig {
        server_name: Some(name.into()),
        ..with_ca.clone()
    };
    assert!(fetch(named("pyrite.test"), dir.path(), &url).await.is_ok());
    let e = fetch(named("other.test"), dir.path(), &url).await.unwrap_err();
    assert!(e.contains("NotValidForName"), "{e}");

    let insecure = TlsConfig {
        insecure_skip_verify: true,
        ..Default::default()
    };
    assert!(fetch(insecure, dir.path(), &url).await.is_ok());

    // Versions: a maximum of TLS 1.2 is honoured; a minimum of TLS 1.0 means 1.2 or 1.3.
    let tls12 = TlsConfig {
        max_version: Some("TLS12".into()),
        ..with_ca.clone()
    };
    assert_eq!(fetch(tls12, dir.path(), &url).await.unwrap(), "Some(TLSv1_2)");
    let tls10 = TlsConfig {
        min_version: Some("TLS10".into()),
        ..with_ca.clone()
    };
    assert_eq!(fetch(tls10, dir.path(), &url).await.unwrap(), "Some(TLSv1_3)");
}

#[tokio::test]
async fn client_certificates_for_a_server_that_wants_one() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    write_pki(&pki, dir.path());
    let url = format!("https://{}/", tls_server(&pki, true).await);
    let with_ca = TlsConfig {
        ca_file: Some("ca.pem".into()),
        ..Default::default()
    };
    let mtls = TlsConfig {
        cert_file: Some("client.pem".into()),
        key_file: Some(dir.path().join("client.key").to_str().unwrap().into()),
        ..with_ca.clone()
    };
    assert_eq!(fetch(mtls, dir.path(), &url).await.unwrap(), "Some(TLSv1_3)");
    let inline = TlsConfig {
        cert: Some(pki.client_cert_pem.clone()),
        key: Some(pyrite_config::Secret::new(pki.client_key_pem.clone())),
        max_version: Some("TLS12".into()),
        ..with_ca.clone()
    };
    assert_eq!(fetch(inline, dir.path(), &url).await.unwrap(), "Some(TLSv1_2)");
    assert!(fetch(with_ca, dir.path(), &url).await.is_err(), "no client certificate");
}

#[test]
fn bad_files_are_reported_by_name_and_the_key_is_not_quoted() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    write_pki(&pki, dir.path());
    let e = client_config(
        &TlsConfig {
            ca_file: Some("missing.pem".into()),
            ..Default::default()
        },
        dir.path(),
        Alpn::Http1,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("unable to read ca_file ") && e.contains("missing.pem"),
        "{e}"
    );

    let e = client_config(
        &TlsConfig {
            ca: Some("not a certificate".into()),
            ..Default::default()
        },
        dir.path(),
        Alpn::Http1,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no certificate found in inline ca_file"), "{e}");

    let key = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";
    let tls = TlsConfig {
        cert_file: Some("client.pem".into()),
        key: Some(pyrite_config::Secret::new(key)),
        ..Default::default()
    };
    let e = client_config(&tls, dir.path(), Alpn::Http1).unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(shown.contains("client cert") && !shown.contains("c2VjcmV0"), "{shown}");
}

#[test]
fn alpn_follows_enable_http2() {
    let dir = Path::new(".");
    let h1 = client_config(&TlsConfig::default(), dir, Alpn::Http1).unwrap();
    assert_eq!(h1.alpn_protocols, [b"http/1.1".to_vec()]);
    let h2 = client_config(&TlsConfig::default(), dir, Alpn::Http2AndHttp1).unwrap();
    assert_eq!(h2.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
}
