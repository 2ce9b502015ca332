//! The sign-in transaction at the provider: the authorization URL, the redirect's checks, the
//! code exchange and the ID token's validation.

use super::errors::{TokenCallError, classify_token_error};
use super::tokens::{refused_token_type, token_times};
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
        self.authorization_request(redirect_uri, self.config.authorization_params())
    }

    /// Starts a silent sign-in (OIDC Core 3.1.2.1): the configured parameters with `prompt=none` and
    /// no other prompt value (the `consent` of `consent_for_offline_access` would ask for a page), the
    /// hint of who is expected (`id_token_hint` when the session's ID token is at hand, else
    /// `login_hint`), and fresh PKCE, `state` and `nonce`. The URL carries the ID token: it goes to the
    /// hidden window only.
    pub fn begin_silent_sign_in(&self, id_token: Option<&SecretString>, login_hint: Option<&str>) -> (Url, PendingSignIn) {
        let mut params = self.config.authorization_params();
        params.insert("prompt".to_owned(), "none".to_owned());
        match (id_token, login_hint) {
            (Some(token), _) => drop(params.insert("id_token_hint".to_owned(), token.expose_secret().to_owned())),
            (None, Some(hint)) => drop(params.insert("login_hint".to_owned(), hint.to_owned())),
            (None, None) => {}
        }
        self.authorization_request(None, params)
    }

    fn authorization_request(
        &self,
        redirect_uri: Option<&RedirectUri>,
        params: std::collections::BTreeMap<String, String>,
    ) -> (Url, PendingSignIn) {
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
        for (name, value) in params {
            request = request.add_extra_param(name, value);
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
        if let Some(refused) = refused_token_type(&response) {
            return Err(misbehaved(&self.token_endpoint, &refused, None));
        }
        let id_token = response.id_token().ok_or_else(|| Error::invalid_id_token("the token answer has none", None))?;
        let claims = self.verify(id_token, &pending.nonce).await.map_err(|err| id_token_error(&err))?;
        if let Some(issued) = self.issued_in_the_future(claims) {
            return Err(Error::invalid_id_token("it was issued in the future of the provider's own clock (iat)", Some(issued)));
        }
        if let Some(expected) = claims.access_token_hash() {
            let actual = id_token
                .signing_alg()
                .and_then(|alg| {
                    let key = self.signing_key_of(id_token)?;
                    AccessTokenHash::from_token(response.access_token(), alg, &key)
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
            times: token_times(&response, arrived, &self.config.scopes),
            secrets: SessionSecrets {
                access_token: SecretString::from(response.access_token().secret().clone()),
                refresh_token: response.refresh_token().map(|t| SecretString::from(t.secret().clone())),
                id_token: Some(SecretString::from(id_token.to_string())),
            },
            user,
            warning: response.extra_fields().extra_fields().adjusted.clone(),
            auth_time: claims.auth_time(),
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
            // The provider's words, made safe where they enter: they reach the card, notices and logs.
            let said = super::errors::provider_said(&error, query_param(redirect, "error_description").as_deref());
            let uri = query_param(redirect, "error_uri").map(|uri| provider_text(&uri)).unwrap_or_default();
            tracing::info!(error = %said, error_uri = %uri, "the provider answered the sign-in with an error");
            return Err(Error::SignInRejected(format!("it answered {said}")));
        }
        Ok(())
    }

    /// Checks an ID token's signature and claims, fetching the signing keys again when it names a
    /// key the known sets lack (a provider that rotated its keys since discovery; at most once per
    /// [`KEY_REFETCH_INTERVAL`]).
    pub(super) async fn verify<'t, N: NonceVerifier + Copy>(
        &self,
        token: &'t CoreIdToken,
        nonce: N,
    ) -> std::result::Result<&'t CoreIdTokenClaims, ClaimsVerificationError> {
        let checked = self.verify_at_hand(token, nonce);
        if is_unknown_key(&checked) && self.refetch_signing_keys().await {
            return self.verify_at_hand(token, nonce);
        }
        checked
    }

    /// Checks an ID token with the keys at hand, without a request: first the algorithm (one this
    /// client verifies, never `none`, HMAC only with a client secret), then the discovered keys under
    /// the algorithms the provider's metadata lists, then the keys fetched again since. The discovered
    /// verifier checks the algorithm before it looks for a key, so its "no matching key" means the
    /// algorithm is one the metadata lists: the refetched keys are tried under the same rules.
    pub(super) fn verify_at_hand<'t, N: NonceVerifier + Copy>(
        &self,
        token: &'t CoreIdToken,
        nonce: N,
    ) -> std::result::Result<&'t CoreIdTokenClaims, ClaimsVerificationError> {
        let alg = token.signing_alg().map_err(ClaimsVerificationError::SignatureVerification)?;
        if !self.verifies(alg) {
            return Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::DisallowedAlg(format!(
                "{} is not an algorithm this client accepts",
                serde_json::to_string(alg).unwrap_or_default()
            ))));
        }
        let checked = token.claims(&self.discovered_verifier(), nonce);
        match self.refetched_verifier() {
            Some(refetched) if is_unknown_key(&checked) => token.claims(&refetched, nonce),
            _ => checked,
        }
    }

    /// True when a key refetch could settle an ID token that names an unknown key.
    pub(super) fn may_refetch(&self) -> bool {
        let now = self.clock.now();
        self.refetched.lock().expect("signing keys poisoned").at.is_none_or(|at| now - at >= KEY_REFETCH_INTERVAL)
    }

    /// Whether this client verifies signatures made with `alg`: [`VERIFIED_ALGS`], and HMAC only
    /// when a client secret keys it (a public client has none, so anyone could forge one).
    fn verifies(&self, alg: &CoreJwsSigningAlgorithm) -> bool {
        VERIFIED_ALGS.contains(alg) || (self.client_secret.is_some() && HMAC_ALGS.contains(alg))
    }

    /// The verifier of the discovered keys, under the algorithms the provider's metadata lists.
    fn discovered_verifier(&self) -> IdTokenVerifier<'_, CoreJsonWebKey> {
        self.on_provider_clock(self.client.id_token_verifier())
    }

    /// The verifier of the keys fetched again after a rotation, if any, under the same rules.
    fn refetched_verifier(&self) -> Option<IdTokenVerifier<'_, CoreJsonWebKey>> {
        let keys = self.refetched.lock().expect("signing keys poisoned").keys.clone()?;
        let client_id = ClientId::new(self.config.client_id.to_string());
        let verifier = match &self.client_secret {
            Some(secret) => IdTokenVerifier::new_confidential_client(
                client_id,
                ClientSecret::new(secret.expose_secret().to_owned()),
                self.issuer.clone(),
                keys,
            ),
            None => IdTokenVerifier::new_public_client(client_id, self.issuer.clone(), keys),
        };
        let algs = VERIFIED_ALGS.iter().chain(if self.client_secret.is_some() { HMAC_ALGS.as_slice() } else { &[] }).cloned();
        Some(self.on_provider_clock(verifier.set_allowed_algs(algs)))
    }

    /// The token's times are the provider's: read them on its clock.
    fn on_provider_clock<'v>(&self, verifier: IdTokenVerifier<'v, CoreJsonWebKey>) -> IdTokenVerifier<'v, CoreJsonWebKey> {
        let http = self.http.clone();
        verifier.set_time_fn(move || http.provider_now() - ID_TOKEN_LEEWAY)
    }

    /// Why an ID token's `iat` is refused (OIDC 3.1.3.7 step 10): issued more than
    /// [`ISSUED_AT_WINDOW`] ahead of the provider's own clock (learnt from its `Date` headers), which
    /// no honest provider's token can be.
    pub(super) fn issued_in_the_future(&self, claims: &CoreIdTokenClaims) -> Option<String> {
        let provider_now = self.http.provider_now();
        (claims.issue_time() > provider_now + ISSUED_AT_WINDOW).then(|| {
            format!("issued at {} while the provider's clock says {}", claims.issue_time().to_rfc3339(), provider_now.to_rfc3339())
        })
    }

    /// The key that verified `token`, from the discovered or the refetched set (for `at_hash`).
    fn signing_key_of(&self, token: &CoreIdToken) -> std::result::Result<CoreJsonWebKey, SignatureVerificationError> {
        token.signing_key(&self.discovered_verifier()).cloned().or_else(|err| match self.refetched_verifier() {
            Some(refetched) => token.signing_key(&refetched).cloned(),
            None => Err(err),
        })
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

/// The discovered or refetched keys hold no key for the token's key id and algorithm.
fn is_unknown_key<T>(checked: &std::result::Result<T, ClaimsVerificationError>) -> bool {
    matches!(checked, Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)))
}
