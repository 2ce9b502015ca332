//! The consent book: the questions that wait for the person's answer, one per session and program,
//! however many requests of that program wait on it. Pure bookkeeping over channels, so it is tested
//! without a desktop.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// A user's answer to a consent question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Answer {
    /// This request only.
    AllowOnce,
    /// This and every later request of the program for the session.
    Always,
    /// Not this request.
    Deny,
}

impl Answer {
    /// Every answer, in the order a question offers them.
    pub const ALL: [Answer; 3] = [Answer::AllowOnce, Answer::Always, Answer::Deny];

    /// The notification action key of this answer.
    pub fn action(self) -> &'static str {
        match self {
            Answer::AllowOnce => "allow-once",
            Answer::Always => "always",
            Answer::Deny => "deny",
        }
    }

    /// The answer a notification action key stands for.
    pub fn from_action(action: &str) -> Option<Answer> {
        Answer::ALL.into_iter().find(|answer| answer.action() == action)
    }

    /// The button's label.
    pub fn label(self) -> &'static str {
        match self {
            Answer::AllowOnce => "Allow once",
            Answer::Always => "Always allow",
            Answer::Deny => "Deny",
        }
    }
}

/// A question waiting for the user, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Question {
    /// The session asked for.
    pub session: String,
    /// The executable that asks.
    pub program: String,
}

/// Answers one question from wherever the person answers it (a notification's action); answering a
/// question that has ended does nothing.
#[derive(Debug, Clone)]
pub struct Reply(Answers);

impl Reply {
    /// Gives `answer` to every caller waiting on the question.
    pub fn answer(&self, answer: Answer) {
        self.0.send_replace(Some(answer));
    }
}

/// Where a question's answer goes: every caller waiting on it holds a receiver.
type Answers = watch::Sender<Option<Answer>>;

/// The questions that wait for an answer, one per (session, program).
#[derive(Debug, Default)]
pub struct Consent {
    waiting: Mutex<HashMap<(String, String), Answers>>,
}

/// A place in a question: the answers to come, and whether this caller opened it (then it shows the
/// question and closes it).
pub(crate) struct Joined {
    pub answers: watch::Receiver<Option<Answer>>,
    pub opened: Option<Reply>,
}

impl Consent {
    /// The questions now waiting, for the page.
    pub fn questions(&self) -> Vec<Question> {
        let waiting = self.waiting.lock().expect("consent poisoned");
        let mut questions: Vec<Question> =
            waiting.keys().map(|(session, program)| Question { session: session.clone(), program: program.clone() }).collect();
        questions.sort_by(|a, b| (&a.session, &a.program).cmp(&(&b.session, &b.program)));
        questions
    }

    /// Joins the question about `program` and `session`, or opens it.
    pub(crate) fn join(&self, session: &str, program: &str) -> Joined {
        let mut waiting = self.waiting.lock().expect("consent poisoned");
        match waiting.get(&(session.to_owned(), program.to_owned())) {
            Some(sender) => Joined { answers: sender.subscribe(), opened: None },
            None => {
                let (sender, answers) = watch::channel(None);
                waiting.insert((session.to_owned(), program.to_owned()), sender.clone());
                Joined { answers, opened: Some(Reply(sender)) }
            }
        }
    }

    /// Takes the question off the list (answered or timed out).
    pub(crate) fn close(&self, session: &str, program: &str) {
        self.waiting.lock().expect("consent poisoned").remove(&(session.to_owned(), program.to_owned()));
    }

    /// Answers the question about `program` and `session`, if it still waits. Returns whether it did.
    pub fn answer(&self, session: &str, program: &str, answer: Answer) -> bool {
        let waiting = self.waiting.lock().expect("consent poisoned");
        match waiting.get(&(session.to_owned(), program.to_owned())) {
            Some(sender) => {
                sender.send_replace(Some(answer));
                true
            }
            None => false,
        }
    }
}

/// The answer, or `None` once `within` has passed without one.
pub(crate) async fn wait_for_answer(mut answers: watch::Receiver<Option<Answer>>, within: Duration) -> Option<Answer> {
    match tokio::time::timeout(within, answers.wait_for(Option::is_some)).await {
        Ok(Ok(answer)) => *answer,
        _ => None,
    }
}

#[cfg(test)]
mod tests;
