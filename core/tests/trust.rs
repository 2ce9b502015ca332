//! HTTPS as companies run it, against the real OpenID Provider (oidc-provider over node's https, with
//! certificates from a CA this test makes: tests/support/src/tls.rs): a provider's own CA in its
//! settings, the system's store through `SSL_CERT_FILE` (in a child process of this test binary: the
//! environment cannot be changed in-process), each refused certificate in its words and never
//! retried as an outage, IPv6 and names, and a name that does not resolve.

use session_keeper_testkit as support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use session_core::{ErrorKind, MemoryVault, Policy, ProviderConfig, SessionManager, SessionSnapshot};
use support::tls::{ServerCert, TestCa};
use support::{Idp, Ttls};

/// The names of every certificate valid for the test provider.
const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

async fn manager() -> SessionManager {
    support::manager(Arc::new(MemoryVault::new()), Policy::default()).await
}

/// Adds session `id` with `config` and signs alice in through the provider's real pages.
async fn sign_in(manager: &SessionManager, config: ProviderConfig, id: &str) -> session_core::Result<SessionSnapshot> {
    manager.add_session(id, config, None).await?;
    let url = manager.begin_sign_in(id).await?;
    let redirect = support::login(&url, "alice").await;
    manager.complete_sign_in(id, &redirect).await
}

fn with_ca(idp: &Idp, ca: &TestCa) -> ProviderConfig {
    let mut config = idp.config();
    config.ca_certificates = Some(ca.pem().to_owned());
    config
}

/// The error of adding a session for `config` (its discovery), which must fail.
async fn refused(config: ProviderConfig) -> session_core::Error {
    manager().await.add_session("s", config, None).await.expect_err("the provider must be refused")
}

#[tokio::test]
async fn a_provider_behind_its_own_ca_signs_in_and_refreshes() {
    let ca = TestCa::new();
    let idp = Idp::start_https(Ttls::default(), &ca.server(&LOOPBACK), &[]);
    assert!(idp.issuer.starts_with("https://127.0.0.1:"), "{}", idp.issuer);
    let manager = manager().await;
    let session = sign_in(&manager, with_ca(&idp, &ca), "s").await.unwrap();
    assert!(session.signed_in);
    let refreshed = manager.refresh("s", true).await.unwrap();
    assert!(refreshed.last_error.is_none(), "{:?}", refreshed.last_error);
    assert!(refreshed.last_refresh_at.is_some());
    assert_eq!(idp.stats().await["grants"]["refresh_token"], 1);
}

#[tokio::test]
async fn without_its_ca_the_provider_is_refused_naming_the_unknown_issuer_and_the_fingerprint() {
    let ca = TestCa::new();
    let cert = ca.server(&LOOPBACK);
    let idp = Idp::start_https(Ttls::default(), &cert, &[]);
    // The CA of one provider's settings is trusted for that provider only: in the same manager, the
    // same provider without it is refused.
    let manager = manager().await;
    manager.add_session("with-ca", with_ca(&idp, &ca), None).await.unwrap();
    let err = manager.add_session("without", idp.config(), None).await.expect_err("refused without its CA");
    assert_eq!(err.kind(), ErrorKind::CertificateRejected, "{err} {}", err.chain());
    let words = err.to_string();
    assert!(words.contains("it was issued by an authority this computer does not trust"), "{words}");
    assert!(words.contains(&format!("SHA-256 {}", cert.fingerprint)), "{words}");
    assert!(words.contains(&cert.common_name) && words.contains(ca.name()), "subject and issuer named: {words}");
    assert!(words.ends_with("install it on this computer or choose its file in the provider's settings."), "{words}");
    // The fingerprint is the certificate's, as openssl computes it from the PEM file.
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert.cert)
        .output()
        .expect("openssl (scripts/setup.sh installs it)");
    let openssl = String::from_utf8_lossy(&out.stdout);
    assert!(openssl.trim().ends_with(&format!("={}", cert.fingerprint)), "openssl says {openssl}, the error {words}");
}

