//! Ending a session at the provider: revocation (RFC 7009) of its tokens, the notice when that could
//! not be done, and the end-session URL (RP-initiated logout).

use super::errors::{oauth_error_in, short_reason};
use super::http::ProviderHttp;
use super::*;
use openidconnect::{AsyncHttpClient as _, http};
use serde_json::Value;

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

/// How long a sign-out waits for the provider, all revocations together (and the RFC 8414 lookup of
/// its endpoint, when needed): a few seconds, because the tokens are deleted here whatever the
/// provider says, and a person who clicked Sign out should not wait two request timeouts (30 s by
/// default) for a revocation endpoint that never answers.
pub const REVOCATION_BOUND: Duration = Duration::from_secs(5);

/// How long the access token's revocation waits for the refresh token's answer before it starts
/// anyway. The refresh token is revoked first because some providers void it once the access token is
/// revoked, and then answer its own revocation with an error (or revoke it only after a delay); a
/// provider that answers within this head start sees the two requests strictly in that order, as
/// before. A slower one gets both side by side, within the one [`REVOCATION_BOUND`].
pub const REFRESH_TOKEN_HEAD_START: Duration = Duration::from_secs(1);

/// A token a sign-out asks the provider to revoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocableToken {
    /// The refresh token (`token_type_hint=refresh_token`).
    RefreshToken,
    /// The access token (`token_type_hint=access_token`).
    AccessToken,
}

impl RevocableToken {
    /// Its name in a sentence ("the refresh token").
    pub fn as_words(self) -> &'static str {
        match self {
            RevocableToken::RefreshToken => "the refresh token",
            RevocableToken::AccessToken => "the access token",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            RevocableToken::RefreshToken => "refresh_token",
            RevocableToken::AccessToken => "access_token",
        }
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
    /// The tokens the provider was asked to revoke (or could not be asked about) and did not confirm,
    /// refresh token first; empty when all went well or when the provider offers no revocation.
    pub unconfirmed: Vec<RevocableToken>,
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
        let unconfirmed = vec![RevocableToken::RefreshToken, RevocableToken::AccessToken];
        Revocation { notice: Some(unrevoked_notice(&unconfirmed, &reason)), problems: vec![reason], unconfirmed, ..Default::default() }
    }
}

/// The notice for tokens the provider was asked to revoke but did not confirm: which ones, why (the
/// first reason), and what to do.
pub(crate) fn unrevoked_notice(unconfirmed: &[RevocableToken], reason: &str) -> String {
    let (which, it, they) = match unconfirmed {
        [one] => (one.as_words(), "it stays valid there until it expires", "it"),
        _ => ("the tokens", "they stay valid there until they expire", "them"),
    };
    format!(
        "Signed out on this computer, but the provider could not revoke {which} ({reason}), so {it}. \
         To end {they} sooner, remove Session Keeper's access in your account at the provider."
    )
}

