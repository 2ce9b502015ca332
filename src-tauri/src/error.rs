//! The shell's errors, as the page receives them: `{ "kind": "...", "message": "..." }`. The UI
//! switches on the stable `kind` (the core's [`session_core::ErrorKind`] or the shell's own
//! [`ShellKind`], both named by `as_str()`) and shows the `message`, which says what to do. An error is
//! logged once, with its cause chain, where it leaves for the page ([`answer`]).

use serde::ser::{Serialize, SerializeStruct, Serializer};

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The session plugin (or the core under it) refused or failed: its kind is passed through
    /// unchanged. The core's errors and a window that could not be opened arrive as this too.
    #[error(transparent)]
    Plugin(#[from] tauri_plugin_session_keeper::Error),
    /// The settings sent from the page are out of range.
    #[error("{0}")]
    InvalidSettings(String),
    /// The settings file could not be written.
    #[error(
        "The settings could not be saved, so they apply only until Session Keeper restarts. Free some disk space or check that the settings folder can be written."
    )]
    SettingsNotSaved(#[source] session_core::Cause),
    /// The login autostart entry could not be written or removed.
    #[error("Starting at login could not be changed. Check that ~/.config/autostart can be written.")]
    Autostart(#[source] session_core::Cause),
}

impl From<session_core::Error> for Error {
    fn from(err: session_core::Error) -> Self {
        Error::Plugin(err.into())
    }
}

impl From<tauri::Error> for Error {
    fn from(err: tauri::Error) -> Self {
        Error::Plugin(err.into())
    }
}

/// `Result` with the shell's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// The shell's own kinds of failure, beside the plugin's and the core's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShellKind {
    /// [`Error::InvalidSettings`].
    InvalidSettings,
    /// [`Error::SettingsNotSaved`].
    SettingsNotSaved,
    /// [`Error::Autostart`].
    AutostartFailed,
}

impl ShellKind {
    /// Every shell kind, for the README's table.
    pub const ALL: [ShellKind; 3] = [ShellKind::InvalidSettings, ShellKind::SettingsNotSaved, ShellKind::AutostartFailed];

    /// The stable name the page switches on.
    pub const fn as_str(self) -> &'static str {
        match self {
            ShellKind::InvalidSettings => "invalid_settings",
            ShellKind::SettingsNotSaved => "settings_not_saved",
            ShellKind::AutostartFailed => "autostart_failed",
        }
    }
}

/// What kind of failure a command met: the plugin's (or the core's under it) passed through
/// unchanged, or the shell's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The plugin's kind, or the core's.
    Plugin(tauri_plugin_session_keeper::Kind),
    /// The shell's kind.
    Shell(ShellKind),
}

