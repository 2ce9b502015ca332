//! The sign-in transaction at the provider: the authorization URL, the redirect's checks, the
//! code exchange and the ID token's validation.

use super::errors::{TokenCallError, classify_token_error};
use super::tokens::token_times;
use super::*;
use openidconnect::NonceVerifier;
use openidconnect::core::{CoreIdToken, CoreIdTokenClaims};

/// An authorization request waiting for its redirect. Its values are secrets of the transaction.
#[derive(Debug)]
pub struct PendingSignIn {
    state: CsrfToken,
    nonce: Nonce,
    pkce_verifier: PkceCodeVerifier,
    /// The redirect URI of this attempt when it is not the configured one (a loopback port).
    redirect_uri: Option<RedirectUri>,
}

impl PendingSignIn {
    /// True when `redirect` carries this transaction's `state`.
    pub fn matches(&self, redirect: &Url) -> bool {
        query_param(redirect, "state").is_some_and(|state| state.as_ref() == self.state.secret())
    }
}

impl Provider {
    /// Starts a sign-in: the authorization URL to open, and the transaction to keep until the redirect.
    /// `redirect_uri` replaces the configured one for this attempt (a loopback listener's port).
    pub fn begin_sign_in(&self, redirect_uri: Option<&RedirectUri>) -> (Url, PendingSignIn) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let redirect_uri = redirect_uri.cloned();
        let mut request = self
            .client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        if let Some(uri) = &redirect_uri {
            request = request.set_redirect_uri(Cow::Owned(RedirectUrl::from_url(uri.url().clone())));
        }
        for scope in self.config.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        for (name, value) in &self.config.extra_authorization_params {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        let (url, state, nonce) = request.url();
        (url, PendingSignIn { state, nonce, pkce_verifier: verifier, redirect_uri })
    }

    /// Completes a sign-in from the URL the provider redirected to: checks it, exchanges the code,
    /// validates the ID token and fetches userinfo. Nothing is stored here.
    pub async fn complete_sign_in(&self, pending: PendingSignIn, redirect: &Url) -> Result<SignedIn> {
        self.check_redirect(&pending, redirect)?;
        let code = query_param(redirect, "code").ok_or_else(|| Error::InvalidRedirect("it has no authorization code".into()))?;
        let mut exchange = self
            .client
            .exchange_code(AuthorizationCode::new(code.into_owned()))
            .map_err(|err| misbehaved(&self.config.issuer, "it announces no usable token endpoint", Some(&err)))?
            .set_pkce_verifier(pending.pkce_verifier);
        if let Some(uri) = &pending.redirect_uri {
            exchange = exchange.set_redirect_uri(Cow::Owned(RedirectUrl::from_url(uri.url().clone())));
        }
        let response = exchange.request_async(&self.http).await.map_err(|err| match classify_token_error(err, &self.token_endpoint) {
            TokenCallError::Unavailable(error) | TokenCallError::Throttled(error, _) => error,
            TokenCallError::Grant(message) | TokenCallError::Refused(message) => Error::SignInRejected(message),
        })?;
        let arrived = self.clock.now();
        let id_token = response.id_token().ok_or_else(|| Error::invalid_id_token("the token answer has none", None))?;
        let claims = self.verify(id_token, &pending.nonce).await.map_err(|err| id_token_error(&err))?;
        let verifier = self.id_token_verifier();
        if let Some(expected) = claims.access_token_hash() {
            let actual = id_token
                .signing_alg()
                .and_then(|alg| {
                    let key = id_token.signing_key(&verifier)?;
                    AccessTokenHash::from_token(response.access_token(), alg, key)
                        .map_err(|err| openidconnect::SignatureVerificationError::Other(err.to_string()))
                })
                .map_err(|err| Error::invalid_id_token("its at_hash cannot be checked", Some(err.to_string())))?;
            if actual != *expected {
                return Err(Error::invalid_id_token("it does not match the access token (at_hash)", None));
            }
        }
        let mut user = profile_of!(claims);
        if let UserCheck::Valid(from_userinfo) = self.user_info(&SecretString::from(response.access_token().secret().clone())).await
            && from_userinfo.subject == user.subject
        {
            user = user.merged_with(from_userinfo);
        }
        Ok(SignedIn {
            times: token_times(&response, arrived),
            secrets: SessionSecrets {
                access_token: SecretString::from(response.access_token().secret().clone()),
                refresh_token: response.refresh_token().map(|t| SecretString::from(t.secret().clone())),
                id_token: Some(SecretString::from(id_token.to_string())),
            },
            user,
            warning: response.extra_fields().extra_fields().adjusted.clone(),
        })
    }

