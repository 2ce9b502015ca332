//! What a finished task means for its session: one pure function, [`events`], turns a
//! [`Completion`] into the [`Event`]s for [`super::transition`] and what the actor's entry keeps (the
//! tokens in memory, a narrowed token). No I/O: the random jitter arrives as an argument.

use super::effects::{Completion, NarrowedToken};
use super::state::{Event, RefreshFailure};
use crate::error::ErrorInfo;
use crate::oidc::UserCheck;
use crate::secret::SessionSecrets;

/// What a completion brings: the events, in order, and what the entry holds from now on.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// For the state machine, in this order.
    pub events: Vec<Event>,
    /// The tokens to hold in memory from now on; `None` leaves them as they are.
    pub secrets: Option<SessionSecrets>,
    /// The narrowed token made for the scope in flight (its expiry is in a
    /// [`Event::NarrowedTokenMade`] of `events`).
    pub narrowed: Option<NarrowedToken>,
}

/// The events a finished task reports, given the tokens the entry `held` when it finished and a
/// random `jitter` in 0..1 for a failed refresh's backoff.
///
/// A refresh answer that failed a security check ([`crate::Refreshed::rejected`]) is a
/// [`RefreshFailure::Security`]: its tokens are held only so that the discard the machine decides
/// revokes them. One whose access token was refused ([`crate::Refreshed::refused`], a `token_type`
/// not understood) is a [`RefreshFailure::Rejected`] whose rotated refresh token is held (and was
/// written), so the grant survives. A re-read after `invalid_grant` reports `rotated` when the keychain holds another
/// refresh token than the refused one, which is then the one held.
pub(crate) fn events(completion: Completion, held: Option<&SessionSecrets>, jitter: f64) -> Outcome {
    match completion {
        Completion::Refresh { id, used, result, narrowed, .. } => {
            // A refresh made with tokens read from the keychain: those are the session's now.
            let mut outcome = Outcome { secrets: if held.is_none() { used } else { None }, ..Outcome::default() };
            match result {
                Ok(refreshed) if refreshed.rejected.is_some() => {
                    let error = refreshed.rejected.expect("checked");
                    tracing::warn!(session = %id, "refresh answer refused: {}", error.message);
                    outcome.secrets = Some(refreshed.secrets);
                    outcome.events.push(Event::RefreshFailed { failure: RefreshFailure::Security(error), jitter: 0.0 });
                }
                Ok(refreshed) if refreshed.refused.is_some() => {
                    // The access token was refused, the rotated refresh token kept (and written).
                    let error = refreshed.refused.expect("checked");
                    tracing::warn!(session = %id, "refresh answer's access token refused: {}", error.message);
                    outcome.secrets = Some(refreshed.secrets);
                    outcome.events.push(Event::RefreshFailed { failure: RefreshFailure::Rejected(error), jitter });
                    if let Some(error) = refreshed.unsaved {
                        outcome.events.push(Event::TokensNotSaved(error));
                    }
                }
                Ok(refreshed) => {
                    if let Some(warning) = &refreshed.warning {
                        tracing::warn!(session = %id, "{warning}");
                    }
                    if let Some((token, expires_at)) = narrowed {
                        outcome.events.push(Event::NarrowedTokenMade { expires_at });
                        outcome.narrowed = Some((token, expires_at));
                    }
                    outcome.secrets = Some(refreshed.secrets);
                    let warning = refreshed.warning.map(ErrorInfo::misbehaved);
                    outcome.events.push(Event::RefreshSucceeded { times: refreshed.times, warning });
                    outcome.events.push(match refreshed.unsaved {
                        Some(error) => Event::TokensNotSaved(error),
                        None => Event::TokensSaved,
                    });
                }
                Err(failure) => {
                    let info = failure.info();
                    tracing::info!(session = %id, kind = ?info.kind, "refresh failed: {}", info.message);
                    outcome.events.push(Event::RefreshFailed { failure, jitter });
                }
            }
            outcome
        }
        Completion::Reread { id, stored, .. } => {
            let rotated = matches!((&stored, held), (Some(stored), Some(refused)) if !stored.same_refresh_token(refused));
            let mut outcome = Outcome { events: vec![Event::Reread { rotated }], ..Outcome::default() };
            if rotated {
                tracing::info!(session = %id, "refresh token was rotated elsewhere; retrying with the stored one");
                outcome.secrets = stored;
            }
            outcome
        }
        Completion::Validate { id, check, .. } => {
            let event = match check {
                UserCheck::Valid(profile) => Event::Validated(profile),
                UserCheck::Rejected => Event::ValidationRejected,
                UserCheck::Unavailable(err) => {
                    tracing::info!(session = %id, error = %err, "userinfo check not possible now");
                    Event::ValidationUnavailable
                }
            };
            Outcome { events: vec![event], ..Outcome::default() }
        }
        Completion::Saved { id, result, .. } => {
            let event = match result {
                Ok(()) => Event::TokensSaved,
                Err(err) => {
                    tracing::warn!(session = %id, error = %err, "new tokens still not saved");
                    Event::TokensNotSaved(err.info())
                }
            };
            Outcome { events: vec![event], ..Outcome::default() }
        }
        Completion::Discarded { .. } => Outcome::default(),
        Completion::Silent { done, .. } => {
            let mut events = vec![Event::SilentFinished(done.result)];
            if done.secrets.is_some() {
                events.push(match done.unsaved {
                    Some(error) => Event::TokensNotSaved(error),
                    None => Event::TokensSaved,
                });
            }
            Outcome { events, secrets: done.secrets, narrowed: None }
        }
    }
}

#[cfg(test)]
mod tests;
