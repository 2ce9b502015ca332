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
/// How far ahead of the provider's own clock an ID token's `iat` may lie (OIDC 3.1.3.7 step 10):
/// the provider's clock is learnt from its `Date` headers, so this covers only their second's
/// resolution, the round trip and a provider whose signing service runs a little ahead.
const ISSUED_AT_WINDOW: TimeDelta = TimeDelta::minutes(5);
/// The signature algorithms this client verifies, when the provider's metadata lists them (OIDC
/// 3.1.3.7 steps 6-8): RSA (PKCS#1 v1.5 and PSS), ECDSA P-256 and P-384, Ed25519. Never `none`.
const VERIFIED_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];
/// HMAC, keyed with the client secret (OIDC 10.1): only for a client that has one, since a public
/// client's "secret" is no secret and anyone could sign with it.
const HMAC_ALGS: [CoreJwsSigningAlgorithm; 3] =
    [CoreJwsSigningAlgorithm::HmacSha256, CoreJwsSigningAlgorithm::HmacSha384, CoreJwsSigningAlgorithm::HmacSha512];
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
/// lifetime as `refresh_expires_in`, Microsoft and GitHub as `refresh_token_expires_in`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ExtraTokenFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_expires_in: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token_expires_in: Option<u64>,
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

/// The `exp` claim of a JWT the provider sent and that was checked when it arrived (read, not
/// verified again: it only tells a program how long the token lives).
pub(crate) fn jwt_expiry(token: &SecretString) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(jwt_claim(token, "exp")?.as_i64()?, 0)
}

/// A claim of a JWT that was checked when it arrived (read, not verified again).
fn jwt_claim(token: &SecretString, name: &str) -> Option<serde_json::Value> {
    use base64::Engine as _;
    let payload = token.expose_secret().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let mut claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get_mut(name).map(serde_json::Value::take)
}

fn query_param<'a>(url: &'a Url, name: &str) -> Option<Cow<'a, str>> {
    url.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value)
}

/// The user's profile from any claims that carry the standard ones (ID token or userinfo): the one
/// mapping from claims to [`UserProfile`]. What the card shows is the provider's text, made safe
/// here where it enters (the subject is compared, never shown, and stays as sent).
macro_rules! profile_of {
    ($claims:expr) => {{
        let claims = $claims;
        let shown = |text: &str| Some(provider_text(text)).filter(|text| !text.is_empty());
        UserProfile {
            subject: claims.subject().to_string(),
            name: claims.name().and_then(|n| n.get(None)).and_then(|n| shown(n)),
            email: claims.email().and_then(|e| shown(e)),
            preferred_username: claims.preferred_username().and_then(|u| shown(u)),
        }
    }};
}

mod answers;
mod authority;
mod discovery;
mod errors;
pub(crate) mod http;
mod logout;
mod outcome;
mod proxy;
mod sign_in;
mod tokens;

pub use self::http::ProviderHttp;
#[cfg(test)]
pub(crate) use crate::text::PROVIDER_TEXT_MAX;
pub(crate) use crate::text::provider_text;
pub use answers::{RefreshAnswer, Refreshed, SignedIn, UserCheck};
pub use authority::{BoxFuture, TokenAuthority};
pub use discovery::http_client;
pub use logout::{EndSessionUrl, REFRESH_TOKEN_HEAD_START, REVOCATION_BOUND, RevocableToken, Revocation};
pub use outcome::{RefreshFailure, TokenTimes};
pub use sign_in::PendingSignIn;

use errors::{discovery_error, id_token_error, misbehaved};
