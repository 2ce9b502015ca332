//! The actor ticks a session only at [`SessionState::next_deadline`] and once right after each other
//! event, so that a turn costs what is due rather than how many sessions there are. That is right only
//! if, after that tick, a tick at any instant up to the deadline changes nothing. This checks it on states reached by random event
//! sequences under random policies, at random instants.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

use super::transition;
use crate::error::{ErrorInfo, ErrorKind};
use crate::policy::Policy;
use crate::session::state::{Event, RefreshFailure, SessionState, TokenTimes, Trigger};
use crate::user::UserProfile;

fn info() -> ErrorInfo {
    ErrorInfo::new(ErrorKind::ProviderUnavailable, "down")
}

fn policy() -> impl Strategy<Value = Policy> {
    (0u64..900, 1u64..120, 0u64..900, 60u64..20_000, 0u64..=100, 1u64..60, 0u64..600).prop_map(
        |(lead, min_interval, warning, expires_in, update_percent, retry, retry_extra)| {
            let mut policy = Policy::default();
            policy.refresh.lead_time = Duration::from_secs(lead);
            policy.refresh.min_refresh_interval = Duration::from_secs(min_interval);
            policy.refresh.expiry_warning = Duration::from_secs(warning);
            policy.refresh.retry_initial_delay = Duration::from_secs(retry);
            policy.refresh.retry_max_delay = Duration::from_secs(retry + retry_extra);
            policy.lifetime.expires_in = Duration::from_secs(expires_in);
            policy.lifetime.update_age = Duration::from_secs(expires_in * update_percent / 100);
            policy
        },
    )
}

/// Token times as offsets from the event's instant.
fn times() -> impl Strategy<Value = (Option<i64>, Option<i64>, bool)> {
    (proptest::option::weighted(0.9, 0i64..4_000), proptest::option::weighted(0.3, 0i64..30_000), any::<bool>())
}

fn at(now: DateTime<Utc>, (access, refresh, has_refresh): (Option<i64>, Option<i64>, bool)) -> TokenTimes {
    TokenTimes {
        access_token_expires_at: access.map(|s| now + TimeDelta::seconds(s)),
        refresh_token_expires_at: refresh.map(|s| now + TimeDelta::seconds(s)),
        has_refresh_token: has_refresh,
        refresh_token_online: false,
    }
}

#[derive(Debug, Clone)]
enum Step {
    SignedIn((Option<i64>, Option<i64>, bool)),
    Refreshed((Option<i64>, Option<i64>, bool)),
    Failed(u8, f64, u64),
    Reread(bool),
    Trigger(u8),
    Wanted(i64),
    Saved(bool),
    Validated(u8),
    Other(u8),
    /// A silent sign-in's outcome (renewed with these times, needs sign-in, refused, failed), or one asked for.
    Silent(u8, (Option<i64>, Option<i64>, bool), f64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        times().prop_map(Step::SignedIn),
        times().prop_map(Step::Refreshed),
        (0u8..6, 0.0..=1.0f64, 0u64..900).prop_map(|(kind, jitter, after)| Step::Failed(kind, jitter, after)),
        any::<bool>().prop_map(Step::Reread),
        (0u8..8).prop_map(Step::Trigger),
        (0i64..900).prop_map(Step::Wanted),
        any::<bool>().prop_map(Step::Saved),
        (0u8..3).prop_map(Step::Validated),
        (0u8..7).prop_map(Step::Other),
        (0u8..5, times(), 0.0..=1.0f64).prop_map(|(kind, t, jitter)| Step::Silent(kind, t, jitter)),
    ]
}

