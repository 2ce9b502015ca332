//! The token-endpoint error table (status and body together), each row through the real HTTP layer
//! and `openidconnect`'s parser, and a provider's words made safe where they enter.

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

/// A server on 127.0.0.1 that answers every request with `status`, `headers` and `body`.
async fn answering(status: u16, headers: &'static str, body: &'static str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let answer = format!(
                "HTTP/1.1 {status} Scripted\r\n{headers}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    url
}

/// What the token endpoint at `url` answers to a refresh, classified.
async fn refresh_at(url: &str) -> TokenCallError {
    use openidconnect::core::CoreClient;
    let http = http_client(Duration::from_secs(5), Arc::new(crate::clock::SystemClock)).unwrap();
    let client = CoreClient::new(ClientId::new("client".into()), IssuerUrl::new("http://127.0.0.1".into()).unwrap(), Default::default())
        .set_token_uri(openidconnect::TokenUrl::new(url.to_owned()).unwrap());
    let err = client.exchange_refresh_token(&RefreshToken::new("rt".into())).request_async(&http).await.unwrap_err();
    classify_token_error(err, url)
}

/// The README's table "status x error code -> kind -> retry", row by row: a 5xx or 429 is an outage
/// whatever its body says; `invalid_grant` at a 4xx ends the grant; other 4xx codes are refusals,
/// except the two that name an outage; a redirect is no OAuth error, whatever its body says.
#[tokio::test]
async fn token_errors_are_classified_by_status_and_body_together() {
    #[derive(Debug, PartialEq)]
    enum Is {
        Unavailable(String),
        Throttled(u64),
        /// Kept and retried like an outage, but the provider's fault (kind `provider_misbehaved`).
        Misbehaved,
        Grant,
        Refused,
    }
    let rows: [(u16, &str, &str, Is); 14] = [
        (500, "", r#"{"error":"internal_server_error"}"#, Is::Unavailable("HTTP 500".into())),
        (500, "", r#"{"error":"invalid_grant"}"#, Is::Unavailable("HTTP 500".into())),
        (503, "", r#"{"error":"invalid_grant","error_description":"db down"}"#, Is::Unavailable("HTTP 503".into())),
        (503, "retry-after: 30\r\n", r#"{"error":"temporarily_unavailable"}"#, Is::Throttled(30)),
        (429, "retry-after: 7\r\n", r#"{"error":"slow_down"}"#, Is::Throttled(7)),
        (429, "", r#"{"error":"invalid_request"}"#, Is::Unavailable("HTTP 429".into())),
        (502, "", "<html>Bad gateway</html>", Is::Unavailable("HTTP 502".into())),
        (400, "", r#"{"error":"invalid_grant"}"#, Is::Grant),
        (400, "", r#"{"error":"invalid_request"}"#, Is::Refused),
        (400, "", r#"{"error":"invalid_client"}"#, Is::Refused),
        (401, "", r#"{"error":"invalid_client"}"#, Is::Refused),
        (400, "", r#"{"error":"unauthorized_client"}"#, Is::Refused),
        (400, "", r#"{"error":"temporarily_unavailable"}"#, Is::Unavailable("it answered \"temporarily_unavailable\"".into())),
        (307, "location: http://127.0.0.1:9/token\r\n", r#"{"error":"invalid_grant"}"#, Is::Misbehaved),
    ];
    for (status, headers, body, expected) in rows {
        let url = answering(status, headers, body).await;
        let is = match refresh_at(&url).await {
            TokenCallError::Unavailable(Error::ProviderUnavailable { reason, .. }) => Is::Unavailable(reason),
            TokenCallError::Unavailable(error) => {
                assert_eq!(error.kind(), ErrorKind::ProviderMisbehaved, "{status} {body}: {error}");
                Is::Misbehaved
            }
            TokenCallError::Throttled(error, wait) => {
                assert_eq!(error.kind(), ErrorKind::ProviderUnavailable, "{status} {body}");
                Is::Throttled(wait.as_secs())
            }
            TokenCallError::Grant(_) => Is::Grant,
            TokenCallError::Refused(_) => Is::Refused,
        };
        assert_eq!(is, expected, "HTTP {status} {body}");
    }
}

/// An outage keeps the provider's words for the log (made safe), never in the message a person reads.
#[tokio::test]
async fn an_outage_keeps_the_providers_words_for_the_log_only() {
    use std::error::Error as _;
    let url = answering(500, "", r#"{"error":"invalid_grant","error_description":"database\r\nINFO forged\u001b[2J"}"#).await;
    let TokenCallError::Unavailable(error) = refresh_at(&url).await else { panic!("not an outage") };
    assert_eq!(
        error.to_string(),
        format!(
            "The provider at {url} cannot serve the request now (HTTP 500). Try again later; if it keeps happening, tell the provider's administrator."
        )
    );
    let cause = error.source().expect("the provider's words kept as the source").to_string();
    assert_eq!(
        cause, "HTTP 500; the provider said \"invalid_grant\"",
        "the code only: a server's description of its own failure stays out of the log"
    );
}

/// A refusal's words are the provider's, quoted, on one line and at most `PROVIDER_TEXT_MAX`
/// characters (and the ellipsis) whatever it sent: 204,872 characters with CR, LF, ESC, BEL, BS, NUL.
#[test]
fn a_providers_words_are_quoted_one_safe_line_and_capped() {
    let hostile = format!("bad\r\nline\u{1b}[31m\u{7}\u{8}\0{}", "x".repeat(204_860));
    let refused = RequestTokenError::ServerResponse(StandardErrorResponse::new(
        CoreErrorResponseType::InvalidRequest,
        Some(hostile.clone()),
        Some(format!("https://id.example/e\r\n{hostile}")),
    ));
    let TokenCallError::Refused(said) = classify_token_error(refused, "https://id.example/token") else { panic!("not a refusal") };
    assert!(said.starts_with("it answered \"invalid_request: bad line[31m"), "{said}");
    assert!(said.ends_with("…\""), "{said}");
    assert!(!said.chars().any(char::is_control), "{said:?}");
    let quoted = said.trim_start_matches("it answered ");
    assert_eq!(quoted.chars().count(), PROVIDER_TEXT_MAX + 1 + 2, "the cap, the ellipsis and the quotes");
    let rejected = Error::SignInRejected(said);
    assert!(rejected.to_string().starts_with("The provider refused the sign-in: it answered \"invalid_request: bad line"), "{rejected}");

    let code_only = RequestTokenError::ServerResponse(StandardErrorResponse::new(CoreErrorResponseType::InvalidGrant, None, None));
    let TokenCallError::Grant(said) = classify_token_error(code_only, "https://id.example/token") else { panic!("not invalid_grant") };
    assert_eq!(said, "it answered \"invalid_grant\"");
}

/// What `openidconnect` cannot parse stays an outage or the provider's fault, never a refusal; serde's
/// words (which quote the provider's value) are made safe in the cause.
#[tokio::test]
async fn answers_that_are_not_token_answers_are_outages() {
    use std::error::Error as _;
    let url = answering(200, "", r#"{"access_token":"at","token_type":"Bearer","id_token":"x\u001b[2J\r\nforged"}"#).await;
    let TokenCallError::Unavailable(error) = refresh_at(&url).await else { panic!("not kept as an outage") };
    assert_eq!(error.kind(), ErrorKind::ProviderMisbehaved, "{error}");
    let cause = error.source().unwrap().to_string();
    assert!(!cause.chars().any(char::is_control), "{cause:?}");
    let empty = RequestTokenError::Other("server returned empty error response".into());
    assert!(matches!(classify_token_error(empty, "t"), TokenCallError::Unavailable(_)));
}

#[test]
fn oauth_errors_in_a_body_are_read_and_made_safe() {
    assert_eq!(oauth_error_in(br#"{"error":"x","error_description":"  y\n"}"#).as_deref(), Some("\"x: y\""));
    assert_eq!(oauth_error_in(br#"{"error":"x","error_description":""}"#).as_deref(), Some("\"x\""));
    assert_eq!(oauth_error_in(b"{}"), None);
    assert_eq!(oauth_error_in(b"<html>"), None);
    assert_eq!(provider_said("a\u{202E}b", None), "\"ab\"");
}

/// Discovery: a 429 is an outage like a 5xx, and the issuer a provider announces is made safe.
#[tokio::test]
async fn discovery_outages_and_a_foreign_issuer_in_safe_words() {
    let url = answering(429, "", "{}").await;
    let http = http_client(Duration::from_secs(5), Arc::new(crate::clock::SystemClock)).unwrap();
    let issuer = IssuerUrl::new(url.trim_end_matches("/token").to_owned()).unwrap();
    let err = Metadata::discover_async(issuer.clone(), &http).await.unwrap_err();
    let error = discovery_error(err, issuer.as_str(), &url);
    assert_eq!(error.kind(), ErrorKind::ProviderUnavailable, "{error}");
    let foreign = DiscoveryError::<HttpClientError<reqwest::Error>>::Validation(format!(
        "unexpected issuer URI `https://evil.example/\u{1b}[2J{}` (expected `x`)",
        "a".repeat(1000)
    ));
    let Error::IssuerMismatch { found, .. } = discovery_error(foreign, "x", "x") else { panic!("not a mismatch") };
    assert!(found.starts_with("https://evil.example/[2J") && found.chars().count() <= PROVIDER_TEXT_MAX + 1, "{found}");
}
