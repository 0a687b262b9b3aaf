//! `email_configs`: one e-mail per notification over SMTP, as Alertmanager sends it —
//! connect to `smarthost` (implicit TLS on port 465), EHLO with `hello`, STARTTLS when
//! `require_tls` (refusing a server that does not offer it), AUTH with `auth_username`,
//! then MAIL/RCPT from the executed `from` and `to`, and a message whose headers are
//! the executed `headers` (To, From and Subject filled by default), `Message-Id`,
//! `Date` and a `multipart/alternative` body of the `text` and `html` parts.
//!
//! The invariant: a notification counts as delivered only when the server accepted
//! the message's data, and no error carries a credential — the password is scrubbed
//! from every message made from the server's or the client's words.
//!
//! Not supported (lettre has no such thing): CRAM-MD5 (`auth_secret`), `tls_config`'s
//! `max_version` and TLS 1.0/1.1. Of PLAIN and LOGIN, PLAIN is preferred when the
//! server offers both (Go takes the server's order); the default roots are Mozilla's.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use lettre::address::Envelope;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailboxes, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, Identity, TlsParameters, TlsVersion,
};
use lettre::transport::smtp::extension::ClientId;
use pyrite_config::Secret;

use super::http::SecretSource;
use super::template::Templates;
use super::{Context, Data, Integration, NotifyError};
use crate::config::{EmailConfig, DEFAULT_EMAIL_SUBJECT};
use crate::model::Alert;

const KIND: &str = "email";
/// The whole SMTP exchange's limit (Alertmanager's is the notification's context), so
/// a server that stops answering does not hold the notification forever.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

pub struct Email {
    /// With `headers` holding the To, From and Subject defaults.
    config: EmailConfig,
    host: String,
    port: u16,
    /// Port `465`, as written: implicit TLS, as in Alertmanager.
    implicit_tls: bool,
    password: Option<SecretSource>,
    base_dir: PathBuf,
    templates: Arc<Templates>,
}

impl Email {
    pub fn new(config: &EmailConfig, base_dir: &Path, templates: Arc<Templates>) -> Result<Email, String> {
        let mut config = config.clone();
        let defaults = [
            ("Subject", DEFAULT_EMAIL_SUBJECT.to_string()),
            ("To", config.to.clone()),
            ("From", config.from.clone()),
        ];
        for (name, value) in defaults {
            config.headers.entry(name.to_string()).or_insert(value);
        }
        let (host, port_text) = split_host_port(&config.smarthost).unwrap_or_default();
        // Go's dialer also takes the services' names.
        let port = match port_text.as_str() {
            "smtp" => Some(25),
            "submission" => Some(587),
            "submissions" | "smtps" => Some(465),
            p => p.parse::<u16>().ok(),
        }
        .ok_or_else(|| format!("email: invalid smarthost {:?} (want host:port)", config.smarthost))?;
        let password = SecretSource::new(
            config.auth_password.as_ref(),
            config.auth_password_file.as_ref(),
            base_dir,
        );
        Ok(Email {
            host,
            port,
            implicit_tls: port_text == "465",
            password,
            base_dir: base_dir.to_path_buf(),
            templates,
            config,
        })
    }

