//! The OpenID Connect protocol, on `openidconnect`: discovery, the sign-in transaction (PKCE S256,
//! `state`, `nonce`, RFC 9207 `iss`), ID token validation, refresh, userinfo, revocation (RFC 7009)
//! and the end-session URL.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreSubjectIdentifierType, CoreTokenIntrospectionResponse,
    CoreTokenType, CoreUserInfoClaims,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalProviderMetadata, AuthorizationCode, Client, ClientId, ClientSecret,
    CsrfToken, DiscoveryError, EmptyAdditionalClaims, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    HttpClientError, IdTokenClaims, IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, ProviderMetadata, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse as _, UserInfoError,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::clock::Clock;
use crate::error::{Error, ErrorInfo, ErrorKind, Result};
use crate::provider::{ProviderConfig, require_secure};
use crate::secret::SessionSecrets;
use crate::state::{RefreshFailure, TokenTimes};
use crate::user::UserProfile;

/// How far the ID token's `exp` may lie in the past before it is refused (client clock skew).
const ID_TOKEN_LEEWAY: TimeDelta = TimeDelta::seconds(60);

/// Provider metadata beyond what `openidconnect`'s core type reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ExtraMetadata {
    revocation_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

/// Token response fields beyond the standard ones: Keycloak and others report the refresh token's
/// lifetime as `refresh_expires_in`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ExtraTokenFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_expires_in: Option<u64>,
}
impl openidconnect::ExtraTokenFields for ExtraTokenFields {}

type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;
type IdFields = IdTokenFields<
    EmptyAdditionalClaims,
    ExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type TokenResponse = StandardTokenResponse<IdFields, CoreTokenType>;
type OidcClient = Client<
    EmptyAdditionalClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;
type TokenError = RequestTokenError<HttpClientError<reqwest::Error>, StandardErrorResponse<CoreErrorResponseType>>;

/// The HTTP client for provider calls: no redirects (as `openidconnect` advises, so that a token
/// request is never replayed elsewhere) and bounded times, so a provider that stops answering becomes
/// an error instead of a hang.
pub fn http_client(request_timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(request_timeout.min(Duration::from_secs(10)))
        .timeout(request_timeout)
        .user_agent(concat!("session-keeper/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| Error::InvalidConfiguration(format!("cannot build the HTTP client: {err}")))
}

/// A boxed future, for the object-safe [`TokenAuthority`].
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What the scheduler asks of a provider in the background: refresh and userinfo. [`Provider`] is
/// the real one; tests of the scheduler's timing plug in their own through
/// [`crate::SessionManagerBuilder::token_authority`], because tokio's paused clock and real sockets do
/// not mix (the paused clock jumps to the next timer, an HTTP timeout, while a socket waits).
pub trait TokenAuthority: Send + Sync + 'static {
    /// Exchanges the refresh token in `current` for new tokens.
    fn refresh<'a>(
        &'a self,
        current: &'a SessionSecrets,
        subject: Option<&'a str>,
    ) -> BoxFuture<'a, std::result::Result<Refreshed, RefreshFailure>>;
    /// Asks whether the access token still stands.
    fn user_info<'a>(&'a self, access_token: &'a SecretString) -> BoxFuture<'a, UserCheck>;
}

impl TokenAuthority for Provider {
    fn refresh<'a>(
        &'a self,
        current: &'a SessionSecrets,
        subject: Option<&'a str>,
    ) -> BoxFuture<'a, std::result::Result<Refreshed, RefreshFailure>> {
        Box::pin(Provider::refresh(self, current, subject))
    }

    fn user_info<'a>(&'a self, access_token: &'a SecretString) -> BoxFuture<'a, UserCheck> {
        Box::pin(Provider::user_info(self, access_token))
    }
}

/// A provider whose metadata and signing keys have been discovered.
pub struct Provider {
    config: ProviderConfig,
    issuer: IssuerUrl,
    client: OidcClient,
    extra: ExtraMetadata,
    token_endpoint: String,
    http: reqwest::Client,
    client_secret: Option<SecretString>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider").field("issuer", &self.issuer.as_str()).field("client_id", &self.config.client_id).finish()
    }
}

