//! The scheduler: one tokio task owns every session. It feeds events to the state machine, runs the
//! effects it returns as background tasks (so one slow provider never stalls another session), and
//! sleeps until the earliest wall-clock deadline, waking at least every `wake_interval` to re-read the
//! wall clock, because tokio's clock stands still while the machine sleeps.
//!
//! [`SessionManager`] is the handle the shell uses. Request/response work (discovery, code exchange)
//! runs in the caller's task; the scheduler only records results, so it never blocks on I/O.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use secrecy::SecretString;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::clock::{Clock, SystemClock};
use crate::loopback::{LoopbackListener, Page};
use crate::error::{Error, ErrorInfo, ErrorKind, Result};
use crate::handler::{DefaultRefreshHandler, HostEvent, RefreshContext, RefreshHandler};
use crate::oidc::{EndSessionUrl, PendingSignIn, Provider, Refreshed, Revocation, TokenAuthority, UserCheck, http_client};
use crate::policy::Policy;
use crate::provider::{ProviderConfig, SignInWith};
use crate::secret::SessionSecrets;
use crate::state::{Effect, Event, Phase, RefreshFailure, SessionState, Trigger, transition};
use crate::store::{MemoryStore, MetadataStore, SessionRecord};
use crate::user::UserProfile;
use crate::vault::{SecretVault, Vault};

/// What the UI may know about a session: no secrets.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSnapshot {
    /// The session's name.
    pub id: String,
    /// The provider's display name.
    pub provider_name: String,
    /// The provider's issuer.
    pub issuer: String,
    /// Where the provider's sign-in page is shown (the card says when it waits on the browser).
    pub sign_in_with: SignInWith,
    /// Who is signed in.
    pub user: Option<UserProfile>,
    /// The state badge.
    pub phase: Phase,
    /// When the access token expires.
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// When the refresh token expires, if the provider says.
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// When the session ends.
    pub session_expires_at: Option<DateTime<Utc>>,
    /// When the user signed in.
    pub signed_in_at: Option<DateTime<Utc>>,
    /// The last successful refresh.
    pub last_refresh_at: Option<DateTime<Utc>>,
    /// The next planned refresh.
    pub next_refresh_at: Option<DateTime<Utc>>,
    /// Whether the session can be extended with a refresh token.
    pub has_refresh_token: bool,
    /// Consecutive refresh failures.
    pub consecutive_failures: u32,
    /// The last problem.
    pub last_error: Option<ErrorInfo>,
}

/// A fact the shell forwards to the UI.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum SessionEvent {
    /// A session was added or changed.
    Changed {
        /// Its new snapshot.
        session: SessionSnapshot,
    },
    /// A session was removed.
    Removed {
        /// Its name.
        id: String,
    },
    /// Session metadata could not be saved; the sessions go on in memory.
    StorageFailed {
        /// What went wrong.
        error: ErrorInfo,
    },
}

/// An access token handed to another program by [`SessionManager::access_token`].
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The session it belongs to.
    pub session: String,
    /// The token (redacted in `Debug`).
    pub token: SecretString,
    /// When it expires, if the provider said.
    pub expires_at: Option<DateTime<Utc>>,
}

/// What signing out did.
#[derive(Debug)]
pub struct SignOutOutcome {
    /// The session, now signed out.
    pub session: SessionSnapshot,
    /// What was revoked at the provider.
    pub revocation: Revocation,
    /// Open this in the sign-in window to end the provider's own session (it carries the ID token).
    pub end_session_url: Option<EndSessionUrl>,
}

pub(crate) enum Command {
    Add { record: SessionRecord, reply: oneshot::Sender<Result<SessionSnapshot>> },
    Remove { id: String, reply: oneshot::Sender<Result<()>> },
    Snapshots { reply: oneshot::Sender<Vec<SessionSnapshot>> },
    Record { id: String, reply: oneshot::Sender<Result<SessionRecord>> },
    BeginSignIn { id: String, pending: PendingSignIn, reply: oneshot::Sender<Result<()>> },
    TakeSignIn { id: String, redirect: Url, reply: oneshot::Sender<Result<PendingSignIn>> },
    FinishSignIn { id: String, outcome: Result<(SessionSecrets, crate::state::TokenTimes, UserProfile)>, reply: oneshot::Sender<Result<SessionSnapshot>> },
    CancelSignIn { id: String, reply: oneshot::Sender<Result<SessionSnapshot>> },
    Trigger { id: Option<String>, trigger: Trigger, reply: Option<oneshot::Sender<Result<SessionSnapshot>>> },
    BeginSignOut { id: String, reply: oneshot::Sender<Result<SignOutTicket>> },
    FinishSignOut { id: String, ticket: SignOutTicket, result: Result<()>, reply: oneshot::Sender<Result<SessionSnapshot>> },
    SetPolicy { policy: Policy },
    Secrets { id: String, reply: oneshot::Sender<Result<Option<SessionSecrets>>> },
}

pub(crate) struct SignOutTicket {
    secrets: Option<SessionSecrets>,
    config: ProviderConfig,
    previous: SessionState,
}

enum Completion {
    Refresh { id: String, generation: u64, result: std::result::Result<Refreshed, RefreshFailure> },
    Validate { id: String, generation: u64, check: UserCheck },
    SecretsSaved { id: String, generation: u64, result: Result<()> },
    Discarded,
}

/// Discovered providers, by session. Shared by the scheduler's tasks and the handle.
struct Providers {
    http: reqwest::Client,
    vault: SecretVault,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<String, Arc<Provider>>>,
    authority: Option<Arc<dyn TokenAuthority>>,
}

