//! The session state machine. Every decision about a session is made in [`transition`], a pure
//! function of (state, event, now, policy) that returns the new state and the effects the actor must
//! run. No I/O, no clock, no randomness: jitter arrives inside the event.

use chrono::{DateTime, TimeDelta, Utc};

use super::state::{Effect, Event, KEYCHAIN_RETRY, KeychainCopy, Phase, RefreshFailure, Refusal, SessionState, Trigger, delta};
use crate::error::{ErrorInfo, ErrorKind};
use crate::policy::Policy;

fn info(kind: ErrorKind, message: &str) -> ErrorInfo {
    ErrorInfo { kind, message: message.to_owned() }
}

/// The message of a session the provider no longer accepts (`invalid_grant`, or a rejected access
/// token without a refresh token to confirm it with).
pub const REVOKED_MESSAGE: &str = "The provider no longer accepts this session: sign in again.";

/// The one place where sessions change state.
pub fn transition(state: &SessionState, event: &Event, now: DateTime<Utc>, policy: &Policy) -> (SessionState, Vec<Effect>) {
    let (mut next, effects) = if state.phase == Phase::SigningIn && event.is_result() {
        during_sign_in(state, event, now, policy)
    } else {
        let (next, effects) = decide(state, event, now, policy);
        resolve_waits(next, effects, event, now, policy)
    };
    // The history goes on through sign-ins and sign-outs (which start from a fresh state).
    let mut history = state.history.clone();
    for mark in marks::marks(state, &next, event, &effects, now) {
        history.record(mark);
    }
    next.history = history;
    (next, effects)
}

