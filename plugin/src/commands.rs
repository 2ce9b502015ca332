//! The plugin's commands (`plugin:session-keeper|<command>`), one to a few lines each: each hands the
//! call to [`crate::SessionKeeper`] or the core, and its error goes through [`answer`], which logs it
//! once. None returns a token except `get_access_token`, which is outside the `default` permission
//! set. A session's name arrives as a [`SessionName`], checked when the call is read.

use std::time::Duration;

use session_core::{SessionName, SessionSnapshot, TokenRequest, Trigger};
use tauri::{AppHandle, WebviewWindow};

use crate::SessionKeeperExt;
use crate::error::{Result, answer};
use crate::models::{AccessTokenAnswer, RefreshSettings, SessionList, SignedOut};

/// Every session (or the one named). With `force`, each one that holds tokens is checked first (a
/// refresh if due, or the provider's userinfo when the last check is old); a check that fails shows on
/// its snapshot, not as this call's error.
#[tauri::command]
pub async fn get_session(app: AppHandle, name: Option<SessionName>, force: Option<bool>) -> Result<SessionList> {
    let manager = app.session_keeper().manager();
    let read = match &name {
        Some(name) => manager.snapshot(name).await.map(|session| vec![session]),
        None => manager.snapshots().await,
    };
    let mut sessions = answer(read.map_err(Into::into))?;
    if force.unwrap_or(false) {
        for session in &mut sessions {
            if let Ok(checked) = manager.trigger(&session.id, Trigger::Manual { force: false }).await {
                *session = std::sync::Arc::unwrap_or_clone(checked);
            }
        }
    }
    Ok(SessionList { ready: true, sessions })
}

/// Opens the sign-in window (or the system browser); the outcome arrives as the
/// `session-keeper://sign-in-finished` event.
#[tauri::command]
pub async fn sign_in(app: AppHandle, name: SessionName) -> Result<()> {
    answer(app.session_keeper().sign_in(&name).await)
}

/// Closes the sign-in window of a session, ending that attempt.
#[tauri::command]
pub fn cancel_sign_in(app: AppHandle, name: SessionName) -> Result<()> {
    answer(app.session_keeper().cancel_sign_in(&name))
}

/// Refreshes now, whether due or not.
#[tauri::command]
pub async fn refresh(app: AppHandle, name: SessionName) -> Result<SessionSnapshot> {
    answer(app.session_keeper().refresh(&name).await)
}

/// Signs out: revokes at the provider, deletes the tokens, and opens the provider's end-session page.
#[tauri::command]
pub async fn sign_out(app: AppHandle, name: SessionName) -> Result<SignedOut> {
    answer(app.session_keeper().sign_out(&name).await)
}

/// The session's access token, valid at least `minValid` seconds when the provider issues tokens that
/// long (refreshed first otherwise), through the core's hand-out. Only for windows granted
/// `allow-get-access-token`; recorded in the session's history with the window's label.
#[tauri::command]
pub async fn get_access_token(
    app: AppHandle,
    window: WebviewWindow,
    name: SessionName,
    min_valid: Option<u64>,
) -> Result<AccessTokenAnswer> {
    let request = TokenRequest {
        min_valid: Duration::from_secs(min_valid.unwrap_or(0)),
        program: format!("the app's window \"{}\"", window.label()),
        ..TokenRequest::default()
    };
    let token = answer(app.session_keeper().manager().hand_out(&name, &request).await.map_err(Into::into))?;
    Ok(AccessTokenAnswer { access_token: token.token, expires_at: token.expires_at })
}

/// The refresh settings in force.
#[tauri::command]
pub fn get_refresh_settings(app: AppHandle) -> RefreshSettings {
    let refresh = app.session_keeper().policy().refresh;
    RefreshSettings { enable_periodically: refresh.enable_periodically, enable_on_window_focus: refresh.enable_on_window_focus }
}

/// Changes the refresh settings at once (the refresh handler starts again with them).
#[tauri::command]
pub fn set_refresh_settings(
    app: AppHandle,
    enable_periodically: session_core::EnablePeriodically,
    enable_on_window_focus: bool,
) -> Result<RefreshSettings> {
    let keeper = app.session_keeper();
    let mut policy = keeper.policy();
    policy.refresh.enable_periodically = enable_periodically;
    policy.refresh.enable_on_window_focus = enable_on_window_focus;
    answer(keeper.set_policy(policy))?;
    Ok(get_refresh_settings(app))
}

/// Turns a session's silent sign-in (`prompt=none` in a hidden window) on or off.
#[tauri::command]
pub async fn set_silent_sign_in(app: AppHandle, name: SessionName, enabled: bool) -> Result<SessionSnapshot> {
    answer(app.session_keeper().manager().set_silent_sign_in(&name, enabled).await.map_err(Into::into))
}

#[cfg(test)]
mod tests {
    /// The `default` set grants every command the build script declared (their generated
    /// permissions) except the access token's, which an app grants on purpose.
    #[test]
    fn the_default_set_is_every_command_but_the_access_token() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("permissions");
        let mut commands: Vec<String> = std::fs::read_dir(dir.join("autogenerated/commands"))
            .unwrap()
            .map(|entry| entry.unwrap().path().file_stem().unwrap().to_string_lossy().replace('_', "-"))
            .collect();
        commands.sort();
        assert_eq!(commands.len(), 9, "{commands:?}");
        let default = std::fs::read_to_string(dir.join("default.toml")).unwrap();
        for command in &commands {
            let granted = default.contains(&format!("\"allow-{command}\""));
            assert_eq!(granted, command != "get-access-token", "allow-{command} in the default set: {granted}");
        }
    }
}
