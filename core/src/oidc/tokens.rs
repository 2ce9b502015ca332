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
        let requested: Vec<String> = match scope {
            Some(scope) => scope.split_whitespace().map(str::to_owned).collect(),
            None => self.config.scopes.clone(),
        };
        let rotated = response.refresh_token().map(|t| SecretString::from(t.secret().clone()));
        if let Some(refused) = refused_token_type(&response) {
            let error = misbehaved(&self.token_endpoint, &refused, None).info();
            // The access token is not used. A rotated refresh token is already the only one the
            // provider honours (the one sent is spent): it is kept, with the tokens held before, so
            // that the next try (or a fixed provider) still has a grant to present.
            let Some(rotated) = rotated else { return Err(RefreshFailure::Rejected(error)) };
            let secrets = SessionSecrets {
                access_token: current.access_token.clone(),
                refresh_token: Some(rotated),
                id_token: current.id_token.clone(),
            };
            return Ok(RefreshAnswer {
                refused: Some(error),
                ..RefreshAnswer::new(secrets, token_times(&response, arrived, &requested), None)
            });
        }
        let mut times = token_times(&response, arrived, &requested);
        times.refresh_token_online = only_online(&requested, response.scopes().map(Vec::as_slice));
        // Without rotation the provider sends no new refresh token and the old one stands.
        times.has_refresh_token = true;
        let id_token = response.id_token().cloned().map(Box::new);
        Ok(RefreshAnswer {
            secrets: SessionSecrets {
                access_token: SecretString::from(response.access_token().secret().clone()),
                refresh_token: Some(rotated.unwrap_or_else(|| refresh_token.clone())),
                id_token: id_token.as_ref().map(|t| SecretString::from(t.to_string())).or_else(|| current.id_token.clone()),
            },
            times,
            warning: response.extra_fields().extra_fields().adjusted.clone(),
            received,
            id_token,
            previous_id_token: current.id_token.clone(),
            refused: None,
        })
    }

    /// Checks a refresh answer's ID token (OIDC 12.2) against `subject`, the signed-in user,
    /// fetching the signing keys again if the token names one the known sets lack. The token
    /// endpoint is the trusted channel and has already rotated the refresh token: a refreshed ID
    /// token with a harmless defect is dropped with a warning (the previous one is kept), never a
    /// reason to lose the new tokens; one that fails a security check rejects the answer.
    pub async fn check_refresh(&self, answer: RefreshAnswer, subject: Option<&str>) -> Refreshed {
        let checked = match &answer.id_token {
            Some(token) if answer.refused.is_none() => Some(self.verify(token, no_nonce).await.map(|claims| self.seen(claims))),
            _ => None,
        };
        self.judge(answer, subject, checked, true)
    }

    /// The same check with the keys at hand, without a request; the answer comes back unchecked
    /// when only a fetch of the provider's signing keys can settle it (its ID token names a key the
    /// known sets lack, and a refetch is allowed now). This lets the answer be checked before it is
    /// written whenever it can be, which is almost always.
    pub fn check_refresh_at_hand(
        &self,
        answer: RefreshAnswer,
        subject: Option<&str>,
    ) -> std::result::Result<Refreshed, Box<RefreshAnswer>> {
        let checked = match &answer.id_token {
            Some(token) if answer.refused.is_none() => {
                let checked = self.verify_at_hand(token, no_nonce).map(|claims| self.seen(claims));
                if matches!(checked, Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)))
                    && self.may_refetch()
                {
                    return Err(Box::new(answer));
                }
                Some(checked)
            }
            _ => None,
        };
        Ok(self.judge(answer, subject, checked, false))
    }

    fn seen(&self, claims: &openidconnect::core::CoreIdTokenClaims) -> Seen {
        Seen {
            subject: claims.subject().to_string(),
            auth_time: claims.auth_time(),
            issued_in_the_future: self.issued_in_the_future(claims),
        }
    }

    /// What a checked refresh answer becomes: kept, kept without its ID token (a harmless defect),
    /// or rejected (a security failure: another user, another sign-in, a forged or foreign token).
    /// `written_first` says whether the answer went to the keychain before this check (only when a
    /// key fetch was needed), for the message.
    fn judge(
        &self,
        answer: RefreshAnswer,
        subject: Option<&str>,
        checked: Option<std::result::Result<Seen, ClaimsVerificationError>>,
        written_first: bool,
    ) -> Refreshed {
        let RefreshAnswer { mut secrets, times, mut warning, previous_id_token, refused, .. } = answer;
        let mut rejected = None;
        let mut id_token_dropped = false;
        let insecure = |reason: &str, cause: Option<String>| {
            tracing::warn!(cause = cause.as_deref().unwrap_or_default(), "refresh answer refused: {reason}");
            let stored = if written_first {
                "were held in the keychain only while the provider's new signing keys were fetched to check them, taken out at once"
            } else {
                "were never stored"
            };
            Some(ErrorInfo::new(
                ErrorKind::InvalidIdToken,
                format!(
                    "The provider's answer to the refresh was refused: {reason}. Its tokens {stored}, and are revoked at the provider; sign in again."
                ),
            ))
        };
        let mut drop_id_token = |reason: &str, cause: String| {
            tracing::warn!(error = %cause, "refreshed ID token ignored");
            warning =
                Some(format!("The provider's refreshed ID token was ignored because {reason}; the session goes on with the earlier one."));
            secrets.id_token = previous_id_token.clone();
            id_token_dropped = true;
        };
        match checked {
            None => {}
            Some(Ok(seen)) if subject.is_some_and(|s| s != seen.subject) => {
                rejected = insecure("the provider answered the refresh with another user's tokens", None);
            }
            // OIDC 12.2: a refreshed ID token's auth_time is the original authentication's.
            Some(Ok(seen))
                if seen.auth_time.is_some_and(|at| previous_id_token.as_ref().and_then(jwt_auth_time).is_some_and(|was| was != at)) =>
            {
                rejected = insecure("the provider answered the refresh with an ID token of another sign-in (its auth_time changed)", None);
            }
            Some(Ok(seen)) => {
                if let Some(issued) = seen.issued_in_the_future.clone() {
                    drop_id_token("it says it was issued in the future of the provider's own clock (iat)", issued);
                }
            }
            Some(Err(
                err @ (ClaimsVerificationError::SignatureVerification(_)
                | ClaimsVerificationError::InvalidIssuer(_)
                | ClaimsVerificationError::InvalidAudience(_)),
            )) => {
                rejected = insecure(super::errors::id_token_reason(&err), Some(err.to_string()));
            }
            Some(Err(err)) => drop_id_token(super::errors::id_token_reason(&err), err.to_string()),
        }
        Refreshed { times, secrets, warning, rejected, unsaved: None, id_token_dropped, refused }
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

/// The expiry instants of a token answer, and whether its refresh token is an online one, for an
/// answer to a request for the `requested` scopes.
pub(super) fn token_times(response: &TokenResponse, arrived: chrono::DateTime<chrono::Utc>, requested: &[String]) -> TokenTimes {
    let after = |duration: Duration| TimeDelta::from_std(duration).ok().map(|d| arrived + d);
    TokenTimes {
        access_token_expires_at: response.expires_in().and_then(after),
        refresh_token_expires_at: {
            let extra = response.extra_fields().extra_fields();
            extra.refresh_expires_in.or(extra.refresh_token_expires_in)
        }
        .filter(|seconds| *seconds > 0)
        .and_then(|seconds| after(Duration::from_secs(seconds))),
        has_refresh_token: response.refresh_token().is_some(),
        refresh_token_online: response.refresh_token().is_some() && only_online(requested, response.scopes().map(Vec::as_slice)),
    }
}

/// Whether an answer granted an online refresh token only: `offline_access` was requested and the
/// granted `scope` lacks it (OIDC Core 11: without consent the provider may drop it and tie the
/// token to its login session). No `scope` says nothing (RFC 6749 5.1: it may be left out when it
/// is the requested one), and neither does one without `openid`: such a list names the resources
/// granted, not the OpenID scopes (Entra ID lists only its APIs' scopes), so the absence of
/// `offline_access` from it means nothing.
fn only_online(requested: &[String], granted: Option<&[Scope]>) -> bool {
    let Some(granted) = granted else { return false };
    let has = |name: &str| granted.iter().any(|scope| scope.as_str() == name);
    requested.iter().any(|scope| scope == "offline_access") && has("openid") && !has("offline_access")
}

/// Why an answer's `token_type` is refused (RFC 6749 7.1: a client MUST NOT use a token whose type
/// it does not understand): `Bearer` in any case is understood; `DPoP` only when DPoP was asked
/// for, which this client never does; anything else (`mac`, `N_A`, empty) is not.
pub(super) fn refused_token_type(response: &TokenResponse) -> Option<String> {
    let token_type = response.token_type().as_ref();
    (!token_type.eq_ignore_ascii_case("bearer")).then(|| {
        format!("its access token is of type \"{}\", which this client does not use (it uses Bearer tokens)", provider_text(token_type))
    })
}

/// A refreshed ID token never carries a nonce (OIDC 12.2).
fn no_nonce(_: Option<&Nonce>) -> std::result::Result<(), String> {
    Ok(())
}

/// What the refresh check needs of a verified ID token's claims.
struct Seen {
    subject: String,
    auth_time: Option<chrono::DateTime<chrono::Utc>>,
    issued_in_the_future: Option<String>,
}

/// The `auth_time` of an ID token that was verified when it arrived (read, not verified again).
fn jwt_auth_time(token: &SecretString) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(jwt_claim(token, "auth_time")?.as_i64()?, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn granted(text: &str) -> Vec<Scope> {
        text.split_whitespace().map(|s| Scope::new(s.to_owned())).collect()
    }

    #[test]
    fn a_refresh_token_is_online_only_when_offline_access_was_asked_for_and_the_granted_scope_lacks_it() {
        let asked = scopes("openid profile email offline_access");
        assert!(only_online(&asked, Some(&granted("openid profile email"))), "offline_access dropped");
        assert!(!only_online(&asked, Some(&granted("openid email offline_access profile"))), "granted, in any order");
        assert!(!only_online(&asked, None), "no scope in the answer says nothing (RFC 6749 5.1)");
        assert!(!only_online(&asked, Some(&granted("https://graph.microsoft.com/User.Read"))), "a list of resources only");
        assert!(!only_online(&scopes("openid profile email"), Some(&granted("openid profile"))), "offline_access not asked for");
    }

    #[test]
    fn the_answers_times_say_online_only_with_a_refresh_token() {
        let answer = |body: serde_json::Value| serde_json::from_value::<TokenResponse>(body).unwrap();
        let arrived = chrono::Utc::now();
        let asked = scopes("openid profile offline_access");
        let online = answer(serde_json::json!({
            "access_token": "a", "token_type": "Bearer", "expires_in": 60, "refresh_token": "r", "scope": "openid profile"
        }));
        assert!(token_times(&online, arrived, &asked).refresh_token_online);
        let offline = answer(serde_json::json!({
            "access_token": "a", "token_type": "Bearer", "refresh_token": "r", "scope": "openid profile offline_access"
        }));
        assert!(!token_times(&offline, arrived, &asked).refresh_token_online);
        let silent = answer(serde_json::json!({ "access_token": "a", "token_type": "Bearer", "refresh_token": "r" }));
        assert!(!token_times(&silent, arrived, &asked).refresh_token_online, "no scope: not online");
        let none = answer(serde_json::json!({ "access_token": "a", "token_type": "Bearer", "scope": "openid profile" }));
        let times = token_times(&none, arrived, &asked);
        assert!(!times.has_refresh_token && !times.refresh_token_online, "no refresh token at all is not an online one");
    }
}
