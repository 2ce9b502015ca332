//! The decisions about waiting callers, quitting, redirects and removal (`waits.rs` and `machine.rs`).

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::{ErrorInfo, ErrorKind};
use crate::policy::Policy;
use crate::session::history::MarkKind;
use crate::session::machine::transition;
use crate::session::state::{
    Effect, Event, Phase, RefreshFailure, Refusal, SessionState, TokenKind, TokenTimes, Trigger, Waiter, fresh_enough,
};
use crate::user::UserProfile;

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

fn alice() -> UserProfile {
    UserProfile { subject: "alice".into(), name: None, email: None, preferred_username: None }
}

fn signed_in(access_seconds: i64, refresh: bool) -> SessionState {
    let event = Event::SignedIn { times: times(access_seconds, refresh), user: alice(), warning: None, auth_time: None };
    transition(&SessionState::signed_out(), &event, t(0), &Policy::default()).0
}

fn step(state: &SessionState, event: Event, at: i64) -> (SessionState, Vec<Effect>) {
    transition(state, &event, t(at), &Policy::default())
}

fn outage() -> ErrorInfo {
    ErrorInfo::new(ErrorKind::ProviderUnavailable, "503")
}

fn failed(failure: RefreshFailure) -> Event {
    Event::RefreshFailed { failure, jitter: 0.0 }
}

fn refreshed(access_seconds: i64) -> Event {
    Event::RefreshSucceeded { times: times(access_seconds, true), warning: None }
}

fn narrowed(scope: &str, min_valid: i64) -> Event {
    Event::TokenWanted { token: TokenKind::Narrowed { scope: scope.into() }, min_valid: TimeDelta::seconds(min_valid) }
}

fn refused_narrowed(scope: &str, refusal: Refusal) -> Effect {
    Effect::Refuse(Waiter::Narrowed(scope.into()), refusal)
}

#[test]
fn a_waiting_check_is_answered_once_nothing_it_started_is_in_flight() {
    let state = signed_in(3600, true);
    let (idle, effects) = step(&state, Event::CheckWanted(Trigger::Focus), 10);
    assert_eq!((effects, idle.check_waiting), (vec![Effect::Checked], false), "nothing to do: answered at once");
    let (refreshing, effects) = step(&state, Event::CheckWanted(Trigger::Manual { force: true }), 10);
    assert_eq!((effects, refreshing.check_waiting), (vec![Effect::Refresh], true));
    let mark = refreshing.history.marks().last().unwrap();
    assert_eq!((mark.what, mark.detail.as_deref()), (MarkKind::Checked, Some("manual")), "marked like any trigger");
    let (joined, effects) = step(&refreshing, Event::CheckWanted(Trigger::Focus), 11);
    assert!(effects.is_empty() && joined.check_waiting, "a second caller joins the refresh: {effects:?}");
    let (_, effects) = step(&joined, refreshed(7200), 12);
    assert_eq!(effects, vec![Effect::Checked], "one answer for every caller that joined");
    let (validating, effects) = step(&state, Event::CheckWanted(Trigger::Interval), 400);
    assert_eq!(effects, vec![Effect::Validate]);
    let (_, effects) = step(&validating, Event::Validated(alice()), 401);
    assert_eq!(effects, vec![Effect::Checked], "after the userinfo check");
}

#[test]
fn a_waiting_check_hears_why_its_refresh_failed_and_a_manual_one_without_tokens_is_refused() {
    let (refreshing, _) = step(&signed_in(3600, true), Event::CheckWanted(Trigger::Manual { force: true }), 10);
    let (failing, effects) = step(&refreshing, failed(RefreshFailure::Transient(outage())), 11);
    assert_eq!(effects, vec![Effect::Refuse(Waiter::Check, Refusal::Failed(outage()))]);
    let (_, effects) = step(&failing, Event::CheckWanted(Trigger::Interval), 11);
    assert_eq!(effects, vec![Effect::Checked], "a later check that starts nothing does not repeat an old failure");
    let (out, effects) = step(&SessionState::signed_out(), Event::CheckWanted(Trigger::Manual { force: false }), 0);
    assert_eq!((effects, out.check_waiting), (vec![Effect::Refuse(Waiter::Check, Refusal::NotSignedIn)], false));
    let (_, effects) = step(&SessionState::signed_out(), Event::CheckWanted(Trigger::Focus), 0);
    assert_eq!(effects, vec![Effect::Checked], "a focus without tokens is nobody's request to refresh");
}

