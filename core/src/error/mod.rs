//! One error type for the crate. Every variant says what happened and what the user can do about it,
//! and maps to a stable [`ErrorKind`] that a UI can switch on.

use serde::Serialize;

mod info;
mod kind;
pub use info::ErrorInfo;
pub use kind::ErrorKind;

/// Everything that can go wrong in `session-core`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Invalid provider configuration.
    #[error("{0}")]
    InvalidConfiguration(String),
    /// The provider could not be reached or timed out (the network's trouble, or its), or it answered
    /// that it cannot serve now: a 5xx, 429 or `temporarily_unavailable` (its own trouble, `answered`).
    #[error("{}", unavailable_message(endpoint, reason, *answered))]
    ProviderUnavailable {
        /// The endpoint that was called.
        endpoint: String,
        /// A few words: "connection refused", "timed out", "HTTP 503".
        reason: String,
        /// Whether the provider answered (so the network is fine, and checking it is the wrong advice).
        answered: bool,
        /// The transport error, for logs (its URL's query removed).
        #[source]
        source: Option<Cause>,
    },
    /// The provider's TLS certificate was not accepted. `problem` says which check failed and names
    /// the certificate (subject, issuer, SHA-256 fingerprint); `advice` says what to do.
    #[error("The provider at {endpoint} presented a certificate that is not trusted: {problem}. {advice}")]
    CertificateRejected {
        /// The endpoint that was called.
        endpoint: String,
        /// Which check failed and the certificate's subject, issuer and fingerprint.
        problem: String,
        /// What the user can do.
        advice: String,
        /// The TLS library's own error, for logs.
        #[source]
        source: Option<Cause>,
    },
    /// The proxy on the way to the provider refused to carry the request.
    #[error("The proxy {proxy} refused the request to {endpoint}: {reason}. {advice}")]
    ProxyRefused {
        /// The endpoint that was called.
        endpoint: String,
        /// The proxy, without any credentials.
        proxy: String,
        /// A few words: "it asks for a user name and password (HTTP 407)".
        reason: String,
        /// What the user can do.
        advice: &'static str,
        /// The transport error, for logs.
        #[source]
        source: Option<Cause>,
    },
    /// The provider gave an answer that breaks the protocol.
    #[error("The provider's answer at {endpoint} could not be used: {detail}. {advice}")]
    ProviderMisbehaved {
        /// The endpoint that was called.
        endpoint: String,
        /// What was wrong with the answer, in a few words of ours.
        detail: String,
        /// What the user can do: one of the `ADVICE_*` sentences.
        advice: &'static str,
        /// The library's or the provider's own words, for logs.
        #[source]
        source: Option<Cause>,
    },
    /// Discovery announced another issuer.
    #[error(
        "The provider says its issuer is {found}, but {expected} was configured. Use the issuer URL exactly as the provider announces it."
    )]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The issuer the provider announced (or sent in the redirect's `iss`).
        found: String,
    },
    /// The provider returned an OAuth error to the redirect URI, or refused the code.
    #[error("The provider refused the sign-in: {0}. Try signing in again.")]
    SignInRejected(String),
    /// The redirect URL is malformed or does not match the pending sign-in.
    #[error("The sign-in redirect was not accepted: {0}. Start the sign-in again.")]
    InvalidRedirect(String),
    /// No sign-in transaction to complete.
    #[error("No sign-in is in progress for session \"{0}\". Start the sign-in again.")]
    NoSignInPending(String),
    /// ID token validation failed.
    #[error(
        "The provider's ID token was refused: {reason}. Nothing was stored; try signing in again, and if it fails again, tell the provider's administrator."
    )]
    InvalidIdToken {
        /// Which check failed, in a few words of ours.
        reason: String,
        /// The validating library's own words, for logs.
        #[source]
        source: Option<Cause>,
    },
    /// `invalid_grant` on refresh, or the grant was revoked.
    #[error("The provider no longer accepts this session: sign in again.")]
    SessionRevoked {
        /// The provider's own error (`invalid_grant: …`), for logs.
        #[source]
        cause: Option<Cause>,
    },
    /// Operation needs a signed-in session.
    #[error("Session \"{0}\" is not signed in: sign in first.")]
    NotSignedIn(String),
    /// Unknown session name.
    #[error("There is no session named \"{0}\".")]
    UnknownSession(String),
    /// Duplicate session name.
    #[error("A session named \"{0}\" exists already: choose another name or remove it first.")]
    SessionExists(String),
    /// Keychain locked.
    #[error(
        "The keychain is locked: unlock it (for example by signing in to the desktop, or in KeePassXC by opening its database) and try again."
    )]
    KeychainLocked,
    /// Keychain not available.
    #[error("The keychain (Secret Service) is not available: {reason}. Start gnome-keyring or another Secret Service and try again.")]
    KeychainUnavailable {
        /// A few words: "it did not answer within 5 s".
        reason: String,
        /// The keyring library's own error, for logs.
        #[source]
        source: Option<Cause>,
    },
    /// Other keychain failure.
    #[error("The keychain failed: {reason}")]
    KeychainFailed {
        /// What went wrong and what to do.
        reason: String,
        /// The keyring library's own error, for logs.
        #[source]
        source: Option<Cause>,
    },
    /// No keychain answers and the sealed vault is locked.
    #[error("Enter the passphrase of the sealed vault in Session Keeper's window: the tokens are in memory only until then.")]
    VaultLocked,
    /// The passphrase does not open the sealed vault.
    #[error("That passphrase does not open the sealed vault; nothing was changed. Type it again (capitals count).")]
    WrongPassphrase,
    /// Metadata storage failure.
    #[error("Session Keeper could not use {path}: {detail}. {advice}")]
    StorageFailed {
        /// The file concerned.
        path: String,
        /// What went wrong, in a few words of ours.
        detail: String,
        /// What the user can do.
        advice: &'static str,
        /// The operating system's own words, for logs.
        #[source]
        source: Option<Cause>,
    },
    /// The manager task is gone.
    #[error("The session manager has stopped.")]
    Shutdown,
    /// An error that was recorded on a session ([`ErrorInfo`]) and is now given to a caller: its
    /// message, kind and cause as they were, not wrapped again.
    #[error(transparent)]
    Session(ErrorInfo),
    /// The browser sign-in did not come back in time.
    #[error("The sign-in in the browser did not finish within {} minutes, so Session Keeper stopped waiting. Start the sign-in again.", .0.as_secs().div_ceil(60))]
    SignInTimedOut(std::time::Duration),
    /// The sign-in was cancelled.
    #[error("The sign-in was cancelled.")]
    SignInCancelled,
    /// The system browser could not be opened.
    #[error("The system browser could not be opened. Set a default web browser, or switch this provider to the app's own sign-in window.")]
    BrowserUnavailable(#[source] Cause),
    /// The provider does not offer what was asked for; the message says what and what to do.
    #[error("{0}")]
    NotOffered(String),
    /// The user denied this program the session's token.
    #[error(
        "You did not allow {program} to use session \"{session}\". Allow it in Session Keeper's window (the card lists the programs), or ask again to be asked again."
    )]
    ConsentDenied {
        /// The executable that asked.
        program: String,
        /// The session it asked for.
        session: String,
    },
    /// Nobody answered the consent question in time.
    #[error("Nobody answered whether {program} may use session \"{session}\" within {} seconds, so it was not allowed. Ask again and answer the notification.", .waited.as_secs())]
    ConsentTimedOut {
        /// The executable that asked.
        program: String,
        /// The session it asked for.
        session: String,
        /// How long the question stood.
        waited: std::time::Duration,
    },
}

