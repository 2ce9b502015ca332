//! # tauri-plugin-session-keeper
//!
//! OpenID Connect sessions for a Tauri app, as a plugin over `session-core`: sign-in in the app's own
//! window (or the system browser), tokens in the OS keychain, refresh before expiry (coalesced, safe
//! against refresh-token rotation races), revocation at sign-out, and every change told to the pages.
//!
//! ```ignore
//! tauri::Builder::default()
//!     .plugin(tauri_plugin_session_keeper::init())
//!     .run(tauri::generate_context!())
//!     .expect("error while running tauri application");
//! ```
//!
//! A page reads sessions (snapshots, never a token) with the `default` permission; the access token
//! reaches a page only through `get_access_token`, whose `allow-get-access-token` permission an app
//! grants to a window on purpose. Provider windows show remote content and match no capability.
//!
//! Events, emitted to every window: `session-keeper://changed` (a `SessionEvent`),
//! `session-keeper://replaced` (every snapshot, after a listener fell behind) and
//! `session-keeper://sign-in-finished` (`{ id, error }`).

mod commands;
mod error;
mod keeper;
mod models;
mod windows;

use std::sync::Arc;

use session_core::{JsonFileStore, KeyringVault, MetadataStore, SessionManagerBuilder};
use tauri::plugin::TauriPlugin;
use tauri::{AppHandle, Emitter, Manager, RunEvent, WindowEvent, Wry};
use tokio::sync::broadcast::error::RecvError;

pub use error::{Error, ErrorPayload, Kind, PluginKind, Result, answer};
pub use keeper::{SessionKeeper, end_session_page_helps};
pub use models::{AccessTokenAnswer, RefreshSettings, SessionList, SignedOut};
/// The core, for what an app configures: a new app needs no second dependency for the builder line.
pub use session_core::{
    self, EnablePeriodically, Policy, ProviderConfig, SessionEvent, SessionManager, SessionSnapshot, SignInWith, Vault,
};
pub use windows::{SIGN_IN_FINISHED, SignInFinished};

/// The event carrying every [`SessionEvent`] to the pages.
pub const CHANGED: &str = "session-keeper://changed";
/// The event carrying every snapshot when a listener fell behind (instead of the missed steps).
pub const REPLACED: &str = "session-keeper://replaced";

/// An error an app's own start-up code returns when it builds the session manager itself.
pub type BoxError = Box<dyn std::error::Error>;

type MakeManager = Box<dyn FnOnce(&AppHandle, &dyn Fn() -> SessionManagerBuilder) -> std::result::Result<SessionManager, BoxError> + Send>;

/// Reaches the plugin's state from an app, a window or a handle: `app.session_keeper()`.
pub trait SessionKeeperExt {
    /// The plugin's state: the core's manager, sign-in and sign-out as the commands do them.
    fn session_keeper(&self) -> &SessionKeeper;
}

impl<M: Manager<Wry>> SessionKeeperExt for M {
    fn session_keeper(&self) -> &SessionKeeper {
        self.state::<SessionKeeper>().inner()
    }
}

/// The plugin with its defaults: the policy's defaults, the OS keychain (service = the app's
/// identifier), the session list in `<app data>/sessions.json`, no provider declared (a page or the
/// app adds them through the core).
pub fn init() -> TauriPlugin<Wry> {
    Builder::new().build()
}

/// Sets the plugin up: the policy, the providers, where tokens and the session list are kept, or the
/// app's own session manager.
#[derive(Default)]
pub struct Builder {
    policy: Policy,
    providers: Vec<(String, ProviderConfig)>,
    vault: Option<Arc<dyn Vault>>,
    store: Option<Arc<dyn MetadataStore>>,
    ephemeral_sign_in: bool,
    make: Option<MakeManager>,
}

impl Builder {
    /// A builder with the defaults of [`init`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The refresh and lifetime policy (`enablePeriodically`, `enableOnWindowFocus`, lead time, …).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// A provider, as the session `name`: added at start when no session of that name exists yet
    /// (its discovery document is fetched then; a provider out of reach is logged and tried at the
    /// next start).
    pub fn provider(mut self, name: impl Into<String>, config: ProviderConfig) -> Self {
        self.providers.push((name.into(), config));
        self
    }

    /// Where tokens are kept (default: the OS keychain, service = the app's identifier).
    pub fn vault(mut self, vault: Arc<dyn Vault>) -> Self {
        self.vault = Some(vault);
        self
    }