#[test]
fn one_fresh_enough_rule_the_lead_time_at_most_half_the_life_and_the_callers_min_valid() {
    let policy = Policy::default(); // 60 s lead time
    let zero = TimeDelta::zero();
    assert!(fresh_enough(Some(t(0)), Some(t(600)), t(539), zero, &policy));
    assert!(!fresh_enough(Some(t(0)), Some(t(600)), t(540), zero, &policy), "the lead time before expiry");
    assert!(fresh_enough(Some(t(0)), Some(t(60)), t(29), zero, &policy));
    assert!(!fresh_enough(Some(t(0)), Some(t(60)), t(30), zero, &policy), "a 60 s token: half its life");
    assert!(fresh_enough(Some(t(0)), Some(t(600)), t(99), TimeDelta::seconds(500), &policy));
    assert!(!fresh_enough(Some(t(0)), Some(t(600)), t(100), TimeDelta::seconds(500), &policy), "min_valid beyond the lead");
    assert!(fresh_enough(None, None, t(1_000_000), TimeDelta::days(1), &policy), "a token without expiry");
    let session = signed_in(60, true);
    assert!(session.access_token_fresh_enough(t(29), zero, &policy) && !session.access_token_fresh_enough(t(30), zero, &policy));
}

#[test]
fn the_id_token_and_an_exchanged_token_follow_the_access_tokens_rule() {
    let state = signed_in(600, true);
    for token in [TokenKind::Access, TokenKind::Id, TokenKind::Exchanged { audience: "https://api".into(), scope: None }] {
        let wanted = Event::TokenWanted { token: token.clone(), min_valid: TimeDelta::zero() };
        assert_eq!(step(&state, wanted.clone(), 10).1, vec![Effect::HandOut], "{token:?}");
        let (refreshing, effects) = step(&state, wanted, 545);
        assert_eq!((effects, refreshing.hand_out_waiting), (vec![Effect::Refresh], true), "{token:?}");
        assert_eq!(refreshing.narrowing.in_flight, None, "{token:?} is the session's own refresh");
    }
}

#[test]
fn a_narrowed_token_comes_from_a_refresh_of_its_own_and_is_reused_while_fresh_enough() {
    let (asked, effects) = step(&signed_in(3600, true), narrowed("openid", 0), 10);
    assert_eq!((effects, asked.phase, asked.narrowing.in_flight.as_deref()), (vec![Effect::Refresh], Phase::Refreshing, Some("openid")));
    let (joined, effects) = step(&asked, narrowed("openid", 0), 11);
    assert!(effects.is_empty(), "a second program joins: {effects:?}");
    let (made, effects) = step(&joined, Event::NarrowedTokenMade { expires_at: Some(t(311)) }, 11);
    assert_eq!(effects, vec![Effect::HandOutNarrowed("openid".into())]);
    assert!(made.narrowing.waiting.is_empty() && made.narrowing.in_flight.is_none());
    let (state, effects) = step(&made, refreshed(3611), 11);
    assert_eq!((state.phase, effects), (Phase::Active, vec![]));
    // A 300 s token: fresh until the lead time (60 s, under half its life) before it expires.
    assert_eq!(step(&state, narrowed("openid", 0), 250).1, vec![Effect::HandOutNarrowed("openid".into())]);
    assert_eq!(step(&state, narrowed("openid", 0), 251).1, vec![Effect::Refresh]);
    assert_eq!(step(&state, narrowed("openid", 200), 100).1, vec![Effect::HandOutNarrowed("openid".into())]);
    assert_eq!(step(&state, narrowed("openid", 200), 112).1, vec![Effect::Refresh], "min_valid beyond the lead");
    let (other, effects) = step(&state, narrowed("email openid", 0), 100);
    assert_eq!((effects, other.narrowing.in_flight.as_deref()), (vec![Effect::Refresh], Some("email openid")), "each scope its own");
}