    fn check_redirect(&self, pending: &PendingSignIn, redirect: &Url) -> Result<()> {
        let expected = pending.redirect_uri.as_ref().unwrap_or(&self.config.redirect_uri);
        if !expected.matches(redirect) {
            return Err(Error::InvalidRedirect(format!(
                "it goes to {}, not to the redirect URI {}",
                redirect.as_str().split('?').next().unwrap_or_default(),
                self.config.redirect_uri
            )));
        }
        if !pending.matches(redirect) {
            return Err(Error::InvalidRedirect("its state does not belong to the sign-in in progress".into()));
        }
        // RFC 9207: when the provider announces `iss` in redirects, it must be there and be this issuer.
        match query_param(redirect, "iss") {
            Some(iss) if iss.as_ref() != self.issuer.as_str() => {
                return Err(Error::IssuerMismatch { expected: self.issuer.to_string(), found: iss.into_owned() });
            }
            None if self.extra.authorization_response_iss_parameter_supported => {
                return Err(Error::InvalidRedirect("it lacks the iss parameter that this provider always sends (RFC 9207)".into()));
            }
            _ => {}
        }
        if let Some(error) = query_param(redirect, "error") {
            let description = query_param(redirect, "error_description").map(|d| format!(" ({d})")).unwrap_or_default();
            return Err(Error::SignInRejected(format!("{error}{description}")));
        }
        Ok(())
    }

    /// Checks an ID token's signature and claims. A key id the known set lacks means the provider may
    /// have rotated its keys since discovery: they are fetched again (at most once per
    /// [`KEY_REFETCH_INTERVAL`]) and the token checked once more.
    pub(super) async fn verify<'t, N: NonceVerifier + Copy>(
        &self,
        token: &'t CoreIdToken,
        nonce: N,
    ) -> std::result::Result<&'t CoreIdTokenClaims, ClaimsVerificationError> {
        let checked = token.claims(&self.id_token_verifier(), nonce);
        if matches!(checked, Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)))
            && self.refetch_signing_keys().await
        {
            return token.claims(&self.id_token_verifier(), nonce);
        }
        checked
    }

    /// The ID token verifier: the discovered signing keys, or those fetched again after a key rotation.
    pub(super) fn id_token_verifier(&self) -> IdTokenVerifier<'_, CoreJsonWebKey> {
        let http = self.http.clone();
        let refetched = self.refetched.lock().expect("signing keys poisoned").keys.clone();
        let verifier = match refetched {
            None => self.client.id_token_verifier(),
            Some(keys) => {
                let client_id = ClientId::new(self.config.client_id.to_string());
                match &self.client_secret {
                    Some(secret) => IdTokenVerifier::new_confidential_client(
                        client_id,
                        ClientSecret::new(secret.expose_secret().to_owned()),
                        self.issuer.clone(),
                        keys,
                    ),
                    None => IdTokenVerifier::new_public_client(client_id, self.issuer.clone(), keys),
                }
            }
        };
        // The token's times are the provider's: read them on its clock.
        verifier.set_time_fn(move || http.provider_now() - ID_TOKEN_LEEWAY)
    }

    /// Fetches the signing keys again (a provider rotated them), at most once per
    /// [`KEY_REFETCH_INTERVAL`]. True when new keys are in use.
    pub(super) async fn refetch_signing_keys(&self) -> bool {
        let now = self.clock.now();
        {
            let mut refetched = self.refetched.lock().expect("signing keys poisoned");
            if refetched.at.is_some_and(|at| now - at < KEY_REFETCH_INTERVAL) {
                return false;
            }
            refetched.at = Some(now);
        }
        match CoreJsonWebKeySet::fetch_async(&self.jwks_uri, &self.http).await {
            Ok(keys) => {
                tracing::info!(issuer = %self.issuer.as_str(), "signing keys fetched again after an unknown key id");
                self.refetched.lock().expect("signing keys poisoned").keys = Some(keys);
                true
            }
            Err(err) => {
                tracing::warn!(issuer = %self.issuer.as_str(), error = %err, "signing keys could not be fetched again");
                false
            }
        }
    }
}
