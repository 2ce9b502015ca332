//! What each transition adds to a session's history (`history.rs`): called by [`super::transition`]
//! only, after the decision is made.

use chrono::{DateTime, Utc};

use super::super::history::{Mark, MarkKind, mark};
use super::super::state::{Effect, Event, Phase, RefreshFailure, SessionState, Trigger};

/// What the transition from `before` to `after` on `event`, with `effects`, adds to the history.
pub(super) fn marks(before: &SessionState, after: &SessionState, event: &Event, effects: &[Effect], now: DateTime<Utc>) -> Vec<Mark> {
    let mut out = Vec::new();
    let asks = effects.iter().any(|e| matches!(e, Effect::Refresh | Effect::Validate));
    match event {
        Event::SignedIn { .. } if after.is_signed_in() => out.push(mark(now, MarkKind::SignedIn, None)),
        Event::RefreshSucceeded { .. } if before.is_signed_in() => out.push(mark(now, MarkKind::Refreshed, None)),
        Event::RefreshFailed { failure, .. } if before.is_signed_in() => {
            let error = match failure {
                RefreshFailure::Transient(e) | RefreshFailure::Rejected(e) | RefreshFailure::Revoked(e) | RefreshFailure::Security(e) => e,
                RefreshFailure::Throttled { error, .. } => error,
            };
            out.push(mark(now, MarkKind::RefreshFailed, Some(error.kind.as_str())));
        }
        Event::Trigger(trigger) | Event::CheckWanted(trigger) if asks => out.push(mark(now, MarkKind::Checked, Some(trigger.as_str()))),
        // A deadline that came is the periodic check's doing.
        Event::Tick if asks => out.push(mark(now, MarkKind::Checked, Some(Trigger::Interval.as_str()))),
        Event::SignedOut => out.push(mark(now, MarkKind::SignedOut, None)),
        Event::HandedOut { program } => out.push(mark(now, MarkKind::HandedOut, Some(program))),
        Event::SilentFinished(_) if before.silent.attempting => {
            let word = after.silent.last.as_ref().map_or("failed", |last| last.outcome.as_str());
            out.push(mark(now, MarkKind::SilentSignIn, Some(word)));
        }
        _ => {}
    }
    if effects.contains(&Effect::SilentSignIn) {
        out.push(mark(now, MarkKind::SilentSignIn, Some("started")));
    }
    if after.phase == Phase::Expired && before.phase != Phase::Expired {
        out.push(mark(now, MarkKind::Expired, None));
    }
    out
}
