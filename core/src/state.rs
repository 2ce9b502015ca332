//! The session state machine. Every transition of every session happens in [`transition`], a pure
//! function of (state, event, now, policy) that returns the new state and the effects the scheduler
//! must run. No I/O, no clock, no randomness: jitter arrives inside the event.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ErrorInfo, ErrorKind};
use crate::policy::Policy;

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// Expiry instants of a token set, measured from when the token response arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenTimes {
    /// When the access token expires (`None` if the provider did not say).
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// When the refresh token expires, if the provider reports it (`refresh_expires_in`).
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// Whether a refresh token is held.
    pub has_refresh_token: bool,
}

/// The non-secret state of one session. Persisted as is; holds no token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionState {
    /// Current phase.
    pub phase: Phase,
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
    fn is_user_activity(self) -> bool {
        matches!(self, Trigger::Focus | Trigger::Manual { .. })
    }
}

/// Why a refresh failed.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshFailure {
    /// Network, timeout, 5xx, keychain busy: retry with backoff, keep the session.
    Transient(ErrorInfo),
    /// `invalid_grant` after re-reading the vault: the session is over.
    Revoked(ErrorInfo),
    /// The provider refused for another reason (client misconfigured): keep the tokens, retry slowly.
    Rejected(ErrorInfo),
}

/// Something that happened to a session.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A deadline may have passed; re-evaluate against `now`.
    Tick,
    /// A check or refresh was asked for.
    Trigger(Trigger),
    /// A sign-in transaction started.
    SignInStarted,
    /// The sign-in was cancelled or failed.
    SignInAbandoned,
    /// Sign-in completed; the tokens are in the vault.
    SignedIn(TokenTimes),
    /// A refresh returned new tokens. `warning` is a problem that did not stop it (the keychain has not
    /// accepted them yet, or the refreshed ID token was dropped).
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
    /// The provider's userinfo endpoint accepted the access token.
    Validated,
    /// The userinfo endpoint rejected the access token (401): the grant may be revoked.
    ValidationRejected,
    /// The userinfo check could not be made (network); nothing is concluded.
    ValidationUnavailable,
    /// The user signed out; secrets are deleted.
    SignedOut,
}

/// I/O the scheduler must perform after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Call the token endpoint with the refresh token.
    Refresh,
    /// Ask the userinfo endpoint whether the access token still stands.
    Validate,
    /// Delete the session's tokens from the vault; `revoke` first revokes them at the provider.
    Discard {
        /// Revoke at the provider before deleting (the tokens may still be valid there).
        revoke: bool,
    },
}

impl SessionState {
    /// A session with no tokens.
    pub fn signed_out() -> Self {
        Self {
            phase: Phase::SignedOut,
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
        }
    }

    /// Whether the session holds tokens (it may still be expiring).
    pub fn is_signed_in(&self) -> bool {
        matches!(self.phase, Phase::Active | Phase::Refreshing | Phase::Expiring)
            || (self.phase == Phase::SigningIn
                && matches!(self.resume_phase, Some(Phase::Active | Phase::Expiring)))
    }

    fn has_refresh_token(&self) -> bool {
        self.tokens.is_some_and(|t| t.has_refresh_token)
    }

    fn access_expires_at(&self) -> Option<DateTime<Utc>> {
        self.tokens.and_then(|t| t.access_token_expires_at)
    }

    /// How long before the access token's expiry to refresh: the configured lead time, but never
    /// more than half the token's life. A provider that issues 60-second tokens with the default
    /// 60-second lead time would otherwise be asked again the moment each refresh lands.
    fn refresh_lead(&self, policy: &Policy) -> TimeDelta {
        let lead = delta(policy.refresh.lead_time);
        let issued = self.last_refresh_at.max(self.signed_in_at);
        match (issued, self.access_expires_at()) {
            (Some(issued), Some(expires)) if expires > issued => lead.min((expires - issued) / 2),
            _ => lead,
        }
    }

    /// When the next refresh is planned, for display.
    pub fn next_refresh_at(&self, policy: &Policy) -> Option<DateTime<Utc>> {
        if !matches!(self.phase, Phase::Active | Phase::Expiring) || !self.has_refresh_token() {
            return None;
        }
        if self.failures > 0 {
            return self.retry_at;
        }
        self.access_expires_at().map(|at| at - self.refresh_lead(policy))
    }

    /// The earliest future instant at which [`Event::Tick`] could change this state.
    pub fn next_deadline(&self, now: DateTime<Utc>, policy: &Policy) -> Option<DateTime<Utc>> {
        if !matches!(self.phase, Phase::Active | Phase::Expiring) {
            return None;
        }
        let warning = delta(policy.refresh.expiry_warning);
        let lead = self.refresh_lead(policy);
        let mut candidates = Vec::with_capacity(5);
        if let Some(end) = self.session_expires_at {
            candidates.extend([end, end - warning]);
        }
        if let Some(at) = self.access_expires_at() {
            if self.has_refresh_token() {
                candidates.push(at - lead);
            } else {
                candidates.extend([at, at - warning]);
            }
        }
        if self.failures > 0 {
            candidates.extend(self.retry_at);
        }
        candidates.into_iter().filter(|instant| *instant > now).min()
    }
}

