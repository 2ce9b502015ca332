//! `ErrorInfo`: an error as a session records it and a snapshot shows it.

use serde::Serialize;

use super::{Cause, Error, ErrorKind};

/// The serializable face of an error: `{ "kind": "...", "message": "..." }`, what a session records
/// and a snapshot shows. Its cause travels with it in memory, so that an error recorded on a session
/// and later given to a caller still has its `source()` for the log; the cause is never serialized
/// (not to the page, not to the store), and two infos that read the same are equal whatever their
/// causes.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ErrorInfo {
    /// Stable classification.
    pub kind: ErrorKind,
    /// Human-readable message that says what to do.
    pub message: String,
    /// The words the message leaves out (the library's or the provider's, queries removed).
    #[serde(skip)]
    pub(super) cause: Option<Cause>,
}

impl PartialEq for ErrorInfo {
    fn eq(&self, other: &Self) -> bool {
        (self.kind, &self.message) == (other.kind, &other.message)
    }
}

impl Eq for ErrorInfo {}

impl std::hash::Hash for ErrorInfo {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.kind, &self.message).hash(state);
    }
}

impl From<ErrorInfo> for Error {
    fn from(info: ErrorInfo) -> Self {
        Error::Session(info)
    }
}

impl ErrorInfo {
    /// An error of `kind` that reads `message`, recorded without an [`Error`] behind it (a test's, or
    /// a failure described in our own words).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ErrorInfo { kind, message: message.into(), cause: None }
    }

    /// The same error with `cause` (for logs) behind its message.
    pub fn with_cause(self, cause: impl Into<String>) -> Self {
        ErrorInfo { cause: Some(Cause(cause.into())), ..self }
    }

    /// The words behind the message, for logs: what `source()` gives.
    pub fn cause(&self) -> Option<&Cause> {
        self.cause.as_ref()
    }

    /// A problem with the provider's answer that did not stop the operation.
    pub fn misbehaved(message: String) -> Self {
        ErrorInfo::new(ErrorKind::ProviderMisbehaved, message)
    }
}

/// A recorded error reads as its message, so that [`Error::Session`] shows it unchanged.
impl std::fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ErrorInfo {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_ref().map(|cause| cause as &(dyn std::error::Error + 'static))
    }
}