/// An authorization request waiting for its redirect. Its values are secrets of the transaction.
#[derive(Debug)]
pub struct PendingSignIn {
    state: CsrfToken,
    nonce: Nonce,
    pkce_verifier: PkceCodeVerifier,
    /// The redirect URI of this attempt when it is not the configured one (a loopback port).
    redirect_uri: Option<RedirectUrl>,
}

impl PendingSignIn {
    /// True when `redirect` carries this transaction's `state`.
    pub fn matches(&self, redirect: &Url) -> bool {
        query_param(redirect, "state").is_some_and(|state| state.as_ref() == self.state.secret())
    }
}

/// What a completed sign-in yields.
#[derive(Debug)]
pub struct SignedIn {
    /// The tokens, to go to the vault.
    pub secrets: SessionSecrets,
    /// Their expiry instants.
    pub times: TokenTimes,
    /// Who signed in.
    pub user: UserProfile,
}

/// New tokens from a refresh.
#[derive(Debug)]
pub struct Refreshed {
    /// The tokens to store (the old refresh or ID token is kept when the provider sends none).
    pub secrets: SessionSecrets,
    /// Their expiry instants.
    pub times: TokenTimes,
    /// A problem that did not stop the refresh (an invalid refreshed ID token, which is dropped).
    pub warning: Option<String>,
    /// Set by the scheduler when the keychain did not accept the new tokens.
    pub unsaved: Option<ErrorInfo>,
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

/// The provider's end-session URL. It carries the ID token as `id_token_hint`, so `Debug` hides it.
pub struct EndSessionUrl(Url);

impl EndSessionUrl {
    /// The URL, to open in a browser window. Do not log it.
    pub fn expose(&self) -> &Url {
        &self.0
    }
}

impl std::fmt::Debug for EndSessionUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EndSessionUrl({}?[redacted])", self.0.as_str().split('?').next().unwrap_or_default())
    }
}

/// What sign-out managed to do at the provider.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Revocation {
    /// The refresh token was revoked.
    pub refresh_token_revoked: bool,
    /// The access token was revoked.
    pub access_token_revoked: bool,
    /// Why something could not be revoked (the provider has no endpoint, or was unreachable).
    pub problems: Vec<String>,
}

