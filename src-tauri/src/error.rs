//! The shell's errors, as the page receives them: `{ "kind": "...", "message": "..." }`. The UI
//! switches on the stable `kind` and shows the `message`, which says what to do.

use serde::ser::{Serialize, SerializeStruct, Serializer};

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The session core refused or failed (its kind is passed through unchanged).
    #[error(transparent)]
    Core(#[from] session_core::Error),
    /// A window could not be opened or changed.
    #[error("The window could not be opened. Try again; if it keeps failing, restart Session Keeper.")]
    Window(#[from] tauri::Error),
    /// The settings sent from the page are out of range.
    #[error("{0}")]
    InvalidSettings(String),
    /// The settings file could not be written.
    #[error(
        "The settings could not be saved, so they apply only until Session Keeper restarts. Free some disk space or check that the settings folder can be written."
    )]
    SettingsNotSaved(#[source] session_core::Cause),
    /// The user closed the sign-in window before the provider redirected back.
    #[error("The sign-in window was closed before the sign-in finished. Choose Sign in to try again.")]
    SignInCancelled,
    /// A newer sign-in for the same session replaced this one.
    #[error("A newer sign-in replaced this one.")]
    SignInReplaced,
    /// The login autostart entry could not be written or removed.
    #[error("Starting at login could not be changed. Check that ~/.config/autostart can be written.")]
    Autostart(#[source] session_core::Cause),
}

/// `Result` with the shell's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The stable, machine-readable kind the page switches on.
    pub fn kind(&self) -> String {
        match self {
            Error::Core(err) => {
                serde_json::to_value(err.kind()).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_else(|| "core_failed".into())
            }
            Error::Window(_) => "window_failed".into(),
            Error::InvalidSettings(_) => "invalid_settings".into(),
            Error::SettingsNotSaved(_) => "settings_not_saved".into(),
            Error::SignInCancelled => "sign_in_cancelled".into(),
            Error::SignInReplaced => "sign_in_replaced".into(),
            Error::Autostart(_) => "autostart_failed".into(),
        }
    }
}

/// An error as the page sees it, for event payloads (which must be `Clone`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ErrorPayload {
    /// [`Error::kind`].
    pub kind: String,
    /// What happened and what to do.
    pub message: String,
}

impl From<&Error> for ErrorPayload {
    fn from(err: &Error) -> Self {
        ErrorPayload { kind: err.kind(), message: err.to_string() }
    }
}

impl Error {
    /// The issuer to offer instead, when the provider announced the configured one with or without a
    /// trailing slash (Auth0 and Authentik announce one, and users rarely type it).
    pub fn suggested_issuer(&self) -> Option<&str> {
        match self {
            Error::Core(session_core::Error::IssuerMismatch { expected, found })
                if expected.trim_end_matches('/') == found.trim_end_matches('/') =>
            {
                Some(found)
            }
            _ => None,
        }
    }

    /// The whole cause chain, for the log (the page gets only our words).
    fn chain(&self) -> String {
        session_core::causes(self)
    }
}

/// What the page receives is what the user reads; it goes to the log at the same moment, with its
/// kind and the library's own words behind it.
impl Serialize for Error {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let kind = self.kind();
        let message = self.to_string();
        tracing::warn!(kind = %kind, cause = %self.chain(), "{message}");
        let suggested = self.suggested_issuer();
        let mut out = serializer.serialize_struct("Error", if suggested.is_some() { 3 } else { 2 })?;
        out.serialize_field("kind", &kind)?;
        out.serialize_field("message", &message)?;
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

    #[test]
    fn the_page_gets_kind_and_message() {
        let err = Error::from(session_core::Error::UnknownSession("work".into()));
        let value = serde_json::to_value(&err).unwrap();
        assert_eq!(value["kind"], json!("unknown_session"));
        assert_eq!(value.as_object().unwrap().len(), 2);
        assert!(value["message"].as_str().unwrap().contains("work"), "{value}");

        let value = serde_json::to_value(Error::SignInCancelled).unwrap();
        assert_eq!(value, json!({ "kind": "sign_in_cancelled", "message": Error::SignInCancelled.to_string() }));
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
    fn the_page_never_gets_the_library_words() {
        let err = Error::SettingsNotSaved(session_core::Cause("No space left on device (os error 28)".into()));
        assert!(!err.to_string().contains("os error"), "{err}");
        assert_eq!(err.chain(), "No space left on device (os error 28)");
    }
}
