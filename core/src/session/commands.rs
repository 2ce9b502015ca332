//! What the handle asks of the actor, and how a command about an unknown session is answered.

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use url::Url;

use super::effects::SignOutTicket;
use super::snapshot::SessionSnapshot;
use super::state::{TokenTimes, Trigger};
use crate::error::{Error, Result};
use crate::oidc::PendingSignIn;
use crate::policy::Policy;
use crate::secret::SessionSecrets;
use crate::store::SessionRecord;
use crate::user::UserProfile;

/// An access token the machine agreed to hand out; loaded from the keychain when not in memory.
pub(crate) struct HandOut {
    pub secrets: Option<SessionSecrets>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T>>;

/// What the handle asks of the actor.
pub(crate) enum Command {
    Add { record: SessionRecord, reply: Reply<SessionSnapshot> },
    Remove { id: String, reply: Reply<()> },
    Snapshots { reply: oneshot::Sender<Vec<SessionSnapshot>> },
    Record { id: String, reply: Reply<SessionRecord> },
    BeginSignIn { id: String, pending: PendingSignIn, reply: Reply<()> },
    TakeSignIn { id: String, redirect: Url, reply: Reply<PendingSignIn> },
    FinishSignIn { id: String, outcome: Result<(SessionSecrets, TokenTimes, UserProfile)>, reply: Reply<SessionSnapshot> },
    CancelSignIn { id: String, reply: Reply<SessionSnapshot> },
    Trigger { id: Option<String>, trigger: Trigger, reply: Option<Reply<SessionSnapshot>> },
    WantToken { id: String, reply: Reply<HandOut> },
    SignOut { id: String, reply: Reply<SignOutTicket> },
    SignOutFinished { id: String, ticket: SignOutTicket, result: Result<()>, reply: Reply<SessionSnapshot> },
    SetPolicy { policy: Policy },
}

impl Command {
    /// The session a per-session command is about.
    pub(crate) fn session(&self) -> &str {
        match self {
            Command::Remove { id, .. }
            | Command::Record { id, .. }
            | Command::BeginSignIn { id, .. }
            | Command::TakeSignIn { id, .. }
            | Command::FinishSignIn { id, .. }
            | Command::CancelSignIn { id, .. }
            | Command::WantToken { id, .. }
            | Command::SignOut { id, .. }
            | Command::SignOutFinished { id, .. }
            | Command::Trigger { id: Some(id), .. } => id,
            Command::Add { record, .. } => &record.id,
            Command::Trigger { id: None, .. } | Command::Snapshots { .. } | Command::SetPolicy { .. } => "",
        }
    }

    /// Answers the command with `error` (its session is unknown).
    pub(crate) fn refuse(self, error: Error) {
        match self {
            Command::BeginSignIn { reply, .. } => drop(reply.send(Err(error))),
            Command::TakeSignIn { reply, .. } => drop(reply.send(Err(error))),
            Command::FinishSignIn { reply, .. } | Command::CancelSignIn { reply, .. } | Command::SignOutFinished { reply, .. } => {
                drop(reply.send(Err(error)))
            }
            Command::Trigger { reply: Some(reply), .. } => drop(reply.send(Err(error))),
            Command::WantToken { reply, .. } => drop(reply.send(Err(error))),
            Command::SignOut { reply, .. } => drop(reply.send(Err(error))),
            _ => {}
        }
    }
}
