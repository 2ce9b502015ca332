//! The vocabulary of the state machine: what a session's state holds, what can happen to it
//! ([`Event`]) and what the machine asks the actor to do ([`Effect`]). The transitions themselves are
//! in `machine.rs`; the questions the shell and the page ask of a state (does it hold tokens, when
//! does it end and why, can it be extended) are answered here, once.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ErrorInfo;
pub use crate::oidc::{RefreshFailure, TokenTimes};
use crate::policy::Policy;
use crate::user::UserProfile;

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No tokens; the user signed out or never signed in.
    SignedOut,
    /// A sign-in is in progress.
    SigningIn,
    /// Signed in, tokens valid or refreshable.
    Active,
    /// A token request is in flight.
    Refreshing,
    /// Still signed in, but the session cannot be extended much longer: no refresh token, refresh
    /// failing, or the session's lifetime ending, and expiry near.
    Expiring,
    /// The session ended without the user signing out (lifetime over, grant revoked, token lapsed).
    Expired,
}

/// How long after the keychain refused rotated tokens the write is tried again.
pub const KEYCHAIN_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// Where the tokens in memory stand with the keychain (the write-through of rotated tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeychainCopy {
    /// The keychain holds the tokens in memory (or there are none).
    #[default]
    Saved,
    /// The keychain refused the last tokens; they live only in memory until a retry succeeds. The
    /// next try is at `retry_at` ([`KEYCHAIN_RETRY`] after the refusal): a keychain that refuses at
    /// once (locked) must not be asked again in a loop.
    Unsaved {
        /// When to write again.
        retry_at: DateTime<Utc>,
    },
    /// A retry of the write is in flight.
    Saving,
}

/// Why a signed-in session will end unless the user signs in again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EndReason {
    /// The session's own lifetime (`expiresIn`, sliding with `updateAge`) runs out.
    Lifetime,
    /// The provider said when its refresh token expires.
    RefreshTokenExpires,
    /// The provider gave no refresh token: the session ends with the access token.
    NoRefreshToken,
    /// Refreshing keeps failing: without a success, the session ends with the access token.
    RefreshFailing,
}

/// The non-secret state of one session. Persisted as is; holds no token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionState {
    /// Current phase.
    pub phase: Phase,
    /// Who is (or was last) signed in: claims from the ID token and userinfo. Not secret.
    #[serde(default)]
    pub user: Option<UserProfile>,
    /// Expiry instants of the current tokens.
    pub tokens: Option<TokenTimes>,
    /// When the user signed in.
    pub signed_in_at: Option<DateTime<Utc>>,
    /// When the session itself ends (sliding lifetime, capped by the refresh token's expiry).
    pub session_expires_at: Option<DateTime<Utc>>,
    /// When the lifetime was last extended.
    pub session_extended_at: Option<DateTime<Utc>>,
    /// When tokens were last refreshed.
    pub last_refresh_at: Option<DateTime<Utc>>,
    /// When the provider last confirmed the session (sign-in, refresh or userinfo).
    pub last_validated_at: Option<DateTime<Utc>>,
    /// Consecutive failed refresh attempts.
    pub failures: u32,
    /// When the next retry is due after a failure.
    pub retry_at: Option<DateTime<Utc>>,
    /// A userinfo check is in flight.
    #[serde(skip)]
    pub validating: bool,
    /// The last problem, for the UI.
    pub last_error: Option<ErrorInfo>,
    /// The phase to return to if the sign-in in progress is abandoned.
    pub resume_phase: Option<Phase>,
    /// The last 24 hours, for the card's timeline (no secrets; kept in the session file).
    #[serde(default)]
    pub history: super::history::History,
    /// Bumped whenever the tokens are replaced or removed by a sign-in or a sign-out: results of work
    /// started before are stale, and the actor drops them.
    #[serde(skip)]
    pub generation: u64,
    /// Where the tokens in memory stand with the keychain.
    #[serde(skip)]
    pub keychain: KeychainCopy,
    /// A sign-out waits for the refresh in flight (its answer may rotate the refresh token, which
    /// must then be the one revoked).
    #[serde(skip)]
    pub sign_out_waiting: bool,
    /// A program waits for an access token until the refresh in flight ends.
    #[serde(skip)]
    pub hand_out_waiting: bool,
    /// The refresh in flight was refused with `invalid_grant` (this error), and the keychain is read
    /// again in case another process rotated the refresh token meanwhile.
    #[serde(skip)]
    pub refused: Option<ErrorInfo>,
}

impl Default for SessionState {
    fn default() -> Self {
        Self::signed_out()
    }
}

/// What asked for a session check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The periodic check (`enable_periodically`).
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
}

impl Trigger {
    /// Triggers that show the user is there extend the session's sliding lifetime.
    pub(crate) fn is_user_activity(self) -> bool {
        matches!(self, Trigger::Focus | Trigger::Manual { .. })
    }
}