/// The system store's path: run in a child process of this binary with `SSL_CERT_FILE` (then
/// `SSL_CERT_DIR`) holding the test CA, the provider (no CA in its settings) signs in and refreshes;
/// the parent, without them, is refused. `TRUST_CHILD_ISSUER` tells the child which provider to use.
#[tokio::test]
async fn the_system_store_from_ssl_cert_file_or_dir_is_trusted() {
    if let Ok(issuer) = std::env::var("TRUST_CHILD_ISSUER") {
        let manager = manager().await;
        let mut config = ProviderConfig::new(&issuer, "session-keeper");
        config.display_name = "Test provider".into();
        sign_in(&manager, config, "s").await.expect("signed in through the CA of SSL_CERT_FILE or SSL_CERT_DIR");
        // The sign-in window's check with no CA of the provider's is the same store.
        let der = std::fs::read(std::env::var("TRUST_CHILD_CERT").unwrap()).unwrap();
        session_core::tls::verify_with_provider_ca("", &[der], "127.0.0.1").expect("the system store trusts the test CA");
        let refreshed = manager.refresh("s", true).await.unwrap();
        assert!(refreshed.last_error.is_none(), "{:?}", refreshed.last_error);
        println!("store read in {:.1} ms", session_core::tls::system_store_read_time().as_secs_f64() * 1000.0);
        return;
    }
    let ca = TestCa::new();
    let cert = ca.server(&LOOPBACK);
    let idp = Idp::start_https(Ttls::default(), &cert, &[]);
    assert_eq!(refused(idp.config()).await.kind(), ErrorKind::CertificateRejected);
    let err = session_core::tls::verify_with_provider_ca("", std::slice::from_ref(&cert.der), "127.0.0.1").unwrap_err();
    assert!(err.to_string().starts_with("The provider at https://127.0.0.1 presented a certificate that is not trusted: it was issued by an authority this computer does not trust"), "{err}");
    let der_file = ca.dir().join("server.der");
    std::fs::write(&der_file, &cert.der).unwrap();
    let dir = ca.dir().join("store");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(ca.file(), dir.join("test-ca.pem")).unwrap();
    for (n, (variable, value)) in [("SSL_CERT_FILE", ca.file()), ("SSL_CERT_DIR", dir)].into_iter().enumerate() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "the_system_store_from_ssl_cert_file_or_dir_is_trusted", "--nocapture", "--test-threads=1"])
            .env("TRUST_CHILD_ISSUER", &idp.issuer)
            .env("TRUST_CHILD_CERT", &der_file)
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .env(variable, value)
            .output()
            .unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && said.contains("1 passed"), "the child with {variable} failed: {said}");
        assert_eq!(idp.stats().await["grants"]["refresh_token"], n as u64 + 1, "the child with {variable} refreshed: {said}");
        let read = said.lines().find_map(|l| l.find("store read").map(|at| &l[at..])).unwrap_or("?");
        eprintln!("child ({variable}, one certificate): {read}");
    }
    let read = session_core::tls::system_store_read_time();
    eprintln!("this process (the system's store): read in {:.1} ms", read.as_secs_f64() * 1000.0);
}

/// Serves `cert` (signed by `ca` unless self-signed) and returns the error of discovery with the CA
/// in the settings, so that only the certificate's own fault is left.
async fn refused_with_ca(ca: &TestCa, cert: &ServerCert) -> session_core::Error {
    let idp = Idp::start_https(Ttls::default(), cert, &[]);
    let err = refused(with_ca(&idp, ca)).await;
    assert_eq!(err.kind(), ErrorKind::CertificateRejected, "{err}");
    assert!(err.to_string().contains(&format!("SHA-256 {}", cert.fingerprint)), "{err}");
    err
}