    /// The envelope and the message's bytes.
    fn message(&self, data: &Data) -> Result<(Envelope, Vec<u8>), NotifyError> {
        let c = &self.config;
        let t = |what: &str, text: &str| {
            self.templates
                .execute(text, data)
                .map_err(|e| NotifyError::fatal(format!("{KIND}: execute {what} template: {e}")))
        };
        let from = Mailboxes::from_str(&t("'from'", &c.from)?)
            .map_err(|e| NotifyError::fatal(format!("{KIND}: parse 'from' addresses: {e}")))?;
        let from: Vec<_> = from.into_iter().collect();
        let [from] = from.as_slice() else {
            return Err(NotifyError::fatal(format!(
                "{KIND}: must be exactly one 'from' address (got: {})",
                from.len()
            )));
        };
        let to = Mailboxes::from_str(&t("'to'", &c.to)?)
            .map_err(|e| NotifyError::fatal(format!("{KIND}: parse 'to' addresses: {e}")))?;
        let to = to.into_iter().map(|m| m.email).collect();
        let envelope = Envelope::new(Some(from.email.clone()), to)
            .map_err(|e| NotifyError::fatal(format!("{KIND}: envelope: {e}")))?;

        let mut head = String::new();
        for (name, text) in &c.headers {
            let value = t(&format!("{name:?} header"), text)?;
            head.push_str(&format!("{name}: {}\r\n", q_encode(&value)));
        }
        if !c.headers.contains_key("Message-Id") {
            head.push_str(&format!("Message-Id: {}\r\n", message_id()));
        }
        let date = chrono::Local::now().format("%a, %d %b %Y %H:%M:%S %z");
        head.push_str(&format!("Date: {date}\r\nMIME-Version: 1.0\r\n"));

        let mut parts = Vec::new();
        if !c.text.is_empty() {
            parts.push(part(ContentType::TEXT_PLAIN, t("text", &c.text)?));
        }
        if !c.html.is_empty() {
            // The preferred alternative last (RFC 2046, 5.1.4).
            let html = self
                .templates
                .execute_html(&c.html, data)
                .map_err(|e| NotifyError::fatal(format!("{KIND}: execute html template: {e}")))?;
            parts.push(part(ContentType::TEXT_HTML, html));
        }
        let mut body = MultiPart::alternative().build();
        for p in parts {
            body = body.singlepart(p);
        }
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&body.formatted());
        Ok((envelope, bytes))
    }

    /// The TLS parameters of `tls_config`, for `host` unless it names a server.
    fn tls(&self) -> Result<TlsParameters, NotifyError> {
        let fatal = |e: String| NotifyError::fatal(format!("{KIND}: parse TLS configuration: {e}"));
        let tls = self.config.tls_config.clone().unwrap_or_default();
        let domain = tls
            .server_name
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or(self.host.clone());
        let mut b = TlsParameters::builder(domain).dangerous_accept_invalid_certs(tls.insecure_skip_verify);
        if let Some(ca) = self.pem(tls.ca.as_deref(), tls.ca_file.as_ref(), "ca_file")? {
            // A configured CA replaces the default roots, as in Go.
            let cert = Certificate::from_pem(&ca).map_err(|e| fatal(format!("ca: {e}")))?;
            b = b.certificate_store(CertificateStore::None).add_root_certificate(cert);
        }
        let key = tls.key.as_ref().map(Secret::expose);
        let cert = self.pem(tls.cert.as_deref(), tls.cert_file.as_ref(), "cert_file")?;
        if let (Some(cert), Some(key)) = (cert, self.pem(key, tls.key_file.as_ref(), "key_file")?) {
            let id = Identity::from_pem(&cert, &key).map_err(|_| fatal("invalid client cert or key".into()))?;
            b = b.identify_with(id);
        }
        match tls.min_version.as_deref() {
            None | Some("") | Some("TLS12") => {}
            Some("TLS13") => b = b.set_min_tls_version(TlsVersion::Tlsv13),
            Some(v) => return Err(fatal(format!("min_version {v} is not supported (TLS12 or TLS13)"))),
        }
        b.build().map_err(|e| fatal(e.to_string()))
    }

    /// A PEM given inline or in a file; the error names the file, never its content.
    fn pem(&self, inline: Option<&str>, file: Option<&String>, what: &str) -> Result<Option<Vec<u8>>, NotifyError> {
        if let Some(s) = inline.filter(|s| !s.is_empty()) {
            return Ok(Some(s.as_bytes().to_vec()));
        }
        let Some(f) = file.filter(|f| !f.is_empty()) else {
            return Ok(None);
        };
        let path = self.base_dir.join(f);
        std::fs::read(&path)
            .map(Some)
            .map_err(|e| NotifyError::fatal(format!("{KIND}: reading {what} {}: {e}", path.display())))
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, NotifyError> {
        // Go's net/smtp says `localhost` when no `hello` is set.
        let hello = match self.config.hello.as_str() {
            "" => ClientId::Domain("localhost".into()),
            h => ClientId::Domain(h.into()),
        };
        let implicit = self.implicit_tls;
        let tls = if implicit { Some(self.tls()?) } else { None };
        let addr = (self.host.as_str(), self.port);
        let mut conn = AsyncSmtpConnection::connect_tokio1(addr, None, &hello, tls, None)
            .await
            .map_err(|e| self.smtp_error("establish connection to server", e))?;
        // `require_tls` is filled from `global` (true by default).
        if self.config.require_tls.unwrap_or(true) && !implicit {
            if !conn.can_starttls() {
                conn.abort().await;
                return Err(NotifyError::retry(format!(
                    "{KIND}: 'require_tls' is true (default) but {:?} does not advertise the STARTTLS extension",
                    self.config.smarthost
                )));
            }
            let tls = self.tls()?;
            conn.starttls(tls, &hello)
                .await
                .map_err(|e| self.smtp_error("send STARTTLS command", e))?;
        }
        Ok(conn)
    }

    /// AUTH when `auth_username` is set and the server offers PLAIN or LOGIN.
    async fn authenticate(&self, conn: &mut AsyncSmtpConnection) -> Result<(), NotifyError> {
        let user = &self.config.auth_username;
        let info = conn.server_info();
        let plain = info.supports_auth_mechanism(Mechanism::Plain);
        let login = info.supports_auth_mechanism(Mechanism::Login);
        if user.is_empty() || !(plain || login) {
            return Ok(());
        }
        let (mechanism, name) = if plain {
            (Mechanism::Plain, "PLAIN")
        } else {
            (Mechanism::Login, "LOGIN")
        };
        let password = match &self.password {
            Some(p) => p.get(KIND)?,
            None => String::new(),
        };
        if password.is_empty() {
            return Err(NotifyError::retry(format!(
                "{KIND}: find auth mechanism: missing password for {name} auth mechanism"
            )));
        }
        // Go's PlainAuth sends credentials in the clear only to this machine.
        if mechanism == Mechanism::Plain
            && !conn.is_encrypted()
            && !matches!(self.host.as_str(), "localhost" | "127.0.0.1" | "::1")
        {
            return Err(NotifyError::retry(format!(
                "{KIND}: PLAIN auth: unencrypted connection"
            )));
        }
        conn.auth(&[mechanism], &Credentials::new(user.clone(), password))
            .await
            .map_err(|e| self.smtp_error(&format!("{name} auth"), e))?;
        Ok(())
    }

    /// An SMTP failure: a permanent refusal (5xx) is not retried, anything else is.
    fn smtp_error(&self, what: &str, e: lettre::transport::smtp::Error) -> NotifyError {
        let mut message = format!("{KIND}: {what}: {e}");
        if let Some(Ok(p)) = self.password.as_ref().map(|p| p.get(KIND)) {
            if !p.is_empty() {
                message = message.replace(&p, "<secret>");
            }
        }
        if e.is_permanent() {
            NotifyError::fatal(message)
        } else {
            NotifyError::retry(message)
        }
    }
}