impl Provider {
    /// Fetches `/.well-known/openid-configuration` and the signing keys, checking that the provider's
    /// issuer is exactly the configured one.
    pub async fn discover(
        http: &reqwest::Client,
        config: &ProviderConfig,
        client_secret: Option<SecretString>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        config.validate()?;
        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|err| Error::InvalidConfiguration(format!("The issuer URL is not valid: {err}")))?;
        let discovery_url = format!("{}/.well-known/openid-configuration", config.issuer.trim_end_matches('/'));
        let metadata = Metadata::discover_async(issuer.clone(), http)
            .await
            .map_err(|err| discovery_error(err, &config.issuer, &discovery_url))?;
        for (what, endpoint) in [
            ("authorization endpoint", Some(metadata.authorization_endpoint().as_str())),
            ("token endpoint", metadata.token_endpoint().map(|u| u.as_str())),
            ("revocation endpoint", metadata.additional_metadata().revocation_endpoint.as_deref()),
        ] {
            if let Some(endpoint) = endpoint {
                let url = Url::parse(endpoint).map_err(|err| misbehaved(&discovery_url, format!("its {what} is not a URL: {err}")))?;
                require_secure(&url, what)?;
            }
        }
        let token_endpoint = metadata
            .token_endpoint()
            .map(|u| u.to_string())
            .ok_or_else(|| misbehaved(&discovery_url, "it announces no token endpoint"))?;
        let extra = metadata.additional_metadata().clone();
        let redirect = RedirectUrl::new(config.redirect_uri.clone())
            .map_err(|err| Error::InvalidConfiguration(format!("The redirect URI is not valid: {err}")))?;
        let client = OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(config.client_id.clone()),
            client_secret.as_ref().map(|s| ClientSecret::new(s.expose_secret().to_owned())),
        )
        .set_redirect_uri(redirect);
        Ok(Self {
            config: config.clone(),
            issuer,
            client,
            extra,
            token_endpoint,
            http: http.clone(),
            client_secret,
            clock,
        })
    }

    /// The configuration this provider was discovered from.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// Starts a sign-in: the authorization URL to open, and the transaction to keep until the redirect.
    /// `redirect_uri` replaces the configured one for this attempt (a loopback listener's port).
    pub fn begin_sign_in(&self, redirect_uri: Option<&Url>) -> (Url, PendingSignIn) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let redirect_uri = redirect_uri.map(|uri| RedirectUrl::from_url(uri.clone()));
        let mut request = self
            .client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        if let Some(uri) = &redirect_uri {
            request = request.set_redirect_uri(Cow::Owned(uri.clone()));
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
        let code = query_param(redirect, "code")
            .ok_or_else(|| Error::InvalidRedirect("it has no authorization code".into()))?;
        let mut exchange = self
            .client
            .exchange_code(AuthorizationCode::new(code.into_owned()))
            .map_err(|err| misbehaved(&self.config.issuer, err))?
            .set_pkce_verifier(pending.pkce_verifier);
        if let Some(uri) = &pending.redirect_uri {
            exchange = exchange.set_redirect_uri(Cow::Borrowed(uri));
        }
        let response = exchange
            .request_async(&self.http)
            .await
            .map_err(|err| match classify_token_error(err, &self.token_endpoint) {
                TokenCallError::Unavailable(error) => error,
                TokenCallError::Grant(message) | TokenCallError::Refused(message) => Error::SignInRejected(message),
            })?;
        let arrived = self.clock.now();
        let id_token = response
            .id_token()
            .ok_or_else(|| Error::InvalidIdToken("the token response has no ID token".into()))?;
        let verifier = self.id_token_verifier();
        let claims = id_token.claims(&verifier, &pending.nonce).map_err(|err| Error::InvalidIdToken(err.to_string()))?;
        if let Some(expected) = claims.access_token_hash() {
            let actual = id_token
                .signing_alg()
                .and_then(|alg| {
                    let key = id_token.signing_key(&verifier)?;
                    AccessTokenHash::from_token(response.access_token(), alg, key)
                        .map_err(|err| openidconnect::SignatureVerificationError::Other(err.to_string()))
                })
                .map_err(|err| Error::InvalidIdToken(format!("cannot check at_hash: {err}")))?;
            if actual != *expected {
                return Err(Error::InvalidIdToken("the access token does not match the ID token's at_hash".into()));
            }
        }
        let mut user = profile_from_claims(claims);
        if let UserCheck::Valid(from_userinfo) = self.user_info(&SecretString::from(response.access_token().secret().clone())).await
            && from_userinfo.subject == user.subject
        {
            user = merge_profiles(user, from_userinfo);
        }
        Ok(SignedIn {
            times: token_times(&response, arrived),
            secrets: SessionSecrets {
                access_token: SecretString::from(response.access_token().secret().clone()),
                refresh_token: response.refresh_token().map(|t| SecretString::from(t.secret().clone())),
                id_token: Some(SecretString::from(id_token.to_string())),
            },
            user,
        })
    }

    fn check_redirect(&self, pending: &PendingSignIn, redirect: &Url) -> Result<()> {
        let expected = match &pending.redirect_uri {
            Some(uri) => uri.url().clone(),
            None => Url::parse(&self.config.redirect_uri)
                .map_err(|err| Error::InvalidConfiguration(format!("The redirect URI is not valid: {err}")))?,
        };
        let same_target = redirect.scheme() == expected.scheme()
            && redirect.host_str() == expected.host_str()
            && redirect.path() == expected.path()
            // A loopback redirect URI registered without a port matches any port (RFC 8252 7.3).
            && (expected.port().is_none() || redirect.port() == expected.port());
        if !same_target {
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
                return Err(Error::InvalidRedirect(
                    "it lacks the iss parameter that this provider always sends (RFC 9207)".into(),
                ));
            }
            _ => {}
        }
        if let Some(error) = query_param(redirect, "error") {
            let description = query_param(redirect, "error_description").map(|d| format!(" ({d})")).unwrap_or_default();
            return Err(Error::SignInRejected(format!("{error}{description}")));
        }
        Ok(())
    }

    fn id_token_verifier(&self) -> openidconnect::IdTokenVerifier<'_, CoreJsonWebKey> {
        let clock = self.clock.clone();
        self.client.id_token_verifier().set_time_fn(move || clock.now() - ID_TOKEN_LEEWAY)
    }

    /// Exchanges a refresh token for new tokens. `subject` is the signed-in user, to check a refreshed
    /// ID token against.
    pub async fn refresh(
        &self,
        current: &SessionSecrets,
        subject: Option<&str>,
    ) -> std::result::Result<Refreshed, RefreshFailure> {
        let Some(refresh_token) = &current.refresh_token else {
            return Err(RefreshFailure::Revoked(ErrorInfo {
                kind: ErrorKind::SessionRevoked,
                message: "There is no refresh token to extend the session with: sign in again.".into(),
            }));
        };
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let request = self
            .client
            .exchange_refresh_token(&token)
            .map_err(|err| RefreshFailure::Rejected(misbehaved(&self.config.issuer, err).info()))?;
        let response = request.request_async(&self.http).await.map_err(|err| {
            match classify_token_error(err, &self.token_endpoint) {
                TokenCallError::Grant(message) => RefreshFailure::Revoked(Error::SessionRevoked(message).info()),
                TokenCallError::Refused(message) => RefreshFailure::Rejected(
                    Error::ProviderMisbehaved {
                        endpoint: self.token_endpoint.clone(),
                        detail: format!("it refused the refresh ({message}); check the client settings"),
                    }
                    .info(),
                ),
                TokenCallError::Unavailable(error) => RefreshFailure::Transient(error.info()),
            }
        })?;
        let arrived = self.clock.now();
        // The token endpoint is the trusted channel and has already rotated the refresh token: a bad
        // refreshed ID token is dropped with a warning, never a reason to lose the new tokens.
        let mut warning = None;
        let mut id_token = current.id_token.clone();
        if let Some(new_id_token) = response.id_token() {
            let verifier = self.id_token_verifier();
            match new_id_token.claims(&verifier, |_: Option<&Nonce>| Ok(())) {
                Ok(claims) if subject.is_none_or(|s| s == claims.subject().as_str()) => {
                    id_token = Some(SecretString::from(new_id_token.to_string()));
                }
                Ok(_) => warning = Some("the refreshed ID token names another user; it was ignored".to_owned()),
                Err(err) => warning = Some(format!("the refreshed ID token is not valid ({err}); it was ignored")),
            }
        }
        Ok(Refreshed {
            times: {
                let mut times = token_times(&response, arrived);
                // Without rotation the provider sends no new refresh token and the old one stands.
                times.has_refresh_token = true;
                times
            },
            secrets: SessionSecrets {
                access_token: SecretString::from(response.access_token().secret().clone()),
                refresh_token: Some(
                    response
                        .refresh_token()
                        .map(|t| SecretString::from(t.secret().clone()))
                        .unwrap_or_else(|| refresh_token.clone()),
                ),
                id_token,
            },
            warning,
            unsaved: None,
        })
    }

    /// Asks the userinfo endpoint who the access token belongs to.
    pub async fn user_info(&self, access_token: &SecretString) -> UserCheck {
        let request = match self.client.user_info(AccessToken::new(access_token.expose_secret().to_owned()), None) {
            Ok(request) => request,
            Err(err) => return UserCheck::Unavailable(misbehaved(&self.config.issuer, format!("no userinfo endpoint: {err}"))),
        };
        let endpoint = || format!("{} userinfo endpoint", self.config.issuer);
        let result: std::result::Result<CoreUserInfoClaims, _> = request.request_async(&self.http).await;
        match result {
            Ok(claims) => UserCheck::Valid(UserProfile {
                subject: claims.subject().to_string(),
                name: claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
                email: claims.email().map(|e| e.to_string()),
                preferred_username: claims.preferred_username().map(|u| u.to_string()),
            }),
            Err(UserInfoError::Response(status, ..)) if status == 401 || status == 403 => UserCheck::Rejected,
            Err(UserInfoError::Response(status, ..)) => UserCheck::Unavailable(Error::ProviderUnavailable {
                endpoint: endpoint(),
                detail: format!("HTTP {status}"),
            }),
            Err(UserInfoError::Request(err)) => {
                UserCheck::Unavailable(Error::ProviderUnavailable { endpoint: endpoint(), detail: describe_http_error(&err) })
            }
            Err(err) => UserCheck::Unavailable(misbehaved(&endpoint(), err)),
        }
    }

    /// Revokes the refresh token, then the access token (RFC 7009). Never fails: what could not be done
    /// is listed in the result, because a local sign-out must succeed with the provider unreachable.
    ///
    /// Written with reqwest rather than `openidconnect::revoke_token` because that refuses `http://`
    /// endpoints, which this crate allows on loopback.
    pub async fn revoke(&self, secrets: &SessionSecrets) -> Revocation {
        let mut outcome = Revocation::default();
        let Some(endpoint) = &self.extra.revocation_endpoint else {
            outcome.problems.push("the provider has no revocation endpoint".into());
            return outcome;
        };
        if let Some(refresh_token) = &secrets.refresh_token {
            match self.revoke_one(endpoint, refresh_token, "refresh_token").await {
                Ok(()) => outcome.refresh_token_revoked = true,
                Err(problem) => outcome.problems.push(problem),
            }
        }
        match self.revoke_one(endpoint, &secrets.access_token, "access_token").await {
            Ok(()) => outcome.access_token_revoked = true,
            Err(problem) => outcome.problems.push(problem),
        }
        outcome
    }

    async fn revoke_one(&self, endpoint: &str, token: &SecretString, hint: &str) -> std::result::Result<(), String> {
        let mut form = vec![("token", token.expose_secret()), ("token_type_hint", hint)];
        let mut request = self.http.post(endpoint);
        match &self.client_secret {
            Some(secret) => request = request.basic_auth(&self.config.client_id, Some(secret.expose_secret())),
            None => form.push(("client_id", &self.config.client_id)),
        }
        match request.form(&form).send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("revoking the {hint} answered HTTP {}", response.status())),
            Err(err) => Err(format!("revoking the {hint} failed: {}", describe_http_error(&err))),
        }
    }

    /// The URL that ends the user's session at the provider (RP-initiated logout), if it has one.
    pub fn end_session_url(&self, id_token: Option<&SecretString>) -> Option<EndSessionUrl> {
        let mut url = Url::parse(self.extra.end_session_endpoint.as_deref()?).ok()?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("client_id", &self.config.client_id);
            if let Some(id_token) = id_token {
                query.append_pair("id_token_hint", id_token.expose_secret());
            }
            if let Some(after) = &self.config.post_logout_redirect_uri {
                query.append_pair("post_logout_redirect_uri", after);
            }
        }
        Some(EndSessionUrl(url))
    }
}

