//! What the handle asks of the actor, turned into events: a caller that waits is put with the
//! session's waiting callers, and the machine's effects answer it. Reading a session (its snapshot,
//! its record) is answered at once.

use super::actor::Actor;
use super::commands::{Command, Request, SignedInTokens};
use super::entry::Entry;
use super::hand_out::token_kind;
use super::snapshot::SessionSnapshot;
use super::state::{Event, Network, TokenKind, Trigger};
use super::store::SessionRecord;
use crate::error::{Error, ErrorInfo};
use crate::names::SessionName;

impl Actor {
    pub(super) fn handle(&mut self, command: Command) {
        match command {
            Command::Add { mut record, reply } => {
                let id = record.id.clone();
                record.state.silent.browser = self.runner.can_sign_in_silently(&record.provider);
                if self.sessions.contains_key(&id) {
                    let _ = reply.send(Err(Error::SessionExists(id.into())));
                    return;
                }
                self.sessions.insert(id.clone(), Entry::new(*record, None));
                self.dirty.insert(id.clone());
                // The desktop's connectivity is the same for every session: a new one learns the last
                // report, through the machine, before anyone sees it.
                if self.network != Network::Online {
                    self.apply(&id, Event::Trigger(Trigger::Network(self.network)));
                }
                let added = self.sessions.get(&id).map(|entry| SessionSnapshot::of(&entry.record, &self.policy));
                let _ = reply.send(added.ok_or_else(|| Error::UnknownSession(id.clone().into())));
                self.apply(&id, Event::Tick);
            }
            Command::Snapshots { reply } => {
                let _ = reply.send(self.sessions.values().map(|e| SessionSnapshot::of(&e.record, &self.policy)).collect());
            }
            Command::SetPolicy { policy } => {
                self.runner.silent_timeout = policy.lifetime.silent_sign_in_timeout;
                self.policy = policy;
                self.tick_all();
                // Snapshots show policy-derived instants (the next refresh).
                self.dirty.extend(self.sessions.keys().cloned());
            }
            Command::CheckAll { trigger } => {
                if let Trigger::Network(network) = trigger {
                    self.network = network;
                }
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
        let waiting = &mut entry.waiting;
        let event = match request {
            Request::Record { reply } => return drop(reply.send(Ok(SessionRecord::clone(&entry.record)))),
            Request::Snapshot { reply } => return drop(reply.send(Ok(SessionSnapshot::of(&entry.record, &self.policy)))),
            Request::Remove { reply } => {
                waiting.removals.push(reply);
                Event::RemoveRequested
            }
            Request::BeginSignIn { pending, reply } => {
                entry.pending_sign_in = Some(pending);
                let _ = reply.send(Ok(()));
                Event::SignInStarted
            }
            Request::TakeSignIn { redirect, reply } => {
                waiting.redirects.push(reply);
                let pending = entry.pending_sign_in.as_ref();
                Event::RedirectArrived { pending: pending.is_some(), ours: pending.is_some_and(|p| p.matches(&redirect)) }
            }
            Request::FinishSignIn { outcome, reply } => {
                let signed_in = match outcome {
                    Ok(SignedInTokens { secrets, times, user, warning, unsaved, auth_time }) => {
                        entry.secrets = Some(secrets);
                        entry.narrowed.clear();
                        if let Some(warning) = &warning {
                            tracing::warn!(session = %id, "{warning}");
                        }
                        self.apply(id, Event::SignedIn { times, user, warning: warning.map(ErrorInfo::misbehaved), auth_time });
                        if let Some(unsaved) = unsaved {
                            self.apply(id, Event::TokensNotSaved(unsaved));
                        }
                        Ok(())
                    }
                    Err(err) => {
                        let pending = entry.pending_sign_in.is_some();
                        self.apply(id, Event::SignInFailed { pending });
                        Err(err)
                    }
                };
                let _ = reply.send(signed_in.map(|()| self.snapshot(id)));
                return;
            }
            Request::CancelSignIn { reply } => {
                entry.pending_sign_in = None;
                self.apply(id, Event::SignInAbandoned);
                let _ = reply.send(Ok(self.snapshot(id)));
                return;
            }
            Request::Trigger { trigger, reply } => {
                waiting.checks.push(reply);
                Event::CheckWanted(trigger)
            }
            Request::WantToken { request, reply } => {
                let token = match token_kind(id, &request, &entry.record.provider.scopes) {
                    Ok(token) => token,
                    Err(err) => return drop(reply.send(Err(err))),
                };
                match &token {
                    TokenKind::Narrowed { scope } => waiting.narrowed.push((scope.clone(), reply)),
                    _ => waiting.tokens.push(reply),
                }
                Event::TokenWanted { token, min_valid: super::state::delta(request.min_valid) }
            }
            Request::HandedOut { program } => {
                tracing::info!(session = %id, %program, "token handed to a program");
                self.apply(id, Event::HandedOut { program });
                self.publish();
                return;
            }
            Request::SignOut { reply } => {
                waiting.sign_outs.push(reply);
                Event::SignOutRequested
            }
            Request::SetSilent { enabled, reply } => {
                self.apply(id, Event::SilentSet { enabled });
                let _ = reply.send(Ok(self.snapshot(id)));
                return;
            }
            Request::SilentSignIn { reply } => {
                waiting.checks.push(reply);
                Event::SilentWanted
            }
            Request::SignOutFinished { ticket, result, reply } => {
                if let Err(err) = result {
                    if entry.secrets.is_none() {
                        entry.secrets = ticket.secrets;
                    }
                    self.apply(id, Event::SignOutFailed { previous: Box::new(ticket.previous) });
                    return drop(reply.send(Err(err)));
                }
                self.apply(id, Event::SignedOut);
                let _ = reply.send(Ok(self.snapshot(id)));
                return;
            }
        };
        self.apply(id, event);
    }

    fn snapshot(&self, id: &str) -> SessionSnapshot {
        SessionSnapshot::of(&self.sessions[id].record, &self.policy)
    }
}
