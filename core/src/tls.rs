//! Whom the core trusts for HTTPS: what the desktop trusts (the system's store, `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` honoured, read once per process) and, for one provider only, the CA certificates in
//! its settings; and a rejected certificate described in words (which check failed, subject, issuer,
//! SHA-256).
//!
//! The verifier is rustls's own (`WebPkiServerVerifier`), wrapped ([`Explaining`]) so that when it
//! refuses a certificate the refusal carries a [`CertificateProblem`] (inside rustls's
//! `CertificateError::Other`), which `oidc/errors.rs` finds in a transport error's chain and turns
//! into [`Error::CertificateRejected`].

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::SectionKind;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::text::provider_text;

/// The largest `ca_certificates` setting accepted: a bundle of a few hundred certificates.
pub const MAX_CA_PEM: usize = 256 * 1024;

/// Advice for a certificate from an authority this computer does not trust (README's table).
pub const ADVICE_UNKNOWN_CA: &str =
    "If your organisation uses its own certificate authority, install it on this computer or choose its file in the provider's settings.";
/// Advice for a certificate outside its dates.
pub const ADVICE_DATES: &str = "Check this computer's clock, or ask the provider's administrator to renew it.";
/// Advice for a certificate for another name, a self-signed one, or any other refusal.
pub const ADVICE_NAME: &str = "Check the issuer URL, or ask the provider's administrator.";

/// The system's trust store, read once: (roots, how long the read took).
fn system_roots() -> &'static (Arc<RootCertStore>, Duration) {
    static ROOTS: OnceLock<(Arc<RootCertStore>, Duration)> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let began = Instant::now();
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        let took = began.elapsed();
        tracing::info!(added, ignored, errors = found.errors.len(), ms = took.as_millis() as u64, "read the system's trust store");
        for error in &found.errors {
            tracing::warn!(%error, "a part of the system's trust store could not be read");
        }
        (Arc::new(roots), took)
    })
}

/// How long reading the system's trust store took (it is read at the first call).
pub fn system_store_read_time() -> Duration {
    system_roots().1
}

fn crypto() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

/// The TLS settings of provider calls: the system's store, plus `provider_ca` (PEM, already
/// validated) for a provider that has its own.
pub(crate) fn client_config(provider_ca: Option<&str>) -> Result<rustls::ClientConfig> {
    let verifier = match provider_ca {
        None => {
            static SHARED: OnceLock<Arc<Explaining>> = OnceLock::new();
            SHARED.get_or_init(|| Arc::new(Explaining::new(system_roots().0.clone()))).clone()
        }
        Some(pem) => {
            let mut roots = (*system_roots().0).clone();
            roots.add_parsable_certificates(ca_certificates(pem)?);
            Arc::new(Explaining::new(Arc::new(roots)))
        }
    };
    rustls::ClientConfig::builder_with_provider(crypto())
        .with_safe_default_protocol_versions()
        .map_err(|err| Error::InvalidConfiguration(format!("cannot set up TLS: {err}")))
        .map(|builder| builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
}

/// Whether `chain` (DER, the server's certificate first) is valid for `host` under the PEM CA
/// certificates `ca_pem` alone, now: what the sign-in window asks before it trusts a certificate
/// its own store refused. An empty `ca_pem` means the system's store, as the core trusts it for a
/// provider without CA certificates of its own (the window then shows the core's words for a
/// certificate its store refused). The error is a [`Error::CertificateRejected`] in words, its
/// endpoint `https://host`.
pub fn verify_with_provider_ca(ca_pem: &str, chain: &[Vec<u8>], host: &str) -> Result<()> {
    let roots = if ca_pem.trim().is_empty() {
        system_roots().0.clone()
    } else {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(ca_certificates(ca_pem)?);
        Arc::new(roots)
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let endpoint = if bare.contains(':') { format!("https://[{bare}]") } else { format!("https://{bare}") };
    let (end_entity, intermediates) =
        chain.split_first().ok_or_else(|| Error::InvalidConfiguration(format!("The server at {endpoint} presented no certificate.")))?;
    let intermediates: Vec<CertificateDer<'_>> = intermediates.iter().map(|der| CertificateDer::from(der.as_slice())).collect();
    let name = ServerName::try_from(bare)
        .map_err(|_| Error::InvalidConfiguration(format!("\"{}\" is not a host name or address.", provider_text(host))))?;
    Explaining::new(roots)
        .verify_server_cert(&CertificateDer::from(end_entity.as_slice()), &intermediates, &name, &[], UnixTime::now())
        .map(drop)
        .map_err(|err| match CertificateProblem::in_rustls(&err) {
            Some(problem) => problem.error(&endpoint),
            None => Error::CertificateRejected { endpoint, problem: err.to_string(), advice: ADVICE_NAME.into(), source: None },
        })
}

/// The certificates of a `ca_certificates` setting, checked: at most [`MAX_CA_PEM`] bytes of PEM,
/// at least one `CERTIFICATE`, each one a CA's, no private key. The error says what to do.
pub(crate) fn ca_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    let bad = |what: String| Error::InvalidConfiguration(format!("The provider's CA certificates {what}"));
    if pem.len() > MAX_CA_PEM {
        return Err(bad(format!(
            "are {} KiB, more than the {} KiB accepted: choose the file of your organisation's CA alone, not a whole bundle.",
            pem.len() / 1024,
            MAX_CA_PEM / 1024
        )));
    }
    let mut reader = pem.as_bytes();
    let mut certs = Vec::new();
    loop {
        match rustls::pki_types::pem::from_buf(&mut reader) {
            Ok(None) => break,
            Ok(Some((SectionKind::Certificate, der))) => certs.push(CertificateDer::from(der)),
            Ok(Some((SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey, _))) => {
                return Err(bad("include a private key: choose a file with the CA's certificate only, and keep the key secret.".into()));
            }
            Ok(Some(_)) => {}
            Err(err) => {
                return Err(bad(format!(
                    "are not readable PEM ({err}): choose a .pem or .crt file that starts with -----BEGIN CERTIFICATE-----."
                )));
            }
        }
    }
    if certs.is_empty() {
        return Err(bad("hold no certificate: choose a .pem or .crt file that starts with -----BEGIN CERTIFICATE-----.".into()));
    }
    for (n, der) in certs.iter().enumerate() {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|err| bad(format!("hold a certificate (number {}) that cannot be read: {err}. Choose the CA's file again.", n + 1)))?;
        if !cert.is_ca() {
            return Err(bad(format!(
                "hold a certificate that is not a certificate authority's (\"{}\"): choose the file of the authority that issued the provider's certificate.",
                provider_text(&cert.subject().to_string())
            )));
        }
    }
    Ok(certs)
}

