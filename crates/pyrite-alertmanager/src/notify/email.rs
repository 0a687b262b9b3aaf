//! `email_configs`: one e-mail per notification over SMTP, as Alertmanager sends it —
//! connect to `smarthost` (implicit TLS on port 465), EHLO with `hello`, STARTTLS when
//! `require_tls` (refusing a server that does not offer it), AUTH as `auth_username`
//! with the first mechanism the server offers, in the server's order, that Pyrite has
//! what it needs for (CRAM-MD5 `auth_secret(_file)`, PLAIN and LOGIN
//! `auth_password(_file)`), then MAIL/RCPT from the executed `from` and `to`, and a
//! message whose headers are the executed `headers` (To, From and Subject filled by
//! default), `Message-Id`, `Date` and a `multipart/alternative` body of the `text` and
//! `html` parts.
//!
//! As in Alertmanager, every failure of the SMTP exchange is retried — connection,
//! TLS, finding or passing AUTH, a MAIL, RCPT or DATA refused with a 4xx or a 5xx — and
//! only what no retry can fix is not: a `tls_config` or template that cannot be used,
//! addresses that do not parse.
//!
//! The invariant: a notification counts as delivered only when the server accepted
//! the message's data, and no error carries a credential — the password and the secret
//! are scrubbed from every message made from the server's or the client's words.
//!
//! lettre knows neither CRAM-MD5 nor the order of the server's mechanisms, so with
//! `auth_username` set the EHLO is sent once more to read the offer as the server words
//! it, and CRAM-MD5 (RFC 2195) is spoken here over lettre's connection. Not supported
//! (lettre has no such thing): `tls_config`'s `max_version` and TLS 1.0/1.1, and
//! `auth_identity` (lettre's PLAIN sends none); the default roots are Mozilla's.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use lettre::address::Envelope;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailboxes, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, Identity, TlsParameters, TlsVersion,
};
use lettre::transport::smtp::commands::{self, Ehlo, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use md5::{Digest, Md5};
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
    /// CRAM-MD5's shared secret.
    secret: Option<SecretSource>,
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
        let secret = SecretSource::new(config.auth_secret.as_ref(), config.auth_secret_file.as_ref(), base_dir);
        Ok(Email {
            host,
            port,
            implicit_tls: port_text == "465",
            password,
            secret,
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

    /// The EHLO's name: Go's net/smtp says `localhost` when no `hello` is set.
    fn hello(&self) -> ClientId {
        match self.config.hello.as_str() {
            "" => ClientId::Domain("localhost".into()),
            h => ClientId::Domain(h.into()),
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, NotifyError> {
        let hello = self.hello();
        let implicit = self.implicit_tls;
        let tls = if implicit { Some(self.tls()?) } else { None };
        let addr = (self.host.as_str(), self.port);
        let what = if implicit {
            "establish TLS connection to server"
        } else {
            "establish connection to server"
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(addr, None, &hello, tls, None)
            .await
            .map_err(|e| self.smtp_error(what, e))?;
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

    /// AUTH when `auth_username` is set and the server offers AUTH, with the mechanism
    /// [`choose_auth`] takes.
    async fn authenticate(&self, conn: &mut AsyncSmtpConnection) -> Result<(), NotifyError> {
        let user = &self.config.auth_username;
        if user.is_empty() {
            return Ok(());
        }
        let ehlo = conn
            .command(Ehlo::new(self.hello()))
            .await
            .map_err(|e| self.smtp_error("send EHLO command", e))?;
        let Some(offer) = auth_offer(&ehlo) else {
            return Ok(());
        };
        let auth = choose_auth(offer, || read(&self.secret), || read(&self.password))
            .map_err(|e| NotifyError::retry(format!("{KIND}: find auth mechanism: {e}")))?;
        let (mechanism, password) = match auth {
            Auth::CramMd5(secret) => return self.cram_md5(conn, user, &secret).await,
            Auth::Plain(password) => (Mechanism::Plain, password),
            Auth::Login(password) => (Mechanism::Login, password),
        };
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
            .map_err(|e| self.smtp_error(&format!("{mechanism} auth"), e))?;
        Ok(())
    }

    /// RFC 2195: `AUTH CRAM-MD5`, the server's challenge, and the answer that proves
    /// the secret without sending it; a challenge that cannot be read is cancelled.
    async fn cram_md5(&self, conn: &mut AsyncSmtpConnection, user: &str, secret: &str) -> Result<(), NotifyError> {
        const WHAT: &str = "CRAM-MD5 auth";
        let unexpected = |r: &Response| {
            let text: Vec<&str> = r.message().collect();
            NotifyError::retry(self.scrub(format!(
                "{KIND}: {WHAT}: unexpected reply {} {}",
                r.code(),
                text.join(" ")
            )))
        };
        let reply = conn
            .command("AUTH CRAM-MD5\r\n")
            .await
            .map_err(|e| self.smtp_error(WHAT, e))?;
        if !reply.has_code(334) {
            return Err(unexpected(&reply));
        }
        let Some(challenge) = base64_decode(reply.first_line().unwrap_or_default().trim()) else {
            let _ = conn.command("*\r\n").await;
            return Err(unexpected(&reply));
        };
        let answer = base64_encode(cram_md5_answer(user, secret, &challenge).as_bytes());
        let reply = conn
            .command(format!("{answer}\r\n"))
            .await
            .map_err(|e| self.smtp_error(WHAT, e))?;
        if !reply.has_code(235) {
            return Err(unexpected(&reply));
        }
        Ok(())
    }

    /// MAIL, RCPT for each recipient, DATA and the message, each failure named by its
    /// step as Alertmanager names it.
    async fn deliver(
        &self,
        conn: &mut AsyncSmtpConnection,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<(), NotifyError> {
        // What Go's net/smtp declares whenever the server offers it.
        let info = conn.server_info();
        let mut options = Vec::new();
        if info.supports_feature(Extension::EightBitMime) {
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        if info.supports_feature(Extension::SmtpUtfEight) {
            options.push(MailParameter::SmtpUtfEight);
        }
        conn.command(Mail::new(envelope.from().cloned(), options))
            .await
            .map_err(|e| self.smtp_error("send MAIL command", e))?;
        for to in envelope.to() {
            conn.command(Rcpt::new(to.clone(), Vec::new()))
                .await
                .map_err(|e| self.smtp_error("send RCPT command", e))?;
        }
        conn.command(commands::Data)
            .await
            .map_err(|e| self.smtp_error("send DATA command", e))?;
        conn.message(message)
            .await
            .map_err(|e| self.smtp_error("delivery failure", e))?;
        Ok(())
    }

    /// A failure of the SMTP exchange: retried, whatever the server's code, as
    /// Alertmanager retries it.
    fn smtp_error(&self, what: &str, e: lettre::transport::smtp::Error) -> NotifyError {
        NotifyError::retry(self.scrub(format!("{KIND}: {what}: {e}")))
    }

    /// `message` without the password or the secret.
    fn scrub(&self, mut message: String) -> String {
        for source in [&self.password, &self.secret].into_iter().flatten() {
            if let Ok(s) = source.get(KIND) {
                if !s.is_empty() {
                    message = message.replace(&s, "<secret>");
                }
            }
        }
        message
    }
}

/// A mechanism to authenticate with, and what it needs.
enum Auth {
    CramMd5(String),
    Plain(String),
    Login(String),
}

/// The parameter of an EHLO reply's `AUTH` line (its last, as Go keeps it), if any:
/// the mechanisms, in the server's order.
fn auth_offer(ehlo: &Response) -> Option<&str> {
    ehlo.message()
        .skip(1)
        .filter_map(|line| match line.split_once(' ') {
            Some(("AUTH", offer)) => Some(offer),
            _ => (line == "AUTH").then_some(""),
        })
        .last()
}

/// Alertmanager's choice: the first of `offer`'s mechanisms, in its order, whose
/// credential is set — the secret for CRAM-MD5, the password for PLAIN and LOGIN. Else
/// every reason why not, or, when no mechanism was known, the offer itself.
fn choose_auth(
    offer: &str,
    secret: impl Fn() -> Result<String, String>,
    password: impl Fn() -> Result<String, String>,
) -> Result<Auth, String> {
    let mut why = Vec::new();
    for mechanism in offer.split(' ') {
        let (credential, what, auth): (_, _, fn(String) -> Auth) = match mechanism {
            "CRAM-MD5" => (secret(), "secret", Auth::CramMd5),
            "PLAIN" => (password(), "password", Auth::Plain),
            "LOGIN" => (password(), "password", Auth::Login),
            _ => continue,
        };
        match credential {
            Err(e) => why.push(e),
            Ok(c) if c.is_empty() => why.push(format!("missing {what} for {mechanism} auth mechanism")),
            Ok(c) => return Ok(auth(c)),
        }
    }
    if why.is_empty() {
        why.push(format!("unknown auth mechanism: {offer}"));
    }
    Err(why.join("; "))
}

/// A credential, empty when not set; a file that cannot be read is a reason, naming
/// the file.
fn read(source: &Option<SecretSource>) -> Result<String, String> {
    match source {
        None => Ok(String::new()),
        // `get` says "email: reading …"; the reason goes after "find auth mechanism: ".
        Some(s) => s
            .get(KIND)
            .map_err(|e| match e.message.strip_prefix(&format!("{KIND}: ")) {
                Some(m) => m.to_string(),
                None => e.message,
            }),
    }
}

/// RFC 2195's answer: the user, a space, and HMAC-MD5(secret, challenge) in lowercase
/// hex.
fn cram_md5_answer(user: &str, secret: &str, challenge: &[u8]) -> String {
    let digest: String = hmac_md5(secret.as_bytes(), challenge)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{user} {digest}")
}

/// HMAC-MD5 (RFC 2104, MD5's block of 64 bytes).
fn hmac_md5(key: &[u8], data: &[u8]) -> [u8; 16] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..16].copy_from_slice(&Md5::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner = Md5::new()
        .chain_update(k.map(|b| b ^ 0x36))
        .chain_update(data)
        .finalize();
    Md5::new()
        .chain_update(k.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// Standard base64 (RFC 4648), padded.
fn base64_encode(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Standard padded base64; `None` for anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
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
        let sent = match self.authenticate(&mut conn).await {
            Ok(()) => self.deliver(&mut conn, envelope, message).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            conn.abort().await;
            return Err(e);
        }
        // Delivered: a failing QUIT changes nothing.
        if let Err(e) = conn.quit().await {
            tracing::debug!(error = %e, "email: failed to close SMTP connection");
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "email_tests.rs"]
mod tests;
