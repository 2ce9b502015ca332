//! The session state machine. Every decision about a session is made in [`transition`], a pure
//! function of (state, event, now, policy) that returns the new state and the effects the actor must
//! run. No I/O, no clock, no randomness: jitter arrives inside the event.

use chrono::{DateTime, Utc};

use super::state::{Effect, Event, KEYCHAIN_RETRY, KeychainCopy, Network, Phase, Refusal, SessionState, Trigger, Waiter, delta};
use crate::error::{ErrorInfo, ErrorKind};
use crate::policy::Policy;
use crate::user::UserProfile;

fn info(kind: ErrorKind, message: &str) -> ErrorInfo {
    ErrorInfo::new(kind, message)
}

/// The message of a session the provider no longer accepts (`invalid_grant`, or a rejected access
/// token without a refresh token to confirm it with).
pub const REVOKED_MESSAGE: &str = "The provider no longer accepts this session: sign in again.";

/// The one place where sessions change state.
pub fn transition(state: &SessionState, event: &Event, now: DateTime<Utc>, policy: &Policy) -> (SessionState, Vec<Effect>) {
    let (mut next, mut effects) = if state.phase == Phase::SigningIn && event.is_result() {
        during_sign_in(state, event, now, policy)
    } else {
        let (next, effects) = decide(state, event, now, policy);
        waits::resolve(next, effects, event, now, policy)
    };
    last_write_at_quit(&mut next, &mut effects, event);
    // The history goes on through sign-ins and sign-outs (which start from a fresh state).
    let mut history = state.history.clone();
    for mark in marks::marks(state, &next, event, &effects, now) {
        history.record(mark);
    }
    next.history = history;
    (next, effects)
}

/// Quitting gives tokens only memory holds one more write, once no refresh holds them: at the quit
/// itself, or when the refresh in flight at the quit ends without writing (a refused or failed one;
/// a successful one writes through itself). Written while a refresh is in flight, the older tokens
/// could land after the rotated ones and leave the keychain with a spent refresh token.
fn last_write_at_quit(next: &mut SessionState, effects: &mut Vec<Effect>, event: &Event) {
    let ends_a_hold = matches!(event, Event::Stopping | Event::RefreshFailed { .. } | Event::Reread { .. });
    let held = next.phase == Phase::Refreshing || next.narrowing.in_flight.is_some() || next.silent.attempting;
    if ends_a_hold && next.stopping && !held && next.is_signed_in() && matches!(next.keychain, KeychainCopy::Unsaved { .. }) {
        next.keychain = KeychainCopy::Saving;
        effects.push(Effect::SaveTokens);
    }
}

