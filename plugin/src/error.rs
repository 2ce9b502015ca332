//! The plugin's errors, as a page receives them: `{ "kind": "...", "message": "..." }`. The page
//! switches on the stable `kind` (the core's [`session_core::ErrorKind`] passed through unchanged, or
//! the plugin's own [`PluginKind`], both named by `as_str()`) and shows the `message`, which says what
//! to do. An error is logged once, with its cause chain, where it leaves for the page.

use serde::ser::{Serialize, SerializeStruct, Serializer};

/// Everything a command or a sign-in can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The session core refused or failed (its kind is passed through unchanged).
    #[error(transparent)]
    Core(#[from] session_core::Error),
    /// A window could not be opened or changed.
    #[error("The window could not be opened. Try again; if it keeps failing, restart the app.")]
    Window(#[from] tauri::Error),
    /// The user closed the sign-in window before the provider redirected back.
    #[error("The sign-in window was closed before the sign-in finished. Choose Sign in to try again.")]
    SignInCancelled,
    /// A newer sign-in for the same session replaced this one.
    #[error("A newer sign-in replaced this one.")]
    SignInReplaced,
}

/// `Result` with the plugin's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// The plugin's own kinds of failure, beside the core's [`session_core::ErrorKind`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginKind {
    /// [`Error::Window`].
    WindowFailed,
    /// [`Error::SignInCancelled`].
    SignInCancelled,
    /// [`Error::SignInReplaced`].
    SignInReplaced,
}

impl PluginKind {
    /// Every plugin kind, for an app's table of messages.
    pub const ALL: [PluginKind; 3] = [PluginKind::WindowFailed, PluginKind::SignInCancelled, PluginKind::SignInReplaced];

    /// The stable name the page switches on.
    pub const fn as_str(self) -> &'static str {
        match self {
            PluginKind::WindowFailed => "window_failed",
            PluginKind::SignInCancelled => "sign_in_cancelled",
            PluginKind::SignInReplaced => "sign_in_replaced",
        }
    }
}

/// What kind of failure an error is: the core's kind passed through unchanged, or the plugin's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The core's kind.
    Core(session_core::ErrorKind),
    /// The plugin's kind.
    Plugin(PluginKind),
}

impl Kind {
    /// The stable, machine-readable name the page switches on (`"not_signed_in"`, `"window_failed"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Core(kind) => kind.as_str(),
            Kind::Plugin(kind) => kind.as_str(),
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Error {
    /// The stable, machine-readable kind the page switches on.
    pub fn kind(&self) -> Kind {
        match self {
            Error::Core(err) => Kind::Core(err.kind()),
            Error::Window(_) => Kind::Plugin(PluginKind::WindowFailed),
            Error::SignInCancelled => Kind::Plugin(PluginKind::SignInCancelled),
            Error::SignInReplaced => Kind::Plugin(PluginKind::SignInReplaced),
        }
    }

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

    /// Logs the error as the page is about to show it: its kind, our words, and the library's own
    /// words behind them (the page gets only ours). Called once per error shown.
    pub fn log(&self) {
        tracing::warn!(kind = %self.kind(), cause = %session_core::causes(self), "{self}");
    }
}

/// What a command answers: its result, with an error logged on its way to the page.
pub fn answer<T>(result: Result<T>) -> Result<T> {
    if let Err(err) = &result {
        err.log();
    }
    result
}

/// An error as the page sees it, for event payloads (which must be `Clone`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ErrorPayload {
    /// [`Error::kind`], by its name.
    pub kind: &'static str,
    /// What happened and what to do.
    pub message: String,
}

impl From<&Error> for ErrorPayload {
    fn from(err: &Error) -> Self {
        err.log();
        ErrorPayload { kind: err.kind().as_str(), message: err.to_string() }
    }
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

    #[test]
    fn the_page_gets_kind_and_message_and_the_core_kinds_pass_through() {
        let err = Error::from(session_core::Error::UnknownSession("work".into()));
        let value = serde_json::to_value(&err).unwrap();
        assert_eq!(value["kind"], json!("unknown_session"));
        assert_eq!(value.as_object().unwrap().len(), 2);
        assert!(value["message"].as_str().unwrap().contains("work"), "{value}");
        assert_eq!(serde_json::to_value(Error::SignInCancelled).unwrap()["kind"], json!("sign_in_cancelled"));
        for kind in session_core::ErrorKind::ALL {
            assert_eq!(Kind::Core(*kind).as_str(), serde_json::to_value(kind).unwrap().as_str().unwrap());
        }
        let names: std::collections::BTreeSet<&str> = PluginKind::ALL.iter().map(|kind| kind.as_str()).collect();
        assert_eq!(names.len(), PluginKind::ALL.len(), "no two plugin kinds share a name");
        let payload = ErrorPayload::from(&Error::SignInReplaced);
        assert_eq!(
            serde_json::to_value(&payload).unwrap(),
            json!({ "kind": "sign_in_replaced", "message": "A newer sign-in replaced this one." })
        );
    }

    #[test]
    fn an_issuer_announced_with_a_trailing_slash_is_offered_and_nothing_else_is() {
        let mismatch = |expected: &str, found: &str| {
            serde_json::to_value(Error::from(session_core::Error::IssuerMismatch { expected: expected.into(), found: found.into() }))
                .unwrap()
        };
        assert_eq!(mismatch("https://x.auth0.com", "https://x.auth0.com/")["suggestedIssuer"], json!("https://x.auth0.com/"));
        assert!(mismatch("https://a.example", "https://evil.example").get("suggestedIssuer").is_none());
    }
}
