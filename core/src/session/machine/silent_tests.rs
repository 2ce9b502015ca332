//! Silent sign-in's decisions (`silent.rs`), one test each: when an attempt starts, what its outcome
//! does, and never a loop.

use super::silent::SILENT_TRIES;
use super::*;
use crate::error::ErrorKind;
use crate::session::history::MarkKind;
use crate::session::state::{
    EndReason, Event, Phase, RefreshFailure, Refusal, SessionState, SilentOutcome, SilentResult, TokenKind, TokenTimes, Trigger, Waiter,
};
use crate::user::UserProfile;
use chrono::TimeDelta;

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

fn user(subject: &str) -> UserProfile {
    UserProfile { subject: subject.into(), name: None, email: Some(format!("{subject}@example.test")), preferred_username: None }
}

/// Access token for 300 s, refresh token announced to end at 3600 s.
fn times_at(now: i64) -> TokenTimes {
    TokenTimes {
        access_token_expires_at: Some(t(now + 300)),
        refresh_token_expires_at: Some(t(now + 3600)),
        has_refresh_token: true,
        refresh_token_online: false,
    }
}

/// Signed in at 0 in the embedded window with a silent browser plugged in (`browser`).
fn session(browser: bool) -> SessionState {
    let mut start = SessionState::signed_out();
    start.silent.browser = browser;
    let (state, _) = transition(
        &start,
        &Event::SignedIn { times: times_at(0), user: user("alice"), warning: None, auth_time: None },
        t(0),
        &Policy::default(),
    );
    state
}

fn step(state: &SessionState, event: Event, at: i64) -> (SessionState, Vec<Effect>) {
    transition(state, &event, t(at), &Policy::default())
}

fn renewed(at: i64) -> Event {
    Event::SilentFinished(SilentResult::Renewed { times: times_at(at), user: user("alice"), warning: None, auth_time: None })
}

fn info(kind: ErrorKind) -> ErrorInfo {
    ErrorInfo::new(kind, "words")
}

/// The lead before the refresh token's end: `max(leadTime 60 s, 2 × 15 s)`, at most half its life.
const LEAD: i64 = 60;

#[test]
fn silent_sign_in_starts_a_lead_time_before_the_refresh_tokens_announced_end() {
    let state = session(true);
    // Keep the access token fresh so only the refresh token's end is due.
    let mut fresh = state.clone();
    fresh.tokens = Some(TokenTimes { access_token_expires_at: Some(t(9000)), ..times_at(0) });
    assert_eq!(fresh.next_deadline(t(3301), &Policy::default()), Some(t(3600 - LEAD)), "the actor wakes for it");
    let (before, effects) = step(&fresh, Event::Tick, 3600 - LEAD - 1);
    assert!(!effects.contains(&Effect::SilentSignIn));
    assert!(!before.silent.attempting);
    let (during, effects) = step(&fresh, Event::Tick, 3600 - LEAD);
    assert_eq!(effects, vec![Effect::SilentSignIn]);
    assert!(during.silent.attempting);
    assert_eq!(during.history.marks().last().map(|m| (m.what, m.detail.as_deref())), Some((MarkKind::SilentSignIn, Some("started"))));
    let snapshot = crate::SessionSnapshot::of(
        &crate::SessionRecord {
            id: crate::SessionName::new("s").unwrap(),
            provider: crate::ProviderConfig::new("https://id.example.com", "c"),
            state: during.clone(),
        },
        &Policy::default(),
    );
    assert!(snapshot.refreshing && snapshot.silent.attempting && !snapshot.needs_attention, "the card says refreshing, not expired");
}

#[test]
fn a_renewal_replaces_the_tokens_and_moves_the_end_with_the_new_refresh_token() {
    let mut state = session(true);
    state.tokens = Some(TokenTimes { access_token_expires_at: Some(t(9000)), ..times_at(0) });
    let (during, _) = step(&state, Event::Tick, 3540);
    let (after, effects) = step(&during, renewed(3545), 3545);
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(after.phase, Phase::Active);
    assert!(!after.silent.attempting);
    assert_eq!(after.ending(), Some((t(3545 + 3600), EndReason::RefreshTokenExpires)));
    assert_eq!(after.signed_in_at, Some(t(3545)));
    assert_eq!(after.generation, during.generation + 1, "work started before is stale");
    assert_eq!(after.silent.last.as_ref().map(|l| l.outcome), Some(SilentOutcome::Renewed));
    assert_eq!(after.history.marks().last().map(|m| m.detail.as_deref()), Some(Some("renewed")));
}

