//! The tray icon: each session with its state and time left, and Open, Refresh all, Sign out all, Quit.
//! Closing the main window only hides it (see `lib.rs`); the app keeps refreshing and notifying from here.
//!
//! The menu is brought up to date whenever a session changes and every 30 seconds, so the times stay
//! current without a timer per item; it is rebuilt only when a line of it reads differently (a
//! refresh, twenty times a minute with twenty sessions, seldom changes what it says).

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use session_core::{SessionSnapshot, Shown};
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

/// What the menu shows: each session's id and line, and whether Refresh all and Sign out all apply.
#[derive(Debug, PartialEq, Eq)]
struct MenuText {
    lines: Vec<(String, String)>,
    signed_in: bool,
}

impl MenuText {
    fn of(sessions: &[SessionSnapshot], now: DateTime<Utc>) -> Self {
        MenuText {
            lines: sessions.iter().map(|s| (s.id.to_string(), session_line(s, now))).collect(),
            signed_in: signed_in(sessions).next().is_some(),
        }
    }
}

/// The menu as last set, so that an update that changes no word of it costs no rebuild.
pub struct TrayMenu(Mutex<MenuText>);

/// Creates the tray icon with its menu.
pub fn create(app: &AppHandle, sessions: &[SessionSnapshot]) -> tauri::Result<TrayIcon> {
    let shown = MenuText::of(sessions, Utc::now());
    let menu = menu(app, &shown)?;
    app.manage(TrayMenu(Mutex::new(shown)));
    let mut builder =
        TrayIconBuilder::with_id(TRAY_ID).tooltip("Session Keeper").menu(&menu).show_menu_on_left_click(true).on_menu_event(on_menu_event);
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)
}

/// Brings the menu up to date with `sessions`, if any line of it reads differently.
pub fn update(app: &AppHandle, sessions: &[SessionSnapshot]) {
    let (Some(tray), Some(last)) = (app.tray_by_id(TRAY_ID), app.try_state::<TrayMenu>()) else { return };
    let shown = MenuText::of(sessions, Utc::now());
    let mut last = last.0.lock().expect("tray menu poisoned");
    if *last == shown {
        return;
    }
    match menu(app, &shown) {
        Ok(menu) => match tray.set_menu(Some(menu)) {
            Ok(()) => *last = shown,
            Err(err) => tracing::warn!(error = %err, "tray menu not updated"),
        },
        Err(err) => tracing::warn!(error = %err, "tray menu not built"),
    }
}

fn menu(app: &AppHandle, shown: &MenuText) -> tauri::Result<Menu<tauri::Wry>> {
    let mut builder = MenuBuilder::new(app);
    if shown.lines.is_empty() {
        builder = builder.item(&tauri::menu::MenuItem::with_id(app, "none", "No sessions yet", false, None::<&str>)?);
    }
    for (id, line) in &shown.lines {
        builder = builder.text(format!("{SESSION_PREFIX}{id}"), line);
    }
    let signed_in = shown.signed_in;
    builder
        .separator()
        .text(OPEN, "Open Session Keeper")
        .item(&tauri::menu::MenuItem::with_id(app, REFRESH_ALL, "Refresh all", signed_in, None::<&str>)?)
        .item(&tauri::menu::MenuItem::with_id(app, SIGN_OUT_ALL, "Sign out all", signed_in, None::<&str>)?)
        .separator()
        .text(QUIT, "Quit")
        .build()
}

/// The sessions that hold tokens (as the core says: a session signing in again holds its old ones),
/// which Refresh all and Sign out all act on.
pub fn signed_in(sessions: &[SessionSnapshot]) -> impl Iterator<Item = String> + '_ {
    sessions.iter().filter(|s| s.signed_in).map(|s| s.id.to_string())
}

