use super::failures::REFUSED_AGAIN_MESSAGE;
use super::*;
use crate::error::ErrorKind;
use crate::session::history::MarkKind;
use crate::session::state::{
    EndReason, Event, KeychainCopy, Network, Phase, RefreshFailure, Refusal, SessionState, TokenKind, TokenTimes, Trigger, Waiter,
};
use crate::user::UserProfile;
use chrono::TimeDelta;
use std::time::Duration;

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

fn times(access_seconds: i64, refresh: bool) -> TokenTimes {
    TokenTimes {
        access_token_expires_at: Some(t(access_seconds)),
        refresh_token_expires_at: None,
        has_refresh_token: refresh,
        refresh_token_online: false,
    }
}

fn signed_in(access_seconds: i64, refresh: bool, policy: &Policy) -> SessionState {
    let (state, effects) = transition(
        &SessionState::signed_out(),
        &Event::SignedIn { times: times(access_seconds, refresh), user: alice(), warning: None, auth_time: None },
        t(0),
        policy,
    );
    assert!(effects.is_empty());
    state
}

fn alice() -> UserProfile {
    UserProfile { subject: "alice".into(), name: Some("Alice".into()), email: None, preferred_username: None }
}

fn transient() -> RefreshFailure {
    RefreshFailure::Transient(ErrorInfo::new(ErrorKind::ProviderUnavailable, "503"))
}

#[test]
fn refreshes_once_the_lead_time_before_access_token_expiry() {
    let policy = Policy::default();
    let state = signed_in(600, true, &policy);
    assert_eq!(state.phase, Phase::Active);
    // The lead time (60 s) before expiry, spread up to half of it earlier.
    let due = state.next_deadline(t(0), &policy).unwrap();
    assert!((t(510)..=t(540)).contains(&due), "{due}");
    let (same, effects) = transition(&state, &Event::Tick, due - TimeDelta::milliseconds(1), &policy);
    assert_eq!((same.phase, effects), (Phase::Active, vec![]));
    let (refreshing, effects) = transition(&state, &Event::Tick, due, &policy);
    assert_eq!((refreshing.phase, effects), (Phase::Refreshing, vec![Effect::Refresh]));
}

#[test]
fn a_lead_time_longer_than_the_tokens_life_refreshes_at_half_life_not_in_a_loop() {
    let policy = Policy::default(); // 60 s lead time
    let state = signed_in(30, true, &policy);
    let due = state.next_deadline(t(0), &policy).unwrap();
    assert!((t(7) + TimeDelta::milliseconds(500)..=t(15)).contains(&due), "{due}");
    let (same, effects) = transition(&state, &Event::Tick, t(1), &policy);
    assert_eq!((same.phase, effects), (Phase::Active, vec![]), "refreshed the moment it signed in");
    let (refreshing, effects) = transition(&state, &Event::Tick, due, &policy);
    assert_eq!(effects, vec![Effect::Refresh]);
    let done = Event::RefreshSucceeded { times: times(45, true), warning: None };
    let (refreshed, effects) = transition(&refreshing, &done, t(15), &policy);
    assert_eq!((refreshed.phase, effects), (Phase::Active, vec![]), "asked again as soon as the refresh landed");
    let next = refreshed.next_refresh_at(&policy).unwrap();
    assert!((t(22) + TimeDelta::milliseconds(500)..=t(30)).contains(&next), "{next}");
}

#[test]
fn sessions_refreshed_together_spread_their_next_refreshes_over_half_the_lead_time() {
    // 1,000 sessions whose answers arrived within the same millisecond (a catch-up at start).
    let policy = Policy::default();
    let dues: Vec<i64> = (0..1000)
        .map(|n| {
            let arrived = t(0) + TimeDelta::nanoseconds(n * 997);
            let times = TokenTimes {
                access_token_expires_at: Some(arrived + TimeDelta::seconds(600)),
                refresh_token_expires_at: None,
                has_refresh_token: true,
                refresh_token_online: false,
            };
            let (state, _) = transition(
                &SessionState::signed_out(),
                &Event::SignedIn { times, user: alice(), warning: None, auth_time: None },
                arrived,
                &policy,
            );
            (state.next_refresh_at(&policy).unwrap() - t(0)).num_milliseconds()
        })
        .collect();
    assert!(dues.iter().all(|due| (510_000..=540_000).contains(due)), "never later than the lead time, at most half of it earlier");
    // Ten 3-second slots of the 30-second window: each gets about a tenth, none more than twice that.
    let mut slots = [0u32; 10];
    for due in &dues {
        slots[(((due - 510_000) / 3_000) as usize).min(9)] += 1;
    }
    assert!(slots.iter().all(|&n| (50..=200).contains(&n)), "{slots:?}");
}

#[test]
fn triggers_during_a_refresh_join_it_instead_of_starting_another() {
    let policy = Policy::default();
    let (refreshing, _) = transition(&signed_in(600, true, &policy), &Event::Tick, t(545), &policy);
    for trigger in [Trigger::Focus, Trigger::Interval, Trigger::Manual { force: true }, Trigger::Resume] {
        let (next, effects) = transition(&refreshing, &Event::Trigger(trigger), t(546), &policy);
        assert_eq!(next.phase, Phase::Refreshing);
        assert!(effects.is_empty(), "{trigger:?} started {effects:?}");
    }
}

#[test]
fn a_check_with_a_fresh_token_validates_at_most_once_per_max_age() {
    let policy = Policy::default();
    let state = signed_in(3600, true, &policy);
    let (same, effects) = transition(&state, &Event::Trigger(Trigger::Focus), t(10), &policy);
    assert!(effects.is_empty(), "validated right after sign-in: {effects:?}");
    let (validating, effects) = transition(&same, &Event::Trigger(Trigger::Interval), t(300), &policy);
    assert_eq!(effects, vec![Effect::Validate]);
    let (_, effects) = transition(&validating, &Event::Trigger(Trigger::Focus), t(301), &policy);
    assert!(effects.is_empty(), "second validation while one is in flight");
    let (validated, _) = transition(&validating, &Event::Validated(alice()), t(302), &policy);
    let (_, effects) = transition(&validated, &Event::Trigger(Trigger::Focus), t(500), &policy);
    assert!(effects.is_empty(), "validated again inside max age");
}

#[test]
fn a_forced_refresh_hits_the_token_endpoint_even_when_fresh() {
    let policy = Policy::default();
    let state = signed_in(3600, true, &policy);
    let (next, effects) = transition(&state, &Event::Trigger(Trigger::Manual { force: true }), t(5), &policy);
    assert_eq!((next.phase, effects), (Phase::Refreshing, vec![Effect::Refresh]));
}

