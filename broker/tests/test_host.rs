//! The hand-out's whole flow with a test host and test sessions: no desktop, no provider, no
//! keychain. Each test is one decision of the rule.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use session_broker::{Answer, Asked, Broker, CONSENT_TIMEOUT, Caller, Host, Question, Reply, Sessions};
use session_core::{AccessToken, Error as CoreError, ErrorKind, TokenRequest};

/// What the host was asked to do, in order.
#[derive(Debug, Default)]
struct Seen {
    shown: Vec<Asked>,
    withdrawn: usize,
    questions: Vec<Vec<Question>>,
    saved: Vec<(String, String)>,
}

/// A desktop stand-in: the consent settings, and a person who gives `answer` after `after` (or never).
#[derive(Clone)]
struct TestHost {
    allowed: Arc<Mutex<BTreeSet<(String, String)>>>,
    answer: Option<Answer>,
    after: Duration,
    saving_fails: bool,
    seen: Arc<Mutex<Seen>>,
}

impl TestHost {
    fn answering(answer: Option<Answer>) -> Self {
        TestHost { allowed: Arc::default(), answer, after: Duration::from_secs(1), saving_fails: false, seen: Arc::default() }
    }
}

impl Host for TestHost {
    type Shown = ();

    fn allows(&self, session: &str, program: &str) -> bool {
        self.allowed.lock().unwrap().contains(&(session.to_owned(), program.to_owned()))
    }

    fn allow_for_good(&self, session: &str, program: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.saving_fails {
            return Err("disk full".into());
        }
        self.allowed.lock().unwrap().insert((session.to_owned(), program.to_owned()));
        self.seen.lock().unwrap().saved.push((session.to_owned(), program.to_owned()));
        Ok(())
    }

    fn questions_changed(&self, questions: Vec<Question>) {
        self.seen.lock().unwrap().questions.push(questions);
    }

    fn show_question(&self, asked: &Asked, reply: Reply) {
        self.seen.lock().unwrap().shown.push(asked.clone());
        if let Some(answer) = self.answer {
            let after = self.after;
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                reply.answer(answer);
            });
        }
    }

    async fn withdraw_question(&self, (): ()) {
        self.seen.lock().unwrap().withdrawn += 1;
    }
}

/// The core stand-in: which sessions are signed in, and the requests handed out.
#[derive(Clone, Default)]
struct TestSessions {
    signed_in: BTreeSet<String>,
    handed: Arc<Mutex<Vec<(String, TokenRequest)>>>,
}

impl TestSessions {
    fn with(session: &str) -> Self {
        TestSessions { signed_in: [session.to_owned()].into(), handed: Arc::default() }
    }
}

impl Sessions for TestSessions {
    async fn is_signed_in(&self, session: &str) -> Result<bool, CoreError> {
        Ok(self.signed_in.contains(session))
    }

    async fn hand_out(&self, session: &str, request: &TokenRequest) -> Result<AccessToken, CoreError> {
        if !self.signed_in.contains(session) {
            return Err(CoreError::NotSignedIn(session.to_owned()));
        }
        self.handed.lock().unwrap().push((session.to_owned(), request.clone()));
        Ok(AccessToken { session: session.to_owned(), token: "token".to_owned().into(), expires_at: None })
    }
}

/// A caller of this user with no process to name (so the program is "an unknown program").
fn caller() -> Caller {
    Caller { uid: rustix_euid(), pid: None, patience: CONSENT_TIMEOUT }
}

