//! What the app's commands do, Tauri-free: the page's payloads and the decisions behind the commands,
//! over the session core and the settings. `commands.rs` only hands each call here or to the shell;
//! sign-in, refresh and sign-out are the session plugin's commands.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use session_core::{ProviderConfig, RedirectUri, SessionManager, SessionSnapshot, SignInWith};

use crate::error::Result;
use crate::settings::Settings;

/// Everything the page needs for its first paint.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppState {
    /// Every session, as the core sees it now.
    pub sessions: Vec<SessionSnapshot>,
    /// The settings in force.
    pub settings: Settings,
    /// Problems found at start (an unreadable file moved aside, say), to show once.
    pub warnings: Vec<String>,
    /// Whether the app starts at login (read from the desktop's autostart folder, not stored).
    pub launch_at_login: bool,
    /// Programs waiting for the user's consent to a session's token.
    pub questions: Vec<session_broker::Question>,
    /// Where the tokens live, and whether the page asks for the sealed vault's passphrase.
    pub vault: crate::vaults::VaultState,
}

/// The add-provider form.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewProvider {
    /// The session's name (unique).
    pub name: String,
    /// What the provider is called on the card.
    pub display_name: String,
    /// The issuer URL.
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// Space-separated scopes; empty means the default ones.
    pub scopes: String,
    /// The redirect URI registered at the provider; empty means the default.
    #[serde(default)]
    pub redirect_uri: String,
    /// The post-logout redirect URI registered at the provider; empty means none.
    #[serde(default)]
    pub post_logout_redirect_uri: String,
    /// Where the sign-in page is shown (default: the app's own window).
    #[serde(default)]
    pub sign_in_with: SignInWith,
    /// Extra authorization request parameters a preset needs (Google's `access_type=offline`).
    #[serde(default)]
    pub extra_authorization_params: BTreeMap<String, String>,
    /// Whether `prompt=consent` goes with `offline_access` (OIDC Core 11); the preset decides, and a
    /// form that does not say follows the spec.
    #[serde(default = "follow_the_spec")]
    pub consent_for_offline_access: bool,
    /// A client secret, only where the provider issues one to desktop apps (Google); kept in the
    /// keychain, never in the session file.
    #[serde(default)]
    pub client_secret: String,
    /// The provider's own certificate authorities (PEM text of the file chosen in the dialog); empty
    /// means the system's trust store only.
    #[serde(default)]
    pub ca_certificates: String,
}

impl NewProvider {
    /// The session's name and its provider's configuration, as the form describes them.
    pub fn into_config(self) -> session_core::Result<(String, ProviderConfig)> {
        let mut config = ProviderConfig::new(self.issuer.trim(), self.client_id.trim());
        if !self.display_name.trim().is_empty() {
            config.display_name = self.display_name.trim().to_owned();
        }
        let scopes: Vec<String> = self.scopes.split_whitespace().map(str::to_owned).collect();
        if !scopes.is_empty() {
            config.scopes = scopes;
        }
        if !self.redirect_uri.trim().is_empty() {
            config.redirect_uri = RedirectUri::parse(self.redirect_uri.trim())?;
        }
        if !self.post_logout_redirect_uri.trim().is_empty() {
            config.post_logout_redirect_uri = Some(RedirectUri::parse(self.post_logout_redirect_uri.trim())?);
        }
        config.sign_in_with = self.sign_in_with;
        config.extra_authorization_params = self.extra_authorization_params;
        config.consent_for_offline_access = self.consent_for_offline_access;
        config.ca_certificates = Some(self.ca_certificates).filter(|pem| !pem.trim().is_empty());
        Ok((self.name.trim().to_owned(), config))
    }

    fn client_secret(&self) -> Option<secrecy::SecretString> {
        let secret = self.client_secret.trim();
        (!secret.is_empty()).then(|| secret.to_owned().into())
    }
}

fn follow_the_spec() -> bool {
    true
}

/// Adds a provider as a new session. Discovery runs first; on any error nothing is saved.
pub async fn add_provider(manager: &SessionManager, provider: NewProvider) -> Result<SessionSnapshot> {
    let secret = provider.client_secret();
    let (name, config) = provider.into_config()?;
    Ok(manager.add_session(&name, config, secret).await?)
}

#[cfg(test)]
mod tests;
