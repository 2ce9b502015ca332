//! An answer reaches exactly the callers its effect names, in the shape their request expects.

use tokio::sync::oneshot;

use super::*;
use crate::error::{ErrorInfo, ErrorKind};
use crate::provider::ProviderConfig;
use crate::session::state::SessionState;

fn entry() -> Entry {
    let record = SessionRecord {
        id: crate::names::SessionName::new("work").unwrap(),
        provider: ProviderConfig::new("https://id.example.com", "client"),
        state: SessionState::signed_out(),
    };
    Entry::new(record, None)
}

/// The session as it is, for an answer that carries it.
fn now(entry: &Entry) -> impl FnOnce() -> SessionSnapshot + use<> {
    let record = entry.record.clone();
    move || SessionSnapshot::of(&record, &crate::policy::Policy::default())
}

#[test]
fn a_refusal_reaches_only_the_callers_it_names() {
    let mut entry = entry();
    let (check, mut check_answer) = oneshot::channel();
    let (token, mut token_answer) = oneshot::channel();
    let (narrow, mut narrow_answer) = oneshot::channel();
    let (other, mut other_answer) = oneshot::channel();
    entry.waiting.checks.push(check);
    entry.waiting.tokens.push(token);
    entry.waiting.narrowed.push(("openid".into(), narrow));
    entry.waiting.narrowed.push(("email".into(), other));
    let outage = ErrorInfo::new(ErrorKind::ProviderUnavailable, "503");
    entry.answer("work", Effect::Refuse(Waiter::Token, Refusal::Failed(outage)), now(&entry));
    assert_eq!(token_answer.try_recv().unwrap().err().unwrap().kind(), ErrorKind::ProviderUnavailable);
    assert!(check_answer.try_recv().is_err(), "the check still waits");
    entry.answer("work", Effect::Refuse(Waiter::Narrowed("openid".into()), Refusal::NoRefreshToken), now(&entry));
    assert_eq!(narrow_answer.try_recv().unwrap().err().unwrap().kind(), ErrorKind::NotOffered);
    assert!(other_answer.try_recv().is_err(), "another scope's program still waits");
    entry.answer("work", Effect::Checked, now(&entry));
    assert_eq!(check_answer.try_recv().unwrap().unwrap().id.as_str(), "work");
}

#[test]
fn a_foreign_redirect_and_a_removal_that_must_sign_out_first_are_answers_not_errors() {
    let mut entry = entry();
    let (redirect, mut redirect_answer) = oneshot::channel();
    let (remove, mut remove_answer) = oneshot::channel();
    entry.waiting.redirects.push(redirect);
    entry.waiting.removals.push(remove);
    entry.answer("work", Effect::Refuse(Waiter::Redirect, Refusal::ForeignRedirect), now(&entry));
    assert!(matches!(redirect_answer.try_recv().unwrap(), Ok(Taken::Foreign)));
    entry.answer("work", Effect::Refuse(Waiter::Remove, Refusal::SignOutFirst), now(&entry));
    assert_eq!(remove_answer.try_recv().unwrap().unwrap(), Removal::SignOutFirst);
    let (redirect, mut redirect_answer) = oneshot::channel();
    entry.waiting.redirects.push(redirect);
    entry.answer("work", Effect::Refuse(Waiter::Redirect, Refusal::NoSignInPending), now(&entry));
    assert_eq!(redirect_answer.try_recv().unwrap().err().unwrap().kind(), ErrorKind::NoSignInPending);
}
