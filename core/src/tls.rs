//! Whom the core trusts for HTTPS: what the desktop trusts (the system's store, `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` honoured) and, for one provider only, the CA certificates in its settings; and a
//! rejected certificate described in words (which check failed, subject, issuer, SHA-256).
//! (Placeholder: filled in by the trust work.)

use crate::error::{Error, Result};

/// Whether `chain` (DER, the server's certificate first) is valid for `host` under the PEM CA
/// certificates `ca_pem` alone, now: what the sign-in window asks before it trusts a certificate
/// its own store refused. The error is a [`Error::CertificateRejected`] in words.
pub fn verify_with_provider_ca(ca_pem: &str, chain: &[Vec<u8>], host: &str) -> Result<()> {
    let _ = (ca_pem, chain, host);
    Err(Error::InvalidConfiguration("certificate checks are not built yet".into()))
}
