//! How transport and protocol failures become the crate's errors: a few words for the user, the
//! whole chain (without any URL query, which could hold a token) kept as the source.

use super::*;

use crate::error::{ADVICE_ADMIN, ADVICE_CLIENT, ADVICE_ISSUER};

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
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut timed_out = false;
    while let Some(inner) = source {
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
        }
        if inner.to_string().starts_with("dns error") {
            return "host not found".into();
        }
        source = inner.source();
    }
    if timed_out { "timed out" } else { "no connection" }.into()
}

/// The error for a failed request at `endpoint`: an answer refused by the HTTP layer (too large) is
/// the provider's fault; anything else is a transport failure.
pub(super) fn request_error(endpoint: impl Into<String>, err: &HttpClientError<reqwest::Error>) -> Error {
    if let Some(wait) = super::http::throttled(err) {
        return Error::unavailable(endpoint, format!("busy, asked to retry in {} s", wait.as_secs()), None);
    }
    match err {
        HttpClientError::Other(refusal) => Error::misbehaved(endpoint, refusal.clone(), ADVICE_ADMIN, None),
        other => transport_error(endpoint, other),
    }
}

/// The error for a transport failure at `endpoint`: a few words in the message, the chain as source.
pub(super) fn transport_error(endpoint: impl Into<String>, err: &(dyn std::error::Error + 'static)) -> Error {
    Error::unavailable(endpoint, short_reason(err), Some(describe_http_error(err)))
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

pub(super) fn discovery_error(err: DiscoveryError<HttpClientError<reqwest::Error>>, issuer: &str, url: &str) -> Error {
    match err {
        DiscoveryError::Request(err) => request_error(url, &err),
        DiscoveryError::Response(status, _, _) if status.is_server_error() => Error::unavailable(url, format!("HTTP {status}"), None),
        DiscoveryError::Response(status, _, detail) => Error::misbehaved(
            url,
            format!("there is no OpenID Provider there (HTTP {})", status.as_u16()),
            ADVICE_ISSUER,
            Some(format!("{issuer}: {detail}")),
        ),
        DiscoveryError::Validation(message) => {
            // openidconnect words it "unexpected issuer URI `found` (expected `expected`)".
            let found = message.split('`').nth(1).unwrap_or(&message).to_owned();
            Error::IssuerMismatch { expected: issuer.to_owned(), found }
        }
        DiscoveryError::Parse(err) => {
            Error::misbehaved(url, "its metadata is not valid OpenID Provider metadata", ADVICE_ISSUER, Some(err.to_string()))
        }
        other => misbehaved(url, "its metadata could not be read", Some(&other)),
    }
}

pub(super) enum TokenCallError {
    /// `invalid_grant`: the code or refresh token is dead.
    Grant(String),
    /// Another OAuth error: the request was refused (client settings).
    Refused(String),
    /// Network, timeout, 5xx, an unreadable (HTML error page) answer or JSON that is not a token
    /// answer: try again later.
    Unavailable(Error),
    /// Busy: try again no sooner than this (`Retry-After`).
    Throttled(Error, std::time::Duration),
}

pub(super) fn classify_token_error(err: TokenError, endpoint: &str) -> TokenCallError {
    let unavailable = |reason: String| TokenCallError::Unavailable(Error::unavailable(endpoint, reason, None));
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
        RequestTokenError::Request(err) => match super::http::throttled(&err) {
            Some(wait) => TokenCallError::Throttled(request_error(endpoint, &err), wait),
            None => TokenCallError::Unavailable(request_error(endpoint, &err)),
        },
        // JSON that is not a token answer is the provider's fault; anything else (an HTML page from a
        // captive portal or a proxy) means the provider was not reached. Either way the session is
        // kept and the refresh tried again later.
        RequestTokenError::Parse(err, body) if serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v.is_object()) => {
            TokenCallError::Unavailable(misbehaved(endpoint, "its answer is not a valid token response", Some(&err)))
        }
        RequestTokenError::Parse(_, body) => unavailable(format!("a page of {} bytes came back instead of a token answer", body.len())),
        RequestTokenError::Other(message) => unavailable(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[tokio::test]
    async fn an_unreachable_provider_is_named_in_a_few_words_with_the_chain_as_source() {
        use std::error::Error as _;
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let url = format!("http://{closed}/token?code=secret");
        let err = reqwest::Client::new().get(&url).send().await.unwrap_err();
        let error = transport_error(format!("http://{closed}/token"), &err);
        assert_eq!(
            error.to_string(),
            format!("The provider at http://{closed}/token could not be reached (connection refused). Check the network and try again.")
        );
        let chain = error.source().expect("the cause is kept").to_string();
        assert!(chain.contains("Connection refused") || chain.contains("connection refused"), "{chain}");
        assert!(!chain.contains("secret"), "{chain}");
    }
}
