//! The OpenID Connect protocol, on `openidconnect`: discovery, the sign-in transaction (PKCE S256,
//! `state`, `nonce`, RFC 9207 `iss`), ID token validation, refresh, userinfo, revocation (RFC 7009)
//! and the end-session URL.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreErrorResponseType,
    CoreGenderClaim, CoreGrantType, CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreSubjectIdentifierType, CoreTokenIntrospectionResponse, CoreTokenType, CoreUserInfoClaims,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalProviderMetadata, AuthorizationCode, ClaimsVerificationError, Client, ClientId, ClientSecret,
    CsrfToken, DiscoveryError, EmptyAdditionalClaims, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpClientError, IdTokenFields,
    IdTokenVerifier, IssuerUrl, JsonWebKeySetUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata,
    RedirectUrl, RefreshToken, RequestTokenError, Scope, SignatureVerificationError, StandardErrorResponse, StandardTokenResponse,
    TokenResponse as _, UserInfoError,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::clock::Clock;
use crate::error::{Error, ErrorInfo, ErrorKind, Result};
use crate::names::RedirectUri;
use crate::provider::{ProviderConfig, require_secure};
use crate::secret::SessionSecrets;
use crate::user::UserProfile;

/// How far the ID token's `exp` may lie in the past before it is refused (client clock skew).
const ID_TOKEN_LEEWAY: TimeDelta = TimeDelta::seconds(60);
/// RFC 8693's grant type and its token type for access tokens.
const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

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
    /// What the HTTP layer had to repair in this answer ([`http::ADJUSTED_FIELD`]).
    #[serde(default, rename = "x_session_keeper_adjusted", skip_serializing_if = "Option::is_none")]
    adjusted: Option<String>,
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
type IdFields =
    IdTokenFields<EmptyAdditionalClaims, ExtraTokenFields, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;
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
pub fn http_client(request_timeout: Duration, clock: Arc<dyn Clock>) -> Result<ProviderHttp> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(request_timeout.min(Duration::from_secs(10)))
        .timeout(request_timeout)
        .user_agent(concat!("session-keeper/", env!("CARGO_PKG_VERSION")))
        .build()
        .map(|client| ProviderHttp::new(client, clock))
        .map_err(|err| Error::InvalidConfiguration(format!("cannot build the HTTP client: {err}")))
}

/// A boxed future, for the object-safe [`TokenAuthority`].
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What the scheduler asks of a provider in the background: refresh and userinfo. [`Provider`] is
/// the real one; tests of the scheduler's timing plug in their own through
/// [`crate::SessionManagerBuilder::token_authority`], because tokio's paused clock and real sockets do
/// not mix (the paused clock jumps to the next timer, an HTTP timeout, while a socket waits).
pub trait TokenAuthority: Send + Sync + 'static {
    /// Exchanges the refresh token in `current` for new tokens, to be written to the keychain at once.
    fn refresh<'a>(&'a self, current: &'a SessionSecrets) -> BoxFuture<'a, std::result::Result<RefreshAnswer, RefreshFailure>>;
    /// Checks the answer, after the write, against `subject`, the signed-in user. An authority
    /// without ID tokens takes the answer as it is.
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

/// A provider whose metadata and signing keys have been discovered.
pub struct Provider {
    config: ProviderConfig,
    issuer: IssuerUrl,
    client: OidcClient,
    extra: ExtraMetadata,
    token_endpoint: String,
    http: ProviderHttp,
    client_secret: Option<SecretString>,
    clock: Arc<dyn Clock>,
    jwks_uri: JsonWebKeySetUrl,
    /// Whether the provider's metadata lists RFC 8693 token exchange among its grant types.
    token_exchange: bool,
    /// Signing keys fetched again after an ID token named a key the discovered set lacks.
    refetched: std::sync::Mutex<RefetchedKeys>,
}

/// The last fetch of signing keys after an unknown key id: when (to rate-limit it) and what came back.
#[derive(Default)]
struct RefetchedKeys {
    at: Option<chrono::DateTime<chrono::Utc>>,
    keys: Option<CoreJsonWebKeySet>,
}

/// Signing keys are fetched again at most this often: an ID token naming an unknown key must not
/// make every refresh hit the provider's key endpoint.
const KEY_REFETCH_INTERVAL: TimeDelta = TimeDelta::seconds(60);

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
    redirect_uri: Option<RedirectUri>,
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
    /// What in the provider's answer was repaired (a lifetime clamped), for the card.
    pub warning: Option<String>,
}

/// A refresh answer, before its ID token is checked: the tokens to write to the keychain at once.
#[derive(Debug)]
pub struct RefreshAnswer {
    /// The tokens to store (the old refresh or ID token is kept when the provider sends none; a new ID
    /// token is stored unchecked and replaced if the check drops it).
    pub secrets: SessionSecrets,
    /// Their expiry instants.
    pub times: TokenTimes,
    /// What the HTTP layer repaired in the answer.
    pub warning: Option<String>,
    /// When the answer arrived: the start of the window in which a crash loses it.
    pub received: std::time::Instant,
    id_token: Option<openidconnect::core::CoreIdToken>,
    previous_id_token: Option<SecretString>,
}

impl RefreshAnswer {
    /// An answer without an ID token (a scripted authority's).
    pub fn new(secrets: SessionSecrets, times: TokenTimes, warning: Option<String>) -> Self {
        Self { secrets, times, warning, received: std::time::Instant::now(), id_token: None, previous_id_token: None }
    }

    /// The answer taken as it is, with nothing to check.
    pub fn unchecked(self) -> Refreshed {
        Refreshed {
            secrets: self.secrets,
            times: self.times,
            warning: self.warning,
            rejected: None,
            unsaved: None,
            id_token_dropped: false,
        }
    }
}