impl Providers {
    /// Who answers background refreshes and checks for this session.
    async fn authority(&self, id: &str, config: &ProviderConfig) -> Result<Arc<dyn TokenAuthority>> {
        match &self.authority {
            Some(authority) => Ok(authority.clone()),
            None => Ok(self.get(id, config).await?),
        }
    }

    async fn discover(&self, id: &str, config: &ProviderConfig) -> Result<Arc<Provider>> {
        let client_secret = if config.has_client_secret { self.vault.load_client_secret(id).await? } else { None };
        let provider = Arc::new(Provider::discover(&self.http, config, client_secret, self.clock.clone()).await?);
        self.cache.lock().expect("provider cache poisoned").insert(id.to_owned(), provider.clone());
        Ok(provider)
    }

    async fn get(&self, id: &str, config: &ProviderConfig) -> Result<Arc<Provider>> {
        let cached = self.cache.lock().expect("provider cache poisoned").get(id).cloned();
        match cached {
            Some(provider) if provider.config() == config => Ok(provider),
            _ => self.discover(id, config).await,
        }
    }

    fn forget(&self, id: &str) {
        self.cache.lock().expect("provider cache poisoned").remove(id);
    }
}

struct Shared {
    commands: mpsc::UnboundedSender<Command>,
    events: broadcast::Sender<SessionEvent>,
    host: broadcast::Sender<HostEvent>,
    cancel: CancellationToken,
    handler: Mutex<Box<dyn RefreshHandler>>,
    providers: Arc<Providers>,
    vault: SecretVault,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// The handle to the session scheduler. Cheap to clone; the scheduler stops with [`Self::shutdown`] or
/// when the last handle is dropped.
#[derive(Clone)]
pub struct SessionManager {
    shared: Arc<Shared>,
}

/// Configures and starts a [`SessionManager`].
pub struct SessionManagerBuilder {
    vault: Option<Arc<dyn Vault>>,
    store: Option<Arc<dyn MetadataStore>>,
    clock: Arc<dyn Clock>,
    policy: Policy,
    handler: Box<dyn RefreshHandler>,
    authority: Option<Arc<dyn TokenAuthority>>,
    request_timeout: Duration,
    vault_timeout: Duration,
    wake_interval: Duration,
}

impl Default for SessionManagerBuilder {
    fn default() -> Self {
        Self {
            vault: None,
            store: None,
            clock: Arc::new(SystemClock),
            policy: Policy::default(),
            handler: Box::new(DefaultRefreshHandler::default()),
            authority: None,
            request_timeout: Duration::from_secs(15),
            vault_timeout: Duration::from_secs(5),
            wake_interval: Duration::from_secs(10),
        }
    }
}

impl SessionManagerBuilder {
    /// Where tokens go (required): [`crate::KeyringVault`] in the app.
    pub fn vault(mut self, vault: Arc<dyn Vault>) -> Self {
        self.vault = Some(vault);
        self
    }

    /// Where non-secret session records go (default: memory only).
    pub fn store(mut self, store: Arc<dyn MetadataStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The wall clock (default: the system's).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Refresh and lifetime settings (default: [`Policy::default`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The refresh trigger source (default: [`DefaultRefreshHandler`]).
    pub fn refresh_handler(mut self, handler: Box<dyn RefreshHandler>) -> Self {
        self.handler = handler;
        self
    }

    /// Sends every background refresh and userinfo check to `authority` instead of the sessions'
    /// discovered providers. For tests and simulations of the scheduler only.
    pub fn token_authority(mut self, authority: Arc<dyn TokenAuthority>) -> Self {
        self.authority = Some(authority);
        self
    }

    /// Longest wait for one provider request (default 15 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Longest wait for one keychain call (default 5 s).
    pub fn vault_timeout(mut self, timeout: Duration) -> Self {
        self.vault_timeout = timeout;
        self
    }

    /// Longest sleep between two looks at the wall clock (default 10 s): a machine that slept through a
    /// deadline refreshes at most this long after it wakes, even if nobody reports the wake.
    pub fn wake_interval(mut self, interval: Duration) -> Self {
        self.wake_interval = interval;
        self
    }

    /// Loads the stored sessions and their tokens and starts the scheduler. When this returns, the
    /// snapshots are the true state (the UI's `ready`).
    pub async fn build(self) -> Result<SessionManager> {
        let vault_impl = self
            .vault
            .ok_or_else(|| Error::InvalidConfiguration("A vault is required (KeyringVault in the app).".into()))?;
        let vault = SecretVault::new(vault_impl, self.vault_timeout);
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::default()));
        let store_for_load = store.clone();
        let records = tokio::task::spawn_blocking(move || store_for_load.load())
            .await
            .map_err(|err| Error::StorageFailed { path: "session store".into(), detail: err.to_string() })??;
        let providers = Arc::new(Providers {
            http: http_client(self.request_timeout)?,
            vault: vault.clone(),
            clock: self.clock.clone(),
            cache: Mutex::new(HashMap::new()),
            authority: self.authority,
        });
        let mut sessions = BTreeMap::new();
        for mut record in records {
            record.state = restored(record.state);
            // A keychain that is locked or not yet running now is retried by the first refresh.
            let secrets = if record.state.is_signed_in() { vault.load_tokens(&record.id).await.ok().flatten() } else { None };
            sessions.insert(record.id.clone(), Entry::new(record, secrets));
        }
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(256);
        let (host, _) = broadcast::channel(16);
        let cancel = CancellationToken::new();
        let initial: Vec<SessionRecord> = sessions.values().map(|e: &Entry| e.record.clone()).collect();
        let (persist_tx, persist_rx) = watch::channel(initial);
        let persister = tokio::spawn(persist(store, persist_rx, events.clone()));
        let scheduler = Scheduler {
            clock: self.clock,
            policy: self.policy.clone(),
            sessions,
            events: events.clone(),
            providers: providers.clone(),
            vault: vault.clone(),
            tasks: JoinSet::new(),
            task_sessions: HashMap::new(),
            persist: persist_tx,
            wake_interval: self.wake_interval,
        };
        let scheduler = tokio::spawn(scheduler.run(commands_rx, cancel.clone()));
        let manager = SessionManager {
            shared: Arc::new(Shared {
                commands: commands_tx,
                events,
                host,
                cancel,
                handler: Mutex::new(self.handler),
                providers,
                vault,
                tasks: Mutex::new(vec![scheduler, persister]),
            }),
        };
        manager.init_handler(&self.policy);
        Ok(manager)
    }
}

fn restored(mut state: SessionState) -> SessionState {
    // Whatever was in flight when the app stopped did not finish.
    if state.phase == Phase::Refreshing {
        state.phase = Phase::Active;
    }
    if state.phase == Phase::SigningIn {
        state.phase = state.resume_phase.take().unwrap_or(Phase::SignedOut);
    }
    state.validating = false;
    state
}

fn check_session_name(id: &str) -> Result<()> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ' '));
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidConfiguration(format!(
            "\"{id}\" is not a valid session name: use 1 to 64 letters, digits, spaces or - _ . @"
        )))
    }
}

