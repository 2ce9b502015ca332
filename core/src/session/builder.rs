//! Configures and starts a [`SessionManager`]: loads the stored sessions (each through
//! [`Event::Restored`]) and their tokens, then spawns the actor, the persister and the refresh handler.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::actor::Actor;
use super::deadlines::Deadlines;
use super::effects::Runner;
use super::entry::Entry;
use super::handle::{SessionManager, Shared};
use super::handler::{DefaultRefreshHandler, RefreshHandler};
use super::machine::transition;
use super::persist::{RecordBook, persist};
use super::providers::Providers;
use super::silent::SilentBrowser;
use super::state::{Event, Network};
use super::store::{MemoryStore, MetadataStore};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::oidc::{TokenAuthority, http_client};
use crate::policy::Policy;
use crate::vault::{SecretVault, Vault};

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
    silent: Option<Arc<dyn SilentBrowser>>,
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
            silent: None,
        }
    }
}

impl SessionManager {
    /// Starts configuring a manager.
    pub fn builder() -> SessionManagerBuilder {
        SessionManagerBuilder::default()
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

    /// Refresh and lifetime settings (default: [`Policy::default`]); checked by [`Policy::validate`]
    /// when the manager is built.
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
    #[cfg(any(test, feature = "test-util"))]
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

    /// The browser nobody sees that carries silent sign-ins (`prompt=none`) for sessions signed in in
    /// the embedded window (default: none, and no silent sign-in: sessions end when their refresh token
    /// does, as in a CLI or a test).
    pub fn silent_browser(mut self, browser: Arc<dyn SilentBrowser>) -> Self {
        self.silent = Some(browser);
        self
    }

    /// Loads the stored sessions and their tokens and starts the actor. When this returns, the
    /// snapshots are the true state (the UI's `ready`).
    pub async fn build(self) -> Result<SessionManager> {
        self.policy.validate()?;
        let vault_impl = self.vault.ok_or_else(|| Error::InvalidConfiguration("A vault is required (KeyringVault in the app).".into()))?;
        let vault = SecretVault::new(vault_impl, self.vault_timeout);
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::default()));
        let store_for_load = store.clone();
        let records = tokio::task::spawn_blocking(move || store_for_load.load()).await.map_err(|err| Error::StorageFailed {
            path: "the session list".into(),
            detail: "reading it stopped unexpectedly".into(),
            advice: "Start Session Keeper again.",
            source: Some(crate::Cause(err.to_string())),
        })??;
        let providers = Arc::new(Providers::new(
            http_client(self.request_timeout, self.clock.clone())?,
            vault.clone(),
            self.clock.clone(),
            self.authority,
        ));
        let now = self.clock.now();
        let runner = Runner {
            providers: providers.clone(),
            vault: vault.clone(),
            silent: self.silent,
            silent_timeout: self.policy.lifetime.silent_sign_in_timeout,
        };
        let mut sessions = BTreeMap::new();
        for mut record in records {
            record.state.silent.browser = runner.can_sign_in_silently(&record.provider);
            (record.state, _) = transition(&record.state, &Event::Restored, now, &self.policy);
            // A keychain that is locked or not yet running now is retried by the first refresh.
            let secrets = if record.state.is_signed_in() { vault.load_tokens(&record.id).await.ok().flatten() } else { None };
            sessions.insert(record.id.clone(), Entry::new(record, secrets));
        }
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(256);
        let (host, _) = broadcast::channel(16);
        let cancel = CancellationToken::new();
        let (book, reader) = RecordBook::new(sessions.values().map(|e: &Entry| e.record().clone()));
        let persister = tokio::spawn(persist(store, reader, events.clone()));
        let actor = Actor {
            clock: self.clock,
            policy: self.policy.clone(),
            sessions,
            events: events.clone(),
            runner,
            tasks: JoinSet::new(),
            task_sessions: HashMap::new(),
            deadlines: Deadlines::default(),
            dirty: BTreeSet::new(),
            book,
            wake_interval: self.wake_interval,
            // A refresh in flight at shutdown ends within its own timeouts.
            stop_grace: self.request_timeout + self.vault_timeout,
            answers: Vec::new(),
            network: Network::Online,
        };
        let actor = tokio::spawn(actor.run(commands_rx, cancel.clone()));
        let manager = SessionManager {
            shared: Arc::new(Shared {
                commands: commands_tx,
                events,
                host,
                cancel,
                handler: Mutex::new(self.handler),
                providers,
                vault,
                tasks: Mutex::new(vec![actor, persister]),
            }),
        };
        manager.init_handler(&self.policy);
        Ok(manager)
    }
}
