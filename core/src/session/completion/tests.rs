use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::error::{Error, ErrorKind};
use crate::oidc::Refreshed;
use crate::session::state::TokenTimes;
use crate::user::UserProfile;

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

fn secrets(refresh: &str) -> SessionSecrets {
    SessionSecrets { access_token: SecretString::from("at"), refresh_token: Some(SecretString::from(refresh)), id_token: None }
}

fn times() -> TokenTimes {
    TokenTimes {
        access_token_expires_at: Some(t(600)),
        refresh_token_expires_at: None,
        has_refresh_token: true,
        refresh_token_online: false,
    }
}

fn refreshed(refresh: &str) -> Refreshed {
    Refreshed {
        secrets: secrets(refresh),
        times: times(),
        warning: None,
        rejected: None,
        unsaved: None,
        id_token_dropped: false,
        refused: None,
    }
}

fn refresh(used: Option<SessionSecrets>, result: Result<Refreshed, RefreshFailure>, narrowed: Option<NarrowedToken>) -> Completion {
    Completion::Refresh { id: "s".into(), generation: 1, used, result, narrowed }
}

fn held_refresh_token(outcome: &Outcome) -> Option<String> {
    outcome.secrets.as_ref().and_then(|s| s.refresh_token.as_ref()).map(|t| t.expose_secret().to_owned())
}

#[test]
fn a_refresh_answer_brings_its_tokens_and_says_whether_the_keychain_took_them() {
    let outcome = events(refresh(None, Ok(refreshed("rt-2")), None), Some(&secrets("rt-1")), 0.3);
    assert_eq!(outcome.events, vec![Event::RefreshSucceeded { times: times(), warning: None }, Event::TokensSaved]);
    assert_eq!(held_refresh_token(&outcome).as_deref(), Some("rt-2"));
    let locked = ErrorInfo::new(ErrorKind::KeychainLocked, "locked");
    let unsaved = Refreshed { unsaved: Some(locked.clone()), warning: Some("clamped".into()), ..refreshed("rt-2") };
    let outcome = events(refresh(None, Ok(unsaved), None), Some(&secrets("rt-1")), 0.3);
    let [Event::RefreshSucceeded { warning: Some(warning), .. }, Event::TokensNotSaved(error)] = outcome.events.as_slice() else {
        panic!("{:?}", outcome.events)
    };
    assert_eq!((warning.kind, error), (ErrorKind::ProviderMisbehaved, &locked), "the repaired answer is a warning");
}

#[test]
fn a_refused_refresh_answer_is_a_security_failure_and_its_tokens_are_held_to_be_revoked() {
    let insecure = ErrorInfo::new(ErrorKind::InvalidIdToken, "another user's tokens");
    let answer = Refreshed { rejected: Some(insecure.clone()), ..refreshed("rt-evil") };
    let outcome = events(refresh(None, Ok(answer), Some((SecretString::from("narrow"), None))), Some(&secrets("rt-1")), 0.7);
    assert_eq!(outcome.events, vec![Event::RefreshFailed { failure: RefreshFailure::Security(insecure), jitter: 0.0 }]);
    assert_eq!(held_refresh_token(&outcome).as_deref(), Some("rt-evil"), "held for the discard that revokes it");
    assert!(outcome.narrowed.is_none(), "a narrowed token of a refused answer is never handed out");
}

#[test]
fn a_failed_refresh_carries_the_jitter_and_keeps_the_tokens_read_for_it() {
    let outcome = events(refresh(Some(secrets("rt-from-keychain")), Err(RefreshFailure::Transient(info())), None), None, 0.25);
    assert_eq!(outcome.events, vec![Event::RefreshFailed { failure: RefreshFailure::Transient(info()), jitter: 0.25 }]);
    assert_eq!(held_refresh_token(&outcome).as_deref(), Some("rt-from-keychain"), "none were in memory");
    let outcome = events(refresh(Some(secrets("rt-x")), Err(RefreshFailure::Transient(info())), None), Some(&secrets("rt-1")), 0.25);
    assert!(outcome.secrets.is_none(), "the tokens in memory stay");
}

fn info() -> ErrorInfo {
    ErrorInfo::new(ErrorKind::ProviderUnavailable, "503")
}

