//! How transport and protocol failures become the crate's errors: a few words for the user, the
//! whole chain (without any URL query, which could hold a token) kept as the source.

use super::*;

use crate::error::{ADVICE_ADMIN, ADVICE_CLIENT, ADVICE_ISSUER};
use crate::text::provider_text;

/// An answer that breaks the protocol: `detail` in our words, `cause` the library's (for logs).
pub(super) fn misbehaved(endpoint: &str, detail: &str, cause: Option<&dyn std::fmt::Display>) -> Error {
    Error::misbehaved(endpoint, detail, ADVICE_ADMIN, cause.map(|c| c.to_string()))
}

/// A refusal of this client by the provider (`invalid_client`, `unauthorized_client`, …).
pub(super) fn client_refused(endpoint: &str, detail: &str, provider_said: String) -> Error {
    Error::misbehaved(endpoint, detail, ADVICE_CLIENT, Some(provider_said))
}

/// Which ID-token check failed, in our words.
pub(super) fn id_token_reason(err: &ClaimsVerificationError) -> &'static str {
    match err {
        ClaimsVerificationError::Expired(_) => "it has expired (check that this computer's clock is right)",
        ClaimsVerificationError::InvalidAudience(_) => "it was issued for another app",
        ClaimsVerificationError::InvalidIssuer(_) => "it was issued by another provider",
        ClaimsVerificationError::InvalidNonce(_) => "it does not belong to this sign-in",
        ClaimsVerificationError::InvalidSubject(_) => "it names no valid user",
        ClaimsVerificationError::SignatureVerification(_) => "its signature does not match the provider's keys",
        ClaimsVerificationError::Unsupported(_) => "it uses a signature or format Session Keeper does not support",
        _ => "it failed a validity check",
    }
}

/// The error for an ID token that failed a check.
pub(super) fn id_token_error(err: &ClaimsVerificationError) -> Error {
    Error::invalid_id_token(id_token_reason(err), Some(err.to_string()))
}

/// A few words for a transport error: what the user can act on.
pub(super) fn short_reason(err: &(dyn std::error::Error + 'static)) -> String {
    if crate::tls::CertificateProblem::in_chain(err).is_some() {
        return "its certificate is not trusted".into();
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut timed_out = false;
    let mut host = None;
    while let Some(inner) = source {
        if inner.to_string().starts_with("dns error") {
            return match host {
                Some(host) => format!("the name {host} could not be found"),
                None => "host not found".into(),
            };
        }
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused",
                std::io::ErrorKind::TimedOut => "timed out",
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => "connection reset",
                _ => "network error",
            }
            .into();
        }
        if let Some(http) = inner.downcast_ref::<reqwest::Error>() {
            timed_out |= http.is_timeout();
            host = host.or_else(|| http.url().and_then(|url| url.host_str()).map(provider_text));
        }
        source = inner.source();
    }
    if timed_out { "timed out" } else { "no connection" }.into()
}

/// The error for a failed request at `endpoint`: a 5xx or 429 is an outage (its words, if any, kept
/// for the log), an answer refused by the HTTP layer (too large) is the provider's fault, anything
/// else is a transport failure.
pub(super) fn request_error(endpoint: impl Into<String>, err: &HttpClientError<reqwest::Error>) -> Error {
    if let Some(outage) = super::http::outage(err) {
        let reason = match outage.retry_after {
            Some(wait) => format!("busy, asked to retry in {} s", wait.as_secs()),
            None => format!("HTTP {}", outage.status),
        };
        return Error::busy(endpoint, reason, Some(outage.to_string()));
    }
    match err {
        HttpClientError::Other(refusal) => Error::misbehaved(endpoint, refusal.clone(), ADVICE_ADMIN, None),
        other => transport_error(endpoint, other),
    }
}