impl SessionManager {
    /// Starts configuring a manager.
    pub fn builder() -> SessionManagerBuilder {
        SessionManagerBuilder::default()
    }

    fn init_handler(&self, policy: &Policy) {
        let context = RefreshContext {
            commands: self.shared.commands.clone(),
            host: self.shared.host.clone(),
            cancel: self.shared.cancel.clone(),
        };
        let mut handler = self.shared.handler.lock().expect("refresh handler poisoned");
        handler.destroy();
        handler.init(&policy.refresh, context);
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T> {
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
        self.snapshots()
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| Error::UnknownSession(id.to_owned()))
    }

    /// The provider settings of one session (no secrets: the client secret stays in the vault).
    pub async fn provider_config(&self, id: &str) -> Result<ProviderConfig> {
        Ok(self.call(|reply| Command::Record { id: id.to_owned(), reply }).await??.provider)
    }

    /// Adds a session for a provider. Discovery runs first; if it fails, nothing is saved.
    pub async fn add_session(
        &self,
        id: &str,
        mut config: ProviderConfig,
        client_secret: Option<SecretString>,
    ) -> Result<SessionSnapshot> {
        check_session_name(id)?;
        config.validate()?;
        if self.call(|reply| Command::Record { id: id.to_owned(), reply }).await?.is_ok() {
            return Err(Error::SessionExists(id.to_owned()));
        }
        config.has_client_secret = client_secret.is_some();
        let provider = Provider::discover(&self.shared.providers.http, &config, client_secret.clone(), self.shared.providers.clock.clone()).await?;
        if let Some(secret) = &client_secret {
            self.shared.vault.save_client_secret(id, secret).await?;
        }
        self.shared.providers.cache.lock().expect("provider cache poisoned").insert(id.to_owned(), Arc::new(provider));
        let record = SessionRecord { id: id.to_owned(), provider: config, user: None, state: SessionState::signed_out() };
        let added = self.call(|reply| Command::Add { record, reply }).await?;
        if added.is_err() {
            self.shared.providers.forget(id);
        }
        added
    }

    /// Removes a session: signs it out if needed (revoking at the provider when reachable) and forgets
    /// its settings and client secret.
    pub async fn remove_session(&self, id: &str) -> Result<()> {
        let record = self.call(|reply| Command::Record { id: id.to_owned(), reply }).await??;
        if record.state.is_signed_in() {
            self.sign_out(id).await?;
        }
        if record.provider.has_client_secret {
            self.shared.vault.delete_client_secret(id).await?;
        }
        self.shared.providers.forget(id);
        self.call(|reply| Command::Remove { id: id.to_owned(), reply }).await?
    }

    /// Starts a sign-in: returns the provider's authorization URL to open in a browser window. A sign-in
    /// already in progress for the session is replaced (one attempt per session at a time).
    pub async fn begin_sign_in(&self, id: &str) -> Result<Url> {
        self.begin_sign_in_at(id, None).await
    }

    async fn begin_sign_in_at(&self, id: &str, redirect_uri: Option<&Url>) -> Result<Url> {
        let record = self.call(|reply| Command::Record { id: id.to_owned(), reply }).await??;
        // Fresh discovery per sign-in picks up rotated signing keys and changed endpoints.
        let provider = self.shared.providers.discover(id, &record.provider).await?;
        let (url, pending) = provider.begin_sign_in(redirect_uri);
        self.call(|reply| Command::BeginSignIn { id: id.to_owned(), pending, reply }).await??;
        Ok(url)
    }

