//! Handing tokens to the user's other programs, for the token helper's socket and the D-Bus service
//! alike: who asks (the caller's uid and executable, from the kernel), whether the person allows it
//! (consent per session and program, asked once with Allow once / Always allow / Deny), and the
//! hand-out itself, recorded in the session's history with the program's path (never the token).
//!
//! Tauri-free: what needs the desktop (the question on the screen, the consent settings, the page's
//! list of questions) goes through [`Host`], and the sessions through [`Sessions`]. The desktop shell
//! implements the host; `tests/test_host.rs` proves the whole flow runs without a desktop.
//!
//! A question stands for as long as its caller can wait ([`CONSENT_TIMEOUT`] on the socket,
//! [`DBUS_CONSENT_TIMEOUT`] on D-Bus): a caller nobody answers gets a clear error, never a hang.
//! Several requests of one program for one session share one question.

#![warn(missing_docs)]

mod caller;
mod consent;
mod host;

use std::time::Duration;

use session_core::{AccessToken, Error as CoreError, TokenRequest};

pub use caller::{Caller, program_of, short_name};
pub use consent::{Answer, Consent, Question, Reply};
pub use host::{Asked, Host, Sessions};

/// How long a consent question waits for an answer, for the token helper (its client waits longer).
pub const CONSENT_TIMEOUT: Duration = Duration::from_secs(45);
/// The same for a D-Bus caller: below the 25 s that libdbus and GDBus wait for a reply by default, so
/// such a caller hears our `NoAnswer` rather than its library's bare timeout.
pub const DBUS_CONSENT_TIMEOUT: Duration = Duration::from_secs(20);

/// The hand-out: the consent book and the rule, over a desktop host and the sessions.
pub struct Broker<H, S> {
    host: H,
    sessions: S,
    consent: Consent,
}

impl<H: Host, S: Sessions> Broker<H, S> {
    /// A broker with no question waiting.
    pub fn new(host: H, sessions: S) -> Self {
        Broker { host, sessions, consent: Consent::default() }
    }

    /// The questions waiting for the person, and where the card's answer goes.
    pub fn consent(&self) -> &Consent {
        &self.consent
    }

    /// Hands `session`'s token to `caller` as `request` asks, after the person's consent where
    /// needed. Another user is refused before anything else happens; a program not yet allowed is
    /// asked about only for a signed-in session (an unknown or signed-out one is said at once).
    pub async fn hand_out(&self, session: &str, mut request: TokenRequest, caller: Caller) -> Result<AccessToken, CoreError> {
        if !caller.is_same_user() {
            tracing::warn!(session, caller_uid = caller.uid, caller_pid = ?caller.pid, "token request from another user refused");
            return Err(CoreError::ConsentDenied { program: format!("a program of user {}", caller.uid), session: session.to_owned() });
        }
        let program = program_of(caller.pid);
        // An allowed program goes straight to the core, which refuses an unknown or signed-out session
        // itself; before a question, such a session is said at once instead.
        if !self.host.allows(session, &program) {
            if !self.sessions.is_signed_in(session).await? {
                return Err(CoreError::NotSignedIn(session.to_owned()));
            }
            let asked = Asked { session: session.to_owned(), program: program.clone(), pid: caller.pid, within: caller.patience };
            match self.ask(&asked).await {
                Some(Answer::AllowOnce) => tracing::info!(session, %program, "allowed once"),
                Some(Answer::Always) => {
                    tracing::info!(session, %program, "allowed for good");
                    if let Err(err) = self.host.allow_for_good(session, &program) {
                        tracing::warn!(error = %err, "the allowed program was not saved; it is allowed until the app quits");
                    }
                }
                Some(Answer::Deny) => {
                    tracing::info!(session, %program, "denied");
                    return Err(CoreError::ConsentDenied { program, session: session.to_owned() });
                }
                None => return Err(CoreError::ConsentTimedOut { program, session: session.to_owned(), waited: caller.patience }),
            }
        }
        request.program = program;
        self.sessions.hand_out(session, &request).await
    }

    /// Asks the person whether `asked.program` may have the session's token, or joins the question
    /// already asked. `None` when nobody answered in time.
    async fn ask(&self, asked: &Asked) -> Option<Answer> {
        let joined = self.consent.join(&asked.session, &asked.program);
        let Some(reply) = joined.opened else {
            return consent::wait_for_answer(joined.answers, asked.within).await;
        };
        tracing::info!(session = %asked.session, program = %asked.program, pid = ?asked.pid, "asking whether a program may have a token");
        self.host.questions_changed(self.consent.questions());
        let shown = self.host.show_question(asked, reply);
        // The caller that opened the question closes it when it is answered or times out, for
        // everyone, and takes it off the screen (an answer given there has closed it already).
        let outcome = consent::wait_for_answer(joined.answers, asked.within).await;
        self.consent.close(&asked.session, &asked.program);
        self.host.withdraw_question(shown).await;
        self.host.questions_changed(self.consent.questions());
        if outcome.is_none() {
            tracing::info!(session = %asked.session, program = %asked.program, "nobody answered the consent question");
        }
        outcome
    }
}