#[test]
fn transient_failures_keep_the_session_and_back_off() {
    let policy = Policy::default();
    let (refreshing, _) = transition(&signed_in(600, true, &policy), &Event::Tick, t(540), &policy);
    let failed = Event::RefreshFailed { failure: transient(), jitter: 1.0 };
    let (after, effects) = transition(&refreshing, &failed, t(541), &policy);
    assert!(effects.is_empty());
    assert_eq!(after.phase, Phase::Expiring, "failing within the lead time counts as expiring");
    assert_eq!(after.failures, 1);
    assert_eq!(after.retry_at, Some(t(542)));
    assert_eq!(after.next_refresh_at(&policy), Some(t(542)));
    let (_, effects) = transition(&after, &Event::Tick, t(541), &policy);
    assert!(effects.is_empty(), "retried before the backoff");
    let (retrying, effects) = transition(&after, &Event::Tick, t(542), &policy);
    assert_eq!((retrying.phase, effects), (Phase::Refreshing, vec![Effect::Refresh]));
    let (second, _) = transition(&retrying, &failed, t(543), &policy);
    assert_eq!((second.failures, second.retry_at), (2, Some(t(545))));
    let (_, effects) = transition(&second, &Event::Trigger(Trigger::Focus), t(543), &policy);
    assert_eq!(effects, vec![Effect::Refresh], "focus retries a failing refresh at once");
    // Long after the access token expired, an outage still does not end the session.
    let (still, effects) = transition(&second, &Event::Tick, t(544), &policy);
    assert_eq!((still.phase, effects), (Phase::Expiring, vec![]));
    let (recovered, _) = transition(&retrying, &Event::RefreshSucceeded { times: times(1200, true), warning: None }, t(700), &policy);
    assert_eq!((recovered.phase, recovered.failures, recovered.last_error.clone()), (Phase::Active, 0, None));
}

#[test]
fn invalid_grant_expires_the_session_and_discards_its_tokens() {
    let policy = Policy::default();
    let (refreshing, _) = transition(&signed_in(600, true, &policy), &Event::Tick, t(540), &policy);
    let revoked = RefreshFailure::Revoked(ErrorInfo::new(ErrorKind::SessionRevoked, "invalid_grant"));
    let (rereading, effects) = transition(&refreshing, &Event::RefreshFailed { failure: revoked, jitter: 0.5 }, t(541), &policy);
    assert_eq!((rereading.phase, effects), (Phase::Refreshing, vec![Effect::Reread]), "the keychain is read again first");
    let (next, effects) = transition(&rereading, &Event::Reread { rotated: false }, t(541), &policy);
    assert_eq!(next.phase, Phase::Expired);
    assert_eq!(next.tokens, None);
    assert_eq!(effects, vec![Effect::Discard { revoke: false }]);
    assert_eq!(next.last_error.unwrap().kind, ErrorKind::SessionRevoked);
}

#[test]
fn without_a_refresh_token_the_session_expires_with_the_access_token() {
    let policy = Policy::default();
    let state = signed_in(900, false, &policy);
    assert_eq!(state.phase, Phase::Active);
    assert_eq!(state.next_deadline(t(0), &policy), Some(t(600)));
    let (expiring, effects) = transition(&state, &Event::Tick, t(600), &policy);
    assert_eq!((expiring.phase, effects), (Phase::Expiring, vec![]));
    assert_eq!(expiring.next_deadline(t(600), &policy), Some(t(900)));
    let (expired, effects) = transition(&expiring, &Event::Tick, t(900), &policy);
    assert_eq!((expired.phase, effects), (Phase::Expired, vec![Effect::Discard { revoke: false }]));
    let (_, effects) = transition(&expired, &Event::Trigger(Trigger::Focus), t(901), &policy);
    assert!(effects.is_empty(), "an expired session is not refreshed on focus");
}

#[test]
fn the_session_lifetime_slides_with_activity_and_ends_without_it() {
    let mut policy = Policy::default();
    policy.lifetime.expires_in = std::time::Duration::from_secs(1000);
    policy.lifetime.update_age = std::time::Duration::from_secs(100);
    policy.refresh.expiry_warning = std::time::Duration::from_secs(60);
    let state = signed_in(1_000_000, true, &policy);
    assert_eq!(state.session_expires_at, Some(t(1000)));
    let (early, _) = transition(&state, &Event::Trigger(Trigger::Focus), t(50), &policy);
    assert_eq!(early.session_expires_at, Some(t(1000)), "extended within update_age");
    let (slid, _) = transition(&early, &Event::Trigger(Trigger::Focus), t(150), &policy);
    assert_eq!(slid.session_expires_at, Some(t(1150)));
    let (_, effects) = transition(&slid, &Event::Trigger(Trigger::Interval), t(400), &policy);
    let (same, _) = transition(&slid, &Event::Trigger(Trigger::Interval), t(400), &policy);
    assert_eq!(same.session_expires_at, Some(t(1150)), "a timer is not user activity: {effects:?}");
    let (ending, _) = transition(&slid, &Event::Tick, t(1090), &policy);
    assert_eq!(ending.phase, Phase::Expiring);
    let (ended, effects) = transition(&ending, &Event::Tick, t(1150), &policy);
    assert_eq!((ended.phase, effects), (Phase::Expired, vec![Effect::Discard { revoke: true }]));
}

#[test]
fn the_providers_refresh_token_expiry_caps_the_session() {
    let policy = Policy::default();
    let mut short = times(300, true);
    short.refresh_token_expires_at = Some(t(3600));
    let (state, _) = transition(
        &SessionState::signed_out(),
        &Event::SignedIn { times: short, user: alice(), warning: None, auth_time: None },
        t(0),
        &policy,
    );
    assert_eq!(state.session_expires_at, Some(t(3600)));
}

#[test]
fn a_rejected_access_token_is_confirmed_at_the_token_endpoint() {
    let policy = Policy::default();
    let (validating, effects) = transition(&signed_in(3600, true, &policy), &Event::Trigger(Trigger::Interval), t(400), &policy);
    assert_eq!(effects, vec![Effect::Validate]);
    let (next, effects) = transition(&validating, &Event::ValidationRejected, t(401), &policy);
    assert_eq!((next.phase, effects), (Phase::Refreshing, vec![Effect::Refresh]));
}

#[test]
fn an_abandoned_sign_in_returns_to_where_it_started() {
    let policy = Policy::default();
    let active = signed_in(3600, true, &policy);
    let (signing, _) = transition(&active, &Event::SignInStarted, t(10), &policy);
    assert_eq!(signing.phase, Phase::SigningIn);
    assert!(signing.is_signed_in(), "old tokens stay usable during a new sign-in");
    let (_, effects) = transition(&signing, &Event::Tick, t(3590), &policy);
    assert!(effects.is_empty(), "no refresh during a sign-in");
    let (back, effects) = transition(&signing, &Event::SignInAbandoned, t(20), &policy);
    assert_eq!((back.phase, effects), (Phase::Active, vec![]));
    let (signing_out, _) = transition(&SessionState::signed_out(), &Event::SignInStarted, t(0), &policy);
    let (back, _) = transition(&signing_out, &Event::SignInAbandoned, t(1), &policy);
    assert_eq!(back.phase, Phase::SignedOut);
}

#[test]
fn results_that_arrive_after_sign_out_change_nothing() {
    let policy = Policy::default();
    let (out, _) = transition(&signed_in(600, true, &policy), &Event::SignedOut, t(10), &policy);
    let (still_out, effects) = transition(&out, &Event::RefreshSucceeded { times: times(1200, true), warning: None }, t(11), &policy);
    assert_eq!((still_out.phase, effects), (Phase::SignedOut, vec![]));
}