fn delta(duration: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

fn info(kind: ErrorKind, message: &str) -> ErrorInfo {
    ErrorInfo { kind, message: message.to_owned() }
}

/// The one place where sessions change state.
pub fn transition(
    state: &SessionState,
    event: &Event,
    now: DateTime<Utc>,
    policy: &Policy,
) -> (SessionState, Vec<Effect>) {
    if state.phase == Phase::SigningIn && event.is_result() {
        return during_sign_in(state, event, now, policy);
    }
    let mut next = state.clone();
    let mut effects = Vec::new();
    match event {
        Event::Tick => return evaluate(next, now, policy),
        Event::Trigger(trigger) => {
            if !matches!(state.phase, Phase::Active | Phase::Expiring) {
                // Refreshing: the request in flight answers this trigger too (coalescing).
                // Signed out, expired or signing in: there is nothing to refresh.
                return (next, effects);
            }
            if trigger.is_user_activity() {
                slide_lifetime(&mut next, now, policy);
            }
            let wants_refresh_now = match trigger {
                Trigger::Manual { force: true } => true,
                // A person is looking: retry a failing refresh now rather than after the backoff.
                Trigger::Focus | Trigger::Manual { force: false } => next.failures > 0,
                Trigger::Interval | Trigger::Resume => false,
            };
            if wants_refresh_now && next.has_refresh_token() {
                next.phase = Phase::Refreshing;
                return (next, vec![Effect::Refresh]);
            }
            let (evaluated, evaluated_effects) = evaluate(next, now, policy);
            next = evaluated;
            effects = evaluated_effects;
            let validation_due = next
                .last_validated_at
                .is_none_or(|at| now - at >= delta(policy.refresh.validation_max_age));
            if effects.is_empty()
                && matches!(next.phase, Phase::Active | Phase::Expiring)
                && !next.validating
                && validation_due
            {
                next.validating = true;
                effects.push(Effect::Validate);
            }
        }
        Event::SignInStarted => {
            if state.phase != Phase::SigningIn {
                // A refresh in flight finishes under the sign-in (see `during_sign_in`).
                let resume = if state.phase == Phase::Refreshing { Phase::Active } else { state.phase };
                next.resume_phase = Some(resume);
            }
            next.phase = Phase::SigningIn;
        }
        Event::SignInAbandoned => {
            if state.phase == Phase::SigningIn {
                next.phase = state.resume_phase.unwrap_or(Phase::SignedOut);
                next.resume_phase = None;
                return evaluate(next, now, policy);
            }
        }
        Event::SignedIn(times) => {
            next = SessionState::signed_out();
            next.phase = Phase::Active;
            next.tokens = Some(*times);
            next.signed_in_at = Some(now);
            next.session_extended_at = Some(now);
            next.session_expires_at = Some(cap(now + delta(policy.lifetime.expires_in), times));
            next.last_validated_at = Some(now);
            return evaluate(next, now, policy);
        }
        Event::RefreshSucceeded { times, warning } => {
            if !state.is_signed_in() {
                return (next, effects);
            }
            next.phase = Phase::Active;
            next.tokens = Some(*times);
            next.session_expires_at = state.session_expires_at.map(|end| cap(end, times));
            next.last_refresh_at = Some(now);
            next.last_validated_at = Some(now);
            next.failures = 0;
            next.retry_at = None;
            next.last_error = warning.clone();
            return evaluate(next, now, policy);
        }
        Event::RefreshFailed { failure, jitter } => {
            if !state.is_signed_in() {
                return (next, effects);
            }
            match failure {
                RefreshFailure::Revoked(error) => {
                    next = expired(state, error.clone());
                    effects.push(Effect::Discard { revoke: false });
                }
                RefreshFailure::Transient(error) | RefreshFailure::Rejected(error) => {
                    next.phase = Phase::Active;
                    next.failures = state.failures.saturating_add(1);
                    let wait = match failure {
                        RefreshFailure::Rejected(_) => policy.refresh.retry_max_delay,
                        _ => policy.refresh.retry_delay(next.failures, *jitter),
                    };
                    next.retry_at = Some(now + delta(wait));
                    next.last_error = Some(error.clone());
                    return evaluate(next, now, policy);
                }
            }
        }
        Event::Validated => {
            next.validating = false;
            next.last_validated_at = Some(now);
        }
        Event::ValidationUnavailable => {
            next.validating = false;
            // Count the attempt so that an outage is not polled every second; refresh handles outages.
            next.last_validated_at = Some(now);
        }
        Event::ValidationRejected => {
            next.validating = false;
            if !matches!(state.phase, Phase::Active | Phase::Expiring) {
                return (next, effects);
            }
            if next.has_refresh_token() {
                // The token endpoint has the last word: a revoked grant answers invalid_grant there.
                next.phase = Phase::Refreshing;
                effects.push(Effect::Refresh);
            } else {
                next = expired(
                    state,
                    info(ErrorKind::SessionRevoked, "The provider no longer accepts this session: sign in again."),
                );
                effects.push(Effect::Discard { revoke: false });
            }
        }
        Event::SignedOut => next = SessionState::signed_out(),
    }
    (next, effects)
}

impl Event {
    /// Results of work started before the current phase began.
    fn is_result(&self) -> bool {
        matches!(
            self,
            Event::RefreshSucceeded { .. }
                | Event::RefreshFailed { .. }
                | Event::Validated
                | Event::ValidationRejected
                | Event::ValidationUnavailable
        )
    }
}

/// A refresh or check that finishes while the user signs in again updates the session underneath;
/// the sign-in stays in front, and no new refresh starts until it ends.
fn during_sign_in(state: &SessionState, event: &Event, now: DateTime<Utc>, policy: &Policy) -> (SessionState, Vec<Effect>) {
    let mut underneath = state.clone();
    underneath.phase = state.resume_phase.unwrap_or(Phase::SignedOut);
    underneath.resume_phase = None;
    let (mut next, effects) = transition(&underneath, event, now, policy);
    next.resume_phase = Some(if next.phase == Phase::Refreshing { Phase::Active } else { next.phase });
    next.validating = false;
    next.phase = Phase::SigningIn;
    (next, effects.into_iter().filter(|effect| matches!(effect, Effect::Discard { .. })).collect())
}

/// Applies deadlines that have passed.
fn evaluate(mut next: SessionState, now: DateTime<Utc>, policy: &Policy) -> (SessionState, Vec<Effect>) {
    if !matches!(next.phase, Phase::Active | Phase::Expiring) {
        return (next, Vec::new());
    }
    let warning = delta(policy.refresh.expiry_warning);
    let lead = next.refresh_lead(policy);
    let access_expires_at = next.access_expires_at();
    if let Some(end) = next.session_expires_at
        && now >= end
    {
        let revoke = next.has_refresh_token();
        let error = info(ErrorKind::SessionRevoked, "The session reached the end of its lifetime: sign in again.");
        return (expired(&next, error), vec![Effect::Discard { revoke }]);
    }
    let lifetime_ending = next.session_expires_at.is_some_and(|end| now >= end - warning);
    let access_within_lead = access_expires_at.is_some_and(|at| now >= at - lead);
    if next.has_refresh_token() {
        let due = if next.failures > 0 {
            next.retry_at.is_none_or(|retry| now >= retry)
        } else {
            access_within_lead
        };
        if due {
            next.phase = Phase::Refreshing;
            return (next, vec![Effect::Refresh]);
        }
        let failing_near_expiry = next.failures > 0 && access_within_lead;
        next.phase = if failing_near_expiry || lifetime_ending { Phase::Expiring } else { Phase::Active };
    } else {
        if access_expires_at.is_some_and(|at| now >= at) {
            let error = info(
                ErrorKind::SessionRevoked,
                "The access token expired and the provider gave no refresh token: sign in again.",
            );
            return (expired(&next, error), vec![Effect::Discard { revoke: false }]);
        }
        let access_ending = access_expires_at.is_some_and(|at| now >= at - warning);
        next.phase = if access_ending || lifetime_ending { Phase::Expiring } else { Phase::Active };
    }
    (next, Vec::new())
}

/// User activity pushes the session's end out, at most once per `update_age`.
fn slide_lifetime(next: &mut SessionState, now: DateTime<Utc>, policy: &Policy) {
    let due = next.session_extended_at.is_none_or(|at| now - at >= delta(policy.lifetime.update_age));
    if !due {
        return;
    }
    let extended = now + delta(policy.lifetime.expires_in);
    next.session_expires_at = Some(match next.tokens {
        Some(times) => cap(extended, &times),
        None => extended,
    });
    next.session_extended_at = Some(now);
}

fn cap(end: DateTime<Utc>, times: &TokenTimes) -> DateTime<Utc> {
    times.refresh_token_expires_at.map_or(end, |refresh_end| end.min(refresh_end))
}

fn expired(state: &SessionState, error: ErrorInfo) -> SessionState {
    SessionState {
        phase: Phase::Expired,
        tokens: None,
        failures: 0,
        retry_at: None,
        validating: false,
        last_error: Some(error),
        resume_phase: None,
        ..state.clone()
    }
}

#[cfg(test)]
mod tests;