fn decide(state: &SessionState, event: &Event, now: DateTime<Utc>, policy: &Policy) -> (SessionState, Vec<Effect>) {
    let mut next = state.clone();
    match event {
        Event::Restored => (restored(next), Vec::new()),
        Event::Stopping => {
            if matches!(next.keychain, KeychainCopy::Unsaved { .. }) && next.is_signed_in() {
                next.keychain = KeychainCopy::Saving;
                return (next, vec![Effect::SaveTokens]);
            }
            (next, Vec::new())
        }
        Event::Tick => {
            let (mut next, mut effects) = evaluate(next, now, policy);
            // Rotated tokens the keychain refused are written again at every look at the clock.
            if matches!(next.keychain, KeychainCopy::Unsaved { retry_at } if retry_at <= now)
                && matches!(next.phase, Phase::Active | Phase::Expiring)
            {
                next.keychain = KeychainCopy::Saving;
                effects.push(Effect::SaveTokens);
            }
            (next, effects)
        }
        Event::Trigger(trigger) => triggered(next, *trigger, now, policy),
        Event::TokenWanted { min_valid } => token_wanted(next, *min_valid, now, policy),
        Event::HandedOut { .. } => (next, Vec::new()),
        Event::SignInStarted => {
            if state.phase != Phase::SigningIn {
                // A refresh in flight finishes under the sign-in (see `during_sign_in`).
                let resume = if state.phase == Phase::Refreshing { Phase::Active } else { state.phase };
                next.resume_phase = Some(resume);
            }
            next.phase = Phase::SigningIn;
            (next, Vec::new())
        }
        Event::SignInAbandoned => {
            if state.phase != Phase::SigningIn {
                return (next, Vec::new());
            }
            next.phase = state.resume_phase.unwrap_or(Phase::SignedOut);
            next.resume_phase = None;
            evaluate(next, now, policy)
        }
        Event::SignedIn { times, user, warning } => {
            let mut next = SessionState::signed_out();
            next.generation = state.generation + 1;
            next.user = Some(user.clone());
            next.phase = Phase::Active;
            next.tokens = Some(*times);
            next.signed_in_at = Some(now);
            next.session_extended_at = Some(now);
            next.session_expires_at = Some(cap(now + delta(policy.lifetime.expires_in), times));
            next.last_validated_at = Some(now);
            next.last_error = warning.clone();
            evaluate(next, now, policy)
        }
        Event::RefreshSucceeded { times, warning } => {
            if !state.is_signed_in() {
                return (next, Vec::new());
            }
            next.phase = Phase::Active;
            next.tokens = Some(*times);
            next.session_expires_at = state.session_expires_at.map(|end| cap(end, times));
            next.last_refresh_at = Some(now);
            next.last_validated_at = Some(now);
            next.failures = 0;
            next.retry_at = None;
            next.refused = None;
            next.last_error = warning.clone();
            evaluate(next, now, policy)
        }
        Event::RefreshFailed { failure, jitter } => {
            if !state.is_signed_in() {
                return (next, Vec::new());
            }
            match failure {
                // Another process may have rotated the refresh token: look in the keychain once
                // before giving the session up.
                RefreshFailure::Revoked(error) if state.refused.is_none() => {
                    next.refused = Some(error.clone());
                    (next, vec![Effect::Reread])
                }
                RefreshFailure::Revoked(error) => expire(state, error.clone(), false),
                // Never use, never keep: revoke what came (the actor holds the answer's tokens now).
                RefreshFailure::Security(error) => expire(state, error.clone(), true),
                RefreshFailure::Transient(error) | RefreshFailure::Rejected(error) | RefreshFailure::Throttled { error, .. } => {
                    next.phase = Phase::Active;
                    next.refused = None;
                    next.failures = state.failures.saturating_add(1);
                    let backoff = policy.refresh.retry_delay(next.failures, *jitter);
                    let wait = match failure {
                        RefreshFailure::Rejected(_) => policy.refresh.retry_max_delay,
                        RefreshFailure::Throttled { retry_after, .. } => backoff.max(*retry_after).min(policy.refresh.retry_max_delay),
                        _ => backoff,
                    };
                    next.retry_at = Some(now + delta(wait));
                    next.last_error = Some(error.clone());
                    evaluate(next, now, policy)
                }
            }
        }
        Event::Reread { rotated } => match (&state.refused, rotated) {
            (Some(_), true) => {
                next.phase = Phase::Refreshing;
                (next, vec![Effect::Refresh])
            }
            (Some(error), _) => expire(state, error.clone(), false),
            (None, _) => (next, Vec::new()),
        },
        Event::TokensSaved => {
            next.keychain = KeychainCopy::Saved;
            if next.last_error.as_ref().is_some_and(|e| e.kind.is_keychain()) {
                next.last_error = None;
            }
            (next, Vec::new())
        }
        Event::TokensNotSaved(error) => {
            if state.is_signed_in() {
                next.keychain = KeychainCopy::Unsaved { retry_at: now + delta(KEYCHAIN_RETRY) };
                next.last_error = Some(error.clone());
            }
            (next, Vec::new())
        }
        Event::Validated(profile) => {
            next.validating = false;
            next.last_validated_at = Some(now);
            // Fresher claims of the same user replace the old ones; another user's never do.
            if state.user.as_ref().is_none_or(|user| user.subject == profile.subject) {
                next.user = Some(profile.clone());
            }
            (next, Vec::new())
        }
        Event::ValidationUnavailable => {
            next.validating = false;
            // Count the attempt so that an outage is not polled every second; refresh handles outages.
            next.last_validated_at = Some(now);
            (next, Vec::new())
        }
        Event::ValidationRejected => {
            next.validating = false;
            if !matches!(state.phase, Phase::Active | Phase::Expiring) {
                return (next, Vec::new());
            }
            if next.has_refresh_token() {
                // The token endpoint has the last word: a revoked grant answers invalid_grant there.
                start_refresh(next)
            } else {
                expire(state, info(ErrorKind::SessionRevoked, REVOKED_MESSAGE), false)
            }
        }
        Event::SignOutRequested => {
            if state.phase == Phase::Refreshing {
                // The answer in flight may rotate the refresh token: revoke the one it brings.
                next.sign_out_waiting = true;
                return (next, Vec::new());
            }
            if !state.is_signed_in() && state.phase != Phase::Expired {
                return (next, vec![Effect::Refuse(Refusal::NotSignedIn)]);
            }
            sign_out(state)
        }
        Event::SignOutFailed { previous } => {
            // The tokens are still in the keychain: the session stays as it was.
            if state.phase == Phase::SignedOut {
                next = SessionState { generation: state.generation, ..(**previous).clone() };
            }
            (next, Vec::new())
        }
        Event::SignedOut => {
            let mut next = SessionState::signed_out();
            next.generation = state.generation + 1;
            next.user = state.user.clone();
            (next, Vec::new())
        }
    }
}

