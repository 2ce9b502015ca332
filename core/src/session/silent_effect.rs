//! The I/O of one silent sign-in ([`super::Effect::SilentSignIn`]): fresh discovery, the authorization
//! URL with `prompt=none` and the hint of who is expected, the hidden window's navigation (bounded here
//! too), the answer through every check of a normal sign-in, the same user and issuer, and the tokens
//! written to the keychain before the machine hears. It decides nothing: what the outcome does to the
//! session is `machine/silent.rs`'s.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::providers::Providers;
use super::silent::{SilentBrowser, SilentRequest};
use super::state::SilentResult;
use crate::error::{Error, ErrorInfo, ErrorKind};
use crate::provider::ProviderConfig;
use crate::secret::SessionSecrets;
use crate::user::UserProfile;
use crate::vault::SecretVault;

/// The OIDC errors that say the provider's own session cannot answer without the person (OIDC Core
/// 3.1.2.6): sign in again.
const NEEDS_THE_PERSON: [&str; 4] = ["login_required", "interaction_required", "consent_required", "account_selection_required"];

/// The words of a provider session that has ended.
pub const SIGN_IN_NEEDED_MESSAGE: &str =
    "The provider's own sign-in has ended, so this session could not be renewed without you: sign in again.";

/// The words of an answer for another user.
pub const OTHER_USER_MESSAGE: &str = "The provider answered the silent sign-in for another user, so the answer was refused and the session left as it was. Sign out at the provider's page and sign in again as this session's user, or add a session for the other account.";

/// What the task hands back: the outcome, and the new tokens of a renewal (in the vault already, or
/// why not).
pub(crate) struct SilentDone {
    pub result: SilentResult,
    pub secrets: Option<SessionSecrets>,
    pub unsaved: Option<ErrorInfo>,
}

/// Everything the attempt needs, taken from the actor when it starts.
pub(crate) struct SilentJob {
    pub id: String,
    pub config: ProviderConfig,
    pub user: Option<UserProfile>,
    pub secrets: Option<SessionSecrets>,
    pub timeout: Duration,
    pub jitter: f64,
}

/// Carries out one silent sign-in.
pub(crate) async fn silent_sign_in(
    providers: Arc<Providers>,
    vault: SecretVault,
    browser: Arc<dyn SilentBrowser>,
    job: SilentJob,
) -> SilentDone {
    let started = std::time::Instant::now();
    let failed = |error: Error| SilentDone {
        result: SilentResult::Failed { error: error.info(), jitter: job.jitter },
        secrets: None,
        unsaved: None,
    };
    // Fresh discovery picks up rotated signing keys and changed endpoints, as a sign-in does.
    let provider = match providers.discover(&job.id, &job.config).await {
        Ok(provider) => provider,
        Err(err) => return failed(err),
    };
    let id_token = job.secrets.as_ref().and_then(|s| s.id_token.clone());
    let login_hint =
        job.user.as_ref().map(|u| u.email.clone().or_else(|| u.preferred_username.clone()).unwrap_or_else(|| u.subject.clone()));
    let (url, pending) = provider.begin_silent_sign_in(id_token.as_ref(), login_hint.as_deref());
    let request = SilentRequest { session: job.id.clone(), url, config: job.config.clone(), timeout: job.timeout };
    tracing::info!(session = %job.id, hint = if id_token.is_some() { "id_token_hint" } else { "login_hint" }, "silent sign-in started");
    // The browser bounds itself; the core bounds it too (a little later), so a browser that never
    // answers cannot hold the session.
    let redirect: Url = match tokio::time::timeout(job.timeout + Duration::from_secs(1), browser.navigate(request)).await {
        Ok(Ok(redirect)) => redirect,
        Ok(Err(err)) if err.kind() == ErrorKind::SignInTimedOut => return failed(timed_out(job.timeout)),
        Ok(Err(err)) => return failed(err),
        Err(_) => return failed(timed_out(job.timeout)),
    };
    let said = redirect.query_pairs().find(|(name, _)| name == "error").map(|(_, value)| value.into_owned());
    let signed_in = match provider.complete_sign_in(pending, &redirect).await {
        Ok(signed_in) => signed_in,
        Err(Error::SignInRejected(_)) if said.as_deref().is_some_and(|error| NEEDS_THE_PERSON.contains(&error)) => {
            tracing::info!(session = %job.id, error = said.as_deref().unwrap_or_default(), "silent sign-in: the provider needs the person");
            let info = ErrorInfo::new(ErrorKind::SignInNeeded, SIGN_IN_NEEDED_MESSAGE);
            return SilentDone { result: SilentResult::NeedsSignIn(info), secrets: None, unsaved: None };
        }
        Err(err) if err.is_transient() => return failed(err),
        Err(err) => return SilentDone { result: SilentResult::Refused(err.info()), secrets: None, unsaved: None },
    };
    // The ID token was checked against this session's issuer (discovery, `iss`); the subject must be the
    // session's too, or the answer is someone else's: refused, and its tokens dropped unused (never
    // stored, never handed out). They are not revoked: at oidc-provider (`revokeGrantPolicy`) and
    // Keycloak revoking a refresh token ends its whole grant or client session, which is that other
    // user's own, perhaps another session of this app (measured: revoking them ended it).
    let expected = job.user.as_ref().map(|u| u.subject.as_str());
    if expected.is_some_and(|subject| subject != signed_in.user.subject) {
        tracing::warn!(session = %job.id, "silent sign-in answered for another user: refused, its tokens dropped");
        drop(signed_in);
        let info = ErrorInfo::new(ErrorKind::OtherUser, OTHER_USER_MESSAGE);
        return SilentDone { result: SilentResult::Refused(info), secrets: None, unsaved: None };
    }
    // Into the keychain before the machine hears, as a sign-in does. The refresh token held before is
    // not revoked: at many providers the silent answer belongs to the same grant (oidc-provider's
    // default `revokeGrantPolicy`) or client session (Keycloak), and revoking the old token would end
    // the new one with it; it ends by itself at its own expiry.
    let unsaved = match vault.save_tokens(&job.id, &signed_in.secrets).await {
        Ok(()) => None,
        Err(err) => {
            tracing::warn!(session = %job.id, error = %err, "silently signed in; the tokens are kept in memory until the keychain takes them");
            Some(err.info())
        }
    };
    tracing::info!(session = %job.id, elapsed_ms = started.elapsed().as_millis() as u64, "silent sign-in renewed the session");
    let result = SilentResult::Renewed {
        times: signed_in.times,
        user: signed_in.user,
        warning: signed_in.warning.map(ErrorInfo::misbehaved),
        auth_time: signed_in.auth_time,
    };
    SilentDone { result, secrets: Some(signed_in.secrets), unsaved }
}

fn timed_out(timeout: Duration) -> Error {
    Error::Session(ErrorInfo::new(
        ErrorKind::SignInTimedOut,
        format!("The provider's page did not answer the silent sign-in within {} s; it is tried again later.", timeout.as_secs()),
    ))
}
