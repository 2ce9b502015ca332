//! Silent sign-in's rules (OIDC Core 3.1.2.1, `prompt=none`): when one starts, what its outcome does,
//! and never a loop.
//!
//! When: (a) a lead time before the refresh token's announced end (`silent_due`); (b) after
//! `invalid_grant` ended the refresh and the keychain held no rotated token (`after_refusal`): tried
//! once before the session expires, showing "refreshing" meanwhile; (c) a program or a person waiting
//! on a session that has expired (`revive`): the attempt runs and they wait for it; (d) on demand
//! ([`Event::SilentWanted`]). Only where `Silent::possible` (a silent browser, embedded sign-in, on,
//! the provider's session not known to have ended), one attempt at a time, none while quitting.
//!
//! The lifetime (`expiresIn`, this app's bound on an idle session) is not what a silent sign-in
//! renews: only a refresh token's end is. A renewal keeps the lifetime's end where it was (uncapped
//! from the old refresh token's end); an expired session revived for a waiting caller starts a new one.
//!
//! Never a loop: `login_required` & co., and an answer this session cannot take (another user, a
//! refused answer), block silent sign-in until the person signs in. The session ends once: at once when
//! its refresh token is dead (kind `sign_in_needed`, or the refusal's), else at that token's end, the
//! person told meanwhile to sign in again (`signInAgainSoon`); a still-valid refresh token is never
//! revoked for it. A passing failure is retried with the refresh backoff at most [`SILENT_TRIES`] times
//! while the refresh token lives, then the session ends at its end as before.

use chrono::{DateTime, TimeDelta, Utc};

use super::deadlines::expire;
use super::{evaluate, waits};
use crate::error::{ErrorInfo, ErrorKind};
use crate::policy::Policy;
use crate::session::silent_effect::SIGN_IN_NEEDED_MESSAGE;
use crate::session::state::{
    Effect, EndReason, Event, KeychainCopy, Network, Phase, Refusal, SessionState, SilentAttempt, SilentOutcome, SilentResult, Waiter,
    delta,
};

/// Attempts that may fail in a row for a passing reason before silent sign-in waits for the person.
pub const SILENT_TRIES: u32 = 3;

/// The silent sign-in's own events.
pub(super) fn decide(
    state: &SessionState,
    mut next: SessionState,
    event: &Event,
    now: DateTime<Utc>,
    policy: &Policy,
) -> (SessionState, Vec<Effect>) {
    match event {
        Event::SilentSet { enabled } => {
            next.silent.enabled = *enabled;
            evaluate(next, now, policy)
        }
        Event::SilentWanted => {
            next.check_waiting = true;
            next.check_failure = None;
            if next.silent.attempting {
                return (next, Vec::new());
            }
            if let Some(why) = cannot_start(&next) {
                next.check_waiting = false;
                return (next, vec![Effect::Refuse(Waiter::Check, Refusal::Failed(why))]);
            }
            start(next)
        }
        Event::SilentFinished(result) => finished(state, next, result, now, policy),
        _ => (next, Vec::new()),
    }
}

/// Why an attempt cannot start now (`None`: it can).
fn cannot_start(state: &SessionState) -> Option<ErrorInfo> {
    let said = |message: &str| Some(ErrorInfo::new(ErrorKind::NotOffered, message));
    if !state.silent.browser {
        return said("This session cannot sign in silently: it signs in through the system browser, or no silent window is available.");
    }
    if !state.silent.enabled {
        return said("Silent sign-in is off for this session.");
    }
    if state.silent.blocked {
        // The last answer's own words (another user, a refused answer), else the provider's session ended.
        let refused =
            state.silent.last.as_ref().filter(|last| last.outcome == SilentOutcome::Refused).and_then(|last| last.message.clone());
        return Some(ErrorInfo::new(ErrorKind::SignInNeeded, refused.unwrap_or_else(|| SIGN_IN_NEEDED_MESSAGE.to_owned())));
    }
    if state.user.is_none() || !matches!(state.phase, Phase::Active | Phase::Expiring | Phase::Expired) {
        return said("This session has never been signed in here: sign in first.");
    }
    // A retried keychain write of the current tokens could land after the silent sign-in's new ones.
    if state.stopping || state.is_busy() || state.keychain == KeychainCopy::Saving {
        return said("The session is busy (a refresh is in flight): try again in a moment.");
    }
    None
}

