//! The stable kinds of the crate's errors: the one list of them, from which their names and the
//! list of all of them are derived.

use serde::Serialize;

/// Declares [`ErrorKind`] from one list, each kind once with its doc and its name, and derives from
/// that list [`ErrorKind::ALL`] and [`ErrorKind::as_str`]: a kind added here is in every table that
/// iterates `ALL` (the README's, the shell's), and its name cannot drift from serde's (a test pins
/// `as_str` against `serde_json` for every kind).
macro_rules! error_kinds {
    ($($(#[doc = $doc:literal])+ $kind:ident = $name:literal,)+) => {
        /// A stable, machine-readable classification of an [`Error`](super::Error), serialized in snake_case.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum ErrorKind {
            $($(#[doc = $doc])+ $kind,)+
        }

        impl ErrorKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind),+];

            /// The kind's stable name, the same as its serialized form (`"session_revoked"`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorKind::$kind => $name,)+
                }
            }
        }
    };
}

error_kinds! {
    /// The provider settings are wrong (malformed URL, plain http to a remote host, bad scopes).
    InvalidConfiguration = "invalid_configuration",
    /// The provider could not be reached or answered with a server error; trying later may work.
    ProviderUnavailable = "provider_unavailable",
    /// The provider's TLS certificate is not trusted (unknown issuer, expired, for another name,
    /// self-signed): not an outage, so not retried as one; the person or an administrator must act.
    CertificateRejected = "certificate_rejected",
    /// The proxy on the way to the provider refused the request (it asks for credentials, 407).
    ProxyRefused = "proxy_refused",
    /// The provider answered, but not as an OpenID Provider should (bad metadata, bad response).
    ProviderMisbehaved = "provider_misbehaved",
    /// The provider announces a different issuer than the one configured.
    IssuerMismatch = "issuer_mismatch",
    /// The provider refused the sign-in (the user cancelled, or the provider returned an error).
    SignInRejected = "sign_in_rejected",
    /// The redirect did not belong to the sign-in in progress, or could not be read.
    InvalidRedirect = "invalid_redirect",
    /// No sign-in is in progress for that session (it was cancelled, replaced or already completed).
    NoSignInPending = "no_sign_in_pending",
    /// The ID token failed validation (signature, issuer, audience, expiry or nonce).
    InvalidIdToken = "invalid_id_token",
    /// The provider rejected the refresh token for good: the user has to sign in again.
    SessionRevoked = "session_revoked",
    /// The session is not signed in, so there is nothing to refresh or sign out.
    NotSignedIn = "not_signed_in",
    /// No session with that name exists.
    UnknownSession = "unknown_session",
    /// A session with that name exists already.
    SessionExists = "session_exists",
    /// The OS keychain is locked: unlock it and try again.
    KeychainLocked = "keychain_locked",
    /// The OS keychain (Secret Service) is not running or did not answer in time.
    KeychainUnavailable = "keychain_unavailable",
    /// The OS keychain failed in another way.
    KeychainFailed = "keychain_failed",
    /// No keychain answers and the sealed vault is locked: its passphrase is to be entered in the app's
    /// window; the tokens wait in memory.
    VaultLocked = "vault_locked",
    /// The passphrase given does not open the sealed vault (nothing was changed).
    WrongPassphrase = "wrong_passphrase",
    /// The settings/metadata file could not be read or written.
    StorageFailed = "storage_failed",
    /// The session manager has shut down.
    Shutdown = "shutdown",
    /// The sign-in in the system browser did not finish in time.
    SignInTimedOut = "sign_in_timed_out",
    /// The sign-in was cancelled in the app.
    SignInCancelled = "sign_in_cancelled",
    /// The system browser could not be opened.
    BrowserUnavailable = "browser_unavailable",
    /// The provider does not offer what was asked for (token exchange, an ID token).
    NotOffered = "not_offered",
    /// The user refused a program a session's token.
    ConsentDenied = "consent_denied",
    /// Nobody answered the question whether a program may have a session's token.
    ConsentTimedOut = "consent_timed_out",
    /// The provider's own sign-in session has ended (a silent sign-in was answered `login_required`,
    /// `interaction_required`, `consent_required` or `account_selection_required`): sign in again.
    SignInNeeded = "sign_in_needed",
    /// A silent sign-in was answered for another user or issuer than the session's: the answer was
    /// refused and the session left as it was.
    OtherUser = "other_user",
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ErrorKind {
    /// The keychain's own trouble (locked, absent, refusing), or the sealed vault standing in for it
    /// locked: the tokens are fine and wait in memory.
    pub fn is_keychain(self) -> bool {
        matches!(self, ErrorKind::KeychainFailed | ErrorKind::KeychainLocked | ErrorKind::KeychainUnavailable | ErrorKind::VaultLocked)
    }
}
