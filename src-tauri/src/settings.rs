//! The user's settings, kept with tauri-plugin-store in `settings.json` in the app's data folder.
//!
//! The store writes with a plain `fs::write`, so a crash mid-save can leave a torn file. Nothing there
//! is precious (tokens are in the keychain, sessions in the core's atomically written file): a file
//! that cannot be read is moved aside, the defaults apply and the page says so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use session_core::{EnablePeriodically, Policy};
use tauri::{AppHandle, Runtime};
use tauri_plugin_store::{Store, StoreExt};

use crate::error::{Error, Result};

mod book;
pub use book::{SettingsBook, SettingsHost};

/// The store file, relative to the app's data folder.
pub const FILE: &str = "settings.json";
const KEY: &str = "settings";

/// What the settings panel edits. Field names are the ones the page sends (camelCase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// Refresh on a timer: `false` (default), `true` (every second) or a period in milliseconds.
    pub enable_periodically: EnablePeriodically,
    /// Refresh (if due) and re-validate when the window regains focus. Default: true.
    pub enable_on_window_focus: bool,
    /// Refresh this many seconds before the access token expires. Default: 60.
    pub lead_time_seconds: u64,
    /// `maxAge`: a check (focus, timer, wake) asks the provider whether the session is still valid at
    /// most this often, in seconds, so a session revoked elsewhere is noticed. Default: 300.
    pub validation_max_age_seconds: u64,
    /// Desktop notifications before and at expiry. Default: true.
    pub notifications: bool,
    /// Sessions whose notifications are turned off.
    pub muted_sessions: BTreeSet<String>,
    /// Sign in without keeping the provider's cookies (a fresh private web context each time).
    pub ephemeral_sign_in: bool,
    /// Ask before a program (over D-Bus or the token helper) gets a session's token for the first
    /// time. Default: true.
    pub ask_before_hand_out: bool,
    /// Programs the user allowed for good ("Always allow"): session name -> executables.
    pub allowed_programs: BTreeMap<String, BTreeSet<String>>,
    /// `git credential` hosts and the session whose token they get: host (as git names it, with a
    /// port if any) -> session name.
    pub git_hosts: BTreeMap<String, String>,
}

impl Default for Settings {
    fn default() -> Self {
        let policy = Policy::default();
        Settings {
            enable_periodically: policy.refresh.enable_periodically,
            enable_on_window_focus: policy.refresh.enable_on_window_focus,
            lead_time_seconds: policy.refresh.lead_time.as_secs(),
            validation_max_age_seconds: policy.refresh.validation_max_age.as_secs(),
            notifications: true,
            muted_sessions: BTreeSet::new(),
            ephemeral_sign_in: false,
            ask_before_hand_out: true,
            allowed_programs: BTreeMap::new(),
            git_hosts: BTreeMap::new(),
        }
    }
}

impl Settings {
    /// The settings from what the store holds under its key: those saved if they parse and are in
    /// range, else the defaults and why.
    fn from_saved(saved: Option<serde_json::Value>) -> (Settings, Option<&'static str>) {
        match saved.map(serde_json::from_value::<Settings>) {
            Some(Ok(settings)) if settings.validate().is_ok() => (settings, None),
            Some(_) => (Settings::default(), Some("The saved settings were out of range; the defaults apply.")),
            None => (Settings::default(), None),
        }
    }

    /// Refuses values out of the core's bounds ([`Policy::validate`]), with the core's message.
    pub fn validate(&self) -> Result<()> {
        self.policy(&Policy::default()).validate().map_err(|err| Error::InvalidSettings(err.to_string()))
    }

    /// The core policy these settings describe, on top of `base` (which keeps what the page cannot set).
    pub fn policy(&self, base: &Policy) -> Policy {
        let mut policy = base.clone();
        policy.refresh.enable_periodically = self.enable_periodically;
        policy.refresh.enable_on_window_focus = self.enable_on_window_focus;
        policy.refresh.lead_time = Duration::from_secs(self.lead_time_seconds);
        policy.refresh.validation_max_age = Duration::from_secs(self.validation_max_age_seconds);
        policy
    }

    /// Whether `program` may have `session`'s tokens without asking.
    pub fn allows(&self, session: &str, program: &str) -> bool {
        !self.ask_before_hand_out || self.allowed_programs.get(session).is_some_and(|programs| programs.contains(program))
    }

    /// The session whose token `git` gets for `host`.
    pub fn git_session(&self, host: &str) -> Option<&str> {
        self.git_hosts.get(&host.to_ascii_lowercase()).map(String::as_str)
    }

    /// Whether notifications for `session` are wanted.
    pub fn notifies(&self, session: &str) -> bool {
        self.notifications && !self.muted_sessions.contains(session)
    }

