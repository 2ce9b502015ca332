//! The actor: one tokio task owns every session. It pumps events in and effects out: commands become
//! events in `requests.rs`, finished work becomes events through [`completion::events`]; the effects
//! [`transition`] returns are started as background tasks (`effects.rs`, so one slow provider never
//! stalls another session) or, when they answer waiting callers, delivered at the end of the turn
//! (`entry.rs`). It sleeps until the earliest wall-clock deadline, waking at least every
//! `wake_interval` to re-read the wall clock, because tokio's clock stands still while the machine
//! sleeps. It decides nothing itself.
//!
//! A turn costs what changed, not how many sessions there are: the sessions' deadlines are kept in
//! order ([`SessionState::next_deadline`], the earliest instant at which the passing of time can change
//! a state), so a turn ticks only the sessions that are due; only the sessions an event reached are
//! published and written to the [`RecordBook`]. Everything is looked at again only when the policy
//! changes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::commands::Command;
use super::completion;
use super::deadlines::Deadlines;
use super::effects::{Completion, Runner};
use super::entry::Entry;
use super::machine::transition;
use super::persist::RecordBook;
use super::snapshot::{SessionEvent, SessionSnapshot};
use super::state::{Effect, Event, Network};
use crate::clock::Clock;
use crate::names::SessionName;
use crate::policy::Policy;

pub(crate) struct Actor {
    pub clock: Arc<dyn Clock>,
    pub policy: Policy,
    pub sessions: BTreeMap<SessionName, Entry>,
    pub events: broadcast::Sender<SessionEvent>,
    pub runner: Runner,
    pub tasks: JoinSet<Completion>,
    pub task_sessions: HashMap<tokio::task::Id, (String, u64)>,
    pub deadlines: Deadlines,
    /// Sessions an event reached since the last publish.
    pub dirty: BTreeSet<SessionName>,
    pub book: RecordBook,
    pub wake_interval: Duration,
    /// How long shutdown waits for the work in flight.
    pub stop_grace: Duration,
    /// Answers decided this turn, delivered in order once the turn's events are all applied (a
    /// check's caller gets the session as the whole completion left it).
    pub answers: Vec<(String, Effect)>,
    /// The desktop's connectivity as last reported ([`Trigger::Network`]), for a session added later.
    pub network: Network,
}

