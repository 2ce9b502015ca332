//! The commands the dashboard may call (and only the dashboard: see `capabilities/main.json`). Each is
//! a short delegation to the session core or to the shell's windows; none returns a token.

use serde::{Deserialize, Serialize};
use session_core::{ProviderConfig, RedirectUri, SessionSnapshot, SignInWith};
use tauri::{AppHandle, Emitter, Manager, State, WebviewWindow};
use tauri_plugin_autostart::ManagerExt as _;

use crate::error::Result;
use crate::settings::Settings;
use crate::{Shell, windows};

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
    pub questions: Vec<crate::broker::Question>,
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
    pub extra_authorization_params: std::collections::BTreeMap<String, String>,
    /// A client secret, only where the provider issues one to desktop apps (Google); kept in the
    /// keychain, never in the session file.
    #[serde(default)]
    pub client_secret: String,
}

impl NewProvider {
    fn into_config(self) -> session_core::Result<(String, ProviderConfig)> {
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
        Ok((self.name.trim().to_owned(), config))
    }

    fn client_secret(&self) -> Option<secrecy::SecretString> {
        let secret = self.client_secret.trim();
        (!secret.is_empty()).then(|| secret.to_owned().into())
    }
}

/// What signing out did, for the page's message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedOut {
    /// The session, now signed out.
    pub session: SessionSnapshot,
    /// Whether the provider confirmed the refresh token's revocation.
    pub revoked: bool,
    /// What the user should know about what could not be done at the provider, in our words (the
    /// tokens are gone from this machine regardless); shown as information, not as an error.
    pub notice: Option<String>,
    /// Whether the provider's end-session page was opened.
    pub end_session_opened: bool,
}

/// Sessions, settings and start-up warnings for the first paint.
#[tauri::command]
pub async fn get_app_state(app: AppHandle, shell: State<'_, Shell>) -> Result<AppState> {
    Ok(AppState {
        sessions: shell.manager.snapshots().await?,
        settings: shell.settings(),
        warnings: shell.warnings.lock().expect("warnings poisoned").clone(),
        launch_at_login: crate::launch_at_login(&app),
        questions: shell.consent.questions(),
    })
}

/// The page has painted the true state: show the window (it starts hidden, so that nobody sees a
/// blank or half-loaded dashboard).
/// Started at login (`--background`), the window stays in the tray until asked for.
#[tauri::command]
pub fn window_ready(window: WebviewWindow, shell: State<'_, Shell>) -> Result<()> {
    if shell.background {
        return Ok(());
    }
    window.show()?;
    window.set_focus()?;
    Ok(())
}

/// Adds a provider as a new session. Discovery runs first; on any error nothing is saved.
#[tauri::command]
pub async fn add_provider(shell: State<'_, Shell>, provider: NewProvider) -> Result<SessionSnapshot> {
    let secret = provider.client_secret();
    let (name, config) = provider.into_config()?;
    Ok(shell.manager.add_session(&name, config, secret).await?)
}

/// Removes a session (signing it out first if needed).
#[tauri::command]
pub async fn remove_session(shell: State<'_, Shell>, id: String) -> Result<()> {
    shell.manager.remove_session(&id).await?;
    // What the settings say of the session goes with it: a new session of the same name starts afresh.
    shell.update_settings(|settings| {
        settings.muted_sessions.remove(&id);
        settings.allowed_programs.remove(&id);
        settings.git_hosts.retain(|_, session| session != &id);
    })?;
    Ok(())
}

/// Opens the sign-in window; the outcome arrives as a `sign-in-finished` event.
#[tauri::command]
pub async fn sign_in(app: AppHandle, id: String) -> Result<()> {
    windows::start_sign_in(&app, &id).await
}

/// Closes the sign-in window of a session, ending that attempt.
#[tauri::command]
pub fn cancel_sign_in(app: AppHandle, id: String) -> Result<()> {
    windows::cancel_sign_in(&app, &id)
}

/// Refreshes now, whether due or not.
#[tauri::command]
pub async fn refresh_session(shell: State<'_, Shell>, id: String) -> Result<SessionSnapshot> {
    Ok(std::sync::Arc::unwrap_or_clone(shell.manager.refresh(&id, true).await?))
}

/// Signs out: revokes at the provider, deletes the tokens, and opens the provider's end-session page.
#[tauri::command]
pub async fn sign_out(app: AppHandle, id: String) -> Result<SignedOut> {
    sign_out_session(&app, &id).await
}

