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
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_follow_the_core_policy() {
        let settings = Settings::default();
        assert_eq!(settings.enable_periodically, EnablePeriodically::Enabled(false));
        assert!(settings.enable_on_window_focus);
        assert_eq!(settings.lead_time_seconds, 60);
        assert!(settings.notifications);
        assert_eq!(settings.policy(&Policy::default()), Policy::default());
    }

    #[test]
    fn the_page_shape_round_trips_and_partial_files_fill_in_defaults() {
        let settings: Settings = serde_json::from_value(json!({ "enablePeriodically": 30000, "leadTimeSeconds": 120 })).unwrap();
        assert_eq!(settings.enable_periodically, EnablePeriodically::EveryMilliseconds(30000));
        assert!(settings.enable_on_window_focus);
        let policy = settings.policy(&Policy::default());
        assert_eq!(policy.refresh.lead_time, Duration::from_secs(120));
        assert_eq!(policy.refresh.enable_periodically.interval(), Some(Duration::from_secs(30)));
        let value = serde_json::to_value(&settings).unwrap();
        assert_eq!(value["enablePeriodically"], json!(30000));
        assert_eq!(
            serde_json::from_value::<Settings>(json!({ "enablePeriodically": true })).unwrap().enable_periodically,
            EnablePeriodically::Enabled(true)
        );
    }

    #[test]
    fn out_of_range_values_are_refused_with_a_reason() {
        let too_long = Settings { lead_time_seconds: 7200, ..Settings::default() };
        assert!(matches!(too_long.validate(), Err(Error::InvalidSettings(m)) if m.contains("3600")));
        let too_fast = Settings { enable_periodically: EnablePeriodically::EveryMilliseconds(10), ..Settings::default() };
        assert!(too_fast.validate().is_err());
        let never = Settings { validation_max_age_seconds: 0, ..Settings::default() };
        assert!(never.validate().is_err());
        let quick = Settings { validation_max_age_seconds: 1, ..Settings::default() };
        assert_eq!(quick.policy(&Policy::default()).refresh.validation_max_age, Duration::from_secs(1));
    }

    #[test]
    fn consent_is_per_session_and_program_and_can_be_turned_off() {
        let mut settings = Settings::default();
        assert!(!settings.allows("work", "/usr/bin/git"), "asked by default");
        settings.allowed_programs.entry("work".into()).or_default().insert("/usr/bin/git".into());
        assert!(settings.allows("work", "/usr/bin/git"));
        assert!(!settings.allows("home", "/usr/bin/git"), "per session");
        assert!(!settings.allows("work", "/usr/bin/curl"), "per program");
        settings.ask_before_hand_out = false;
        assert!(settings.allows("home", "/usr/bin/curl"));
        settings.git_hosts.insert("git.example.com:8443".into(), "work".into());
        assert_eq!(settings.git_session("GIT.example.com:8443"), Some("work"));
        assert_eq!(settings.git_session("git.example.com"), None);
    }

    #[test]
    fn muting_is_per_session() {
        let mut settings = Settings::default();
        settings.muted_sessions.insert("work".into());
        assert!(!settings.notifies("work"));
        assert!(settings.notifies("home"));
        settings.notifications = false;
        assert!(!settings.notifies("home"));
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[test]
    fn torn_or_foreign_files_are_unreadable_and_kept_aside() {
        let dir = std::env::temp_dir().join(format!("sk-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(FILE);
        assert_eq!(unreadable(&path), None, "a missing file is simply new");
        std::fs::write(&path, br#"{"settings": {"leadTimeSeconds": 60}}"#).unwrap();
        assert_eq!(unreadable(&path), None);
        std::fs::write(&path, br#"{"settings": {"leadTi"#).unwrap();
        assert!(unreadable(&path).unwrap().contains("not a JSON object"));
        let aside = keep_aside(&path).unwrap();
        assert!(!path.exists());
        assert_eq!(std::fs::read(&aside).unwrap(), br#"{"settings": {"leadTi"#, "kept byte for byte");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

// Property tests (proptest): whatever the settings file holds, loading it never panics, the settings
// in force are always in range, and a file that cannot be read is moved aside byte for byte.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// Field names the loader knows (and a stranger), so that generated objects reach the fields.
    const KEYS: &[&str] = &[
        "enablePeriodically",
        "enableOnWindowFocus",
        "leadTimeSeconds",
        "validationMaxAgeSeconds",
        "notifications",
        "mutedSessions",
        "ephemeralSignIn",
        "askBeforeHandOut",
        "allowedPrograms",
        "gitHosts",
        "Demo",
        "x",
    ];

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            prop::sample::select(KEYS).prop_map(|k| Value::String(k.into())),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..8)
                    .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_saved_value_gives_settings_in_range(saved in prop::option::of(json())) {
            let (settings, problem) = Settings::from_saved(saved.clone());
            prop_assert!(settings.validate().is_ok(), "{settings:?} from {saved:?}");
            if problem.is_some() {
                prop_assert_eq!(settings, Settings::default());
            }
        }

        #[test]
        fn saved_settings_in_range_load_as_saved(lead in 0u64..100_000, max_age in 0u64..100_000, focus: bool, notify: bool) {
            let settings = Settings { lead_time_seconds: lead, validation_max_age_seconds: max_age, enable_on_window_focus: focus, notifications: notify, ..Settings::default() };
            let (loaded, problem) = Settings::from_saved(Some(serde_json::to_value(&settings).unwrap()));
            if settings.validate().is_ok() {
                prop_assert_eq!((loaded, problem), (settings, None));
            } else {
                prop_assert_eq!(loaded, Settings::default());
                prop_assert!(problem.is_some());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn any_file_is_read_or_moved_aside_byte_for_byte(bytes in prop::collection::vec(any::<u8>(), 0..200), prefix: bool) {
            let dir = std::env::temp_dir().join(format!("sk-settings-prop-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(FILE);
            let mut contents = if prefix { br#"{"settings":{"#.to_vec() } else { Vec::new() };
            contents.extend_from_slice(&bytes);
            std::fs::write(&path, &contents).unwrap();
            if unreadable(&path).is_some() {
                let aside = keep_aside(&path).expect("an unreadable file is moved aside");
                prop_assert_eq!(std::fs::read(&aside).unwrap(), contents);
                prop_assert!(!path.exists());
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}
