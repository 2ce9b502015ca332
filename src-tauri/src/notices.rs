//! Desktop notifications: which session changes deserve one (a pure bookkeeping of what was already
//! said, tested without a desktop) and sending them with notify-rust.
//!
//! A notice fires once per event: "expires soon" once per stretch of `expiring`, "expired" once per
//! expiry, "refresh keeps failing" once per run of failures. Reaching `active` with no failures
//! starts the book afresh for that session.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use session_core::{EndReason, Phase, SessionSnapshot};

/// After this many consecutive failed refreshes the user hears about it once.
pub const FAILURES_BEFORE_NOTICE: u32 = 3;

/// The notification action that signs in again. D-Bus servers run the action named `default` when the
/// notification itself is clicked.
pub const SIGN_IN_ACTION: &str = "default";

/// Something the user should hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// The session ends soon and cannot be extended.
    Expiring { id: String, provider: String, ends_at: DateTime<Utc>, reason: String },
    /// The session ended; offers "Sign in again".
    Expired { id: String, provider: String, reason: String },
    /// Refreshing failed several times in a row (the session is still kept).
    RefreshFailing { id: String, provider: String, reason: String },
}

impl Notice {
    /// The session it is about.
    pub fn session(&self) -> &str {
        match self {
            Notice::Expiring { id, .. } | Notice::Expired { id, .. } | Notice::RefreshFailing { id, .. } => id,
        }
    }

    /// Title and body, as the notification shows them.
    pub fn text(&self, now: DateTime<Utc>) -> (String, String) {
        match self {
            Notice::Expiring { id, provider, ends_at, reason } => {
                let minutes = minutes_until(*ends_at, now);
                let unit = if minutes == 1 { "minute" } else { "minutes" };
                (format!("Session “{id}” expires in {minutes} {unit}"), format!("{provider}: {reason}"))
            }
            Notice::Expired { id, provider, reason } => (format!("Session “{id}” expired"), format!("{provider}: {reason}")),
            Notice::RefreshFailing { id, provider, reason } => (
                format!("Session “{id}” cannot be refreshed"),
                format!("{provider}: {reason} Session Keeper keeps trying; the session stays signed in meanwhile."),
            ),
        }
    }
}

/// Whole minutes left, rounded up, at least 1 while time is left.
fn minutes_until(end: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let seconds = (end - now).num_seconds().max(0);
    ((seconds + 59) / 60).max(1)
}

#[derive(Debug, Default, Clone, Copy)]
struct Said {
    /// The sign-in these flags are about: a new sign-in is a new story.
    signed_in_at: Option<DateTime<Utc>>,
    expiring: bool,
    expired: bool,
    failing: bool,
}

/// What has been said about each session.
#[derive(Debug, Default)]
pub struct NoticeBook {
    said: HashMap<String, Said>,
}

impl NoticeBook {
    /// Records sessions as they are at start without notifying: what happened while the app was not
    /// running is on the dashboard, and a notice at every login would be noise.
    pub fn seed<'a>(&mut self, sessions: impl IntoIterator<Item = &'a SessionSnapshot>) {
        for session in sessions {
            let said = self.said.entry(session.id.to_string()).or_default();
            said.signed_in_at = session.signed_in_at;
            said.expiring = session.phase == Phase::Expiring;
            said.expired = session.phase == Phase::Expired;
            said.failing = session.consecutive_failures >= FAILURES_BEFORE_NOTICE;
        }
    }

    /// Forgets a removed session.
    pub fn forget(&mut self, id: &str) {
        self.said.remove(id);
    }

    /// The notices a new snapshot calls for (usually none).
    pub fn observe(&mut self, session: &SessionSnapshot) -> Vec<Notice> {
        let said = self.said.entry(session.id.to_string()).or_default();
        if session.signed_in && session.signed_in_at != said.signed_in_at {
            *said = Said { signed_in_at: session.signed_in_at, ..Said::default() };
        }
        let mut notices = Vec::new();
        let id = session.id.to_string();
        let provider = session.provider_name.clone();
        let last_error = session.last_error.as_ref().map(|e| e.message.clone());
        match session.phase {
            Phase::Active if session.consecutive_failures == 0 => *said = Said { signed_in_at: said.signed_in_at, ..Said::default() },
            Phase::Expiring if !said.expiring => {
                if let Some((ends_at, reason)) = ending(session) {
                    said.expiring = true;
                    notices.push(Notice::Expiring { id: id.clone(), provider: provider.clone(), ends_at, reason });
                }
            }
            Phase::Expired if !said.expired => {
                said.expired = true;
                let reason = last_error.clone().unwrap_or_else(|| "Sign in again to go on.".into());
                notices.push(Notice::Expired { id: id.clone(), provider: provider.clone(), reason });
            }
            _ => {}
        }
        let failing = session.consecutive_failures >= FAILURES_BEFORE_NOTICE && session.signed_in;
        if failing && !said.failing {
            said.failing = true;
            let reason = last_error.unwrap_or_else(|| "The provider did not answer.".into());
            notices.push(Notice::RefreshFailing { id, provider, reason: ensure_full_stop(reason) });
        }
        notices
    }
}