#[test]
fn a_refresh_that_finishes_during_a_new_sign_in_keeps_the_sign_in_in_front() {
    let policy = Policy::default();
    let (refreshing, _) = transition(&signed_in(600, true, &policy), &Event::Tick, t(540), &policy);
    let (signing, _) = transition(&refreshing, &Event::SignInStarted, t(541), &policy);
    assert_eq!(signing.resume_phase, Some(Phase::Active));
    let (after, effects) = transition(&signing, &Event::RefreshSucceeded { times: times(1200, true), warning: None }, t(542), &policy);
    assert_eq!((after.phase, effects), (Phase::SigningIn, vec![]));
    assert_eq!(after.tokens, Some(times(1200, true)));
    let (back, _) = transition(&after, &Event::SignInAbandoned, t(543), &policy);
    assert_eq!(back.phase, Phase::Active);
}

fn revoked() -> RefreshFailure {
    RefreshFailure::Revoked(ErrorInfo::new(ErrorKind::SessionRevoked, REVOKED_MESSAGE))
}

#[test]
fn a_token_rotated_by_another_process_is_tried_once_before_the_session_is_given_up() {
    let policy = Policy::default();
    let (refreshing, _) = transition(&signed_in(600, true, &policy), &Event::Tick, t(540), &policy);
    let (rereading, _) = transition(&refreshing, &Event::RefreshFailed { failure: revoked(), jitter: 0.5 }, t(541), &policy);
    let (retrying, effects) = transition(&rereading, &Event::Reread { rotated: true }, t(541), &policy);
    assert_eq!((retrying.phase, effects), (Phase::Refreshing, vec![Effect::Refresh]));
    let (again, effects) = transition(&retrying, &Event::RefreshFailed { failure: revoked(), jitter: 0.5 }, t(542), &policy);
    assert_eq!((again.phase, effects), (Phase::Expired, vec![Effect::Discard { revoke: false }]), "a second re-read");
    let (rescued, _) = transition(&retrying, &Event::RefreshSucceeded { times: times(1200, true), warning: None }, t(542), &policy);
    assert_eq!((rescued.phase, rescued.refused.clone()), (Phase::Active, None));
}

#[test]
fn restoring_ends_what_was_in_flight_when_the_app_stopped() {
    let policy = Policy::default();
    let (refreshing, _) = transition(&signed_in(600, true, &policy), &Event::Tick, t(540), &policy);
    let (restored, effects) = transition(&refreshing, &Event::Restored, t(600), &policy);
    assert_eq!((restored.phase, effects), (Phase::Active, vec![]));
    let (signing, _) = transition(&SessionState::signed_out(), &Event::SignInStarted, t(0), &policy);
    assert_eq!(transition(&signing, &Event::Restored, t(1), &policy).0.phase, Phase::SignedOut);
    let (resigning, _) = transition(&signed_in(600, true, &policy), &Event::SignInStarted, t(1), &policy);
    assert_eq!(transition(&resigning, &Event::Restored, t(2), &policy).0.phase, Phase::Active);
}

#[test]
fn a_manual_refresh_of_a_session_without_tokens_is_refused() {
    let policy = Policy::default();
    for state in [SessionState::signed_out(), expired_session(&policy)] {
        let (_, effects) = transition(&state, &Event::Trigger(Trigger::Manual { force: true }), t(5), &policy);
        assert_eq!(effects, vec![Effect::Refuse(Waiter::Check, Refusal::NotSignedIn)], "{:?}", state.phase);
        let (_, effects) = transition(&state, &Event::Trigger(Trigger::Focus), t(5), &policy);
        assert!(effects.is_empty(), "focus on {:?} is nobody's request", state.phase);
    }
}

fn expired_session(policy: &Policy) -> SessionState {
    let (state, _) = transition(&signed_in(900, false, policy), &Event::Tick, t(900), policy);
    assert_eq!(state.phase, Phase::Expired);
    state
}

#[test]
fn sign_out_waits_for_the_refresh_in_flight_and_revokes_what_it_brings() {
    let policy = Policy::default();
    let (refreshing, _) = transition(&signed_in(600, true, &policy), &Event::Tick, t(540), &policy);
    let (waiting, effects) = transition(&refreshing, &Event::SignOutRequested, t(541), &policy);
    assert_eq!((waiting.phase, effects), (Phase::Refreshing, vec![]), "signed out under a refresh");
    let (out, effects) = transition(&waiting, &Event::RefreshSucceeded { times: times(1200, true), warning: None }, t(542), &policy);
    assert_eq!(out.phase, Phase::SignedOut);
    assert_eq!(out.generation, waiting.generation + 1, "results of earlier work are stale");
    let [Effect::SignOut { previous }] = effects.as_slice() else { panic!("{effects:?}") };
    assert_eq!((previous.phase, previous.tokens), (Phase::Active, Some(times(1200, true))));
    // The keychain could not delete the tokens: the session is as it was, and signed in.
    let (back, _) = transition(&out, &Event::SignOutFailed { previous: previous.clone() }, t(543), &policy);
    assert_eq!((back.phase, back.tokens, back.generation), (Phase::Active, Some(times(1200, true)), out.generation));
}

#[test]
fn sign_out_is_for_sessions_with_tokens_or_expired_ones() {
    let policy = Policy::default();
    let (_, effects) = transition(&SessionState::signed_out(), &Event::SignOutRequested, t(0), &policy);
    assert_eq!(effects, vec![Effect::Refuse(Waiter::SignOut, Refusal::NotSignedIn)]);
    let (out, effects) = transition(&expired_session(&policy), &Event::SignOutRequested, t(901), &policy);
    assert_eq!(out.phase, Phase::SignedOut);
    assert!(matches!(effects.as_slice(), [Effect::SignOut { .. }]), "{effects:?}");
    let (resigning, _) = transition(&signed_in(600, true, &policy), &Event::SignInStarted, t(1), &policy);
    let (out, effects) = transition(&resigning, &Event::SignOutRequested, t(2), &policy);
    assert_eq!(out.phase, Phase::SignedOut, "a session signing in again still holds its tokens");
    assert!(matches!(effects.as_slice(), [Effect::SignOut { .. }]), "{effects:?}");
}

#[test]
fn tokens_the_keychain_refused_are_kept_and_written_again_on_the_next_tick() {
    let policy = Policy::default();
    let locked = ErrorInfo::new(ErrorKind::KeychainLocked, "locked");
    let state = signed_in(3600, true, &policy);
    let (unsaved, effects) = transition(&state, &Event::TokensNotSaved(locked.clone()), t(1), &policy);
    assert_eq!((unsaved.keychain, unsaved.last_error.clone(), effects), (KeychainCopy::Unsaved { retry_at: t(6) }, Some(locked), vec![]));
    let (_, effects) = transition(&unsaved, &Event::Tick, t(2), &policy);
    assert!(effects.is_empty(), "a keychain that refused is asked again at once, in a loop");
    assert_eq!(unsaved.next_deadline(t(2), &policy), Some(t(6)), "nothing wakes the actor for the retry");
    let (saving, effects) = transition(&unsaved, &Event::Tick, t(6), &policy);
    assert_eq!((saving.keychain, effects), (KeychainCopy::Saving, vec![Effect::SaveTokens]));
    let (_, effects) = transition(&saving, &Event::Tick, t(3), &policy);
    assert!(effects.is_empty(), "a second write while one is in flight");
    let (_, effects) = transition(&saving, &Event::Trigger(Trigger::Manual { force: true }), t(3), &policy);
    assert!(effects.is_empty(), "a refresh whose new token the older write could overwrite");
    let (saved, _) = transition(&saving, &Event::TokensSaved, t(4), &policy);
    assert_eq!((saved.keychain, saved.last_error), (KeychainCopy::Saved, None));
}

