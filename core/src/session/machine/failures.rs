//! What a failed refresh does to a session: an outage backs off and keeps it; `invalid_grant` reads
//! the keychain once and then ends it; any other refusal reads the keychain, waits the longest
//! backoff, and ends the session when the provider refuses again. A refused certificate or proxy
//! needs the person at once and waits the longest backoff. And what the desktop's connectivity does:
//! a provider out of reach while the desktop is offline (or behind a captive portal) is not the
//! session's failure, and the network's return is a reason to refresh at once.
//!
//! While offline, a due refresh is still tried, but at most once per longest backoff
//! (`retry_max_delay`, 5 minutes by default), and not counted: none at all would leave a session
//! stuck whenever the desktop's word is wrong (a provider on this machine or on an intranet that
//! NetworkManager's check cannot see), and more would be a storm of requests that cannot succeed.

use chrono::{DateTime, Utc};

use super::{evaluate, expire, info};
use crate::error::{ErrorInfo, ErrorKind};
use crate::policy::Policy;
use crate::session::state::{Effect, Network, Phase, RefreshFailure, Refusal, SessionState, Waiter, delta, needs_the_person};

/// The first words of the message of a session whose refresh the provider refused twice with
/// another error than `invalid_grant`; the refusal's own message (with its advice) follows.
pub const REFUSED_AGAIN_MESSAGE: &str = "The provider refused to refresh this session again, so it has ended: sign in again.";

/// What a failed refresh does to the session: `next` is `state` with the failure's waiters answered.
pub(super) fn refresh_failed(
    state: &SessionState,
    mut next: SessionState,
    failure: &RefreshFailure,
    jitter: f64,
    now: DateTime<Utc>,
    policy: &Policy,
) -> (SessionState, Vec<Effect>) {
    // A narrowed refresh asks for a scope of its own, which a provider may refuse (`invalid_scope`)
    // while the session's refresh token is fine: only the session's own refresh counts as a refusal
    // of the session.
    let own = state.narrowing.in_flight.is_none();
    match failure {
        // The app is quitting: nothing more starts, and the next start refreshes (and re-reads) again.
        RefreshFailure::Revoked(error) if state.stopping && state.refused.is_none() => {
            next.phase = Phase::Active;
            next.last_error = Some(error.clone());
            evaluate(next, now, policy)
        }
        // Another process may have rotated the refresh token: look in the keychain once before
        // giving the session up.
        RefreshFailure::Revoked(error) if state.refused.is_none() => {
            next.refused = Some(error.clone());
            next.rejected = None;
            (next, vec![Effect::Reread])
        }
        RefreshFailure::Revoked(error) => expire(&next, error.clone(), false),
        // Never use, never keep: revoke what came (the actor holds the answer's tokens now).
        RefreshFailure::Security(error) => expire(&next, error.clone(), true),
        // Refused again, after the keychain was read (and the token it held, if another, tried): the
        // tokens are dead or this client is not allowed to use them. Left like this the card would
        // say "signed in" with dead tokens for the session's whole lifetime.
        RefreshFailure::Rejected(error) if own && state.rejected.is_some() && !state.stopping => {
            let ended = info(ErrorKind::SessionRevoked, &format!("{REFUSED_AGAIN_MESSAGE} {}", error.message));
            if next.check_waiting {
                next.check_failure = Some(ended.clone());
            }
            expire(&next, ended, false)
        }
        // Offline or behind a portal, a provider out of reach says nothing about the session: not
        // counted, no backoff spent; held until the network returns (`network_changed`) or, at the
        // latest, the longest backoff.
        RefreshFailure::Transient(error) if state.network != Network::Online => {
            next.phase = Phase::Active;
            next.refused = None;
            next.retry_at = Some(now + delta(policy.refresh.retry_max_delay));
            next.last_error = Some(error.clone());
            evaluate(next, now, policy)
        }
        RefreshFailure::Transient(error) | RefreshFailure::Rejected(error) | RefreshFailure::Throttled { error, .. } => {
            next.phase = Phase::Active;
            next.refused = None;
            next.failures = state.failures.saturating_add(1);
            let backoff = policy.refresh.retry_delay(next.failures, jitter);
            let wait = match failure {
                // Waiting mends neither a refused certificate nor a proxy that wants credentials:
                // the person is told at once (`SessionState::refresh_failing`), and retries are rare.
                RefreshFailure::Rejected(_) => policy.refresh.retry_max_delay,
                RefreshFailure::Transient(error) if needs_the_person(error.kind) => policy.refresh.retry_max_delay,
                RefreshFailure::Throttled { retry_after, .. } => backoff.max(*retry_after).min(policy.refresh.retry_max_delay),
                _ => backoff,
            };
            next.retry_at = Some(now + delta(wait));
            next.last_error = Some(error.clone());
            if matches!(failure, RefreshFailure::Rejected(_)) && own && !state.stopping {
                return first_refusal(next, error);
            }
            evaluate(next, now, policy)
        }
    }
}

