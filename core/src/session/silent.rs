//! Silent sign-in (OIDC Core 3.1.2.1, `prompt=none`): what the core needs from the desktop (a
//! [`SilentBrowser`], a window nobody sees that holds the provider's cookies), what it hands it (a
//! [`SilentRequest`]), the key of each provider's cookie store ([`cookie_store_key`]), and the handle's
//! two calls. When an attempt runs is the machine's decision (`machine/silent.rs`); the attempt itself
//! is `silent_effect.rs`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use url::Url;

use super::commands::{Command, Request};
use super::handle::SessionManager;
use super::snapshot::SessionSnapshot;
use crate::error::Result;
use crate::provider::ProviderConfig;

/// What a silent sign-in needs from the desktop: a browser nobody sees, holding the provider's cookies.
pub trait SilentBrowser: Send + Sync + 'static {
    /// Loads `request.url` in a window that is never shown, with the cookie store of the provider's
    /// origin ([`cookie_store_key`]), and resolves with the first navigation whose URL
    /// `request.config.is_redirect(url)` accepts (the navigation is stopped, not loaded). Resolves with
    /// an error when `request.timeout` passes ([`crate::Error::SignInTimedOut`]), the page refuses its
    /// certificate, or the window cannot be made. Never shows a window, never steals focus. Must be
    /// cancel-safe (dropped = window gone).
    fn navigate(&self, request: SilentRequest) -> Pin<Box<dyn Future<Output = Result<Url>> + Send>>;
}

/// One silent sign-in, as the [`SilentBrowser`] is asked to carry it.
#[derive(Clone)]
pub struct SilentRequest {
    /// The session's name.
    pub session: String,
    /// The authorization URL with `prompt=none`. It may carry the ID token (`id_token_hint`): its
    /// `Debug` shows the origin and path only, and it goes nowhere but the hidden window.
    pub url: Url,
    /// The provider: redirect matching ([`ProviderConfig::is_redirect`]), its own CA certificates, its
    /// issuer (the cookie store's key).
    pub config: ProviderConfig,
    /// How long the page may take to redirect.
    pub timeout: Duration,
}

impl std::fmt::Debug for SilentRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.url.clone();
        shown.set_query(None);
        shown.set_fragment(None);
        f.debug_struct("SilentRequest")
            .field("session", &self.session)
            .field("url", &format_args!("{shown}?…"))
            .field("issuer", &self.config.issuer.as_str())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A file-name-safe key per provider origin (scheme, host and port of `issuer`): the sign-in windows'
/// cookie store for a provider is `<app data>/sign-in-web-data/<key>`, shared by every session there and
/// kept across restarts. `https://id.example.com/realms/a` and `…/realms/b` share `https_id.example.com_443`.
/// An issuer that is not a URL is kept as its safe characters (such a provider was refused long before).
pub fn cookie_store_key(issuer: &str) -> String {
    let origin = match Url::parse(issuer) {
        Ok(url) => {
            let host = url.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']').to_owned();
            format!("{}_{}_{}", url.scheme(), host, url.port_or_known_default().unwrap_or(0))
        }
        Err(_) => format!("other_{issuer}"),
    };
    origin.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect()
}

impl SessionManager {
    /// Turns silent sign-in on or off for one session (kept in its record; on by default). Off, the
    /// session ends as it would without a silent browser, and says so ahead (`signInAgainSoon`).
    pub async fn set_silent_sign_in(&self, id: &str, enabled: bool) -> Result<SessionSnapshot> {
        self.call(|reply| Command::session(id, Request::SetSilent { enabled, reply })).await?
    }

    /// Asks for a silent sign-in now and waits for its outcome (the machine decides whether one may run:
    /// a silent browser plugged in, an embedded-window session, silent sign-in on, the provider's session
    /// not known to have ended). Answers the session as the attempt left it; an attempt that could not
    /// run or failed is the error.
    pub async fn silent_sign_in(&self, id: &str) -> Result<SessionSnapshot> {
        let snapshot = self.call(|reply| Command::session(id, Request::SilentSignIn { reply })).await??;
        Ok(std::sync::Arc::unwrap_or_clone(snapshot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_store_key_is_one_per_origin_and_safe_as_a_file_name() {
        assert_eq!(cookie_store_key("https://id.example.com/realms/a"), "https_id.example.com_443");
        assert_eq!(cookie_store_key("https://id.example.com/realms/b"), cookie_store_key("https://id.example.com"));
        assert_eq!(cookie_store_key("http://127.0.0.1:4444"), "http_127.0.0.1_4444");
        assert_eq!(cookie_store_key("http://[::1]:80/x"), "http___1_80");
        assert_ne!(cookie_store_key("http://id.example.com"), cookie_store_key("https://id.example.com"));
        assert!(cookie_store_key("../../etc").chars().all(|c| c != '/'));
    }

    #[test]
    fn a_request_debug_hides_the_query() {
        let request = SilentRequest {
            session: "work".into(),
            url: Url::parse("https://id.example.com/auth?prompt=none&id_token_hint=SECRET").unwrap(),
            config: ProviderConfig::new("https://id.example.com", "c"),
            timeout: Duration::from_secs(15),
        };
        let shown = format!("{request:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("https://id.example.com/auth"), "{shown}");
    }
}
