//! Discovered providers, by session, shared by the actor's tasks and the handle. A session that needs
//! its provider and has none yet (after a start) takes the latest discovery of a session with the same
//! settings and a public client (no client secret): metadata, signing keys and clock offset are the
//! provider's, not the session's. With 10,000 sessions of one provider that is one discovery after a
//! start instead of 10,000. A sign-in still discovers afresh for its own session (fresh endpoints and
//! keys), and its discovery becomes the one later sessions take.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::Clock;
use crate::error::Result;
use crate::oidc::{Provider, ProviderHttp, TokenAuthority};
use crate::provider::ProviderConfig;
use crate::vault::SecretVault;

pub(crate) struct Providers {
    pub http: ProviderHttp,
    pub vault: SecretVault,
    pub clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<String, Arc<Provider>>>,
    /// Discoveries of public clients by their settings (as JSON), for the sessions that share them.
    by_settings: Mutex<HashMap<String, Arc<Provider>>>,
    authority: Option<Arc<dyn TokenAuthority>>,
}

impl Providers {
    pub fn new(http: ProviderHttp, vault: SecretVault, clock: Arc<dyn Clock>, authority: Option<Arc<dyn TokenAuthority>>) -> Self {
        Self { http, vault, clock, cache: Mutex::new(HashMap::new()), by_settings: Mutex::new(HashMap::new()), authority }
    }

    /// Who answers background refreshes and checks for this session.
    pub async fn authority(&self, id: &str, config: &ProviderConfig) -> Result<Arc<dyn TokenAuthority>> {
        match &self.authority {
            Some(authority) => Ok(authority.clone()),
            None => Ok(self.get(id, config).await?),
        }
    }

    /// Discovers the provider again (fresh endpoints and signing keys) and caches it.
    pub async fn discover(&self, id: &str, config: &ProviderConfig) -> Result<Arc<Provider>> {
        let client_secret = if config.has_client_secret { self.vault.load_client_secret(id).await? } else { None };
        let provider = Arc::new(Provider::discover(&self.http, config, client_secret, self.clock.clone()).await?);
        self.insert(id, provider.clone());
        Ok(provider)
    }

    /// The cached provider of a session, discovered if its settings changed or it is not cached.
    pub async fn get(&self, id: &str, config: &ProviderConfig) -> Result<Arc<Provider>> {
        let cached = self.cache.lock().expect("provider cache poisoned").get(id).cloned();
        if let Some(provider) = cached
            && provider.config() == config
        {
            return Ok(provider);
        }
        let shared =
            Self::settings_key(config).and_then(|key| self.by_settings.lock().expect("provider cache poisoned").get(&key).cloned());
        match shared {
            Some(provider) => {
                self.cache.lock().expect("provider cache poisoned").insert(id.to_owned(), provider.clone());
                Ok(provider)
            }
            None => self.discover(id, config).await,
        }
    }

    /// What sessions that may share a discovery have in common: all their settings, for a client
    /// without a secret (a session with one keeps its own client).
    fn settings_key(config: &ProviderConfig) -> Option<String> {
        if config.has_client_secret {
            return None;
        }
        serde_json::to_string(config).ok()
    }

    /// The session's provider's clock minus ours, as far as its answers so far tell (none if it has
    /// not been reached since the start).
    pub fn clock_offset(&self, id: &str) -> chrono::TimeDelta {
        let cache = self.cache.lock().expect("provider cache poisoned");
        cache.get(id).map(|provider| provider.clock_offset()).unwrap_or_default()
    }

    pub fn insert(&self, id: &str, provider: Arc<Provider>) {
        if let Some(key) = Self::settings_key(provider.config()) {
            self.by_settings.lock().expect("provider cache poisoned").insert(key, provider.clone());
        }
        self.cache.lock().expect("provider cache poisoned").insert(id.to_owned(), provider);
    }

    pub fn forget(&self, id: &str) {
        self.cache.lock().expect("provider cache poisoned").remove(id);
    }
}