#[test]
fn without_a_silent_browser_the_refresh_tokens_end_expires_the_session_as_before() {
    let mut state = session(false);
    state.tokens = Some(TokenTimes { access_token_expires_at: Some(t(9000)), ..times_at(0) });
    let (_, effects) = step(&state, Event::Tick, 3540);
    assert!(!effects.contains(&Effect::SilentSignIn));
    let (ended, _) = step(&state, Event::Tick, 3600);
    assert_eq!(ended.phase, Phase::Expired);
}

#[test]
fn silent_sign_in_turned_off_starts_none_and_warns_a_day_ahead() {
    let mut policy = Policy::default();
    policy.lifetime.sign_in_again_lead = std::time::Duration::from_secs(600);
    let mut state = session(true);
    state.tokens = Some(TokenTimes { access_token_expires_at: Some(t(9000)), ..times_at(0) });
    let (off, _) = transition(&state, &Event::SilentSet { enabled: false }, t(10), &policy);
    assert!(!off.silent.enabled && !off.silent.possible());
    let (early, _) = transition(&off, &Event::Tick, t(2999), &policy);
    assert!(!early.silent.sign_in_again_soon);
    let (soon, effects) = transition(&off, &Event::Tick, t(3000), &policy);
    assert!(soon.silent.sign_in_again_soon, "ends within signInAgainLead and nothing renews it");
    assert!(!effects.contains(&Effect::SilentSignIn));
    let (on, _) = transition(&state, &Event::Tick, t(3000), &policy);
    assert!(!on.silent.sign_in_again_soon, "a session that renews silently is not told to sign in");
}

#[test]
fn invalid_grant_with_no_rotated_token_tries_one_silent_sign_in_before_expiring() {
    let state = session(true);
    let (refreshing, _) = step(&state, Event::Trigger(Trigger::Manual { force: true }), 10);
    let (rereading, effects) =
        step(&refreshing, Event::RefreshFailed { failure: RefreshFailure::Revoked(info(ErrorKind::SessionRevoked)), jitter: 0.5 }, 11);
    assert_eq!(effects, vec![Effect::Reread]);
    let (attempting, effects) = step(&rereading, Event::Reread { rotated: false }, 12);
    assert_eq!(effects, vec![Effect::SilentSignIn]);
    assert_eq!(attempting.phase, Phase::Active, "not Expired meanwhile");
    let (failed, effects) =
        step(&attempting, Event::SilentFinished(SilentResult::Failed { error: info(ErrorKind::SignInTimedOut), jitter: 0.5 }), 20);
    assert_eq!(failed.phase, Phase::Expired, "the dead refresh token ends the session after one try");
    assert_eq!(failed.last_error.as_ref().map(|e| e.kind), Some(ErrorKind::SessionRevoked));
    assert_eq!(effects, vec![Effect::Discard { revoke: false }]);
    let (renewed_state, _) = step(&attempting, renewed(20), 20);
    assert_eq!(renewed_state.phase, Phase::Active);
}

#[test]
fn login_required_ends_the_session_once_and_blocks_further_attempts() {
    let mut state = session(true);
    state.tokens = Some(TokenTimes { access_token_expires_at: Some(t(9000)), ..times_at(0) });
    let (during, _) = step(&state, Event::Tick, 3540);
    let (told, effects) = step(&during, Event::SilentFinished(SilentResult::NeedsSignIn(info(ErrorKind::SignInNeeded))), 3541);
    // The refresh token still lives: the session goes on until its end, never revoked for this, and
    // the person is told to sign in again now.
    assert!(effects.is_empty(), "{effects:?}");
    assert!(told.is_signed_in() && told.tokens == state.tokens);
    assert!(told.silent.blocked && !told.silent.possible() && told.silent.sign_in_again_soon);
    let (_, effects) = step(&told, Event::Tick, 3560);
    assert!(effects.is_empty(), "no second attempt: {effects:?}");
    let (ended, effects) = step(&told, Event::Tick, 3600);
    assert_eq!(ended.phase, Phase::Expired);
    assert_eq!(ended.last_error.as_ref().map(|e| e.kind), Some(ErrorKind::SignInNeeded));
    assert_eq!(effects, vec![Effect::Discard { revoke: true }], "at its end, as any refresh token's end");
    assert!(ended.silent.blocked && !ended.silent.possible());
    // A refresh refused meanwhile (the refresh token ran out first) ends it with the same reason.
    let (refreshing, _) = step(&told, Event::Trigger(Trigger::Manual { force: true }), 3570);
    let (rereading, _) =
        step(&refreshing, Event::RefreshFailed { failure: RefreshFailure::Revoked(info(ErrorKind::SessionRevoked)), jitter: 0.5 }, 3571);
    let (refused, effects) = step(&rereading, Event::Reread { rotated: false }, 3572);
    assert_eq!((refused.phase, effects), (Phase::Expired, vec![Effect::Discard { revoke: false }]));
    assert_eq!(refused.last_error.as_ref().map(|e| e.kind), Some(ErrorKind::SignInNeeded), "the provider's session ended: that is why");
    assert_eq!(ended.history.marks().iter().filter(|m| m.what == MarkKind::Expired).count(), 1);
    // Neither a program nor a person starts another until the person signs in.
    let (_, effects) = step(&ended, Event::TokenWanted { token: TokenKind::Access, min_valid: TimeDelta::zero() }, 3542);
    assert_eq!(effects, vec![Effect::Refuse(Waiter::Token, Refusal::NotSignedIn)]);
    let (_, effects) = step(&ended, Event::SilentWanted, 3543);
    assert!(matches!(&effects[..], [Effect::Refuse(Waiter::Check, Refusal::Failed(e))] if e.kind == ErrorKind::SignInNeeded));
    let (again, _) = step(&ended, Event::SignedIn { times: times_at(4000), user: user("alice"), warning: None, auth_time: None }, 4000);
    assert!(!again.silent.blocked && again.silent.possible(), "an interactive sign-in lifts the block");
}

