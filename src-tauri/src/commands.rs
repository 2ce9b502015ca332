//! The app's own commands, which the dashboard may call (and only the dashboard: see
//! `capabilities/main.json`; sign-in, refresh and sign-out are the session plugin's). Each
//! hands the call to a Tauri-free function (`api.rs`, the settings, the broker) or to the shell, and
//! its error goes through [`answer`], which logs it once. None returns a token. A session's name
//! arrives as a [`SessionName`], checked when the call is read: a name that is not one never reaches
//! the shell or the core.

use secrecy::SecretString;
use session_broker::Answer;
use session_core::{SessionName, SessionSnapshot};
use tauri::{AppHandle, State, WebviewWindow};

use crate::Shell;
use crate::api::{self, AppState, NewProvider};
use crate::error::{Result, answer};
use crate::settings::Settings;
use crate::vaults::{self, VaultState};

/// Sessions, settings and start-up warnings for the first paint.
#[tauri::command]
pub async fn get_app_state(app: AppHandle, shell: State<'_, Shell>) -> Result<AppState> {
    answer(shell.app_state(crate::launch_at_login(&app)).await)
}

/// The page has painted the true state: show the window (it starts hidden, so that nobody sees a
/// blank or half-loaded dashboard). Started at login (`--background`), it stays in the tray.
#[tauri::command]
pub fn window_ready(window: WebviewWindow, shell: State<'_, Shell>) -> Result<()> {
    if !shell.background {
        answer(window.show().and_then(|()| window.set_focus()).map_err(Into::into))?;
    }
    Ok(())
}

/// Adds a provider as a new session. Discovery runs first; on any error nothing is saved.
#[tauri::command]
pub async fn add_provider(shell: State<'_, Shell>, provider: NewProvider) -> Result<SessionSnapshot> {
    answer(api::add_provider(&shell.manager, provider).await)
}

/// Removes a session (signing it out first if needed) and what the settings say of it.
#[tauri::command]
pub async fn remove_session(shell: State<'_, Shell>, id: SessionName) -> Result<()> {
    answer(shell.remove_session(&id).await)
}

/// Turns starting at login on or off. Returns the state now in force.
#[tauri::command]
pub async fn set_launch_at_login(app: AppHandle, enabled: bool) -> Result<bool> {
    answer(crate::set_launch_at_login(&app, enabled))
}

/// Saves and applies the settings (no restart needed). Async, so it runs on the runtime the core's
/// refresh handler is started on.
#[tauri::command]
pub async fn save_settings(shell: State<'_, Shell>, settings: Settings) -> Result<Settings> {
    answer(shell.update_settings(|current| current.replace(settings)))
}

/// Turns notifications for one session on or off.
#[tauri::command]
pub async fn set_session_notifications(shell: State<'_, Shell>, id: SessionName, enabled: bool) -> Result<Settings> {
    answer(shell.update_settings(|settings| settings.set_notifications(&id, enabled)))
}

/// Answers a program's request for a session's token from the card (as the notification's actions do).
#[tauri::command]
pub fn answer_consent(shell: State<'_, Shell>, id: SessionName, program: String, answer: Answer) -> bool {
    shell.broker.consent().answer(&id, &program, answer)
}

/// Takes back "Always allow" from a program: it is asked again next time.
#[tauri::command]
pub async fn forget_program(shell: State<'_, Shell>, id: SessionName, program: String) -> Result<Settings> {
    answer(shell.update_settings(|settings| settings.forget_program(&id, &program)))
}

/// Sets the hosts whose `git` credentials are this session's token (`git-credential` helper).
#[tauri::command]
pub async fn set_git_hosts(shell: State<'_, Shell>, id: SessionName, hosts: Vec<String>) -> Result<Settings> {
    answer(shell.update_settings(|settings| settings.set_git_hosts(&id, &hosts)))
}

/// Unlocks the sealed vault with the passphrase typed in the window (makes it, the first time). The
/// passphrase goes no further than the core, which keeps only the key made from it; a wrong one is
/// refused with nothing changed.
#[tauri::command]
pub async fn unlock_vault(app: AppHandle, passphrase: String) -> Result<VaultState> {
    answer(vaults::unlock(&app, SecretString::from(passphrase)).await)
}

/// Changes the sealed vault's passphrase (Settings).
#[tauri::command]
pub async fn change_passphrase(app: AppHandle, old: String, new: String) -> Result<VaultState> {
    answer(vaults::change_passphrase(&app, SecretString::from(old), SecretString::from(new)).await)
}

/// Quits, or (unless `force`) returns the sessions quitting would sign out: their tokens only memory
/// holds and the sealed vault is locked, so the page asks first.
#[tauri::command]
pub async fn quit(app: AppHandle, force: bool) -> Vec<String> {
    vaults::quit(&app, force).await
}
