//! Desktop notifications: which session changes deserve one (a pure bookkeeping of what was already
//! said, tested without a desktop) and sending them with notify-rust.
//!
//! A notice fires once per event: "expires soon" once per stretch of `ending_soon`, "expired" once per
//! expiry, "refresh keeps failing" once per run of `failing` (the core's one threshold,
//! `policy.refresh.attention_after_failures`). Signed in and settled (not refreshing, not ending
//! soon, no failures) starts the book afresh for that session. The book reads the snapshot's words
//! and lists no phases.
//!
//! Silent sign-in (issue 26) asks the person once, and only where one is needed: a session the app
//! renews by itself (`silent.possible`) is not announced as ending (its renewal raises nothing); one
//! that nothing will renew (`sign_in_again_soon`: signed in through the browser, silent sign-in off,
//! or the provider asked for a sign-in) gets one "ends in 1 d 0 h: sign in again now" with the Sign in
//! again action, and then no second prompt for the same sign-in (expiring or expired).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use session_core::{EndReason, SessionSnapshot, Shown};

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
    /// The session ends within `policy.lifetime.signInAgainLead` and nothing will renew it: sign in
    /// again now (offers "Sign in again").
    SignInAgainSoon { id: String, provider: String, ends_at: DateTime<Utc>, reason: String },
}

impl Notice {
    /// The session it is about.
    pub fn session(&self) -> &str {
        match self {
            Notice::Expiring { id, .. }
            | Notice::Expired { id, .. }
            | Notice::RefreshFailing { id, .. }
            | Notice::SignInAgainSoon { id, .. } => id,
        }
    }

    /// Whether the notification carries the "Sign in again" action.
    pub fn offers_sign_in(&self) -> bool {
        matches!(self, Notice::Expired { .. } | Notice::SignInAgainSoon { .. })
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
            Notice::SignInAgainSoon { id, provider, ends_at, reason } => (
                // The time in the tray's words ("1 d 0 h"), which the card writes after "in".
                format!("Session “{id}” ends in {}: sign in again now", crate::tray::remaining(*ends_at - now)),
                format!("{provider}: {reason}"),
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
    /// "Sign in again now" was said for this sign-in: it was the one prompt about its end.
    sign_in_again: bool,
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
            said.expiring = session.ending_soon;
            said.expired = session.shown == Shown::Expired;
            said.failing = session.failing;
            said.sign_in_again = session.sign_in_again_soon;
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
        let settled = session.shown == Shown::SignedIn
            && !session.refreshing
            && !session.ending_soon
            && !session.sign_in_again_soon
            && session.consecutive_failures == 0;
        if settled {
            *said = Said { signed_in_at: said.signed_in_at, ..Said::default() };
        } else if session.sign_in_again_soon && session.signed_in && !said.sign_in_again {
            if let Some(ends_at) = session.ends_at {
                said.sign_in_again = true;
                notices.push(Notice::SignInAgainSoon {
                    id: id.clone(),
                    provider: provider.clone(),
                    ends_at,
                    reason: why_not_renewed(session),
                });
            }
        } else if said.sign_in_again || (session.silent.possible && session.shown != Shown::Expired) {
            // Asked once already for this sign-in, or the app renews the session by itself: its end
            // is not news (a failed renewal ends in Expired, announced below unless asked already).
        } else if session.ending_soon && !said.expiring {
            if let Some((ends_at, reason)) = ending(session) {
                said.expiring = true;
                notices.push(Notice::Expiring { id: id.clone(), provider: provider.clone(), ends_at, reason });
            }
        } else if session.shown == Shown::Expired && !said.expired {
            said.expired = true;
            let reason = last_error.clone().unwrap_or_else(|| "Sign in again to go on.".into());
            notices.push(Notice::Expired { id: id.clone(), provider: provider.clone(), reason });
        }
        let failing = session.failing;
        if failing && !said.failing {
            said.failing = true;
            let reason = last_error.unwrap_or_else(|| "The provider did not answer.".into());
            notices.push(Notice::RefreshFailing { id, provider, reason: ensure_full_stop(reason) });
        }
        notices
    }
}

/// Why nothing will renew a session that ends soon, in words.
fn why_not_renewed(session: &SessionSnapshot) -> String {
    if session.sign_in_with == session_core::SignInWith::SystemBrowser {
        "You signed in through your web browser, whose sign-in Session Keeper cannot reuse.".to_owned()
    } else if !session.silent.enabled {
        "Signing in again by itself is off for this session.".to_owned()
    } else {
        "The provider asks you to sign in again.".to_owned()
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

/// Sends `notice` to the desktop. For an expired session, or one to sign in again soon, the
/// notification carries the "Sign in again" action; `on_sign_in` runs (on a background thread) when
/// the user picks it.
pub async fn send(notice: Notice, on_sign_in: impl FnOnce() + Send + 'static) -> Result<(), String> {
    let (summary, body) = notice.text(Utc::now());
    let expired = matches!(notice, Notice::Expired { .. });
    let offers_sign_in = notice.offers_sign_in();
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
            if offers_sign_in {
                notification.action(SIGN_IN_ACTION, "Sign in again");
            }
            match notification.show() {
                Ok(handle) => {
                    let _ = sent_tx.send(Ok(()));
                    if offers_sign_in {
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
mod tests;