fn decide(state: &SessionState, event: &Event, now: DateTime<Utc>, policy: &Policy) -> (SessionState, Vec<Effect>) {
    let mut next = state.clone();
    match event {
        Event::Restored => (restored(next), Vec::new()),
        Event::Stopping => {
            next.stopping = true;
            (next, Vec::new())
        }
        Event::Tick => {
            let (mut next, mut effects) = evaluate(next, now, policy);
            // Rotated tokens the keychain refused are written again at every look at the clock.
            // Not while a silent sign-in brings new tokens: the older write could land after theirs.
            if matches!(next.keychain, KeychainCopy::Unsaved { retry_at } if retry_at <= now)
                && matches!(next.phase, Phase::Active | Phase::Expiring)
                && !next.silent.attempting
            {
                next.keychain = KeychainCopy::Saving;
                effects.push(Effect::SaveTokens);
            }
            (next, effects)
        }
        Event::Trigger(trigger) => triggered(next, *trigger, now, policy),
        Event::CheckWanted(trigger) => {
            next.check_waiting = true;
            next.check_failure = None;
            triggered(next, *trigger, now, policy)
        }
        Event::TokenWanted { token, min_valid } => waits::token_wanted(next, token, *min_valid, now, policy),
        Event::HandedOut { .. } => (next, Vec::new()),
        Event::SignInStarted => {
            // An interactive sign-in wins over a silent one in flight.
            let cancel = state.silent.attempting.then_some(Effect::CancelSilent);
            next.silent.attempting = false;
            next.silent.ended_by = None;
            if state.phase != Phase::SigningIn {
                // A refresh in flight finishes under the sign-in (see `during_sign_in`).
                let resume = if state.phase == Phase::Refreshing { Phase::Active } else { state.phase };
                next.resume_phase = Some(resume);
            }
            next.phase = Phase::SigningIn;
            (next, cancel.into_iter().collect())
        }
        Event::SignInAbandoned | Event::SignInFailed { pending: false } => {
            if state.phase != Phase::SigningIn {
                return (next, Vec::new());
            }
            next.phase = state.resume_phase.unwrap_or(Phase::SignedOut);
            next.resume_phase = None;
            evaluate(next, now, policy)
        }
        // The sign-in that began meanwhile goes on.
        Event::SignInFailed { pending: true } => (next, Vec::new()),
        Event::RedirectArrived { pending, ours } => {
            let effect = match (state.phase == Phase::SigningIn && *pending, ours) {
                (false, _) => Effect::Refuse(Waiter::Redirect, Refusal::NoSignInPending),
                // Another tab's or another program's redirect: this sign-in goes on waiting for its own.
                (true, false) => Effect::Refuse(Waiter::Redirect, Refusal::ForeignRedirect),
                (true, true) => Effect::CompleteSignIn,
            };
            (next, vec![effect])
        }
        Event::SignedIn { times, user, warning, auth_time } => {
            let mut next = waits::carried(state);
            next.check_failure = None;
            next.generation = state.generation + 1;
            next.user = Some(user.clone());
            next.phase = Phase::Active;
            next.tokens = Some(*times);
            next.signed_in_at = Some(signed_in_at(*auth_time, now));
            next.session_extended_at = Some(now);
            next.session_expires_at = Some(cap(now + delta(policy.lifetime.expires_in), times));
            next.last_validated_at = Some(now);
            next.last_error = warning.clone();
            // The provider answered the sign-in: online, as after a refresh that reached it.
            next.network = Network::Online;
            evaluate(next, now, policy)
        }
        Event::NarrowedTokenMade { expires_at } => waits::narrowed_made(next, *expires_at, now),
        Event::RefreshSucceeded { times, warning } => {
            if !state.is_signed_in() {
                return (next, Vec::new());
            }
            // An answer to a narrowed refresh without a narrowed token: the waiting programs are
            // asked for again.
            next.narrowing.in_flight = None;
            next.check_failure = None;
            next.phase = Phase::Active;
            next.tokens = Some(*times);
            // The lifetime's own end capped by the refresh token's end as the provider says it now (a
            // provider whose refresh tokens slide, as Keycloak's idle timeout, moves it out).
            let lifetime_end = state.session_extended_at.map(|at| at + delta(policy.lifetime.expires_in));
            next.session_expires_at = lifetime_end.or(state.session_expires_at).map(|end| cap(end, times));
            next.last_refresh_at = Some(now);
            next.last_validated_at = Some(now);
            next.failures = 0;
            next.retry_at = None;
            // The provider answered: whatever the desktop says (an intranet provider where
            // NetworkManager's check sees no internet), this session is online until the next change.
            next.network = Network::Online;
            next.refused = None;
            next.rejected = None;
            // A userinfo answer for another user still stands: the token endpoint does not say who.
            next.last_error = warning.clone().or_else(|| state.userinfo_mismatch_at.map(|_| userinfo_mismatch()));
            evaluate(next, now, policy)
        }
        Event::RefreshFailed { failure, jitter } => {
            if !state.is_signed_in() {
                return (next, Vec::new());
            }
            let mut answers = Vec::new();
            if let Some(scope) = next.narrowing.in_flight.take() {
                next.narrowing.answered(&scope);
                answers.push(Effect::Refuse(Waiter::Narrowed(scope), Refusal::Failed(failure.info().clone())));
            }
            if next.check_waiting {
                next.check_failure = Some(failure.info().clone());
            }
            let (next, mut effects) = failures::refresh_failed(state, next, failure, *jitter, now, policy);
            answers.append(&mut effects);
            (next, answers)
        }
        Event::Reread { rotated } => failures::reread(state, *rotated, now, policy),
        Event::TokensSaved => {
            next.keychain = KeychainCopy::Saved;
            if next.last_error.as_ref().is_some_and(|e| e.kind.is_keychain()) {
                next.last_error = next.userinfo_mismatch_at.map(|_| userinfo_mismatch());
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
        Event::Validated(profile) => validated(next, profile, now),
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
                return (next, vec![Effect::Refuse(Waiter::SignOut, Refusal::NotSignedIn)]);
            }
            waits::sign_out(state)
        }
        Event::SignOutFailed { previous } => {
            // The tokens are still in the keychain: the session stays as it was.
            if state.phase == Phase::SignedOut {
                next = SessionState {
                    generation: state.generation,
                    check_waiting: state.check_waiting,
                    narrowing: super::state::Narrowing { waiting: state.narrowing.waiting.clone(), ..previous.narrowing.clone() },
                    ..(**previous).clone()
                };
            }
            (next, Vec::new())
        }
        // The keychain let go of the tokens of a sign-out that already took them out of the state: only
        // the history hears of it, and a sign-in begun meanwhile goes on.
        Event::SignedOut if !state.is_signed_in() && state.phase != Phase::Expired => (next, Vec::new()),
        Event::SignedOut => {
            let mut next = waits::carried(state);
            next.generation = state.generation + 1;
            next.user = state.user.clone();
            (next, Vec::new())
        }
        Event::SilentSet { .. } | Event::SilentWanted | Event::SilentFinished(_) => silent::decide(state, next, event, now, policy),
        Event::RemoveRequested => {
            let effect = if state.is_signed_in() { Effect::Refuse(Waiter::Remove, Refusal::SignOutFirst) } else { Effect::Forget };
            (next, vec![effect])
        }
    }
}

