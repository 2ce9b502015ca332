//! What the protocol layer tells the session layer about a token response: the expiry instants of
//! the tokens it brought, and how a failed refresh is classified. Defined here, below the session
//! module, so that the protocol never imports from the sessions that use it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ErrorInfo;

/// Expiry instants of a token set, measured from when the token response arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenTimes {
    /// When the access token expires (`None` if the provider did not say).
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// When the refresh token expires, if the provider reports it (`refresh_expires_in`).
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// Whether a refresh token is held.
    pub has_refresh_token: bool,
    /// The refresh token is an "online" one: `offline_access` was asked for, and the answer's granted
    /// `scope` lists the OpenID scopes without it (OIDC Core 11), so the token lasts only as long as
    /// the person's sign-in at the provider. Not secret; false in session files written before it.
    #[serde(default)]
    pub refresh_token_online: bool,
}

/// Why a refresh failed.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshFailure {
    /// Network, timeout, 5xx, keychain busy: retry with backoff, keep the session.
    Transient(ErrorInfo),
    /// `invalid_grant`: the refresh token is dead (unless another process rotated it: the session
    /// reads the keychain again before it believes this, `Event::Reread`).
    Revoked(ErrorInfo),
    /// The provider refused for another reason (a 4xx other than `invalid_grant`: the client misconfigured, or
    /// a login session that ended): the tokens are kept and the keychain read again; the retry waits the
    /// longest backoff, and a second refusal ends the session (`machine/failures.rs`).
    Rejected(ErrorInfo),
    /// The answer failed a security check (an ID token for another user, or one whose signature,
    /// issuer or audience is wrong): the session ends, and the tokens that came with it are revoked.
    Security(ErrorInfo),
    /// The provider is busy and said when to come back (`Retry-After` on 429 or 503): keep the
    /// session, retry no sooner than that (capped by the longest retry delay).
    Throttled {
        /// What the provider answered.
        error: ErrorInfo,
        /// How long it asked to wait.
        retry_after: std::time::Duration,
    },
}

impl RefreshFailure {
    /// What went wrong.
    pub fn info(&self) -> &ErrorInfo {
        match self {
            RefreshFailure::Transient(info)
            | RefreshFailure::Revoked(info)
            | RefreshFailure::Rejected(info)
            | RefreshFailure::Security(info)
            | RefreshFailure::Throttled { error: info, .. } => info,
        }
    }
}