#[test]
fn quitting_gives_tokens_only_memory_holds_one_more_write_and_starts_nothing_else() {
    let policy = Policy::default();
    let locked = ErrorInfo::new(ErrorKind::KeychainUnavailable, "frozen");
    let state = signed_in(3600, true, &policy);
    let (_, effects) = transition(&state, &Event::Stopping, t(1), &policy);
    assert!(effects.is_empty(), "nothing to write, nothing to start");
    let (unsaved, _) = transition(&state, &Event::TokensNotSaved(locked), t(1), &policy);
    let (saving, effects) = transition(&unsaved, &Event::Stopping, t(2), &policy);
    assert_eq!((saving.keychain, effects), (KeychainCopy::Saving, vec![Effect::SaveTokens]));
    let due = signed_in(10, true, &policy);
    let (_, effects) = transition(&due, &Event::Stopping, t(9), &policy);
    assert!(effects.is_empty(), "a refresh due at the quit is not started");
    // A refresh in flight at the quit holds the tokens: the older ones are not written under it (they
    // could land after the rotated ones), but once it fails without writing, they are.
    let (refreshing, effects) = transition(&unsaved, &Event::Trigger(Trigger::Manual { force: true }), t(2), &policy);
    assert_eq!((refreshing.phase, effects), (Phase::Refreshing, vec![Effect::Refresh]));
    let (quitting, effects) = transition(&refreshing, &Event::Stopping, t(3), &policy);
    assert!(effects.is_empty(), "the pre-refresh tokens written while the refresh rotates them: {effects:?}");
    let failed =
        Event::RefreshFailed { failure: RefreshFailure::Transient(ErrorInfo::new(ErrorKind::ProviderUnavailable, "down")), jitter: 0.0 };
    let (saving, effects) = transition(&quitting, &failed, t(4), &policy);
    assert_eq!((saving.keychain, effects), (KeychainCopy::Saving, vec![Effect::SaveTokens]));
}

#[test]
fn a_fresh_token_is_handed_out_at_once_and_a_stale_one_is_refreshed_first() {
    let policy = Policy::default();
    let state = signed_in(600, true, &policy);
    let (_, effects) = transition(&state, &Event::TokenWanted { token: TokenKind::Access, min_valid: TimeDelta::zero() }, t(10), &policy);
    assert_eq!(effects, vec![Effect::HandOut]);
    let (refreshing, effects) =
        transition(&state, &Event::TokenWanted { token: TokenKind::Access, min_valid: TimeDelta::zero() }, t(545), &policy);
    assert_eq!((refreshing.phase, effects), (Phase::Refreshing, vec![Effect::Refresh]));
    let (joined, effects) =
        transition(&refreshing, &Event::TokenWanted { token: TokenKind::Access, min_valid: TimeDelta::zero() }, t(546), &policy);
    assert!(effects.is_empty() && joined.hand_out_waiting, "a second caller joins the refresh");
    let (_, effects) = transition(&joined, &Event::RefreshSucceeded { times: times(1200, true), warning: None }, t(547), &policy);
    assert_eq!(effects, vec![Effect::HandOut]);
    // An outage: the current token while it lasts, the outage once it has expired.
    let failed = Event::RefreshFailed { failure: transient(), jitter: 0.0 };
    let (_, effects) = transition(&joined, &failed, t(547), &policy);
    assert_eq!(effects, vec![Effect::HandOut]);
    let (_, effects) = transition(&joined, &failed, t(600), &policy);
    assert_eq!(effects, vec![Effect::Refuse(Waiter::Token, Refusal::Failed(ErrorInfo::new(ErrorKind::ProviderUnavailable, "503")))]);
    let (_, effects) = transition(
        &SessionState::signed_out(),
        &Event::TokenWanted { token: TokenKind::Access, min_valid: TimeDelta::zero() },
        t(0),
        &policy,
    );
    assert_eq!(effects, vec![Effect::Refuse(Waiter::Token, Refusal::NotSignedIn)]);
}

#[test]
fn the_state_says_when_a_session_ends_why_and_whether_it_can_be_extended() {
    let policy = Policy::default();
    let with_refresh = signed_in(600, true, &policy);
    assert_eq!(with_refresh.ending(), Some((t(7 * 24 * 3600), EndReason::Lifetime)));
    assert!(with_refresh.can_extend());
    let without = signed_in(600, false, &policy);
    assert_eq!(without.ending(), Some((t(600), EndReason::NoRefreshToken)));
    assert!(!without.can_extend());
    let (refreshing, _) = transition(&with_refresh, &Event::Tick, t(540), &policy);
    let (failing, _) = transition(&refreshing, &Event::RefreshFailed { failure: transient(), jitter: 0.0 }, t(541), &policy);
    assert_eq!((failing.ending(), failing.can_extend()), (Some((t(600), EndReason::RefreshFailing)), false));
    let (resigning, _) = transition(&with_refresh, &Event::SignInStarted, t(1), &policy);
    assert!(resigning.is_signed_in() && resigning.ending().is_some(), "signing in again keeps the session");
    assert_eq!(SessionState::signed_out().ending(), None);
}

#[test]
fn a_userinfo_answer_updates_the_same_user_and_never_swaps_in_another() {
    let policy = Policy::default();
    let state = signed_in(3600, true, &policy);
    let renamed = UserProfile { name: Some("Alice Example".into()), ..alice() };
    let (next, _) = transition(&state, &Event::Validated(renamed.clone()), t(10), &policy);
    assert_eq!(next.user, Some(renamed));
    let mallory = UserProfile { subject: "mallory".into(), ..alice() };
    let (next, _) = transition(&state, &Event::Validated(mallory), t(10), &policy);
    assert_eq!(next.user, Some(alice()), "another user's claims replaced the signed-in user's");
    let (out, _) = transition(&state, &Event::SignOutRequested, t(11), &policy);
    assert_eq!(out.user, Some(alice()), "the card still says who was signed in last");
}

