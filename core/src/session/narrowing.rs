//! The actor's bookkeeping of narrower tokens for other programs (`--scope`): who waits for which
//! scope, which scope's refresh is in flight, and the tokens already made, reused while they last.
//! The refresh itself is an ordinary forced refresh of the session, started by the actor, so the
//! state machine serializes it with every other use of the refresh token.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::commands::Reply;
use super::effects::NarrowedToken;
use crate::error::{Error, Result};

#[derive(Default)]
pub(crate) struct Narrowing {
    /// Programs waiting for a narrower token, by scope, in the order they asked.
    waiters: Vec<(String, Reply<NarrowedToken>)>,
    /// The scope of the narrowed refresh in flight.
    pub in_flight: Option<String>,
    /// Tokens already made, by scope, for the sign-in (generation) they were made in.
    made: HashMap<String, NarrowedToken>,
    generation: u64,
}

impl Narrowing {
    /// A token made earlier for `scope` in this sign-in that lasts `lead` more, if there is one.
    pub fn reusable(&mut self, scope: &str, generation: u64, now: DateTime<Utc>, lead: TimeDelta) -> Option<NarrowedToken> {
        if self.generation != generation {
            self.made.clear();
            self.generation = generation;
        }
        let (token, expires_at) = self.made.get(scope)?;
        expires_at.is_none_or(|at| now < at - lead).then(|| (token.clone(), *expires_at))
    }

    /// Queues a program waiting for `scope`.
    pub fn wait(&mut self, scope: String, reply: Reply<NarrowedToken>) {
        self.waiters.push((scope, reply));
    }

    /// The scope to refresh for next, unless one is in flight or nobody waits.
    pub fn next(&self) -> Option<String> {
        if self.in_flight.is_some() {
            return None;
        }
        self.waiters.first().map(|(scope, _)| scope.clone())
    }

    /// Answers every program waiting for `scope`, and keeps a made token for the next.
    pub fn answer(&mut self, scope: &str, generation: u64, answer: Result<NarrowedToken>) {
        if let Ok(token) = &answer {
            self.made.insert(scope.to_owned(), token.clone());
            self.generation = generation;
        }
        let (these, others): (Vec<_>, Vec<_>) = self.waiters.drain(..).partition(|(s, _)| s == scope);
        self.waiters = others;
        for (_, reply) in these {
            let _ = reply.send(match &answer {
                Ok(token) => Ok(token.clone()),
                Err(err) => Err(Error::from(err.info())),
            });
        }
    }

    /// Answers every waiting program with `error` (no refresh can be made, or the session is gone).
    pub fn refuse_all(&mut self, error: impl Fn() -> Error) {
        self.in_flight = None;
        for (_, reply) in self.waiters.drain(..) {
            let _ = reply.send(Err(error()));
        }
    }
}