impl Event {
    /// Results of work started before the current phase began.
    fn is_result(&self) -> bool {
        matches!(
            self,
            Event::RefreshSucceeded { .. }
                | Event::RefreshFailed { .. }
                | Event::Reread { .. }
                | Event::Validated(_)
                | Event::ValidationRejected
                | Event::ValidationUnavailable
        )
    }
}

/// Whatever was in flight when the app stopped did not finish.
fn restored(mut state: SessionState) -> SessionState {
    if state.phase == Phase::Refreshing {
        state.phase = Phase::Active;
    }
    if state.phase == Phase::SigningIn {
        state.phase = state.resume_phase.take().unwrap_or(Phase::SignedOut);
    }
    state.validating = false;
    state
}

fn triggered(mut next: SessionState, trigger: Trigger, now: DateTime<Utc>, policy: &Policy) -> (SessionState, Vec<Effect>) {
    if !matches!(next.phase, Phase::Active | Phase::Expiring) {
        // Refreshing: the request in flight answers this trigger too (coalescing). Signing in: the
        // sign-in comes first. Without tokens there is nothing to refresh, which a person is told.
        let refuse = matches!(trigger, Trigger::Manual { .. }) && !next.is_signed_in();
        return (next, if refuse { vec![Effect::Refuse(Refusal::NotSignedIn)] } else { Vec::new() });
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
        return start_refresh(next);
    }
    let (mut next, mut effects) = evaluate(next, now, policy);
    let validation_due = next.last_validated_at.is_none_or(|at| now - at >= delta(policy.refresh.validation_max_age));
    if effects.is_empty() && matches!(next.phase, Phase::Active | Phase::Expiring) && !next.validating && validation_due {
        next.validating = true;
        effects.push(Effect::Validate);
    }
    (next, effects)
}

/// A program asks for the access token: a fresh one is handed out at once, one within the lead
/// time (or expired) is refreshed first, and callers during a refresh wait for it.
fn token_wanted(mut next: SessionState, min_valid: TimeDelta, now: DateTime<Utc>, policy: &Policy) -> (SessionState, Vec<Effect>) {
    if !next.is_signed_in() {
        return (next, vec![Effect::Refuse(Refusal::NotSignedIn)]);
    }
    if next.is_busy() {
        next.hand_out_waiting = true;
        return (next, Vec::new());
    }
    if matches!(next.phase, Phase::Active | Phase::Expiring) {
        slide_lifetime(&mut next, now, policy);
        let fresh = next.access_token_fresh(now, policy) && next.access_token_lasts(now, min_valid);
        if !fresh && next.has_refresh_token() {
            if next.refresh_held_back(now, policy) {
                // A program asking in a loop must not start a refresh storm: the current token if it
                // still lives, else the refresh due when the floor has passed.
                if !next.access_token_valid(now) {
                    next.hand_out_waiting = true;
                    return (next, Vec::new());
                }
                return (next, vec![Effect::HandOut]);
            }
            let (started, effects) = start_refresh(next);
            next = started;
            if next.phase == Phase::Refreshing {
                next.hand_out_waiting = true;
                return (next, effects);
            }
        }
    }
    let answer = hand_out_or_refuse(&next, now, true);
    (next, vec![answer])
}