fn part(content_type: ContentType, body: String) -> SinglePart {
    SinglePart::builder()
        .header(content_type)
        .header(ContentTransferEncoding::QuotedPrintable)
        .body(body)
}

/// `<unix-nanos.random@hostname>`, as Alertmanager makes it.
fn message_id() -> String {
    let host = match ClientId::default() {
        ClientId::Domain(h) if !h.is_empty() => h,
        _ => "localhost.localdomain".to_string(),
    };
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let random = uuid::Uuid::new_v4().as_u64_pair().0;
    format!("<{nanos}.{random}@{host}>")
}

/// `host:port` (`[v6]:port`) split; `None` without a port.
fn split_host_port(s: &str) -> Option<(String, String)> {
    let (host, port) = s.rsplit_once(':')?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    Some((host.to_string(), port.to_string()))
}

/// Go's `mime.QEncoding.Encode("utf-8", s)`: `s` unchanged when it is printable ASCII,
/// else RFC 2047 encoded words of at most 75 characters, split between characters —
/// so a CR or LF in a header's value never ends the header.
fn q_encode(s: &str) -> String {
    if !s.bytes().any(|b| !(b' '..=b'~').contains(&b) && b != b'\t') {
        return s.to_string();
    }
    const START: &str = "=?utf-8?q?";
    const MAX: usize = 75 - START.len() - 2;
    let mut out = String::from(START);
    let mut len = 0;
    for c in s.chars() {
        let mut buf = [0u8; 4];
        let mut enc = String::new();
        for &b in c.encode_utf8(&mut buf).as_bytes() {
            match b {
                b' ' => enc.push('_'),
                b'!'..=b'~' if !matches!(b, b'=' | b'?' | b'_') => enc.push(b as char),
                _ => enc.push_str(&format!("={b:02X}")),
            }
        }
        if len + enc.len() > MAX {
            out.push_str("?= ");
            out.push_str(START);
            len = 0;
        }
        len += enc.len();
        out.push_str(&enc);
    }
    out.push_str("?=");
    out
}