    /// Signs in through the system browser (RFC 8252): listens on the loopback redirect URI with an
    /// ephemeral port, calls `open` with the authorization URL, and completes the sign-in with the
    /// redirect that carries this attempt's `state`. Requests with another path or `state` are
    /// answered and ignored. Ends with [`Error::SignInTimedOut`] after `timeout` and with
    /// [`Error::SignInCancelled`] when `cancel` fires; either way nothing is stored and the port closes.
    pub async fn sign_in_with_browser(
        &self,
        id: &str,
        open: impl FnOnce(&Url) -> std::result::Result<(), String>,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> Result<SessionSnapshot> {
        let config = self.provider_config(id).await?;
        let mut listener = LoopbackListener::bind(&config.redirect_uri).await?;
        let url = self.begin_sign_in_at(id, Some(listener.redirect_uri())).await?;
        tracing::info!(session = id, redirect_uri = %listener.redirect_uri(), "browser sign-in started");
        if let Err(problem) = open(&url) {
            let _ = self.cancel_sign_in(id).await;
            return Err(Error::BrowserUnavailable(problem));
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            let arrival = tokio::select! {
                arrival = listener.next() => arrival,
                () = &mut deadline => {
                    let _ = self.cancel_sign_in(id).await;
                    tracing::info!(session = id, "browser sign-in timed out");
                    return Err(Error::SignInTimedOut(timeout));
                }
                () = cancel.cancelled() => {
                    let _ = self.cancel_sign_in(id).await;
                    return Err(Error::SignInCancelled);
                }
            };
            let Some(arrival) = arrival else {
                let _ = self.cancel_sign_in(id).await;
                return Err(Error::InvalidRedirect("the loopback listener stopped".into()));
            };
            match self.complete_sign_in(id, &arrival.url).await {
                Ok(snapshot) => {
                    arrival.answer(Page::signed_in(&config.display_name));
                    return Ok(snapshot);
                }
                // A request with a foreign `state` (another tab, another program) leaves this
                // sign-in waiting for its own redirect.
                Err(err @ Error::InvalidRedirect(_)) if self.snapshot(id).await.is_ok_and(|s| s.phase == Phase::SigningIn) => {
                    tracing::warn!(session = id, error = %err, "loopback request ignored");
                    arrival.answer(Page::not_this(hyper::StatusCode::BAD_REQUEST, &err.to_string()));
                }
                Err(err) => {
                    arrival.answer(Page::failed(&err));
                    return Err(err);
                }
            }
        }
    }

    /// A valid access token for another program (the token helper). The session is refreshed first
    /// when its access token has expired or is within the lead time (concurrent callers and the
    /// scheduler share one refresh). If that refresh fails for a passing reason while the current
    /// token is still valid, the current token is given; once it has expired, the error is.
    pub async fn access_token(&self, id: &str) -> Result<AccessToken> {
        let refreshed = self.refresh(id, false).await;
        let snapshot = match refreshed {
            Ok(snapshot) => snapshot,
            Err(err) if err.is_transient() => self.snapshot(id).await?,
            Err(err) => return Err(err),
        };
        let now = self.shared.providers.clock.now();
        let expired = snapshot.access_token_expires_at.is_some_and(|at| at <= now);
        if !matches!(snapshot.phase, Phase::Active | Phase::Expiring | Phase::Refreshing) || expired {
            return Err(match (snapshot.last_error, snapshot.phase) {
                (Some(info), Phase::Active | Phase::Expiring | Phase::Refreshing) => error_from_info(&info, id),
                _ => Error::NotSignedIn(id.to_owned()),
            });
        }
        let secrets = match self.call(|reply| Command::Secrets { id: id.to_owned(), reply }).await?? {
            Some(secrets) => secrets,
            None => self.shared.vault.load_tokens(id).await?.ok_or_else(|| Error::NotSignedIn(id.to_owned()))?,
        };
        Ok(AccessToken { session: id.to_owned(), token: secrets.access_token, expires_at: snapshot.access_token_expires_at })
    }

    /// Completes the sign-in from the URL the provider redirected to. A redirect that does not carry
    /// the pending sign-in's `state` is refused and leaves that sign-in waiting; any other failure ends
    /// the attempt and stores nothing.
    pub async fn complete_sign_in(&self, id: &str, redirect: &Url) -> Result<SessionSnapshot> {
        let pending = self.call(|reply| Command::TakeSignIn { id: id.to_owned(), redirect: redirect.clone(), reply }).await??;
        let outcome = async {
            let record = self.call(|reply| Command::Record { id: id.to_owned(), reply }).await??;
            let provider = self.shared.providers.get(id, &record.provider).await?;
            let signed_in = provider.complete_sign_in(pending, redirect).await?;
            self.shared.vault.save_tokens(id, &signed_in.secrets).await?;
            Ok((signed_in.secrets, signed_in.times, signed_in.user))
        }
        .await;
        self.call(|reply| Command::FinishSignIn { id: id.to_owned(), outcome, reply }).await?
    }

    /// Abandons the sign-in in progress (the user closed the window).
    pub async fn cancel_sign_in(&self, id: &str) -> Result<SessionSnapshot> {
        self.call(|reply| Command::CancelSignIn { id: id.to_owned(), reply }).await?
    }

    /// Refreshes one session and waits for the result. `force` always calls the token endpoint;
    /// otherwise the session is refreshed only if due. Concurrent calls share one token request.
    pub async fn refresh(&self, id: &str, force: bool) -> Result<SessionSnapshot> {
        self.trigger(id, Trigger::Manual { force }).await
    }

    /// Sends one trigger to one session and waits until what it started has finished.
    pub async fn trigger(&self, id: &str, trigger: Trigger) -> Result<SessionSnapshot> {
        self.call(|reply| Command::Trigger { id: Some(id.to_owned()), trigger, reply: Some(reply) }).await?
    }

    /// Reports that the app window gained focus; the refresh handler decides what to do.
    pub fn window_focused(&self) {
        let _ = self.shared.host.send(HostEvent::WindowFocused);
    }

    /// Reports that the machine woke up: every session is checked at once against the wall clock.
    pub fn resumed(&self) {
        let _ = self.shared.host.send(HostEvent::Resumed);
        let _ = self.shared.commands.send(Command::Trigger { id: None, trigger: Trigger::Resume, reply: None });
    }

    /// Applies new settings at once: the refresh handler is destroyed and initialised again.
    pub fn set_policy(&self, policy: Policy) -> Result<()> {
        self.shared.commands.send(Command::SetPolicy { policy: policy.clone() }).map_err(|_| Error::Shutdown)?;
        self.init_handler(&policy);
        Ok(())
    }

    /// Signs out: revokes the refresh and access tokens at the provider (when reachable), deletes them
    /// from the vault and returns the provider's end-session URL. Succeeds with the provider offline.
    pub async fn sign_out(&self, id: &str) -> Result<SignOutOutcome> {
        let ticket = self.call(|reply| Command::BeginSignOut { id: id.to_owned(), reply }).await??;
        let secrets = match &ticket.secrets {
            Some(secrets) => Some(secrets.clone()),
            None => self.shared.vault.load_tokens(id).await.ok().flatten(),
        };
        let mut revocation = Revocation::default();
        let mut end_session_url = None;
        match self.shared.providers.get(id, &ticket.config).await {
            Ok(provider) => {
                if let Some(secrets) = &secrets {
                    revocation = provider.revoke(secrets).await;
                }
                end_session_url = provider.end_session_url(secrets.as_ref().and_then(|s| s.id_token.as_ref()));
            }
            Err(err) => revocation.problems.push(format!("the provider could not be reached: {err}")),
        }
        let deleted = self.shared.vault.delete_tokens(id).await;
        let session = self.call(|reply| Command::FinishSignOut { id: id.to_owned(), ticket, result: deleted, reply }).await??;
        Ok(SignOutOutcome { session, revocation, end_session_url })
    }

    /// Stops the scheduler and the refresh handler, and waits until the last state is saved.
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

struct Entry {
    record: SessionRecord,
    secrets: Option<SessionSecrets>,
    pending_sign_in: Option<PendingSignIn>,
    waiters: Vec<oneshot::Sender<Result<SessionSnapshot>>>,
    sign_outs: Vec<oneshot::Sender<Result<SignOutTicket>>>,
    /// Bumped when tokens are replaced or removed by sign-in or sign-out; results of tasks started
    /// before that are stale and ignored.
    generation: u64,
    /// New tokens that the vault has not accepted yet; retried on every wake.
    unsaved: bool,
    saving: bool,
    published: Option<SessionSnapshot>,
}

impl Entry {
    fn new(record: SessionRecord, secrets: Option<SessionSecrets>) -> Self {
        Self {
            record,
            secrets,
            pending_sign_in: None,
            waiters: Vec::new(),
            sign_outs: Vec::new(),
            generation: 0,
            unsaved: false,
            saving: false,
            published: None,
        }
    }

    fn busy(&self) -> bool {
        self.record.state.phase == Phase::Refreshing || self.record.state.validating
    }

    fn snapshot(&self, policy: &Policy) -> SessionSnapshot {
        let state = &self.record.state;
        SessionSnapshot {
            id: self.record.id.clone(),
            provider_name: self.record.provider.display_name.clone(),
            issuer: self.record.provider.issuer.clone(),
            sign_in_with: self.record.provider.sign_in_with,
            user: self.record.user.clone(),
            phase: state.phase,
            access_token_expires_at: state.tokens.and_then(|t| t.access_token_expires_at),
            refresh_token_expires_at: state.tokens.and_then(|t| t.refresh_token_expires_at),
            session_expires_at: state.session_expires_at,
            signed_in_at: state.signed_in_at,
            last_refresh_at: state.last_refresh_at,
            next_refresh_at: state.next_refresh_at(policy),
            has_refresh_token: state.tokens.is_some_and(|t| t.has_refresh_token),
            consecutive_failures: state.failures,
            last_error: state.last_error.clone(),
        }
    }
}

struct Scheduler {
    clock: Arc<dyn Clock>,
    policy: Policy,
    sessions: BTreeMap<String, Entry>,
    events: broadcast::Sender<SessionEvent>,
    providers: Arc<Providers>,
    vault: SecretVault,
    tasks: JoinSet<Completion>,
    task_sessions: HashMap<tokio::task::Id, (String, u64)>,
    persist: watch::Sender<Vec<SessionRecord>>,
    wake_interval: Duration,
}

impl Scheduler {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>, cancel: CancellationToken) {
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
            self.tick_all();
        }
        self.publish();
    }

