//! [`SessionManager`], the handle the shell uses. Request/response work (discovery, revocation,
//! keychain reads for a hand-out) runs in the caller's task; the actor only records results and
//! the state machine decides, so the actor never blocks on I/O.

use std::sync::{Arc, Mutex};

use secrecy::SecretString;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::commands::{Command, HandOut, Removal, Request};
use super::hand_out::{self, OwnToken};
use super::handler::{HostEvent, RefreshContext, RefreshHandler, TriggerSink};
use super::providers::Providers;
use super::snapshot::{AccessToken, SessionEvent, SessionSnapshot, SignOutOutcome, TokenRequest};
use super::state::{SessionState, Trigger};
use super::store::SessionRecord;
use crate::error::{Error, Result};
use crate::names::SessionName;
use crate::oidc::{Provider, Revocation};
use crate::policy::Policy;
use crate::provider::ProviderConfig;
use crate::vault::SecretVault;

pub(crate) struct Shared {
    pub commands: mpsc::UnboundedSender<Command>,
    pub events: broadcast::Sender<SessionEvent>,
    pub host: broadcast::Sender<HostEvent>,
    pub cancel: CancellationToken,
    pub handler: Mutex<Box<dyn RefreshHandler>>,
    pub providers: Arc<Providers>,
    pub vault: SecretVault,
    pub tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// The handle to the session actor. Cheap to clone; the actor stops with [`Self::shutdown`] or
/// when the last handle is dropped.
#[derive(Clone)]
pub struct SessionManager {
    pub(crate) shared: Arc<Shared>,
}

/// The refresh handler's triggers, as commands to the actor.
struct CommandSink(mpsc::UnboundedSender<Command>);

impl TriggerSink for CommandSink {
    fn check_all(&self, trigger: Trigger) {
        let _ = self.0.send(Command::CheckAll { trigger });
    }
}

impl SessionManager {
    pub(crate) fn init_handler(&self, policy: &Policy) {
        let sink = Arc::new(CommandSink(self.shared.commands.clone()));
        let context = RefreshContext::new(sink, self.shared.host.clone(), self.shared.cancel.clone());
        let mut handler = self.shared.handler.lock().expect("refresh handler poisoned");
        handler.destroy();
        handler.init(&policy.refresh, context);
    }

    pub(crate) async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.shared.commands.send(make(reply)).map_err(|_| Error::Shutdown)?;
        answer.await.map_err(|_| Error::Shutdown)
    }