/// Something that happened to a session.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The session was read from storage at start: whatever was in flight then did not finish.
    Restored,
    /// The app is quitting: tokens that only memory holds get one more try at the keychain; nothing
    /// else starts.
    Stopping,
    /// A deadline may have passed; re-evaluate against `now`.
    Tick,
    /// A check or refresh was asked for.
    Trigger(Trigger),
    /// A program asks for the access token (the token helper, D-Bus): hand it out if it lives at
    /// least the lead time and `min_valid`, else refresh first.
    TokenWanted {
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
    /// The sign-in was cancelled or failed.
    SignInAbandoned,
    /// Sign-in completed for this user; the tokens are in the vault. `warning` is a defect of the
    /// provider's answer that was repaired (a lifetime clamped).
    SignedIn {
        /// The tokens' expiry instants.
        times: TokenTimes,
        /// Who signed in.
        user: UserProfile,
        /// Shown to the user until the next success.
        warning: Option<ErrorInfo>,
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
    /// The keychain was read again after `invalid_grant`: `rotated` when it holds another refresh
    /// token than the one refused (another process refreshed meanwhile).
    Reread {
        /// The keychain's refresh token differs from the refused one.
        rotated: bool,
    },
    /// The keychain accepted the tokens in memory.
    TokensSaved,
    /// The keychain refused the tokens in memory; they are kept and the write is retried.
    TokensNotSaved(ErrorInfo),
    /// The provider's userinfo endpoint accepted the access token and says who it belongs to.
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
    /// The user signed out; secrets are deleted.
    SignedOut,
}

/// Why the machine refuses what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The session holds no tokens.
    NotSignedIn,
    /// The session's tokens cannot be used, for this reason.
    Failed(ErrorInfo),
}

/// I/O the actor must perform after a transition.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Call the token endpoint with the refresh token.
    Refresh,
    /// Read the tokens from the keychain again (after `invalid_grant`) and report [`Event::Reread`].
    Reread,
    /// Ask the userinfo endpoint whether the access token still stands.
    Validate,
    /// Write the tokens in memory to the keychain again.
    SaveTokens,
    /// Delete the session's tokens from the vault; `revoke` first revokes them at the provider.
    Discard {
        /// Revoke at the provider before deleting (the tokens may still be valid there).
        revoke: bool,
    },
    /// Sign out: drop the pending sign-in, revoke the tokens held before this transition, delete them
    /// from the keychain and end the provider's session. `previous` is the state to go back to if the
    /// keychain cannot delete them ([`Event::SignOutFailed`]).
    SignOut {
        /// The state just before the sign-out.
        previous: Box<SessionState>,
    },
    /// Give the access token to the programs that asked for it.
    HandOut,
    /// Answer everyone waiting on the session (for a refresh, a token or a sign-out) with this refusal.
    Refuse(Refusal),
}

impl SessionState {
    /// A session with no tokens.
    pub fn signed_out() -> Self {
        Self {
            phase: Phase::SignedOut,
            user: None,
            tokens: None,
            signed_in_at: None,
            session_expires_at: None,
            session_extended_at: None,
            last_refresh_at: None,
            last_validated_at: None,
            failures: 0,
            retry_at: None,
            validating: false,
            last_error: None,
            resume_phase: None,
            history: super::history::History::default(),
            generation: 0,
            keychain: KeychainCopy::Saved,
            sign_out_waiting: false,
            hand_out_waiting: false,
            refused: None,
        }
    }

    /// Whether the session holds tokens (it may still be expiring, refreshing, or signing in again).
    pub fn is_signed_in(&self) -> bool {
        matches!(self.phase, Phase::Active | Phase::Refreshing | Phase::Expiring)
            || (self.phase == Phase::SigningIn && matches!(self.resume_phase, Some(Phase::Active | Phase::Expiring)))
    }

    /// Whether the machine waits for work in flight (a refresh, a keychain re-read or a check).
    pub fn is_busy(&self) -> bool {
        self.phase == Phase::Refreshing || self.validating
    }

    pub(crate) fn has_refresh_token(&self) -> bool {
        self.tokens.is_some_and(|t| t.has_refresh_token)
    }

    pub(crate) fn access_expires_at(&self) -> Option<DateTime<Utc>> {
        self.tokens.and_then(|t| t.access_token_expires_at)
    }

    /// When the session ends unless the user signs in again, and why: the earliest of its lifetime,
    /// the refresh token's expiry, and (without a refresh token, or while refreshing fails) the access
    /// token's expiry. `None` when it holds no tokens or nothing ends it.
    pub fn ending(&self) -> Option<(DateTime<Utc>, EndReason)> {
        if !self.is_signed_in() {
            return None;
        }
        let mut candidates = Vec::with_capacity(3);
        candidates.extend(self.session_expires_at.map(|at| (at, EndReason::Lifetime)));
        if self.has_refresh_token() {
            candidates.extend(self.tokens.and_then(|t| t.refresh_token_expires_at).map(|at| (at, EndReason::RefreshTokenExpires)));
            if self.failures > 0 {
                candidates.extend(self.access_expires_at().map(|at| (at, EndReason::RefreshFailing)));
            }
        } else {
            candidates.extend(self.access_expires_at().map(|at| (at, EndReason::NoRefreshToken)));
        }
        candidates.into_iter().min_by_key(|(at, _)| *at)
    }

    /// Whether a refresh can push the session's end out: it holds a refresh token and refreshing works.
    pub fn can_extend(&self) -> bool {
        self.is_signed_in() && self.has_refresh_token() && self.failures == 0
    }

    /// Whether the access token lives longer than the lead time, so it can be handed out as it is.
    pub(crate) fn access_token_fresh(&self, now: DateTime<Utc>, policy: &Policy) -> bool {
        self.access_token_lasts(now, self.refresh_lead(policy))
    }

    /// Whether the access token is valid for at least `span` more.
    pub(crate) fn access_token_lasts(&self, now: DateTime<Utc>, span: TimeDelta) -> bool {
        self.access_expires_at().is_none_or(|at| now < at - span)
    }

    /// Whether the access token has not expired yet.
    pub(crate) fn access_token_valid(&self, now: DateTime<Utc>) -> bool {
        self.access_expires_at().is_none_or(|at| now < at)
    }
}

pub(crate) fn delta(duration: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}