#[test]
fn however_short_the_provider_makes_its_tokens_automatic_refreshes_keep_a_floor_apart() {
    let policy = Policy::default(); // 5 s between automatic refreshes
    let one_second = signed_in(1, true, &policy);
    assert_eq!(one_second.next_deadline(t(0), &policy), Some(t(5)), "refreshed at once after sign-in");
    let (_, effects) = transition(&one_second, &Event::Tick, t(4), &policy);
    assert!(effects.is_empty(), "{effects:?}");
    let (refreshing, effects) = transition(&one_second, &Event::Tick, t(5), &policy);
    assert_eq!(effects, vec![Effect::Refresh]);
    let (refreshed, effects) = transition(&refreshing, &Event::RefreshSucceeded { times: times(6, true), warning: None }, t(5), &policy);
    assert_eq!((refreshed.phase, effects), (Phase::Active, vec![]), "a refresh storm: the answer asks for another at once");
    assert_eq!(refreshed.next_refresh_at(&policy), Some(t(10)));
    let (_, effects) = transition(&refreshed, &Event::Trigger(Trigger::Manual { force: true }), t(6), &policy);
    assert_eq!(effects, vec![Effect::Refresh], "the user's own Refresh is not held back");
}

#[test]
fn a_program_asking_in_a_loop_waits_for_the_floor_instead_of_storming_the_provider() {
    let policy = Policy::default(); // 5 s between automatic refreshes
    let one_second = signed_in(1, true, &policy);
    let (_, effects) =
        transition(&one_second, &Event::TokenWanted { token: TokenKind::Access, min_valid: TimeDelta::zero() }, t(0), &policy);
    assert_eq!(effects, vec![Effect::HandOut], "the live token is handed out");
    let (waiting, effects) =
        transition(&one_second, &Event::TokenWanted { token: TokenKind::Access, min_valid: TimeDelta::zero() }, t(2), &policy);
    assert!(effects.is_empty() && waiting.hand_out_waiting, "{effects:?}");
    let (still, effects) = transition(&waiting, &Event::Tick, t(3), &policy);
    assert!(effects.is_empty() && still.hand_out_waiting, "answered or refreshed before the floor: {effects:?}");
    let (refreshing, effects) = transition(&still, &Event::Tick, t(5), &policy);
    assert_eq!(effects, vec![Effect::Refresh]);
    let (_, effects) = transition(&refreshing, &Event::RefreshSucceeded { times: times(6, true), warning: None }, t(5), &policy);
    assert_eq!(effects, vec![Effect::HandOut]);
}

#[test]
fn a_refresh_answer_that_fails_a_security_check_ends_the_session_and_revokes_what_came() {
    let policy = Policy::default();
    let (refreshing, _) = transition(&signed_in(600, true, &policy), &Event::Tick, t(540), &policy);
    let insecure = ErrorInfo::new(ErrorKind::InvalidIdToken, "another user's tokens");
    let (next, effects) = transition(
        &refreshing,
        &Event::RefreshFailed { failure: RefreshFailure::Security(insecure.clone()), jitter: 0.5 },
        t(541),
        &policy,
    );
    assert_eq!((next.phase, next.last_error, next.tokens), (Phase::Expired, Some(insecure), None));
    assert_eq!(effects, vec![Effect::Discard { revoke: true }], "no keychain re-read, no retry");
}

/// The card's timeline: every transition that matters leaves one mark, in order, through a sign-out
/// and a sign-in again (which start from fresh states); a tick that asks nothing leaves none.
#[test]
fn the_history_tells_the_story_of_a_session() {
    use crate::session::history::MarkKind;
    let policy = Policy::default();
    let state = signed_in(600, true, &policy);
    let (state, _) = transition(&state, &Event::Tick, t(10), &policy);
    let (state, effects) = transition(&state, &Event::Trigger(Trigger::Manual { force: true }), t(20), &policy);
    assert_eq!(effects, vec![Effect::Refresh]);
    let (state, _) = transition(&state, &Event::RefreshFailed { failure: transient(), jitter: 0.5 }, t(21), &policy);
    let (state, effects) = transition(&state, &Event::Tick, t(540), &policy);
    assert_eq!(effects, vec![Effect::Refresh]);
    let (state, _) = transition(&state, &Event::RefreshSucceeded { times: times(1200, true), warning: None }, t(541), &policy);
    let (state, _) = transition(&state, &Event::SignOutRequested, t(600), &policy);
    let (state, _) = transition(&state, &Event::SignedOut, t(601), &policy);
    let (state, _) =
        transition(&state, &Event::SignedIn { times: times(700, false), user: alice(), warning: None, auth_time: None }, t(602), &policy);
    let (state, _) = transition(&state, &Event::Tick, t(700), &policy);
    let story: Vec<(MarkKind, Option<&str>, DateTime<Utc>)> =
        state.history.marks().iter().map(|m| (m.what, m.detail.as_deref(), m.at)).collect();
    assert_eq!(
        story,
        vec![
            (MarkKind::SignedIn, None, t(0)),
            (MarkKind::Checked, Some("manual"), t(20)),
            (MarkKind::RefreshFailed, Some("provider_unavailable"), t(21)),
            (MarkKind::Checked, Some("interval"), t(540)),
            (MarkKind::Refreshed, None, t(541)),
            (MarkKind::SignedOut, None, t(601)),
            (MarkKind::SignedIn, None, t(602)),
            (MarkKind::Expired, None, t(700)),
        ]
    );
}

#[test]
fn a_program_that_needs_the_token_longer_than_it_lives_gets_a_refresh_and_its_hand_out_is_recorded() {
    let policy = Policy::default();
    let state = signed_in(600, true, &policy);
    let wants = |seconds| Event::TokenWanted { token: TokenKind::Access, min_valid: TimeDelta::seconds(seconds) };
    let (_, effects) = transition(&state, &wants(500), t(10), &policy);
    assert_eq!(effects, vec![Effect::HandOut], "590 s left is enough for 500 s");
    let (refreshing, effects) = transition(&state, &wants(595), t(10), &policy);
    assert_eq!((refreshing.phase, effects), (Phase::Refreshing, vec![Effect::Refresh]));
    let (recorded, effects) = transition(&state, &Event::HandedOut { program: "/usr/bin/git".into() }, t(11), &policy);
    assert!(effects.is_empty());
    assert_eq!((recorded.phase, recorded.tokens), (state.phase, state.tokens), "a hand-out changes nothing else");
    let last = recorded.history.marks().last().unwrap();
    assert_eq!((last.what, last.detail.as_deref()), (MarkKind::HandedOut, Some("/usr/bin/git")));
}