/// When the person signed in: the ID token's `auth_time` when it has one (not in the future: our clock
/// and the provider's may differ), else the time the answer arrived.
pub(super) fn signed_in_at(auth_time: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    auth_time.filter(|at| *at <= now).unwrap_or(now)
}

/// The card's message while the userinfo endpoint answers for another user (OIDC Core 5.3.2).
pub const USERINFO_MISMATCH_MESSAGE: &str = "The provider's userinfo endpoint answered for another user, so this session could not be \
     confirmed. It stays signed in and is checked again later; if this goes on, tell the provider's administrator.";

fn userinfo_mismatch() -> ErrorInfo {
    info(ErrorKind::ProviderMisbehaved, USERINFO_MISMATCH_MESSAGE)
}

/// The userinfo endpoint accepted the access token. Fresher claims of the same user replace the old
/// ones and confirm the session. An answer for another user (OIDC Core 5.3.2: its values must not be
/// used) confirms nothing: a failed check that ends nothing but is said on the card, and a waiting
/// caller hears it.
fn validated(mut next: SessionState, profile: &UserProfile, now: DateTime<Utc>) -> (SessionState, Vec<Effect>) {
    next.validating = false;
    if next.user.as_ref().is_none_or(|user| user.subject == profile.subject) {
        next.user = Some(profile.clone());
        next.last_validated_at = Some(now);
        next.userinfo_mismatch_at = None;
        if next.last_error == Some(userinfo_mismatch()) {
            next.last_error = None;
        }
        return (next, Vec::new());
    }
    if !next.is_signed_in() {
        return (next, Vec::new());
    }
    let error = userinfo_mismatch();
    next.userinfo_mismatch_at = Some(now);
    if next.check_waiting {
        next.check_failure = Some(error.clone());
    }
    next.last_error = Some(error);
    (next, Vec::new())
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
    state.stopping = false;
    state
}

fn triggered(mut next: SessionState, trigger: Trigger, now: DateTime<Utc>, policy: &Policy) -> (SessionState, Vec<Effect>) {
    if let Trigger::Network(network) = trigger {
        return failures::network_changed(next, network, now, policy);
    }
    if next.silent.attempting {
        // The silent sign-in in flight answers this trigger too; a waiting check waits for it.
        return (next, Vec::new());
    }
    if matches!(trigger, Trigger::Manual { .. })
        && let Some(started) = silent::revive(&next)
    {
        return started;
    }
    if !matches!(next.phase, Phase::Active | Phase::Expiring) {
        // Refreshing: the request in flight answers this trigger too (coalescing). Signing in: the
        // sign-in comes first. Without tokens there is nothing to refresh, which a person is told.
        let refuse = matches!(trigger, Trigger::Manual { .. }) && !next.is_signed_in();
        return (next, if refuse { vec![Effect::Refuse(Waiter::Check, Refusal::NotSignedIn)] } else { Vec::new() });
    }
    if trigger.is_user_activity() {
        slide_lifetime(&mut next, now, policy);
    }
    let wants_refresh_now = match trigger {
        Trigger::Manual { force: true } => true,
        // A person is looking: retry a failing refresh now rather than after the backoff.
        Trigger::Focus | Trigger::Manual { force: false } => next.failures > 0,
        Trigger::Interval | Trigger::Resume | Trigger::Network(_) => false,
    };
    if wants_refresh_now && next.has_refresh_token() {
        return start_refresh(next);
    }
    let (mut next, mut effects) = evaluate(next, now, policy);
    // After an answer for another user, the next check comes the usual interval after that answer,
    // not sooner (a broken provider is not asked every second) and not put off by refreshes.
    let checked_at = next.userinfo_mismatch_at.or(next.last_validated_at);
    let validation_due = checked_at.is_none_or(|at| now - at >= delta(policy.refresh.validation_max_age));
    let checkable = matches!(next.phase, Phase::Active | Phase::Expiring) && !next.validating && !next.stopping;
    if effects.is_empty() && checkable && validation_due {
        next.validating = true;
        effects.push(Effect::Validate);
    }
    (next, effects)
}

fn start_refresh(mut next: SessionState) -> (SessionState, Vec<Effect>) {
    if next.keychain == KeychainCopy::Saving || next.stopping || next.silent.attempting {
        // A retried keychain write of the current tokens is in flight; a refresh now could see its
        // rotated token overwritten by that older write. The write's answer re-evaluates. And
        // nothing starts while the app quits.
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
    if !continues {
        // A narrowed refresh waits for the sign-in to end (it then starts from `resolve_waits`).
        next.narrowing.in_flight = None;
    }
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
mod failures;
mod marks;
mod silent;
#[cfg(test)]
mod silent_tests;
#[cfg(test)]
mod tests;
mod waits;

use deadlines::{cap, evaluate, expire, slide_lifetime};