    fn sleep_duration(&self) -> Duration {
        let now = self.clock.now();
        let mut sleep = self.wake_interval;
        for entry in self.sessions.values() {
            if let Some(deadline) = entry.record.state.next_deadline(now, &self.policy) {
                let until = (deadline - now).to_std().unwrap_or(Duration::ZERO);
                sleep = sleep.min(until);
            }
        }
        sleep
    }

    fn tick_all(&mut self) {
        let ids: Vec<String> = self.sessions.keys().cloned().collect();
        for id in ids {
            self.apply(&id, Event::Tick);
            let entry = self.sessions.get_mut(&id).expect("listed above");
            if entry.unsaved && !entry.saving {
                self.save_secrets(&id);
            }
        }
    }

    fn apply(&mut self, id: &str, event: Event) {
        let now = self.clock.now();
        let Some(entry) = self.sessions.get_mut(id) else { return };
        let (next, effects) = transition(&entry.record.state, &event, now, &self.policy);
        entry.record.state = next;
        for effect in effects {
            self.run_effect(id, effect);
        }
    }

    fn run_effect(&mut self, id: &str, effect: Effect) {
        let entry = self.sessions.get_mut(id).expect("effects come from existing sessions");
        let generation = entry.generation;
        let config = entry.record.provider.clone();
        let providers = self.providers.clone();
        let vault = self.vault.clone();
        let owned_id = id.to_owned();
        let handle = match effect {
            Effect::Refresh => {
                let secrets = entry.secrets.clone();
                let subject = entry.record.user.as_ref().map(|u| u.subject.clone());
                self.tasks.spawn(async move {
                    let result = refresh(&providers, &vault, &owned_id, &config, secrets, subject).await;
                    Completion::Refresh { id: owned_id, generation, result }
                })
            }
            Effect::Validate => {
                let secrets = entry.secrets.clone();
                self.tasks.spawn(async move {
                    let check = validate(&providers, &vault, &owned_id, &config, secrets).await;
                    Completion::Validate { id: owned_id, generation, check }
                })
            }
            Effect::Discard { revoke } => {
                let secrets = entry.secrets.take();
                entry.unsaved = false;
                self.tasks.spawn(async move {
                    if revoke
                        && let Some(secrets) = &secrets
                        && let Ok(provider) = providers.get(&owned_id, &config).await
                    {
                        let outcome = provider.revoke(secrets).await;
                        tracing::info!(session = %owned_id, ?outcome, "revoked tokens of an ended session");
                    }
                    if let Err(err) = vault.delete_tokens(&owned_id).await {
                        tracing::warn!(session = %owned_id, error = %err, "could not delete the tokens of an ended session");
                    }
                    Completion::Discarded
                })
            }
        };
        self.task_sessions.insert(handle.id(), (id.to_owned(), generation));
    }

