//! What the benchmarks on a scripted token authority share: sessions restored as if signed in earlier,
//! each holding tokens named after it (`rt-<session>`), so that the authority knows whose refresh
//! reaches it, and the answer it gives.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use session_core::{
    Event, JsonFileStore, MemoryVault, MetadataStore, Policy, ProviderConfig, RefreshAnswer, SecretVault, SessionRecord, SessionSecrets,
    SessionState, TokenTimes, UserProfile, Vault, transition,
};

pub fn user() -> UserProfile {
    UserProfile { subject: "u".into(), name: Some("A User".into()), email: Some("user@example.test".into()), preferred_username: None }
}

fn tokens(id: &str) -> SessionSecrets {
    SessionSecrets {
        access_token: SecretString::from(format!("at-{id}")),
        refresh_token: Some(SecretString::from(format!("rt-{id}"))),
        id_token: None,
    }
}

/// The session whose refresh token this is.
pub fn session_of(current: &SessionSecrets) -> String {
    current.refresh_token.as_ref().map(|t| t.expose_secret().trim_start_matches("rt-").to_owned()).unwrap_or_default()
}

/// New tokens for session `id`, with an access token valid until `expires`.
pub fn answer(id: &str, expires: DateTime<Utc>) -> RefreshAnswer {
    RefreshAnswer::new(
        tokens(id),
        TokenTimes {
            access_token_expires_at: Some(expires),
            refresh_token_expires_at: None,
            has_refresh_token: true,
            refresh_token_online: false,
        },
        None,
    )
}

/// The session file the app uses (JSON, written atomically), in a folder of its own that is removed
/// when the returned guard drops.
pub struct SessionFile {
    folder: std::path::PathBuf,
    pub store: Arc<JsonFileStore>,
}

impl Default for SessionFile {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionFile {
    /// A new, empty session file in a folder of this process.
    pub fn new() -> Self {
        let folder = std::env::temp_dir().join(format!("session-keeper-bench-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let store = Arc::new(JsonFileStore::new(folder.join("sessions.json")));
        SessionFile { folder, store }
    }
}

impl Drop for SessionFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// `store` (saved) and a vault holding `sessions`: (name, when signed in, when its access token expires).
pub async fn restored(
    store: &dyn MetadataStore,
    sessions: impl IntoIterator<Item = (String, DateTime<Utc>, DateTime<Utc>)>,
    policy: &Policy,
) -> Arc<MemoryVault> {
    let vault = Arc::new(MemoryVault::new());
    let secrets = SecretVault::new(vault.clone() as Arc<dyn Vault>, Duration::from_secs(5));
    let mut records = Vec::new();
    for (id, signed_in, expires) in sessions {
        let times = TokenTimes {
            access_token_expires_at: Some(expires),
            refresh_token_expires_at: None,
            has_refresh_token: true,
            refresh_token_online: false,
        };
        let (state, _) = transition(
            &SessionState::signed_out(),
            &Event::SignedIn { times, user: user(), warning: None, auth_time: None },
            signed_in,
            policy,
        );
        records.push(SessionRecord {
            id: session_core::SessionName::new(&id).unwrap(),
            provider: ProviderConfig::new("https://id.example.com", "client"),
            state,
        });
        secrets.save_tokens(&id, &tokens(&id)).await.unwrap();
    }
    store.save(&records.iter().collect::<Vec<_>>()).unwrap();
    vault
}
