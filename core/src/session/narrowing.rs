//! Narrower tokens for other programs (`--scope`), as part of the session state: which scopes programs
//! wait for, the one whose refresh is in flight, and when the tokens already made expire. The tokens
//! themselves are secrets and stay in the actor's entry; [`super::transition`] decides when a made
//! token is handed out again ([`super::state::fresh_enough`], the rule for every token) and when a
//! narrowed refresh starts, so that it is serialized with every other use of the refresh token.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// The narrowing state of one session. Not persisted: the tokens it describes live in memory only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrowing {
    /// Scopes programs wait for, in the order first asked.
    pub waiting: Vec<String>,
    /// The scope of the narrowed refresh in flight.
    pub in_flight: Option<String>,
    /// Tokens made in this sign-in, by scope.
    pub made: BTreeMap<String, Made>,
}

/// A narrowed token made earlier: when, and when it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Made {
    /// When the answer that brought it arrived.
    pub issued: DateTime<Utc>,
    /// When it expires, if the provider said.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Narrowing {
    /// Queues `scope` unless programs already wait for it.
    pub(crate) fn wait(&mut self, scope: &str) {
        if !self.waiting.iter().any(|s| s == scope) {
            self.waiting.push(scope.to_owned());
        }
    }

    /// Nobody waits for `scope` any more (its answer is given).
    pub(crate) fn answered(&mut self, scope: &str) {
        self.waiting.retain(|s| s != scope);
    }
}
