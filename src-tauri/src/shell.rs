//! The shell's state, managed by Tauri: the session core (the session plugin's, built on the desktop
//! vault: the keychain, else the sealed vault), the settings in force, the notice book and the broker.
//! Settings change in one place ([`Shell::update_settings`]), which applies them to the plugin, tells
//! the page (`settings-changed`) and saves them.

use std::sync::{Arc, Mutex};

use session_core::{JsonFileStore, Policy, ProviderConfig, SessionManager};
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_session_keeper::SessionKeeperExt;

use crate::api::AppState;
use crate::broker::{Broker, DesktopHost};
use crate::error::Result;
use crate::notices;
use crate::settings::{self, Settings, SettingsBook, SettingsHost};
use crate::vaults::Vaults;

/// The page event carrying the settings in force after every change, wherever it came from (the
/// settings panel, a card, a consent answer, a removed session).
pub const SETTINGS_CHANGED: &str = "settings-changed";

/// The shell's state, managed by Tauri.
pub struct Shell {
    /// The session core.
    pub manager: SessionManager,
    settings: SettingsBook,
    settings_file: settings::SettingsFile<tauri::Wry>,
    /// What the notices have said of each session.
    pub notices: Mutex<notices::NoticeBook>,
    warnings: Arc<Mutex<Vec<String>>>,
    /// Hands tokens to the user's other programs, asking the user first.
    pub broker: Broker,
    /// Where the tokens live: the keychain, the sealed vault, or memory.
    pub vaults: Vaults,
    /// Started by the login autostart entry: the window stays hidden until asked for.
    pub background: bool,
    app: AppHandle,
}

impl Shell {
    /// The settings in force.
    pub fn settings(&self) -> Settings {
        self.settings.get()
    }

    /// Changes the settings ([`SettingsBook::update`]: checked, applied to the core, told to the page,
    /// saved). Every change goes through here, so the page hears of each one once.
    pub fn update_settings(&self, change: impl FnOnce(&mut Settings) -> Result<()>) -> Result<Settings> {
        self.settings.update(self, change)
    }

    /// Everything the page needs for its first paint.
    pub async fn app_state(&self, launch_at_login: bool) -> Result<AppState> {
        let sessions = self.manager.snapshots().await?;
        Ok(AppState {
            vault: self.vaults.state(&sessions, None),
            sessions,
            settings: self.settings(),
            warnings: self.warnings.lock().expect("warnings poisoned").clone(),
            launch_at_login,
            questions: self.broker.consent().questions(),
        })
    }

    /// Removes a session (the core signs it out first if needed), and what the settings say of it.
    pub async fn remove_session(&self, id: &str) -> Result<()> {
        self.manager.remove_session(id).await?;
        self.update_settings(|settings| settings.forget_session(id)).map(drop)
    }
}

impl SettingsHost for Shell {
    fn apply(&self, policy: Policy) -> Result<()> {
        Ok(self.app.session_keeper().set_policy(policy)?)
    }

    fn changed(&self, settings: &Settings) {
        self.app.session_keeper().set_ephemeral_sign_in(settings.ephemeral_sign_in);
        let _ = self.app.emit_to("main", SETTINGS_CHANGED, settings);
    }

    fn save(&self, settings: &Settings) -> Result<()> {
        self.settings_file.save(settings)
    }
}

/// What the shell opens before the session plugin starts: the settings and the vaults.
pub struct Opened {
    settings_file: settings::SettingsFile<tauri::Wry>,
    settings: Settings,
    base_policy: Policy,
    vaults: Vaults,
    warnings: Arc<Mutex<Vec<String>>>,
}

/// Opens the settings and the vaults.
pub async fn open(app: &AppHandle) -> std::result::Result<Opened, Box<dyn std::error::Error>> {
    let data = app.path().app_data_dir()?;
    std::fs::create_dir_all(&data)?;
    let (settings_file, settings, settings_warning) = settings::SettingsFile::open(app)?;
    // Whether a Secret Service is there decides, before the page first asks, whether it asks for the
    // sealed vault's passphrase; `vaults::watch` follows it from then on.
    let vaults = Vaults::new(&data, crate::vaults::secret_service_present().await);
    let warnings = Arc::new(Mutex::new(settings_warning.into_iter().collect()));
    Ok(Opened { settings_file, settings, base_policy: Policy::default(), vaults, warnings })
}

/// The session plugin, on this app's pieces: the settings' policy and sign-in window, the desktop
/// vault, and the session list set aside (with a warning for the page) when it cannot be read.
pub fn session_plugin(opened: &Opened) -> tauri::plugin::TauriPlugin<tauri::Wry> {
    let vault = opened.vaults.vault();
    let warnings = opened.warnings.clone();
    tauri_plugin_session_keeper::Builder::new()
        .policy(opened.settings.policy(&opened.base_policy))
        .ephemeral_sign_in(opened.settings.ephemeral_sign_in)
        .manager_with(move |app, pieces| {
            let sessions_path = app.path().app_data_dir()?.join("sessions.json");
            let build = || tauri::async_runtime::block_on(pieces().vault(vault.clone()).store(Arc::new(JsonFileStore::new(&sessions_path))).build());
            match build() {
                Ok(manager) => Ok(manager),
                Err(err) if err.kind() == session_core::ErrorKind::StorageFailed => {
                    // Unreadable session list: keep it for the user, start afresh. Tokens stay in the keychain.
                    let aside = settings::keep_aside(&sessions_path).ok_or(err.to_string())?;
                    tracing::warn!(error = %err, "session list unreadable, moved aside");
                    warnings.lock().expect("warnings poisoned").push(format!(
                        "The session list could not be read, so Session Keeper started with no sessions. The old file was kept as {}; the tokens stay in the keychain.",
                        aside.display()
                    ));
                    Ok(build()?)
                }
                Err(err) => Err(err.into()),
            }
        })
        .build()
}

/// Builds the shell's state once the session plugin has started (the demo provider added when asked
/// for and no session exists).
pub async fn start(app: &AppHandle, opened: Opened) -> std::result::Result<Shell, Box<dyn std::error::Error>> {
    let manager: SessionManager = app.session_keeper().manager().clone();
    if let Ok(issuer) = std::env::var(crate::DEMO_ISSUER_ENV)
        && manager.snapshots().await?.is_empty()
    {
        let mut demo = ProviderConfig::new(issuer, "session-keeper");
        demo.display_name = "Demo provider".into();
        demo.post_logout_redirect_uri = session_core::RedirectUri::parse("http://127.0.0.1/signed-out").ok();
        if let Err(err) = manager.add_session("Demo", demo, None).await {
            opened.warnings.lock().expect("warnings poisoned").push(format!("The demo provider could not be added: {err}"));
        }
    }

    Ok(Shell {
        broker: Broker::new(DesktopHost::new(app.clone()), manager.clone()),
        manager,
        vaults: opened.vaults,
        settings: SettingsBook::new(opened.settings, opened.base_policy),
        settings_file: opened.settings_file,
        notices: Mutex::new(notices::NoticeBook::default()),
        warnings: opened.warnings,
        background: std::env::args().any(|arg| arg == crate::BACKGROUND_ARG),
        app: app.clone(),
    })
}
