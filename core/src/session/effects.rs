//! The effect runners: the I/O the state machine asks for, each run as a task of the actor's
//! `JoinSet` and reported back as a [`Completion`]. They carry out; they do not decide.

use std::sync::Arc;

use tokio::task::{AbortHandle, JoinSet};

use super::state::{Effect, RefreshFailure, SessionState};
use super::store::SessionRecord;
use crate::error::{Error, ErrorInfo, ErrorKind, Result};
use crate::oidc::{RefreshAnswer, Refreshed, UserCheck};
use crate::provider::ProviderConfig;
use crate::secret::SessionSecrets;
use crate::vault::SecretVault;
use std::ops::Not as _;

use super::providers::Providers;

/// What a finished task reports, with the session's generation when it started.
// One is made per finished task and moved once, into the actor: boxing the refresh's answer would cost
// an allocation per refresh to save stack bytes no one keeps.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Completion {
    Refresh {
        id: String,
        generation: u64,
        /// The tokens the request was made with (read from the keychain when none were in memory).
        used: Option<SessionSecrets>,
        result: std::result::Result<Refreshed, RefreshFailure>,
        /// A narrowed refresh's access token, for the program that asked (never the session's).
        narrowed: Option<NarrowedToken>,
    },
    Reread {
        id: String,
        generation: u64,
        stored: Option<SessionSecrets>,
    },
    Validate {
        id: String,
        generation: u64,
        check: UserCheck,
    },
    Saved {
        id: String,
        generation: u64,
        result: Result<()>,
    },
    Discarded {
        id: String,
    },
    Silent {
        id: String,
        generation: u64,
        done: super::silent_effect::SilentDone,
    },
}

impl Completion {
    /// A task that panicked: reported as a failed refresh, so the session is kept and retried.
    pub fn task_failed(id: String, generation: u64) -> Self {
        let failure = RefreshFailure::Transient(ErrorInfo::new(
            ErrorKind::ProviderUnavailable,
            "An internal task failed; the session is kept and retried.",
        ));
        Completion::Refresh { id, generation, used: None, result: Err(failure), narrowed: None }
    }

    pub fn session(&self) -> Option<&str> {
        match self {
            Completion::Refresh { id, .. }
            | Completion::Reread { id, .. }
            | Completion::Validate { id, .. }
            | Completion::Saved { id, .. }
            | Completion::Silent { id, .. }
            | Completion::Discarded { id } => Some(id),
        }
    }

    pub fn generation(&self) -> Option<u64> {
        match self {
            Completion::Refresh { generation, .. }
            | Completion::Reread { generation, .. }
            | Completion::Validate { generation, .. }
            | Completion::Saved { generation, .. }
            | Completion::Silent { generation, .. } => Some(*generation),
            Completion::Discarded { .. } => None,
        }
    }
}

/// An access token for a narrower scope and its expiry.
pub(crate) type NarrowedToken = (secrecy::SecretString, Option<chrono::DateTime<chrono::Utc>>);

/// What a sign-out takes from the actor: the tokens to revoke, and the state to go back to if the
/// keychain cannot delete them.
pub(crate) struct SignOutTicket {
    pub secrets: Option<SessionSecrets>,
    pub config: ProviderConfig,
    pub previous: SessionState,
}

/// Starts the tasks for effects.
pub(crate) struct Runner {
    pub providers: Arc<Providers>,
    pub vault: SecretVault,
    /// The browser nobody sees, for silent sign-ins (none: no silent sign-in).
    pub silent: Option<Arc<dyn super::silent::SilentBrowser>>,
    /// The policy's `silentSignInTimeout`, kept in step by the actor.
    pub silent_timeout: std::time::Duration,
}

impl Runner {
    /// Whether a session with this provider can sign in silently here: a silent browser is plugged in
    /// and the session signs in in the embedded window (the provider's cookie is in the app's own store).
    pub fn can_sign_in_silently(&self, config: &ProviderConfig) -> bool {
        self.silent.is_some() && config.sign_in_with == crate::provider::SignInWith::EmbeddedWindow
    }