    fn save_secrets(&mut self, id: &str) {
        let Some(entry) = self.sessions.get_mut(id) else { return };
        let Some(secrets) = entry.secrets.clone() else { return };
        entry.saving = true;
        let generation = entry.generation;
        let vault = self.vault.clone();
        let owned_id = id.to_owned();
        let handle = self.tasks.spawn(async move {
            let result = vault.save_tokens(&owned_id, &secrets).await;
            Completion::SecretsSaved { id: owned_id, generation, result }
        });
        self.task_sessions.insert(handle.id(), (id.to_owned(), generation));
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
                let failure = RefreshFailure::Transient(ErrorInfo {
                    kind: ErrorKind::ProviderUnavailable,
                    message: "An internal task failed; the session is kept and retried.".into(),
                });
                Completion::Refresh { id, generation, result: Err(failure) }
            }
        };
        match completion {
            Completion::Refresh { id, generation, result } => self.refreshed(&id, generation, result),
            Completion::Validate { id, generation, check } => {
                if self.is_current(&id, generation) {
                    let event = match check {
                        UserCheck::Valid(profile) => {
                            let entry = self.sessions.get_mut(&id).expect("checked");
                            if entry.record.user.as_ref().is_none_or(|u| u.subject == profile.subject) {
                                entry.record.user = Some(profile);
                            }
                            Event::Validated
                        }
                        UserCheck::Rejected => Event::ValidationRejected,
                        UserCheck::Unavailable(err) => {
                            tracing::info!(session = %id, error = %err, "userinfo check not possible now");
                            Event::ValidationUnavailable
                        }
                    };
                    self.apply(&id, event);
                }
                self.settle(&id, None);
            }
            Completion::SecretsSaved { id, generation, result } => {
                if let Some(entry) = self.sessions.get_mut(&id) {
                    entry.saving = false;
                    if entry.generation == generation {
                        match result {
                            Ok(()) => {
                                entry.unsaved = false;
                                if entry.record.state.last_error.as_ref().is_some_and(|e| is_keychain(e.kind)) {
                                    entry.record.state.last_error = None;
                                }
                            }
                            Err(err) => tracing::warn!(session = %id, error = %err, "new tokens still not saved"),
                        }
                    }
                }
            }
            Completion::Discarded => {}
        }
    }

    fn is_current(&self, id: &str, generation: u64) -> bool {
        self.sessions.get(id).is_some_and(|e| e.generation == generation)
    }

    fn refreshed(&mut self, id: &str, generation: u64, result: std::result::Result<Refreshed, RefreshFailure>) {
        if !self.is_current(id, generation) {
            return;
        }
        let mut failure_error = None;
        let event = match result {
            Ok(refreshed) => {
                let entry = self.sessions.get_mut(id).expect("checked");
                entry.secrets = Some(refreshed.secrets);
                if let Some(warning) = &refreshed.warning {
                    tracing::warn!(session = %id, "{warning}");
                }
                entry.unsaved = refreshed.unsaved.is_some();
                let warning = refreshed.unsaved.or(refreshed.warning.map(|w| ErrorInfo { kind: ErrorKind::ProviderMisbehaved, message: w }));
                Event::RefreshSucceeded { times: refreshed.times, warning }
            }
            Err(failure) => {
                let info = match &failure {
                    RefreshFailure::Transient(i) | RefreshFailure::Revoked(i) | RefreshFailure::Rejected(i) => i.clone(),
                };
                tracing::info!(session = %id, kind = ?info.kind, "refresh failed: {}", info.message);
                failure_error = Some(info);
                Event::RefreshFailed { failure, jitter: rand::rng().random::<f64>() }
            }
        };
        self.apply(id, event);
        self.settle(id, failure_error);
    }

    /// Answers everyone waiting on a session once nothing is in flight for it.
    fn settle(&mut self, id: &str, failure: Option<ErrorInfo>) {
        let policy = self.policy.clone();
        let Some(entry) = self.sessions.get_mut(id) else { return };
        if entry.busy() {
            return;
        }
        let snapshot = entry.snapshot(&policy);
        for waiter in entry.waiters.drain(..) {
            let answer = match &failure {
                Some(info) => Err(error_from_info(info, id)),
                None => Ok(snapshot.clone()),
            };
            let _ = waiter.send(answer);
        }
        if !entry.sign_outs.is_empty() {
            let waiting: Vec<_> = entry.sign_outs.drain(..).collect();
            for reply in waiting {
                let ticket = self.begin_sign_out(id);
                let _ = reply.send(ticket);
            }
        }
    }

    fn begin_sign_out(&mut self, id: &str) -> Result<SignOutTicket> {
        let now = self.clock.now();
        let entry = self.sessions.get_mut(id).ok_or_else(|| Error::UnknownSession(id.to_owned()))?;
        if !entry.record.state.is_signed_in() && entry.record.state.phase != Phase::Expired {
            return Err(Error::NotSignedIn(id.to_owned()));
        }
        let previous = entry.record.state.clone();
        entry.generation += 1;
        entry.pending_sign_in = None;
        entry.unsaved = false;
        let (next, _) = transition(&entry.record.state, &Event::SignedOut, now, &self.policy);
        entry.record.state = next;
        Ok(SignOutTicket { secrets: entry.secrets.take(), config: entry.record.provider.clone(), previous })
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Add { record, reply } => {
                let id = record.id.clone();
                if self.sessions.contains_key(&id) {
                    let _ = reply.send(Err(Error::SessionExists(id)));
                    return;
                }
                let entry = Entry::new(record, None);
                let _ = reply.send(Ok(entry.snapshot(&self.policy)));
                self.sessions.insert(id, entry);
            }
            Command::Remove { id, reply } => {
                let removed = self.sessions.remove(&id);
                if removed.is_some() {
                    let _ = self.events.send(SessionEvent::Removed { id: id.clone() });
                    self.persist_now();
                }
                let _ = reply.send(removed.map(|_| ()).ok_or(Error::UnknownSession(id)));
            }
            Command::Snapshots { reply } => {
                let _ = reply.send(self.sessions.values().map(|e| e.snapshot(&self.policy)).collect());
            }
            Command::Record { id, reply } => {
                let _ = reply.send(self.sessions.get(&id).map(|e| e.record.clone()).ok_or(Error::UnknownSession(id)));
            }
            Command::BeginSignIn { id, pending, reply } => {
                let Some(entry) = self.sessions.get_mut(&id) else {
                    let _ = reply.send(Err(Error::UnknownSession(id)));
                    return;
                };
                entry.pending_sign_in = Some(pending);
                self.apply(&id, Event::SignInStarted);
                let _ = reply.send(Ok(()));
            }
            Command::TakeSignIn { id, redirect, reply } => {
                let answer = match self.sessions.get_mut(&id) {
                    None => Err(Error::UnknownSession(id.clone())),
                    Some(entry) => match &entry.pending_sign_in {
                        None => Err(Error::NoSignInPending(id.clone())),
                        Some(pending) if !pending.matches(&redirect) => Err(Error::InvalidRedirect(
                            "its state does not belong to the sign-in in progress".into(),
                        )),
                        Some(_) => Ok(entry.pending_sign_in.take().expect("matched above")),
                    },
                };
                let _ = reply.send(answer);
            }
            Command::FinishSignIn { id, outcome, reply } => {
                let Some(entry) = self.sessions.get_mut(&id) else {
                    let _ = reply.send(Err(Error::UnknownSession(id)));
                    return;
                };
                match outcome {
                    Ok((secrets, times, user)) => {
                        entry.generation += 1;
                        entry.secrets = Some(secrets);
                        entry.unsaved = false;
                        entry.record.user = Some(user);
                        self.apply(&id, Event::SignedIn(times));
                        let entry = self.sessions.get(&id).expect("present");
                        let _ = reply.send(Ok(entry.snapshot(&self.policy)));
                    }
                    Err(err) => {
                        if entry.pending_sign_in.is_none() {
                            self.apply(&id, Event::SignInAbandoned);
                        }
                        let _ = reply.send(Err(err));
                    }
                }
            }
            Command::Secrets { id, reply } => {
                let answer = match self.sessions.get(&id) {
                    None => Err(Error::UnknownSession(id)),
                    Some(entry) => Ok(entry.secrets.clone()),
                };
                let _ = reply.send(answer);
            }
            Command::CancelSignIn { id, reply } => {
                let Some(entry) = self.sessions.get_mut(&id) else {
                    let _ = reply.send(Err(Error::UnknownSession(id)));
                    return;
                };
                entry.pending_sign_in = None;
                self.apply(&id, Event::SignInAbandoned);
                let _ = reply.send(Ok(self.sessions[&id].snapshot(&self.policy)));
            }
            Command::Trigger { id: None, trigger, .. } => {
                let ids: Vec<String> = self.sessions.keys().cloned().collect();
                for id in ids {
                    self.apply(&id, Event::Trigger(trigger));
                }
            }
            Command::Trigger { id: Some(id), trigger, reply } => {
                let Some(entry) = self.sessions.get(&id) else {
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(Error::UnknownSession(id)));
                    }
                    return;
                };
                if matches!(trigger, Trigger::Manual { .. }) && !entry.record.state.is_signed_in() {
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(Error::NotSignedIn(id)));
                    }
                    return;
                }
                self.apply(&id, Event::Trigger(trigger));
                let entry = self.sessions.get_mut(&id).expect("present");
                if let Some(reply) = reply {
                    if entry.busy() {
                        entry.waiters.push(reply);
                    } else {
                        let _ = reply.send(Ok(entry.snapshot(&self.policy)));
                    }
                }
            }
            Command::BeginSignOut { id, reply } => match self.sessions.get_mut(&id) {
                Some(entry) if entry.record.state.phase == Phase::Refreshing => entry.sign_outs.push(reply),
                _ => {
                    let ticket = self.begin_sign_out(&id);
                    let _ = reply.send(ticket);
                }
            },
            Command::FinishSignOut { id, ticket, result, reply } => {
                let Some(entry) = self.sessions.get_mut(&id) else {
                    let _ = reply.send(Err(Error::UnknownSession(id)));
                    return;
                };
                match result {
                    Ok(()) => {
                        let _ = reply.send(Ok(entry.snapshot(&self.policy)));
                    }
                    Err(err) => {
                        // The tokens are still in the keychain: the session stays as it was.
                        if entry.record.state.phase == Phase::SignedOut {
                            entry.record.state = ticket.previous;
                            entry.secrets = ticket.secrets;
                        }
                        let _ = reply.send(Err(err));
                    }
                }
            }
            Command::SetPolicy { policy } => self.policy = policy,
        }
    }

    fn persist_now(&mut self) {
        let records: Vec<SessionRecord> = self.sessions.values().map(|e| e.record.clone()).collect();
        self.persist.send_replace(records);
    }

    /// Emits an event per changed snapshot and hands changed records to the persister.
    fn publish(&mut self) {
        let mut changed = false;
        for entry in self.sessions.values_mut() {
            let snapshot = entry.snapshot(&self.policy);
            if entry.published.as_ref() != Some(&snapshot) {
                let _ = self.events.send(SessionEvent::Changed { session: snapshot.clone() });
                entry.published = Some(snapshot);
                changed = true;
            }
        }
        if changed {
            self.persist_now();
        }
    }
}