#[test]
fn a_rejected_refresh_waits_the_longest_backoff_a_throttled_one_the_providers_word_and_neither_hands_out() {
    let policy = Policy::default();
    let (refreshing, _) = transition(&signed_in(600, true, &policy), &Event::Tick, t(540), &policy);
    let (waiting, _) =
        transition(&refreshing, &Event::TokenWanted { token: TokenKind::Access, min_valid: TimeDelta::zero() }, t(540), &policy);
    let rejected = ErrorInfo::new(ErrorKind::ProviderMisbehaved, "invalid_client");
    let event = Event::RefreshFailed { failure: RefreshFailure::Rejected(rejected.clone()), jitter: 0.0 };
    let (after, effects) = transition(&waiting, &event, t(541), &policy);
    assert_eq!(after.retry_at, Some(t(541) + delta(policy.refresh.retry_max_delay)), "a refusal is not retried soon");
    // The keychain is read again after the answer (a refusal again ends the session, see
    // `a_refusal_reads_the_keychain_waits_the_longest_backoff_and_a_second_refusal_ends_the_session`).
    assert_eq!(
        effects,
        vec![Effect::Refuse(Waiter::Token, Refusal::Failed(rejected.clone())), Effect::Reread],
        "refused even while the token lives"
    );
    let (after, effects) = transition(&after, &Event::Reread { rotated: false }, t(541), &policy);
    assert_eq!(after.retry_at, Some(t(541) + delta(policy.refresh.retry_max_delay)), "a refusal is not retried soon");
    assert_eq!((after.phase, after.last_error, effects), (Phase::Expiring, Some(rejected), vec![]), "refused within the lead time");
    let throttled =
        RefreshFailure::Throttled { error: ErrorInfo::new(ErrorKind::ProviderUnavailable, "429"), retry_after: Duration::from_secs(42) };
    let (after, _) = transition(&refreshing, &Event::RefreshFailed { failure: throttled, jitter: 0.0 }, t(541), &policy);
    assert_eq!(after.retry_at, Some(t(583)), "Retry-After beyond the backoff");
}

#[test]
fn a_userinfo_check_that_cannot_be_made_concludes_nothing_and_a_rejection_without_refresh_token_ends_the_session() {
    let policy = Policy::default();
    let (validating, _) = transition(&signed_in(3600, false, &policy), &Event::Trigger(Trigger::Interval), t(400), &policy);
    let (after, effects) = transition(&validating, &Event::ValidationUnavailable, t(401), &policy);
    assert_eq!((after.phase, after.validating, after.last_validated_at, effects), (Phase::Active, false, Some(t(401)), vec![]));
    let (ended, effects) = transition(&validating, &Event::ValidationRejected, t(401), &policy);
    assert_eq!((ended.phase, effects), (Phase::Expired, vec![Effect::Discard { revoke: false }]));
    assert_eq!(ended.last_error.map(|e| e.message), Some(REVOKED_MESSAGE.to_owned()));
}

#[test]
fn a_keychain_refusal_after_the_session_ended_changes_nothing() {
    let policy = Policy::default();
    let locked = ErrorInfo::new(ErrorKind::KeychainLocked, "locked");
    let (after, effects) = transition(&SessionState::signed_out(), &Event::TokensNotSaved(locked), t(1), &policy);
    assert_eq!((after.keychain, after.last_error, effects), (KeychainCopy::Saved, None, vec![]));
}

fn rejected() -> ErrorInfo {
    ErrorInfo::new(
        ErrorKind::ProviderMisbehaved,
        "it refused to refresh the session for this client (invalid_request). Check the client ID.",
    )
}

fn refused(failure: RefreshFailure) -> Event {
    Event::RefreshFailed { failure, jitter: 0.0 }
}

/// An hour's token refreshed at t(10), refused (not `invalid_grant`) at t(11), the keychain read again
/// and holding the same refresh token.
fn refused_once(policy: &Policy) -> SessionState {
    let (refreshing, _) = transition(&signed_in(3600, true, policy), &Event::Trigger(Trigger::Manual { force: true }), t(10), policy);
    let (rereading, effects) = transition(&refreshing, &refused(RefreshFailure::Rejected(rejected())), t(11), policy);
    assert_eq!((rereading.phase, effects), (Phase::Refreshing, vec![Effect::Reread]), "the keychain is read again first");
    let (waiting, effects) = transition(&rereading, &Event::Reread { rotated: false }, t(11), policy);
    assert_eq!((waiting.phase, waiting.failures, effects), (Phase::Active, 1, vec![]));
    waiting
}

#[test]
fn a_refusal_reads_the_keychain_waits_the_longest_backoff_and_a_second_refusal_ends_the_session() {
    let policy = Policy::default();
    let waiting = refused_once(&policy);
    let retry = t(11) + delta(policy.refresh.retry_max_delay);
    assert_eq!((waiting.retry_at, waiting.last_error.clone()), (Some(retry), Some(rejected())));
    let (_, effects) = transition(&waiting, &Event::Tick, retry - TimeDelta::seconds(1), &policy);
    assert!(effects.is_empty(), "retried before the longest backoff: {effects:?}");
    let (retrying, effects) = transition(&waiting, &Event::Tick, retry, &policy);
    assert_eq!((retrying.phase, effects), (Phase::Refreshing, vec![Effect::Refresh]));
    // A person looking retries at once, as for any failing refresh.
    let (looked, effects) = transition(&waiting, &Event::Trigger(Trigger::Focus), t(60), &policy);
    assert_eq!((looked.phase, effects), (Phase::Refreshing, vec![Effect::Refresh]));
    let (ended, effects) = transition(&retrying, &refused(RefreshFailure::Rejected(rejected())), retry, &policy);
    assert_eq!((ended.phase, ended.tokens, effects), (Phase::Expired, None, vec![Effect::Discard { revoke: false }]));
    let error = ended.last_error.clone().unwrap();
    assert_eq!(error.kind, ErrorKind::SessionRevoked, "the card and the notice say: sign in again");
    assert_eq!(error.message, format!("{REFUSED_AGAIN_MESSAGE} {}", rejected().message), "the refusal's advice is kept");
    let expired = ended.history.marks().iter().filter(|m| m.what == MarkKind::Expired).count();
    assert_eq!(expired, 1, "one end, one notice");
    // A waiting check hears why the session ended.
    let (checking, _) = transition(&waiting, &Event::CheckWanted(Trigger::Manual { force: true }), t(60), &policy);
    let (_, effects) = transition(&checking, &refused(RefreshFailure::Rejected(rejected())), t(61), &policy);
    assert_eq!(effects.last(), Some(&Effect::Refuse(Waiter::Check, Refusal::Failed(error))));
}

#[test]
fn a_refusal_then_a_token_rotated_elsewhere_is_tried_at_once_and_a_success_forgets_the_refusal() {
    let policy = Policy::default();
    let (refreshing, _) = transition(&signed_in(600, true, &policy), &Event::Tick, t(540), &policy);
    let (rereading, _) = transition(&refreshing, &refused(RefreshFailure::Rejected(rejected())), t(541), &policy);
    let (retrying, effects) = transition(&rereading, &Event::Reread { rotated: true }, t(541), &policy);
    assert_eq!((retrying.phase, effects), (Phase::Refreshing, vec![Effect::Refresh]), "the other process's token waits for nothing");
    let (ended, effects) = transition(&retrying, &refused(RefreshFailure::Rejected(rejected())), t(542), &policy);
    assert_eq!((ended.phase, effects), (Phase::Expired, vec![Effect::Discard { revoke: false }]), "refused with the re-read token too");
    let done = Event::RefreshSucceeded { times: times(1200, true), warning: None };
    let (rescued, _) = transition(&retrying, &done, t(542), &policy);
    assert_eq!((rescued.phase, rescued.failures, rescued.last_error.clone(), rescued.rejected.clone()), (Phase::Active, 0, None, None));
    // A single refusal after which a refresh succeeds keeps the session: the next refusal is a first.
    let (recovered, _) = transition(&refused_once(&policy), &Event::Trigger(Trigger::Focus), t(60), &policy);
    let (recovered, _) = transition(&recovered, &done, t(61), &policy);
    assert_eq!((recovered.phase, recovered.failures, recovered.last_error.clone()), (Phase::Active, 0, None));
    let (again, _) = transition(&recovered, &Event::Trigger(Trigger::Manual { force: true }), t(700), &policy);
    let (again, effects) = transition(&again, &refused(RefreshFailure::Rejected(rejected())), t(701), &policy);
    assert_eq!((again.phase, effects), (Phase::Refreshing, vec![Effect::Reread]), "a refusal long forgotten ended the session");
}