impl Error {
    /// The stable classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidConfiguration(_) => ErrorKind::InvalidConfiguration,
            Error::ProviderUnavailable { .. } => ErrorKind::ProviderUnavailable,
            Error::ProviderMisbehaved { .. } => ErrorKind::ProviderMisbehaved,
            Error::CertificateRejected { .. } => ErrorKind::CertificateRejected,
            Error::ProxyRefused { .. } => ErrorKind::ProxyRefused,
            Error::IssuerMismatch { .. } => ErrorKind::IssuerMismatch,
            Error::SignInRejected(_) => ErrorKind::SignInRejected,
            Error::InvalidRedirect(_) => ErrorKind::InvalidRedirect,
            Error::NoSignInPending(_) => ErrorKind::NoSignInPending,
            Error::InvalidIdToken { .. } => ErrorKind::InvalidIdToken,
            Error::SessionRevoked { .. } => ErrorKind::SessionRevoked,
            Error::Session(info) => info.kind,
            Error::NotSignedIn(_) => ErrorKind::NotSignedIn,
            Error::UnknownSession(_) => ErrorKind::UnknownSession,
            Error::SessionExists(_) => ErrorKind::SessionExists,
            Error::KeychainLocked => ErrorKind::KeychainLocked,
            Error::KeychainUnavailable { .. } => ErrorKind::KeychainUnavailable,
            Error::KeychainFailed { .. } => ErrorKind::KeychainFailed,
            Error::VaultLocked => ErrorKind::VaultLocked,
            Error::WrongPassphrase => ErrorKind::WrongPassphrase,
            Error::StorageFailed { .. } => ErrorKind::StorageFailed,
            Error::Shutdown => ErrorKind::Shutdown,
            Error::SignInTimedOut(_) => ErrorKind::SignInTimedOut,
            Error::SignInCancelled => ErrorKind::SignInCancelled,
            Error::BrowserUnavailable(_) => ErrorKind::BrowserUnavailable,
            Error::NotOffered(_) => ErrorKind::NotOffered,
            Error::ConsentDenied { .. } => ErrorKind::ConsentDenied,
            Error::ConsentTimedOut { .. } => ErrorKind::ConsentTimedOut,
        }
    }

    /// True when the same operation may succeed later without the user doing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::ProviderUnavailable | ErrorKind::KeychainUnavailable | ErrorKind::KeychainLocked | ErrorKind::VaultLocked
        )
    }

    /// `invalid_grant`: the provider no longer accepts the session; `cause` is its own words.
    pub fn revoked(cause: Option<String>) -> Self {
        Error::SessionRevoked { cause: cause.map(Cause) }
    }

    /// The provider could not be reached at `endpoint`, for `reason` (a few words).
    pub fn unavailable(endpoint: impl Into<String>, reason: impl Into<String>, source: Option<String>) -> Self {
        Error::ProviderUnavailable { endpoint: endpoint.into(), reason: reason.into(), answered: false, source: source.map(Cause) }
    }

    /// The provider at `endpoint` answered that it cannot serve now (`reason`: "HTTP 503", "busy,
    /// asked to retry in 30 s"): the same kind as an unreachable provider, in other words.
    pub fn busy(endpoint: impl Into<String>, reason: impl Into<String>, source: Option<String>) -> Self {
        Error::ProviderUnavailable { endpoint: endpoint.into(), reason: reason.into(), answered: true, source: source.map(Cause) }
    }

    /// The keychain cannot be reached, for `reason` (our words); `source` is the library's.
    pub fn keychain_unavailable(reason: impl Into<String>, source: Option<String>) -> Self {
        Error::KeychainUnavailable { reason: reason.into(), source: source.map(Cause) }
    }

    /// The keychain refused, for `reason` (our words, with what to do); `source` is the library's.
    pub fn keychain_failed(reason: impl Into<String>, source: Option<String>) -> Self {
        Error::KeychainFailed { reason: reason.into(), source: source.map(Cause) }
    }

    /// An answer that breaks the protocol: `detail` in our words, `advice` one of the `ADVICE_*`
    /// sentences, `cause` the library's or provider's words (kept for logs only).
    pub(crate) fn misbehaved(endpoint: impl Into<String>, detail: impl Into<String>, advice: &'static str, cause: Option<String>) -> Self {
        Error::ProviderMisbehaved { endpoint: endpoint.into(), detail: detail.into(), advice, source: cause.map(Cause) }
    }

    /// An ID token that failed `reason` (our words); `cause` is the validating library's.
    pub(crate) fn invalid_id_token(reason: impl Into<String>, cause: Option<String>) -> Self {
        Error::InvalidIdToken { reason: reason.into(), source: cause.map(Cause) }
    }

    /// The whole cause chain behind the message, for logs.
    pub fn chain(&self) -> String {
        causes(self)
    }

    /// A secret-free summary for snapshots and events, with the cause chain kept (in memory only) so
    /// that [`Error::from`] gives back an error with the same `source()`.
    pub fn info(&self) -> ErrorInfo {
        let chain = self.chain();
        ErrorInfo { kind: self.kind(), message: self.to_string(), cause: (!chain.is_empty()).then_some(Cause(chain)) }
    }
}

