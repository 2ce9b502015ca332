//! One session as the actor holds it: its record, its tokens in memory, and the callers waiting on
//! it, with how an answer the machine decided ([`Effect::HandOut`], [`Effect::Refuse`] and the others)
//! reaches them. Delivering decides nothing: who gets what is in the effect.

use std::collections::HashMap;
use std::sync::Arc;

use super::commands::{HandOut, Removal, Reply, Taken};
use super::effects::{NarrowedToken, SignOutTicket};
use super::snapshot::SessionSnapshot;
use super::state::{Effect, Refusal, Waiter};
use super::store::SessionRecord;
use crate::error::Error;
use crate::oidc::PendingSignIn;
use crate::secret::SessionSecrets;

/// The callers waiting on one session, by what they wait for.
#[derive(Default)]
pub(crate) struct Waiting {
    pub checks: Vec<Reply<Arc<SessionSnapshot>>>,
    pub tokens: Vec<Reply<HandOut>>,
    pub narrowed: Vec<(String, Reply<HandOut>)>,
    pub sign_outs: Vec<Reply<SignOutTicket>>,
    pub redirects: Vec<Reply<Taken>>,
    pub removals: Vec<Reply<Removal>>,
}

/// One session as the actor holds it.
pub(crate) struct Entry {
    /// Shared with the [`super::persist::RecordBook`] until the next change.
    pub record: Arc<SessionRecord>,
    pub secrets: Option<SessionSecrets>,
    pub pending_sign_in: Option<PendingSignIn>,
    /// Narrowed tokens made in this sign-in, by scope (the state says when they expire).
    pub narrowed: HashMap<String, NarrowedToken>,
    pub waiting: Waiting,
    /// A fingerprint of the snapshot last published (not the snapshot: its history and user would be
    /// a second copy of the record's).
    pub published: Option<u64>,
    /// The silent sign-in in flight, to drop when a sign-out or an interactive sign-in comes first.
    pub silent_task: Option<tokio::task::AbortHandle>,
}

impl Entry {
    pub(crate) fn new(record: SessionRecord, secrets: Option<SessionSecrets>) -> Self {
        Self {
            record: Arc::new(record),
            secrets,
            pending_sign_in: None,
            narrowed: HashMap::new(),
            waiting: Waiting::default(),
            published: None,
            silent_task: None,
        }
    }

    pub(crate) fn record(&self) -> &Arc<SessionRecord> {
        &self.record
    }

    /// Delivers an answer `effect` to the callers it names; `snapshot` is the session as it now is.
    pub(crate) fn answer(&mut self, id: &str, effect: Effect, snapshot: impl FnOnce() -> SessionSnapshot) {
        let waiting = &mut self.waiting;
        match effect {
            Effect::HandOut => {
                let expires_at = self.record.state.access_expires_at();
                for reply in waiting.tokens.drain(..) {
                    let _ = reply.send(Ok(HandOut::Own { secrets: self.secrets.clone(), expires_at }));
                }
            }
            Effect::HandOutNarrowed(scope) => {
                let token = self.narrowed.get(&scope).cloned();
                for (_, reply) in extract(&mut waiting.narrowed, |s| *s == scope) {
                    let _ = reply.send(token.clone().map(HandOut::Narrowed).ok_or(Error::Shutdown));
                }
            }
            Effect::Checked => {
                let snapshot = Arc::new(snapshot());
                for reply in waiting.checks.drain(..) {
                    let _ = reply.send(Ok(snapshot.clone()));
                }
            }
            Effect::SignOut { previous } => {
                self.pending_sign_in = None;
                self.narrowed.clear();
                let mut callers = waiting.sign_outs.drain(..);
                let ticket = SignOutTicket { secrets: self.secrets.take(), config: self.record.provider.clone(), previous: *previous };
                if let Some(first) = callers.next() {
                    let _ = first.send(Ok(ticket));
                }
                for later in callers {
                    let _ = later.send(Err(Error::NotSignedIn(id.to_owned())));
                }
            }
            Effect::CompleteSignIn => {
                let mut callers = waiting.redirects.drain(..);
                if let (Some(first), Some(pending)) = (callers.next(), self.pending_sign_in.take()) {
                    let _ = first.send(Ok(Taken::Pending(pending)));
                }
                for later in callers {
                    let _ = later.send(Err(Error::NoSignInPending(id.to_owned())));
                }
            }
            Effect::Forget => {
                for reply in waiting.removals.drain(..) {
                    let _ = reply.send(Ok(Removal::Removed));
                }
                self.refuse_all(|| Error::UnknownSession(id.to_owned()));
            }
            Effect::Refuse(waiter, refusal) => self.refuse(id, &waiter, &refusal),
            Effect::CancelSilent => {
                if let Some(task) = self.silent_task.take() {
                    task.abort();
                }
            }
            work => tracing::error!(session = %id, ?work, "not an answer"),
        }
    }