#[tokio::test]
async fn an_expired_certificate_is_refused_with_its_date() {
    let ca = TestCa::new();
    let words = refused_with_ca(&ca, &ca.expired(&LOOPBACK)).await.to_string();
    let yesterday = (chrono::Utc::now() - chrono::TimeDelta::days(1)).format("%Y-%m-%d").to_string();
    assert!(words.contains(&format!("it expired on {yesterday}")), "{words}");
    assert!(words.ends_with("Check this computer's clock, or ask the provider's administrator to renew it."), "{words}");
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_naming_both() {
    let ca = TestCa::new();
    let words = refused_with_ca(&ca, &ca.server(&["id.other.example"])).await.to_string();
    assert!(words.contains("it is for id.other.example, not 127.0.0.1"), "{words}");
    assert!(words.ends_with("Check the issuer URL, or ask the provider's administrator."), "{words}");
}

#[tokio::test]
async fn a_self_signed_certificate_is_refused_as_one() {
    let ca = TestCa::new();
    let cert = ca.self_signed(&LOOPBACK);
    let words = refused_with_ca(&ca, &cert).await.to_string();
    assert!(words.contains("it is self-signed"), "{words}");
    assert!(
        words.contains(&format!(
            "certificate \"O=Session Keeper tests, CN={0}\" issued by \"O=Session Keeper tests, CN={0}\"",
            cert.common_name
        )),
        "{words}"
    );
}

/// A refresh refused by the certificate reaches the session as `certificate_rejected` and is not
/// tried again within seconds, as an outage would be (retry_initial_delay is 1 s): the provider
/// counts every handshake our client breaks off.
#[tokio::test]
async fn a_refresh_refused_by_its_certificate_is_not_retried_as_an_outage() {
    let ca = TestCa::new();
    let valid = ca.server(&LOOPBACK);
    let mut idp = Idp::start_https(Ttls::default(), &valid, &[]);
    let manager = manager().await;
    sign_in(&manager, with_ca(&idp, &ca), "s").await.unwrap();
    // The provider comes back with an expired certificate at the same address.
    let expired = ca.expired(&LOOPBACK);
    std::fs::copy(&expired.cert, &valid.cert).unwrap();
    std::fs::copy(&expired.key, &valid.key).unwrap();
    idp.restart();
    // The first try may meet the old process's pooled connection closed (an outage, retried within
    // a second or two); the certificate's refusal follows.
    let _ = manager.refresh("s", true).await;
    let until = Instant::now() + Duration::from_secs(10);
    let (session, error) = loop {
        let session = manager.snapshot("s").await.unwrap();
        match session.last_error.clone() {
            Some(error) if error.kind == ErrorKind::CertificateRejected => break (session, error),
            other => assert!(Instant::now() < until, "no certificate refusal within 10 s: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(error.message.contains("it expired on"), "{}", error.message);
    assert!(session.signed_in, "the session is kept");
    let refusals = idp.stats().await["tlsRefusals"].as_u64().unwrap();
    assert!(refusals >= 1, "the provider saw the refusal");
    // An outage would be tried again after 0.5 to 1 s, then 1 to 2 s: watch for 4 s.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        assert_eq!(idp.stats().await["tlsRefusals"].as_u64().unwrap(), refusals, "retried as an outage");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(idp.token_requests().await, 0, "no token request reached the provider");
}

#[tokio::test]
async fn a_provider_on_an_ipv6_literal_signs_in_and_refreshes() {
    let ca = TestCa::new();
    let idp = Idp::start_https(Ttls::default(), &ca.server(&LOOPBACK), &[("IDP_HOST", "::1")]);
    assert!(idp.issuer.starts_with("https://[::1]:"), "{}", idp.issuer);
    let manager = manager().await;
    sign_in(&manager, with_ca(&idp, &ca), "s").await.unwrap();
    assert!(manager.refresh("s", true).await.unwrap().last_error.is_none());
    assert_eq!(idp.stats().await["grants"]["refresh_token"], 1);
}

/// The system-browser sign-in with its loopback redirect on `http://[::1]/callback` (registered so at
/// the provider), against a provider on `[::1]`: the listener binds the IPv6 loopback and takes the
/// redirect there.
#[tokio::test]
async fn a_system_browser_sign_in_takes_its_redirect_on_the_ipv6_loopback() {
    let ca = TestCa::new();
    let idp = Idp::start_https(Ttls::default(), &ca.server(&LOOPBACK), &[("IDP_HOST", "::1")]);
    let manager = manager().await;
    let mut config = with_ca(&idp, &ca);
    config.sign_in_with = session_core::SignInWith::SystemBrowser;
    config.redirect_uri = session_core::RedirectUri::parse("http://[::1]/callback").unwrap();
    manager.add_session("s", config, None).await.unwrap();
    let (opened, authorization_url) = tokio::sync::oneshot::channel::<url::Url>();
    let sign_in = tokio::spawn({
        let manager = manager.clone();
        async move {
            let open = move |url: &url::Url| opened.send(url.clone()).map_err(|_| "test gone".to_owned());
            manager.sign_in_with_browser("s", open, Duration::from_secs(30), Default::default()).await
        }
    });
    let redirect = support::login(&authorization_url.await.unwrap(), "alice").await;
    assert_eq!(redirect.host_str(), Some("[::1]"), "{redirect}");
    let page = reqwest::Client::new().get(redirect).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let session = sign_in.await.unwrap().unwrap();
    assert!(session.signed_in);
    assert_eq!(session.user.unwrap().subject, "alice");
}

#[tokio::test]
async fn a_provider_named_localhost_signs_in_and_refreshes() {
    let ca = TestCa::new();
    let idp = Idp::start_https(Ttls::default(), &ca.server(&LOOPBACK), &[("IDP_HOST", "localhost")]);
    assert!(idp.issuer.starts_with("https://localhost:"), "{}", idp.issuer);
    let manager = manager().await;
    sign_in(&manager, with_ca(&idp, &ca), "s").await.unwrap();
    assert!(manager.refresh("s", true).await.unwrap().last_error.is_none());
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_said_in_words_and_stays_an_outage() {
    let err = refused(ProviderConfig::new("https://id.example.invalid", "session-keeper")).await;
    assert_eq!(err.kind(), ErrorKind::ProviderUnavailable, "{err}");
    assert!(err.to_string().contains("(the name id.example.invalid could not be found)"), "{err}");
}

#[test]
fn a_providers_ca_setting_is_checked_with_words_that_say_what_to_do() {
    let ca = TestCa::new();
    let leaf = ca.server(&LOOPBACK);
    let config = |pem: String| {
        let mut config = ProviderConfig::new("https://id.example.com", "app");
        config.ca_certificates = Some(pem);
        config.validate().map_err(|err| (err.kind(), err.to_string()))
    };
    assert_eq!(config(ca.pem().to_owned()), Ok(()));
    assert_eq!(config(format!("{}\n{}", ca.pem(), TestCa::new().pem())), Ok(()), "a bundle of two");
    let cases = [
        ("no certificate", "hello".to_owned(), "hold no certificate"),
        ("a server's certificate", std::fs::read_to_string(&leaf.cert).unwrap(), "not a certificate authority's"),
        ("a private key", format!("{}{}", ca.pem(), std::fs::read_to_string(&leaf.key).unwrap()), "include a private key"),
        ("too large", ca.pem().repeat(1000), "more than the 256 KiB accepted"),
        ("broken PEM", "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n".to_owned(), "not readable PEM"),
    ];
    for (what, pem, words) in cases {
        let (kind, message) = config(pem).expect_err(what);
        assert_eq!(kind, ErrorKind::InvalidConfiguration, "{what}");
        assert!(message.contains(words), "{what}: {message}");
    }
}

#[test]
fn the_sign_in_windows_check_trusts_the_providers_ca_alone() {
    let ca = TestCa::new();
    let good = ca.server(&LOOPBACK);
    assert!(session_core::tls::verify_with_provider_ca(ca.pem(), std::slice::from_ref(&good.der), "127.0.0.1").is_ok());
    assert!(session_core::tls::verify_with_provider_ca(ca.pem(), std::slice::from_ref(&good.der), "[::1]").is_ok());
    let other = TestCa::new();
    let err = session_core::tls::verify_with_provider_ca(other.pem(), std::slice::from_ref(&good.der), "127.0.0.1").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CertificateRejected);
    assert!(err.to_string().contains("it was issued by an authority this computer does not trust"), "{err}");
    let err = session_core::tls::verify_with_provider_ca(ca.pem(), std::slice::from_ref(&good.der), "id.other.example").unwrap_err();
    assert!(err.to_string().contains("not id.other.example"), "{err}");
    assert!(session_core::tls::verify_with_provider_ca(ca.pem(), &[good.der], "::1").is_ok(), "an IPv6 host without brackets");
    let err = session_core::tls::verify_with_provider_ca(ca.pem(), &[ca.expired(&LOOPBACK).der], "localhost").unwrap_err();
    assert!(err.to_string().contains("it expired on"), "{err}");
}

/// The figure for the note: forced refreshes over HTTPS and over plain HTTP, one after the other, on
/// the same machine (a debug build when run by `cargo test`).
#[tokio::test]
async fn figures_an_https_refresh_against_a_plain_http_one() {
    const ROUNDS: u32 = 20;
    let ca = TestCa::new();
    let mut took = Vec::new();
    for https in [false, true] {
        let idp = if https { Idp::start_https(Ttls::default(), &ca.server(&LOOPBACK), &[]) } else { Idp::start(Ttls::default()) };
        let manager = manager().await;
        sign_in(&manager, with_ca(&idp, &ca), "s").await.unwrap();
        let began = Instant::now();
        for _ in 0..ROUNDS {
            assert!(manager.refresh("s", true).await.unwrap().last_error.is_none());
        }
        took.push(began.elapsed() / ROUNDS);
        assert_eq!(idp.stats().await["grants"]["refresh_token"], ROUNDS as u64);
    }
    eprintln!("refresh: http {:?}, https {:?} per refresh (mean of {ROUNDS})", took[0], took[1]);
}