#[test]
fn a_narrowed_refresh_makes_its_token_before_the_session_hears_of_the_refresh() {
    let outcome =
        events(refresh(None, Ok(refreshed("rt-2")), Some((SecretString::from("narrow"), Some(t(300))))), Some(&secrets("rt-1")), 0.0);
    assert_eq!(outcome.events[0], Event::NarrowedTokenMade { expires_at: Some(t(300)) });
    assert!(matches!(outcome.events[1], Event::RefreshSucceeded { .. }));
    assert_eq!(held_refresh_token(&outcome).as_deref(), Some("rt-2"), "the session keeps the rotated refresh token");
    let (token, expires_at) = outcome.narrowed.unwrap();
    assert_eq!((token.expose_secret(), expires_at), ("narrow", Some(t(300))));
}

#[test]
fn a_reread_says_rotated_only_for_another_refresh_token_and_then_holds_it() {
    let reread = |stored: Option<SessionSecrets>| Completion::Reread { id: "s".into(), generation: 1, stored };
    let outcome = events(reread(Some(secrets("rt-other"))), Some(&secrets("rt-refused")), 0.0);
    assert_eq!(held_refresh_token(&outcome).as_deref(), Some("rt-other"));
    assert_eq!(outcome.events, vec![Event::Reread { rotated: true }]);
    for (stored, held) in
        [(Some(secrets("rt-refused")), Some(secrets("rt-refused"))), (None, Some(secrets("rt-refused"))), (Some(secrets("rt")), None)]
    {
        let outcome = events(reread(stored), held.as_ref(), 0.0);
        assert_eq!(outcome.events, vec![Event::Reread { rotated: false }]);
        assert!(outcome.secrets.is_none());
    }
}

#[test]
fn userinfo_answers_keychain_writes_and_discards_become_their_events() {
    let validate = |check| Completion::Validate { id: "s".into(), generation: 1, check };
    let alice = UserProfile { subject: "alice".into(), name: None, email: None, preferred_username: None };
    assert_eq!(events(validate(UserCheck::Valid(alice.clone())), None, 0.0).events, vec![Event::Validated(alice)]);
    assert_eq!(events(validate(UserCheck::Rejected), None, 0.0).events, vec![Event::ValidationRejected]);
    let offline = UserCheck::Unavailable(Error::NotSignedIn("s".into()));
    assert_eq!(events(validate(offline), None, 0.0).events, vec![Event::ValidationUnavailable]);
    let saved = |result| Completion::Saved { id: "s".into(), generation: 1, result };
    assert_eq!(events(saved(Ok(())), None, 0.0).events, vec![Event::TokensSaved]);
    let refused = events(saved(Err(Error::NotSignedIn("s".into()))), None, 0.0).events;
    assert!(matches!(refused.as_slice(), [Event::TokensNotSaved(_)]), "{refused:?}");
    assert!(events(Completion::Discarded { id: "s".into() }, None, 0.0).events.is_empty());
}

#[test]
fn an_answer_whose_access_token_was_refused_is_rejected_and_its_rotated_refresh_token_held() {
    let not_bearer = ErrorInfo::new(ErrorKind::ProviderMisbehaved, "its access token is of type \"mac\"");
    let answer = Refreshed { refused: Some(not_bearer.clone()), ..refreshed("rt-rotated") };
    let outcome = events(refresh(None, Ok(answer), Some((SecretString::from("narrow"), None))), Some(&secrets("rt-1")), 0.4);
    assert_eq!(outcome.events, vec![Event::RefreshFailed { failure: RefreshFailure::Rejected(not_bearer.clone()), jitter: 0.4 }]);
    assert_eq!(held_refresh_token(&outcome).as_deref(), Some("rt-rotated"), "the only refresh token the provider still honours");
    assert!(outcome.narrowed.is_none(), "a refused access token is never handed out");
    let locked = ErrorInfo::new(ErrorKind::KeychainLocked, "locked");
    let unsaved = Refreshed { refused: Some(not_bearer.clone()), unsaved: Some(locked.clone()), ..refreshed("rt-rotated") };
    let outcome = events(refresh(None, Ok(unsaved), None), Some(&secrets("rt-1")), 0.4);
    assert_eq!(
        outcome.events,
        vec![Event::RefreshFailed { failure: RefreshFailure::Rejected(not_bearer), jitter: 0.4 }, Event::TokensNotSaved(locked)],
        "a rotated refresh token only memory holds is written again later"
    );
}