/// Which check a refused certificate failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Issued by an authority not trusted here.
    UnknownIssuer,
    /// Its subject is its issuer, and it is not trusted.
    SelfSigned,
    /// Expired on this date (UTC, "YYYY-MM-DD HH:MM UTC").
    Expired(String),
    /// Not valid before this date.
    NotYetValid(String),
    /// For these names, not for `host`.
    WrongName {
        /// The DNS names and addresses it is for.
        names: Vec<String>,
        /// The host that was asked for.
        host: String,
    },
    /// Revoked by its issuer.
    Revoked,
    /// Anything else, in rustls's words.
    Other(String),
}

/// A refused certificate in words: the failed check and the certificate.
#[derive(Debug, Clone)]
pub struct CertificateProblem {
    /// The check that failed.
    pub check: Check,
    /// The certificate's subject (made safe: it is the server's text).
    pub subject: String,
    /// Its issuer (made safe).
    pub issuer: String,
    /// SHA-256 of the certificate, upper-case hex with colons, as `openssl x509 -fingerprint -sha256` prints it.
    pub fingerprint: String,
}

impl std::fmt::Display for CertificateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.check {
            Check::UnknownIssuer => write!(f, "it was issued by an authority this computer does not trust")?,
            Check::SelfSigned => write!(f, "it is self-signed")?,
            Check::Expired(date) => write!(f, "it expired on {date}")?,
            Check::NotYetValid(date) => write!(f, "it is not valid before {date}")?,
            Check::WrongName { names, host } if names.is_empty() => write!(f, "it names no host, not {host}")?,
            Check::WrongName { names, host } => write!(f, "it is for {}, not {host}", names.join(", "))?,
            Check::Revoked => write!(f, "it has been revoked")?,
            Check::Other(words) => write!(f, "{words}")?,
        }
        write!(f, "; certificate \"{}\" issued by \"{}\", SHA-256 {}", self.subject, self.issuer, self.fingerprint)
    }
}

impl std::error::Error for CertificateProblem {}