/// One session's line: "Work: Alice Example, 7 h 58 min left". The time left counts to `ends_at`, as
/// the card and the notice do; who is `who.name`, the core's one display rule.
pub fn session_line(session: &SessionSnapshot, now: DateTime<Utc>) -> String {
    let state = match session.shown {
        Shown::SigningIn => "signing in…".to_owned(),
        Shown::SignedIn => match session.ends_at {
            Some(end) => format!("{} left", remaining(end - now)),
            None => "signed in".to_owned(),
        },
        Shown::Expired => "expired, sign in again".to_owned(),
        Shown::SignedOut => "signed out".to_owned(),
    };
    // The desktop's connectivity, where it holds refreshes back.
    let state = match session.network.as_str() {
        "offline" if session.signed_in => format!("{state}, offline"),
        "portal" if session.signed_in => format!("{state}, sign in to the network first"),
        _ => state,
    };
    match &session.who {
        Some(who) if session.signed_in => format!("{}: {}, {state}", session.id, who.name),
        _ => format!("{}: {state}", session.id),
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
        // Asks first when quitting would sign out sessions whose tokens only memory holds.
        QUIT => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move { crate::vaults::quit(&app, false).await });
        }
        REFRESH_ALL => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                crate::for_each_signed_in(&app, "refresh", |app, id| async move {
                    app.state::<Shell>().manager.refresh(&id, true).await.map(|_| ()).map_err(Into::into)
                })
                .await
            });
        }
        SIGN_OUT_ALL => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                crate::for_each_signed_in(&app, "sign out", |app, id| async move {
                    Ok(tauri_plugin_session_keeper::SessionKeeperExt::session_keeper(&app).sign_out(&id).await.map(drop)?)
                })
                .await
            });
        }
        // "Open" and a session's line both bring the dashboard forward.
        _ => crate::show_main_window(app),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use session_core::Phase;

    #[test]
    fn remaining_time_reads_like_a_person_writes_it() {
        assert_eq!(remaining(TimeDelta::seconds(-5)), "0 s");
        assert_eq!(remaining(TimeDelta::seconds(45)), "45 s");
        assert_eq!(remaining(TimeDelta::seconds(12 * 60 + 59)), "12 min");
        assert_eq!(remaining(TimeDelta::seconds(3 * 3600 + 12 * 60)), "3 h 12 min");
        assert_eq!(remaining(TimeDelta::seconds(2 * 86_400 + 3 * 3600 + 59)), "2 d 3 h");
    }

    /// The same table the page's countdown test reads (`node --test tests/ui`): both round down.
    #[test]
    fn the_tray_and_the_page_round_the_same_way() {
        let cases: serde_json::Value = serde_json::from_str(include_str!("../../tests/ui/countdown-cases.json")).unwrap();
        for case in cases.as_array().unwrap() {
            let ms = case["ms"].as_i64().unwrap();
            assert_eq!(remaining(TimeDelta::milliseconds(ms)), case["tray"].as_str().unwrap(), "{ms} ms");
        }
    }

    #[test]
    fn sign_out_all_includes_a_session_signing_in_again() {
        let mut resigning = snapshot();
        resigning.id = session_core::SessionName::new("Resigning").unwrap();
        (resigning.phase, resigning.shown) = (Phase::SigningIn, Shown::SigningIn);
        resigning.signed_in = true;
        let mut first_sign_in = snapshot();
        first_sign_in.id = session_core::SessionName::new("New").unwrap();
        (first_sign_in.phase, first_sign_in.shown) = (Phase::SigningIn, Shown::SigningIn);
        first_sign_in.signed_in = false;
        let mut expired = snapshot();
        expired.id = session_core::SessionName::new("Old").unwrap();
        (expired.phase, expired.shown) = (Phase::Expired, Shown::Expired);
        expired.signed_in = false;
        let active = snapshot();
        let sessions = [resigning, first_sign_in, expired, active];
        assert_eq!(signed_in(&sessions).collect::<Vec<_>>(), ["Resigning", "Work"]);
    }

    /// A refresh moves the access token's expiry and the phase through Refreshing, which the menu
    /// does not show: no rebuild. A session signing out changes its line and the actions: rebuild.
    #[test]
    fn the_menu_is_rebuilt_only_when_it_reads_differently() {
        let now = Utc::now();
        let mut before = snapshot();
        before.ends_at = Some(now + TimeDelta::seconds(3 * 3600 + 12 * 60 + 30));
        let shown = MenuText::of(std::slice::from_ref(&before), now);
        let mut refreshing = before.clone();
        (refreshing.phase, refreshing.refreshing) = (Phase::Refreshing, true);
        let mut refreshed = before.clone();
        refreshed.access_token_expires_at = Some(now + TimeDelta::hours(1));
        refreshed.last_refresh_at = Some(now);
        for same in [refreshing, refreshed] {
            assert_eq!(MenuText::of(&[same], now + TimeDelta::seconds(5)), shown);
        }
        let mut signed_out = before.clone();
        (signed_out.phase, signed_out.shown, signed_out.signed_in) = (Phase::SignedOut, Shown::SignedOut, false);
        let after = MenuText::of(&[signed_out], now);
        assert_ne!(after, shown);
        assert!(!after.signed_in, "Refresh all and Sign out all turn off");
        assert_ne!(MenuText::of(std::slice::from_ref(&before), now + TimeDelta::minutes(1)), shown, "the time left moved a minute");
    }

    fn snapshot() -> SessionSnapshot {
        let user = session_core::UserProfile {
            subject: "alice".into(),
            name: Some("Alice Example".into()),
            email: None,
            preferred_username: None,
        };
        SessionSnapshot {
            id: session_core::SessionName::new("Work").unwrap(),
            provider_name: "P".into(),
            issuer: "https://p.example".into(),
            sign_in_with: Default::default(),
            who: Some(user.who()),
            user: Some(user),
            phase: Phase::Active,
            shown: Shown::SignedIn,
            refreshing: false,
            ending_soon: false,
            failing: false,
            network: Default::default(),
            needs_attention: false,
            signed_in: true,
            ends_at: None,
            end_reason: None,
            can_extend: true,
            access_token_expires_at: None,
            refresh_token_expires_at: None,
            session_expires_at: None,
            signed_in_at: None,
            last_refresh_at: None,
            next_refresh_at: None,
            has_refresh_token: true,
            refresh_token_online: false,
            consecutive_failures: 0,
            last_error: None,
            history: Vec::new(),
            silent: session_core::SilentSnapshot { enabled: true, possible: false, attempting: false, last: None },
            sign_in_again_soon: false,
        }
    }

    #[test]
    fn a_line_per_session_shows_who_and_how_long() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut session = snapshot();
        session.ends_at = Some(now + TimeDelta::seconds(7 * 3600 + 58 * 60));
        session.end_reason = Some(session_core::EndReason::RefreshTokenExpires);
        assert_eq!(session_line(&session, now), "Work: Alice Example, 7 h 58 min left");
        session.ends_at = Some(now + TimeDelta::seconds(90));
        session.end_reason = Some(session_core::EndReason::NoRefreshToken);
        assert_eq!(session_line(&session, now), "Work: Alice Example, 1 min left");
        session.network = serde_json::from_value(serde_json::json!("offline")).unwrap();
        assert_eq!(session_line(&session, now), "Work: Alice Example, 1 min left, offline");
        session.network = serde_json::from_value(serde_json::json!("portal")).unwrap();
        assert_eq!(session_line(&session, now), "Work: Alice Example, 1 min left, sign in to the network first");
        (session.phase, session.shown) = (Phase::Expired, Shown::Expired);
        session.signed_in = false;
        assert_eq!(session_line(&session, now), "Work: expired, sign in again");
        (session.phase, session.shown) = (Phase::SignedOut, Shown::SignedOut);
        assert_eq!(session_line(&session, now), "Work: signed out");
    }
}