    fn refuse(&mut self, id: &str, waiter: &Waiter, refusal: &Refusal) {
        let error = || match refusal {
            Refusal::NotSignedIn => Error::NotSignedIn(id.to_owned()),
            Refusal::Failed(info) => Error::from(info.clone()),
            Refusal::NoRefreshToken => Error::NotOffered(
                "This session has no refresh token, so no narrower token can be made: ask for the session's own token.".into(),
            ),
            Refusal::NoSignInPending => Error::NoSignInPending(id.to_owned()),
            Refusal::ForeignRedirect => Error::InvalidRedirect("its state does not belong to the sign-in in progress".into()),
            Refusal::SignOutFirst => Error::NotSignedIn(id.to_owned()),
        };
        let waiting = &mut self.waiting;
        match waiter {
            Waiter::Check => waiting.checks.drain(..).for_each(|reply| drop(reply.send(Err(error())))),
            Waiter::Token => waiting.tokens.drain(..).for_each(|reply| drop(reply.send(Err(error())))),
            Waiter::Narrowed(scope) => extract(&mut waiting.narrowed, |s| s == scope).for_each(|(_, reply)| drop(reply.send(Err(error())))),
            Waiter::SignOut => waiting.sign_outs.drain(..).for_each(|reply| drop(reply.send(Err(error())))),
            Waiter::Redirect => waiting.redirects.drain(..).for_each(|reply| {
                let _ = reply.send(if *refusal == Refusal::ForeignRedirect { Ok(Taken::Foreign) } else { Err(error()) });
            }),
            Waiter::Remove => waiting.removals.drain(..).for_each(|reply| {
                let _ = reply.send(if *refusal == Refusal::SignOutFirst { Ok(Removal::SignOutFirst) } else { Err(error()) });
            }),
        }
    }

    /// Answers everyone still waiting with `error` (the session is gone).
    pub(crate) fn refuse_all(&mut self, error: impl Fn() -> Error) {
        let waiting = std::mem::take(&mut self.waiting);
        waiting.checks.into_iter().for_each(|reply| drop(reply.send(Err(error()))));
        waiting.tokens.into_iter().for_each(|reply| drop(reply.send(Err(error()))));
        waiting.narrowed.into_iter().for_each(|(_, reply)| drop(reply.send(Err(error()))));
        waiting.sign_outs.into_iter().for_each(|reply| drop(reply.send(Err(error()))));
        waiting.redirects.into_iter().for_each(|reply| drop(reply.send(Err(error()))));
        waiting.removals.into_iter().for_each(|reply| drop(reply.send(Err(error()))));
    }
}

/// Takes the waiters for the scope `wanted` says, keeping the others in order.
fn extract<T>(waiters: &mut Vec<(String, T)>, wanted: impl Fn(&String) -> bool) -> impl Iterator<Item = (String, T)> {
    let (these, others): (Vec<_>, Vec<_>) = std::mem::take(waiters).into_iter().partition(|(scope, _)| wanted(scope));
    *waiters = others;
    these.into_iter()
}

#[cfg(test)]
mod tests;
