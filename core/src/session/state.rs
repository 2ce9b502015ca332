//! What a session's state holds, and the questions the shell and the page ask of a state (does it
//! hold tokens, when does it end and why, can it be extended), answered here, once. What can happen
//! to a session is in `event.rs`, what the machine asks the actor to do in `effect.rs`, and the
//! transitions themselves in `machine.rs`.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

pub use super::effect::{Effect, Refusal, Waiter};
pub use super::event::{Event, Network, SilentResult, TokenKind, Trigger};
pub use super::narrowing::Narrowing;
pub use super::silent_state::{Silent, SilentAttempt, SilentOutcome};
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

impl Phase {
    /// The serialized name (`signed_out`, `signing_in`, `active`, `refreshing`, `expiring`, `expired`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::SignedOut => "signed_out",
            Phase::SigningIn => "signing_in",
            Phase::Active => "active",
            Phase::Refreshing => "refreshing",
            Phase::Expiring => "expiring",
            Phase::Expired => "expired",
        }
    }
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
    /// next try is at `retry_at` (`KEYCHAIN_RETRY`, 5 s, after the refusal): a keychain that refuses at
    /// once (locked) must not be asked again in a loop.
    Unsaved {
        /// When to write again.
        retry_at: DateTime<Utc>,
    },
    /// A retry of the write is in flight.
    Saving,
}

impl KeychainCopy {
    /// A name for logs (`saved`, `unsaved`, `saving`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeychainCopy::Saved => "saved",
            KeychainCopy::Unsaved { .. } => "unsaved",
            KeychainCopy::Saving => "saving",
        }
    }
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

impl EndReason {
    /// The serialized name (`lifetime`, `refreshTokenExpires`, `noRefreshToken`, `refreshFailing`).
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Lifetime => "lifetime",
            EndReason::RefreshTokenExpires => "refreshTokenExpires",
            EndReason::NoRefreshToken => "noRefreshToken",
            EndReason::RefreshFailing => "refreshFailing",
        }
    }
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
    /// When the userinfo endpoint last answered for another user (OIDC Core 5.3.2): that answer
    /// confirmed nothing, the card says so until an answer for this user comes, and the next check
    /// is `validationMaxAge` after this (refreshes in between do not put it off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_mismatch_at: Option<DateTime<Utc>>,
    /// Consecutive failed refresh attempts.
    pub failures: u32,
    /// When the next retry is due after a failure (counted, or not counted because the desktop was
    /// offline: then the refresh is held until this instant or the network's return).
    pub retry_at: Option<DateTime<Utc>>,
    /// The desktop's connectivity ([`Trigger::Network`]), the same for every session, except that a
    /// refresh that reaches its provider while the desktop says offline makes this session online.
    #[serde(skip)]
    pub network: Network,
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
    /// A caller waits until the check it asked for has finished ([`Event::CheckWanted`]).
    #[serde(skip)]
    pub check_waiting: bool,
    /// Why the refresh a waiting check started failed: the check's answer.
    #[serde(skip)]
    pub check_failure: Option<ErrorInfo>,
    /// Narrower tokens for other programs: who waits for which scope, the one in flight, those made.
    #[serde(skip)]
    pub narrowing: Narrowing,
    /// The app is quitting ([`Event::Stopping`]): no refresh, check or re-read starts.
    #[serde(skip)]
    pub stopping: bool,
    /// The refresh in flight was refused (`invalid_grant` or another refusal, this error), and the
    /// keychain is read again in case another process rotated the refresh token meanwhile.
    #[serde(skip)]
    pub refused: Option<ErrorInfo>,
    /// The provider refused this session's refresh token once with another error than
    /// `invalid_grant` ([`RefreshFailure::Rejected`], this error) and the keychain was read again: a
    /// second such refusal ends the session. Cleared by a refresh that succeeds.
    #[serde(skip)]
    pub rejected: Option<ErrorInfo>,
    /// Silent sign-in (`prompt=none`): its setting, whether it can run, the attempt in flight, the last outcome.
    #[serde(default)]
    pub silent: Silent,
}