    /// The settings the page sent, in place of these (checked as any change is, by the shell).
    pub fn replace(&mut self, settings: Settings) -> Result<()> {
        *self = settings;
        Ok(())
    }

    /// "Always allow": `program` gets `session`'s tokens without asking from now on.
    pub fn allow_for_good(&mut self, session: &str, program: &str) -> Result<()> {
        self.allowed_programs.entry(session.to_owned()).or_default().insert(program.to_owned());
        Ok(())
    }

    /// Takes back "Always allow" from a program: it is asked again next time.
    pub fn forget_program(&mut self, session: &str, program: &str) -> Result<()> {
        if let Some(programs) = self.allowed_programs.get_mut(session) {
            programs.remove(program);
            if programs.is_empty() {
                self.allowed_programs.remove(session);
            }
        }
        tracing::info!(session, program, "program no longer allowed");
        Ok(())
    }

    /// Turns notifications for one session on or off.
    pub fn set_notifications(&mut self, session: &str, enabled: bool) -> Result<()> {
        if enabled {
            self.muted_sessions.remove(session);
        } else {
            self.muted_sessions.insert(session.to_owned());
        }
        Ok(())
    }

    /// Sets the hosts whose `git` credentials are `session`'s token. A host is written as git names
    /// it: `git.example.com`, or `git.example.com:8443` with a port; anything else is refused and
    /// nothing changes.
    pub fn set_git_hosts(&mut self, session: &str, hosts: &[String]) -> Result<()> {
        let mut cleaned = Vec::new();
        for host in hosts.iter().map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()) {
            let valid = url::Url::parse(&format!("https://{host}/"))
                .is_ok_and(|url| url.path() == "/" && url.query().is_none() && url.username().is_empty());
            if !valid || host.contains('/') {
                return Err(Error::InvalidSettings(format!(
                    "\"{host}\" is not a host name: write it as git shows it, like git.example.com or git.example.com:8443."
                )));
            }
            cleaned.push(host);
        }
        self.git_hosts.retain(|_, owner| owner != session);
        for host in cleaned {
            self.git_hosts.insert(host, session.to_owned());
        }
        Ok(())
    }

    /// What the settings say of a removed session goes with it: a new session of the same name
    /// starts afresh.
    pub fn forget_session(&mut self, session: &str) -> Result<()> {
        self.muted_sessions.remove(session);
        self.allowed_programs.remove(session);
        self.git_hosts.retain(|_, owner| owner != session);
        Ok(())
    }
}

/// The settings store, opened once at start.
pub struct SettingsFile<R: Runtime> {
    store: Arc<Store<R>>,
}

impl<R: Runtime> SettingsFile<R> {
    /// Opens the store and reads the settings. The store itself ignores a file it cannot parse (and
    /// would overwrite it on the next save), so the file is checked first: an unreadable one is moved
    /// aside (never deleted), the defaults apply, and the returned warning says where the file went.
    pub fn open(app: &AppHandle<R>) -> tauri_plugin_store::Result<(Self, Settings, Option<String>)> {
        let path = tauri_plugin_store::resolve_store_path(app, FILE)?;
        let mut warning = unreadable(&path).map(|problem| match keep_aside(&path) {
            Some(aside) => format!(
                "The settings file could not be read ({problem}); the defaults apply. The old file was kept as {}.",
                aside.display()
            ),
            None => format!("The settings file could not be read ({problem}); the defaults apply until you save new ones."),
        });
        let store = app.store_builder(FILE).disable_auto_save().build()?;
        let (settings, out_of_range) = Settings::from_saved(store.get(KEY));
        if let Some(problem) = out_of_range {
            warning.get_or_insert_with(|| problem.into());
        }
        Ok((SettingsFile { store }, settings, warning))
    }

    /// Writes the settings to disk.
    pub fn save(&self, settings: &Settings) -> Result<()> {
        let value = serde_json::to_value(settings).map_err(|err| Error::SettingsNotSaved(session_core::Cause(err.to_string())))?;
        self.store.set(KEY, value);
        self.store.save().map_err(|err| Error::SettingsNotSaved(session_core::Cause(err.to_string())))
    }
}

/// Why the settings file cannot be used, if it exists and cannot.
fn unreadable(path: &Path) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes)
            .err()
            .map(|err| format!("it is not a JSON object: {err}")),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => Some(err.to_string()),
    }
}

/// Renames an unreadable file to `<name>.unreadable-<UTC time>` beside it, so nothing is lost, and
/// returns the new path.
pub(crate) fn keep_aside(path: &Path) -> Option<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let name = path.file_name()?.to_string_lossy();
    let aside = path.with_file_name(format!("{name}.unreadable-{stamp}"));
    std::fs::rename(path, &aside).ok().map(|_| aside)
}

#[cfg(test)]
mod tests;
