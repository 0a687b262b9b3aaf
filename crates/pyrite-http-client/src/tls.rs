//! Turns a [`TlsConfig`] into a [`rustls::ClientConfig`] on the `ring` provider.
//!
//! Roots: the CA of `ca`/`ca_file` when one is given — and then only it, as Prometheus
//! does (Go's `RootCAs` replaces the system pool) — otherwise the system's roots, read
//! with `rustls-native-certs`. `server_name` replaces the URL's host when the server's
//! certificate is verified; rustls gives no way to send a different SNI, so the SNI stays
//! the URL's host name (and none is sent for an IP address). `insecure_skip_verify` takes
//! any certificate but still checks that the server holds its key.
//!
//! Deliberately not here: watching `ca_file`, `cert_file` and `key_file` for changes; they
//! are read once, when the client is built.
//! The invariant: the key is only ever handed to rustls; no error quotes it.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::validate::{non_empty, secret_set, tls_versions, TlsVersion};
use crate::{resolve, HttpClientError, TlsConfig};

/// Which HTTP versions the client offers through ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alpn {
    Http1,
    Http2AndHttp1,
}

fn tls_err(message: impl Into<String>) -> HttpClientError {
    HttpClientError::Tls(message.into())
}

fn read(option: &'static str, path: &Path) -> Result<Vec<u8>, HttpClientError> {
    std::fs::read(path).map_err(|source| HttpClientError::ReadFile {
        option,
        path: path.to_path_buf(),
        source,
    })
}

/// PEM text given inline or in a file, and how to name it in a message.
fn pem_input(
    inline: Option<&str>,
    file: Option<&str>,
    option: &'static str,
    base_dir: &Path,
) -> Result<Option<(Vec<u8>, String)>, HttpClientError> {
    if let Some(text) = inline {
        return Ok(Some((text.as_bytes().to_vec(), format!("inline {option}"))));
    }
    match file {
        Some(file) => {
            let path = resolve(base_dir, file);
            let bytes = read(option, &path)?;
            Ok(Some((bytes, format!("file {}", path.display()))))
        }
        None => Ok(None),
    }
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, HttpClientError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err(format!("unable to parse {what}: {e}")))?;
    if certs.is_empty() {
        return Err(tls_err(format!("no certificate found in {what}")));
    }
    Ok(certs)
}

fn root_store(tls: &TlsConfig, base_dir: &Path) -> Result<RootCertStore, HttpClientError> {
    let mut roots = RootCertStore::empty();
    match pem_input(non_empty(&tls.ca), non_empty(&tls.ca_file), "ca_file", base_dir)? {
        Some((pem, what)) => {
            for cert in certificates(&pem, &what)? {
                roots
                    .add(cert)
                    .map_err(|e| tls_err(format!("unable to use specified CA cert {what}: {e}")))?;
            }
        }
        None => {
            // A system without a certificate bundle leaves the store empty; every server is
            // then refused at its handshake, with a message that says why.
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    Ok(roots)
}

fn client_identity(
    tls: &TlsConfig,
    base_dir: &Path,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, HttpClientError> {
    let cert = pem_input(non_empty(&tls.cert), non_empty(&tls.cert_file), "cert_file", base_dir)?;
    let key_inline = secret_set(&tls.key)
        .then(|| tls.key.as_ref().map(|k| k.expose()))
        .flatten();
    let key = pem_input(key_inline, non_empty(&tls.key_file), "key_file", base_dir)?;
    let (Some((cert_pem, cert_what)), Some((key_pem, key_what))) = (cert, key) else {
        return Ok(None);
    };
    let certs = certificates(&cert_pem, &cert_what)?;
    // The parser's error names the PEM section it stumbled on, never the key's bytes.
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        tls_err(format!(
            "unable to use specified client cert ({cert_what}) & key ({key_what}): {e}"
        ))
    })?;
    Ok(Some((certs, key)))
}

/// Builds the client TLS configuration for one `tls_config`.
pub(crate) fn client_config(
    tls: &TlsConfig,
    base_dir: &Path,
    alpn: Alpn,
) -> Result<rustls::ClientConfig, HttpClientError> {
    tls.validate()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = tls_versions(tls)?
        .into_iter()
        .map(|v| match v {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        })
        .collect();
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(FixedVerdict {
            provider: provider.clone(),
            accept: true,
        })
    } else {
        let roots = root_store(tls, base_dir)?;
        let webpki: Arc<dyn ServerCertVerifier> = if roots.is_empty() {
            Arc::new(FixedVerdict {
                provider: provider.clone(),
                accept: false,
            })
        } else {
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| tls_err(format!("unable to use the trusted certificates: {e}")))?
        };
        match non_empty(&tls.server_name) {
            Some(name) => {
                let name = ServerName::try_from(name.to_string())
                    .map_err(|e| tls_err(format!("invalid server_name {name:?}: {e}")))?;
                Arc::new(VerifyAs { name, inner: webpki })
            }
            None => webpki,
        }
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| tls_err(format!("unable to use the TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match client_identity(tls, base_dir)? {
        Some((certs, key)) => builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| tls_err(format!("unable to use specified client cert & key: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = match alpn {
        Alpn::Http1 => vec![b"http/1.1".to_vec()],
        Alpn::Http2AndHttp1 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    Ok(config)
}

/// Checks the server's certificate against `server_name` instead of the URL's host.
#[derive(Debug)]
struct VerifyAs {
    name: ServerName<'static>,
    inner: Arc<dyn ServerCertVerifier>,
}

impl ServerCertVerifier for VerifyAs {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _url_host: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A verifier whose verdict on certificates is fixed, while the handshake's signatures
/// are still checked: `insecure_skip_verify` accepts any certificate; with no CA
/// configured and none on the system, every certificate is refused.
#[derive(Debug)]
struct FixedVerdict {
    provider: Arc<CryptoProvider>,
    accept: bool,
}

impl ServerCertVerifier for FixedVerdict {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.accept {
            true => Ok(ServerCertVerified::assertion()),
            false => Err(rustls::Error::General(
                "no trusted CA: none found on this system and no tls_config ca or ca_file".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests;
