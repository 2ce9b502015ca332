//! Deadlines: what the passing of time does to a session (refresh within the lead time, expiring
//! near the end, expired at the end), the sliding lifetime, and how a session ends.

use chrono::{DateTime, TimeDelta, Utc};

use super::{info, start_refresh};
use crate::error::{ErrorInfo, ErrorKind};
use crate::policy::Policy;
use crate::session::state::{Effect, KeychainCopy, Phase, SessionState, TokenTimes, delta, lead_for};

/// Applies deadlines that have passed.
pub(super) fn evaluate(mut next: SessionState, now: DateTime<Utc>, policy: &Policy) -> (SessionState, Vec<Effect>) {
    if !matches!(next.phase, Phase::Active | Phase::Expiring) || next.silent.attempting {
        // A silent sign-in in flight is bounded in time; its outcome decides (`silent.rs`).
        return (next, Vec::new());
    }
    next.silent.sign_in_again_soon = super::silent::sign_in_again_soon(&next, now, policy);
    if let Some(started) = super::silent::silent_due(&next, now, policy) {
        return started;
    }
    let warning = delta(policy.refresh.expiry_warning);
    let lead = next.refresh_lead(policy);
    let access_expires_at = next.access_expires_at();
    if let Some(end) = next.session_expires_at
        && now >= end
    {
        let refresh_token_end = next.tokens.and_then(|t| t.refresh_token_expires_at) == Some(end);
        let words = if refresh_token_end {
            "The provider's refresh token for this session has ended: sign in again."
        } else {
            "The session reached the end of its lifetime: sign in again."
        };
        let error = match super::silent::ended_by_the_provider(&next) {
            Some(why) => why,
            None => info(ErrorKind::SessionRevoked, words),
        };
        let revoke = next.has_refresh_token();
        return expire(&next, error, revoke);
    }
    // A refresh token's end that a silent sign-in will push out is not an end coming.
    let lifetime_ending = next.session_expires_at.is_some_and(|end| now >= end - warning) && !super::silent::renews_at_end(&next);
    let access_within_lead = access_expires_at.is_some_and(|at| now >= at - lead);
    if next.has_refresh_token() {
        // A retry waits for its instant, whether the failure counted or came while offline.
        let held = next.retry_at.is_some_and(|retry| now < retry);
        let due = !held && (next.failures > 0 || next.refresh_due_at(policy).is_some_and(|at| now >= at));
        if due {
            let (started, effects) = start_refresh(next.clone());
            if !effects.is_empty() {
                return (started, effects);
            }
        }
        let failing_near_expiry = next.failures > 0 && access_within_lead;
        next.phase = if failing_near_expiry || lifetime_ending { Phase::Expiring } else { Phase::Active };
    } else {
        if access_expires_at.is_some_and(|at| now >= at) {
            let error = info(ErrorKind::SessionRevoked, "The access token expired and the provider gave no refresh token: sign in again.");
            return expire(&next, error, false);
        }
        let access_ending = access_expires_at.is_some_and(|at| now >= at - warning);
        next.phase = if access_ending || lifetime_ending { Phase::Expiring } else { Phase::Active };
    }
    (next, Vec::new())
}

