//! The provider windows' certificates. WebKitGTK checks a page's certificate against the system's
//! store (GnuTLS, through glib-networking) and refuses the rest. For a provider with its own CA
//! certificates (chosen in Add provider) the window asks the core whether that CA vouches for the
//! certificate for the page's host; only then is that one certificate allowed, for that host only
//! (`webkit_web_context_allow_tls_certificate_for_host`), and the page loaded again. Nothing turns
//! certificate errors off. Any other refusal ends in the core's words (which check failed, the
//! certificate's subject, issuer and SHA-256): on the card for a sign-in, in the window for a
//! sign-out page. The allowance lives in the window's own web context (its web data folder, or the
//! private one of an ephemeral sign-in; under WebDriver the dashboard's, which it shares there).

use session_core::Error;
use url::{Host, Url};

/// What a provider window does with a certificate WebKit refused and the core did not vouch for.
pub enum Refusal {
    /// Hands the core's words to the sign-in, which ends and shows them on the card.
    Report(Box<dyn Fn(Error) + Send>),
    /// Shows the words in the window itself (the end-session visit, which has no card to report to).
    ShowInWindow,
}

/// Watches `window`'s certificate refusals as described in the module's doc, then loads `url`: the
/// window is built on `about:blank` so that no load of the provider's page starts before the watch.
pub fn guard_then_load(window: &tauri::WebviewWindow, url: Url, ca_pem: Option<String>, refusal: Refusal) -> tauri::Result<()> {
    #[cfg(target_os = "linux")]
    {
        window.with_webview(move |webview| linux::watch(&webview.inner(), &url, ca_pem, refusal))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (ca_pem, refusal);
        window.navigate(url)
    }
}

/// The host as WebKit and the certificate check name it: a name, or an address without brackets.
fn host_of(url: &Url) -> Option<String> {
    match url.host()? {
        Host::Domain(name) => Some(name.to_owned()),
        Host::Ipv4(address) => Some(address.to_string()),
        Host::Ipv6(address) => Some(address.to_string()),
    }
}

/// The core's judgement of a chain WebKit refused: `Ok` only where the provider's own CA vouches for
/// it for `host`. Without a CA of the provider's, the core's words for the refusal (the system store
/// is the one WebKit already consulted), or WebKit's own reasons where the core has none.
fn judge(ca_pem: Option<&str>, chain: &[Vec<u8>], host: &str, origin: &str, webkit_reasons: &[&str]) -> Result<(), Error> {
    // The core names the host alone; the words name the page's origin, as the core's own calls do.
    let at_origin = |err| match err {
        Error::CertificateRejected { problem, advice, source, .. } => {
            Error::CertificateRejected { endpoint: origin.to_owned(), problem, advice, source }
        }
        other => other,
    };
    if let Some(pem) = ca_pem {
        return session_core::tls::verify_with_provider_ca(pem, chain, host).map_err(at_origin);
    }
    match session_core::tls::verify_with_provider_ca("", chain, host) {
        Err(err @ Error::CertificateRejected { .. }) => Err(at_origin(err)),
        // The core's check found nothing wrong, or could not say: WebKit's reasons, and no override.
        _ => Err(Error::CertificateRejected {
            endpoint: origin.to_owned(),
            problem: if webkit_reasons.is_empty() { "the sign-in window refused it".to_owned() } else { webkit_reasons.join(", ") },
            advice: "If your organisation uses its own certificate authority, install it on this computer or choose its file in the provider's settings.".to_owned(),
            source: None,
        }),
    }
}

/// `message` as HTML text: escaped, so that nothing a certificate names can become markup.
fn escape(message: &str) -> String {
    message.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(target_os = "linux")]
mod linux {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use webkit2gtk::gio::prelude::TlsCertificateExt;
    use webkit2gtk::gio::{TlsCertificate, TlsCertificateFlags};
    use webkit2gtk::{WebContextExt, WebView, WebViewExt};

    use super::{Refusal, escape, host_of, judge};
    use url::Url;