/// New tokens from a refresh, checked.
#[derive(Debug)]
pub struct Refreshed {
    /// The tokens to store (the old refresh or ID token is kept when the provider sends none).
    pub secrets: SessionSecrets,
    /// Their expiry instants.
    pub times: TokenTimes,
    /// A problem that did not stop the refresh (a repaired answer, or a refreshed ID token dropped
    /// for a harmless defect such as its own expiry).
    pub warning: Option<String>,
    /// The answer failed a security check, for this reason: its tokens must not be used or stored,
    /// and are revoked ([`crate::RefreshFailure::Security`]).
    pub rejected: Option<ErrorInfo>,
    /// Set by the scheduler when the keychain did not accept the new tokens.
    pub unsaved: Option<ErrorInfo>,
    /// The refreshed ID token was dropped after the tokens were written: the keychain gets the
    /// previous one back.
    pub id_token_dropped: bool,
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
    /// Why something could not be revoked (the provider has no endpoint, or was unreachable), in a
    /// few words each, for the log.
    pub problems: Vec<String>,
    /// What the user should know when a token was not revoked, in one or two sentences of ours:
    /// what stays valid at the provider, until when, and what to do. `None` when all went well.
    pub notice: Option<String>,
}

impl Revocation {
    /// Nothing could be revoked because the provider could not be asked at all (`reason`, a few words).
    pub fn not_asked(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Revocation { notice: Some(unrevoked_notice(&reason)), problems: vec![reason], ..Default::default() }
    }
}

/// The notice for tokens the provider was asked to revoke but did not confirm.
pub(crate) fn unrevoked_notice(reason: &str) -> String {
    format!(
        "Signed out on this computer, but the provider could not revoke the tokens ({reason}), so they stay valid there until they expire. \
         To end them sooner, remove Session Keeper's access in your account at the provider."
    )
}

impl Provider {
    /// Fetches `/.well-known/openid-configuration` and the signing keys, checking that the provider's
    /// issuer is exactly the configured one.
    pub async fn discover(
        http: &ProviderHttp,
        config: &ProviderConfig,
        client_secret: Option<SecretString>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        config.validate()?;
        let http = &http.for_provider();
        let issuer = IssuerUrl::new(config.issuer.to_string()).map_err(|_| {
            Error::InvalidConfiguration("The issuer URL is not valid: write it in full, like https://id.example.com.".into())
        })?;
        let discovery_url = format!("{}/.well-known/openid-configuration", config.issuer.trim_end_matches('/'));
        let metadata =
            Metadata::discover_async(issuer.clone(), http).await.map_err(|err| discovery_error(err, &config.issuer, &discovery_url))?;
        for (what, endpoint) in [
            ("authorization endpoint", Some(metadata.authorization_endpoint().as_str())),
            ("token endpoint", metadata.token_endpoint().map(|u| u.as_str())),
            ("revocation endpoint", metadata.additional_metadata().revocation_endpoint.as_deref()),
        ] {
            if let Some(endpoint) = endpoint {
                let url =
                    Url::parse(endpoint).map_err(|err| misbehaved(&discovery_url, &format!("its {what} is not a URL"), Some(&err)))?;
                require_secure(&url, what)?;
            }
        }
        let token_endpoint = metadata
            .token_endpoint()
            .map(|u| u.to_string())
            .ok_or_else(|| misbehaved(&discovery_url, "it announces no token endpoint", None))?;
        let extra = metadata.additional_metadata().clone();
        let redirect = RedirectUrl::new(config.redirect_uri.as_str().to_owned()).map_err(|_| {
            Error::InvalidConfiguration("The redirect URI is not valid: write it in full, like http://127.0.0.1/callback.".into())
        })?;
        let jwks_uri = metadata.jwks_uri().clone();
        let token_exchange =
            metadata.grant_types_supported().is_some_and(|grants| grants.iter().any(|grant| grant.as_ref() == TOKEN_EXCHANGE_GRANT));
        let client = OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(config.client_id.to_string()),
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
            jwks_uri,
            token_exchange,
            refetched: std::sync::Mutex::new(RefetchedKeys::default()),
        })
    }

    /// The provider's clock minus ours, learnt from its answers.
    pub fn clock_offset(&self) -> TimeDelta {
        self.http.clock_offset()
    }

    /// The configuration this provider was discovered from.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }
}

/// The `exp` claim of a JWT the provider sent and that was checked when it arrived (read, not
/// verified again: it only tells a program how long the token lives).
pub(crate) fn jwt_expiry(token: &SecretString) -> Option<chrono::DateTime<chrono::Utc>> {
    use base64::Engine as _;
    let payload = token.expose_secret().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    chrono::DateTime::from_timestamp(claims.get("exp")?.as_i64()?, 0)
}

fn query_param<'a>(url: &'a Url, name: &str) -> Option<Cow<'a, str>> {
    url.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value)
}

/// The user's profile from any claims that carry the standard ones (ID token or userinfo): the one
/// mapping from claims to [`UserProfile`].
macro_rules! profile_of {
    ($claims:expr) => {{
        let claims = $claims;
        UserProfile {
            subject: claims.subject().to_string(),
            name: claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
            email: claims.email().map(|e| e.to_string()),
            preferred_username: claims.preferred_username().map(|u| u.to_string()),
        }
    }};
}

mod outcome;
pub use outcome::{RefreshFailure, TokenTimes};
mod errors;
pub(crate) mod http;
mod sign_in;
mod tokens;

pub use self::http::ProviderHttp;

use errors::{discovery_error, id_token_error, misbehaved};
