//! The tray icon: each session with its state and time left, and Open, Refresh all, Sign out all, Quit.
//! Closing the main window only hides it (see `lib.rs`); the app keeps refreshing and notifying from here.
//!
//! The menu is rebuilt whenever a session changes and every 30 seconds, so the times stay current
//! without a timer per item.

use std::time::Duration;

use chrono::{DateTime, Utc};
use session_core::{Phase, SessionSnapshot};
use tauri::menu::{Menu, MenuBuilder, MenuEvent};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager};

use crate::Shell;

/// The tray icon's id.
pub const TRAY_ID: &str = "main";
const OPEN: &str = "open";
const REFRESH_ALL: &str = "refresh-all";
const SIGN_OUT_ALL: &str = "sign-out-all";
const QUIT: &str = "quit";
const SESSION_PREFIX: &str = "session:";
/// How often the times in the menu are brought up to date.
pub const TICK: Duration = Duration::from_secs(30);

/// Creates the tray icon with its menu.
pub fn create(app: &AppHandle, sessions: &[SessionSnapshot]) -> tauri::Result<TrayIcon> {
    let mut builder = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("Session Keeper")
        .menu(&menu(app, sessions, Utc::now())?)
        .show_menu_on_left_click(true)
        .on_menu_event(on_menu_event);
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)
}

/// Brings the menu up to date with `sessions`.
pub fn update(app: &AppHandle, sessions: &[SessionSnapshot]) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else { return };
    match menu(app, sessions, Utc::now()) {
        Ok(menu) => {
            if let Err(err) = tray.set_menu(Some(menu)) {
                tracing::warn!(error = %err, "tray menu not updated");
            }
        }
        Err(err) => tracing::warn!(error = %err, "tray menu not built"),
    }
}

fn menu(app: &AppHandle, sessions: &[SessionSnapshot], now: DateTime<Utc>) -> tauri::Result<Menu<tauri::Wry>> {
    let mut builder = MenuBuilder::new(app);
    if sessions.is_empty() {
        builder = builder.item(&tauri::menu::MenuItem::with_id(app, "none", "No sessions yet", false, None::<&str>)?);
    }
    for session in sessions {
        builder = builder.text(format!("{SESSION_PREFIX}{}", session.id), session_line(session, now));
    }
    let signed_in = sessions.iter().any(|s| matches!(s.phase, Phase::Active | Phase::Expiring | Phase::Refreshing));
    builder
        .separator()
        .text(OPEN, "Open Session Keeper")
        .item(&tauri::menu::MenuItem::with_id(app, REFRESH_ALL, "Refresh all", signed_in, None::<&str>)?)
        .item(&tauri::menu::MenuItem::with_id(app, SIGN_OUT_ALL, "Sign out all", signed_in, None::<&str>)?)
        .separator()
        .text(QUIT, "Quit")
        .build()
}

/// One session's line: "Work: alice, 7 h 58 min left".
pub fn session_line(session: &SessionSnapshot, now: DateTime<Utc>) -> String {
    let who = session
        .user
        .as_ref()
        .map(|user| user.name.clone().or_else(|| user.email.clone()).unwrap_or_else(|| user.subject.clone()));
    let state = match session.phase {
        Phase::SignedOut => "signed out".to_owned(),
        Phase::SigningIn => "signing in…".to_owned(),
        Phase::Expired => "expired, sign in again".to_owned(),
        Phase::Active | Phase::Expiring | Phase::Refreshing => match session_end(session) {
            Some(end) => format!("{} left", remaining(end - now)),
            None => "signed in".to_owned(),
        },
    };
    match (who, session.phase) {
        (Some(who), Phase::Active | Phase::Expiring | Phase::Refreshing) => format!("{}: {who}, {state}", session.id),
        _ => format!("{}: {state}", session.id),
    }
}

/// When the session ends unless the user signs in again: with a refresh token, the end of its
/// lifetime or of the refresh token; without, the access token's expiry.
fn session_end(session: &SessionSnapshot) -> Option<DateTime<Utc>> {
    if session.has_refresh_token {
        [session.session_expires_at, session.refresh_token_expires_at].into_iter().flatten().min()
    } else {
        session.access_token_expires_at
    }
}

/// "2 d 3 h", "3 h 12 min", "12 min", "45 s", "0 s".
pub fn remaining(left: chrono::TimeDelta) -> String {
    let seconds = left.num_seconds().max(0);
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match seconds {
        s if s >= 86_400 => format!("{days} d {hours} h"),
        s if s >= 3600 => format!("{hours} h {minutes} min"),
        s if s >= 60 => format!("{minutes} min"),
        s => format!("{s} s"),
    }
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    let id = event.id().as_ref().to_owned();
    match id.as_str() {
        QUIT => app.exit(0),
        REFRESH_ALL => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move { crate::for_each_signed_in(&app, "refresh", |app, id| async move {
                app.state::<Shell>().manager.refresh(&id, true).await.map(|_| ()).map_err(Into::into)
            }).await });
        }
        SIGN_OUT_ALL => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move { crate::for_each_signed_in(&app, "sign out", |app, id| async move {
                crate::commands::sign_out_session(&app, &id).await.map(|_| ())
            }).await });
        }
        // "Open" and a session's line both bring the dashboard forward.
        _ => crate::show_main_window(app),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn remaining_time_reads_like_a_person_writes_it() {
        assert_eq!(remaining(TimeDelta::seconds(-5)), "0 s");
        assert_eq!(remaining(TimeDelta::seconds(45)), "45 s");
        assert_eq!(remaining(TimeDelta::seconds(12 * 60 + 59)), "12 min");
        assert_eq!(remaining(TimeDelta::seconds(3 * 3600 + 12 * 60)), "3 h 12 min");
        assert_eq!(remaining(TimeDelta::seconds(2 * 86_400 + 3 * 3600 + 59)), "2 d 3 h");
    }

    #[test]
    fn a_line_per_session_shows_who_and_how_long() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut session = SessionSnapshot {
            id: "Work".into(),
            provider_name: "P".into(),
            issuer: "https://p.example".into(),
            sign_in_with: Default::default(),
            user: Some(session_core::UserProfile {
                subject: "alice".into(),
                name: Some("Alice Example".into()),
                email: None,
                preferred_username: None,
            }),
            phase: Phase::Active,
            access_token_expires_at: None,
            refresh_token_expires_at: None,
            session_expires_at: None,
            signed_in_at: None,
            last_refresh_at: None,
            next_refresh_at: None,
            has_refresh_token: true,
            consecutive_failures: 0,
            last_error: None,
        };
        session.session_expires_at = Some(now + TimeDelta::seconds(8 * 3600));
        session.refresh_token_expires_at = Some(now + TimeDelta::seconds(7 * 3600 + 58 * 60));
        assert_eq!(session_line(&session, now), "Work: Alice Example, 7 h 58 min left");
        session.has_refresh_token = false;
        session.access_token_expires_at = Some(now + TimeDelta::seconds(90));
        assert_eq!(session_line(&session, now), "Work: Alice Example, 1 min left");
        session.phase = Phase::Expired;
        assert_eq!(session_line(&session, now), "Work: expired, sign in again");
        session.phase = Phase::SignedOut;
        assert_eq!(session_line(&session, now), "Work: signed out");
    }
}
