//! AWS Signature Version 4 for the few requests Pyrite's notifications make to AWS (an
//! SNS `Publish`): HMAC-SHA256 over SHA-256, the canonical request, the string to sign
//! and the `Authorization` header, for a request whose signed headers are exactly
//! `content-type`, `host`, `x-amz-date` and, with temporary credentials,
//! `x-amz-security-token`.
//!
//! It deliberately does not sign query strings, unsigned payloads or chunked bodies,
//! and it does not look credentials up: the caller passes them in.
//!
//! The invariant: the headers returned are the ones signed, with the same values — the
//! caller must send every one of them, unchanged, and the body it hashed.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// An access key, its secret and, for temporary credentials, the session token.
#[derive(Clone)]
pub(super) struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <secret>)", self.access_key)
    }
}

/// HMAC-SHA256 (RFC 2104).
pub(super) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key that signs requests of `date` (`YYYYMMDD`) to `service` in `region`.
pub(super) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac_sha256(&k, region.as_bytes());
    let k = hmac_sha256(&k, service.as_bytes());
    hmac_sha256(&k, b"aws4_request")
}

/// What to sign: a request without a query string.
pub(super) struct Request<'a> {
    pub method: &'a str,
    /// `host` or `host:port`, as the `Host` header carries it.
    pub host: &'a str,
    /// The path, already percent-encoded; `/` when empty.
    pub path: &'a str,
    pub content_type: &'a str,
    pub body: &'a [u8],
}

/// The headers to add to `req` (`Authorization`, `X-Amz-Date`, and
/// `X-Amz-Security-Token` with temporary credentials), signed at `now`.
pub(super) fn sign(
    req: &Request<'_>,
    creds: &Credentials,
    region: &str,
    service: &str,
    now: DateTime<Utc>,
) -> Vec<(&'static str, String)> {
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let date = now.format("%Y%m%d").to_string();
    let mut headers = vec![
        ("content-type", req.content_type.to_string()),
        ("host", req.host.to_string()),
        ("x-amz-date", amz_date.clone()),
    ];
    if let Some(token) = &creds.session_token {
        headers.push(("x-amz-security-token", token.clone()));
    }
    let signed: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
    let signed = signed.join(";");
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{}\n", v.trim())).collect();
    let path = if req.path.is_empty() { "/" } else { req.path };
    let canonical = format!(
        "{}\n{path}\n\n{canonical_headers}\n{signed}\n{}",
        req.method,
        hex(&Sha256::digest(req.body))
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(&creds.secret_key, &date, region, service);
    let signature = hex(&hmac_sha256(&key, to_sign.as_bytes()));
    let mut out = vec![
        (
            "Authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
                creds.access_key
            ),
        ),
        ("X-Amz-Date", amz_date),
    ];
    if let Some(token) = &creds.session_token {
        out.push(("X-Amz-Security-Token", token.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    #[test]
    fn hmac_matches_rfc_4231() {
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn the_signing_key_matches_awss_example() {
        assert_eq!(
            hex(&signing_key(SECRET, "20120215", "us-east-1", "iam")),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    /// The `post-x-www-form-urlencoded` case of AWS's Signature Version 4 test suite.
    #[test]
    fn signs_as_awss_test_suite() {
        let creds = Credentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: SECRET.into(),
            session_token: None,
        };
        let req = Request {
            method: "POST",
            host: "example.amazonaws.com",
            path: "/",
            content_type: "application/x-www-form-urlencoded",
            body: b"Param1=value1",
        };
        let now = DateTime::from_timestamp(1_440_938_160, 0).unwrap();
        let headers = sign(&req, &creds, "us-east-1", "service", now);
        assert_eq!(
            headers,
            [
                (
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                     SignedHeaders=content-type;host;x-amz-date, \
                     Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
                        .to_string()
                ),
                ("X-Amz-Date", "20150830T123600Z".to_string()),
            ]
        );
    }

    #[test]
    fn signs_deterministically_and_names_the_signed_headers() {
        let creds = Credentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: SECRET.into(),
            session_token: Some("SESSION".into()),
        };
        let req = Request {
            method: "POST",
            host: "sns.us-east-1.amazonaws.com",
            path: "/",
            content_type: "application/x-www-form-urlencoded; charset=utf-8",
            body: b"Action=Publish",
        };
        let now = DateTime::from_timestamp(1_440_938_160, 0).unwrap();
        let a = sign(&req, &creds, "us-east-1", "sns", now);
        assert_eq!(a, sign(&req, &creds, "us-east-1", "sns", now));
        assert_eq!(a[1], ("X-Amz-Date", "20150830T123600Z".to_string()));
        assert_eq!(a[2], ("X-Amz-Security-Token", "SESSION".to_string()));
        let auth = &a[0].1;
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sns/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
            ),
            "{auth}"
        );
        let other = Request {
            body: b"Action=Publish&X=1",
            ..req
        };
        assert_ne!(sign(&other, &creds, "us-east-1", "sns", now)[0], a[0]);
    }
}
