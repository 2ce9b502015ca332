//! What the shell and the page are told about sessions: secret-free snapshots with the answers they
//! need (does the session hold tokens, when does it end and why, can it be extended), so that no
//! reader works them out again from phases.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Serialize;

use super::state::{EndReason, Network, Phase, SessionState, SilentAttempt};
use super::store::SessionRecord;
use crate::error::ErrorInfo;
use crate::names::SessionName;
use crate::oidc::{EndSessionUrl, Revocation};
use crate::policy::Policy;
use crate::provider::SignInWith;
use crate::user::{UserProfile, Who};

/// What the UI may know about a session: no secrets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSnapshot {
    /// The session's name.
    pub id: SessionName,
    /// The provider's display name.
    pub provider_name: String,
    /// The provider's issuer.
    pub issuer: String,
    /// Where the provider's sign-in page is shown (the card says when it waits on the browser).
    pub sign_in_with: SignInWith,
    /// Who is signed in.
    pub user: Option<UserProfile>,
    /// Who is signed in (or was last), by the one display rule.
    pub who: Option<Who>,
    /// The machine's phase: D-Bus's `Phase` property and the logs. Readers that show a session read
    /// [`Self::shown`], [`Self::refreshing`] and [`Self::ending_soon`] instead.
    pub phase: Phase,
    /// What a person is shown: signed out, signing in, signed in or expired.
    pub shown: Shown,
    /// A token request or a silent sign-in is in flight (a refresh button is disabled meanwhile).
    pub refreshing: bool,
    /// Signed in, but it ends within the warning time and cannot be extended (the "expiring" badge
    /// and notice).
    pub ending_soon: bool,
    /// Refreshing has failed [`crate::RefreshPolicy::attention_after_failures`] times in a row, or once
    /// in a way no retry mends (a refused certificate or proxy); never while the desktop is offline.
    pub failing: bool,
    /// The desktop's connectivity (NetworkManager) as it holds for this session: `offline` and `portal`
    /// ("sign in to the network first") are said on the card instead of a failure, and no failure is
    /// counted meanwhile; a refresh that reaches the provider anyway (an intranet provider while
    /// NetworkManager sees no internet) makes it `online` until the desktop's next change.
    pub network: Network,
    /// The person has to act: signed out, expired, or refreshing keeps failing (GOA's `AttentionNeeded`).
    pub needs_attention: bool,
    /// Whether the session holds tokens: signed in, possibly refreshing, expiring or signing in again.
    pub signed_in: bool,
    /// When the session ends unless the user signs in again (see [`Self::end_reason`]).
    pub ends_at: Option<DateTime<Utc>>,
    /// Why it ends then.
    pub end_reason: Option<EndReason>,
    /// Whether a refresh can push the end out (a refresh token is held and refreshing works).
    pub can_extend: bool,
    /// When the access token expires.
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// When the refresh token expires, if the provider says.
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// When the session's lifetime ends.
    pub session_expires_at: Option<DateTime<Utc>>,
    /// When the user signed in.
    pub signed_in_at: Option<DateTime<Utc>>,
    /// The last successful refresh.
    pub last_refresh_at: Option<DateTime<Utc>>,
    /// The next planned refresh.
    pub next_refresh_at: Option<DateTime<Utc>>,
    /// Whether the session can be extended with a refresh token.
    pub has_refresh_token: bool,
    /// Signed in with an online refresh token only: it lasts as long as the person's sign-in at the
    /// provider, not the session's lifetime here ([`crate::TokenTimes::refresh_token_online`]).
    pub refresh_token_online: bool,
    /// Consecutive refresh failures.
    pub consecutive_failures: u32,
    /// The last problem.
    pub last_error: Option<ErrorInfo>,
    /// The last 24 hours, oldest first, for the card's timeline.
    pub history: Vec<super::history::Mark>,
    /// Silent sign-in: the session's setting, whether it can run, an attempt in flight, the last outcome.
    pub silent: SilentSnapshot,
    /// The session ends within [`crate::SessionLifetime::sign_in_again_lead`] and nothing will renew it
    /// silently (a system-browser session, silent sign-in off or not possible, or the provider's session
    /// ended): the shell says once "ends in 1 day: sign in again now", with the Sign in action.
    pub sign_in_again_soon: bool,
}

/// A session's silent sign-in as the page sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SilentSnapshot {
    /// The session's setting (on unless turned off).
    pub enabled: bool,
    /// It can run: embedded sign-in, a silent browser plugged in, on, and the provider's session not
    /// known to have ended.
    pub possible: bool,
    /// An attempt is in flight.
    pub attempting: bool,
    /// The last attempt's outcome.
    pub last: Option<SilentAttempt>,
}

