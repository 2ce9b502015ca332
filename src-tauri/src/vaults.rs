//! Where the tokens live, as the shell sees it. The manager is built with the core's [`DesktopVault`]:
//! the keychain (a Secret Service) when one answers, else the sealed vault once its passphrase has
//! been entered in the window (once per desktop session; only the key made from it stays, in the
//! core), else memory. This module watches the session bus for a Secret Service appearing
//! (`NameOwnerChanged` of `org.freedesktop.secrets`), and then the sealed vault's items move there and
//! its file is removed. It tells the page where the tokens are (`vault-changed`), which sessions'
//! tokens only memory holds, and whether a quit must ask the person first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use secrecy::SecretString;
use serde::Serialize;
use session_core::{DesktopVault, KeyringVault, SealedVault, SessionSnapshot, Vault, VaultInUse};
use tauri::{AppHandle, Emitter, Manager};

use crate::Shell;
use crate::error::Result;

/// The page event carrying the [`VaultState`] whenever it reads differently.
pub const VAULT_CHANGED: &str = "vault-changed";
/// The page event of a Quit from the tray that must ask first: the sessions quitting would sign out.
pub const QUIT_ASKED: &str = "quit-asked";
/// The Secret Service's well-known name on the session bus.
const SECRET_SERVICE: &str = "org.freedesktop.secrets";
/// How long the bus may take to say whether a Secret Service is there, at start.
const BUS_PATIENCE: Duration = Duration::from_secs(2);

/// What the page is told about where the tokens live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultState {
    /// Where tokens go now: the keychain, the sealed vault, or memory only.
    pub in_use: VaultInUse,
    /// Whether a Secret Service is on the session bus (running, or started on the first call).
    pub keychain: bool,
    /// Whether the sealed vault's file exists.
    pub sealed_file: bool,
    /// Whether its passphrase was entered in this desktop session.
    pub unlocked: bool,
    /// Whether the page asks for the passphrase: the sealed file waits locked, or there is no keychain.
    pub passphrase_needed: bool,
    /// The sessions whose tokens only memory holds: quitting now would sign them out.
    pub memory_only: Vec<String>,
    /// What just happened, said once (the tokens moved to the keychain).
    pub notice: Option<String>,
}

/// The vaults behind the manager, and what the shell knows of the desktop's Secret Service.
pub struct Vaults {
    desktop: Arc<DesktopVault>,
    secret_service: AtomicBool,
    started: DateTime<Utc>,
    last: Mutex<Option<VaultState>>,
}

impl Vaults {
    /// The desktop vault over the keychain and the sealed vault in `data` (the app's data folder).
    pub fn new(data: &std::path::Path, secret_service: bool) -> Self {
        let keychain: Arc<dyn Vault> = Arc::new(KeyringVault::new(crate::KEYCHAIN_SERVICE));
        Self {
            desktop: DesktopVault::new(keychain, SealedVault::new(data)),
            secret_service: AtomicBool::new(secret_service),
            started: Utc::now(),
            last: Mutex::new(None),
        }
    }

    /// The vault the manager is built with.
    pub fn vault(&self) -> Arc<dyn Vault> {
        self.desktop.clone()
    }

    fn sealed(&self) -> &Arc<SealedVault> {
        self.desktop.sealed()
    }

    /// Where the tokens are, with `sessions` as the core sees them now.
    pub fn state(&self, sessions: &[SessionSnapshot], notice: Option<String>) -> VaultState {
        let keychain = self.secret_service.load(Ordering::Relaxed);
        let (sealed_file, unlocked) = (self.sealed().exists(), self.sealed().is_unlocked());
        VaultState {
            in_use: in_use(keychain, sealed_file && unlocked, self.desktop.in_use()),
            keychain,
            sealed_file,
            unlocked,
            passphrase_needed: passphrase_needed(keychain, sealed_file, unlocked),
            memory_only: memory_only(sessions, self.started),
            notice,
        }
    }

    /// Unlocks the sealed vault (making it, the first time) off the async workers: the passphrase
    /// becomes a key by scrypt, which takes about a second.
    async fn unlock(&self, passphrase: SecretString) -> Result<()> {
        let sealed = self.sealed().clone();
        blocking(move || sealed.unlock(&passphrase)).await
    }