impl Default for SessionState {
    fn default() -> Self {
        Self::signed_out()
    }
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
            userinfo_mismatch_at: None,
            failures: 0,
            retry_at: None,
            network: Network::Online,
            validating: false,
            last_error: None,
            resume_phase: None,
            history: super::history::History::default(),
            generation: 0,
            keychain: KeychainCopy::Saved,
            sign_out_waiting: false,
            hand_out_waiting: false,
            check_waiting: false,
            check_failure: None,
            narrowing: Narrowing::default(),
            stopping: false,
            refused: None,
            rejected: None,
            silent: Silent::default(),
        }
    }

    /// Whether the session holds tokens (it may still be expiring, refreshing, or signing in again).
    pub fn is_signed_in(&self) -> bool {
        matches!(self.phase, Phase::Active | Phase::Refreshing | Phase::Expiring)
            || (self.phase == Phase::SigningIn && matches!(self.resume_phase, Some(Phase::Active | Phase::Expiring)))
    }

    /// Whether the machine waits for work in flight (a refresh, a keychain re-read or a check).
    pub fn is_busy(&self) -> bool {
        self.phase == Phase::Refreshing || self.validating || self.silent.attempting
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
        // First, so that a lifetime capped at the refresh token's end (the same instant) is said as
        // the refresh token's end: the truthful reason.
        if self.has_refresh_token() {
            candidates.extend(self.tokens.and_then(|t| t.refresh_token_expires_at).map(|at| (at, EndReason::RefreshTokenExpires)));
        }
        candidates.extend(self.session_expires_at.map(|at| (at, EndReason::Lifetime)));
        if self.has_refresh_token() {
            if self.failures > 0 {
                candidates.extend(self.access_expires_at().map(|at| (at, EndReason::RefreshFailing)));
            }
        } else {
            candidates.extend(self.access_expires_at().map(|at| (at, EndReason::NoRefreshToken)));
        }
        candidates.into_iter().min_by_key(|(at, _)| *at)
    }

    /// Whether refreshing fails in a way the person must hear of: `attention_after_failures` in a row,
    /// or once for a failure no retry mends (a refused certificate or proxy, [`needs_the_person`]).
    /// Never while the desktop is offline or behind a captive portal: the card names that instead.
    pub fn refresh_failing(&self, policy: &Policy) -> bool {
        let at_once = self.last_error.as_ref().is_some_and(|error| needs_the_person(error.kind));
        self.is_signed_in()
            && self.network == Network::Online
            && self.failures > 0
            && (self.failures >= policy.refresh.attention_after_failures || at_once)
    }

    /// Whether a refresh can push the session's end out: it holds a refresh token and refreshing works.
    pub fn can_extend(&self) -> bool {
        self.is_signed_in() && self.has_refresh_token() && self.failures == 0
    }

    /// Whether the session's access token is [`fresh_enough`] to hand out as it is.
    pub(crate) fn access_token_fresh_enough(&self, now: DateTime<Utc>, min_valid: TimeDelta, policy: &Policy) -> bool {
        fresh_enough(self.last_refresh_at.max(self.signed_in_at), self.access_expires_at(), now, min_valid, policy)
    }

    /// Whether the access token has not expired yet.
    pub(crate) fn access_token_valid(&self, now: DateTime<Utc>) -> bool {
        self.access_expires_at().is_none_or(|at| now < at)
    }
}

/// How long before a token's expiry it counts as due: the configured lead time, but never more than
/// half the token's life (`issued` to `expires`). A provider that issues 60-second tokens with the
/// default 60-second lead time would otherwise be asked again the moment each refresh lands.
pub(crate) fn lead_for(issued: Option<DateTime<Utc>>, expires: Option<DateTime<Utc>>, policy: &Policy) -> TimeDelta {
    let lead = delta(policy.refresh.lead_time);
    match (issued, expires) {
        (Some(issued), Some(expires)) if expires > issued => lead.min((expires - issued) / 2),
        _ => lead,
    }
}

/// The one "fresh enough" rule for every token handed to a program (the session's access or ID
/// token, one exchanged from it, or a narrowed one): it outlives both its lead time ([`lead_for`])
/// and the caller's `min_valid`. A token without an expiry is always fresh.
pub(crate) fn fresh_enough(
    issued: Option<DateTime<Utc>>,
    expires: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    min_valid: TimeDelta,
    policy: &Policy,
) -> bool {
    let lead = lead_for(issued, expires, policy);
    expires.is_none_or(|at| now < at - lead.max(min_valid))
}

/// A refresh failure that waiting does not mend: the person (or an administrator) must act, so the
/// session needs attention on the first one and is retried only after the longest backoff.
pub(crate) fn needs_the_person(kind: crate::error::ErrorKind) -> bool {
    matches!(kind, crate::error::ErrorKind::CertificateRejected | crate::error::ErrorKind::ProxyRefused)
}

pub(crate) fn delta(duration: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}