fn hand_out_or_refuse(state: &SessionState, now: DateTime<Utc>, usable: bool) -> Effect {
    if usable && state.is_signed_in() && state.access_token_valid(now) {
        return Effect::HandOut;
    }
    match &state.last_error {
        Some(error) => Effect::Refuse(Refusal::Failed(error.clone())),
        None => Effect::Refuse(Refusal::NotSignedIn),
    }
}

/// Once nothing is in flight (and no refresh is held back), answers the programs waiting for a token
/// and carries out a sign-out that waited for the refresh.
fn resolve_waits(
    mut next: SessionState,
    mut effects: Vec<Effect>,
    event: &Event,
    now: DateTime<Utc>,
    policy: &Policy,
) -> (SessionState, Vec<Effect>) {
    if next.phase == Phase::Refreshing || next.refused.is_some() {
        return (next, effects);
    }
    // A refresh held back by the floor between refreshes is still to come: the caller waits for it.
    let refresh_to_come = next.is_signed_in()
        && next.has_refresh_token()
        && next.failures == 0
        && !next.access_token_valid(now)
        && next.refresh_held_back(now, policy);
    if next.hand_out_waiting && !refresh_to_come {
        next.hand_out_waiting = false;
        let refused = matches!(event, Event::RefreshFailed { failure: RefreshFailure::Rejected(_), .. });
        effects.push(hand_out_or_refuse(&next, now, !refused));
    }
    if next.sign_out_waiting {
        next.sign_out_waiting = false;
        effects.retain(|effect| matches!(effect, Effect::HandOut | Effect::Refuse(_)));
        let (signed_out, sign_out_effects) = sign_out(&next);
        effects.extend(sign_out_effects);
        next = signed_out;
    }
    (next, effects)
}

fn sign_out(state: &SessionState) -> (SessionState, Vec<Effect>) {
    let mut next = SessionState::signed_out();
    next.generation = state.generation + 1;
    // The card goes on saying who was signed in last.
    next.user = state.user.clone();
    let mut effects = Vec::with_capacity(2);
    if state.hand_out_waiting {
        effects.push(Effect::Refuse(Refusal::NotSignedIn));
    }
    effects.push(Effect::SignOut { previous: Box::new(SessionState { sign_out_waiting: false, ..state.clone() }) });
    (next, effects)
}

fn start_refresh(mut next: SessionState) -> (SessionState, Vec<Effect>) {
    if next.keychain == KeychainCopy::Saving {
        // A retried keychain write of the current tokens is in flight; a refresh now could see its
        // rotated token overwritten by that older write. The write's answer re-evaluates.
        return (next, Vec::new());
    }
    next.phase = Phase::Refreshing;
    (next, vec![Effect::Refresh])
}

/// A refresh or check that finishes while the user signs in again updates the session underneath;
/// the sign-in stays in front, and no new refresh or check starts until it ends (the retry after a
/// keychain re-read finishes the refresh that was in flight).
fn during_sign_in(state: &SessionState, event: &Event, now: DateTime<Utc>, policy: &Policy) -> (SessionState, Vec<Effect>) {
    let mut underneath = state.clone();
    underneath.phase = state.resume_phase.unwrap_or(Phase::SignedOut);
    underneath.resume_phase = None;
    let (mut next, effects) = transition(&underneath, event, now, policy);
    next.resume_phase = Some(if next.phase == Phase::Refreshing { Phase::Active } else { next.phase });
    next.validating = false;
    next.phase = Phase::SigningIn;
    let continues = matches!(event, Event::Reread { .. });
    let effects = effects
        .into_iter()
        .filter(|effect| match effect {
            Effect::Validate => false,
            Effect::Refresh => continues,
            _ => true,
        })
        .collect();
    (next, effects)
}

#[cfg(test)]
mod deadline_props;
mod deadlines;
mod marks;
#[cfg(test)]
mod tests;

use deadlines::{cap, evaluate, expire, slide_lifetime};