impl Provider {
    /// Revokes the refresh token, then the access token (RFC 7009), within [`REVOCATION_BOUND`] for
    /// both: the access token's request starts once the refresh token's is answered, or after
    /// [`REFRESH_TOKEN_HEAD_START`] if it is not. Never fails: what could not be done is listed in
    /// the result, because a local sign-out must succeed with the provider unreachable.
    ///
    /// Written with reqwest rather than `openidconnect::revoke_token` because that refuses `http://`
    /// endpoints, which this crate allows on loopback.
    /// `times` are the tokens' expiry instants, to say how long they stay valid where there is no
    /// revocation.
    pub async fn revoke(&self, secrets: &SessionSecrets, times: Option<&TokenTimes>) -> Revocation {
        let deadline = tokio::time::Instant::now() + REVOCATION_BOUND;
        let mut outcome = Revocation::default();
        // Only a provider whose OpenID metadata names none is asked for its OAuth metadata, and only
        // when a sign-out needs it.
        let endpoint = match &self.extra.revocation_endpoint {
            Some(endpoint) => Some(endpoint.clone()),
            None => match tokio::time::timeout_at(deadline, oauth_revocation_endpoint(&self.http, self.config.issuer.as_str())).await {
                Ok(found) => found,
                Err(_) => return Revocation::not_asked(not_answered()),
            },
        };
        let Some(endpoint) = &endpoint else {
            outcome.problems.push("the provider offers no revocation endpoint".into());
            outcome.notice = Some(no_revocation(times));
            return outcome;
        };
        let (answered, heard) = tokio::sync::oneshot::channel::<()>();
        let refresh = async {
            let result = match &secrets.refresh_token {
                Some(token) => Some(self.revoke_by(deadline, endpoint, token, RevocableToken::RefreshToken).await),
                None => None,
            };
            drop(answered);
            result
        };
        let access = async {
            let _ = tokio::time::timeout(REFRESH_TOKEN_HEAD_START, heard).await;
            self.revoke_by(deadline, endpoint, &secrets.access_token, RevocableToken::AccessToken).await
        };
        let (refresh, access) = tokio::join!(refresh, access);
        let mut first_reason = None;
        for (which, result) in refresh.into_iter().chain([access]) {
            match result {
                Ok(()) if which == RevocableToken::RefreshToken => outcome.refresh_token_revoked = true,
                Ok(()) => outcome.access_token_revoked = true,
                Err(problem) => {
                    tracing::info!(token = which.hint(), %problem, "the provider did not confirm a revocation");
                    outcome.unconfirmed.push(which);
                    outcome.problems.push(format!("{}: {problem}", which.as_words()));
                    first_reason.get_or_insert(problem);
                }
            }
        }
        outcome.notice = first_reason.map(|reason| unrevoked_notice(&outcome.unconfirmed, &reason));
        outcome
    }

    /// Revokes one token, unless `deadline` comes first.
    async fn revoke_by(
        &self,
        deadline: tokio::time::Instant,
        endpoint: &str,
        token: &SecretString,
        which: RevocableToken,
    ) -> (RevocableToken, std::result::Result<(), String>) {
        let result = tokio::time::timeout_at(deadline, self.revoke_one(endpoint, token, which)).await;
        (which, result.unwrap_or_else(|_| Err(not_answered())))
    }

    async fn revoke_one(&self, endpoint: &str, token: &SecretString, which: RevocableToken) -> std::result::Result<(), String> {
        let mut form = vec![("token", token.expose_secret()), ("token_type_hint", which.hint())];
        let mut request = self.http.client().post(endpoint);
        match &self.client_secret {
            Some(secret) => request = request.basic_auth(&self.config.client_id, Some(secret.expose_secret())),
            None => form.push(("client_id", &self.config.client_id)),
        }
        match request.form(&form).send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => {
                let status = response.status().as_u16();
                Err(match oauth_error_in(&first_bytes(response, ERROR_BODY_READ).await) {
                    Some(said) => format!("it answered HTTP {status} {said}"),
                    None => format!("it answered HTTP {status}"),
                })
            }
            Err(err) => Err(short_reason(&err)),
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
                query.append_pair("post_logout_redirect_uri", after.as_str());
            }
        }
        Some(EndSessionUrl(url))
    }
}

/// What a sign-out at a provider without revocation leaves behind, and until when.
fn no_revocation(times: Option<&TokenTimes>) -> String {
    let at = |instant: chrono::DateTime<chrono::Utc>| instant.format("%Y-%m-%d %H:%M UTC").to_string();
    let access = match times.and_then(|t| t.access_token_expires_at) {
        Some(expiry) => format!("the access token until {}", at(expiry)),
        None => "the access token until it expires".to_owned(),
    };
    let refresh = match times {
        Some(TokenTimes { has_refresh_token: true, refresh_token_expires_at: Some(expiry), .. }) => {
            format!(", the refresh token until {}", at(*expiry))
        }
        Some(TokenTimes { has_refresh_token: true, refresh_token_expires_at: None, .. }) => {
            ", the refresh token for as long as the provider keeps it".to_owned()
        }
        _ => String::new(),
    };
    format!(
        "This provider offers no revocation: the tokens were deleted here but stay valid there ({access}{refresh}). \
         To end them sooner, remove Session Keeper's access in your account at the provider."
    )
}