    /// Where the session list (no secret) is kept (default: `<app data>/sessions.json`).
    pub fn store(mut self, store: Arc<dyn MetadataStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Whether sign-in windows keep no provider cookies (a private web context each time; default off).
    pub fn ephemeral_sign_in(mut self, ephemeral: bool) -> Self {
        self.ephemeral_sign_in = ephemeral;
        self
    }

    /// For an app that builds its session manager itself (its own vault, a session list it sets aside
    /// when unreadable): `make` gets the app and a maker of builders that carry the plugin's pieces
    /// (the policy, and the hidden windows of silent sign-in unless sign-in is ephemeral), adds its own
    /// and builds. Called once, in the plugin's setup; `vault` and `store` are then the app's business.
    pub fn manager_with(
        mut self,
        make: impl FnOnce(&AppHandle, &dyn Fn() -> SessionManagerBuilder) -> std::result::Result<SessionManager, BoxError> + Send + 'static,
    ) -> Self {
        self.make = Some(Box::new(make));
        self
    }

    /// The plugin.
    pub fn build(self) -> TauriPlugin<Wry> {
        tauri::plugin::Builder::<Wry>::new("session-keeper")
            .invoke_handler(tauri::generate_handler![
                commands::get_session,
                commands::sign_in,
                commands::cancel_sign_in,
                commands::refresh,
                commands::sign_out,
                commands::get_access_token,
                commands::get_refresh_settings,
                commands::set_refresh_settings,
                commands::set_silent_sign_in,
            ])
            .setup(move |app, _api| {
                let keeper = self.start(app)?;
                let events = keeper.manager.subscribe();
                app.manage(keeper);
                tauri::async_runtime::spawn(forward_events(app.clone(), events));
                Ok(())
            })
            .on_event(|app, event| {
                let Some(keeper) = app.try_state::<SessionKeeper>() else { return };
                match event {
                    // The focus trigger: one of the app's own windows gained focus.
                    RunEvent::WindowEvent { label, event: WindowEvent::Focused(true), .. } if !windows::is_provider_window(label) => {
                        keeper.manager.window_focused();
                    }
                    // Let the core finish a refresh in flight (bounded) and save before the process ends.
                    RunEvent::Exit => tauri::async_runtime::block_on(keeper.manager.shutdown()),
                    _ => {}
                }
            })
            .build()
    }

    /// Builds (or has the app build) the session manager, adds the declared providers, and makes the
    /// plugin's state.
    fn start(self, app: &AppHandle) -> std::result::Result<SessionKeeper, BoxError> {
        let data = app.path().app_data_dir()?;
        std::fs::create_dir_all(&data)?;
        let policy = self.policy.clone();
        // Silent sign-in needs the provider's cookie, which an ephemeral sign-in does not keep.
        let silent = (!self.ephemeral_sign_in).then(|| Arc::new(windows::silent::HiddenWindows::new(app.clone())));
        let pieces = {
            let policy = policy.clone();
            move || {
                let builder = SessionManager::builder().policy(policy.clone());
                match &silent {
                    Some(browser) => builder.silent_browser(browser.clone()),
                    None => builder,
                }
            }
        };
        let manager = match self.make {
            Some(make) => make(app, &pieces)?,
            None => {
                let vault = self.vault.unwrap_or_else(|| Arc::new(KeyringVault::new(app.config().identifier.clone())));
                let store = self.store.unwrap_or_else(|| Arc::new(JsonFileStore::new(data.join("sessions.json"))));
                tauri::async_runtime::block_on(pieces().vault(vault).store(store).build())?
            }
        };
        tauri::async_runtime::block_on(add_providers(&manager, self.providers));
        Ok(SessionKeeper::new(app.clone(), manager, policy, data.join("sign-in-web-data"), self.ephemeral_sign_in))
    }
}

/// Adds each declared provider that has no session yet.
async fn add_providers(manager: &SessionManager, providers: Vec<(String, ProviderConfig)>) {
    let known: Vec<String> = manager.snapshots().await.unwrap_or_default().into_iter().map(|session| session.id.to_string()).collect();
    for (name, config) in providers.into_iter().filter(|(name, _)| !known.contains(name)) {
        if let Err(err) = manager.add_session(&name, config, None).await {
            tracing::warn!(session = %name, error = %err, "the provider could not be added; it is tried again at the next start");
        }
    }
}

/// Forwards every core event to the pages; a listener that fell behind gets the whole picture.
async fn forward_events(app: AppHandle, mut events: tokio::sync::broadcast::Receiver<SessionEvent>) {
    loop {
        match events.recv().await {
            Ok(event) => {
                let _ = app.emit(CHANGED, &event);
            }
            Err(RecvError::Lagged(_)) => {
                if let Ok(sessions) = app.session_keeper().manager.snapshots().await {
                    let _ = app.emit(REPLACED, &sessions);
                }
            }
            Err(RecvError::Closed) => break,
        }
    }
}
