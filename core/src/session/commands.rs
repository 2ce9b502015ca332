//! What the handle asks of the actor, and how a command about an unknown session is answered.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use url::Url;

use super::effects::SignOutTicket;
use super::snapshot::SessionSnapshot;
use super::state::{TokenTimes, Trigger};
use crate::error::{Error, ErrorInfo, Result};
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
    Add {
        record: SessionRecord,
        reply: Reply<SessionSnapshot>,
    },
    Snapshots {
        reply: oneshot::Sender<Vec<SessionSnapshot>>,
    },
    SetPolicy {
        policy: Policy,
    },
    /// A trigger for every session (the refresh handler, a wake from sleep); nobody waits.
    CheckAll {
        trigger: Trigger,
    },
    /// A request about one session; answered with [`Error::UnknownSession`] if there is none.
    Session {
        id: String,
        request: Request,
    },
}

/// What can be asked about one session.
pub(crate) enum Request {
    Remove {
        reply: Reply<()>,
    },
    /// This session's snapshot (the token helper asks it on every hand-out: one session, not all).
    Snapshot {
        reply: Reply<SessionSnapshot>,
    },
    Record {
        reply: Reply<SessionRecord>,
    },
    BeginSignIn {
        pending: PendingSignIn,
        reply: Reply<()>,
    },
    TakeSignIn {
        redirect: Url,
        reply: Reply<PendingSignIn>,
    },
    FinishSignIn {
        outcome: Result<SignedInTokens>,
        reply: Reply<SessionSnapshot>,
    },
    CancelSignIn {
        reply: Reply<SessionSnapshot>,
    },
    Trigger {
        trigger: Trigger,
        reply: Reply<Arc<SessionSnapshot>>,
    },
    WantToken {
        min_valid: chrono::TimeDelta,
        reply: Reply<HandOut>,
    },
    /// A token for a narrower scope, made by a refresh with `scope` unless one made earlier lasts
    /// `min_valid` more.
    Narrow {
        scope: String,
        min_valid: chrono::TimeDelta,
        reply: Reply<super::effects::NarrowedToken>,
    },
    /// A token reached a program (for the history).
    HandedOut {
        program: String,
    },
    SignOut {
        reply: Reply<SignOutTicket>,
    },
    SignOutFinished {
        ticket: SignOutTicket,
        result: Result<()>,
        reply: Reply<SessionSnapshot>,
    },
}

impl Command {
    /// A request about session `id`.
    pub(crate) fn session(id: &str, request: Request) -> Self {
        Command::Session { id: id.to_owned(), request }
    }
}

impl Request {
    /// Answers the request with `error` (its session is unknown).
    pub(crate) fn refuse(self, error: Error) {
        match self {
            Request::Remove { reply } | Request::BeginSignIn { reply, .. } => drop(reply.send(Err(error))),
            Request::Record { reply } => drop(reply.send(Err(error))),
            Request::Snapshot { reply } => drop(reply.send(Err(error))),
            Request::TakeSignIn { reply, .. } => drop(reply.send(Err(error))),
            Request::Trigger { reply, .. } => drop(reply.send(Err(error))),
            Request::FinishSignIn { reply, .. } | Request::CancelSignIn { reply } | Request::SignOutFinished { reply, .. } => {
                drop(reply.send(Err(error)))
            }
            Request::WantToken { reply, .. } => drop(reply.send(Err(error))),
            Request::HandedOut { .. } => {}
            Request::Narrow { reply, .. } => drop(reply.send(Err(error))),
            Request::SignOut { reply } => drop(reply.send(Err(error))),
        }
    }
}

/// What a completed sign-in brings the actor.
#[derive(Debug)]
pub(crate) struct SignedInTokens {
    pub secrets: SessionSecrets,
    pub times: TokenTimes,
    pub user: UserProfile,
    /// What the HTTP layer had to repair in the provider's answer.
    pub warning: Option<String>,
    /// Why the keychain does not hold the tokens yet (they live in memory until it does).
    pub unsaved: Option<ErrorInfo>,
}