/// The causes behind `err` (not its own message), joined with ": ", for logs: the words a user's
/// message leaves out.
pub fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut source = err.source();
    while let Some(cause) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Advice for a provider that answers wrongly: nothing the user can fix here.
pub(crate) const ADVICE_ADMIN: &str = "Try again later; if it keeps happening, tell the provider's administrator.";
/// Advice when the issuer URL is probably wrong.
pub(crate) const ADVICE_ISSUER: &str =
    "Check the issuer URL: it is the address the provider's documentation gives, without /.well-known/openid-configuration.";
/// Advice when the provider refuses this client.
pub(crate) const ADVICE_CLIENT: &str =
    "Check the client ID and the client's settings at the provider (its type, redirect URIs and allowed grants).";

/// The cause behind an error, kept for logs and `source()` chains rather than pasted into the
/// message the user reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause(pub String);

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Cause {}

impl Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.info().serialize(serializer)
    }
}

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests;

/// The message of [`Error::ProviderUnavailable`]: a provider that answered is not sent to check the
/// network.
fn unavailable_message(endpoint: &str, reason: &str, answered: bool) -> String {
    if answered {
        format!(
            "The provider at {endpoint} cannot serve the request now ({reason}). Try again later; if it keeps happening, tell the provider's administrator."
        )
    } else {
        format!("The provider at {endpoint} could not be reached ({reason}). Check the network and try again.")
    }
}
