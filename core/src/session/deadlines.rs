//! The actor's deadline order: each session at most once, at the instant it is next due. A turn takes
//! out what is due instead of asking every session.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::names::SessionName;

#[derive(Default)]
pub(crate) struct Deadlines {
    order: BTreeSet<(DateTime<Utc>, SessionName)>,
    by_session: HashMap<SessionName, DateTime<Utc>>,
}

impl Deadlines {
    /// Puts `id` at `at` (or nowhere), replacing its earlier place.
    pub fn set(&mut self, id: &SessionName, at: Option<DateTime<Utc>>) {
        if self.by_session.get(id) == at.as_ref() {
            return;
        }
        self.remove(id);
        if let Some(at) = at {
            self.order.insert((at, id.clone()));
            self.by_session.insert(id.clone(), at);
        }
    }

    pub fn remove(&mut self, id: &str) {
        if let Some((id, at)) = self.by_session.remove_entry(id) {
            self.order.remove(&(at, id));
        }
    }

    /// The earliest deadline.
    pub fn first(&self) -> Option<DateTime<Utc>> {
        self.order.first().map(|(at, _)| *at)
    }

    /// Takes out every session due at `now`.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<SessionName> {
        let mut due = Vec::new();
        while self.order.first().is_some_and(|(at, _)| *at <= now) {
            let (_, id) = self.order.pop_first().expect("looked at");
            self.by_session.remove(&id);
            due.push(id);
        }
        due
    }
}
