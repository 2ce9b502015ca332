//! Token work after sign-in: refresh (whole or narrowed) and its ID token's check, userinfo, and
//! RFC 8693 token exchange.

use super::errors::{TokenCallError, classify_token_error, client_refused, request_error};
use super::*;

impl Provider {
    /// Exchanges a refresh token for new tokens, and nothing more: the answer's tokens are to go to
    /// the keychain at once, because the provider has usually rotated the refresh token already and a
    /// crash before the write would lose the session. [`Provider::check_refresh`] checks the refreshed
    /// ID token afterwards.
    pub async fn refresh(&self, current: &SessionSecrets) -> std::result::Result<RefreshAnswer, RefreshFailure> {
        self.refresh_with(current, None).await
    }

    /// A refresh asking for `scope` (RFC 6749 section 6: no wider than granted), for a narrower
    /// access token. The refresh token keeps the grant's scope, so a rotated one is the session's.
    pub async fn refresh_narrowed(&self, current: &SessionSecrets, scope: &str) -> std::result::Result<RefreshAnswer, RefreshFailure> {
        self.refresh_with(current, Some(scope)).await
    }

    async fn refresh_with(&self, current: &SessionSecrets, scope: Option<&str>) -> std::result::Result<RefreshAnswer, RefreshFailure> {
        let Some(refresh_token) = &current.refresh_token else {
            return Err(RefreshFailure::Revoked(ErrorInfo::new(
                ErrorKind::SessionRevoked,
                "There is no refresh token to extend the session with: sign in again.",
            )));
        };
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let mut request = self.client.exchange_refresh_token(&token).map_err(|err| {
            RefreshFailure::Rejected(misbehaved(&self.config.issuer, "it announces no usable token endpoint", Some(&err)).info())
        })?;
        if let Some(scope) = scope {
            request = request.add_scopes(scope.split_whitespace().map(|s| Scope::new(s.to_owned())));
        }
        let response = request.request_async(&self.http).await.map_err(|err| match classify_token_error(err, &self.token_endpoint) {
            TokenCallError::Grant(message) => RefreshFailure::Revoked(Error::revoked(Some(message)).info()),
            TokenCallError::Refused(message) => RefreshFailure::Rejected(
                client_refused(&self.token_endpoint, "it refused to refresh the session for this client", message).info(),
            ),
            TokenCallError::Unavailable(error) => RefreshFailure::Transient(error.info()),
            TokenCallError::Throttled(error, retry_after) => RefreshFailure::Throttled { error: error.info(), retry_after },
        })?;
        let received = std::time::Instant::now();
        let arrived = self.clock.now();
        let mut times = token_times(&response, arrived);
        // Without rotation the provider sends no new refresh token and the old one stands.
        times.has_refresh_token = true;
        let id_token = response.id_token().cloned();
        Ok(RefreshAnswer {
            secrets: SessionSecrets {
                access_token: SecretString::from(response.access_token().secret().clone()),
                refresh_token: Some(
                    response.refresh_token().map(|t| SecretString::from(t.secret().clone())).unwrap_or_else(|| refresh_token.clone()),
                ),
                id_token: id_token.as_ref().map(|t| SecretString::from(t.to_string())).or_else(|| current.id_token.clone()),
            },
            times,
            warning: response.extra_fields().extra_fields().adjusted.clone(),
            received,
            id_token,
            previous_id_token: current.id_token.clone(),
        })
    }

    /// Checks a refresh answer's ID token (OIDC 12.2) against `subject`, the signed-in user. The token
    /// endpoint is the trusted channel and has already rotated the refresh token: a refreshed ID token
    /// with a harmless defect is dropped with a warning (the previous one is kept), never a reason to
    /// lose the new tokens; one that fails a security check rejects the answer.
    pub async fn check_refresh(&self, answer: RefreshAnswer, subject: Option<&str>) -> Refreshed {
        let RefreshAnswer { mut secrets, times, mut warning, id_token, previous_id_token, .. } = answer;
        let mut rejected = None;
        let mut id_token_dropped = false;
        if let Some(new_id_token) = &id_token {
            // A refreshed ID token carries no nonce (OIDC 12.2).
            let checked = self.verify(new_id_token, |_: Option<&Nonce>| Ok(())).await.map(|claims| claims.subject().to_string());
            let insecure = |reason: &str, cause: Option<String>| Some(Error::invalid_id_token(reason, cause).info());
            match checked {
                Ok(named) if subject.is_none_or(|s| s == named) => {}
                Ok(_) => rejected = insecure("the provider answered the refresh with another user's tokens", None),
                Err(
                    err @ (ClaimsVerificationError::SignatureVerification(_)
                    | ClaimsVerificationError::InvalidIssuer(_)
                    | ClaimsVerificationError::InvalidAudience(_)),
                ) => {
                    rejected = insecure(super::errors::id_token_reason(&err), Some(err.to_string()));
                }
                Err(err) => {
                    tracing::warn!(error = %err, "refreshed ID token ignored");
                    warning = Some(format!(
                        "The provider's refreshed ID token was ignored because {}; the session goes on with the earlier one.",
                        super::errors::id_token_reason(&err)
                    ));
                    secrets.id_token = previous_id_token;
                    id_token_dropped = true;
                }
            }
        }
        Refreshed { times, secrets, warning, rejected, unsaved: None, id_token_dropped }
    }