/// User activity pushes the session's end out, at most once per `update_age`.
pub(super) fn slide_lifetime(next: &mut SessionState, now: DateTime<Utc>, policy: &Policy) {
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

pub(super) fn cap(end: DateTime<Utc>, times: &TokenTimes) -> DateTime<Utc> {
    times.refresh_token_expires_at.map_or(end, |refresh_end| end.min(refresh_end))
}

/// The session ended without the user signing out: its tokens are discarded (revoked first when
/// the provider may still honour them).
pub(super) fn expire(state: &SessionState, error: ErrorInfo, revoke: bool) -> (SessionState, Vec<Effect>) {
    let next = SessionState {
        phase: Phase::Expired,
        tokens: None,
        failures: 0,
        retry_at: None,
        validating: false,
        last_error: Some(error),
        resume_phase: None,
        keychain: KeychainCopy::Saved,
        refused: None,
        rejected: None,
        ..state.clone()
    };
    (next, vec![Effect::Discard { revoke }])
}

/// How much earlier than the lead time a refresh may come, as a fraction of the lead time. Sessions
/// whose tokens were issued together (all refreshed at start or after a wake, say) would otherwise
/// stay in lockstep and reach the token endpoint in bursts. Earlier, not later: a token is still
/// refreshed at least the lead time before it expires, so a program asking for one never waits.
pub const REFRESH_SPREAD: f64 = 0.5;

impl SessionState {
    /// A number in `0..1`, the same for the same token and different for each session: drawn from the
    /// instants the session signed in and its access token expires (nanoseconds: both come from this
    /// computer's clock when an answer arrived). The machine stays a pure function, and the planned
    /// refresh is the same after a restart.
    fn spread_draw(&self, expires: DateTime<Utc>) -> f64 {
        let nanos = |at: DateTime<Utc>| at.timestamp_nanos_opt().unwrap_or(at.timestamp()) as u64;
        let seed = nanos(expires) ^ self.signed_in_at.map_or(0, nanos).rotate_left(32);
        // SplitMix64's finaliser: neighbouring seeds give unrelated draws.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// When things are due: the questions about time that the machine and the snapshot ask of a state.
impl SessionState {
    /// How long before the access token's expiry to refresh ([`lead_for`] of the access token).
    pub(crate) fn refresh_lead(&self, policy: &Policy) -> TimeDelta {
        lead_for(self.last_refresh_at.max(self.signed_in_at), self.access_expires_at(), policy)
    }

    /// When the next automatic refresh is due: the lead time before the access token expires, and up
    /// to [`REFRESH_SPREAD`] of it earlier (see there), but never sooner than `min_refresh_interval`
    /// after the last one, whatever the provider said.
    pub(crate) fn refresh_due_at(&self, policy: &Policy) -> Option<DateTime<Utc>> {
        let expires = self.access_expires_at()?;
        let lead = self.refresh_lead(policy);
        let spread = lead.to_std().unwrap_or_default().mul_f64(REFRESH_SPREAD * self.spread_draw(expires));
        let due = expires - lead - delta(spread);
        let last = self.last_refresh_at.max(self.signed_in_at);
        Some(last.map_or(due, |last| due.max(last + delta(policy.refresh.min_refresh_interval))))
    }

    /// Whether an automatic refresh now would come sooner than `min_refresh_interval` after the last.
    pub(crate) fn refresh_held_back(&self, now: DateTime<Utc>, policy: &Policy) -> bool {
        let last = self.last_refresh_at.max(self.signed_in_at);
        last.is_some_and(|last| now < last + delta(policy.refresh.min_refresh_interval))
    }

    /// When the next refresh is planned, for display.
    pub fn next_refresh_at(&self, policy: &Policy) -> Option<DateTime<Utc>> {
        if !matches!(self.phase, Phase::Active | Phase::Expiring) || !self.has_refresh_token() {
            return None;
        }
        if self.failures > 0 {
            return self.retry_at;
        }
        // Held after a failure while offline: not before the hold ends.
        self.refresh_due_at(policy).map(|due| self.retry_at.map_or(due, |retry| due.max(retry)))
    }

    /// The earliest future instant at which [`crate::Event::Tick`] could change this state.
    pub fn next_deadline(&self, now: DateTime<Utc>, policy: &Policy) -> Option<DateTime<Utc>> {
        if !matches!(self.phase, Phase::Active | Phase::Expiring) {
            return None;
        }
        let warning = delta(policy.refresh.expiry_warning);
        let mut candidates = Vec::with_capacity(6);
        if let Some(end) = self.session_expires_at {
            candidates.extend([end, end - warning]);
        }
        if let Some(at) = self.access_expires_at() {
            if self.has_refresh_token() {
                candidates.extend(self.refresh_due_at(policy));
                // Failing refreshes make the session Expiring once the lead time is reached, even
                // when the next retry or `min_refresh_interval` puts the refresh itself later.
                if self.failures > 0 {
                    candidates.push(at - self.refresh_lead(policy));
                }
            } else {
                candidates.extend([at, at - warning]);
            }
        }
        candidates.extend(self.retry_at);
        candidates.extend(super::silent::deadlines(self, policy));
        if let KeychainCopy::Unsaved { retry_at } = self.keychain {
            candidates.push(retry_at);
        }
        candidates.into_iter().filter(|instant| *instant > now).min()
    }
}
