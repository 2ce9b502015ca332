//! Callers that wait on a session: programs asking for a token (the session's own or a narrowed
//! one), callers of a check, and a sign-out that waits for the refresh in flight. Which answer each
//! gets, and when, is decided here and returned as effects; the actor only delivers them.

use chrono::{DateTime, TimeDelta, Utc};

use super::{slide_lifetime, start_refresh};
use crate::policy::Policy;
use crate::session::narrowing::Made;
use crate::session::state::{
    Effect, Event, KeychainCopy, Narrowing, Phase, RefreshFailure, Refusal, SessionState, TokenKind, Waiter, fresh_enough,
};

/// A program asks for a token: one fresh enough is handed out at once, a stale one is refreshed
/// first, and callers during a refresh wait for it. A narrowed token is made by a refresh of its own.
pub(super) fn token_wanted(
    next: SessionState,
    token: &TokenKind,
    min_valid: TimeDelta,
    now: DateTime<Utc>,
    policy: &Policy,
) -> (SessionState, Vec<Effect>) {
    match token.narrowed_scope() {
        Some(scope) => narrowed_wanted(next, scope, min_valid, now, policy),
        None => own_token_wanted(next, min_valid, now, policy),
    }
}

fn own_token_wanted(mut next: SessionState, min_valid: TimeDelta, now: DateTime<Utc>, policy: &Policy) -> (SessionState, Vec<Effect>) {
    // An expired session a silent sign-in can renew: the program waits for it rather than an error.
    if next.silent.attempting && next.phase == Phase::Expired {
        next.hand_out_waiting = true;
        return (next, Vec::new());
    }
    if let Some((mut started, effects)) = super::silent::revive(&next) {
        started.hand_out_waiting = true;
        return (started, effects);
    }
    if !next.is_signed_in() {
        return (next, vec![Effect::Refuse(Waiter::Token, Refusal::NotSignedIn)]);
    }
    if next.is_busy() {
        next.hand_out_waiting = true;
        return (next, Vec::new());
    }
    if matches!(next.phase, Phase::Active | Phase::Expiring) {
        slide_lifetime(&mut next, now, policy);
        if !next.access_token_fresh_enough(now, min_valid, policy) && next.has_refresh_token() {
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

/// A narrowed token made earlier is handed out again while it is fresh enough (the same rule as the
/// session's own); otherwise the program waits for a narrowed refresh, which [`resolve`] starts once
/// nothing else is in flight.
fn narrowed_wanted(
    mut next: SessionState,
    scope: &str,
    min_valid: TimeDelta,
    now: DateTime<Utc>,
    policy: &Policy,
) -> (SessionState, Vec<Effect>) {
    if !next.is_signed_in() {
        return (next, vec![Effect::Refuse(Waiter::Narrowed(scope.to_owned()), Refusal::NotSignedIn)]);
    }
    if let Some(made) = next.narrowing.made.get(scope)
        && fresh_enough(Some(made.issued), made.expires_at, now, min_valid, policy)
    {
        return (next, vec![Effect::HandOutNarrowed(scope.to_owned())]);
    }
    if matches!(next.phase, Phase::Active | Phase::Expiring) {
        slide_lifetime(&mut next, now, policy);
    }
    next.narrowing.wait(scope);
    (next, Vec::new())
}

/// The narrowed refresh in flight brought its token: kept for the next caller, and handed out.
pub(super) fn narrowed_made(mut next: SessionState, expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> (SessionState, Vec<Effect>) {
    let Some(scope) = next.narrowing.in_flight.take() else { return (next, Vec::new()) };
    next.narrowing.made.insert(scope.clone(), Made { issued: now, expires_at });
    next.narrowing.answered(&scope);
    (next, vec![Effect::HandOutNarrowed(scope)])
}

fn hand_out_or_refuse(state: &SessionState, now: DateTime<Utc>, usable: bool) -> Effect {
    if usable && state.is_signed_in() && state.access_token_valid(now) {
        return Effect::HandOut;
    }
    match &state.last_error {
        Some(error) => Effect::Refuse(Waiter::Token, Refusal::Failed(error.clone())),
        None => Effect::Refuse(Waiter::Token, Refusal::NotSignedIn),
    }
}

/// A fresh state (a sign-in or a sign-out replaces the tokens) that keeps who waits on the session:
/// checks are answered when nothing is in flight, and narrowed tokens are made for the new sign-in.
/// The desktop's connectivity stays what it was.
pub(super) fn carried(state: &SessionState) -> SessionState {
    let mut next = SessionState::signed_out();
    next.network = state.network;
    // The setting and the desktop's means stay; a sign-in or sign-out starts silent sign-in afresh.
    next.silent.enabled = state.silent.enabled;
    next.silent.browser = state.silent.browser;
    next.silent.last = state.silent.last.clone();
    next.check_waiting = state.check_waiting;
    next.check_failure = state.check_failure.clone();
    next.narrowing = Narrowing { waiting: state.narrowing.waiting.clone(), ..Narrowing::default() };
    next
}

/// Once nothing is in flight (and no refresh is held back), answers the programs waiting for a token,
/// carries out a sign-out that waited for the refresh, starts the narrowed refresh programs wait for,
/// and tells the callers of a check that it has finished.
pub(super) fn resolve(
    mut next: SessionState,
    mut effects: Vec<Effect>,
    event: &Event,
    now: DateTime<Utc>,
    policy: &Policy,
) -> (SessionState, Vec<Effect>) {
    if effects.iter().any(|effect| matches!(effect, Effect::Refuse(Waiter::Check, _))) {
        next.check_waiting = false;
    }
    if next.phase == Phase::Refreshing || next.refused.is_some() || next.silent.attempting {
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
        effects.retain(Effect::is_answer);
        let (signed_out, sign_out_effects) = sign_out(&next);
        effects.extend(sign_out_effects);
        next = signed_out;
    }
    if next.check_waiting && !next.is_busy() {
        next.check_waiting = false;
        effects.push(match next.check_failure.take() {
            Some(failure) => Effect::Refuse(Waiter::Check, Refusal::Failed(failure)),
            None => Effect::Checked,
        });
    }
    start_narrowing(next, effects)
}

/// Starts the narrowed refresh the first waiting program asked for, once nothing else is in flight:
/// a forced refresh, serialized with every other use of the refresh token. When none can be made
/// (no tokens, no refresh token), every waiting program hears why.
fn start_narrowing(mut next: SessionState, mut effects: Vec<Effect>) -> (SessionState, Vec<Effect>) {
    let idle = next.narrowing.in_flight.is_none() && !next.is_busy() && next.phase != Phase::SigningIn;
    let Some(scope) = next.narrowing.waiting.first().cloned().filter(|_| idle) else { return (next, effects) };
    if !matches!(next.phase, Phase::Active | Phase::Expiring) || !next.has_refresh_token() {
        let refusal = match (&next.last_error, next.is_signed_in()) {
            (Some(error), _) => Refusal::Failed(error.clone()),
            (None, true) => Refusal::NoRefreshToken,
            (None, false) => Refusal::NotSignedIn,
        };
        for scope in std::mem::take(&mut next.narrowing.waiting) {
            effects.push(Effect::Refuse(Waiter::Narrowed(scope), refusal.clone()));
        }
        return (next, effects);
    }
    if next.keychain == KeychainCopy::Saving || next.stopping {
        // The keychain write's answer comes back here; a quitting app makes no more tokens.
        return (next, effects);
    }
    next.narrowing.in_flight = Some(scope);
    next.phase = Phase::Refreshing;
    effects.push(Effect::Refresh);
    (next, effects)
}

pub(super) fn sign_out(state: &SessionState) -> (SessionState, Vec<Effect>) {
    let mut next = carried(state);
    next.generation = state.generation + 1;
    // The card goes on saying who was signed in last.
    next.user = state.user.clone();
    next.narrowing.waiting.clear();
    let mut effects = Vec::with_capacity(2);
    // Sign-out wins over a silent sign-in in flight: its window goes, and what it brings is stale.
    if state.silent.attempting {
        effects.push(Effect::CancelSilent);
    }
    if state.hand_out_waiting {
        effects.push(Effect::Refuse(Waiter::Token, Refusal::NotSignedIn));
    }
    for scope in &state.narrowing.waiting {
        effects.push(Effect::Refuse(Waiter::Narrowed(scope.clone()), Refusal::NotSignedIn));
    }
    // What the sign-out goes back to if the keychain keeps the tokens: the waiters are answered.
    let mut silent = state.silent.clone();
    silent.attempting = false;
    silent.ended_by = None;
    let previous = SessionState {
        silent,
        sign_out_waiting: false,
        hand_out_waiting: false,
        check_waiting: false,
        check_failure: None,
        narrowing: Narrowing { made: state.narrowing.made.clone(), ..Narrowing::default() },
        ..state.clone()
    };
    effects.push(Effect::SignOut { previous: Box::new(previous) });
    (next, effects)
}

#[cfg(test)]
mod tests;