fn is_keychain(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::KeychainFailed | ErrorKind::KeychainLocked | ErrorKind::KeychainUnavailable)
}

fn error_from_info(info: &ErrorInfo, id: &str) -> Error {
    match info.kind {
        ErrorKind::SessionRevoked => Error::SessionRevoked(info.message.clone()),
        ErrorKind::NotSignedIn => Error::NotSignedIn(id.to_owned()),
        ErrorKind::KeychainLocked => Error::KeychainLocked,
        ErrorKind::KeychainUnavailable => Error::KeychainUnavailable(info.message.clone()),
        ErrorKind::KeychainFailed => Error::KeychainFailed(info.message.clone()),
        ErrorKind::ProviderMisbehaved => Error::ProviderMisbehaved { endpoint: "token endpoint".into(), detail: info.message.clone() },
        _ => Error::ProviderUnavailable { endpoint: "token endpoint".into(), detail: info.message.clone() },
    }
}

fn transient(err: Error) -> RefreshFailure {
    RefreshFailure::Transient(err.info())
}

/// One refresh: current tokens (from memory, else the vault), the token request, and on
/// `invalid_grant` one look at the vault in case another process rotated the token meanwhile.
async fn refresh(
    providers: &Providers,
    vault: &SecretVault,
    id: &str,
    config: &ProviderConfig,
    secrets: Option<SessionSecrets>,
    subject: Option<String>,
) -> std::result::Result<Refreshed, RefreshFailure> {
    let secrets = match secrets {
        Some(secrets) => secrets,
        None => vault
            .load_tokens(id)
            .await
            .map_err(transient)?
            .ok_or_else(|| RefreshFailure::Revoked(Error::SessionRevoked("no tokens in the keychain".into()).info()))?,
    };
    let provider = providers.authority(id, config).await.map_err(transient)?;
    let mut result = provider.refresh(&secrets, subject.as_deref()).await;
    if let Err(RefreshFailure::Revoked(_)) = &result
        && let Ok(Some(stored)) = vault.load_tokens(id).await
        && !stored.same_refresh_token(&secrets)
    {
        tracing::info!(session = %id, "refresh token was rotated elsewhere; retrying with the stored one");
        result = provider.refresh(&stored, subject.as_deref()).await;
    }
    let mut refreshed = result?;
    // Write through before anyone relies on the new tokens: the old refresh token is already spent.
    if let Err(err) = vault.save_tokens(id, &refreshed.secrets).await {
        tracing::warn!(session = %id, error = %err, "new tokens kept in memory until the keychain accepts them");
        refreshed.unsaved = Some(err.info());
    }
    Ok(refreshed)
}

