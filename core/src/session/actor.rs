//! The actor: one tokio task owns every session. It turns commands and the results of finished work
//! into events for the state machine, runs the effects the machine returns (as background tasks, in
//! `effects.rs`, so one slow provider never stalls another session), answers whoever waits, and sleeps
//! until the earliest wall-clock deadline, waking at least every `wake_interval` to re-read the wall
//! clock, because tokio's clock stands still while the machine sleeps. It decides nothing itself.
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

use super::commands::{Command, HandOut, Reply, Request, SignedInTokens};
use super::deadlines::Deadlines;
use super::effects::{Completion, Runner, SignOutTicket};
use super::machine::transition;
use super::narrowing::Narrowing;
use super::persist::RecordBook;
use super::snapshot::{SessionEvent, SessionSnapshot};
use super::state::{Effect, Event, RefreshFailure, Refusal, Trigger};
use crate::clock::Clock;
use crate::error::{Error, ErrorInfo};
use crate::names::SessionName;
use crate::oidc::{PendingSignIn, UserCheck};
use crate::policy::Policy;
use crate::secret::SessionSecrets;
use crate::store::SessionRecord;

/// One session as the actor holds it: its record, its tokens in memory, and who waits for it.
pub(crate) struct Entry {
    /// Shared with the [`RecordBook`] until the next change.
    record: Arc<SessionRecord>,
    secrets: Option<SessionSecrets>,
    pending_sign_in: Option<PendingSignIn>,
    waiters: Vec<Reply<Arc<SessionSnapshot>>>,
    token_waiters: Vec<Reply<HandOut>>,
    sign_outs: Vec<Reply<SignOutTicket>>,
    /// Why the last refresh failed, for the callers of `refresh` once nothing is in flight.
    last_failure: Option<ErrorInfo>,
    /// A fingerprint of the snapshot last published (not the snapshot: its history and user would be
    /// a second copy of the record's).
    published: Option<u64>,
    /// Programs waiting for narrower tokens, and those already made.
    narrowing: Narrowing,
}

impl Entry {
    pub(crate) fn new(record: SessionRecord, secrets: Option<SessionSecrets>) -> Self {
        Self {
            record: Arc::new(record),
            secrets,
            pending_sign_in: None,
            waiters: Vec::new(),
            token_waiters: Vec::new(),
            sign_outs: Vec::new(),
            last_failure: None,
            published: None,
            narrowing: Narrowing::default(),
        }
    }

    pub(crate) fn record(&self) -> &Arc<SessionRecord> {
        &self.record
    }