#[test]
fn an_outage_between_two_refusals_changes_nothing_and_a_narrowed_refusal_or_a_quit_never_ends_the_session() {
    let policy = Policy::default();
    let waiting = refused_once(&policy);
    let (retrying, _) = transition(&waiting, &Event::Trigger(Trigger::Focus), t(60), &policy);
    let (outage, effects) = transition(&retrying, &refused(transient()), t(61), &policy);
    assert_eq!((outage.phase, outage.failures, effects), (Phase::Active, 2, vec![]), "an outage asks for no re-read");
    let (retrying, _) = transition(&outage, &Event::Trigger(Trigger::Focus), t(62), &policy);
    let (ended, _) = transition(&retrying, &refused(RefreshFailure::Rejected(rejected())), t(63), &policy);
    assert_eq!(ended.phase, Phase::Expired, "the outage between them made the second refusal a first");
    // A narrowed refresh may be refused for its scope (`invalid_scope`): the session's token is not.
    let wants = Event::TokenWanted { token: TokenKind::Narrowed { scope: "read".into() }, min_valid: TimeDelta::zero() };
    let (narrowing, effects) = transition(&waiting, &wants, t(60), &policy);
    assert_eq!((narrowing.phase, effects), (Phase::Refreshing, vec![Effect::Refresh]));
    let (kept, effects) = transition(&narrowing, &refused(RefreshFailure::Rejected(rejected())), t(61), &policy);
    assert_eq!(kept.phase, Phase::Active, "{effects:?}");
    assert!(!effects.contains(&Effect::Reread), "{effects:?}");
    // Quitting: nothing starts, and the next start asks again.
    let (stopping, _) = transition(&retrying, &Event::Stopping, t(63), &policy);
    let (kept, effects) = transition(&stopping, &refused(RefreshFailure::Rejected(rejected())), t(64), &policy);
    assert_eq!((kept.phase, effects), (Phase::Active, vec![]));
    let (refreshing, _) = transition(&signed_in(3600, true, &policy), &Event::Trigger(Trigger::Manual { force: true }), t(10), &policy);
    let (stopping, _) = transition(&refreshing, &Event::Stopping, t(11), &policy);
    let (kept, effects) = transition(&stopping, &refused(RefreshFailure::Rejected(rejected())), t(12), &policy);
    assert_eq!((kept.phase, kept.rejected, effects), (Phase::Active, None, vec![]), "a re-read started while quitting");
}

fn mallory() -> UserProfile {
    UserProfile { subject: "mallory".into(), name: Some("Mallory".into()), email: None, preferred_username: None }
}

#[test]
fn a_userinfo_answer_for_another_user_confirms_nothing_and_is_said_on_the_card_until_the_right_user_answers() {
    let policy = Policy::default(); // userinfo at most every 5 minutes
    let (validating, effects) = transition(&signed_in(3600, true, &policy), &Event::Trigger(Trigger::Interval), t(300), &policy);
    assert_eq!(effects, vec![Effect::Validate]);
    let (unconfirmed, effects) = transition(&validating, &Event::Validated(mallory()), t(301), &policy);
    assert_eq!((unconfirmed.phase, unconfirmed.user.clone(), effects), (Phase::Active, Some(alice()), vec![]), "it ends nothing");
    assert_eq!(unconfirmed.last_validated_at, Some(t(0)), "counted as a confirmation");
    let error = unconfirmed.last_error.clone().expect("the card says nothing");
    assert_eq!((error.kind, error.message.as_str()), (ErrorKind::ProviderMisbehaved, USERINFO_MISMATCH_MESSAGE));
    // Not asked again every second, nor put off by the refreshes in between.
    let (_, effects) = transition(&unconfirmed, &Event::Trigger(Trigger::Focus), t(302), &policy);
    assert!(effects.is_empty(), "{effects:?}");
    let (refreshing, _) = transition(&unconfirmed, &Event::Trigger(Trigger::Manual { force: true }), t(400), &policy);
    let done = Event::RefreshSucceeded { times: times(3600, true), warning: None };
    let (refreshed, _) = transition(&refreshing, &done, t(401), &policy);
    assert_eq!(refreshed.last_error, Some(error.clone()), "a refresh does not say who the token is for");
    let (_, effects) = transition(&refreshed, &Event::Trigger(Trigger::Interval), t(600), &policy);
    assert!(effects.is_empty(), "asked again before the usual interval: {effects:?}");
    let (validating, effects) = transition(&refreshed, &Event::Trigger(Trigger::Interval), t(601), &policy);
    assert_eq!(effects, vec![Effect::Validate]);
    let (confirmed, _) = transition(&validating, &Event::Validated(alice()), t(602), &policy);
    assert_eq!((confirmed.last_error, confirmed.last_validated_at, confirmed.userinfo_mismatch_at), (None, Some(t(602)), None));
    // A caller waiting for its check hears that it failed.
    let (checking, effects) = transition(&refreshed, &Event::CheckWanted(Trigger::Manual { force: false }), t(601), &policy);
    assert_eq!(effects, vec![Effect::Validate]);
    let (_, effects) = transition(&checking, &Event::Validated(mallory()), t(602), &policy);
    assert_eq!(effects, vec![Effect::Refuse(Waiter::Check, Refusal::Failed(error))]);
}

fn offline(state: &SessionState, at: i64, policy: &Policy) -> SessionState {
    let (next, effects) = transition(state, &Event::Trigger(Trigger::Network(Network::Offline)), t(at), policy);
    assert_eq!(next.network, Network::Offline);
    assert!(effects.is_empty(), "going offline started {effects:?}");
    next
}

#[test]
fn an_outage_while_offline_is_not_counted_and_waits_for_the_network_not_the_backoff() {
    let policy = Policy::default();
    let away = offline(&signed_in(600, true, &policy), 100, &policy);
    // The deadline passing while offline still tries once: the desktop's word may be wrong.
    let (refreshing, effects) = transition(&away, &Event::Tick, t(540), &policy);
    assert_eq!(effects, vec![Effect::Refresh]);
    let (after, effects) = transition(&refreshing, &Event::RefreshFailed { failure: transient(), jitter: 1.0 }, t(541), &policy);
    assert!(effects.is_empty());
    assert_eq!((after.failures, after.phase), (0, Phase::Active), "counted, or called expiring, while offline");
    assert!(!after.refresh_failing(&policy));
    assert_eq!(after.retry_at, Some(t(541) + delta(policy.refresh.retry_max_delay)), "no short backoff spent offline");
    assert_eq!(after.next_deadline(t(541), &policy), after.retry_at, "the actor sleeps until the hold ends");
    assert_eq!(after.next_refresh_at(&policy), after.retry_at);
    // No storm: every tick until then starts nothing, however long the access token is expired.
    for at in [542, 600, 700, 840] {
        let (same, effects) = transition(&after, &Event::Tick, t(at), &policy);
        assert_eq!((same.phase, effects), (Phase::Active, vec![]), "a request at {at} s while offline");
    }
    // Still offline when the hold ends: one more try, then the same hold again.
    let (again, effects) = transition(&after, &Event::Tick, t(841), &policy);
    assert_eq!((again.phase, effects), (Phase::Refreshing, vec![Effect::Refresh]));
}