    /// Events from now on: every state change, with a secret-free snapshot.
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.shared.events.subscribe()
    }

    /// Every session, by name.
    pub async fn snapshots(&self) -> Result<Vec<SessionSnapshot>> {
        self.call(|reply| Command::Snapshots { reply }).await
    }

    /// One session.
    pub async fn snapshot(&self, id: &str) -> Result<SessionSnapshot> {
        self.call(|reply| Command::session(id, Request::Snapshot { reply })).await?
    }

    pub(crate) async fn record(&self, id: &str) -> Result<SessionRecord> {
        self.call(|reply| Command::session(id, Request::Record { reply })).await?
    }

    /// The provider settings of one session (no secrets: the client secret stays in the vault).
    pub async fn provider_config(&self, id: &str) -> Result<ProviderConfig> {
        Ok(self.record(id).await?.provider)
    }

    /// Adds a session for a provider. Discovery runs first; if it fails, nothing is saved.
    pub async fn add_session(&self, id: &str, mut config: ProviderConfig, client_secret: Option<SecretString>) -> Result<SessionSnapshot> {
        let name = SessionName::new(id)?;
        config.validate()?;
        if self.record(name.as_str()).await.is_ok() {
            return Err(Error::SessionExists(name.into()));
        }
        config.has_client_secret = client_secret.is_some();
        let providers = &self.shared.providers;
        let provider = Provider::discover(&providers.http, &config, client_secret.clone(), providers.clock.clone()).await?;
        if let Some(secret) = &client_secret {
            self.shared.vault.save_client_secret(name.as_str(), secret).await?;
        }
        providers.insert(name.as_str(), Arc::new(provider));
        let record = Box::new(SessionRecord { id: name.clone(), provider: config, state: SessionState::signed_out() });
        let added = self.call(|reply| Command::Add { record, reply }).await?;
        if added.is_err() {
            providers.forget(name.as_str());
        }
        added
    }

    /// Removes a session: signs it out first if it holds tokens (revoking at the provider when
    /// reachable; [`crate::Event::RemoveRequested`] decides), then forgets its settings and client
    /// secret.
    pub async fn remove_session(&self, id: &str) -> Result<()> {
        let config = self.provider_config(id).await?;
        while self.call(|reply| Command::session(id, Request::Remove { reply })).await?? == Removal::SignOutFirst {
            self.sign_out(id).await?;
        }
        self.shared.providers.forget(id);
        if config.has_client_secret {
            self.shared.vault.delete_client_secret(id).await?;
        }
        Ok(())
    }

    /// A valid access token for another program, asked for with the defaults of [`TokenRequest`].
    pub async fn access_token(&self, id: &str) -> Result<AccessToken> {
        self.hand_out(id, &TokenRequest::default()).await
    }

    /// A token for another program (the token helper, D-Bus). The state machine decides
    /// ([`crate::Event::TokenWanted`]): an access token that outlives the lead time and
    /// `request.min_valid` is handed out at once; otherwise the session is refreshed first (concurrent
    /// callers and the scheduler share one refresh), and if that refresh fails for a passing reason
    /// while the current token is still valid, the current token is given; once it has expired, the
    /// error is. A narrower `request.scope` is made by a refresh asking for it (RFC 6749 section 6),
    /// serialized with every other use of the refresh token, or is one made earlier that is still
    /// fresh enough by the same rule; scopes the session was not signed in with are refused without a
    /// request. The hand-out is recorded in the session's history with `request.program`.
    pub async fn hand_out(&self, id: &str, request: &TokenRequest) -> Result<AccessToken> {
        let wanted = self.call(|reply| Command::session(id, Request::WantToken { request: request.clone(), reply })).await??;
        let (token, expires_at) = match wanted {
            HandOut::Narrowed(token) => token,
            HandOut::Own { secrets, expires_at } => {
                let secrets = match secrets {
                    Some(secrets) => secrets,
                    None => self.shared.vault.load_tokens(id).await?.ok_or_else(|| Error::NotSignedIn(id.to_owned()))?,
                };
                // Not a narrowed token (that answer is `HandOut::Narrowed`): no scope rule applies.
                let kind = hand_out::token_kind(id, request, &[])?;
                match hand_out::own_token(&kind, secrets, expires_at, self.shared.providers.clock_offset(id))? {
                    OwnToken::Ready(token, expires_at) => (token, expires_at),
                    OwnToken::Exchange { access_token, audience, scope } => {
                        let record = self.record(id).await?;
                        let provider = self.shared.providers.get(id, &record.provider).await?;
                        provider.exchange(&access_token, &audience, scope.as_deref()).await?
                    }
                }
            }
        };
        self.handed_out(id, &request.program);
        Ok(AccessToken { session: id.to_owned(), token, expires_at })
    }

    /// Records a hand-out in the session's history.
    fn handed_out(&self, id: &str, program: &str) {
        let program = if program.is_empty() { "an unknown program".to_owned() } else { program.to_owned() };
        let _ = self.shared.commands.send(Command::session(id, Request::HandedOut { program }));
    }

    /// Refreshes one session and waits for the result. `force` always calls the token endpoint;
    /// otherwise the session is refreshed only if due. Concurrent calls share one token request and
    /// one answer: every caller that joined gets the same snapshot, so ten thousand joiners cost ten
    /// thousand reference counts rather than ten thousand copies of the session's history.
    pub async fn refresh(&self, id: &str, force: bool) -> Result<Arc<SessionSnapshot>> {
        self.trigger(id, Trigger::Manual { force }).await
    }

    /// Sends one trigger to one session and waits until what it started has finished.
    pub async fn trigger(&self, id: &str, trigger: Trigger) -> Result<Arc<SessionSnapshot>> {
        self.call(|reply| Command::session(id, Request::Trigger { trigger, reply })).await?
    }

    /// Reports that the app window gained focus; the refresh handler decides what to do.
    pub fn window_focused(&self) {
        let _ = self.shared.host.send(HostEvent::WindowFocused);
    }

    /// Reports that the machine woke up: every session is checked at once against the wall clock.
    pub fn resumed(&self) {
        let _ = self.shared.host.send(HostEvent::Resumed);
        let _ = self.shared.commands.send(Command::CheckAll { trigger: Trigger::Resume });
    }

    /// Reports the desktop's connectivity (the shell reads it from NetworkManager). Every session
    /// learns it at once; while offline or behind a captive portal a provider out of reach is not
    /// counted as a failure, and when the network returns the sessions that are due refresh at once,
    /// as after a wake.
    pub fn connectivity_changed(&self, network: super::state::Network) {
        let _ = self.shared.commands.send(Command::CheckAll { trigger: Trigger::Network(network) });
    }

    /// Applies new settings at once: the refresh handler is destroyed and initialised again. Settings
    /// out of [`Policy::validate`]'s bounds are refused and change nothing.
    pub fn set_policy(&self, policy: Policy) -> Result<()> {
        policy.validate()?;
        self.shared.commands.send(Command::SetPolicy { policy: policy.clone() }).map_err(|_| Error::Shutdown)?;
        self.init_handler(&policy);
        Ok(())
    }

    /// Signs out: revokes the refresh and access tokens at the provider (when reachable), deletes them
    /// from the vault and returns the provider's end-session URL. Succeeds with the provider offline.
    /// A sign-out during a refresh waits for it ([`crate::Event::SignOutRequested`]), so that the
    /// refresh token it brings is the one revoked.
    pub async fn sign_out(&self, id: &str) -> Result<SignOutOutcome> {
        let ticket = self.call(|reply| Command::session(id, Request::SignOut { reply })).await??;
        let secrets = match &ticket.secrets {
            Some(secrets) => Some(secrets.clone()),
            None => self.shared.vault.load_tokens(id).await.ok().flatten(),
        };
        let mut revocation = Revocation::default();
        let mut end_session_url = None;
        match self.shared.providers.get(id, &ticket.config).await {
            Ok(provider) => {
                if let Some(secrets) = &secrets {
                    revocation = provider.revoke(secrets, ticket.previous.tokens.as_ref()).await;
                }
                end_session_url = provider.end_session_url(secrets.as_ref().and_then(|s| s.id_token.as_ref()));
            }
            Err(err) => {
                tracing::warn!(session = id, kind = ?err.kind(), error = %err, "sign-out: provider not asked to revoke");
                revocation = Revocation::not_asked(hand_out::not_asked_because(err.kind()));
            }
        }
        let deleted = self.shared.vault.delete_tokens(id).await;
        let session = self
            .call(|reply| Command::session(id, Request::SignOutFinished { ticket: Box::new(ticket), result: deleted, reply }))
            .await??;
        Ok(SignOutOutcome { session, revocation, end_session_url })
    }

    /// Stops the actor and the refresh handler, and waits until the last state is saved.
    pub async fn shutdown(&self) {
        self.shared.handler.lock().expect("refresh handler poisoned").destroy();
        self.shared.cancel.cancel();
        let tasks: Vec<_> = std::mem::take(&mut *self.shared.tasks.lock().expect("task list poisoned"));
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