#[test]
fn a_narrowed_refresh_waits_for_the_refresh_in_flight_and_for_a_sign_in() {
    let state = signed_in(600, true);
    let (refreshing, _) = step(&state, Event::Tick, 545);
    let (waiting, effects) = step(&refreshing, narrowed("openid", 0), 546);
    assert!(effects.is_empty() && waiting.narrowing.in_flight.is_none(), "{effects:?}");
    let (next, effects) = step(&waiting, refreshed(1200), 547);
    assert_eq!((effects, next.narrowing.in_flight.as_deref()), (vec![Effect::Refresh], Some("openid")), "started after it");
    let (signing, _) = step(&state, Event::SignInStarted, 1);
    let (waiting, effects) = step(&signing, narrowed("openid", 0), 2);
    assert!(effects.is_empty(), "{effects:?}");
    let event = Event::SignedIn { times: times(3600, true), user: alice(), warning: None, auth_time: None };
    let (next, effects) = step(&waiting, event, 3);
    assert_eq!((effects, next.narrowing.in_flight.as_deref()), (vec![Effect::Refresh], Some("openid")), "made for the new sign-in");
}

#[test]
fn no_narrowed_token_without_a_refresh_token_and_a_failed_narrowed_refresh_is_told_to_its_callers() {
    assert_eq!(step(&signed_in(600, false), narrowed("openid", 0), 1).1, vec![refused_narrowed("openid", Refusal::NoRefreshToken)]);
    assert_eq!(step(&SessionState::signed_out(), narrowed("openid", 0), 1).1, vec![refused_narrowed("openid", Refusal::NotSignedIn)]);
    let (asked, _) = step(&signed_in(3600, true), narrowed("openid", 0), 1);
    let (after, effects) = step(&asked, failed(RefreshFailure::Transient(outage())), 2);
    assert_eq!(effects, vec![refused_narrowed("openid", Refusal::Failed(outage()))]);
    assert!(after.narrowing.waiting.is_empty() && after.narrowing.in_flight.is_none());
    assert_eq!((after.phase, after.failures), (Phase::Active, 1), "the session fails like any refresh");
}

#[test]
fn a_sign_out_after_a_refresh_answers_each_waiting_caller_its_own_way() {
    let (refreshing, _) = step(&signed_in(600, true), Event::Tick, 545);
    let (state, _) = step(&refreshing, Event::TokenWanted { token: TokenKind::Access, min_valid: TimeDelta::zero() }, 546);
    let (state, _) = step(&state, narrowed("openid", 0), 546);
    let (state, _) = step(&state, Event::SignOutRequested, 546);
    let (state, _) = step(&state, Event::CheckWanted(Trigger::Focus), 546);
    // The refresh fails after the access token expired: the program hears the outage, the narrowed
    // one that the session is signed out, the check why its refresh failed; the sign-out goes ahead.
    let (out, effects) = step(&state, failed(RefreshFailure::Transient(outage())), 601);
    assert_eq!(out.phase, Phase::SignedOut);
    let [token, narrow, Effect::SignOut { previous }, check] = effects.as_slice() else { panic!("{effects:?}") };
    assert_eq!(token, &Effect::Refuse(Waiter::Token, Refusal::Failed(outage())));
    assert_eq!(narrow, &refused_narrowed("openid", Refusal::NotSignedIn));
    assert_eq!(check, &Effect::Refuse(Waiter::Check, Refusal::Failed(outage())));
    assert!(!previous.hand_out_waiting && previous.narrowing.waiting.is_empty(), "a failed sign-out does not bring back answered callers");
}

fn revoked() -> RefreshFailure {
    RefreshFailure::Revoked(ErrorInfo::new(ErrorKind::SessionRevoked, "invalid_grant"))
}

#[test]
fn quitting_starts_no_refresh_check_or_reread_and_leaves_a_refused_session_to_the_next_start() {
    let state = signed_in(600, true);
    let (stopping, effects) = step(&state, Event::Stopping, 1);
    assert!(effects.is_empty() && stopping.stopping);
    assert!(step(&stopping, Event::Trigger(Trigger::Manual { force: true }), 2).1.is_empty(), "a forced refresh");
    assert!(step(&stopping, Event::Trigger(Trigger::Interval), 400).1.is_empty(), "a userinfo check");
    assert!(step(&stopping, Event::Tick, 590).1.is_empty(), "a refresh that came due");
    let (refreshing, _) = step(&state, Event::Tick, 545);
    let (quitting, _) = step(&refreshing, Event::Stopping, 546);
    let (kept, effects) = step(&quitting, failed(revoked()), 547);
    assert_eq!((kept.phase, effects), (Phase::Active, vec![]), "no re-read, and the tokens are not discarded");
    assert!(kept.tokens.is_some() && kept.last_error.is_some());
    let (restored, _) = step(&kept, Event::Restored, 548);
    assert_eq!(step(&restored, Event::Tick, 548).1, vec![Effect::Refresh], "the next start asks again");
    let (rereading, _) = step(&refreshing, failed(revoked()), 546);
    let (quitting, _) = step(&rereading, Event::Stopping, 547);
    let (kept, effects) = step(&quitting, Event::Reread { rotated: true }, 548);
    assert_eq!((kept.phase, kept.refused.clone(), effects), (Phase::Active, None, vec![]), "the rotated token waits for the next start");
}