fn rustix_euid() -> u32 {
    // The test's own user, as the broker compares it (`geteuid`); read from /proc to need no crate.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

const PROGRAM: &str = "an unknown program";

#[tokio::test(start_paused = true)]
async fn another_user_is_refused_before_anything_happens() {
    let host = TestHost::answering(Some(Answer::AllowOnce));
    let sessions = TestSessions::with("work");
    let broker = Broker::new(host.clone(), sessions.clone());
    let stranger = Caller { uid: caller().uid + 1, ..caller() };
    let err = broker.hand_out("work", TokenRequest::default(), stranger).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConsentDenied);
    assert!(host.seen.lock().unwrap().shown.is_empty(), "no question for another user");
    assert!(sessions.handed.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_allowed_program_is_not_asked_and_is_recorded_with_the_request() {
    let host = TestHost::answering(None);
    host.allowed.lock().unwrap().insert(("work".into(), PROGRAM.into()));
    let sessions = TestSessions::with("work");
    let broker = Broker::new(host.clone(), sessions.clone());
    let request = TokenRequest { min_valid: Duration::from_secs(300), ..TokenRequest::default() };
    let token = broker.hand_out("work", request, caller()).await.unwrap();
    assert_eq!(token.session, "work");
    assert!(host.seen.lock().unwrap().shown.is_empty());
    let handed = sessions.handed.lock().unwrap();
    assert_eq!(handed[0].1.program, PROGRAM, "the history names the program");
    assert_eq!(handed[0].1.min_valid, Duration::from_secs(300));
}

#[tokio::test(start_paused = true)]
async fn a_signed_out_session_is_said_at_once_without_a_question() {
    let host = TestHost::answering(Some(Answer::AllowOnce));
    let broker = Broker::new(host.clone(), TestSessions::default());
    let err = broker.hand_out("work", TokenRequest::default(), caller()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSignedIn);
    assert!(host.seen.lock().unwrap().shown.is_empty());
}

#[tokio::test(start_paused = true)]
async fn allow_once_hands_out_and_asks_again_next_time() {
    let host = TestHost::answering(Some(Answer::AllowOnce));
    let sessions = TestSessions::with("work");
    let broker = Broker::new(host.clone(), sessions.clone());
    broker.hand_out("work", TokenRequest::default(), caller()).await.unwrap();
    broker.hand_out("work", TokenRequest::default(), caller()).await.unwrap();
    let seen = host.seen.lock().unwrap();
    assert_eq!(seen.shown.len(), 2, "asked each time");
    assert_eq!(seen.withdrawn, 2, "each question is taken off the screen");
    assert!(seen.saved.is_empty());
    assert_eq!(seen.shown[0].summary(), "Allow an unknown program to use “work”?");
    assert_eq!(seen.shown[0].body(), "an unknown program asks for a token of session “work”.");
    // The page heard of the question, then of its end.
    assert_eq!(seen.questions[0], vec![Question { session: "work".into(), program: PROGRAM.into() }]);
    assert!(seen.questions[1].is_empty());
    assert_eq!(sessions.handed.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn always_allow_is_kept_and_not_asked_again() {
    let host = TestHost::answering(Some(Answer::Always));
    let broker = Broker::new(host.clone(), TestSessions::with("work"));
    broker.hand_out("work", TokenRequest::default(), caller()).await.unwrap();
    broker.hand_out("work", TokenRequest::default(), caller()).await.unwrap();
    let seen = host.seen.lock().unwrap();
    assert_eq!(seen.shown.len(), 1);
    assert_eq!(seen.saved, vec![("work".to_owned(), PROGRAM.to_owned())]);
}

#[tokio::test(start_paused = true)]
async fn always_allow_that_cannot_be_saved_still_hands_out() {
    let host = TestHost { saving_fails: true, ..TestHost::answering(Some(Answer::Always)) };
    let broker = Broker::new(host.clone(), TestSessions::with("work"));
    assert!(broker.hand_out("work", TokenRequest::default(), caller()).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn deny_hands_out_nothing() {
    let host = TestHost::answering(Some(Answer::Deny));
    let sessions = TestSessions::with("work");
    let broker = Broker::new(host, sessions.clone());
    let err = broker.hand_out("work", TokenRequest::default(), caller()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConsentDenied);
    assert!(sessions.handed.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn nobody_answering_times_out_at_the_callers_patience_and_clears_the_question() {
    let host = TestHost::answering(None);
    let broker = Broker::new(host.clone(), TestSessions::with("work"));
    let patient = Caller { patience: Duration::from_secs(20), ..caller() };
    let started = tokio::time::Instant::now();
    let err = broker.hand_out("work", TokenRequest::default(), patient).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConsentTimedOut);
    assert_eq!(started.elapsed(), Duration::from_secs(20));
    assert!(broker.consent().questions().is_empty());
    assert_eq!(host.seen.lock().unwrap().withdrawn, 1);
}

#[tokio::test(start_paused = true)]
async fn requests_of_one_program_share_one_question() {
    let host = TestHost { after: Duration::from_secs(5), ..TestHost::answering(Some(Answer::AllowOnce)) };
    let sessions = TestSessions::with("work");
    let broker = Broker::new(host.clone(), sessions.clone());
    let (first, second) = tokio::join!(
        broker.hand_out("work", TokenRequest::default(), caller()),
        broker.hand_out("work", TokenRequest::default(), caller())
    );
    assert!(first.is_ok() && second.is_ok());
    assert_eq!(host.seen.lock().unwrap().shown.len(), 1, "one question for both");
    assert_eq!(sessions.handed.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_answer_on_the_card_ends_the_question() {
    let host = TestHost::answering(None);
    let broker = Arc::new(Broker::new(host.clone(), TestSessions::with("work")));
    let asking = tokio::spawn({
        let broker = broker.clone();
        async move { broker.hand_out("work", TokenRequest::default(), caller()).await.map(|token| token.session) }
    });
    while broker.consent().questions().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(broker.consent().answer("work", PROGRAM, Answer::AllowOnce));
    assert_eq!(asking.await.unwrap().unwrap(), "work");
    assert_eq!(host.seen.lock().unwrap().withdrawn, 1, "the notification goes away");
}
