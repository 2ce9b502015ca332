use super::*;

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

fn times(access_seconds: i64, refresh: bool) -> TokenTimes {
    TokenTimes {
        access_token_expires_at: Some(t(access_seconds)),
        refresh_token_expires_at: None,
        has_refresh_token: refresh,
    }
}

fn signed_in(access_seconds: i64, refresh: bool, policy: &Policy) -> SessionState {
    let (state, effects) = transition(&SessionState::signed_out(), &Event::SignedIn(times(access_seconds, refresh)), t(0), policy);
    assert!(effects.is_empty());
    state
}

fn transient() -> RefreshFailure {
    RefreshFailure::Transient(ErrorInfo { kind: ErrorKind::ProviderUnavailable, message: "503".into() })
}

#[test]
fn refreshes_once_the_lead_time_before_access_token_expiry() {
    let policy = Policy::default();
    let state = signed_in(600, true, &policy);
    assert_eq!(state.phase, Phase::Active);
    assert_eq!(state.next_deadline(t(0), &policy), Some(t(540)));
    let (same, effects) = transition(&state, &Event::Tick, t(539), &policy);
    assert_eq!((same.phase, effects), (Phase::Active, vec![]));
    let (refreshing, effects) = transition(&state, &Event::Tick, t(540), &policy);
    assert_eq!((refreshing.phase, effects), (Phase::Refreshing, vec![Effect::Refresh]));
}

#[test]
fn a_lead_time_longer_than_the_tokens_life_refreshes_at_half_life_not_in_a_loop() {
    let policy = Policy::default(); // 60 s lead time
    let state = signed_in(30, true, &policy);
    assert_eq!(state.next_deadline(t(0), &policy), Some(t(15)));
    let (same, effects) = transition(&state, &Event::Tick, t(1), &policy);
    assert_eq!((same.phase, effects), (Phase::Active, vec![]), "refreshed the moment it signed in");
    let (refreshing, effects) = transition(&state, &Event::Tick, t(15), &policy);
    assert_eq!(effects, vec![Effect::Refresh]);
    let done = Event::RefreshSucceeded { times: times(45, true), warning: None };
    let (refreshed, effects) = transition(&refreshing, &done, t(15), &policy);
    assert_eq!((refreshed.phase, effects), (Phase::Active, vec![]), "asked again as soon as the refresh landed");
    assert_eq!(refreshed.next_refresh_at(&policy), Some(t(30)));
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
    let (validated, _) = transition(&validating, &Event::Validated, t(302), &policy);
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
    let revoked = RefreshFailure::Revoked(ErrorInfo { kind: ErrorKind::SessionRevoked, message: "invalid_grant".into() });
    let (next, effects) = transition(&refreshing, &Event::RefreshFailed { failure: revoked, jitter: 0.5 }, t(541), &policy);
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
    let (state, _) = transition(&SessionState::signed_out(), &Event::SignedIn(short), t(0), &policy);
    assert_eq!(state.session_expires_at, Some(t(3600)));
}

#[test]
fn a_rejected_access_token_is_confirmed_at_the_token_endpoint() {
    let policy = Policy::default();
    let (validating, effects) =
        transition(&signed_in(3600, true, &policy), &Event::Trigger(Trigger::Interval), t(400), &policy);
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
    let (after, effects) =
        transition(&signing, &Event::RefreshSucceeded { times: times(1200, true), warning: None }, t(542), &policy);
    assert_eq!((after.phase, effects), (Phase::SigningIn, vec![]));
    assert_eq!(after.tokens, Some(times(1200, true)));
    let (back, _) = transition(&after, &Event::SignInAbandoned, t(543), &policy);
    assert_eq!(back.phase, Phase::Active);
}
