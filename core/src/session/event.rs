//! What can happen to a session: the [`Event`]s [`super::transition`] decides on, the [`Trigger`]s
//! that ask for a check, and the [`TokenKind`]s a program can ask for.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::state::{RefreshFailure, SessionState, TokenTimes};
use crate::error::ErrorInfo;
use crate::user::UserProfile;

/// What asked for a session check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The periodic check (`enable_periodically`), and a deadline that came.
    Interval,
    /// The app window gained focus (`enable_on_window_focus`).
    Focus,
    /// The machine woke from sleep.
    Resume,
    /// The user (or a program through the user) asked; `force` always hits the token endpoint.
    Manual {
        /// Refresh even if the access token is fresh.
        force: bool,
    },
    /// The desktop's connectivity changed (NetworkManager): the sessions learn it, and when the
    /// network has come back, those due (or waiting to retry) refresh at once.
    Network(Network),
}

/// The desktop's connectivity, as NetworkManager says it (`Connectivity`): shown on every card and
/// deciding whether a refresh that cannot reach its provider counts as a failure of the session.
/// Without NetworkManager (no system bus, or connectivity `UNKNOWN`) it is `Online`: the app behaves as
/// it did before it listened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// Full connectivity, or nobody says otherwise.
    #[default]
    Online,
    /// No network, or a network without a way out (NetworkManager's `NONE` and `LIMITED`).
    Offline,
    /// A captive portal holds every request until the person signs in to the network
    /// (NetworkManager's `PORTAL`).
    Portal,
}

impl Network {
    /// The serialized name (`online`, `offline`, `portal`).
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Online => "online",
            Network::Offline => "offline",
            Network::Portal => "portal",
        }
    }
}

impl Trigger {
    /// Triggers that show the user is there extend the session's sliding lifetime.
    pub(crate) fn is_user_activity(self) -> bool {
        matches!(self, Trigger::Focus | Trigger::Manual { .. })
    }

    /// The serialized name (`interval`, `focus`, `resume`, `manual`, `network`), also the detail of a
    /// [`super::MarkKind::Checked`] mark.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Interval => "interval",
            Trigger::Focus => "focus",
            Trigger::Resume => "resume",
            Trigger::Manual { .. } => "manual",
            Trigger::Network(_) => "network",
        }
    }
}

/// Which token a program asks for ([`Event::TokenWanted`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum TokenKind {
    /// The session's access token.
    #[default]
    Access,
    /// The session's ID token.
    Id,
    /// An access token for a narrower scope (`--scope`), made by a refresh asking for it.
    Narrowed {
        /// The scopes, sorted, once each, space-separated.
        scope: String,
    },
    /// A token for another audience, made by RFC 8693 token exchange from the access token.
    Exchanged {
        /// The audience.
        audience: String,
        /// The scope asked for the exchanged token.
        scope: Option<String>,
    },
}

impl TokenKind {
    /// The scope of a narrowed token: those are made and kept apart from the session's own tokens.
    pub fn narrowed_scope(&self) -> Option<&str> {
        match self {
            TokenKind::Narrowed { scope } => Some(scope),
            _ => None,
        }
    }
}