/// The revocation endpoint that a provider publishes only in its OAuth metadata (RFC 8414), looked up
/// when its OpenID metadata names none: first at the well-known path inserted before the issuer's path
/// (RFC 8414 section 3.1), then appended to it (as OpenID discovery does). The document must name the
/// same issuer (section 3.3) and the endpoint must be https (or loopback); otherwise there is none.
pub(crate) async fn oauth_revocation_endpoint(http: &ProviderHttp, issuer: &str) -> Option<String> {
    let parsed = url::Url::parse(issuer).ok()?;
    let path = parsed.path().trim_end_matches('/');
    let origin = parsed.origin().ascii_serialization();
    let mut candidates = vec![format!("{origin}/.well-known/oauth-authorization-server{path}")];
    if !path.is_empty() {
        candidates.push(format!("{}/.well-known/oauth-authorization-server", issuer.trim_end_matches('/')));
    }
    for candidate in candidates {
        let Ok(request) = http::Request::get(&candidate).header(http::header::ACCEPT, "application/json").body(Vec::new()) else {
            continue;
        };
        let Ok(response) = http.call(request).await else { continue };
        if !response.status().is_success() {
            continue;
        }
        let Ok(document) = serde_json::from_slice::<Value>(response.body()) else { continue };
        if document.get("issuer").and_then(Value::as_str) != Some(issuer) {
            tracing::warn!(%candidate, "OAuth metadata names another issuer; ignored");
            continue;
        }
        let endpoint = document.get("revocation_endpoint").and_then(Value::as_str)?;
        let url = url::Url::parse(endpoint).ok()?;
        return crate::provider::require_secure(&url, "revocation endpoint").is_ok().then(|| endpoint.to_owned());
    }
    None
}

/// The few words for a provider that did not answer within the bound.
fn not_answered() -> String {
    format!("it did not answer within {} s", REVOCATION_BOUND.as_secs())
}

/// How much of a revocation's error answer is read for its OAuth error (RFC 7009 2.2.1): enough for
/// `{"error":"unsupported_token_type","error_description":…}`, never a whole page.
const ERROR_BODY_READ: usize = 4 * 1024;

/// At most `max` bytes of `response`'s body (a failed read ends it early).
async fn first_bytes(mut response: reqwest::Response, max: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < max {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(max - body.len())]),
            _ => break,
        }
    }
    body
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

    /// The notice names the tokens the provider did not confirm: one by name, both as "the tokens".
    #[test]
    fn the_notice_names_the_tokens_that_were_not_confirmed() {
        let both = unrevoked_notice(&[RevocableToken::RefreshToken, RevocableToken::AccessToken], "connection refused");
        assert_eq!(
            both,
            "Signed out on this computer, but the provider could not revoke the tokens (connection refused), so they stay valid there \
             until they expire. To end them sooner, remove Session Keeper's access in your account at the provider."
        );
        let one = unrevoked_notice(&[RevocableToken::AccessToken], "it did not answer within 5 s");
        assert_eq!(
            one,
            "Signed out on this computer, but the provider could not revoke the access token (it did not answer within 5 s), so it \
             stays valid there until it expires. To end it sooner, remove Session Keeper's access in your account at the provider."
        );
        let not_asked = Revocation::not_asked("it could not be reached");
        assert_eq!(not_asked.unconfirmed, [RevocableToken::RefreshToken, RevocableToken::AccessToken]);
        assert!(not_asked.notice.unwrap().contains("could not revoke the tokens (it could not be reached)"));
    }
}
