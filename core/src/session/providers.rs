//! Discovered providers, by session, shared by the actor's tasks and the handle.

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
    authority: Option<Arc<dyn TokenAuthority>>,
}

impl Providers {
    pub fn new(http: ProviderHttp, vault: SecretVault, clock: Arc<dyn Clock>, authority: Option<Arc<dyn TokenAuthority>>) -> Self {
        Self { http, vault, clock, cache: Mutex::new(HashMap::new()), authority }
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
        match cached {
            Some(provider) if provider.config() == config => Ok(provider),
            _ => self.discover(id, config).await,
        }
    }

    /// The session's provider's clock minus ours, as far as its answers so far tell (none if it has
    /// not been reached since the start).
    pub fn clock_offset(&self, id: &str) -> chrono::TimeDelta {
        let cache = self.cache.lock().expect("provider cache poisoned");
        cache.get(id).map(|provider| provider.clock_offset()).unwrap_or_default()
    }

    pub fn insert(&self, id: &str, provider: Arc<Provider>) {
        self.cache.lock().expect("provider cache poisoned").insert(id.to_owned(), provider);
    }

    pub fn forget(&self, id: &str) {
        self.cache.lock().expect("provider cache poisoned").remove(id);
    }
}
