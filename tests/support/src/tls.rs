//! A test PKI for HTTPS providers: a certificate authority made at run time (none is checked in to
//! age), server certificates it signs for given names and IP addresses, an expired one, one for
//! another name and a self-signed one, each written as PEM files into a directory removed with the
//! [`TestCa`]. With [`crate::Idp::start_https`] the real provider (tests/idp) serves one of them.
//!
//! ```no_run
//! use session_keeper_testkit::{Idp, Ttls, tls::TestCa};
//! let ca = TestCa::new();
//! let idp = Idp::start_https(Ttls::default(), &ca.server(&["localhost", "127.0.0.1", "::1"]), &[]);
//! let mut config = idp.config(); // issuer https://127.0.0.1:PORT
//! config.ca_certificates = Some(ca.pem().to_owned());
//! ```

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use sha2::{Digest, Sha256};

/// A certificate authority of the test's own, and the directory its files are written into.
pub struct TestCa {
    dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    name: String,
}

/// A server certificate and its key, as PEM files (what `IDP_TLS_CERT` / `IDP_TLS_KEY` take).
#[derive(Clone, Debug)]
pub struct ServerCert {
    /// The certificate, PEM.
    pub cert: PathBuf,
    /// Its private key, PEM (PKCS#8).
    pub key: PathBuf,
    /// Its SHA-256 fingerprint, upper-case hex with colons, as `openssl x509 -fingerprint -sha256` prints it.
    pub fingerprint: String,
    /// The certificate's subject common name.
    pub common_name: String,
    /// The certificate, DER.
    pub der: Vec<u8>,
}

impl TestCa {
    /// A new CA named "Session Keeper Test CA <pid>-<n>", with its certificate in `ca.pem`.
    pub fn new() -> TestCa {
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!("Session Keeper Test CA {}-{}", std::process::id(), COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let key = KeyPair::generate().expect("a key for the test CA");
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = dn(&name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key).expect("the test CA's certificate");
        let dir = tempfile::Builder::new().prefix("session-keeper-pki-").tempdir().expect("a temporary directory");
        let pem = cert.pem();
        std::fs::write(dir.path().join("ca.pem"), &pem).unwrap();
        TestCa { dir, issuer: Issuer::new(params, key), pem, name }
    }

    /// The CA certificate, PEM: what a provider's `ca_certificates` setting holds.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The CA certificate's file (`ca.pem`): a bundle for `SSL_CERT_FILE`, or the file chosen in
    /// the provider's settings.
    pub fn file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The CA's common name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory the PEM files are written into.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A server certificate signed by this CA for `names` (DNS names or IP addresses such as
    /// `127.0.0.1` and `::1`), valid from yesterday for a year.
    pub fn server(&self, names: &[&str]) -> ServerCert {
        let now = time::OffsetDateTime::now_utc();
        self.issue(names, now - time::Duration::days(1), now + time::Duration::days(365), "server")
    }

    /// A certificate signed by this CA for `names` that expired yesterday (valid for the 30 days
    /// before).
    pub fn expired(&self, names: &[&str]) -> ServerCert {
        let now = time::OffsetDateTime::now_utc();
        self.issue(names, now - time::Duration::days(31), now - time::Duration::days(1), "expired")
    }

    /// A self-signed certificate for `names` (no CA at all: its subject is its issuer).
    pub fn self_signed(&self, names: &[&str]) -> ServerCert {
        let key = KeyPair::generate().unwrap();
        let mut params = params_for(names, "self-signed");
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(365);
        let cert = params.self_signed(&key).unwrap();
        self.write("self-signed", cert.pem(), key.serialize_pem(), cert.der(), &params)
    }

    fn issue(&self, names: &[&str], not_before: time::OffsetDateTime, not_after: time::OffsetDateTime, file: &str) -> ServerCert {
        let key = KeyPair::generate().unwrap();
        let mut params = params_for(names, file);
        params.not_before = not_before;
        params.not_after = not_after;
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        self.write(file, cert.pem(), key.serialize_pem(), cert.der(), &params)
    }

    fn write(&self, file: &str, cert_pem: String, key_pem: String, der: &[u8], params: &CertificateParams) -> ServerCert {
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cert = self.dir.path().join(format!("{file}-{n}.pem"));
        let key = self.dir.path().join(format!("{file}-{n}.key"));
        std::fs::write(&cert, cert_pem).unwrap();
        std::fs::write(&key, key_pem).unwrap();
        let common_name = match params.distinguished_name.get(&DnType::CommonName) {
            Some(rcgen::DnValue::Utf8String(name)) => name.clone(),
            _ => String::new(),
        };
        ServerCert { cert, key, fingerprint: fingerprint(der), common_name, der: der.to_vec() }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// SHA-256 of `der`, upper-case hex with colons, as `openssl x509 -fingerprint -sha256` prints it.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Session Keeper tests");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn params_for(names: &[&str], what: &str) -> CertificateParams {
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("valid names");
    params.distinguished_name = dn(&format!("{} ({what})", names.first().copied().unwrap_or("no name")));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params
}
