//! The shell's state, managed by Tauri: the session core (built on the desktop vault: the keychain,
//! else the sealed vault), the settings in force, the notice book, the provider windows and the broker. Settings change in one place ([`Shell::update_settings`]), which
//! applies them to the core, tells the page (`settings-changed`) and saves them.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use session_core::{JsonFileStore, MetadataStore, Policy, ProviderConfig, SessionManager};
use tauri::{AppHandle, Emitter, Manager};

use crate::api::{AppState, SignedOut};
use crate::broker::{Broker, DesktopHost};
use crate::error::Result;
use crate::settings::{self, Settings, SettingsBook, SettingsHost};
use crate::vaults::Vaults;
use crate::{notices, windows};

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
    warnings: Mutex<Vec<String>>,
    /// The sign-in and sign-out windows of the sessions.
    pub windows: windows::ProviderWindows,
    /// Hands tokens to the user's other programs, asking the user first.
    pub broker: Broker,
    /// Where the tokens live: the keychain, the sealed vault, or memory.
    pub vaults: Vaults,
    /// Where the sign-in window keeps the provider's cookies.
    pub sign_in_web_data: PathBuf,
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
        Ok(self.manager.set_policy(policy)?)
    }

    fn changed(&self, settings: &Settings) {
        let _ = self.app.emit_to("main", SETTINGS_CHANGED, settings);
    }

    fn save(&self, settings: &Settings) -> Result<()> {
        self.settings_file.save(settings)
    }
}

/// Signs one session out (the card's button and the tray's Sign out all): revokes at the provider,
/// deletes the tokens, and opens the provider's end-session page where it can end a provider session.
pub async fn sign_out_session(app: &AppHandle, id: &str) -> Result<SignedOut> {
    let shell = app.state::<Shell>();
    let config = shell.manager.provider_config(id).await?;
    let outcome = shell.manager.sign_out(id).await?;
    let mut notice = outcome.revocation.notice;
    let end_session_opened = match outcome.end_session_url {
        Some(url) if crate::api::end_session_page_helps(&shell.settings(), &config) => match windows::visit_end_session(app, config, url) {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(session = id, error = %err, "the provider's sign-out page could not be opened");
                notice = Some(crate::api::end_session_page_not_opened(notice));
                false
            }
        },
        _ => false,
    };
    let revoked = outcome.revocation.refresh_token_revoked;
    tracing::info!(session = id, revoked, problems = ?outcome.revocation.problems, end_session_opened, "signed out");
    Ok(SignedOut { session: outcome.session, revoked, notice, end_session_opened })
}

/// Opens the settings, the session list and the vaults, and builds the shell's state.
pub async fn start(app: &AppHandle) -> std::result::Result<Shell, Box<dyn std::error::Error>> {
    let data = app.path().app_data_dir()?;
    std::fs::create_dir_all(&data)?;
    let (settings_file, settings, settings_warning) = settings::SettingsFile::open(app)?;
    let mut warnings: Vec<String> = settings_warning.into_iter().collect();
    let base_policy = Policy::default();

    let sessions_path = data.join("sessions.json");
    // Whether a Secret Service is there decides, before the page first asks, whether it asks for the
    // sealed vault's passphrase; `vaults::watch` follows it from then on.
    let vaults = Vaults::new(&data, crate::vaults::secret_service_present().await);
    let build = |store: Arc<dyn MetadataStore>| {
        SessionManager::builder().vault(vaults.vault()).store(store).policy(settings.policy(&base_policy)).build()
    };
    let manager = match build(Arc::new(JsonFileStore::new(&sessions_path))).await {
        Ok(manager) => manager,
        Err(err) if err.kind() == session_core::ErrorKind::StorageFailed => {
            // Unreadable session list: keep it for the user, start afresh. Tokens stay in the keychain.
            let aside = settings::keep_aside(&sessions_path).ok_or(err.to_string())?;
            tracing::warn!(error = %err, "session list unreadable, moved aside");
            warnings.push(format!(
                "The session list could not be read, so Session Keeper started with no sessions. The old file was kept as {}; the tokens stay in the keychain.",
                aside.display()
            ));
            build(Arc::new(JsonFileStore::new(&sessions_path))).await?
        }
        Err(err) => return Err(err.into()),
    };

    if let Ok(issuer) = std::env::var(crate::DEMO_ISSUER_ENV)
        && manager.snapshots().await?.is_empty()
    {
        let mut demo = ProviderConfig::new(issuer, "session-keeper");
        demo.display_name = "Demo provider".into();
        demo.post_logout_redirect_uri = session_core::RedirectUri::parse("http://127.0.0.1/signed-out").ok();
        if let Err(err) = manager.add_session("Demo", demo, None).await {
            warnings.push(format!("The demo provider could not be added: {err}"));
        }
    }

    Ok(Shell {
        broker: Broker::new(DesktopHost::new(app.clone()), manager.clone()),
        manager,
        vaults,
        settings: SettingsBook::new(settings, base_policy),
        settings_file,
        notices: Mutex::new(notices::NoticeBook::default()),
        warnings: Mutex::new(warnings),
        windows: windows::ProviderWindows::default(),
        sign_in_web_data: data.join("sign-in-web-data"),
        background: std::env::args().any(|arg| arg == crate::BACKGROUND_ARG),
        app: app.clone(),
    })
}