    /// Asks the userinfo endpoint who the access token belongs to.
    pub async fn user_info(&self, access_token: &SecretString) -> UserCheck {
        let request = match self.client.user_info(AccessToken::new(access_token.expose_secret().to_owned()), None) {
            Ok(request) => request,
            Err(err) => return UserCheck::Unavailable(misbehaved(&self.config.issuer, "it announces no userinfo endpoint", Some(&err))),
        };
        let endpoint = || format!("{} userinfo endpoint", self.config.issuer);
        let result: std::result::Result<CoreUserInfoClaims, _> = request.request_async(&self.http).await;
        match result {
            Ok(claims) => UserCheck::Valid(profile_of!(&claims)),
            Err(UserInfoError::Response(status, ..)) if status == 401 || status == 403 => UserCheck::Rejected,
            Err(UserInfoError::Response(status, ..)) => {
                UserCheck::Unavailable(Error::unavailable(endpoint(), format!("HTTP {status}"), None))
            }
            Err(UserInfoError::Request(err)) => UserCheck::Unavailable(request_error(endpoint(), &err)),
            Err(err) => UserCheck::Unavailable(misbehaved(&endpoint(), "its user information could not be read", Some(&err))),
        }
    }

    /// A token for another audience made from the session's access token by RFC 8693 token exchange
    /// (the refresh token is not involved, so nothing the session holds changes). Providers that do
    /// not list the grant in their metadata get a clear error without a request.
    pub async fn exchange(
        &self,
        subject: &SecretString,
        audience: &str,
        scope: Option<&str>,
    ) -> Result<(SecretString, Option<chrono::DateTime<chrono::Utc>>)> {
        if !self.token_exchange {
            return Err(Error::NotOffered(format!(
                "The provider does not offer token exchange (RFC 8693), so no token for audience \"{audience}\" can be made: ask its administrator to enable it, or use the session's own token."
            )));
        }
        let endpoint = format!("{} token endpoint", self.config.issuer);
        let request = self
            .exchange_request(subject, audience, scope)
            .map_err(|err| Error::InvalidConfiguration(format!("The token exchange request could not be made: {err}")))?;
        let arrived = self.clock.now();
        let response = openidconnect::AsyncHttpClient::call(&self.http, request).await.map_err(|err| request_error(&endpoint, &err))?;
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap_or_default();
        if !response.status().is_success() {
            let code = body.get("error").and_then(|v| v.as_str()).unwrap_or("no error code");
            if response.status().is_server_error() {
                return Err(Error::unavailable(endpoint, format!("HTTP {}", response.status().as_u16()), None));
            }
            return Err(Error::NotOffered(format!(
                "The provider refused to make a token for audience \"{audience}\" ({code}): check that this client may exchange tokens for that audience."
            )));
        }
        let token = body
            .get("access_token")
            .and_then(|v| v.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| misbehaved(&endpoint, "its token exchange answer has no access token", None))?;
        let expires_at =
            body.get("expires_in").and_then(serde_json::Value::as_i64).filter(|s| *s > 0).map(|s| arrived + TimeDelta::seconds(s));
        Ok((SecretString::from(token.to_owned()), expires_at))
    }

    /// The RFC 8693 request: the access token as the subject, client authentication as revocation does.
    fn exchange_request(
        &self,
        subject: &SecretString,
        audience: &str,
        scope: Option<&str>,
    ) -> std::result::Result<openidconnect::HttpRequest, openidconnect::http::Error> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", TOKEN_EXCHANGE_GRANT)
            .append_pair("subject_token", subject.expose_secret())
            .append_pair("subject_token_type", ACCESS_TOKEN_TYPE)
            .append_pair("requested_token_type", ACCESS_TOKEN_TYPE)
            .append_pair("audience", audience);
        if let Some(scope) = scope {
            form.append_pair("scope", scope);
        }
        let mut request = openidconnect::http::Request::post(&self.token_endpoint)
            .header(openidconnect::http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(openidconnect::http::header::ACCEPT, "application/json");
        match &self.client_secret {
            Some(secret) => {
                use base64::Engine as _;
                let encode = |part: &str| url::form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>();
                let pair = format!("{}:{}", encode(&self.config.client_id), encode(secret.expose_secret()));
                let basic = base64::engine::general_purpose::STANDARD.encode(pair);
                request = request.header(openidconnect::http::header::AUTHORIZATION, format!("Basic {basic}"));
            }
            None => {
                form.append_pair("client_id", &self.config.client_id);
            }
        }
        request.body(form.finish().into_bytes())
    }
}

pub(super) fn token_times(response: &TokenResponse, arrived: chrono::DateTime<chrono::Utc>) -> TokenTimes {
    let after = |duration: Duration| TimeDelta::from_std(duration).ok().map(|d| arrived + d);
    TokenTimes {
        access_token_expires_at: response.expires_in().and_then(after),
        refresh_token_expires_at: response
            .extra_fields()
            .extra_fields()
            .refresh_expires_in
            .filter(|seconds| *seconds > 0)
            .and_then(|seconds| after(Duration::from_secs(seconds))),
        has_refresh_token: response.refresh_token().is_some(),
    }
}
