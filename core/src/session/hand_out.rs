//! The rules of a hand-out that need no state and no I/O: which [`TokenKind`] a [`TokenRequest`]
//! asks for (with the scope rule of a narrowed token), which of the session's tokens is handed out,
//! and what a sign-out says when the provider could not be asked to revoke.

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::SecretString;

use super::snapshot::TokenRequest;
use super::state::TokenKind;
use crate::error::{Error, ErrorKind, Result};
use crate::secret::SessionSecrets;

/// The token `request` asks for. A narrower scope (without an audience or the ID token) must name
/// at least one scope, and only scopes the session was signed in with (`granted`): it is refused
/// here, without a request to the provider. Its scopes are sorted and named once, so that the same
/// set asked in another order reuses the same token.
pub(crate) fn token_kind(id: &str, request: &TokenRequest, granted: &[String]) -> Result<TokenKind> {
    if let (Some(scope), None, false) = (&request.scope, &request.audience, request.id_token) {
        let mut wanted: Vec<&str> = scope.split_whitespace().collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Err(Error::InvalidConfiguration("Name at least one scope.".into()));
        }
        if let Some(extra) = wanted.iter().find(|s| !granted.iter().any(|g| g == *s)) {
            return Err(Error::NotOffered(format!(
                "Session \"{id}\" was not signed in with the scope \"{extra}\", so no token with it can be made: a narrower token takes scopes the session has ({}).",
                granted.join(" ")
            )));
        }
        return Ok(TokenKind::Narrowed { scope: wanted.join(" ") });
    }
    Ok(if request.id_token {
        TokenKind::Id
    } else if let Some(audience) = &request.audience {
        TokenKind::Exchanged { audience: audience.clone(), scope: request.scope.clone() }
    } else {
        TokenKind::Access
    })
}

/// Which of the session's tokens goes to the program.
#[derive(Debug)]
pub(crate) enum OwnToken {
    /// This token, expiring then (on this computer's clock).
    Ready(SecretString, Option<DateTime<Utc>>),
    /// Exchange this access token for a token for `audience` (RFC 8693) first.
    Exchange { access_token: SecretString, audience: String, scope: Option<String> },
}

/// The session's token for `kind` (not a narrowed one): the access token with its expiry, the ID
/// token with its own `exp` moved onto this computer's clock (`clock_offset` is the provider's clock
/// minus ours), or the access token to exchange.
pub(crate) fn own_token(
    kind: &TokenKind,
    secrets: SessionSecrets,
    access_expires_at: Option<DateTime<Utc>>,
    clock_offset: TimeDelta,
) -> Result<OwnToken> {
    match kind {
        TokenKind::Access | TokenKind::Narrowed { .. } => Ok(OwnToken::Ready(secrets.access_token, access_expires_at)),
        TokenKind::Id => {
            let id_token = secrets.id_token.ok_or_else(|| {
                Error::NotOffered("The provider gave this session no ID token: sign in again, or ask for the access token.".into())
            })?;
            let expires_at = crate::oidc::jwt_expiry(&id_token).map(|at| at - clock_offset);
            Ok(OwnToken::Ready(id_token, expires_at))
        }
        TokenKind::Exchanged { audience, scope } => {
            Ok(OwnToken::Exchange { access_token: secrets.access_token, audience: audience.clone(), scope: scope.clone() })
        }
    }
}

/// Why a sign-out did not ask the provider to revoke, by the kind of error that stopped it.
pub(crate) fn not_asked_because(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ProviderUnavailable => "it could not be reached",
        _ => "its answer could not be used",
    }
}

#[cfg(test)]
mod tests;
