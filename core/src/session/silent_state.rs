//! A session's silent sign-in as its state holds it: the setting, whether it can run, the attempt in
//! flight and the last outcome. The rules are `machine/silent.rs`'s.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A session's silent sign-in: the setting (kept in the session file, on unless turned off), whether a
/// silent browser can carry it (a fact of the desktop, set when the session is loaded or added), the
/// attempt in flight, its tries, and the last outcome for the card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silent {
    /// The session's setting ([`crate::SessionManager::set_silent_sign_in`]).
    #[serde(default = "on")]
    pub enabled: bool,
    /// A silent browser is plugged in and the session signs in in the embedded window (its cookie is
    /// in the app's own store).
    #[serde(skip)]
    pub browser: bool,
    /// An attempt is in flight.
    #[serde(skip)]
    pub attempting: bool,
    /// The provider said its own session has ended (`login_required` & co.): no silent attempt until the
    /// person signs in.
    #[serde(default)]
    pub blocked: bool,
    /// Attempts that failed in a row for a passing reason (a timeout, the network).
    #[serde(skip)]
    pub failures: u32,
    /// When the next try is due after such a failure.
    #[serde(skip)]
    pub retry_at: Option<DateTime<Utc>>,
    /// The last attempt's outcome.
    #[serde(default)]
    pub last: Option<SilentAttempt>,
    /// The session ends within `signInAgainLead` and nothing will renew it silently (decided by the
    /// machine as time passes; the snapshot's `signInAgainSoon`).
    #[serde(skip)]
    pub sign_in_again_soon: bool,
    /// The attempt in flight was started because `invalid_grant` ended the refresh (this error): if it
    /// does not renew, the session ends with it.
    #[serde(skip)]
    pub ended_by: Option<crate::error::ErrorInfo>,
}

fn on() -> bool {
    true
}

impl Default for Silent {
    fn default() -> Self {
        Self {
            enabled: true,
            browser: false,
            attempting: false,
            blocked: false,
            failures: 0,
            retry_at: None,
            last: None,
            sign_in_again_soon: false,
            ended_by: None,
        }
    }
}

impl Silent {
    /// Whether a silent sign-in can renew the session: a browser plugged in, embedded sign-in, on, and
    /// the provider's session not known to have ended.
    pub fn possible(&self) -> bool {
        self.browser && self.enabled && !self.blocked
    }
}

/// How a silent sign-in ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SilentOutcome {
    /// New tokens for the same user.
    Renewed,
    /// The provider's own session has ended: the person signs in again.
    NeedsSignIn,
    /// The answer was not accepted (another user or issuer, a failed check, the provider's refusal).
    Refused,
    /// It could not be carried out (timeout, network, no window).
    Failed,
}

impl SilentOutcome {
    /// The serialized name (`renewed`, `needsSignIn`, `refused`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            SilentOutcome::Renewed => "renewed",
            SilentOutcome::NeedsSignIn => "needsSignIn",
            SilentOutcome::Refused => "refused",
            SilentOutcome::Failed => "failed",
        }
    }
}

/// One silent sign-in's outcome, for the card.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SilentAttempt {
    /// When it ended.
    pub at: DateTime<Utc>,
    /// How.
    pub outcome: SilentOutcome,
    /// Why, in words, when it did not renew.
    pub message: Option<String>,
}