impl SessionSnapshot {
    /// The snapshot of a stored session under `policy`.
    pub fn of(record: &SessionRecord, policy: &Policy) -> Self {
        let state = &record.state;
        let ending = state.ending();
        let shown = Shown::of(state);
        let failing = state.refresh_failing(policy);
        SessionSnapshot {
            id: record.id.clone(),
            provider_name: record.provider.display_name.clone(),
            issuer: record.provider.issuer.to_string(),
            sign_in_with: record.provider.sign_in_with,
            user: state.user.clone(),
            who: state.user.as_ref().map(UserProfile::who),
            phase: state.phase,
            shown,
            refreshing: state.phase == Phase::Refreshing || state.silent.attempting,
            ending_soon: state.phase == Phase::Expiring,
            failing,
            network: state.network,
            needs_attention: failing || matches!(shown, Shown::SignedOut | Shown::Expired),
            signed_in: state.is_signed_in(),
            ends_at: ending.map(|(at, _)| at),
            end_reason: ending.map(|(_, reason)| reason),
            can_extend: state.can_extend(),
            access_token_expires_at: state.tokens.and_then(|t| t.access_token_expires_at),
            refresh_token_expires_at: state.tokens.and_then(|t| t.refresh_token_expires_at),
            session_expires_at: state.session_expires_at,
            signed_in_at: state.signed_in_at,
            last_refresh_at: state.last_refresh_at,
            next_refresh_at: state.next_refresh_at(policy),
            has_refresh_token: state.has_refresh_token(),
            refresh_token_online: state.is_signed_in() && state.has_refresh_token() && state.tokens.is_some_and(|t| t.refresh_token_online),
            consecutive_failures: state.failures,
            last_error: state.last_error.clone(),
            history: state.history.marks().to_vec(),
            silent: SilentSnapshot {
                enabled: state.silent.enabled,
                possible: state.silent.possible(),
                attempting: state.silent.attempting,
                last: state.silent.last.clone(),
            },
            sign_in_again_soon: state.is_signed_in() && state.silent.sign_in_again_soon,
        }
    }
}

/// What a person is shown about a session: the four states every reader distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shown {
    /// No tokens: never signed in, or signed out.
    SignedOut,
    /// A sign-in is in progress (the provider's page is open, in the window or the browser).
    SigningIn,
    /// Tokens are held (possibly refreshing or ending soon).
    SignedIn,
    /// The session ended without the person signing out: sign in again.
    Expired,
}

impl Shown {
    /// What `state` shows.
    pub fn of(state: &SessionState) -> Self {
        match state.phase {
            Phase::SigningIn => Shown::SigningIn,
            Phase::Expired => Shown::Expired,
            _ if state.is_signed_in() => Shown::SignedIn,
            _ => Shown::SignedOut,
        }
    }

    /// The serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Shown::SignedOut => "signed_out",
            Shown::SigningIn => "signing_in",
            Shown::SignedIn => "signed_in",
            Shown::Expired => "expired",
        }
    }
}

/// A fact the shell forwards to the UI.
#[derive(Debug, Clone, PartialEq, Serialize)]
// Nearly every event is `Changed`: a box would cost an allocation on each to save bytes on the rare
// others, and readers match on the snapshot by value.
#[allow(clippy::large_enum_variant)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum SessionEvent {
    /// A session was added or changed.
    Changed {
        /// Its new snapshot.
        session: SessionSnapshot,
    },
    /// A session was removed.
    Removed {
        /// Its name.
        id: String,
    },
    /// Session metadata could not be saved; the sessions go on in memory and the save is retried.
    StorageFailed {
        /// What went wrong.
        error: ErrorInfo,
    },
    /// Session metadata is saved again after a [`SessionEvent::StorageFailed`].
    StorageSaved,
}

/// A token handed to another program by [`crate::SessionManager::hand_out`].
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The session it belongs to.
    pub session: String,
    /// The token (redacted in `Debug`).
    pub token: SecretString,
    /// When it expires, if the provider said.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What another program asks for: by default the session's own access token, valid now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenRequest {
    /// Refresh first unless the access token stays valid at least this long (oidc-token's `-t`).
    /// A provider that issues shorter tokens gets what it issues; the expiry says so.
    pub min_valid: std::time::Duration,
    /// The ID token instead of the access token.
    pub id_token: bool,
    /// A token for this audience, made by RFC 8693 token exchange from the access token.
    pub audience: Option<String>,
    /// With `audience`: the scope asked for the exchanged token.
    pub scope: Option<String>,
    /// The executable that asks, recorded in the session's history.
    pub program: String,
}

/// What signing out did.
#[derive(Debug)]
pub struct SignOutOutcome {
    /// The session, now signed out.
    pub session: SessionSnapshot,
    /// What was revoked at the provider.
    pub revocation: Revocation,
    /// Open this in the sign-in window to end the provider's own session (it carries the ID token).
    pub end_session_url: Option<EndSessionUrl>,
}