/// Something that happened to a session.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The session was read from storage at start: whatever was in flight then did not finish.
    Restored,
    /// The app is quitting: tokens that only memory holds get one more try at the keychain; nothing
    /// else starts, and results of work in flight start nothing either.
    Stopping,
    /// A deadline may have passed; re-evaluate against `now`.
    Tick,
    /// A check or refresh was asked for; nobody waits for its outcome.
    Trigger(Trigger),
    /// A check or refresh was asked for by a caller who waits until what it started has finished
    /// ([`crate::SessionManager::refresh`]); answered with [`super::Effect::Checked`] or a refusal.
    CheckWanted(Trigger),
    /// A program asks for a token (the token helper, D-Bus): hand it out if it lives at least the
    /// lead time and `min_valid`, else refresh first (one rule for every [`TokenKind`]).
    TokenWanted {
        /// Which token.
        token: TokenKind,
        /// How long the caller needs the token to stay valid (oidc-token's `-t`); zero for "now".
        min_valid: TimeDelta,
    },
    /// An access token (or the ID token, or a token made from them) reached a program: `program` is
    /// its executable. Changes nothing but the history.
    HandedOut {
        /// The executable that asked, as the kernel names it.
        program: String,
    },
    /// A sign-in transaction started.
    SignInStarted,
    /// The sign-in was cancelled.
    SignInAbandoned,
    /// Completing the sign-in failed (the code exchange, a check of the answer, the keychain).
    SignInFailed {
        /// Another sign-in began meanwhile and waits for its redirect.
        pending: bool,
    },
    /// A redirect arrived for the sign-in (from the sign-in window or the loopback listener).
    RedirectArrived {
        /// A sign-in waits for its redirect (none is in progress, or its redirect came already).
        pending: bool,
        /// The redirect's `state` is the one of the sign-in waiting.
        ours: bool,
    },
    /// Sign-in completed for this user; the tokens are in the vault. `warning` is a defect of the
    /// provider's answer that was repaired (a lifetime clamped).
    SignedIn {
        /// The tokens' expiry instants.
        times: TokenTimes,
        /// Who signed in.
        user: UserProfile,
        /// Shown to the user until the next success.
        warning: Option<ErrorInfo>,
        /// When the person authenticated at the provider (the ID token's `auth_time`), if it says.
        auth_time: Option<DateTime<Utc>>,
    },
    /// A narrowed refresh made the token for the scope in flight; it expires at `expires_at`. Comes
    /// before the [`Event::RefreshSucceeded`] of the same answer.
    NarrowedTokenMade {
        /// When the narrowed token expires, if the provider said.
        expires_at: Option<DateTime<Utc>>,
    },
    /// A refresh returned new tokens. `warning` is a problem that did not stop it (the refreshed ID
    /// token was dropped).
    RefreshSucceeded {
        /// The new tokens' expiry instants.
        times: TokenTimes,
        /// Shown to the user until the next success.
        warning: Option<ErrorInfo>,
    },
    /// A refresh failed. `jitter` in 0..=1 spreads the retry.
    RefreshFailed {
        /// Why.
        failure: RefreshFailure,
        /// Random number for the backoff's jitter.
        jitter: f64,
    },
    /// The keychain was read again after a refusal (`invalid_grant`, or a first refusal of another
    /// kind): `rotated` when it holds another refresh token than the one refused (another process
    /// refreshed meanwhile).
    Reread {
        /// The keychain's refresh token differs from the refused one.
        rotated: bool,
    },
    /// The keychain accepted the tokens in memory.
    TokensSaved,
    /// The keychain refused the tokens in memory; they are kept and the write is retried.
    TokensNotSaved(ErrorInfo),
    /// The provider's userinfo endpoint accepted the access token and says who it belongs to (an
    /// answer for another user than the signed-in one confirms nothing, OIDC Core 5.3.2).
    Validated(UserProfile),
    /// The userinfo endpoint rejected the access token (401): the grant may be revoked.
    ValidationRejected,
    /// The userinfo check could not be made (network); nothing is concluded.
    ValidationUnavailable,
    /// The user asked to sign out.
    SignOutRequested,
    /// The sign-out could not delete the tokens from the keychain: the session is as it was before.
    SignOutFailed {
        /// The state before the sign-out began.
        previous: Box<SessionState>,
    },
    /// The user signed out; secrets are deleted (the sign-out's keychain deletion went through).
    SignedOut,
    /// The user asked to remove the session: one that holds tokens is signed out first.
    RemoveRequested,
    /// The session's silent sign-in setting was changed.
    SilentSet {
        /// On or off.
        enabled: bool,
    },
    /// A caller asks for a silent sign-in now and waits for its outcome
    /// ([`crate::SessionManager::silent_sign_in`]; answered like a check).
    SilentWanted,
    /// A silent sign-in ended (the tokens of a renewal are in the vault already).
    SilentFinished(SilentResult),
}

/// How a silent sign-in ended, as the machine hears it.
#[derive(Debug, Clone, PartialEq)]
pub enum SilentResult {
    /// New tokens for the session's own user and issuer.
    Renewed {
        /// Their expiry instants.
        times: TokenTimes,
        /// Who (the same subject as before).
        user: UserProfile,
        /// A repaired defect of the answer, shown until the next success.
        warning: Option<ErrorInfo>,
        /// The ID token's `auth_time`, if it says.
        auth_time: Option<DateTime<Utc>>,
    },
    /// The provider's own session has ended (`login_required`, `interaction_required`,
    /// `consent_required`, `account_selection_required`): kind `sign_in_needed`.
    NeedsSignIn(ErrorInfo),
    /// The answer was refused: for another user or issuer, a failed check, or the provider's refusal.
    Refused(ErrorInfo),
    /// It could not be carried out (no redirect in time, the network, no window); `jitter` in 0..=1
    /// spreads the retry.
    Failed {
        /// Why.
        error: ErrorInfo,
        /// Random number for the backoff's jitter.
        jitter: f64,
    },
}

impl Event {
    /// Results of work started before the current phase began.
    pub(crate) fn is_result(&self) -> bool {
        matches!(
            self,
            Event::RefreshSucceeded { .. }
                | Event::NarrowedTokenMade { .. }
                | Event::RefreshFailed { .. }
                | Event::Reread { .. }
                | Event::Validated(_)
                | Event::ValidationRejected
                | Event::ValidationUnavailable
                | Event::SilentFinished(_)
        )
    }
}