/// Signs one session out (the card's button and the tray's Sign out all).
pub async fn sign_out_session(app: &AppHandle, id: &str) -> Result<SignedOut> {
    let shell = app.state::<Shell>();
    let config = shell.manager.provider_config(id).await?;
    let outcome = shell.manager.sign_out(id).await?;
    let mut notice = outcome.revocation.notice;
    // An ephemeral sign-in kept no provider cookie, and a system-browser sign-in left its cookie in
    // the user's browser, where the app cannot reach it: no provider session to end from here.
    let end_session_opened = match outcome.end_session_url {
        Some(url) if !shell.settings().ephemeral_sign_in && config.sign_in_with == SignInWith::EmbeddedWindow => {
            match windows::visit_end_session(app, config, url) {
                Ok(()) => true,
                Err(err) => {
                    tracing::warn!(session = id, error = %err, "the provider's sign-out page could not be opened");
                    let page = "The provider's sign-out page could not be opened, so its website may still remember you in the sign-in window. Turn on the private sign-in window in Settings to keep no provider cookies.";
                    notice = Some(notice.map_or_else(|| format!("Signed out on this computer. {page}"), |n| format!("{n} {page}")));
                    false
                }
            }
        }
        _ => false,
    };
    tracing::info!(
        session = id,
        revoked = outcome.revocation.refresh_token_revoked,
        problems = ?outcome.revocation.problems,
        end_session_opened,
        "signed out"
    );
    Ok(SignedOut { session: outcome.session, revoked: outcome.revocation.refresh_token_revoked, notice, end_session_opened })
}

/// Turns starting at login on or off (an entry in the desktop's autostart folder that starts the app
/// in the tray). Returns the state now in force.
#[tauri::command]
pub async fn set_launch_at_login(app: AppHandle, enabled: bool) -> Result<bool> {
    if enabled == crate::launch_at_login(&app) {
        return Ok(enabled);
    }
    let autolaunch = app.autolaunch();
    let changed = if enabled { autolaunch.enable() } else { autolaunch.disable() };
    changed.map_err(|err| crate::Error::Autostart(session_core::Cause(err.to_string())))?;
    let now = crate::launch_at_login(&app);
    tracing::info!(enabled = now, "start at login changed");
    Ok(now)
}

/// Saves and applies the settings (no restart needed). Async, so it runs on the runtime the core's
/// refresh handler is started on.
#[tauri::command]
pub async fn save_settings(app: AppHandle, shell: State<'_, Shell>, settings: Settings) -> Result<Settings> {
    settings.validate()?;
    let saved = shell.update_settings(|current| *current = settings)?;
    let _ = app.emit_to("main", "settings-changed", &saved);
    Ok(saved)
}

/// Turns notifications for one session on or off.
#[tauri::command]
pub async fn set_session_notifications(app: AppHandle, shell: State<'_, Shell>, id: String, enabled: bool) -> Result<Settings> {
    let saved = shell.update_settings(|settings| {
        if enabled {
            settings.muted_sessions.remove(&id);
        } else {
            settings.muted_sessions.insert(id.clone());
        }
    })?;
    let _ = app.emit_to("main", "settings-changed", &saved);
    Ok(saved)
}

/// Answers a program's request for a session's token from the card (as the notification's actions do).
#[tauri::command]
pub fn answer_consent(shell: State<'_, Shell>, id: String, program: String, answer: crate::broker::Answer) -> bool {
    shell.consent.answer(&id, &program, answer)
}

/// Takes back "Always allow" from a program: it is asked again next time.
#[tauri::command]
pub async fn forget_program(app: AppHandle, shell: State<'_, Shell>, id: String, program: String) -> Result<Settings> {
    let saved = shell.update_settings(|settings| {
        if let Some(programs) = settings.allowed_programs.get_mut(&id) {
            programs.remove(&program);
            if programs.is_empty() {
                settings.allowed_programs.remove(&id);
            }
        }
    })?;
    tracing::info!(session = %id, %program, "program no longer allowed");
    let _ = app.emit_to("main", "settings-changed", &saved);
    Ok(saved)
}

/// Sets the hosts whose `git` credentials are this session's token (`git-credential` helper). A host
/// is written as git names it: `git.example.com`, or `git.example.com:8443` with a port.
#[tauri::command]
pub async fn set_git_hosts(app: AppHandle, shell: State<'_, Shell>, id: String, hosts: Vec<String>) -> Result<Settings> {
    let mut cleaned = Vec::new();
    for host in hosts.iter().map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()) {
        let valid = url::Url::parse(&format!("https://{host}/"))
            .is_ok_and(|url| url.path() == "/" && url.query().is_none() && url.username().is_empty());
        if !valid || host.contains('/') {
            return Err(crate::Error::InvalidSettings(format!(
                "\"{host}\" is not a host name: write it as git shows it, like git.example.com or git.example.com:8443."
            )));
        }
        cleaned.push(host);
    }
    let saved = shell.update_settings(|settings| {
        settings.git_hosts.retain(|_, session| session != &id);
        for host in cleaned {
            settings.git_hosts.insert(host, id.clone());
        }
    })?;
    let _ = app.emit_to("main", "settings-changed", &saved);
    Ok(saved)
}
