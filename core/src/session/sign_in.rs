//! The sign-in transaction: the authorization URL with PKCE, `state` and `nonce`; the redirect
//! taken from the embedded window or from a loopback listener (RFC 8252); the code exchange; and the
//! tokens written to the keychain before the state machine hears [`crate::Event::SignedIn`].

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use url::Url;

use super::commands::{Command, Request, SignedInTokens, Taken};
use super::handle::SessionManager;
use super::snapshot::SessionSnapshot;
use crate::error::{Error, Result};
use crate::loopback::{LoopbackListener, Page};
use crate::names::RedirectUri;

impl SessionManager {
    /// Starts a sign-in: returns the provider's authorization URL to open in a browser window. A sign-in
    /// already in progress for the session is replaced (one attempt per session at a time).
    pub async fn begin_sign_in(&self, id: &str) -> Result<Url> {
        self.begin_sign_in_at(id, None).await
    }

    async fn begin_sign_in_at(&self, id: &str, redirect_uri: Option<&RedirectUri>) -> Result<Url> {
        let record = self.record(id).await?;
        // Fresh discovery per sign-in picks up rotated signing keys and changed endpoints.
        let provider = self.shared.providers.discover(id, &record.provider).await?;
        let (url, pending) = provider.begin_sign_in(redirect_uri);
        self.call(|reply| Command::session(id, Request::BeginSignIn { pending, reply })).await??;
        Ok(url)
    }

    /// Signs in through the system browser (RFC 8252): listens on the loopback redirect URI with an
    /// ephemeral port, calls `open` with the authorization URL, and completes the sign-in with the
    /// redirect that carries this attempt's `state`. Requests with another path or `state` are
    /// answered and ignored. Ends with [`Error::SignInTimedOut`] after `timeout` and with
    /// [`Error::SignInCancelled`] when `cancel` fires; either way nothing is stored and the port closes.
    pub async fn sign_in_with_browser(
        &self,
        id: &str,
        open: impl FnOnce(&Url) -> std::result::Result<(), String>,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> Result<SessionSnapshot> {
        let config = self.provider_config(id).await?;
        let mut listener = LoopbackListener::bind(&config.redirect_uri).await?;
        let url = self.begin_sign_in_at(id, Some(listener.redirect_uri())).await?;
        tracing::info!(session = id, redirect_uri = %listener.redirect_uri(), "browser sign-in started");
        if let Err(problem) = open(&url) {
            let _ = self.cancel_sign_in(id).await;
            return Err(Error::BrowserUnavailable(crate::Cause(problem)));
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            let arrival = tokio::select! {
                arrival = listener.next() => arrival,
                () = &mut deadline => {
                    let _ = self.cancel_sign_in(id).await;
                    tracing::info!(session = id, "browser sign-in timed out");
                    return Err(Error::SignInTimedOut(timeout));
                }
                () = cancel.cancelled() => {
                    let _ = self.cancel_sign_in(id).await;
                    return Err(Error::SignInCancelled);
                }
            };
            let Some(arrival) = arrival else {
                let _ = self.cancel_sign_in(id).await;
                return Err(Error::InvalidRedirect("the loopback listener stopped".into()));
            };
            match self.complete(id, &arrival.url).await {
                Ok(Some(snapshot)) => {
                    arrival.answer(Page::signed_in(&config.display_name));
                    return Ok(snapshot);
                }
                // A request with a foreign `state` (another tab, another program) leaves this
                // sign-in waiting for its own redirect ([`crate::Event::RedirectArrived`]).
                Ok(None) => {
                    let err = foreign();
                    tracing::warn!(session = id, error = %err, "loopback request ignored");
                    arrival.answer(Page::not_this(hyper::StatusCode::BAD_REQUEST, &err.to_string()));
                }
                Err(err) => {
                    arrival.answer(Page::failed(&err));
                    return Err(err);
                }
            }
        }
    }

    /// Completes the sign-in from the URL the provider redirected to. A redirect that does not carry
    /// the pending sign-in's `state` is refused and leaves that sign-in waiting; any other failure ends
    /// the attempt and stores nothing.
    pub async fn complete_sign_in(&self, id: &str, redirect: &Url) -> Result<SessionSnapshot> {
        self.complete(id, redirect).await?.ok_or_else(foreign)
    }

    /// Completes the sign-in, or `None` when the redirect belongs to another sign-in and this one goes
    /// on waiting (the machine says which, in the same turn that looks at the pending sign-in).
    async fn complete(&self, id: &str, redirect: &Url) -> Result<Option<SessionSnapshot>> {
        let taken = self.call(|reply| Command::session(id, Request::TakeSignIn { redirect: redirect.clone(), reply })).await??;
        let Taken::Pending(pending) = taken else { return Ok(None) };
        let outcome = async {
            let record = self.record(id).await?;
            let provider = self.shared.providers.get(id, &record.provider).await?;
            let signed_in = provider.complete_sign_in(pending, redirect).await?;
            // A keychain that is locked, absent or refusing does not undo the sign-in: the tokens
            // live in memory, the card says why, and the write is retried as after a refresh.
            let unsaved = match self.shared.vault.save_tokens(id, &signed_in.secrets).await {
                Ok(()) => None,
                Err(err) if err.kind().is_keychain() => {
                    tracing::warn!(session = id, error = %err, "signed in; the tokens are kept in memory until the keychain takes them");
                    Some(err.info())
                }
                Err(err) => return Err(err),
            };
            Ok(SignedInTokens {
                secrets: signed_in.secrets,
                times: signed_in.times,
                user: signed_in.user,
                warning: signed_in.warning,
                unsaved,
                auth_time: signed_in.auth_time,
            })
        }
        .await;
        self.call(|reply| Command::session(id, Request::FinishSignIn { outcome, reply })).await?.map(Some)
    }

    /// Abandons the sign-in in progress (the user closed the window).
    pub async fn cancel_sign_in(&self, id: &str) -> Result<SessionSnapshot> {
        self.call(|reply| Command::session(id, Request::CancelSignIn { reply })).await?
    }
}

/// A redirect whose `state` belongs to another sign-in.
fn foreign() -> Error {
    Error::InvalidRedirect("its state does not belong to the sign-in in progress".into())
}