    /// Spawns the task for `effect` (one of refresh, re-read, validate, save, discard).
    /// `secrets` are the tokens in memory (for a discard, taken out of memory by the caller); a
    /// refresh asks for the narrower scope the state's narrowing has in flight, if any.
    pub fn spawn(
        &self,
        tasks: &mut JoinSet<Completion>,
        id: &str,
        record: &SessionRecord,
        secrets: Option<SessionSecrets>,
        effect: Effect,
    ) -> AbortHandle {
        let generation = record.state.generation;
        let config = record.provider.clone();
        let providers = self.providers.clone();
        let vault = self.vault.clone();
        let id = id.to_owned();
        match effect {
            Effect::Refresh => {
                let subject = record.state.user.as_ref().map(|u| u.subject.clone());
                let times = record.state.tokens;
                let narrow = record.state.narrowing.in_flight.clone();
                tasks.spawn(async move {
                    let (used, result, narrowed) = match narrow {
                        None => {
                            let (used, result) = refresh(&providers, &vault, &id, &config, secrets, subject).await;
                            (used, result, None)
                        }
                        Some(scope) => narrowed_refresh(&providers, &vault, &id, &config, secrets, times, &scope).await,
                    };
                    Completion::Refresh { id, generation, used, result, narrowed }
                })
            }
            Effect::Reread => tasks.spawn(async move {
                let stored = vault.load_tokens(&id).await.ok().flatten();
                Completion::Reread { id, generation, stored }
            }),
            Effect::Validate => tasks.spawn(async move {
                let check = validate(&providers, &vault, &id, &config, secrets).await;
                Completion::Validate { id, generation, check }
            }),
            Effect::SaveTokens => tasks.spawn(async move {
                let result = match &secrets {
                    Some(secrets) => vault.save_tokens(&id, secrets).await,
                    None => Ok(()),
                };
                Completion::Saved { id, generation, result }
            }),
            Effect::Discard { revoke } => tasks.spawn(async move {
                if revoke
                    && let Some(secrets) = &secrets
                    && let Ok(provider) = providers.get(&id, &config).await
                {
                    let outcome = provider.revoke(secrets, None).await;
                    tracing::info!(session = %id, ?outcome, "revoked tokens of an ended session");
                }
                if let Err(err) = vault.delete_tokens(&id).await {
                    tracing::warn!(session = %id, error = %err, "could not delete the tokens of an ended session");
                }
                Completion::Discarded { id }
            }),
            Effect::SilentSignIn => {
                let Some(browser) = self.silent.clone() else {
                    // The machine starts none without a browser (`Silent::browser`); said, not panicked.
                    let error = ErrorInfo::new(ErrorKind::NotOffered, "No silent sign-in is possible here.");
                    let done = super::silent_effect::SilentDone {
                        result: super::state::SilentResult::Failed { error, jitter: 1.0 },
                        secrets: None,
                        unsaved: None,
                    };
                    return tasks.spawn(async move { Completion::Silent { id, generation, done } });
                };
                let job = super::silent_effect::SilentJob {
                    id: id.clone(),
                    config,
                    user: record.state.user.clone(),
                    secrets,
                    timeout: self.silent_timeout,
                    jitter: rand::random::<f64>(),
                };
                tasks.spawn(async move {
                    let done = super::silent_effect::silent_sign_in(providers, vault, browser, job).await;
                    Completion::Silent { id, generation, done }
                })
            }
            answer => unreachable!("{answer:?} is answered by the actor"),
        }
    }
}

fn transient(err: Error) -> RefreshFailure {
    RefreshFailure::Transient(err.info())
}

/// One refresh with the current tokens (from memory, else the keychain). The new tokens are checked
/// and written through before anyone learns of them: the old refresh token is already spent.
async fn refresh(
    providers: &Providers,
    vault: &SecretVault,
    id: &str,
    config: &ProviderConfig,
    secrets: Option<SessionSecrets>,
    subject: Option<String>,
) -> (Option<SessionSecrets>, std::result::Result<Refreshed, RefreshFailure>) {
    let secrets = match secrets {
        Some(secrets) => secrets,
        None => match vault.load_tokens(id).await {
            Ok(Some(secrets)) => secrets,
            Ok(None) => return (None, Err(RefreshFailure::Revoked(Error::revoked(None).info()))),
            Err(err) => return (None, Err(transient(err))),
        },
    };
    let provider = match providers.authority(id, config).await {
        Ok(provider) => provider,
        Err(err) => return (Some(secrets), Err(transient(err))),
    };
    let answer = match provider.refresh(&secrets).await {
        Ok(answer) => answer,
        Err(failure) => return (Some(secrets), Err(failure)),
    };
    // The check comes first when the keys are at hand (no request: microseconds), so an answer that
    // fails it never reaches the keychain; the write follows at once. From the provider's answer to
    // the keychain's acknowledgement a crash loses the rotated refresh token, so nothing else comes
    // between. Only when the check needs a fetch of the provider's signing keys is the answer written
    // first: no one learns of it before the check ends, and one that fails is taken out at once (the
    // tokens held before go back). Refused tokens are revoked by the discard the machine decides.
    let received = answer.received;
    let window = |what: &str| tracing::debug!(session = %id, window_us = received.elapsed().as_micros() as u64, "{what}");
    let refreshed = match provider.check_refresh_at_hand(answer, subject.as_deref()) {
        Ok(mut refreshed) => {
            if refreshed.rejected.is_none() {
                let saved = vault.save_tokens(id, &refreshed.secrets).await;
                window("refresh answer checked and written to the keychain");
                if let Err(err) = saved {
                    refreshed.unsaved = Some(err.info());
                }
            }
            refreshed
        }
        Err(answer) => {
            let answer = *answer;
            let written = answer.secrets.clone();
            let saved = vault.save_tokens(id, &written).await;
            window("refresh answer written to the keychain before its keys were fetched");
            let mut refreshed = provider.check_refresh(answer, subject.as_deref()).await;
            let saved = match saved {
                Ok(()) if refreshed.rejected.is_some() => {
                    if let Err(err) = vault.save_tokens(id, &secrets).await {
                        tracing::warn!(session = %id, error = %err, "a refused refresh answer could not be taken out of the keychain");
                    }
                    Ok(())
                }
                Ok(()) if refreshed.id_token_dropped => vault.save_tokens(id, &refreshed.secrets).await,
                other => other,
            };
            if let Err(err) = saved {
                refreshed.unsaved = Some(err.info());
            }
            refreshed
        }
    };
    if let Some(err) = &refreshed.unsaved {
        tracing::warn!(session = %id, error = %err.message, "new tokens kept in memory until the keychain accepts them");
    }
    (Some(secrets), Ok(refreshed))
}

