//! [`SessionKeeper`]: the plugin's state, managed by Tauri and reached with
//! [`crate::SessionKeeperExt::session_keeper`]. It holds the core's [`SessionManager`], the provider
//! windows, where they keep the providers' cookies, and the settings the plugin applies (the policy,
//! ephemeral sign-in). Its methods are what the commands call, and what an app's own code (tray,
//! notifications, D-Bus) calls for the same actions.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use session_core::{Policy, ProviderConfig, SessionManager, SessionSnapshot, SignInWith};
use tauri::{AppHandle, Emitter};

use crate::error::{ErrorPayload, Result};
use crate::models::SignedOut;
use crate::windows::{self, ProviderWindows, SIGN_IN_FINISHED, SignInFinished};

/// The plugin's state (see the module's doc).
pub struct SessionKeeper {
    pub(crate) manager: SessionManager,
    pub(crate) windows: ProviderWindows,
    /// `<app data>/sign-in-web-data`: a folder per provider origin below it.
    web_data: PathBuf,
    ephemeral: AtomicBool,
    policy: Mutex<Policy>,
    app: AppHandle,
}

impl SessionKeeper {
    pub(crate) fn new(app: AppHandle, manager: SessionManager, policy: Policy, web_data: PathBuf, ephemeral: bool) -> Self {
        SessionKeeper {
            manager,
            windows: ProviderWindows::default(),
            web_data,
            ephemeral: AtomicBool::new(ephemeral),
            policy: Mutex::new(policy),
            app,
        }
    }

    /// The core's session manager: every session, its snapshots, events and hand-outs.
    pub fn manager(&self) -> &SessionManager {
        &self.manager
    }

    /// Opens the sign-in window of `name` (or the system browser, as the provider says). Returns once it
    /// is open; the outcome arrives as the `session-keeper://sign-in-finished` event.
    pub async fn sign_in(&self, name: &str) -> Result<()> {
        windows::start_sign_in(&self.app, name).await
    }

    /// [`Self::sign_in`] from the app's own code (a notification's action, the tray, D-Bus): returns at
    /// once; a sign-in that cannot start is told as `session-keeper://sign-in-finished` with its error.
    pub fn start_sign_in(&self, name: &str) {
        let app = self.app.clone();
        let name = name.to_owned();
        tauri::async_runtime::spawn(async move {
            if let Err(error) = windows::start_sign_in(&app, &name).await {
                let _ = app.emit(SIGN_IN_FINISHED, SignInFinished { id: name, error: Some(ErrorPayload::from(&error)) });
            }
        });
    }

    /// Closes the sign-in window of `name` (or stops waiting for the system browser): the attempt ends
    /// as cancelled.
    pub fn cancel_sign_in(&self, name: &str) -> Result<()> {
        windows::cancel_sign_in(&self.app, name)
    }

    /// Refreshes now, whether due or not.
    pub async fn refresh(&self, name: &str) -> Result<SessionSnapshot> {
        Ok(std::sync::Arc::unwrap_or_clone(self.manager.refresh(name, true).await?))
    }

    /// Signs one session out: revokes at the provider, deletes the tokens, and opens the provider's
    /// end-session page where it can end a provider session (an embedded, non-ephemeral sign-in).
    pub async fn sign_out(&self, name: &str) -> Result<SignedOut> {
        let config = self.manager.provider_config(name).await?;
        let outcome = self.manager.sign_out(name).await?;
        let mut notice = outcome.revocation.notice;
        let end_session_opened = match outcome.end_session_url {
            Some(url) if end_session_page_helps(self.ephemeral_sign_in(), &config) => {
                match windows::visit_end_session(&self.app, config.clone(), url) {
                    Ok(()) => true,
                    Err(err) => {
                        tracing::warn!(session = name, error = %err, "the provider's sign-out page could not be opened");
                        notice = Some(end_session_page_not_opened(notice));
                        false
                    }
                }
            }
            _ => false,
        };
        if !end_session_opened {
            // No end-session visit to wait for: the origin's cookies go now (the visit clears them
            // once its window is gone), unless another session there is signed in.
            let app = self.app.clone();
            tauri::async_runtime::spawn(async move { windows::cookies::after_sign_out(&app, &config).await });
        }
        let revoked = outcome.revocation.refresh_token_revoked;
        tracing::info!(session = name, revoked, problems = ?outcome.revocation.problems, end_session_opened, "signed out");
        Ok(SignedOut { session: outcome.session, revoked, notice, end_session_opened })
    }

    /// Whether sign-in windows keep no cookies (a private web context each time).
    pub fn ephemeral_sign_in(&self) -> bool {
        self.ephemeral.load(Ordering::Relaxed)
    }

    /// Turns ephemeral sign-in on or off for the sign-in windows opened from now on.
    pub fn set_ephemeral_sign_in(&self, ephemeral: bool) {
        self.ephemeral.store(ephemeral, Ordering::Relaxed);
    }

    /// The policy in force.
    pub fn policy(&self) -> Policy {
        self.policy.lock().expect("policy poisoned").clone()
    }

    /// Applies a new policy at once (refused, changing nothing, when out of bounds).
    pub fn set_policy(&self, policy: Policy) -> Result<()> {
        let mut current = self.policy.lock().expect("policy poisoned");
        self.manager.set_policy(policy.clone())?;
        *current = policy;
        Ok(())
    }

    /// The web data folder of the provider's origin, where its sign-in windows (visible or hidden)
    /// keep its cookies: `<app data>/sign-in-web-data/<cookie_store_key>`.
    pub fn web_data_dir(&self, config: &ProviderConfig) -> PathBuf {
        self.web_data.join(session_core::cookie_store_key(config.issuer.as_str()))
    }
}

/// Whether opening the provider's end-session page after a sign-out ends anything: only a sign-in in
/// the app's own window that kept the provider's cookie has a provider session the app can reach.
/// An ephemeral sign-in kept no cookie, and a system-browser sign-in left it in the user's browser.
pub fn end_session_page_helps(ephemeral_sign_in: bool, config: &ProviderConfig) -> bool {
    !ephemeral_sign_in && config.sign_in_with == SignInWith::EmbeddedWindow
}

/// The sign-out's notice when the end-session page could not be opened: what that leaves behind and
/// what to do, after what the revocation already said.
pub fn end_session_page_not_opened(notice: Option<String>) -> String {
    let page = "The provider's sign-out page could not be opened, so its website may still remember you in the sign-in window. Turn on the private sign-in window in Settings to keep no provider cookies.";
    notice.map_or_else(|| format!("Signed out on this computer. {page}"), |notice| format!("{notice} {page}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_session_page_opens_only_where_it_ends_a_provider_session() {
        let mut config = ProviderConfig::new("https://id.example.com", "desktop");
        config.sign_in_with = SignInWith::EmbeddedWindow;
        assert!(end_session_page_helps(false, &config));
        assert!(!end_session_page_helps(true, &config), "an ephemeral sign-in kept no cookie");
        config.sign_in_with = SignInWith::SystemBrowser;
        assert!(!end_session_page_helps(false, &config), "the browser's cookie is out of reach");
    }

    #[test]
    fn a_page_that_did_not_open_is_said_after_the_revocation_notice() {
        assert!(end_session_page_not_opened(None).starts_with("Signed out on this computer. The provider's sign-out page"));
        let after = end_session_page_not_opened(Some("The provider could not revoke the tokens.".into()));
        assert!(after.starts_with("The provider could not revoke the tokens. The provider's sign-out page"), "{after}");
    }
}
