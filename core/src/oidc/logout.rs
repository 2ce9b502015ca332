//! Ending a session at the provider: revocation (RFC 7009) of its tokens, the notice when that could
//! not be done, and the end-session URL (RP-initiated logout).

use super::errors::short_reason;
use super::*;

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
    /// Revokes the refresh token, then the access token (RFC 7009). Never fails: what could not be done
    /// is listed in the result, because a local sign-out must succeed with the provider unreachable.
    ///
    /// Written with reqwest rather than `openidconnect::revoke_token` because that refuses `http://`
    /// endpoints, which this crate allows on loopback.
    /// `times` are the tokens' expiry instants, to say how long they stay valid where there is no
    /// revocation.
    pub async fn revoke(&self, secrets: &SessionSecrets, times: Option<&TokenTimes>) -> Revocation {
        let mut outcome = Revocation::default();
        // Only a provider whose OpenID metadata names none is asked for its OAuth metadata, and only
        // when a sign-out needs it.
        let endpoint = match &self.extra.revocation_endpoint {
            Some(endpoint) => Some(endpoint.clone()),
            None => super::http::oauth_revocation_endpoint(&self.http, self.config.issuer.as_str()).await,
        };
        let Some(endpoint) = &endpoint else {
            outcome.problems.push("the provider offers no revocation endpoint".into());
            outcome.notice = Some(no_revocation(times));
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
        if let Some(first) = outcome.problems.first() {
            outcome.notice = Some(unrevoked_notice(first));
        }
        outcome
    }

    async fn revoke_one(&self, endpoint: &str, token: &SecretString, hint: &str) -> std::result::Result<(), String> {
        let mut form = vec![("token", token.expose_secret()), ("token_type_hint", hint)];
        let mut request = self.http.client().post(endpoint);
        match &self.client_secret {
            Some(secret) => request = request.basic_auth(&self.config.client_id, Some(secret.expose_secret())),
            None => form.push(("client_id", &self.config.client_id)),
        }
        match request.form(&form).send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("it answered HTTP {}", response.status().as_u16())),
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
}