#[test]
fn a_refused_or_failed_attempt_leaves_the_session_as_it_was_and_retries_a_few_times_with_backoff() {
    let mut state = session(true);
    state.tokens = Some(TokenTimes { access_token_expires_at: Some(t(9000)), ..times_at(0) });
    // A refused answer (another user) would be the same answer again: no retry until the person signs in.
    let (during, _) = step(&state, Event::Tick, 3540);
    let (refused, effects) = step(&during, Event::SilentFinished(SilentResult::Refused(info(ErrorKind::OtherUser))), 3541);
    assert!(effects.is_empty());
    assert_eq!((refused.tokens, refused.user.clone()), (state.tokens, state.user.clone()), "as it was");
    assert!(refused.is_signed_in() && refused.silent.blocked && refused.silent.sign_in_again_soon);
    let (_, effects) = step(&refused, Event::Tick, 3570);
    assert!(effects.is_empty(), "not asked again: {effects:?}");
    let (ended, _) = step(&refused, Event::Tick, 3600);
    assert_eq!(ended.last_error.as_ref().map(|e| e.kind), Some(ErrorKind::SessionRevoked), "ends at the refresh token's end");
    // A passing failure is retried with backoff, a few times.
    let mut now = 3540;
    let mut current = state.clone();
    for attempt in 1..=SILENT_TRIES {
        let (during, effects) = step(&current, Event::Tick, now);
        assert_eq!(effects, vec![Effect::SilentSignIn], "attempt {attempt}");
        let failed = SilentResult::Failed { error: info(ErrorKind::ProviderUnavailable), jitter: 1.0 };
        let (after, effects) = step(&during, Event::SilentFinished(failed), now + 1);
        assert!(effects.is_empty());
        assert_eq!((after.tokens, after.user.clone()), (state.tokens, state.user.clone()), "as it was");
        assert!(after.is_signed_in());
        assert_eq!(after.phase == Phase::Expiring, attempt == SILENT_TRIES, "ending soon once nothing will renew it");
        assert_eq!(after.silent.failures, attempt);
        let retry = after.silent.retry_at.unwrap();
        assert!(retry > t(now + 1));
        let (held, effects) = step(&after, Event::Tick, now + 1);
        assert!(effects.is_empty() && !held.silent.attempting, "held until the backoff");
        now = (retry - t(0)).num_seconds();
        current = after;
    }
    let (_, effects) = step(&current, Event::Tick, now);
    assert!(effects.is_empty(), "no more than {SILENT_TRIES} in a row");
    let (ended, _) = step(&current, Event::Tick, 3600);
    assert_eq!(ended.phase, Phase::Expired, "at the refresh token's end it expires as before");
}

#[test]
fn sign_out_during_an_attempt_wins_and_its_result_changes_nothing() {
    let mut state = session(true);
    state.tokens = Some(TokenTimes { access_token_expires_at: Some(t(9000)), ..times_at(0) });
    let (during, _) = step(&state, Event::Tick, 3540);
    let (signing_out, effects) = step(&during, Event::SignOutRequested, 3541);
    assert_eq!(effects.first(), Some(&Effect::CancelSilent));
    assert!(matches!(effects.last(), Some(Effect::SignOut { previous }) if !previous.silent.attempting));
    let (after, effects) = step(&signing_out, renewed(3542), 3542);
    assert!(effects.is_empty());
    assert_eq!(after.phase, Phase::SignedOut);
}

