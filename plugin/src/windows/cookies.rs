//! The sign-in windows' cookie stores (issue 26): one per provider origin, the app's own, kept across
//! restarts, and emptied when the last session at a provider signs out.
//!
//! Every sign-in window of a provider origin (the visible one and the hidden one of a silent sign-in)
//! uses the web data directory `<app data>/sign-in-web-data/<session_core::cookie_store_key(issuer)>`.
//! wry gives such a directory its own WebKit context whose cookie manager keeps its cookies in
//! `<dir>/cookies` (`webkit_cookie_manager_set_persistent_storage`, text format), so the provider's
//! session cookie outlives a restart of the app. A cookie without an expiry (a "session cookie", e.g.
//! Keycloak's without "remember me") lives only while a window of that origin is open: such a provider
//! needs a sign-in after a restart, as a browser would after it closed.
//!
//! Under WebDriver every provider window shares the dashboard's web context (WebKitGTK lets WebDriver
//! drive the first context only, see `provider_window`), so there the cookies are the provider host's
//! within that shared store.
//!
//! A signed-out person must never be signed back in silently: [`after_sign_out`] deletes the provider
//! origin's cookies once no other session there holds tokens, after the end-session visit (or at once
//! when there is none).

use std::path::PathBuf;
use std::time::Duration;

use session_core::{ProviderConfig, cookie_store_key};
use tauri::{AppHandle, WebviewUrl, WebviewWindowBuilder};
use url::Url;

use crate::SessionKeeperExt;

/// How long emptying a store may take before the app gives up on it (and says so in the log).
const CLEAR_TIMEOUT: Duration = Duration::from_secs(5);

/// The labels of the short-lived hidden windows that empty a store after a sign-out:
/// `sign-out-cookies-<n>` (a provider window's prefix: no capability names it, its focus is not the app's).
pub const LABEL_PREFIX: &str = "sign-out-cookies-";

/// The web data directory of the sign-in windows of the provider's origin (the plugin's one place for
/// it, `SessionKeeper::web_data_dir`); `None` under WebDriver, where they share the dashboard's context.
pub fn store_directory(app: &AppHandle, config: &ProviderConfig) -> Option<PathBuf> {
    (!super::under_webdriver()).then(|| app.session_keeper().web_data_dir(config))
}

/// Called once a session of the provider `config` has signed out (after its end-session visit, or at
/// once when it had none): empties that provider origin's cookie store unless another session there
/// still holds tokens (it shares the provider's session). Returns whether the store was emptied;
/// problems are logged, never a reason to undo the sign-out.
pub async fn after_sign_out(app: &AppHandle, config: &ProviderConfig) -> bool {
    let key = cookie_store_key(config.issuer.as_str());
    match app.session_keeper().manager().snapshots().await {
        Ok(sessions) if sessions.iter().any(|s| s.signed_in && cookie_store_key(&s.issuer) == key) => {
            tracing::info!(store = %key, "another session at this provider is signed in: its cookies stay");
            return false;
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(kind = %err.kind(), "sessions not listed; the provider's cookies are deleted anyway"),
    }
    match clear(app, config).await {
        Ok(deleted) => {
            tracing::info!(store = %key, deleted, "the provider's cookies were deleted after its last sign-out");
            true
        }
        Err(problem) => {
            tracing::warn!(store = %key, %problem, "the provider's cookies could not be deleted");
            false
        }
    }
}

/// Deletes the cookies of the provider origin's store: every cookie in its own store, the provider
/// host's in the shared one under WebDriver. Answers how many domains' cookies went.
pub async fn clear(app: &AppHandle, config: &ProviderConfig) -> Result<usize, String> {
    let host = Url::parse(config.issuer.as_str()).map_err(|err| err.to_string())?.host_str().map(|h| h.trim_matches(['[', ']']).to_owned());
    let directory = store_directory(app, config);
    // Only the domains of this provider's host where the store is shared.
    let only = if directory.is_some() { None } else { host };
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let label = format!("{LABEL_PREFIX}{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
    let blank = Url::parse("about:blank").expect("a valid URL");
    let mut builder = WebviewWindowBuilder::new(app, &label, WebviewUrl::External(blank))
        .visible(false)
        .focused(false)
        .focusable(false)
        .skip_taskbar(true);
    if let Some(directory) = directory {
        builder = builder.data_directory(directory);
    }
    let window = builder.build().map_err(|err| err.to_string())?;
    let (done, outcome) = tokio::sync::oneshot::channel();
    let asked = window.with_webview(move |webview| {
        #[cfg(target_os = "linux")]
        linux::delete(&webview.inner(), only, done);
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (webview, only, done.send(Err("not on this system".to_owned())));
        }
    });
    let result = match asked {
        Ok(()) => match tokio::time::timeout(CLEAR_TIMEOUT, outcome).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the window went away".to_owned()),
            Err(_) => Err(format!("WebKit did not answer within {} s", CLEAR_TIMEOUT.as_secs())),
        },
        Err(err) => Err(err.to_string()),
    };
    let _ = window.destroy();
    result
}

/// Whether a cookie domain as WebKit names it (`example.com`, `.example.com`) covers `host`.
fn covers(domain: &str, host: &str) -> bool {
    let domain = domain.trim_start_matches('.');
    host.eq_ignore_ascii_case(domain) || host.to_ascii_lowercase().ends_with(&format!(".{}", domain.to_ascii_lowercase()))
}

#[cfg(target_os = "linux")]
mod linux {
    use tokio::sync::oneshot;
    use webkit2gtk::gio::Cancellable;
    use webkit2gtk::{CookieManagerExt, WebContextExt, WebViewExt, WebsiteDataManagerExt, WebsiteDataTypes};

    /// Deletes the cookies of every domain in `webview`'s store (or of those covering `only`).
    pub(super) fn delete(webview: &webkit2gtk::WebView, only: Option<String>, done: oneshot::Sender<Result<usize, String>>) {
        let Some(manager) = webview.context().and_then(|context| context.website_data_manager()) else {
            let _ = done.send(Err("the window has no website data manager".to_owned()));
            return;
        };
        let Some(cookies) = manager.cookie_manager() else {
            let _ = done.send(Err("the window has no cookie manager".to_owned()));
            return;
        };
        manager.fetch(WebsiteDataTypes::COOKIES, None::<&Cancellable>, move |records| {
            let result = records.map_err(|err| err.to_string()).map(|records| {
                let domains: Vec<String> = records
                    .iter()
                    .filter_map(|record| record.name().map(|name| name.to_string()))
                    .filter(|name| only.as_deref().is_none_or(|host| super::covers(name, host)))
                    .collect();
                for domain in &domains {
                    // webkit2gtk-rs binds no `webkit_website_data_manager_remove` (its generator skips it)
                    // and unsafe FFI is denied; this call, deprecated since WebKitGTK 2.16 in its favour,
                    // is still implemented by it (all the domain's cookies, in memory and on disk).
                    #[allow(deprecated)]
                    cookies.delete_cookies_for_domain(domain);
                }
                domains.len()
            });
            let _ = done.send(result);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn a_cookie_domain_covers_its_host_and_its_subdomains_only() {
        assert!(covers("127.0.0.1", "127.0.0.1"));
        assert!(covers(".example.com", "id.example.com"));
        assert!(covers("example.com", "ID.Example.com"));
        assert!(!covers("example.com", "notexample.com"));
        assert!(!covers("id.example.com", "example.com"));
    }
}
