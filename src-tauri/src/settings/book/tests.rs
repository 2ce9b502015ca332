use std::cell::RefCell;

use super::*;
use crate::error::Error;

/// What a change reached: the policies applied, the settings told to the page, the saves.
#[derive(Default)]
struct TestHost {
    refuse_policy: bool,
    disk_full: bool,
    applied: RefCell<Vec<Policy>>,
    told: RefCell<Vec<Settings>>,
    saved: RefCell<Vec<Settings>>,
}

impl SettingsHost for TestHost {
    fn apply(&self, policy: Policy) -> Result<()> {
        if self.refuse_policy {
            return Err(Error::InvalidSettings("refused by the core".into()));
        }
        self.applied.borrow_mut().push(policy);
        Ok(())
    }

    fn changed(&self, settings: &Settings) {
        self.told.borrow_mut().push(settings.clone());
    }

    fn save(&self, settings: &Settings) -> Result<()> {
        if self.disk_full {
            return Err(Error::SettingsNotSaved(session_core::Cause("No space left on device".into())));
        }
        self.saved.borrow_mut().push(settings.clone());
        Ok(())
    }
}

#[test]
fn a_change_is_applied_told_once_and_saved() {
    let book = SettingsBook::new(Settings::default(), Policy::default());
    let host = TestHost::default();
    let now = book.update(&host, |settings| settings.set_notifications("work", false)).unwrap();
    assert!(!book.get().notifies("work"));
    assert_eq!(*host.told.borrow(), vec![now.clone()], "the page hears of it once");
    assert_eq!(*host.saved.borrow(), vec![now]);
    assert_eq!(host.applied.borrow().len(), 1);
}

/// Removing a session changes the settings like any other change: the page hears of it (it did not).
#[test]
fn a_removed_sessions_settings_are_told_to_the_page() {
    let book = SettingsBook::new(Settings::default(), Policy::default());
    let host = TestHost::default();
    book.update(&host, |settings| settings.allow_for_good("work", "/usr/bin/git")).unwrap();
    book.update(&host, |settings| settings.forget_session("work")).unwrap();
    assert_eq!(host.told.borrow().len(), 2);
    assert!(host.told.borrow()[1].allowed_programs.is_empty());
}

#[test]
fn a_refused_change_changes_and_tells_nothing() {
    let book = SettingsBook::new(Settings::default(), Policy::default());
    let host = TestHost::default();
    assert!(book.update(&host, |settings| settings.set_git_hosts("work", &["a/b".into()])).is_err());
    assert!(book.update(&host, |settings| settings.replace(Settings { lead_time_seconds: 7200, ..Settings::default() })).is_err());
    let refusing = TestHost { refuse_policy: true, ..TestHost::default() };
    assert!(book.update(&refusing, |settings| settings.set_notifications("work", false)).is_err());
    assert_eq!(book.get(), Settings::default());
    assert!(host.told.borrow().is_empty() && refusing.told.borrow().is_empty());
    assert!(host.saved.borrow().is_empty() && refusing.saved.borrow().is_empty());
}

#[test]
fn a_change_that_cannot_be_saved_is_in_force_and_told() {
    let book = SettingsBook::new(Settings::default(), Policy::default());
    let host = TestHost { disk_full: true, ..TestHost::default() };
    let err = book.update(&host, |settings| settings.set_notifications("work", false)).unwrap_err();
    assert_eq!(err.kind().as_str(), "settings_not_saved");
    assert!(!book.get().notifies("work"), "in force until the app quits");
    assert_eq!(host.told.borrow().len(), 1, "the page shows what is in force");
}