    /// GIO's certificate flags in words, for when the core cannot say more.
    fn reasons(flags: TlsCertificateFlags) -> Vec<&'static str> {
        [
            (TlsCertificateFlags::UNKNOWN_CA, "it was issued by an authority this computer does not trust"),
            (TlsCertificateFlags::BAD_IDENTITY, "it is not for this host name"),
            (TlsCertificateFlags::NOT_ACTIVATED, "it is not valid yet"),
            (TlsCertificateFlags::EXPIRED, "it has expired"),
            (TlsCertificateFlags::REVOKED, "it was revoked"),
            (TlsCertificateFlags::INSECURE, "it uses an insecure algorithm"),
        ]
        .into_iter()
        .filter(|(flag, _)| flags.contains(*flag))
        .map(|(_, words)| words)
        .collect()
    }

    /// The chain as GIO hands it: the server's certificate, then each issuer it was sent with (DER).
    fn chain(certificate: &TlsCertificate) -> Vec<Vec<u8>> {
        let mut chain = Vec::new();
        let mut next = Some(certificate.clone());
        while let Some(current) = next {
            if let Some(der) = current.certificate() {
                chain.push(der.to_vec());
            }
            next = current.issuer();
            if chain.len() > 16 {
                break;
            }
        }
        chain
    }

    /// How many times a certificate the provider's CA vouched for is allowed and its page loaded again
    /// before a refusal is believed. WebKit takes the allowance to its network process on one channel
    /// and the new load on another (through the web process), so a load can overtake the allowance and
    /// fail once more (seen under load in CI); each further try waits a little longer.
    const TRIES: u32 = 3;

    pub(super) fn watch(webview: &WebView, url: &Url, ca_pem: Option<String>, refusal: Refusal) {
        // (host, server certificate) pairs allowed in this window, and how often: a refusal that
        // outlasts `TRIES` ends the attempt instead of loading again and again.
        let allowed: RefCell<HashMap<(String, Vec<u8>), u32>> = RefCell::default();
        webview.connect_load_failed_with_tls_errors(move |view, failing, certificate, flags| {
            let Ok(page) = Url::parse(failing) else { return false };
            let Some(host) = host_of(&page) else { return false };
            let chain = chain(certificate);
            let origin = page.origin().ascii_serialization();
            let key = (host.clone(), chain.first().cloned().unwrap_or_default());
            let verdict = judge(ca_pem.as_deref(), &chain, &host, &origin, &reasons(flags));
            let tries = {
                let mut allowed = allowed.borrow_mut();
                let tries = allowed.entry(key).or_default();
                *tries += 1;
                *tries
            };
            match verdict {
                Ok(()) if tries <= TRIES => {
                    tracing::info!(%host, tries, "the provider's own CA vouches for the page's certificate: allowed for this host");
                    if let Some(context) = view.context() {
                        context.allow_tls_certificate_for_host(certificate, &host);
                    }
                    if tries == 1 {
                        view.load_uri(failing);
                    } else {
                        let (view, failing) = (view.clone(), failing.to_owned());
                        let pause = std::time::Duration::from_millis(200 * u64::from(tries));
                        webkit2gtk::glib::timeout_add_local_once(pause, move || view.load_uri(&failing));
                    }
                }
                Ok(()) => refuse(
                    view,
                    &refusal,
                    session_core::Error::CertificateRejected {
                        endpoint: origin,
                        problem: "the sign-in window refused it even after the provider's own CA vouched for it".to_owned(),
                        advice: "Report this, with the provider's issuer URL.".to_owned(),
                        source: None,
                    },
                ),
                Err(err) => refuse(view, &refusal, err),
            }
            // Handled: WebKit shows no error page of its own.
            true
        });
        view_load(webview, url);
    }

    fn view_load(webview: &WebView, url: &Url) {
        webview.load_uri(url.as_str());
    }

    fn refuse(view: &WebView, refusal: &Refusal, err: session_core::Error) {
        tracing::info!(kind = %err.kind(), "a provider window refused a certificate");
        match refusal {
            Refusal::Report(report) => report(err),
            Refusal::ShowInWindow => view.load_alternate_html(
                &format!(
                    "<!doctype html><meta charset=utf-8><title>Certificate refused</title>\
                     <body style=\"font: 16px/1.5 system-ui, sans-serif; margin: 2rem; max-width: 40rem; overflow-wrap: anywhere\">\
                     <h1 style=\"font-size: 1.25rem\">This page was not opened</h1><p role=alert>{}</p>",
                    escape(&err.to_string())
                ),
                "about:blank",
                None,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_named_as_webkit_and_the_check_name_them() {
        let host = |url: &str| host_of(&Url::parse(url).unwrap());
        assert_eq!(host("https://id.example.com:8443/a"), Some("id.example.com".into()));
        assert_eq!(host("https://127.0.0.1/"), Some("127.0.0.1".into()));
        assert_eq!(host("https://[::1]:9000/"), Some("::1".into()));
        assert_eq!(host("about:blank"), None);
    }

    #[test]
    fn a_refusal_without_a_ca_of_the_provider_is_never_an_override_and_says_why() {
        // The core's words where it can read the certificate (its fingerprint at least)...
        let junk = vec![b"not a certificate".to_vec()];
        let err = judge(None, &junk, "id.example.com", "https://id.example.com:8443", &["it has expired"]).unwrap_err();
        assert_eq!(err.kind(), session_core::ErrorKind::CertificateRejected);
        let words = err.to_string();
        assert!(words.starts_with("The provider at https://id.example.com:8443 presented a certificate"), "{words}");
        assert!(words.contains("SHA-256 "), "{words}");
        // ...and WebKit's reasons where it cannot (no certificate at all).
        let err = judge(None, &[], "id.example.com", "https://id.example.com", &["it has expired"]).unwrap_err();
        assert_eq!(err.kind(), session_core::ErrorKind::CertificateRejected);
        assert!(err.to_string().contains("not trusted: it has expired. "), "{err}");
    }

    #[test]
    fn a_ca_setting_that_vouches_for_nothing_allows_nothing() {
        let junk = vec![b"not a certificate".to_vec()];
        for ca in ["no PEM here", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"] {
            assert!(judge(Some(ca), &junk, "id.example.com", "https://id.example.com:8443", &[]).is_err(), "{ca}");
        }
    }

    #[test]
    fn words_shown_in_the_window_are_text() {
        assert_eq!(escape("<script>\"a\" & b</script>"), "&lt;script&gt;&quot;a&quot; &amp; b&lt;/script&gt;");
    }
}