fn start(mut next: SessionState) -> (SessionState, Vec<Effect>) {
    next.silent.attempting = true;
    (next, vec![Effect::SilentSignIn])
}

/// How long before the refresh token's end a silent sign-in starts: the refresh lead time, or twice
/// the attempt's own bound if longer, but at most half the time since the last sign-in.
fn lead(state: &SessionState, end: DateTime<Utc>, policy: &Policy) -> TimeDelta {
    let wanted = delta(policy.refresh.lead_time).max(delta(policy.lifetime.silent_sign_in_timeout) * 2);
    match state.signed_in_at {
        Some(signed_in) if end > signed_in => wanted.min((end - signed_in) / 2),
        _ => wanted,
    }
}

/// The refresh token's announced end when it is what ends the session (not the lifetime).
fn refresh_token_end(state: &SessionState) -> Option<DateTime<Utc>> {
    state.ending().filter(|(_, reason)| *reason == EndReason::RefreshTokenExpires).map(|(at, _)| at)
}

/// Whether the session's end is its refresh token's, which a silent sign-in will push out: not
/// "ending soon" then.
pub(super) fn renews_at_end(state: &SessionState) -> bool {
    refresh_token_end(state).is_some() && will_renew(state)
}

/// Whether silent sign-in will renew this session before its refresh token ends.
fn will_renew(state: &SessionState) -> bool {
    state.silent.possible() && state.silent.failures < SILENT_TRIES
}

/// (a) A lead time before the refresh token's announced end: an attempt, if one may run now.
pub(super) fn silent_due(next: &SessionState, now: DateTime<Utc>, policy: &Policy) -> Option<(SessionState, Vec<Effect>)> {
    let end = refresh_token_end(next)?;
    let held = next.silent.retry_at.is_some_and(|at| now < at);
    let due = now >= end - lead(next, end, policy) && now < end;
    (due && !held && will_renew(next) && next.network == Network::Online && cannot_start(next).is_none()).then(|| start(next.clone()))
}

/// The instants at which time changes what silent sign-in decides: its start, its retry, and the
/// warning to sign in again.
pub(super) fn deadlines(state: &SessionState, policy: &Policy) -> Vec<DateTime<Utc>> {
    let Some(end) = refresh_token_end(state) else { return Vec::new() };
    let mut out = vec![end - lead(state, end, policy), end - delta(policy.lifetime.sign_in_again_lead)];
    out.extend(state.silent.retry_at);
    out
}

/// Whether the session ends within `signInAgainLead` with nothing to renew it silently.
pub(super) fn sign_in_again_soon(state: &SessionState, now: DateTime<Utc>, policy: &Policy) -> bool {
    refresh_token_end(state).is_some_and(|end| now >= end - delta(policy.lifetime.sign_in_again_lead) && !will_renew(state))
}

/// (b) `invalid_grant`, and the keychain held no other refresh token: one attempt before the session
/// expires, if one may run; else it expires with `error` as before.
pub(super) fn after_refusal(state: &SessionState, error: &ErrorInfo) -> (SessionState, Vec<Effect>) {
    let mut next = state.clone();
    next.phase = Phase::Active;
    next.refused = None;
    if state.stopping || cannot_start(&next).is_some() {
        // Already told the provider's own sign-in ended: that stays the reason (a refresh refused at the
        // refresh token's end says less).
        return expire(state, ended_by_the_provider(state).unwrap_or_else(|| error.clone()), false);
    }
    next.silent.ended_by = Some(error.clone());
    start(next)
}

/// (c) A program or a person waits on a session that has expired: an attempt they wait for, if one may
/// run and the passing failures have not run out.
pub(super) fn revive(next: &SessionState) -> Option<(SessionState, Vec<Effect>)> {
    let may = next.phase == Phase::Expired && next.silent.failures < SILENT_TRIES && cannot_start(next).is_none();
    may.then(|| start(next.clone()))
}

