//! What the handle asks of the actor, and how a command about an unknown session is answered.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use url::Url;

use super::effects::{NarrowedToken, SignOutTicket};
use super::snapshot::{SessionSnapshot, TokenRequest};
use super::state::{TokenTimes, Trigger};
use super::store::SessionRecord;
use crate::error::{Error, ErrorInfo, Result};
use crate::oidc::PendingSignIn;
use crate::policy::Policy;
use crate::secret::SessionSecrets;
use crate::user::UserProfile;

/// A token the machine agreed to hand out.
pub(crate) enum HandOut {
    /// The session's own tokens (loaded from the keychain when not in memory), with the access
    /// token's expiry; [`super::hand_out::own_token`] picks the one asked for.
    Own { secrets: Option<SessionSecrets>, expires_at: Option<DateTime<Utc>> },
    /// A narrowed token.
    Narrowed(NarrowedToken),
}

/// How a redirect for the sign-in is answered.
pub(crate) enum Taken {
    /// It carries the pending sign-in's `state`: here is that sign-in, to complete.
    Pending(PendingSignIn),
    /// It belongs to another sign-in (another tab, another program); this one goes on waiting.
    Foreign,
}

/// How a request to remove a session is answered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Removal {
    /// The session is forgotten.
    Removed,
    /// The session holds tokens: sign it out, then ask again.
    SignOutFirst,
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T>>;

/// What the handle asks of the actor.
pub(crate) enum Command {
    Add {
        record: Box<SessionRecord>,
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
        reply: Reply<Removal>,
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
        reply: Reply<Taken>,
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
    /// A token for a program ([`super::Event::TokenWanted`]).
    WantToken {
        request: TokenRequest,
        reply: Reply<HandOut>,
    },
    /// A token reached a program (for the history).
    HandedOut {
        program: String,
    },
    SignOut {
        reply: Reply<SignOutTicket>,
    },
    SignOutFinished {
        ticket: Box<SignOutTicket>,
        result: Result<()>,
        reply: Reply<SessionSnapshot>,
    },
    /// Silent sign-in on or off for this session.
    SetSilent {
        enabled: bool,
        reply: Reply<SessionSnapshot>,
    },
    /// A silent sign-in now, answered like a check.
    SilentSignIn {
        reply: Reply<Arc<SessionSnapshot>>,
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
            Request::Remove { reply } => drop(reply.send(Err(error))),
            Request::BeginSignIn { reply, .. } => drop(reply.send(Err(error))),
            Request::Record { reply } => drop(reply.send(Err(error))),
            Request::Snapshot { reply } => drop(reply.send(Err(error))),
            Request::TakeSignIn { reply, .. } => drop(reply.send(Err(error))),
            Request::Trigger { reply, .. } => drop(reply.send(Err(error))),
            Request::FinishSignIn { reply, .. } | Request::CancelSignIn { reply } | Request::SignOutFinished { reply, .. } => {
                drop(reply.send(Err(error)))
            }
            Request::WantToken { reply, .. } => drop(reply.send(Err(error))),
            Request::HandedOut { .. } => {}
            Request::SignOut { reply } => drop(reply.send(Err(error))),
            Request::SetSilent { reply, .. } => drop(reply.send(Err(error))),
            Request::SilentSignIn { reply } => drop(reply.send(Err(error))),
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
    /// The ID token's `auth_time`.
    pub auth_time: Option<DateTime<Utc>>,
}
