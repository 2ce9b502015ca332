//! The settings in force and the one way they change, Tauri-free: a change is checked, applied to the
//! core, told to the page and saved, in that order, through a [`SettingsHost`] (the shell, or a test's).

use std::sync::Mutex;

use session_core::Policy;

use super::Settings;
use crate::error::Result;

/// What a settings change reaches besides the book.
pub trait SettingsHost {
    /// Applies the core's policy the settings describe; a refusal leaves everything as it was.
    fn apply(&self, policy: Policy) -> Result<()>;
    /// Tells the page what is now in force (`settings-changed`).
    fn changed(&self, settings: &Settings);
    /// Writes the settings to disk.
    fn save(&self, settings: &Settings) -> Result<()>;
}

/// The settings in force.
#[derive(Debug)]
pub struct SettingsBook {
    current: Mutex<Settings>,
    base_policy: Policy,
}

impl SettingsBook {
    /// The book of `settings`, over `base_policy` (which keeps what the page cannot set).
    pub fn new(settings: Settings, base_policy: Policy) -> Self {
        SettingsBook { current: Mutex::new(settings), base_policy }
    }

    /// The settings in force.
    pub fn get(&self) -> Settings {
        self.current.lock().expect("settings poisoned").clone()
    }

    /// The one place settings change. A change that is refused (out of range, or refused by the core)
    /// changes nothing and tells nothing. An applied change is told to the page even when saving then
    /// fails: it is in force until the app quits, and the error says it was not saved.
    pub fn update(&self, host: &impl SettingsHost, change: impl FnOnce(&mut Settings) -> Result<()>) -> Result<Settings> {
        let mut current = self.current.lock().expect("settings poisoned");
        let mut next = current.clone();
        change(&mut next)?;
        next.validate()?;
        host.apply(next.policy(&self.base_policy))?;
        *current = next.clone();
        drop(current);
        host.changed(&next);
        host.save(&next)?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests;
