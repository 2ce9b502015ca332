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

#[test]
fn edits_from_the_page_and_the_broker() {
    let mut settings = Settings::default();
    settings.allow_for_good("work", "/usr/bin/git").unwrap();
    assert!(settings.allows("work", "/usr/bin/git"));
    settings.allow_for_good("work", "/usr/bin/curl").unwrap();
    settings.forget_program("work", "/usr/bin/git").unwrap();
    assert!(!settings.allows("work", "/usr/bin/git"), "asked again");
    settings.forget_program("work", "/usr/bin/curl").unwrap();
    assert!(!settings.allowed_programs.contains_key("work"), "no empty list is kept");
    settings.set_notifications("work", false).unwrap();
    assert!(!settings.notifies("work"));
    settings.set_notifications("work", true).unwrap();
    assert!(settings.notifies("work"));
}

#[test]
fn git_hosts_are_written_as_git_names_them_or_refused_whole() {
    let mut settings = Settings::default();
    settings.set_git_hosts("work", &[" Git.Example.com ".into(), "git.example.com:8443".into(), "".into()]).unwrap();
    assert_eq!(settings.git_session("git.example.com"), Some("work"));
    assert_eq!(settings.git_session("git.example.com:8443"), Some("work"));
    for wrong in ["https://git.example.com", "git.example.com/group", "me@git.example.com", "git.example.com?x=1"] {
        let err = settings.set_git_hosts("work", &[wrong.into()]).unwrap_err();
        assert_eq!(err.kind().as_str(), "invalid_settings", "{wrong}");
        assert!(err.to_string().contains("is not a host name"), "{err}");
    }
    assert_eq!(settings.git_session("git.example.com"), Some("work"), "a refused list changes nothing");
    settings.set_git_hosts("work", &["other.example.com".into()]).unwrap();
    assert_eq!(settings.git_session("git.example.com"), None, "the list replaces the session's hosts");
}

#[test]
fn a_removed_session_leaves_nothing_in_the_settings() {
    let mut settings = Settings::default();
    settings.set_notifications("work", false).unwrap();
    settings.allow_for_good("work", "/usr/bin/git").unwrap();
    settings.set_git_hosts("work", &["git.example.com".into()]).unwrap();
    settings.set_git_hosts("home", &["home.example.com".into()]).unwrap();
    settings.forget_session("work").unwrap();
    assert!(settings.notifies("work") && !settings.allows("work", "/usr/bin/git"));
    assert_eq!(settings.git_session("git.example.com"), None);
    assert_eq!(settings.git_session("home.example.com"), Some("home"));
}

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