    /// Moves the sealed vault's items to the keychain, when there is a file to move and its key is at
    /// hand. A Secret Service that has just taken its name may not serve its collection yet: tried up to
    /// ten times, a second apart. `Some(items moved)` once the file is gone.
    async fn move_to_keychain(&self) -> Option<usize> {
        for attempt in 1..=10 {
            if !self.sealed().exists() || !self.sealed().is_unlocked() {
                return None;
            }
            let desktop = self.desktop.clone();
            match blocking(move || desktop.move_to_keychain()).await {
                Ok(moved) => {
                    tracing::info!(items = moved, "the sealed vault's items moved to the keychain; its file was removed");
                    return Some(moved);
                }
                Err(err) => {
                    tracing::warn!(attempt, error = %err, "the sealed vault's items could not move to the keychain yet");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        None
    }
}

/// Runs a blocking vault call on the blocking pool; a call that panicked is a keychain failure.
async fn blocking<T: Send + 'static>(call: impl FnOnce() -> session_core::Result<T> + Send + 'static) -> Result<T> {
    match tauri::async_runtime::spawn_blocking(call).await {
        Ok(result) => Ok(result?),
        Err(err) => Err(session_core::Error::keychain_failed("the vault call ended unexpectedly; try again", Some(err.to_string())).into()),
    }
}

/// Where tokens go now: the sealed vault when the core last wrote there (the keychain refused) and it
/// is at hand (its file there, unlocked), else the keychain when there is one, else the sealed vault
/// when it is at hand, else memory. After a move to the keychain the file is gone: the keychain.
pub fn in_use(keychain: bool, sealed: bool, last: VaultInUse) -> VaultInUse {
    match last {
        VaultInUse::Sealed if sealed => VaultInUse::Sealed,
        _ if keychain => VaultInUse::Keychain,
        _ if sealed => VaultInUse::Sealed,
        _ => VaultInUse::MemoryOnly,
    }
}

/// The passphrase is asked when a sealed file waits locked (its tokens are out of reach until then),
/// and when there is no keychain (the first time, to make the sealed vault).
pub fn passphrase_needed(keychain: bool, sealed_file: bool, unlocked: bool) -> bool {
    !unlocked && (sealed_file || !keychain)
}

/// The sessions whose tokens only memory holds: signed in, the vault's refusal on the card (the core
/// keeps a session's vault error until a write succeeds), and tokens that came in this run (a sign-in
/// or a refresh since the app started). A session restored from a locked sealed vault holds no tokens
/// in memory: its tokens wait in the file, and quitting loses nothing.
pub fn memory_only(sessions: &[SessionSnapshot], started: DateTime<Utc>) -> Vec<String> {
    sessions
        .iter()
        .filter(|s| s.signed_in && s.last_error.as_ref().is_some_and(|e| e.kind.is_keychain()))
        .filter(|s| s.signed_in_at.max(s.last_refresh_at).is_some_and(|at| at >= started))
        .map(|s| s.id.to_string())
        .collect()
}

/// Whether a Quit asks the person first: tokens only memory holds would be lost (the sealed vault
/// locked, so the quit's last write has nowhere to go), and the person has not said to quit anyway.
pub fn asks_before_quit(state: &VaultState, force: bool) -> bool {
    !force && !state.unlocked && !state.memory_only.is_empty()
}

/// Whether a Secret Service is on the session bus now, or one would be started by the first call.
pub async fn secret_service_present() -> bool {
    let ask = async {
        let bus = zbus::Connection::session().await.ok()?;
        let dbus = zbus::fdo::DBusProxy::new(&bus).await.ok()?;
        let name = zbus::names::BusName::try_from(SECRET_SERVICE).ok()?;
        if dbus.name_has_owner(name).await.ok()? {
            return Some(true);
        }
        let activatable = dbus.list_activatable_names().await.ok()?;
        Some(activatable.iter().any(|n| n.as_str() == SECRET_SERVICE))
    };
    tokio::time::timeout(BUS_PATIENCE, ask).await.ok().flatten().unwrap_or(false)
}

/// Tells the page where the tokens are, with the sessions as the core sees them now.
pub async fn tell_page(app: &AppHandle, notice: Option<String>) {
    let sessions = app.state::<Shell>().manager.snapshots().await.unwrap_or_default();
    tell(app, &sessions, notice);
}

/// Tells the page where the tokens are, if that reads differently from what it was last told (or
/// always, with a notice).
pub fn tell(app: &AppHandle, sessions: &[SessionSnapshot], notice: Option<String>) {
    let vaults = &app.state::<Shell>().vaults;
    let state = vaults.state(sessions, notice);
    let mut last = vaults.last.lock().expect("vault state poisoned");
    if state.notice.is_none() && last.as_ref() == Some(&state) {
        return;
    }
    *last = Some(VaultState { notice: None, ..state.clone() });
    drop(last);
    let _ = app.emit_to("main", VAULT_CHANGED, &state);
}

/// The words after the sealed vault's items moved to a keychain.
pub fn moved_notice(items: usize) -> String {
    let what = if items == 1 { "1 item".to_owned() } else { format!("{items} items") };
    format!(
        "A keychain (Secret Service) is available now: the tokens moved there ({what}) and the sealed vault's file was removed. Its passphrase is no longer needed."
    )
}

async fn move_and_tell(app: &AppHandle) {
    let moved = app.state::<Shell>().vaults.move_to_keychain().await;
    tell_page(app, moved.map(moved_notice)).await;
}

/// Unlocks (or makes) the sealed vault with the passphrase entered in the window; then its items
/// move to the keychain if one has appeared, and the sessions that waited for the vault refresh.
pub async fn unlock(app: &AppHandle, passphrase: SecretString) -> Result<VaultState> {
    let shell = app.state::<Shell>();
    if let Err(err) = shell.vaults.unlock(passphrase).await {
        // A damaged or foreign file was set aside: the page asks for a passphrase for a new one.
        tell_page(app, None).await;
        return Err(err);
    }
    tracing::info!("the sealed vault is unlocked");
    if shell.vaults.secret_service.load(Ordering::Relaxed) {
        move_and_tell(app).await;
    }
    // Sessions restored while the vault was locked hold no tokens in memory: their tokens are in the
    // file now in reach, and a refresh reads them there at once rather than at the session's next due
    // time. Tokens only memory holds are not refreshed: the core writes them at its next look at the
    // clock (5 s) or at a quit, and a refresh in flight at a quit would race that write.
    let sessions = shell.manager.snapshots().await?;
    let waiting = memory_only(&sessions, shell.vaults.started);
    for session in sessions.iter().filter(|s| s.signed_in && !waiting.contains(&s.id.to_string())) {
        let (manager, id) = (shell.manager.clone(), session.id.to_string());
        tauri::async_runtime::spawn(async move {
            if let Err(err) = manager.refresh(&id, true).await {
                tracing::warn!(session = %id, error = %err, "refresh after the sealed vault was unlocked failed");
            }
        });
    }
    tell_page(app, None).await;
    Ok(shell.vaults.state(&sessions, None))
}

/// Changes the sealed vault's passphrase (the key is wrapped again; the tokens stay as they are).
pub async fn change_passphrase(app: &AppHandle, old: SecretString, new: SecretString) -> Result<VaultState> {
    let shell = app.state::<Shell>();
    let sealed = shell.vaults.sealed().clone();
    blocking(move || sealed.change_passphrase(&old, &new)).await?;
    tracing::info!("the sealed vault's passphrase was changed");
    let sessions = shell.manager.snapshots().await?;
    Ok(shell.vaults.state(&sessions, None))
}

/// Quits, unless tokens only memory holds would be lost and the person has not said to quit anyway
/// (`force`): then the window comes forward and the page asks (unlock the sealed vault, quit anyway,
/// or stay). With the sealed vault unlocked, the quit's last write puts such tokens there. Returns the
/// sessions quitting would sign out (empty: the app is quitting).
pub async fn quit(app: &AppHandle, force: bool) -> Vec<String> {
    let shell = app.state::<Shell>();
    let sessions = shell.manager.snapshots().await.unwrap_or_default();
    let state = shell.vaults.state(&sessions, None);
    if !asks_before_quit(&state, force) {
        tracing::info!(force, unlocked = state.unlocked, memory_only = state.memory_only.len(), "quitting");
        app.exit(0);
        return Vec::new();
    }
    tracing::info!(sessions = ?state.memory_only, "quit held: the person is asked first");
    crate::show_main_window(app);
    let _ = app.emit_to("main", QUIT_ASKED, &state.memory_only);
    state.memory_only
}

/// Watches the session bus for the Secret Service's name for the app's lifetime: when one appears the
/// sealed vault's items move to it; either way the page hears where the tokens are now.
pub async fn watch(app: AppHandle) {
    let subscribed = async {
        let bus = zbus::Connection::session().await?;
        let dbus = zbus::fdo::DBusProxy::new(&bus).await?;
        let changes = dbus.receive_name_owner_changed_with_args(&[(0, SECRET_SERVICE)]).await?;
        zbus::Result::Ok((bus, changes))
    };
    let (_bus, mut changes) = match subscribed.await {
        Ok(watching) => watching,
        Err(err) => {
            tracing::info!(error = %err, "no session bus to watch: a Secret Service that starts later is found at the next keychain call");
            return;
        }
    };
    // What changed between the look at start and the subscription.
    let present = secret_service_present().await;
    note_secret_service(&app, present).await;
    while let Some(signal) = changes.next().await {
        let Ok(args) = signal.args() else { continue };
        note_secret_service(&app, args.new_owner().is_some()).await;
    }
}

async fn note_secret_service(app: &AppHandle, present: bool) {
    let vaults = &app.state::<Shell>().vaults;
    let before = vaults.secret_service.swap(present, Ordering::Relaxed);
    if before != present {
        tracing::info!(present, "the Secret Service {}", if present { "appeared" } else { "went away" });
    }
    if present {
        move_and_tell(app).await;
    } else {
        tell_page(app, None).await;
    }
}

#[cfg(test)]
mod tests;