fn event(step: &Step, now: DateTime<Utc>) -> Event {
    let alice = UserProfile { subject: "alice".into(), name: None, email: None, preferred_username: None };
    match step.clone() {
        Step::SignedIn(t) => Event::SignedIn { times: at(now, t), user: alice, warning: None, auth_time: None },
        Step::Refreshed(t) => Event::RefreshSucceeded { times: at(now, t), warning: None },
        Step::Failed(kind, jitter, after) => {
            let failure = match kind {
                0 => RefreshFailure::Transient(info()),
                1 => RefreshFailure::Revoked(info()),
                2 => RefreshFailure::Rejected(info()),
                3 => RefreshFailure::Security(info()),
                4 => RefreshFailure::Transient(ErrorInfo::new(ErrorKind::CertificateRejected, "unknown issuer")),
                _ => RefreshFailure::Throttled { error: info(), retry_after: Duration::from_secs(after) },
            };
            Event::RefreshFailed { failure, jitter }
        }
        Step::Reread(rotated) => Event::Reread { rotated },
        Step::Trigger(kind) => Event::Trigger(match kind {
            0 => Trigger::Interval,
            1 => Trigger::Focus,
            2 => Trigger::Resume,
            3 => Trigger::Manual { force: false },
            4 => Trigger::Manual { force: true },
            // The network going and coming: a failure while offline holds the refresh until then.
            5 => Trigger::Network(crate::session::state::Network::Offline),
            6 => Trigger::Network(crate::session::state::Network::Portal),
            _ => Trigger::Network(crate::session::state::Network::Online),
        }),
        Step::Wanted(seconds) => {
            Event::TokenWanted { token: crate::session::state::TokenKind::Access, min_valid: TimeDelta::seconds(seconds) }
        }
        Step::Saved(true) => Event::TokensSaved,
        Step::Saved(false) => Event::TokensNotSaved(info()),
        Step::Validated(0) => Event::Validated(alice),
        Step::Validated(1) => Event::ValidationRejected,
        Step::Validated(_) => Event::ValidationUnavailable,
        Step::Silent(kind, t, jitter) => {
            use crate::session::state::SilentResult;
            match kind {
                0 => Event::SilentFinished(SilentResult::Renewed { times: at(now, t), user: alice, warning: None, auth_time: None }),
                1 => Event::SilentFinished(SilentResult::NeedsSignIn(ErrorInfo::new(ErrorKind::SignInNeeded, "sign in"))),
                2 => Event::SilentFinished(SilentResult::Refused(ErrorInfo::new(ErrorKind::OtherUser, "another user"))),
                3 => Event::SilentFinished(SilentResult::Failed { error: info(), jitter }),
                _ => Event::SilentWanted,
            }
        }
        Step::Other(kind) => match kind {
            0 => Event::SignInStarted,
            1 => Event::SignInAbandoned,
            2 => Event::SignOutRequested,
            3 => Event::SignedOut,
            4 => Event::Restored,
            5 => Event::Stopping,
            _ => Event::Tick,
        },
    }
}

proptest! {
    // 512 cases in CI; `PROPTEST_CASES` asks for more.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_tick_before_the_next_deadline_changes_nothing(
        policy in policy(),
        browser in any::<bool>(),
        steps in proptest::collection::vec((step(), 0i64..5_000, 0.0..1.0f64), 1..24),
    ) {
        let mut now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut state = SessionState::signed_out();
        // A silent browser plugged in or not: silent sign-in's instants are deadlines too.
        state.silent.browser = browser;
        for (step, wait, fraction) in steps {
            now += TimeDelta::seconds(wait);
            // The event, then the tick the actor gives every session an event reached.
            (state, _) = transition(&state, &event(&step, now), now, &policy);
            (state, _) = transition(&state, &Event::Tick, now, &policy);
            let deadline = state.next_deadline(now, &policy);
            let horizon = deadline.unwrap_or(now + TimeDelta::days(30));
            let span = (horizon - now).num_milliseconds();
            let probes = [now, now + TimeDelta::milliseconds((span as f64 * fraction) as i64), horizon - TimeDelta::milliseconds(1)];
            for probe in probes.into_iter().filter(|p| *p >= now && *p < horizon) {
                let (ticked, effects) = transition(&state, &Event::Tick, probe, &policy);
                prop_assert!(
                    effects.is_empty() && ticked == state,
                    "a tick at +{} ms changed the state before its deadline (+{:?} ms) after {:?}: {:?} -> {:?}, {:?}",
                    (probe - now).num_milliseconds(), deadline.map(|d| (d - now).num_milliseconds()), step, state, ticked, effects
                );
            }
        }
    }
}
