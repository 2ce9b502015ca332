//! The desktop side of handing tokens out (`session-broker` holds caller identification, the consent
//! book and the hand-out rule, Tauri-free): the question as a desktop notification with the three
//! answers as actions, the consent settings, and the page's list of waiting questions. The question
//! is a notification and, at the same time, a row on the session's card, so it can be answered where
//! the desktop's notifications have no actions.

use session_broker::{Answer, Asked, Host, Question, Reply};
use session_core::SessionManager;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::oneshot;

pub use session_broker::{CONSENT_TIMEOUT, Caller, DBUS_CONSENT_TIMEOUT};

use crate::Shell;

/// The page event listing the questions that wait for an answer.
pub const CONSENT_CHANGED: &str = "consent-changed";

/// The broker as the shell runs it: over the desktop and the session core.
pub type Broker = session_broker::Broker<DesktopHost, SessionManager>;

/// The desktop as the broker's host.
pub struct DesktopHost {
    app: AppHandle,
}

impl DesktopHost {
    /// The host of the app `app`.
    pub fn new(app: AppHandle) -> Self {
        DesktopHost { app }
    }
}

impl Host for DesktopHost {
    /// The notification's id, once the notification server has it.
    type Shown = oneshot::Receiver<u32>;

    fn allows(&self, session: &str, program: &str) -> bool {
        self.app.state::<Shell>().settings().allows(session, program)
    }

    fn allow_for_good(&self, session: &str, program: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let shell = self.app.state::<Shell>();
        shell.update_settings(|settings| settings.allow_for_good(session, program)).map(drop).map_err(Into::into)
    }

    fn questions_changed(&self, questions: Vec<Question>) {
        let _ = self.app.emit_to("main", CONSENT_CHANGED, questions);
    }

    fn show_question(&self, asked: &Asked, reply: Reply) -> Self::Shown {
        notify(self.app.clone(), asked, reply)
    }

    async fn withdraw_question(&self, mut shown: Self::Shown) {
        if let Ok(id) = shown.try_recv() {
            close_notification(id).await;
        }
    }
}

/// The consent notification: three actions, answered at the desktop's notification server; clicking
/// the notification itself brings up the window, where the card asks the same question.
/// Returns the notification's id once the server has it, so that the question's opener can close it
/// when the question ends another way (answered on the card, or timed out).
fn notify(app: AppHandle, asked: &Asked, reply: Reply) -> oneshot::Receiver<u32> {
    let (shown, id) = oneshot::channel();
    let (summary, body, within) = (asked.summary(), asked.body(), asked.within);
    let spawned = std::thread::Builder::new().name("consent notification".into()).spawn(move || {
        let mut notification = notify_rust::Notification::new();
        notification
            .appname("Session Keeper")
            .summary(&summary)
            .body(&body)
            .icon("dialog-password")
            .urgency(notify_rust::Urgency::Critical)
            .timeout(notify_rust::Timeout::Milliseconds(within.as_millis() as u32))
            .action(crate::notices::SIGN_IN_ACTION, "Open Session Keeper");
        for answer in Answer::ALL {
            notification.action(answer.action(), answer.label());
        }
        match notification.show() {
            Ok(handle) => {
                let _ = shown.send(handle.id());
                handle.wait_for_action(|action| match Answer::from_action(action) {
                    Some(answer) => reply.answer(answer),
                    None if action == crate::notices::SIGN_IN_ACTION => crate::show_main_window(&app),
                    None => {}
                })
            }
            Err(err) => tracing::warn!(error = %err, "consent notification not shown; the card asks instead"),
        }
    });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "consent notification not shown; the card asks instead");
    }
    id
}

/// Takes a consent notification off the screen (`CloseNotification`), bounded like every
/// notification call: a question answered on the card or timed out must not linger there.
async fn close_notification(id: u32) {
    let close = async {
        let connection = zbus::Connection::session().await?;
        connection
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                "CloseNotification",
                &(id,),
            )
            .await
            .map(drop)
    };
    match tokio::time::timeout(crate::notices::SEND_TIMEOUT, close).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::debug!(error = %err, "consent notification not closed"),
        Err(_) => tracing::debug!("the notification server did not close the consent notification in time"),
    }
}