impl CertificateProblem {
    /// What the verifier's refusal `err` of `der` (for `host`) means.
    fn new(der: &[u8], host: &str, err: &CertificateError) -> Self {
        let parsed = x509_parser::parse_x509_certificate(der).ok().map(|(_, cert)| cert);
        let (subject, issuer) = parsed
            .as_ref()
            .map(|c| (provider_text(&c.subject().to_string()), provider_text(&c.issuer().to_string())))
            .unwrap_or_else(|| ("(unreadable)".into(), "(unreadable)".into()));
        let self_issued = parsed.as_ref().is_some_and(|c| c.subject().as_raw() == c.issuer().as_raw());
        let date = |t: Option<UnixTime>, fallback: Option<i64>| {
            let secs = t.map(|t| t.as_secs() as i64).or(fallback).unwrap_or_default();
            chrono::DateTime::from_timestamp(secs, 0).map_or_else(String::new, |at| at.format("%Y-%m-%d %H:%M UTC").to_string())
        };
        let not_after = parsed.as_ref().map(|c| c.validity().not_after.timestamp());
        let not_before = parsed.as_ref().map(|c| c.validity().not_before.timestamp());
        let check = match err {
            CertificateError::UnknownIssuer | CertificateError::BadSignature if self_issued => Check::SelfSigned,
            CertificateError::UnknownIssuer => Check::UnknownIssuer,
            CertificateError::Expired => Check::Expired(date(None, not_after)),
            CertificateError::ExpiredContext { not_after, .. } => Check::Expired(date(Some(*not_after), None)),
            CertificateError::NotValidYet => Check::NotYetValid(date(None, not_before)),
            CertificateError::NotValidYetContext { not_before, .. } => Check::NotYetValid(date(Some(*not_before), None)),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Check::WrongName { names: parsed.as_ref().map(names_of).unwrap_or_default(), host: host.to_owned() }
            }
            CertificateError::Revoked => Check::Revoked,
            other => Check::Other(format!("it failed a check ({other:?})")),
        };
        Self { check, subject, issuer, fingerprint: fingerprint(der) }
    }

    /// The problem a rustls error carries, if the wrapping verifier made it.
    pub(crate) fn in_rustls(err: &rustls::Error) -> Option<&CertificateProblem> {
        match err {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => inner.downcast_ref::<CertificateProblem>(),
            _ => None,
        }
    }

    /// The problem found anywhere in `err`'s chain. What an `io::Error` wraps is looked into, however
    /// deep (its `source()` skips the error it wraps; hyper-rustls wraps tokio-rustls's `io::Error`
    /// holding rustls's error in another `io::Error`).
    pub(crate) fn in_chain<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a CertificateProblem> {
        let mut source = Some(err);
        while let Some(link) = source {
            let mut inner = Some(link);
            while let Some(candidate) = inner {
                if let Some(problem) = candidate.downcast_ref::<rustls::Error>().and_then(Self::in_rustls) {
                    return Some(problem);
                }
                if let Some(problem) = candidate.downcast_ref::<CertificateProblem>() {
                    return Some(problem);
                }
                inner =
                    candidate.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).map(|e| e as &(dyn std::error::Error + 'static));
            }
            source = link.source();
        }
        None
    }

    /// What to do about it: the README's sentence for the check.
    pub fn advice(&self) -> &'static str {
        match self.check {
            Check::UnknownIssuer => ADVICE_UNKNOWN_CA,
            Check::Expired(_) | Check::NotYetValid(_) => ADVICE_DATES,
            Check::SelfSigned | Check::WrongName { .. } | Check::Revoked | Check::Other(_) => ADVICE_NAME,
        }
    }

    /// The crate's error for this problem at `endpoint`.
    pub(crate) fn error(&self, endpoint: &str) -> Error {
        Error::CertificateRejected {
            endpoint: endpoint.to_owned(),
            problem: self.to_string(),
            advice: self.advice().to_owned(),
            source: Some(crate::error::Cause(format!("{:?}", self.check))),
        }
    }
}

/// The DNS names and IP addresses a certificate is for.
fn names_of(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let mut names: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(provider_text(dns)),
                GeneralName::IPAddress(ip) => ip_text(ip),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        names.extend(cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(provider_text));
    }
    names
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).to_string()),
        _ => None,
    }
}

/// SHA-256 of `der`, upper-case hex with colons (as `openssl x509 -fingerprint -sha256` prints it).
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// rustls's verifier, wrapped: a refusal carries a [`CertificateProblem`]. With no root at all (an
/// empty system store, no CA of the provider's) every certificate is refused as from an unknown
/// issuer, as rustls would.
#[derive(Debug)]
pub(crate) struct Explaining {
    inner: Option<Arc<WebPkiServerVerifier>>,
    crypto: Arc<CryptoProvider>,
}

impl Explaining {
    fn new(roots: Arc<RootCertStore>) -> Self {
        let crypto = crypto();
        let inner = (!roots.is_empty()).then(|| WebPkiServerVerifier::builder_with_provider(roots, crypto.clone()).build().ok()).flatten();
        Self { inner, crypto }
    }
}

impl ServerCertVerifier for Explaining {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let refusal = match &self.inner {
            Some(inner) => match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
                Err(rustls::Error::InvalidCertificate(refusal)) => refusal,
                other => return other,
            },
            None => CertificateError::UnknownIssuer,
        };
        let problem = CertificateProblem::new(end_entity, &server_name.to_str(), &refusal);
        tracing::info!(host = %server_name.to_str(), %problem, "a server's certificate was refused");
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(problem)))))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.crypto.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.crypto.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.crypto.signature_verification_algorithms.supported_schemes()
    }
}