#[test]
fn a_redirect_completes_the_sign_in_only_with_its_state_and_a_foreign_one_leaves_it_waiting() {
    let (signing, _) = step(&SessionState::signed_out(), Event::SignInStarted, 0);
    let redirect = |pending, ours| Event::RedirectArrived { pending, ours };
    assert_eq!(step(&signing, redirect(true, true), 1).1, vec![Effect::CompleteSignIn]);
    let (still, effects) = step(&signing, redirect(true, false), 1);
    assert_eq!((still.phase, effects), (Phase::SigningIn, vec![Effect::Refuse(Waiter::Redirect, Refusal::ForeignRedirect)]));
    let no_sign_in = vec![Effect::Refuse(Waiter::Redirect, Refusal::NoSignInPending)];
    assert_eq!(step(&signing, redirect(false, false), 1).1, no_sign_in, "its redirect came already");
    assert_eq!(step(&signed_in(600, true), redirect(true, true), 1).1, no_sign_in, "no sign-in in progress");
}

#[test]
fn a_failed_sign_in_ends_unless_another_began_meanwhile() {
    let state = signed_in(600, true);
    let (signing, _) = step(&state, Event::SignInStarted, 1);
    let (back, effects) = step(&signing, Event::SignInFailed { pending: false }, 2);
    assert_eq!((back.phase, effects), (Phase::Active, vec![]), "back to where it started");
    let (still, _) = step(&signing, Event::SignInFailed { pending: true }, 2);
    assert_eq!(still.phase, Phase::SigningIn, "the newer sign-in waits for its redirect");
}

#[test]
fn a_sign_out_is_marked_once_the_keychain_let_go_of_the_tokens_and_a_sign_in_begun_meanwhile_goes_on() {
    let signed_out_marks = |state: &SessionState| state.history.marks().iter().filter(|m| m.what == MarkKind::SignedOut).count();
    let (out, _) = step(&signed_in(600, true), Event::SignOutRequested, 1);
    assert_eq!((out.phase, signed_out_marks(&out)), (Phase::SignedOut, 0), "the keychain has not answered yet");
    let (done, effects) = step(&out, Event::SignedOut, 2);
    assert_eq!((done.phase, done.generation, signed_out_marks(&done), effects), (Phase::SignedOut, out.generation, 1, vec![]));
    let (signing, _) = step(&out, Event::SignInStarted, 2);
    let (still, _) = step(&signing, Event::SignedOut, 3);
    assert_eq!((still.phase, signed_out_marks(&still)), (Phase::SigningIn, 1));
}

#[test]
fn a_session_that_holds_tokens_is_signed_out_before_it_is_removed() {
    let sign_out_first = vec![Effect::Refuse(Waiter::Remove, Refusal::SignOutFirst)];
    let state = signed_in(600, true);
    let (same, effects) = step(&state, Event::RemoveRequested, 1);
    assert_eq!((effects, same.phase), (sign_out_first.clone(), Phase::Active));
    let (resigning, _) = step(&state, Event::SignInStarted, 1);
    assert_eq!(step(&resigning, Event::RemoveRequested, 2).1, sign_out_first, "signing in again still holds tokens");
    let (expired, _) = step(&signed_in(900, false), Event::Tick, 900);
    let (first_sign_in, _) = step(&SessionState::signed_out(), Event::SignInStarted, 0);
    for state in [SessionState::signed_out(), expired, first_sign_in] {
        assert_eq!(step(&state, Event::RemoveRequested, 901).1, vec![Effect::Forget], "{:?}", state.phase);
    }
}