/// When an expiring session ends (as the core says), and why, in words.
fn ending(session: &SessionSnapshot) -> Option<(DateTime<Utc>, String)> {
    let reason = match session.end_reason? {
        EndReason::Lifetime => "The session reaches the end of its lifetime; sign in again to extend it.".to_owned(),
        EndReason::RefreshTokenExpires => "The refresh token expires; sign in again to extend the session.".to_owned(),
        EndReason::NoRefreshToken => "The provider gave no refresh token, so the session cannot be extended.".to_owned(),
        EndReason::RefreshFailing => {
            let why = session.last_error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
            format!("Refreshing keeps failing. {why}").trim_end().to_owned()
        }
    };
    Some((session.ends_at?, reason))
}

fn ensure_full_stop(text: String) -> String {
    if text.ends_with(['.', '!', '?']) { text } else { text + "." }
}

/// How long the notification server gets to accept a notification before we give up on it. D-Bus
/// calls have no timeout of their own, and a frozen server must not freeze the app.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends `notice` to the desktop. For an expired session the notification carries the "Sign in
/// again" action; `on_sign_in` runs (on a background thread) when the user picks it.
pub async fn send(notice: Notice, on_sign_in: impl FnOnce() + Send + 'static) -> Result<(), String> {
    let (summary, body) = notice.text(Utc::now());
    let expired = matches!(notice, Notice::Expired { .. });
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
    // notify-rust's calls block on D-Bus; a plain thread may stay to wait for the action.
    std::thread::Builder::new()
        .name("notification".into())
        .spawn(move || {
            let mut notification = notify_rust::Notification::new();
            notification
                .appname("Session Keeper")
                .summary(&summary)
                .body(&body)
                .icon(if expired { "dialog-error" } else { "dialog-warning" })
                .urgency(if expired { notify_rust::Urgency::Critical } else { notify_rust::Urgency::Normal });
            if expired {
                notification.action(SIGN_IN_ACTION, "Sign in again");
            }
            match notification.show() {
                Ok(handle) => {
                    let _ = sent_tx.send(Ok(()));
                    if expired {
                        handle.wait_for_action(|action| {
                            if action == SIGN_IN_ACTION {
                                on_sign_in();
                            }
                        });
                    }
                }
                Err(err) => {
                    let _ = sent_tx.send(Err(err.to_string()));
                }
            }
        })
        .map_err(|err| err.to_string())?;
    match tokio::time::timeout(SEND_TIMEOUT, sent_rx).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err("the notification thread ended".into()),
        Err(_) => Err(format!("the notification server did not answer within {} s", SEND_TIMEOUT.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use session_core::{ErrorInfo, ErrorKind};

    /// A fixed instant: what the tests assert does not depend on when they run.
    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    /// A session without refresh token in `phase`, with what the core would say of its end.
    fn session(phase: Phase) -> SessionSnapshot {
        let now = now();
        let signed_in = matches!(phase, Phase::Active | Phase::Refreshing | Phase::Expiring);
        SessionSnapshot {
            id: session_core::SessionName::new("work").unwrap(),
            provider_name: "Example ID".into(),
            issuer: "https://id.example.com".into(),
            sign_in_with: Default::default(),
            user: None,
            phase,
            signed_in,
            ends_at: signed_in.then(|| now + TimeDelta::seconds(150)),
            end_reason: signed_in.then_some(EndReason::NoRefreshToken),
            can_extend: false,
            access_token_expires_at: Some(now + TimeDelta::seconds(150)),
            refresh_token_expires_at: None,
            session_expires_at: Some(now + TimeDelta::days(7)),
            signed_in_at: DateTime::from_timestamp(1_700_000_000, 0),
            last_refresh_at: None,
            next_refresh_at: None,
            has_refresh_token: false,
            consecutive_failures: 0,
            last_error: None,
            history: Vec::new(),
        }
    }

    #[test]
    fn expiring_then_expired_each_once() {
        let mut book = NoticeBook::default();
        assert!(book.observe(&session(Phase::Active)).is_empty());
        let notices = book.observe(&session(Phase::Expiring));
        assert_eq!(notices.len(), 1);
        let (title, body) = notices[0].text(now());
        assert_eq!(title, "Session “work” expires in 3 minutes");
        assert!(body.contains("no refresh token"), "{body}");
        assert!(book.observe(&session(Phase::Expiring)).is_empty(), "said once");

        let mut expired = session(Phase::Expired);
        expired.last_error =
            Some(ErrorInfo { kind: ErrorKind::SessionRevoked, message: "The access token expired: sign in again.".into() });
        let notices = book.observe(&expired);
        assert!(matches!(&notices[..], [Notice::Expired { reason, .. }] if reason.contains("sign in again")));
        assert!(book.observe(&expired).is_empty(), "said once");
        // A cancelled sign-in goes back to expired: nothing new to say.
        assert!(book.observe(&session(Phase::SigningIn)).is_empty());
        assert!(book.observe(&expired).is_empty());
        // Signed in again: the next expiry is news again.
        assert!(book.observe(&session(Phase::Active)).is_empty());
        assert_eq!(book.observe(&expired).len(), 1);
    }

    #[test]
    fn refresh_failures_are_told_once_per_run() {
        let mut book = NoticeBook::default();
        let mut failing = session(Phase::Active);
        failing.has_refresh_token = true;
        failing.last_error = Some(ErrorInfo { kind: ErrorKind::ProviderUnavailable, message: "The provider answered 503".into() });
        for failures in 1..FAILURES_BEFORE_NOTICE {
            failing.consecutive_failures = failures;
            assert!(book.observe(&failing).is_empty());
        }
        failing.consecutive_failures = FAILURES_BEFORE_NOTICE;
        let notices = book.observe(&failing);
        assert!(matches!(&notices[..], [Notice::RefreshFailing { reason, .. }] if reason == "The provider answered 503."));
        failing.consecutive_failures += 5;
        failing.phase = Phase::Refreshing;
        assert!(book.observe(&failing).is_empty());
        // Recovery, then a new run of failures.
        assert!(book.observe(&session(Phase::Active)).is_empty());
        failing.phase = Phase::Active;
        assert_eq!(book.observe(&failing).len(), 1);
    }

    #[test]
    fn the_earliest_end_and_its_reason_are_named() {
        let now = now();
        let mut ending_lifetime = session(Phase::Expiring);
        ending_lifetime.has_refresh_token = true;
        ending_lifetime.session_expires_at = Some(now + TimeDelta::seconds(61));
        ending_lifetime.ends_at = ending_lifetime.session_expires_at;
        ending_lifetime.end_reason = Some(EndReason::Lifetime);
        let notices = NoticeBook::default().observe(&ending_lifetime);
        let Notice::Expiring { ends_at, reason, .. } = &notices[0] else { panic!("{notices:?}") };
        assert_eq!(*ends_at, ending_lifetime.session_expires_at.unwrap());
        assert!(reason.starts_with("The session reaches the end of its lifetime"), "{reason}");
        assert_eq!(notices[0].text(now).0, "Session “work” expires in 2 minutes");
        assert_eq!(minutes_until(now + TimeDelta::seconds(30), now), 1);
        assert_eq!(minutes_until(now - TimeDelta::seconds(30), now), 1);
    }

    #[test]
    fn a_new_sign_in_without_refresh_token_is_told_again() {
        // Such a session is never `active`: it goes from signing in straight to expiring.
        let mut book = NoticeBook::default();
        let first = session(Phase::Expiring);
        assert_eq!(book.observe(&first).len(), 1);
        assert_eq!(book.observe(&session(Phase::Expired)).len(), 1);
        let mut again = session(Phase::Expiring);
        again.signed_in_at = first.signed_in_at.map(|at| at + TimeDelta::seconds(30));
        assert_eq!(book.observe(&again).len(), 1, "the new sign-in's expiry is news");
        let mut expired = session(Phase::Expired);
        expired.signed_in_at = again.signed_in_at;
        assert_eq!(book.observe(&expired).len(), 1);
    }

    #[test]
    fn seeded_sessions_are_not_announced_again() {
        let mut book = NoticeBook::default();
        let expired = session(Phase::Expired);
        book.seed([&expired]);
        assert!(book.observe(&expired).is_empty());
        book.forget("work");
        assert_eq!(book.observe(&expired).len(), 1);
    }

    /// A notification server that stops answering (dunst SIGSTOPped, as a hung one would be): the
    /// notice gives up within [`SEND_TIMEOUT`] with a reason, and the runtime goes on meanwhile (the
    /// window and tray stay live). Needs the test run's notification server
    /// (`scripts/desktop-session.sh --display`); skipped without one.
    #[tokio::test(flavor = "current_thread")]
    async fn a_frozen_notification_server_holds_up_nothing() {
        let Ok(bus) = zbus::Connection::session().await else { return };
        let Ok(dbus) = zbus::fdo::DBusProxy::new(&bus).await else { return };
        let name = zbus::names::BusName::try_from("org.freedesktop.Notifications").unwrap();
        let Ok(pid) = dbus.get_connection_unix_process_id(name).await else {
            eprintln!("no notification server: run under scripts/desktop-session.sh --display");
            return;
        };
        struct Frozen(u32);
        impl Drop for Frozen {
            fn drop(&mut self) {
                let _ = std::process::Command::new("kill").args(["-CONT", &self.0.to_string()]).status();
            }
        }
        assert!(std::process::Command::new("kill").args(["-STOP", &pid.to_string()]).status().unwrap().success());
        let frozen = Frozen(pid);
        let notice = Notice::Expired { id: "s".into(), provider: "Test".into(), reason: "The grant was revoked.".into() };
        let started = std::time::Instant::now();
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let ticking = {
            let ticks = ticks.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        };
        let result = send(notice, || {}).await;
        let took = started.elapsed();
        drop(frozen);
        ticking.abort();
        // The server now shows the notice it was sent while frozen; later tests must not meet it.
        // A call after the notice's reaches the server after it (the bus keeps order), then all go.
        let _ = bus
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                "GetServerInformation",
                &(),
            )
            .await;
        let closed = std::process::Command::new("dunstctl").arg("close-all").status();
        assert!(closed.is_ok_and(|status| status.success()), "dunstctl close-all");
        let problem = result.expect_err("a frozen server cannot have shown it");
        assert!(problem.contains("did not answer within 5 s"), "{problem}");
        assert!(took < SEND_TIMEOUT + Duration::from_secs(1), "{took:?}");
        // This runtime has one thread: it kept running other work while the notice waited.
        assert!(ticks.load(std::sync::atomic::Ordering::Relaxed) >= 40, "the runtime stalled");
    }
}