    fn refuse_all(&mut self, error: impl Fn() -> Error) {
        for reply in self.waiters.drain(..) {
            let _ = reply.send(Err(error()));
        }
        for reply in self.token_waiters.drain(..) {
            let _ = reply.send(Err(error()));
        }
        for reply in self.sign_outs.drain(..) {
            let _ = reply.send(Err(error()));
        }
        self.narrowing.refuse_all(&error);
    }
}

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
    /// Shutting down: work in flight finishes, no new provider work starts.
    pub stopping: bool,
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
        }
        self.drain().await;
        self.publish();
    }

    /// At shutdown (a quit, a log-out, SIGTERM), lets the work in flight finish, bounded by
    /// `stop_grace`: a refresh whose answer has rotated the refresh token at the provider must get the
    /// new one into the keychain before the process ends. Dropping the tasks would abort it between
    /// the provider's answer and the keychain write, and the user would be signed out by our doing.
    /// No new refresh, re-check or re-read starts meanwhile.
    async fn drain(&mut self) {
        self.stopping = true;
        let ids: Vec<SessionName> = self.sessions.keys().cloned().collect();
        for id in ids {
            self.apply(&id, Event::Stopping);
        }
        let deadline = tokio::time::Instant::now() + self.stop_grace;
        if !self.tasks.is_empty() {
            tracing::info!(tasks = self.tasks.len(), "shutting down: waiting for the work in flight");
        }
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.join_next_with_id()).await {
                Ok(Some(done)) => self.finished(done),
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
    fn tick_all(&mut self) {
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

    fn apply(&mut self, id: &str, event: Event) {
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

    fn run_effect(&mut self, id: &str, effect: Effect) {
        let entry = self.sessions.get_mut(id).expect("effects come from existing sessions");
        match effect {
            Effect::HandOut => {
                let expires_at = entry.record.state.tokens.and_then(|t| t.access_token_expires_at);
                for reply in entry.token_waiters.drain(..) {
                    let _ = reply.send(Ok(HandOut { secrets: entry.secrets.clone(), expires_at }));
                }
            }
            Effect::Refuse(refusal) => entry.refuse_all(|| match &refusal {
                Refusal::NotSignedIn => Error::NotSignedIn(id.to_owned()),
                Refusal::Failed(info) => Error::from(info.clone()),
            }),
            Effect::SignOut { previous } => {
                entry.pending_sign_in = None;
                let mut waiting = entry.sign_outs.drain(..);
                let ticket = SignOutTicket { secrets: entry.secrets.take(), config: entry.record.provider.clone(), previous: *previous };
                if let Some(first) = waiting.next() {
                    let _ = first.send(Ok(ticket));
                }
                for later in waiting {
                    let _ = later.send(Err(Error::NotSignedIn(id.to_owned())));
                }
            }
            Effect::Refresh | Effect::Validate | Effect::Reread if self.stopping => {
                tracing::debug!(session = %id, ?effect, "not started: shutting down");
            }
            effect => {
                let generation = entry.record.state.generation;
                let secrets = if matches!(effect, Effect::Discard { .. }) { entry.secrets.take() } else { entry.secrets.clone() };
                let narrow = if matches!(effect, Effect::Refresh) { entry.narrowing.in_flight.clone() } else { None };
                let handle = self.runner.spawn(&mut self.tasks, id, &entry.record, secrets, effect, narrow);
                self.task_sessions.insert(handle.id(), (id.to_owned(), generation));
            }
        }
    }

    fn finished(&mut self, done: std::result::Result<(tokio::task::Id, Completion), tokio::task::JoinError>) {
        let completion = match done {
            Ok((task, completion)) => {
                self.task_sessions.remove(&task);
                completion
            }
            Err(join_error) => {
                // A task that panicked must not leave its session refreshing forever.
                let Some((id, generation)) = self.task_sessions.remove(&join_error.id()) else { return };
                tracing::error!(session = %id, "a session task failed: {join_error}");
                Completion::task_failed(id, generation)
            }
        };
        let Some(id) = completion.session().map(str::to_owned) else { return };
        let current = self.sessions.get(id.as_str()).is_some_and(|e| Some(e.record.state.generation) == completion.generation());
        if current {
            let entry = self.sessions.get_mut(id.as_str()).expect("checked");
            let events = match completion {
                Completion::Refresh { result, used, narrowed, .. } => {
                    if entry.secrets.is_none() {
                        entry.secrets = used;
                    }
                    if let Some(scope) = entry.narrowing.in_flight.take() {
                        let answer = match (&result, narrowed) {
                            (Ok(refreshed), Some(token)) if refreshed.rejected.is_none() => Ok(token),
                            (Ok(refreshed), _) => Err(refreshed.rejected.clone().map(Error::from).unwrap_or(Error::Shutdown)),
                            (Err(failure), _) => Err(Error::from(failure.info().clone())),
                        };
                        entry.narrowing.answer(&scope, entry.record.state.generation, answer);
                    }
                    match result {
                        Ok(refreshed) if refreshed.rejected.is_some() => {
                            let info = refreshed.rejected.expect("checked");
                            tracing::warn!(session = %id, "refresh answer refused: {}", info.message);
                            // Held only so that the discard the machine decides revokes them.
                            entry.secrets = Some(refreshed.secrets);
                            entry.last_failure = Some(info.clone());
                            vec![Event::RefreshFailed { failure: RefreshFailure::Security(info), jitter: 0.0 }]
                        }
                        Ok(refreshed) => {
                            entry.secrets = Some(refreshed.secrets);
                            entry.last_failure = None;
                            if let Some(warning) = &refreshed.warning {
                                tracing::warn!(session = %id, "{warning}");
                            }
                            let warning = refreshed.warning.map(ErrorInfo::misbehaved);
                            let saved = match refreshed.unsaved {
                                Some(error) => Event::TokensNotSaved(error),
                                None => Event::TokensSaved,
                            };
                            vec![Event::RefreshSucceeded { times: refreshed.times, warning }, saved]
                        }
                        Err(failure) => {
                            let info = failure.info();
                            tracing::info!(session = %id, kind = ?info.kind, "refresh failed: {}", info.message);
                            entry.last_failure = Some(info.clone());
                            vec![Event::RefreshFailed { failure, jitter: rand::rng().random::<f64>() }]
                        }
                    }
                }
                Completion::Reread { stored, .. } => {
                    let rotated = match (stored, &entry.secrets) {
                        (Some(stored), Some(refused)) if !stored.same_refresh_token(refused) => {
                            tracing::info!(session = %id, "refresh token was rotated elsewhere; retrying with the stored one");
                            entry.secrets = Some(stored);
                            true
                        }
                        _ => false,
                    };
                    vec![Event::Reread { rotated }]
                }
                Completion::Validate { check, .. } => vec![match check {
                    UserCheck::Valid(profile) => Event::Validated(profile),
                    UserCheck::Rejected => Event::ValidationRejected,
                    UserCheck::Unavailable(err) => {
                        tracing::info!(session = %id, error = %err, "userinfo check not possible now");
                        Event::ValidationUnavailable
                    }
                }],
                Completion::Saved { result, .. } => vec![match result {
                    Ok(()) => Event::TokensSaved,
                    Err(err) => {
                        tracing::warn!(session = %id, error = %err, "new tokens still not saved");
                        Event::TokensNotSaved(err.info())
                    }
                }],
                Completion::Discarded { .. } => Vec::new(),
            };
            for event in events {
                self.apply(&id, event);
            }
        }
        self.settle(&id);
        self.next_narrowing(&id);
    }

    /// Starts the narrowed refresh the first waiting program asked for, once nothing else is in flight
    /// for the session: a refresh the user forced, so that the machine serializes it with every other
    /// use of the refresh token. When the machine starts none (signed out, no refresh token), the
    /// waiting programs hear why.
    fn next_narrowing(&mut self, id: &str) {
        let Some(entry) = self.sessions.get_mut(id) else { return };
        if entry.record.state.is_busy() || entry.record.state.phase == super::state::Phase::SigningIn {
            return;
        }
        let Some(scope) = entry.narrowing.next() else { return };
        entry.narrowing.in_flight = Some(scope);
        self.apply(id, Event::Trigger(Trigger::Manual { force: true }));
        let Some(entry) = self.sessions.get_mut(id) else { return };
        if entry.record.state.phase != super::state::Phase::Refreshing {
            // No refresh started: every waiting program hears why.
            let state = &entry.record.state;
            let error = || match (&state.last_error, state.is_signed_in()) {
                (Some(info), _) => Error::from(info.clone()),
                (None, true) => Error::NotOffered(
                    "This session has no refresh token, so no narrower token can be made: ask for the session's own token.".into(),
                ),
                (None, false) => Error::NotSignedIn(id.to_owned()),
            };
            entry.narrowing.refuse_all(error);
        }
        self.settle(id);
    }

    /// Answers the callers of `refresh` once nothing is in flight for the session.
    fn settle(&mut self, id: &str) {
        let policy = &self.policy;
        let Some(entry) = self.sessions.get_mut(id) else { return };
        if entry.record.state.is_busy() || entry.waiters.is_empty() {
            return;
        }
        let snapshot = Arc::new(SessionSnapshot::of(&entry.record, policy));
        for waiter in entry.waiters.drain(..) {
            let _ = waiter.send(match &entry.last_failure {
                Some(info) => Err(Error::from(info.clone())),
                None => Ok(snapshot.clone()),
            });
        }
    }

    fn snapshot(&self, id: &str) -> Option<SessionSnapshot> {
        self.sessions.get(id).map(|entry| SessionSnapshot::of(&entry.record, &self.policy))
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Add { record, reply } => {
                let id = record.id.clone();
                if self.sessions.contains_key(&id) {
                    let _ = reply.send(Err(Error::SessionExists(id.into())));
                    return;
                }
                let entry = Entry::new(record, None);
                let _ = reply.send(Ok(SessionSnapshot::of(&entry.record, &self.policy)));
                self.sessions.insert(id.clone(), entry);
                self.dirty.insert(id.clone());
                self.apply(&id, Event::Tick);
            }
            Command::Snapshots { reply } => {
                let _ = reply.send(self.sessions.values().map(|e| SessionSnapshot::of(&e.record, &self.policy)).collect());
            }
            Command::SetPolicy { policy } => {
                self.policy = policy;
                self.tick_all();
                // Snapshots show policy-derived instants (the next refresh).
                self.dirty.extend(self.sessions.keys().cloned());
            }
            Command::CheckAll { trigger } => {
                let ids: Vec<SessionName> = self.sessions.keys().cloned().collect();
                for id in ids {
                    self.apply(&id, Event::Trigger(trigger));
                }
            }
            Command::Session { id, request } => {
                if self.sessions.contains_key(id.as_str()) {
                    self.handle_for(&id, request);
                } else {
                    request.refuse(Error::UnknownSession(id));
                }
            }
        }
    }

    /// Requests about one existing session.
    fn handle_for(&mut self, id: &str, request: Request) {
        let entry = self.sessions.get_mut(id).expect("checked by the caller");
        match request {
            Request::Remove { reply } => {
                self.sessions.remove(id);
                self.deadlines.remove(id);
                self.dirty.remove(id);
                let _ = self.events.send(SessionEvent::Removed { id: id.to_owned() });
                self.book.remove(id);
                let _ = reply.send(Ok(()));
            }
            Request::Record { reply } => {
                let _ = reply.send(Ok(SessionRecord::clone(&entry.record)));
            }
            Request::Snapshot { reply } => {
                let _ = reply.send(Ok(SessionSnapshot::of(&entry.record, &self.policy)));
            }
            Request::BeginSignIn { pending, reply } => {
                entry.pending_sign_in = Some(pending);
                self.apply(id, Event::SignInStarted);
                let _ = reply.send(Ok(()));
            }
            Request::TakeSignIn { redirect, reply } => {
                let answer = match &entry.pending_sign_in {
                    None => Err(Error::NoSignInPending(id.to_owned())),
                    Some(pending) if !pending.matches(&redirect) => {
                        Err(Error::InvalidRedirect("its state does not belong to the sign-in in progress".into()))
                    }
                    Some(_) => Ok(entry.pending_sign_in.take().expect("matched above")),
                };
                let _ = reply.send(answer);
            }
            Request::FinishSignIn { outcome, reply } => match outcome {
                Ok(SignedInTokens { secrets, times, user, warning, unsaved }) => {
                    entry.secrets = Some(secrets);
                    entry.last_failure = None;
                    if let Some(warning) = &warning {
                        tracing::warn!(session = %id, "{warning}");
                    }
                    let warning = warning.map(ErrorInfo::misbehaved);
                    self.apply(id, Event::SignedIn { times, user, warning });
                    if let Some(unsaved) = unsaved {
                        self.apply(id, Event::TokensNotSaved(unsaved));
                    }
                    let _ = reply.send(Ok(self.snapshot(id).expect("present")));
                }
                Err(err) => {
                    if entry.pending_sign_in.is_none() {
                        self.apply(id, Event::SignInAbandoned);
                    }
                    let _ = reply.send(Err(err));
                }
            },
            Request::CancelSignIn { reply } => {
                entry.pending_sign_in = None;
                self.apply(id, Event::SignInAbandoned);
                let _ = reply.send(Ok(self.snapshot(id).expect("present")));
            }
            Request::Trigger { trigger, reply } => {
                entry.last_failure = None;
                entry.waiters.push(reply);
                self.apply(id, Event::Trigger(trigger));
                self.settle(id);
            }
            Request::WantToken { min_valid, reply } => {
                entry.token_waiters.push(reply);
                self.apply(id, Event::TokenWanted { min_valid });
            }
            Request::Narrow { scope, min_valid, reply } => {
                let lead = super::state::delta(self.policy.refresh.lead_time).max(min_valid);
                if let Some(token) = entry.narrowing.reusable(&scope, entry.record.state.generation, self.clock.now(), lead) {
                    let _ = reply.send(Ok(token));
                    return;
                }
                entry.narrowing.wait(scope, reply);
                self.next_narrowing(id);
            }
            Request::HandedOut { program } => {
                tracing::info!(session = %id, %program, "token handed to a program");
                self.apply(id, Event::HandedOut { program });
                self.publish();
            }
            Request::SignOut { reply } => {
                entry.sign_outs.push(reply);
                self.apply(id, Event::SignOutRequested);
            }
            Request::SignOutFinished { ticket, result, reply } => {
                if let Err(err) = result {
                    if entry.secrets.is_none() {
                        entry.secrets = ticket.secrets;
                    }
                    self.apply(id, Event::SignOutFailed { previous: Box::new(ticket.previous) });
                    let _ = reply.send(Err(err));
                    return;
                }
                let _ = reply.send(Ok(self.snapshot(id).expect("present")));
            }
        }
    }

    /// Emits an event per changed snapshot and hands the changed records to the persister.
    fn publish(&mut self) {
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