#[test]
fn an_interactive_sign_in_started_during_an_attempt_wins() {
    let mut state = session(true);
    state.tokens = Some(TokenTimes { access_token_expires_at: Some(t(9000)), ..times_at(0) });
    let (during, _) = step(&state, Event::Tick, 3540);
    let (signing_in, effects) = step(&during, Event::SignInStarted, 3541);
    assert_eq!(effects, vec![Effect::CancelSilent]);
    assert!(!signing_in.silent.attempting);
    let (after, _) = step(&signing_in, renewed(3542), 3542);
    assert_eq!(after.phase, Phase::SigningIn, "the silent answer changes nothing");
}

#[test]
fn a_program_asking_for_a_token_of_an_expired_session_waits_for_a_silent_sign_in() {
    let state = session(true);
    let (expired, _) = step(&state, Event::Tick, 3600);
    assert_eq!(expired.phase, Phase::Expired);
    let (waiting, effects) = step(&expired, Event::TokenWanted { token: TokenKind::Access, min_valid: TimeDelta::zero() }, 3601);
    assert_eq!(effects, vec![Effect::SilentSignIn]);
    assert!(waiting.hand_out_waiting);
    let (_, effects) = step(&waiting, Event::TokenWanted { token: TokenKind::Access, min_valid: TimeDelta::zero() }, 3601);
    assert!(effects.is_empty(), "one attempt at a time");
    let (handed, effects) = step(&waiting, renewed(3602), 3602);
    assert_eq!(handed.phase, Phase::Active);
    assert_eq!(effects, vec![Effect::HandOut]);
    let (refused, effects) =
        step(&waiting, Event::SilentFinished(SilentResult::Failed { error: info(ErrorKind::SignInTimedOut), jitter: 0.0 }), 3602);
    assert_eq!(refused.phase, Phase::Expired);
    assert!(matches!(&effects[..], [Effect::Refuse(Waiter::Token, _)]), "{effects:?}");
}

#[test]
fn a_manual_refresh_of_an_expired_session_waits_for_a_silent_sign_in() {
    let state = session(true);
    let (expired, _) = step(&state, Event::Tick, 3600);
    let (waiting, effects) = step(&expired, Event::CheckWanted(Trigger::Manual { force: false }), 3601);
    assert_eq!(effects, vec![Effect::SilentSignIn]);
    let (after, effects) = step(&waiting, renewed(3602), 3602);
    assert_eq!(after.phase, Phase::Active);
    assert_eq!(effects, vec![Effect::Checked]);
}

#[test]
fn silent_sign_in_on_demand_is_answered_like_a_check_or_refused_with_why() {
    let state = session(true);
    let (during, effects) = step(&state, Event::SilentWanted, 10);
    assert_eq!(effects, vec![Effect::SilentSignIn]);
    let (_, effects) = step(&during, renewed(11), 11);
    assert_eq!(effects, vec![Effect::Checked]);
    let (_, effects) = step(&session(false), Event::SilentWanted, 10);
    assert!(matches!(&effects[..], [Effect::Refuse(Waiter::Check, Refusal::Failed(e))] if e.kind == ErrorKind::NotOffered));
}

#[test]
fn the_silent_setting_is_kept_in_the_session_file_and_old_files_read_as_on() {
    let mut state = session(true);
    state.silent.enabled = false;
    let json = serde_json::to_value(&state).unwrap();
    let back: SessionState = serde_json::from_value(json.clone()).unwrap();
    assert!(!back.silent.enabled);
    let mut old = json;
    old.as_object_mut().unwrap().remove("silent");
    let old: SessionState = serde_json::from_value(old).unwrap();
    assert!(old.silent.enabled, "a session file from before reads as on");
}

#[test]
fn the_sign_in_time_is_the_id_tokens_auth_time_and_never_in_the_future() {
    let sign_in = |auth_time| Event::SignedIn { times: times_at(100), user: user("alice"), warning: None, auth_time };
    let (state, _) = step(&SessionState::signed_out(), sign_in(Some(t(40))), 100);
    assert_eq!(state.signed_in_at, Some(t(40)), "auth_time of the ID token");
    let (state, _) = step(&SessionState::signed_out(), sign_in(Some(t(160))), 100);
    assert_eq!(state.signed_in_at, Some(t(100)), "a provider clock ahead of ours is not believed");
    let (state, _) = step(&SessionState::signed_out(), sign_in(None), 100);
    assert_eq!(state.signed_in_at, Some(t(100)), "no auth_time: when the answer arrived");
}
