//! Silent sign-in's rules (OIDC Core 3.1.2.1, `prompt=none`): when one starts (a lead time before the
//! refresh token's announced end, after `invalid_grant` ended the refresh, for a program or a person
//! waiting on a session that has just ended, on demand), what its outcome does, and never a loop: after
//! the provider says its own session has ended, no attempt until the person signs in.

use chrono::{DateTime, Utc};

use crate::policy::Policy;
use crate::session::state::{Effect, Event, Refusal, SessionState, Waiter};

/// The silent sign-in's own events.
pub(super) fn decide(
    _state: &SessionState,
    mut next: SessionState,
    event: &Event,
    _now: DateTime<Utc>,
    _policy: &Policy,
) -> (SessionState, Vec<Effect>) {
    match event {
        Event::SilentSet { enabled } => {
            next.silent.enabled = *enabled;
            (next, Vec::new())
        }
        Event::SilentWanted => (next, vec![Effect::Refuse(Waiter::Check, Refusal::NotSignedIn)]),
        _ => (next, Vec::new()),
    }
}