impl Kind {
    /// The stable, machine-readable name the page switches on (`"not_signed_in"`, `"window_failed"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Plugin(kind) => kind.as_str(),
            Kind::Shell(kind) => kind.as_str(),
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Kind {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Error {
    /// The stable, machine-readable kind the page switches on.
    pub fn kind(&self) -> Kind {
        match self {
            Error::Plugin(err) => Kind::Plugin(err.kind()),
            Error::InvalidSettings(_) => Kind::Shell(ShellKind::InvalidSettings),
            Error::SettingsNotSaved(_) => Kind::Shell(ShellKind::SettingsNotSaved),
            Error::Autostart(_) => Kind::Shell(ShellKind::AutostartFailed),
        }
    }

    /// The issuer to offer instead, when the provider announced the configured one with or without a
    /// trailing slash (Auth0 and Authentik announce one, and users rarely type it).
    pub fn suggested_issuer(&self) -> Option<&str> {
        match self {
            Error::Plugin(err) => err.suggested_issuer(),
            _ => None,
        }
    }

    /// The whole cause chain, for the log (the page gets only our words).
    fn chain(&self) -> String {
        session_core::causes(self)
    }

    /// Logs the error as the page is about to show it: its kind, our words, and the library's own
    /// words behind them. Called where an error leaves for the page ([`answer`], [`ErrorPayload`]),
    /// once per error shown.
    fn log(&self) {
        tracing::warn!(kind = %self.kind(), cause = %self.chain(), "{self}");
    }
}

/// What a command answers: its result, with an error logged on its way to the page.
pub fn answer<T>(result: Result<T>) -> Result<T> {
    if let Err(err) = &result {
        err.log();
    }
    result
}

/// What the page receives is what the user reads: the kind, our message, and an issuer to offer
/// where there is one. No logging here: serializing is not showing ([`answer`] logs).
impl Serialize for Error {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let suggested = self.suggested_issuer();
        let mut out = serializer.serialize_struct("Error", if suggested.is_some() { 3 } else { 2 })?;
        out.serialize_field("kind", &self.kind())?;
        out.serialize_field("message", &self.to_string())?;
        if let Some(issuer) = suggested {
            out.serialize_field("suggestedIssuer", issuer)?;
        }
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tauri_plugin_session_keeper::PluginKind;

    #[test]
    fn the_page_gets_kind_and_message() {
        let err = Error::from(session_core::Error::UnknownSession("work".into()));
        let value = serde_json::to_value(&err).unwrap();
        assert_eq!(value["kind"], json!("unknown_session"));
        assert_eq!(value.as_object().unwrap().len(), 2);
        assert!(value["message"].as_str().unwrap().contains("work"), "{value}");

        let cancelled = Error::from(tauri_plugin_session_keeper::Error::SignInCancelled);
        assert_eq!(serde_json::to_value(&cancelled).unwrap(), json!({ "kind": "sign_in_cancelled", "message": cancelled.to_string() }));
        assert_eq!(serde_json::to_value(Error::InvalidSettings("x".into())).unwrap()["kind"], json!("invalid_settings"));
    }

    #[test]
    fn an_issuer_announced_with_a_trailing_slash_is_offered_and_nothing_else_is() {
        let mismatch = |expected: &str, found: &str| {
            serde_json::to_value(Error::from(session_core::Error::IssuerMismatch { expected: expected.into(), found: found.into() }))
                .unwrap()
        };
        assert_eq!(mismatch("https://x.auth0.com", "https://x.auth0.com/")["suggestedIssuer"], json!("https://x.auth0.com/"));
        assert_eq!(mismatch("https://a.example/o/app/", "https://a.example/o/app")["suggestedIssuer"], json!("https://a.example/o/app"));
        assert!(mismatch("https://a.example", "https://evil.example").get("suggestedIssuer").is_none());
    }

    #[test]
    fn every_kind_has_one_name_and_the_plugin_kinds_pass_through() {
        let shell: std::collections::BTreeSet<&str> = ShellKind::ALL.iter().map(|kind| kind.as_str()).collect();
        assert_eq!(shell.len(), ShellKind::ALL.len(), "no two shell kinds share a name");
        for kind in PluginKind::ALL {
            assert!(!shell.contains(kind.as_str()), "{} is the plugin's", kind.as_str());
        }
        let err = Error::from(tauri_plugin_session_keeper::Error::SignInReplaced);
        assert_eq!(err.kind().as_str(), "sign_in_replaced");
        assert!(answer::<()>(Err(Error::InvalidSettings("x".into()))).is_err(), "the answer is the result, logged");
    }

    /// The README's message table has a row for every shell and plugin kind, as the core's test checks
    /// its own.
    #[test]
    fn every_shell_and_plugin_kind_is_in_the_readme_table() {
        let readme = include_str!("../../README.md");
        let names = ShellKind::ALL.iter().map(|kind| kind.as_str()).chain(PluginKind::ALL.iter().map(|kind| kind.as_str()));
        for name in names {
            assert!(readme.contains(&format!("| `{name}` |")), "README lacks a row for {name}");
        }
    }

    #[test]
    fn the_page_never_gets_the_library_words() {
        let err = Error::SettingsNotSaved(session_core::Cause("No space left on device (os error 28)".into()));
        assert!(!err.to_string().contains("os error"), "{err}");
        assert_eq!(err.chain(), "No space left on device (os error 28)");
    }
}