/// A refresh for a narrower scope. The session keeps its own access and ID token; the refresh token
/// the answer carries (rotated, or the old one) is the session's and is written through first, as in
/// [`refresh`]. The narrowed access token goes only to the caller.
async fn narrowed_refresh(
    providers: &Providers,
    vault: &SecretVault,
    id: &str,
    config: &ProviderConfig,
    secrets: Option<SessionSecrets>,
    times: Option<super::state::TokenTimes>,
    scope: &str,
) -> (Option<SessionSecrets>, std::result::Result<Refreshed, RefreshFailure>, Option<NarrowedToken>) {
    let secrets = match secrets {
        Some(secrets) => secrets,
        None => match vault.load_tokens(id).await {
            Ok(Some(secrets)) => secrets,
            Ok(None) => return (None, Err(RefreshFailure::Revoked(Error::revoked(None).info())), None),
            Err(err) => return (None, Err(transient(err)), None),
        },
    };
    let provider = match providers.authority(id, config).await {
        Ok(provider) => provider,
        Err(err) => return (Some(secrets), Err(transient(err)), None),
    };
    let mut answer = match provider.refresh_narrowed(&secrets, scope).await {
        Ok(answer) => answer,
        Err(failure) => return (Some(secrets), Err(failure), None),
    };
    // An answer whose access token was refused hands out nothing; its refresh token is still kept.
    let narrowed = refused_or(&answer, (answer.secrets.access_token.clone(), answer.times.access_token_expires_at));
    let refresh_token_expires_at = answer.times.refresh_token_expires_at;
    answer.secrets = SessionSecrets {
        access_token: secrets.access_token.clone(),
        refresh_token: answer.secrets.refresh_token.clone(),
        id_token: secrets.id_token.clone(),
    };
    let saved = vault.save_tokens(id, &answer.secrets).await;
    answer.times = match times {
        Some(times) => {
            super::state::TokenTimes { refresh_token_expires_at: refresh_token_expires_at.or(times.refresh_token_expires_at), ..times }
        }
        None => answer.times,
    };
    let mut refreshed = answer.unchecked();
    if let Err(err) = saved {
        tracing::warn!(session = %id, error = %err, "new tokens kept in memory until the keychain accepts them");
        refreshed.unsaved = Some(err.info());
    }
    (Some(secrets), Ok(refreshed), narrowed)
}

/// `token` unless the answer's access token was refused.
fn refused_or(answer: &RefreshAnswer, token: NarrowedToken) -> Option<NarrowedToken> {
    answer.is_refused().not().then_some(token)
}

async fn validate(
    providers: &Providers,
    vault: &SecretVault,
    id: &str,
    config: &ProviderConfig,
    secrets: Option<SessionSecrets>,
) -> UserCheck {
    let secrets = match secrets {
        Some(secrets) => secrets,
        None => match vault.load_tokens(id).await {
            Ok(Some(secrets)) => secrets,
            Ok(None) => return UserCheck::Unavailable(Error::NotSignedIn(id.to_owned())),
            Err(err) => return UserCheck::Unavailable(err),
        },
    };
    match providers.authority(id, config).await {
        Ok(provider) => provider.user_info(&secrets.access_token).await,
        Err(err) => UserCheck::Unavailable(err),
    }
}
