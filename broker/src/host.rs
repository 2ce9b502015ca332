//! The seams: what the hand-out needs from the desktop ([`Host`]) and from the sessions
//! ([`Sessions`]). The desktop shell implements [`Host`] with notifications and its settings file;
//! the tests implement both without a desktop, a provider or a keychain.

use std::future::Future;
use std::time::Duration;

use session_core::{AccessToken, Error as CoreError, SessionManager, TokenRequest};

use crate::caller::short_name;
use crate::consent::{Question, Reply};

/// A consent question as it is put to the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// The session asked for.
    pub session: String,
    /// The executable that asks (with its script, for an interpreter).
    pub program: String,
    /// Its process id, when known.
    pub pid: Option<u32>,
    /// How long the question stands.
    pub within: Duration,
}

impl Asked {
    /// The notification's title: "Allow git to use “work”?".
    pub fn summary(&self) -> String {
        format!("Allow {} to use “{}”?", short_name(&self.program), self.session)
    }

    /// The notification's body: the whole program path, its process and the session.
    pub fn body(&self) -> String {
        let process = self.pid.map(|pid| format!(" (process {pid})")).unwrap_or_default();
        format!("{}{process} asks for a token of session “{}”.", self.program, self.session)
    }
}

/// What the hand-out needs from the desktop.
pub trait Host: Send + Sync {
    /// What [`Host::show_question`] leaves on the screen, handed back to take it away.
    type Shown: Send;

    /// Whether `program` may have `session`'s tokens without asking (the person's consent settings:
    /// asking turned off, or "Always allow" given before).
    fn allows(&self, session: &str, program: &str) -> bool;

    /// Keeps "Always allow" for `program` and `session` in the settings. On failure the program is
    /// still allowed this time and the broker logs why.
    fn allow_for_good(&self, session: &str, program: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;

    /// The questions waiting for an answer changed (the page lists them on the cards).
    fn questions_changed(&self, questions: Vec<Question>);

    /// Puts `asked` in front of the person (a notification offering the answers); whatever they pick
    /// goes to `reply`. The question may be answered elsewhere too (the card), or not at all.
    fn show_question(&self, asked: &Asked, reply: Reply) -> Self::Shown;

    /// Takes a question off the screen once it has ended (answered elsewhere or timed out). Bounded:
    /// a desktop that does not answer holds nothing up.
    fn withdraw_question(&self, shown: Self::Shown) -> impl Future<Output = ()> + Send;
}

/// What the hand-out needs from the sessions: the core's answers, nothing of the desktop.
pub trait Sessions: Send + Sync {
    /// Whether `session` holds tokens; an unknown session is the core's error.
    fn is_signed_in(&self, session: &str) -> impl Future<Output = Result<bool, CoreError>> + Send;

    /// `session`'s token as `request` asks (the core refreshes, narrows or exchanges as needed).
    fn hand_out(&self, session: &str, request: &TokenRequest) -> impl Future<Output = Result<AccessToken, CoreError>> + Send;
}

impl Sessions for SessionManager {
    async fn is_signed_in(&self, session: &str) -> Result<bool, CoreError> {
        Ok(self.snapshot(session).await?.signed_in)
    }

    async fn hand_out(&self, session: &str, request: &TokenRequest) -> Result<AccessToken, CoreError> {
        SessionManager::hand_out(self, session, request).await
    }
}