/// The error for a transport failure at `endpoint`, in this order: a proxy's refusal
/// ([`super::proxy::refused`]), a refused certificate ([`crate::tls::CertificateProblem`]: never an
/// outage, so never retried as one), else an outage in a few words (a name that could not be found
/// is one too: it is what being offline looks like), the chain as source.
pub(super) fn transport_error(endpoint: impl Into<String>, err: &(dyn std::error::Error + 'static)) -> Error {
    let endpoint = endpoint.into();
    if let Some(refused) = super::proxy::refused(&endpoint, err) {
        return refused;
    }
    if let Some(problem) = crate::tls::CertificateProblem::in_chain(err) {
        return problem.error(&endpoint);
    }
    let mut reason = short_reason(err);
    if reason == "host not found"
        && let Some(host) = Url::parse(&endpoint).ok().and_then(|url| url.host_str().map(provider_text))
    {
        reason = format!("the name {host} could not be found");
    }
    Error::unavailable(endpoint, reason, Some(describe_http_error(err)))
}

/// Describes a transport error without its URL's query (which could hold a token).
pub(super) fn describe_http_error(err: &(dyn std::error::Error + 'static)) -> String {
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

/// What went wrong at discovery (the metadata or the signing keys). A 5xx or 429 is an outage (the
/// HTTP layer makes it one before `openidconnect` sees the status); the issuer a provider announces
/// is its text and is made safe before it is shown.
pub(super) fn discovery_error(err: DiscoveryError<HttpClientError<reqwest::Error>>, issuer: &str, url: &str) -> Error {
    match err {
        DiscoveryError::Request(err) => request_error(url, &err),
        DiscoveryError::Response(status, _, _) if status.is_server_error() || status.as_u16() == 429 => {
            Error::busy(url, format!("HTTP {}", status.as_u16()), None)
        }
        DiscoveryError::Response(status, _, detail) => Error::misbehaved(
            url,
            format!("there is no OpenID Provider there (HTTP {})", status.as_u16()),
            ADVICE_ISSUER,
            Some(format!("{issuer}: {detail}")),
        ),
        DiscoveryError::Validation(message) => {
            // openidconnect words it "unexpected issuer URI `found` (expected `expected`)".
            let found = provider_text(message.split('`').nth(1).unwrap_or(&message));
            Error::IssuerMismatch { expected: issuer.to_owned(), found }
        }
        // serde's words quote the value it could not read: the provider's text, made safe.
        DiscoveryError::Parse(err) => Error::misbehaved(
            url,
            "its metadata is not valid OpenID Provider metadata",
            ADVICE_ISSUER,
            Some(provider_text(&err.to_string())),
        ),
        other => misbehaved(url, "its metadata could not be read", Some(&other)),
    }
}

/// What a token endpoint's answer means (RFC 6749 5.2, read with the HTTP status): the one table,
/// used at the code exchange and at refresh alike.
///
/// | status | `error` | meaning |
/// | --- | --- | --- |
/// | 5xx, 429 | any, or none | [`TokenCallError::Unavailable`] (or `Throttled` with `Retry-After`) |
/// | 4xx | `invalid_grant` | [`TokenCallError::Grant`] |
/// | 4xx | `temporarily_unavailable`, `server_error` | [`TokenCallError::Unavailable`] |
/// | 4xx | any other | [`TokenCallError::Refused`] |
#[derive(Debug)]
pub(super) enum TokenCallError {
    /// `invalid_grant`: the code or refresh token is dead. The provider's words, safe and quoted.
    Grant(String),
    /// Another OAuth error: the request was refused (client settings). The provider's words, safe
    /// and quoted.
    Refused(String),
    /// Network, timeout, 5xx or 429 whatever the body says, an unreadable (HTML error page) answer or
    /// JSON that is not a token answer: try again later.
    Unavailable(Error),
    /// Busy: try again no sooner than this (`Retry-After` on a 429 or 503).
    Throttled(Error, std::time::Duration),
}

/// Classifies a failed token request by its status and body together (see [`TokenCallError`]): a
/// 5xx or 429 never reaches `ServerResponse`, because the HTTP layer made it an [`Outage`] first.
///
/// [`Outage`]: super::http::Outage
pub(super) fn classify_token_error(err: TokenError, endpoint: &str) -> TokenCallError {
    match err {
        RequestTokenError::ServerResponse(response) => {
            let code = response.error().as_ref();
            let said = provider_said(code, response.error_description().map(String::as_str));
            let uri = response.error_uri().map(|uri| provider_text(uri)).unwrap_or_default();
            tracing::info!(endpoint, error = %said, error_uri = %uri, "the token endpoint refused the request");
            match response.error() {
                CoreErrorResponseType::InvalidGrant => TokenCallError::Grant(format!("it answered {said}")),
                CoreErrorResponseType::Extension(code) if code == "temporarily_unavailable" || code == "server_error" => {
                    TokenCallError::Unavailable(Error::busy(endpoint, format!("it answered {said}"), None))
                }
                _ => TokenCallError::Refused(format!("it answered {said}")),
            }
        }
        RequestTokenError::Request(err) => {
            if let Some(outage) = super::http::outage(&err) {
                tracing::info!(endpoint, %outage, "the token endpoint is not available");
            }
            match super::http::throttled(&err) {
                Some(wait) => TokenCallError::Throttled(request_error(endpoint, &err), wait),
                None => TokenCallError::Unavailable(request_error(endpoint, &err)),
            }
        }
        // JSON that is not a token answer is the provider's fault; anything else (an HTML page from a
        // captive portal or a proxy) means the provider was not reached. Either way the session is
        // kept and the refresh tried again later. serde's words quote what it could not read: the
        // provider's text, made safe.
        RequestTokenError::Parse(err, body) if serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v.is_object()) => {
            let cause = provider_text(&err.to_string());
            TokenCallError::Unavailable(misbehaved(endpoint, "its answer is not a valid token response", Some(&cause)))
        }
        RequestTokenError::Parse(_, body) => TokenCallError::Unavailable(Error::unavailable(
            endpoint,
            format!("a page of {} bytes came back instead of a token answer", body.len()),
            None,
        )),
        RequestTokenError::Other(message) => TokenCallError::Unavailable(Error::unavailable(endpoint, message, None)),
    }
}

/// A provider's OAuth `error` and `error_description` as one safe line in quotes, so that a message
/// shows them as its words, never as ours: `"invalid_grant: the code has expired"`.
pub(crate) fn provider_said(code: &str, description: Option<&str>) -> String {
    let words = match description.map(str::trim).filter(|d| !d.is_empty()) {
        Some(description) => format!("{code}: {description}"),
        None => code.to_owned(),
    };
    format!("\"{}\"", provider_text(&words))
}

/// The OAuth `error` code of an answer's body alone, made safe and quoted: what an outage keeps for the
/// log.
pub(crate) fn oauth_error_code_in(body: &[u8]) -> Option<String> {
    let value = serde_json::from_slice::<serde_json::Value>(body).ok()?;
    let code = value.get("error")?.as_str()?;
    Some(format!("\"{}\"", provider_text(code)))
}

/// The OAuth error in a JSON body (`error`, `error_description`), as [`provider_said`] quotes it;
/// `None` when the body holds none.
pub(crate) fn oauth_error_in(body: &[u8]) -> Option<String> {
    let value = serde_json::from_slice::<serde_json::Value>(body).ok()?;
    let code = value.get("error")?.as_str()?;
    Some(provider_said(code, value.get("error_description").and_then(|d| d.as_str())))
}

#[cfg(test)]
mod tests;