async fn validate(
    providers: &Providers,
    vault: &SecretVault,
    id: &str,
    config: &ProviderConfig,
    secrets: Option<SessionSecrets>,
) -> UserCheck {
    let secrets = match secrets {
        Some(secrets) => secrets,
        None => match vault.load_tokens(id).await {
            Ok(Some(secrets)) => secrets,
            Ok(None) => return UserCheck::Unavailable(Error::NotSignedIn(id.to_owned())),
            Err(err) => return UserCheck::Unavailable(err),
        },
    };
    match providers.authority(id, config).await {
        Ok(provider) => provider.user_info(&secrets.access_token).await,
        Err(err) => UserCheck::Unavailable(err),
    }
}

/// Saves the latest records whenever they change; the last write wins, and a burst of changes
/// becomes one write. Runs until the scheduler drops its sender, then exits after the final save.
async fn persist(
    store: Arc<dyn MetadataStore>,
    mut records: watch::Receiver<Vec<SessionRecord>>,
    events: broadcast::Sender<SessionEvent>,
) {
    while records.changed().await.is_ok() {
        let latest = records.borrow_and_update().clone();
        let store = store.clone();
        let saved = tokio::task::spawn_blocking(move || store.save(&latest)).await;
        let error = match saved {
            Ok(Ok(())) => continue,
            Ok(Err(err)) => err.info(),
            Err(join_error) => ErrorInfo { kind: ErrorKind::StorageFailed, message: join_error.to_string() },
        };
        tracing::warn!("session metadata not saved: {}", error.message);
        let _ = events.send(SessionEvent::StorageFailed { error });
    }
}
