//! `session-core`: the whole OpenID Connect session lifecycle, headless.
//!
//! A [`SessionManager`] owns named sessions. Each is signed in through an authorization-code flow with
//! PKCE ([`SessionManager::begin_sign_in`] gives the URL to open, [`SessionManager::complete_sign_in`]
//! takes the redirect), keeps its tokens in a [`Vault`] (the OS keychain), refreshes them before they
//! expire, on focus, periodically or on demand with concurrent triggers coalesced into one token
//! request, and signs out with revocation and the provider's end-session URL. Every change is
//! published as a secret-free [`SessionSnapshot`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use session_core::{JsonFileStore, KeyringVault, ProviderConfig, SessionManager};
//!
//! # async fn demo(redirect: url::Url) -> session_core::Result<()> {
//! let manager = SessionManager::builder()
//!     .vault(Arc::new(KeyringVault::new("session-keeper")))
//!     .store(Arc::new(JsonFileStore::new("/tmp/sessions.json")))
//!     .build()
//!     .await?;
//! manager.add_session("work", ProviderConfig::new("https://id.example.com", "my-client"), None).await?;
//! let url = manager.begin_sign_in("work").await?;
//! // Open `url` in a browser window; when it navigates to the redirect URI, hand that URL back:
//! let session = manager.complete_sign_in("work", &redirect).await?;
//! println!("signed in as {:?}, access token expires at {:?}", session.user, session.access_token_expires_at);
//! let mut events = manager.subscribe(); // forward these to the UI
//! # let _ = events.recv().await;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod clock;
mod error;
mod loopback;
mod names;
mod oidc;
mod policy;
mod process;
mod provider;
mod secret;
mod session;
mod text;
pub mod tls;
mod user;
mod vault;

#[cfg(any(test, feature = "test-util"))]
pub use clock::TestClock;
pub use clock::{Clock, SystemClock};
pub use error::{Cause, Error, ErrorInfo, ErrorKind, Result, causes};
pub use names::{ClientId, Issuer, RedirectUri, SessionName};
pub use oidc::{
    BoxFuture, EndSessionUrl, REFRESH_TOKEN_HEAD_START, REVOCATION_BOUND, RefreshAnswer, Refreshed, RevocableToken, Revocation,
    TokenAuthority, UserCheck,
};
pub use policy::{EnablePeriodically, Policy, RefreshPolicy, SessionLifetime};
pub use process::limit_allocator_arenas;
pub use provider::{DEFAULT_REDIRECT_URI, DEFAULT_SCOPES, ProviderConfig, SignInWith};
pub use secret::SessionSecrets;
pub use session::{
    AccessToken, DefaultRefreshHandler, Effect, EndReason, Event, HISTORY_MAX, HISTORY_SPAN, History, HostEvent, KeychainCopy, Made, Mark,
    MarkKind, Narrowing, Network, Phase, REVOKED_MESSAGE, RefreshContext, RefreshFailure, RefreshHandler, Refusal, SessionEvent,
    SessionManager, SessionManagerBuilder, SessionSnapshot, SessionState, Shown, SignOutOutcome, Silent, SilentAttempt, SilentBrowser,
    SilentOutcome, SilentRequest, SilentResult, SilentSnapshot, TokenKind, TokenRequest, TokenTimes, Trigger, TriggerSink, Waiter,
    cookie_store_key, transition,
};
pub use session::{JsonFileStore, MemoryStore, MetadataStore, SessionRecord};
pub use user::{UserProfile, Who};
pub use vault::{DesktopVault, KeyringVault, MemoryVault, SealedVault, SecretVault, Vault, VaultInUse};