#[test]
fn when_the_network_returns_a_session_due_or_held_refreshes_at_once_and_one_not_due_waits() {
    let policy = Policy::default();
    let away = offline(&signed_in(600, true, &policy), 100, &policy);
    let (refreshing, _) = transition(&away, &Event::Tick, t(540), &policy);
    let (held, _) = transition(&refreshing, &Event::RefreshFailed { failure: transient(), jitter: 1.0 }, t(541), &policy);
    let back = Event::Trigger(Trigger::Network(Network::Online));
    let (now_refreshing, effects) = transition(&held, &back, t(560), &policy);
    assert_eq!((now_refreshing.phase, effects), (Phase::Refreshing, vec![Effect::Refresh]), "the hold outlived the network's return");
    assert_eq!((now_refreshing.network, now_refreshing.retry_at), (Network::Online, None));
    assert!(now_refreshing.history.marks().iter().any(|m| m.what == MarkKind::Checked && m.detail.as_deref() == Some("network")));
    // Failures counted before the desktop noticed: the network's return retries them at once too.
    let (refreshing, _) = transition(&signed_in(600, true, &policy), &Event::Tick, t(540), &policy);
    let (failing, _) = transition(&refreshing, &Event::RefreshFailed { failure: transient(), jitter: 1.0 }, t(541), &policy);
    let failing = offline(&failing, 541, &policy);
    let (_, effects) = transition(&failing, &back, t(541), &policy);
    assert_eq!(effects, vec![Effect::Refresh], "a counted outage waited for its backoff after the network came back");
    // A provider the desktop's word does not cover (on an intranet, while NetworkManager's check sees
    // no internet): its refresh succeeds, and this session is online, counting failures again, until
    // the desktop's next change.
    let (refreshing, _) = transition(&offline(&signed_in(600, true, &policy), 100, &policy), &Event::Tick, t(540), &policy);
    let (reached, _) = transition(&refreshing, &Event::RefreshSucceeded { times: times(1200, true), warning: None }, t(541), &policy);
    assert_eq!(reached.network, Network::Online);
    assert_eq!(offline(&reached, 542, &policy).network, Network::Offline);
    // Not due: nothing happens, and online again is not news.
    let fresh = offline(&signed_in(3600, true, &policy), 100, &policy);
    let (online, effects) = transition(&fresh, &back, t(200), &policy);
    assert_eq!((online.phase, effects), (Phase::Active, vec![]));
    let (_, effects) = transition(&online, &back, t(201), &policy);
    assert!(effects.is_empty());
    // A refusal keeps its longest backoff: the network did not cause it.
    let refused = offline(&refused_once(&policy), 100, &policy);
    let (same, effects) = transition(&refused, &back, t(101), &policy);
    assert_eq!((same.retry_at, effects), (refused.retry_at, vec![]));
}

#[test]
fn behind_a_captive_portal_a_failure_is_not_counted_and_the_snapshot_names_the_portal() {
    let policy = Policy::default();
    let (portal, effects) = transition(&signed_in(600, true, &policy), &Event::Trigger(Trigger::Network(Network::Portal)), t(100), &policy);
    assert!(effects.is_empty());
    let (refreshing, _) = transition(&portal, &Event::Tick, t(540), &policy);
    // A portal that answers HTTPS with its own certificate: not the provider's fault either.
    let intercepted = RefreshFailure::Transient(ErrorInfo::new(ErrorKind::CertificateRejected, "not valid for this name"));
    let (after, _) = transition(&refreshing, &Event::RefreshFailed { failure: intercepted, jitter: 0.0 }, t(541), &policy);
    assert_eq!((after.failures, after.refresh_failing(&policy)), (0, false));
    assert_eq!(after.network, Network::Portal);
    // A provider that answers (a refusal) is heard, portal or not.
    let (refreshing, _) = transition(&portal, &Event::Tick, t(540), &policy);
    let (heard, _) = transition(&refreshing, &refused(RefreshFailure::Rejected(rejected())), t(541), &policy);
    assert_eq!(heard.rejected, Some(rejected()));
    // The sessions learn the network in every phase, a sign-in's included; a sign-out keeps it, and a
    // sign-in that reached the provider is online.
    let (signing_in, _) = transition(&SessionState::signed_out(), &Event::SignInStarted, t(0), &policy);
    let signing_in = offline(&signing_in, 1, &policy);
    assert_eq!(signing_in.phase, Phase::SigningIn);
    let completed = Event::SignedIn { times: times(600, true), user: alice(), warning: None, auth_time: None };
    assert_eq!(transition(&signing_in, &completed, t(2), &policy).0.network, Network::Online);
    let away = offline(&signed_in(600, true, &policy), 3, &policy);
    let (out, _) = transition(&away, &Event::SignedOut, t(4), &policy);
    assert_eq!((out.phase, out.network), (Phase::SignedOut, Network::Offline));
}

#[test]
fn a_refused_certificate_or_proxy_needs_the_person_at_once_and_waits_the_longest_backoff_keeping_the_tokens() {
    let policy = Policy::default();
    for kind in [ErrorKind::CertificateRejected, ErrorKind::ProxyRefused] {
        let (refreshing, _) = transition(&signed_in(600, true, &policy), &Event::Tick, t(540), &policy);
        let failure = RefreshFailure::Transient(ErrorInfo::new(kind, "refused"));
        let (after, effects) = transition(&refreshing, &Event::RefreshFailed { failure, jitter: 0.0 }, t(541), &policy);
        assert!(effects.is_empty(), "{kind:?}: {effects:?}");
        assert_eq!(after.failures, 1);
        assert!(after.refresh_failing(&policy), "{kind:?} waited for {} failures", policy.refresh.attention_after_failures);
        assert_eq!(after.retry_at, Some(t(541) + delta(policy.refresh.retry_max_delay)), "{kind:?} retried as an outage");
        assert!(after.is_signed_in() && after.tokens.is_some(), "{kind:?} dropped the session");
        let (_, effects) = transition(&after, &Event::Tick, t(600), &policy);
        assert!(effects.is_empty(), "{kind:?} retried before the longest backoff");
    }
    // An outage still takes three in a row.
    let (refreshing, _) = transition(&signed_in(600, true, &policy), &Event::Tick, t(540), &policy);
    let (after, _) = transition(&refreshing, &Event::RefreshFailed { failure: transient(), jitter: 0.0 }, t(541), &policy);
    assert!(!after.refresh_failing(&policy));
}
