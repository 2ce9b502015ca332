use super::*;
use crate::CONSENT_TIMEOUT;

#[test]
fn answers_round_trip_through_their_action_keys() {
    for answer in [Answer::AllowOnce, Answer::Always, Answer::Deny] {
        assert_eq!(Answer::from_action(answer.action()), Some(answer));
    }
    assert_eq!(Answer::from_action("default"), None);
}

#[tokio::test]
async fn a_question_is_answered_once_for_every_caller_waiting_on_it() {
    let consent = Consent::default();
    let first = consent.join("work", "/usr/bin/git");
    assert!(first.opened.is_some());
    let second = consent.join("work", "/usr/bin/git");
    assert!(second.opened.is_none(), "a second request of the program joins the question");
    assert!(consent.join("work", "/usr/bin/curl").opened.is_some(), "another program gets its own");
    consent.close("work", "/usr/bin/curl");
    assert_eq!(consent.questions(), vec![Question { session: "work".into(), program: "/usr/bin/git".into() }]);
    assert!(!consent.answer("work", "/usr/bin/curl", Answer::AllowOnce), "no such question");
    assert!(consent.answer("work", "/usr/bin/git", Answer::Deny));
    assert_eq!(wait_for_answer(first.answers, CONSENT_TIMEOUT).await, Some(Answer::Deny));
    assert_eq!(wait_for_answer(second.answers, CONSENT_TIMEOUT).await, Some(Answer::Deny));
    consent.close("work", "/usr/bin/git");
    assert!(consent.questions().is_empty());
}

#[tokio::test]
async fn a_reply_answers_its_question_and_nothing_after_it_ends() {
    let consent = Consent::default();
    let Joined { answers, opened } = consent.join("work", "/usr/bin/git");
    let reply = opened.expect("the first caller opens the question");
    reply.answer(Answer::AllowOnce);
    assert_eq!(wait_for_answer(answers, CONSENT_TIMEOUT).await, Some(Answer::AllowOnce));
    consent.close("work", "/usr/bin/git");
    // The notification's late action after the question ended: no one waits, nothing happens.
    reply.answer(Answer::Always);
    assert!(consent.questions().is_empty());
    assert!(consent.join("work", "/usr/bin/git").opened.is_some(), "a new request asks afresh");
}

#[tokio::test(start_paused = true)]
async fn nobody_answering_ends_the_wait_at_the_bound() {
    let consent = Consent::default();
    let joined = consent.join("work", "/usr/bin/git");
    let started = tokio::time::Instant::now();
    assert_eq!(wait_for_answer(joined.answers, CONSENT_TIMEOUT).await, None);
    assert_eq!(started.elapsed(), CONSENT_TIMEOUT);
}
