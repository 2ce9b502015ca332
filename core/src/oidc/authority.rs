//! The seam between the scheduler and a provider: what is asked of a provider in the background, so
//! that tests can plug in a scripted one.

use super::*;

/// A boxed future, for the object-safe [`TokenAuthority`].
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What the scheduler asks of a provider in the background: refresh and userinfo. The discovered
/// provider is the real one; tests of the scheduler's timing plug in their own through
/// `SessionManagerBuilder::token_authority` (feature `test-util`), because tokio's paused clock and
/// real sockets do not mix (the paused clock jumps to the next timer, an HTTP timeout, while a socket
/// waits).
pub trait TokenAuthority: Send + Sync + 'static {
    /// Exchanges the refresh token in `current` for new tokens, to be checked and written to the
    /// keychain before anyone learns of them.
    fn refresh<'a>(&'a self, current: &'a SessionSecrets) -> BoxFuture<'a, std::result::Result<RefreshAnswer, RefreshFailure>>;
    /// Checks the answer against `subject`, the signed-in user, with what is at hand (no request),
    /// before it is written; gives the answer back when only a fetch of the provider's signing keys
    /// can settle it ([`TokenAuthority::check_refresh`], after the write). An authority without ID
    /// tokens takes the answer as it is.
    fn check_refresh_at_hand(&self, answer: RefreshAnswer, _subject: Option<&str>) -> std::result::Result<Refreshed, Box<RefreshAnswer>> {
        Ok(answer.unchecked())
    }
    /// Checks the answer against `subject`, fetching the provider's signing keys again if needed.
    fn check_refresh<'a>(&'a self, answer: RefreshAnswer, _subject: Option<&'a str>) -> BoxFuture<'a, Refreshed> {
        Box::pin(async move { answer.unchecked() })
    }
    /// Asks whether the access token still stands.
    fn user_info<'a>(&'a self, access_token: &'a SecretString) -> BoxFuture<'a, UserCheck>;
    /// A refresh for a narrower `scope`; the answer's access token goes to the program that asked,
    /// its refresh token (rotated or not) stays the session's. An authority without scopes refuses.
    fn refresh_narrowed<'a>(
        &'a self,
        _current: &'a SessionSecrets,
        _scope: &'a str,
    ) -> BoxFuture<'a, std::result::Result<RefreshAnswer, RefreshFailure>> {
        Box::pin(async {
            Err(RefreshFailure::Rejected(Error::NotOffered("This session's token authority makes no narrower tokens.".into()).info()))
        })
    }
}

impl TokenAuthority for Provider {
    fn refresh<'a>(&'a self, current: &'a SessionSecrets) -> BoxFuture<'a, std::result::Result<RefreshAnswer, RefreshFailure>> {
        Box::pin(Provider::refresh(self, current))
    }

    fn check_refresh_at_hand(&self, answer: RefreshAnswer, subject: Option<&str>) -> std::result::Result<Refreshed, Box<RefreshAnswer>> {
        Provider::check_refresh_at_hand(self, answer, subject)
    }

    fn check_refresh<'a>(&'a self, answer: RefreshAnswer, subject: Option<&'a str>) -> BoxFuture<'a, Refreshed> {
        Box::pin(Provider::check_refresh(self, answer, subject))
    }

    fn user_info<'a>(&'a self, access_token: &'a SecretString) -> BoxFuture<'a, UserCheck> {
        Box::pin(Provider::user_info(self, access_token))
    }

    fn refresh_narrowed<'a>(
        &'a self,
        current: &'a SessionSecrets,
        scope: &'a str,
    ) -> BoxFuture<'a, std::result::Result<RefreshAnswer, RefreshFailure>> {
        Box::pin(Provider::refresh_narrowed(self, current, scope))
    }
}