fn query_param<'a>(url: &'a Url, name: &str) -> Option<Cow<'a, str>> {
    url.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value)
}

fn token_times(response: &TokenResponse, arrived: chrono::DateTime<chrono::Utc>) -> TokenTimes {
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

fn profile_from_claims(claims: &IdTokenClaims<EmptyAdditionalClaims, CoreGenderClaim>) -> UserProfile {
    UserProfile {
        subject: claims.subject().to_string(),
        name: claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
        email: claims.email().map(|e| e.to_string()),
        preferred_username: claims.preferred_username().map(|u| u.to_string()),
    }
}

fn merge_profiles(from_id_token: UserProfile, from_userinfo: UserProfile) -> UserProfile {
    UserProfile {
        subject: from_id_token.subject,
        name: from_userinfo.name.or(from_id_token.name),
        email: from_userinfo.email.or(from_id_token.email),
        preferred_username: from_userinfo.preferred_username.or(from_id_token.preferred_username),
    }
}

fn misbehaved(endpoint: &str, detail: impl std::fmt::Display) -> Error {
    Error::ProviderMisbehaved { endpoint: endpoint.to_owned(), detail: detail.to_string() }
}

/// Describes a transport error without its URL's query (which could hold a token).
fn describe_http_error(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    if let Some(start) = text.find('?') {
        let end = text[start..].find(|c: char| c.is_whitespace() || c == ')').map_or(text.len(), |e| start + e);
        text.replace_range(start..end, "");
    }
    text
}

fn discovery_error(err: DiscoveryError<HttpClientError<reqwest::Error>>, issuer: &str, url: &str) -> Error {
    match err {
        DiscoveryError::Request(err) => Error::ProviderUnavailable { endpoint: url.to_owned(), detail: describe_http_error(&err) },
        DiscoveryError::Response(status, _, _) if status.is_server_error() => {
            Error::ProviderUnavailable { endpoint: url.to_owned(), detail: format!("HTTP {status}") }
        }
        DiscoveryError::Response(status, _, detail) => misbehaved(
            url,
            format!("HTTP {status} ({detail}); is {issuer} the issuer URL of an OpenID Provider?"),
        ),
        DiscoveryError::Validation(message) => {
            // openidconnect words it "unexpected issuer URI `found` (expected `expected`)".
            let found = message.split('`').nth(1).unwrap_or(&message).to_owned();
            Error::IssuerMismatch { expected: issuer.to_owned(), found }
        }
        DiscoveryError::Parse(err) => misbehaved(url, format!("its metadata is not valid: {err}")),
        other => misbehaved(url, other),
    }
}

enum TokenCallError {
    /// `invalid_grant`: the code or refresh token is dead.
    Grant(String),
    /// Another OAuth error: the request was refused (client settings).
    Refused(String),
    /// Network, timeout, 5xx, or an unreadable (HTML error page) answer: try again later.
    Unavailable(Error),
}

fn classify_token_error(err: TokenError, endpoint: &str) -> TokenCallError {
    let unavailable = |detail: String| TokenCallError::Unavailable(Error::ProviderUnavailable { endpoint: endpoint.to_owned(), detail });
    match err {
        RequestTokenError::ServerResponse(response) => {
            let description = response.error_description().map(|d| format!(": {d}")).unwrap_or_default();
            let message = format!("{}{description}", response.error().as_ref());
            match response.error() {
                CoreErrorResponseType::InvalidGrant => TokenCallError::Grant(message),
                CoreErrorResponseType::Extension(code) if code == "temporarily_unavailable" || code == "server_error" => {
                    unavailable(message)
                }
                _ => TokenCallError::Refused(message),
            }
        }
        RequestTokenError::Request(err) => unavailable(describe_http_error(&err)),
        RequestTokenError::Parse(_, body) => {
            unavailable(format!("the answer is not a token response ({} bytes)", body.len()))
        }
        RequestTokenError::Other(message) => unavailable(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_session_url_hides_its_token_in_debug() {
        let url = EndSessionUrl(Url::parse("https://id.example.com/logout?id_token_hint=eyJsecret").unwrap());
        let text = format!("{url:?}");
        assert!(!text.contains("eyJsecret"), "{text}");
        assert!(text.contains("https://id.example.com/logout"), "{text}");
    }

    #[test]
    fn transport_errors_drop_query_strings() {
        #[derive(Debug)]
        struct E;
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "error sending request for url (http://x/cb?code=abc&state=def)")
            }
        }
        impl std::error::Error for E {}
        let text = describe_http_error(&E);
        assert!(!text.contains("abc"), "{text}");
    }
}