#[async_trait]
impl Integration for Email {
    fn name(&self) -> &'static str {
        KIND
    }

    fn send_resolved(&self) -> bool {
        self.config.send_resolved
    }

    async fn notify(&self, ctx: &Context, alerts: &[Alert]) -> Result<(), NotifyError> {
        let (envelope, message) = self.message(&Data::new(ctx, alerts))?;
        tokio::time::timeout(TIMEOUT, self.send(&envelope, &message))
            .await
            .map_err(|_| NotifyError::retry(format!("{KIND}: no answer from the server within {TIMEOUT:?}")))?
    }
}

impl Email {
    async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), NotifyError> {
        let mut conn = self.connect().await?;
        if let Err(e) = self.authenticate(&mut conn).await {
            conn.abort().await;
            return Err(e);
        }
        conn.send(envelope, message)
            .await
            .map_err(|e| self.smtp_error("delivery failure", e))?;
        // Delivered: a failing QUIT changes nothing.
        if let Err(e) = conn.quit().await {
            tracing::debug!(error = %e, "email: failed to close SMTP connection");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testkit;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    /// Records each message as a JSON line: the envelope, the login, the headers and
    /// the parts, as Python's `email` package reads them.
    const SERVER: &str = r#"
import json, logging, ssl, sys, time, warnings, email, email.policy
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
port, out, user, password, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        ad = getattr(session, "auth_data", None)
        rec = {"from": envelope.mail_from, "rcpt": envelope.rcpt_tos,
               "login": ad.login.decode() if isinstance(ad, LoginPassword) else None,
               "tls": session.ssl is not None,
               "content_type": msg.get_content_type(),
               "headers": {k: str(v) for k, v in msg.items()},
               "parts": [{"type": p.get_content_type(), "body": p.get_content()} for p in msg.iter_parts()]}
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        return "250 OK"
def auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == user.encode() and data.password == password.encode()
    return AuthResult(success=ok, handled=False, auth_data=data)
kw = dict(authenticator=auth, auth_required=True, auth_require_tls=False) if user else {}
if cert:
    kw["tls_context"] = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    kw["tls_context"].load_cert_chain(cert, key)
    kw["require_starttls"] = True
Controller(Handler(), hostname="127.0.0.1", port=port, **kw).start()
while True:
    time.sleep(3600)
"#;

    /// An aiosmtpd server on a free port, killed when dropped; with a certificate's and
    /// a key's PEM files, it offers (and requires) STARTTLS.
    struct Smtp {
        child: Child,
        port: u16,
        out: PathBuf,
        _dir: tempfile::TempDir,
    }

    impl Drop for Smtp {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Smtp {
        async fn start(user: &str, password: &str, tls: Option<(&Path, &Path)>) -> Smtp {
            let found = Command::new("python3").args(["-c", "import aiosmtpd"]).status();
            assert!(
                found.is_ok_and(|s| s.success()),
                "python3 with aiosmtpd is needed: scripts/test.sh installs it (pip install aiosmtpd)"
            );
            let dir = tempfile::tempdir().unwrap();
            let script = dir.path().join("smtp.py");
            std::fs::write(&script, SERVER).unwrap();
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let out = dir.path().join("received.jsonl");
            let child = Command::new("python3")
                .arg(&script)
                .args([&port.to_string(), &out.display().to_string(), user, password])
                .args(tls.map_or([PathBuf::new(), PathBuf::new()], |(c, k)| [c.into(), k.into()]))
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            let smtp = Smtp {
                child,
                port,
                out,
                _dir: dir,
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
                assert!(Instant::now() < deadline, "aiosmtpd did not listen on {port}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            smtp
        }

        fn received(&self) -> Vec<serde_json::Value> {
            let text = std::fs::read_to_string(&self.out).unwrap_or_default();
            text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
        }
    }

    fn config(port: u16) -> EmailConfig {
        EmailConfig {
            to: "ops@example.org, Oncall <oncall@example.org>".into(),
            from: "Alertmanager <am@example.org>".into(),
            smarthost: format!("127.0.0.1:{port}"),
            hello: "pyrite.test".into(),
            require_tls: Some(false),
            text: "{{ range .Alerts }}{{ .Labels.instance }} {{ end }}".into(),
            ..EmailConfig::default()
        }
    }

    fn alerts() -> [Alert; 2] {
        [testkit::alert("a:1", false), testkit::alert("b:1", false)]
    }

    #[tokio::test]
    async fn sends_alertmanagers_message() {
        let smtp = Smtp::start("", "", None).await;
        let mut c = config(smtp.port);
        c.headers
            .insert("X-Team".into(), "{{ .CommonLabels.severity }} ünïcode".into());
        let email = Email::new(&c, Path::new("/"), testkit::templates()).unwrap();
        email.notify(&testkit::context(), &alerts()).await.unwrap();

        let got = smtp.received();
        assert_eq!(got.len(), 1, "{got:?}");
        let m = &got[0];
        assert_eq!(m["from"], "am@example.org");
        assert_eq!(m["rcpt"], serde_json::json!(["ops@example.org", "oncall@example.org"]));
        assert_eq!(m["login"], serde_json::Value::Null);
        let h = &m["headers"];
        assert_eq!(h["To"], "ops@example.org, Oncall <oncall@example.org>");
        assert_eq!(h["From"], "Alertmanager <am@example.org>");
        assert_eq!(h["Subject"], testkit::subject(2));
        assert_eq!(h["X-Team"], "page ünïcode");
        assert_eq!(h["MIME-Version"], "1.0");
        assert!(h["Message-Id"].as_str().unwrap().starts_with('<'), "{h}");
        assert!(!h["Date"].as_str().unwrap().is_empty(), "{h}");
        assert_eq!(m["content_type"], "multipart/alternative");
        let parts = m["parts"].as_array().unwrap();
        assert_eq!(parts.len(), 2, "{parts:?}");
        assert_eq!(parts[0]["type"], "text/plain");
        assert_eq!(parts[0]["body"], "a:1 b:1 ");
        assert_eq!(parts[1]["type"], "text/html");
        let html = parts[1]["body"].as_str().unwrap();
        for want in [
            "instance = a:1",
            "instance = b:1",
            "alertname = Down",
            "severity = page",
        ] {
            assert!(html.contains(want), "{want} not in {html}");
        }
        assert!(html.contains(testkit::AM_URL), "{html}");
    }

    #[tokio::test]
    async fn authenticates_with_the_password() {
        let smtp = Smtp::start("alertmanager", "s3cret-pw", None).await;
        let mut c = config(smtp.port);
        c.auth_username = "alertmanager".into();
        c.auth_password = Some(Secret::new("wrong-pw".to_string()));
        let email = Email::new(&c, Path::new("/"), testkit::templates()).unwrap();
        let e = email.notify(&testkit::context(), &alerts()).await.unwrap_err();
        assert!(!e.retry, "a refused login is permanent: {}", e.message);
        assert!(!e.message.contains("wrong-pw"), "{}", e.message);
        assert!(smtp.received().is_empty());

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "s3cret-pw\n").unwrap();
        c.auth_password = None;
        c.auth_password_file = Some("pw".into());
        let email = Email::new(&c, dir.path(), testkit::templates()).unwrap();
        email.notify(&testkit::context(), &alerts()).await.unwrap();
        let got = smtp.received();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0]["login"], "alertmanager");
    }

    #[tokio::test]
    async fn require_tls_refuses_a_server_without_starttls() {
        let smtp = Smtp::start("", "", None).await;
        let mut c = config(smtp.port);
        c.require_tls = Some(true);
        let email = Email::new(&c, Path::new("/"), testkit::templates()).unwrap();
        let e = email.notify(&testkit::context(), &alerts()).await.unwrap_err();
        assert!(e.message.contains("STARTTLS"), "{}", e.message);
        assert!(smtp.received().is_empty());
    }

    #[tokio::test]
    async fn starttls_with_the_configured_ca() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_file, cert.cert.pem()).unwrap();
        std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
        let smtp = Smtp::start("alertmanager", "s3cret-pw", Some((&cert_file, &key_file))).await;
        let mut c = config(smtp.port);
        c.require_tls = Some(true);
        c.auth_username = "alertmanager".into();
        c.auth_password = Some(Secret::new("s3cret-pw".to_string()));

        // Not trusted without the CA: the handshake fails, and is retried.
        let email = Email::new(&c, Path::new("/"), testkit::templates()).unwrap();
        let e = email.notify(&testkit::context(), &alerts()).await.unwrap_err();
        assert!(e.retry && e.message.contains("STARTTLS"), "{}", e.message);
        assert!(smtp.received().is_empty());

        c.tls_config = Some(pyrite_http_client::TlsConfig {
            ca_file: Some("cert.pem".into()),
            ..Default::default()
        });
        let email = Email::new(&c, dir.path(), testkit::templates()).unwrap();
        email.notify(&testkit::context(), &alerts()).await.unwrap();
        let got = smtp.received();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0]["tls"], true);
        assert_eq!(got[0]["login"], "alertmanager");
    }

    #[tokio::test]
    async fn failures_are_classified() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let email = Email::new(&config(port), Path::new("/"), testkit::templates()).unwrap();
        let e = email.notify(&testkit::context(), &alerts()).await.unwrap_err();
        assert!(e.retry, "a refused connection is retried: {}", e.message);

        let mut c = config(port);
        c.from = "a@b, c@d".into();
        let email = Email::new(&c, Path::new("/"), testkit::templates()).unwrap();
        let e = email.notify(&testkit::context(), &alerts()).await.unwrap_err();
        assert!(!e.retry && e.message.contains("exactly one 'from'"), "{}", e.message);

        c.from = "a@b".into();
        c.headers.insert("Subject".into(), "{{ nosuch }}".into());
        let email = Email::new(&c, Path::new("/"), testkit::templates()).unwrap();
        let e = email.notify(&testkit::context(), &alerts()).await.unwrap_err();
        assert!(!e.retry && e.message.contains("\"Subject\" header"), "{}", e.message);
    }

    #[test]
    fn headers_are_q_encoded_as_go_encodes_them() {
        assert_eq!(q_encode("[FIRING:1] Down"), "[FIRING:1] Down");
        assert_eq!(q_encode("a\r\nBcc: x"), "=?utf-8?q?a=0D=0ABcc:_x?=");
        assert_eq!(q_encode("ü_=?"), "=?utf-8?q?=C3=BC=5F=3D=3F?=");
        let long = q_encode(&"é".repeat(40));
        assert!(long.split(' ').all(|w| w.len() <= 75 && w.ends_with("?=")), "{long}");
        assert_eq!(split_host_port("[::1]:25"), Some(("::1".into(), "25".into())));
    }
}