fn finished(
    state: &SessionState,
    mut next: SessionState,
    result: &SilentResult,
    now: DateTime<Utc>,
    policy: &Policy,
) -> (SessionState, Vec<Effect>) {
    if !state.silent.attempting {
        // Overtaken (a sign-out or a sign-in came first): it changes nothing.
        return (next, Vec::new());
    }
    next.silent.attempting = false;
    let ended_by = next.silent.ended_by.take();
    let outcome = |outcome, message: Option<&ErrorInfo>| SilentAttempt { at: now, outcome, message: message.map(|m| m.message.clone()) };
    match result {
        SilentResult::Renewed { times, user, warning, auth_time } => {
            let revived = state.phase == Phase::Expired;
            // The lifetime's own end, before the old refresh token's end capped it.
            let lifetime_end = match (revived, state.session_extended_at) {
                (false, Some(extended)) => extended + delta(policy.lifetime.expires_in),
                _ => now + delta(policy.lifetime.expires_in),
            };
            let mut renewed = waits::carried(state);
            renewed.generation = state.generation + 1;
            renewed.history = state.history.clone();
            renewed.user = Some(user.clone());
            renewed.phase = Phase::Active;
            renewed.tokens = Some(*times);
            renewed.signed_in_at = Some(super::signed_in_at(*auth_time, now));
            renewed.session_extended_at = if revived { Some(now) } else { state.session_extended_at };
            renewed.session_expires_at = Some(super::cap(lifetime_end, times));
            renewed.last_refresh_at = Some(now);
            renewed.last_validated_at = Some(now);
            renewed.last_error = warning.clone();
            renewed.network = Network::Online;
            renewed.hand_out_waiting = state.hand_out_waiting;
            renewed.sign_out_waiting = state.sign_out_waiting;
            renewed.silent.last = Some(outcome(SilentOutcome::Renewed, None));
            evaluate(renewed, now, policy)
        }
        // The provider needs the person (its own sign-in ended), or answered what this session cannot
        // take (another user, a refused answer): asking again would get the same answer, so no attempt
        // runs until the person signs in. A refresh token that still lives keeps the session until its
        // end (the person is told to sign in again now: `signInAgainSoon`); one that is dead ends it.
        SilentResult::NeedsSignIn(error) | SilentResult::Refused(error) => {
            let word = if matches!(result, SilentResult::NeedsSignIn(_)) { SilentOutcome::NeedsSignIn } else { SilentOutcome::Refused };
            next.silent.blocked = true;
            next.silent.last = Some(outcome(word, Some(error)));
            match ended_by {
                Some(refusal) if word == SilentOutcome::Refused => ended(next, refusal),
                Some(_) => ended(next, error.clone()),
                None => went_on(next, error, now, policy),
            }
        }
        SilentResult::Failed { error, jitter } => {
            next.silent.last = Some(outcome(SilentOutcome::Failed, Some(error)));
            next.silent.failures = next.silent.failures.saturating_add(1);
            next.silent.retry_at = Some(now + delta(policy.refresh.retry_delay(next.silent.failures, *jitter)));
            match ended_by {
                // The refresh token is dead: the session ends as it would have without the attempt.
                Some(refusal) => ended(next, refusal),
                // The session is as it was (its refresh token lives); a passing failure is retried.
                None => went_on(next, error, now, policy),
            }
        }
    }
}

/// The attempt did not renew the session, whose refresh token (if any) still lives: the session goes
/// on as it was; a caller waiting on the attempt hears why.
fn went_on(mut next: SessionState, error: &ErrorInfo, now: DateTime<Utc>, policy: &Policy) -> (SessionState, Vec<Effect>) {
    if next.check_waiting {
        next.check_failure = Some(error.clone());
    }
    if next.phase == Phase::Expired { (next, Vec::new()) } else { evaluate(next, now, policy) }
}

/// Why a session that silent sign-in no longer renews ends at its refresh token's end: the provider's
/// own sign-in ended (`sign_in_needed`), if that is what the last attempt heard.
pub(super) fn ended_by_the_provider(state: &SessionState) -> Option<ErrorInfo> {
    let heard = state.silent.last.as_ref().is_some_and(|last| last.outcome == SilentOutcome::NeedsSignIn);
    (state.silent.blocked && heard).then(|| ErrorInfo::new(ErrorKind::SignInNeeded, SIGN_IN_NEEDED_MESSAGE))
}

/// The attempt could not renew a session whose refresh token is dead: it ends (once) with `error`.
fn ended(mut next: SessionState, error: ErrorInfo) -> (SessionState, Vec<Effect>) {
    if next.check_waiting {
        next.check_failure = Some(error.clone());
    }
    if next.phase == Phase::Expired {
        next.last_error = Some(error);
        return (next, Vec::new());
    }
    // Only a dead refresh token ends a session here (`invalid_grant`): nothing left to revoke.
    expire(&next, error, false)
}
