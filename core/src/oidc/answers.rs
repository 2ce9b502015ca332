//! What the provider's token answers become: a completed sign-in, a refresh answer before and after
//! its ID token is checked, and the userinfo check.

use super::*;

/// What a completed sign-in yields.
#[derive(Debug)]
pub struct SignedIn {
    /// The tokens, to go to the vault.
    pub secrets: SessionSecrets,
    /// Their expiry instants.
    pub times: TokenTimes,
    /// Who signed in.
    pub user: UserProfile,
    /// What in the provider's answer was repaired (a lifetime clamped), for the card.
    pub warning: Option<String>,
    /// When the person authenticated at the provider (the ID token's `auth_time`), if it says.
    pub auth_time: Option<chrono::DateTime<chrono::Utc>>,
}

/// A refresh answer, before its ID token is checked: checked before it is written when the keys
/// are at hand, else written first and checked after a fetch of the signing keys.
#[derive(Debug)]
pub struct RefreshAnswer {
    /// The tokens to store (the old refresh or ID token is kept when the provider sends none; a new ID
    /// token is stored unchecked and replaced if the check drops it).
    pub secrets: SessionSecrets,
    /// Their expiry instants.
    pub times: TokenTimes,
    /// What the HTTP layer repaired in the answer.
    pub warning: Option<String>,
    /// When the answer arrived: the start of the window in which a crash loses it.
    pub received: std::time::Instant,
    pub(super) id_token: Option<Box<openidconnect::core::CoreIdToken>>,
    pub(super) previous_id_token: Option<SecretString>,
    /// The answer's access token was refused (a `token_type` this client does not use); `secrets`
    /// then hold the tokens held before with the answer's rotated refresh token.
    pub(super) refused: Option<ErrorInfo>,
}

impl RefreshAnswer {
    /// An answer without an ID token (a scripted authority's).
    pub fn new(secrets: SessionSecrets, times: TokenTimes, warning: Option<String>) -> Self {
        Self { secrets, times, warning, received: std::time::Instant::now(), id_token: None, previous_id_token: None, refused: None }
    }

    /// True when the answer's access token was refused (a `token_type` this client does not use).
    pub fn is_refused(&self) -> bool {
        self.refused.is_some()
    }

    /// The answer taken as it is, with nothing to check.
    pub fn unchecked(self) -> Refreshed {
        Refreshed {
            secrets: self.secrets,
            times: self.times,
            warning: self.warning,
            rejected: None,
            unsaved: None,
            id_token_dropped: false,
            refused: self.refused,
        }
    }
}

/// New tokens from a refresh, checked.
#[derive(Debug)]
pub struct Refreshed {
    /// The tokens to store (the old refresh or ID token is kept when the provider sends none).
    pub secrets: SessionSecrets,
    /// Their expiry instants.
    pub times: TokenTimes,
    /// A problem that did not stop the refresh (a repaired answer, or a refreshed ID token dropped
    /// for a harmless defect such as its own expiry).
    pub warning: Option<String>,
    /// The answer failed a security check, for this reason: its tokens must not be used or stored,
    /// and are revoked ([`crate::RefreshFailure::Security`]).
    pub rejected: Option<ErrorInfo>,
    /// Set by the scheduler when the keychain did not accept the new tokens.
    pub unsaved: Option<ErrorInfo>,
    /// The refreshed ID token was dropped: the previous one is kept (and, when the answer had to be
    /// written before its check, goes back to the keychain).
    pub id_token_dropped: bool,
    /// The answer's access token was refused, for this reason (RFC 6749 7.1: a `token_type` this
    /// client does not use): the refresh failed ([`crate::RefreshFailure::Rejected`]) and `secrets`
    /// are the tokens held before with the answer's rotated refresh token, the only one the provider
    /// still honours, so that it is not lost.
    pub refused: Option<ErrorInfo>,
}

/// The result of asking the userinfo endpoint.
#[derive(Debug)]
pub enum UserCheck {
    /// The access token stands; here is the user.
    Valid(UserProfile),
    /// The provider refused the access token (401/403).
    Rejected,
    /// The check could not be made.
    Unavailable(Error),
}