impl Actor {
    pub(crate) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>, cancel: CancellationToken) {
        self.tick_all();
        loop {
            self.publish();
            let sleep_for = self.sleep_duration();
            tokio::select! {
                _ = cancel.cancelled() => break,
                command = commands.recv() => match command {
                    Some(command) => self.handle(command),
                    None => break,
                },
                Some(done) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => self.finished(done),
                _ = tokio::time::sleep(sleep_for) => {}
            }
            self.tick_due();
            self.deliver();
        }
        self.drain().await;
        self.publish();
    }

    /// At shutdown (a quit, a log-out, SIGTERM), lets the work in flight finish, bounded by
    /// `stop_grace`: a refresh whose answer has rotated the refresh token at the provider must get the
    /// new one into the keychain before the process ends. Dropping the tasks would abort it between
    /// the provider's answer and the keychain write, and the user would be signed out by our doing.
    /// No new refresh, re-check or re-read starts meanwhile ([`Event::Stopping`]).
    async fn drain(&mut self) {
        let ids: Vec<SessionName> = self.sessions.keys().cloned().collect();
        for id in ids {
            self.apply(&id, Event::Stopping);
        }
        self.deliver();
        let deadline = tokio::time::Instant::now() + self.stop_grace;
        if !self.tasks.is_empty() {
            tracing::info!(tasks = self.tasks.len(), "shutting down: waiting for the work in flight");
        }
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.join_next_with_id()).await {
                Ok(Some(done)) => {
                    self.finished(done);
                    self.deliver();
                }
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!(tasks = self.tasks.len(), "shutting down with work still in flight");
                    break;
                }
            }
        }
    }

    fn sleep_duration(&self) -> Duration {
        let earliest = self.deadlines.first().map(|at| (at - self.clock.now()).to_std().unwrap_or(Duration::ZERO));
        earliest.map_or(self.wake_interval, |earliest| earliest.min(self.wake_interval))
    }

    /// Ticks every session (at start, and when the policy changes what is due).
    pub(super) fn tick_all(&mut self) {
        let ids: Vec<SessionName> = self.sessions.keys().cloned().collect();
        for id in ids {
            self.apply(&id, Event::Tick);
        }
    }

    /// Ticks the sessions whose deadline has come. A wall clock that jumped (a suspend, an NTP
    /// step) or a start with many sessions due makes many deadlines come at once: those whose access
    /// token expires first go first, since their refreshes reach the provider in this order.
    fn tick_due(&mut self) {
        let mut due: Vec<(DateTime<Utc>, SessionName)> = self
            .deadlines
            .take_due(self.clock.now())
            .into_iter()
            .filter_map(|id| {
                let expires = self.sessions.get(id.as_str())?.record.state.tokens.and_then(|t| t.access_token_expires_at);
                Some((expires.unwrap_or(DateTime::<Utc>::MAX_UTC), id))
            })
            .collect();
        due.sort();
        for (_, id) in due {
            self.apply(&id, Event::Tick);
        }
    }

    pub(super) fn apply(&mut self, id: &str, event: Event) {
        let now = self.clock.now();
        let Some(entry) = self.sessions.get_mut(id) else { return };
        let (next, effects) = transition(&entry.record.state, &event, now, &self.policy);
        if next != entry.record.state {
            Arc::make_mut(&mut entry.record).state = next;
            self.dirty.insert(entry.record.id.clone());
        }
        // Any other event may leave something due now (a restored session past its end): the session
        // is ticked at the end of the turn, and from then on only at its deadlines.
        let deadline = if matches!(event, Event::Tick) { entry.record.state.next_deadline(now, &self.policy) } else { Some(now) };
        self.deadlines.set(&entry.record.id, deadline);
        for effect in effects {
            self.run_effect(id, effect);
        }
    }

    /// Queues an answer for the end of the turn, or starts the work as a task of the runner.
    fn run_effect(&mut self, id: &str, effect: Effect) {
        if effect.is_answer() {
            self.answers.push((id.to_owned(), effect));
            return;
        }
        let entry = self.sessions.get_mut(id).expect("effects come from existing sessions");
        let generation = entry.record.state.generation;
        let secrets = if matches!(effect, Effect::Discard { .. }) { entry.secrets.take() } else { entry.secrets.clone() };
        let silent = effect == Effect::SilentSignIn;
        let handle = self.runner.spawn(&mut self.tasks, id, &entry.record, secrets, effect);
        self.task_sessions.insert(handle.id(), (id.to_owned(), generation));
        if silent {
            // Kept to drop the attempt (its window) when a sign-out or a sign-in comes first.
            entry.silent_task = Some(handle);
        }
    }

    /// Delivers the answers decided this turn to the callers they name.
    pub(super) fn deliver(&mut self) {
        for (id, effect) in std::mem::take(&mut self.answers) {
            let policy = &self.policy;
            let Some(entry) = self.sessions.get_mut(id.as_str()) else { continue };
            let forget = effect == Effect::Forget;
            let record = entry.record.clone();
            entry.answer(&id, effect, || SessionSnapshot::of(&record, policy));
            if forget {
                self.forget(&id);
            }
        }
    }

    fn forget(&mut self, id: &str) {
        self.sessions.remove(id);
        self.deadlines.remove(id);
        self.dirty.remove(id);
        let _ = self.events.send(SessionEvent::Removed { id: id.to_owned() });
        self.book.remove(id);
    }

    /// A task finished: what it means is [`completion::events`]' to say, and the machine's to decide.
    fn finished(&mut self, done: std::result::Result<(tokio::task::Id, Completion), tokio::task::JoinError>) {
        let completion = match done {
            Ok((task, completion)) => {
                self.task_sessions.remove(&task);
                completion
            }
            Err(join_error) => {
                // A task that panicked must not leave its session refreshing forever; one that was
                // dropped on purpose (a silent sign-in a sign-out overtook) reports nothing.
                let Some((id, generation)) = self.task_sessions.remove(&join_error.id()) else { return };
                if join_error.is_cancelled() {
                    return;
                }
                tracing::error!(session = %id, "a session task failed: {join_error}");
                Completion::task_failed(id, generation)
            }
        };
        let Some(id) = completion.session().map(str::to_owned) else { return };
        let Some(entry) = self.sessions.get_mut(id.as_str()) else { return };
        if completion.generation() != Some(entry.record.state.generation) {
            return;
        }
        let outcome = completion::events(completion, entry.secrets.as_ref(), rand::rng().random::<f64>());
        if let Some(secrets) = outcome.secrets {
            entry.secrets = Some(secrets);
        }
        if let (Some(token), Some(scope)) = (outcome.narrowed, &entry.record.state.narrowing.in_flight) {
            entry.narrowed.insert(scope.clone(), token);
        }
        for event in outcome.events {
            self.apply(&id, event);
        }
    }

    /// Emits an event per changed snapshot and hands the changed records to the persister.
    pub(super) fn publish(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let mut changed = Vec::new();
        for id in std::mem::take(&mut self.dirty) {
            let Some(entry) = self.sessions.get_mut(id.as_str()) else { continue };
            let snapshot = SessionSnapshot::of(&entry.record, &self.policy);
            let fingerprint =
                std::hash::BuildHasher::hash_one(&std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default(), &snapshot);
            if entry.published != Some(fingerprint) {
                let _ = self.events.send(SessionEvent::Changed { session: snapshot });
                entry.published = Some(fingerprint);
            }
            changed.push(entry.record.clone());
        }
        self.book.write(changed);
    }
}