/// A first refusal (not `invalid_grant`) of the session's refresh: the keychain is read again, in
/// case another process rotated the refresh token, before the next try decides. A program waiting
/// for a token is refused at once (the provider refused the session, even while its token lives).
fn first_refusal(mut next: SessionState, error: &ErrorInfo) -> (SessionState, Vec<Effect>) {
    next.rejected = Some(error.clone());
    next.refused = Some(error.clone());
    // Busy while the keychain is read: nothing else starts with the refused token meanwhile.
    next.phase = Phase::Refreshing;
    let mut effects = Vec::with_capacity(2);
    if next.hand_out_waiting {
        next.hand_out_waiting = false;
        effects.push(Effect::Refuse(Waiter::Token, Refusal::Failed(error.clone())));
    }
    effects.push(Effect::Reread);
    (next, effects)
}

/// The keychain was read again after a refusal: `rotated` when it holds another refresh token.
pub(super) fn reread(state: &SessionState, rotated: bool, now: DateTime<Utc>, policy: &Policy) -> (SessionState, Vec<Effect>) {
    let mut next = state.clone();
    match (&state.refused, rotated) {
        (Some(_), true) if state.stopping => {
            // The rotated token is in memory and in the keychain: the next start refreshes with it.
            next.phase = Phase::Active;
            next.refused = None;
            (next, Vec::new())
        }
        // The refusal may have been for the old token: the one another process left is tried now.
        (Some(_), true) => {
            next.phase = Phase::Refreshing;
            (next, vec![Effect::Refresh])
        }
        // The same token: a refusal other than `invalid_grant` is tried again after the longest
        // backoff (at once when a person looks, `triggered`), in case the provider's trouble was
        // passing; if it is refused again the session ends.
        (Some(_), false) if state.rejected.is_some() => {
            next.phase = Phase::Active;
            next.refused = None;
            evaluate(next, now, policy)
        }
        // The same token: a silent sign-in may still renew the session (once), else it ends.
        (Some(error), false) => super::silent::after_refusal(state, error),
        (None, _) => (next, Vec::new()),
    }
}

/// The desktop's connectivity changed. Whatever the phase, the session learns it (a sign-in, a
/// refresh in flight, a signed-out session: each shows it). When the network has come back, a
/// retry it held (or a backoff it caused) is dropped and a session that is due refreshes at once,
/// as after a wake; a refusal keeps its longest backoff, since the network did not cause it.
pub(super) fn network_changed(
    mut next: SessionState,
    network: Network,
    now: DateTime<Utc>,
    policy: &Policy,
) -> (SessionState, Vec<Effect>) {
    let returned = network == Network::Online && next.network != Network::Online;
    next.network = network;
    if !returned || !std::matches!(next.phase, Phase::Active | Phase::Expiring) {
        return (next, Vec::new());
    }
    if next.rejected.is_none() {
        next.retry_at = None;
    }
    evaluate(next, now, policy)
}
