//! Provider answers classified by HTTP status and body together (5xx and 429 are outages whatever
//! the body says), a provider's text made safe where it enters, and a sign-out bounded as a whole.

use super::*;

/// The cases of this group, run in order by `main`.
pub(super) async fn cases(suite: &mut Suite) {
    refresh_status_and_body(suite).await;
    sign_in_status_and_body(suite).await;
    provider_text(suite).await;
    sign_out_bounded(suite).await;
}

/// An OAuth error answer: `code`, with `error_description` "scripted", at `status`.
fn oauth_error(status_code: u16, code: &str) -> Answer {
    status(status_code, serde_json::json!({ "error": code, "error_description": "scripted" }))
}

fn with_retry_after(answer: Answer, seconds: &str) -> Answer {
    Answer { header: Some(("retry-after", seconds.to_owned())), ..answer }
}

/// The advice of a refusal of this client (`ADVICE_CLIENT` in the core).
const CLIENT_ADVICE: &str = "Check the client ID and the client's settings at the provider";

// ---------------------------------------------------------------------------------------------
// Refresh: status x body (RFC 6749 5.2 read with the status, RFC 9110 15.6, RFC 6585 4)

async fn refresh_status_and_body(suite: &mut Suite) {
    suite
        .case("status x body: a refresh answered 500 with a JSON error body is retried within seconds and the session survives", async {
            let server = Hostile::start(status(500, serde_json::json!({ "error": "internal_server_error" }))).await;
            let s = signed_in(&server).await;
            s.refresh_expecting(&server, Some(ErrorKind::ProviderUnavailable), Phase::Active, Some("rt-0"), 1).await;
            let failed = Instant::now();
            let session = s.manager.snapshot("s").await.unwrap();
            let error = session.last_error.expect("the outage is on the card");
            assert!(error.message.contains("(HTTP 500)") && !error.message.contains("refused"), "{}", error.message);
            let retry = seconds_from_now(session.next_refresh_at);
            assert!((0..=1).contains(&retry), "the next try in {retry} s, not within the first backoff (1 s)");

            // The provider recovers: the scheduler's own retry refreshes, with nobody asking.
            server.set(TOKEN, json(tokens(None)));
            while s.stored_refresh_token().await.as_deref() != Some("rt-1") {
                assert!(failed.elapsed() < Duration::from_secs(3), "not retried within 3 s");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            println!("    retried {} ms after the 500", failed.elapsed().as_millis());
            let session = s.manager.snapshot("s").await.unwrap();
            assert_eq!((session.phase, session.consecutive_failures), (Phase::Active, 0));
            assert_eq!(server.asked(TOKEN), 2);
        })
        .await;
    /// The case, the answer, the kind, the phase after it, the refresh token kept (None: the
    /// keychain emptied) and words the message must hold.
    type Case = (&'static str, Answer, ErrorKind, Phase, Option<&'static str>, &'static str);
    let cases: [Case; 8] = [
        (
            "status x body: refresh 500 + invalid_grant is an outage, never a revocation",
            oauth_error(500, "invalid_grant"),
            ErrorKind::ProviderUnavailable,
            Phase::Active,
            Some("rt-0"),
            "(HTTP 500)",
        ),
        (
            "status x body: refresh 503 + invalid_grant is an outage",
            oauth_error(503, "invalid_grant"),
            ErrorKind::ProviderUnavailable,
            Phase::Active,
            Some("rt-0"),
            "(HTTP 503)",
        ),
        (
            "status x body: refresh 502 + invalid_client is an outage, never a refusal",
            oauth_error(502, "invalid_client"),
            ErrorKind::ProviderUnavailable,
            Phase::Active,
            Some("rt-0"),
            "(HTTP 502)",
        ),
        (
            "status x body: refresh 429 + Retry-After 30 (and an invalid_grant body) waits as asked",
            with_retry_after(oauth_error(429, "invalid_grant"), "30"),
            ErrorKind::ProviderUnavailable,
            Phase::Active,
            Some("rt-0"),
            "busy, asked to retry in 30 s",
        ),
        (
            "status x body: refresh 400 invalid_grant ends the session",
            oauth_error(400, "invalid_grant"),
            ErrorKind::SessionRevoked,
            Phase::Expired,
            None,
            "sign in again",
        ),
        (
            "status x body: refresh 400 invalid_request is a refusal with the client advice",
            oauth_error(400, "invalid_request"),
            ErrorKind::ProviderMisbehaved,
            Phase::Active,
            Some("rt-0"),
            CLIENT_ADVICE,
        ),
        (
            "status x body: refresh 400 invalid_client is a refusal with the client advice",
            oauth_error(400, "invalid_client"),
            ErrorKind::ProviderMisbehaved,
            Phase::Active,
            Some("rt-0"),
            CLIENT_ADVICE,
        ),
        (
            "status x body: refresh 401 invalid_client is a refusal with the client advice",
            oauth_error(401, "invalid_client"),
            ErrorKind::ProviderMisbehaved,
            Phase::Active,
            Some("rt-0"),
            CLIENT_ADVICE,
        ),
    ];
    for (name, answer, kind, phase, kept, words) in cases {
        suite
            .case(name, async {
                let server = Hostile::start(answer).await;
                let s = signed_in(&server).await;
                s.refresh_expecting(&server, Some(kind), phase, kept, 1).await;
                let session = s.manager.snapshot("s").await.unwrap();
                let message = session.last_error.map(|e| e.message).unwrap_or_default();
                assert!(message.contains(words), "{message}");
                if kind == ErrorKind::ProviderUnavailable {
                    assert_eq!(session.consecutive_failures, 1);
                    let wait = if words.contains("30 s") { 30 } else { 1 };
                    let next = seconds_from_now(session.next_refresh_at);
                    assert!((wait - 5..=wait).contains(&next), "the next try in {next} s, not within {wait} s");
                }
            })
            .await;
    }
}

// ---------------------------------------------------------------------------------------------
// Sign-in: status x body at the code exchange

async fn sign_in_status_and_body(suite: &mut Suite) {
    let cases: [(&str, Answer, ErrorKind, &str); 7] = [
        (
            "status x body: sign-in 500 + internal_server_error says the provider is unavailable, try again",
            status(500, serde_json::json!({ "error": "internal_server_error" })),
            ErrorKind::ProviderUnavailable,
            "cannot serve the request now (HTTP 500). Try again later",
        ),
        (
            "status x body: sign-in 500 + invalid_grant is an outage, not a refused sign-in",
            oauth_error(500, "invalid_grant"),
            ErrorKind::ProviderUnavailable,
            "(HTTP 500)",
        ),
        (
            "status x body: sign-in 503 + invalid_grant is an outage",
            oauth_error(503, "invalid_grant"),
            ErrorKind::ProviderUnavailable,
            "(HTTP 503)",
        ),
        (
            "status x body: sign-in 429 + Retry-After 30 is an outage",
            with_retry_after(oauth_error(429, "invalid_request"), "30"),
            ErrorKind::ProviderUnavailable,
            "busy, asked to retry in 30 s",
        ),
        (
            "status x body: sign-in 400 invalid_grant is refused in the provider's quoted words",
            oauth_error(400, "invalid_grant"),
            ErrorKind::SignInRejected,
            "The provider refused the sign-in: it answered \"invalid_grant: scripted\". Try signing in again.",
        ),
        (
            "status x body: sign-in 400 invalid_request is refused",
            oauth_error(400, "invalid_request"),
            ErrorKind::SignInRejected,
            "it answered \"invalid_request: scripted\"",
        ),
        (
            "status x body: sign-in 401 invalid_client is refused",
            oauth_error(401, "invalid_client"),
            ErrorKind::SignInRejected,
            "it answered \"invalid_client: scripted\"",
        ),
    ];
    for (name, answer, kind, words) in cases {
        suite
            .case(name, async {
                let (server, s) = sign_in_started().await;
                server.set(TOKEN, answer);
                let err = s.complete(&server, Some(kind), 1).await.unwrap_err();
                assert!(err.to_string().contains(words), "{err}");
            })
            .await;
    }
}

// ---------------------------------------------------------------------------------------------
// A provider's text (RFC 6749 5.2 `error_description`, `error_uri`), made safe where it enters

/// 204,872 characters of `error_description` with CR, LF, ESC, BEL, BS and NUL: a forged log line, a
/// terminal escape and a cut string, then a wall of text.
fn hostile_description() -> String {
    let forged = "bad\r\n2026-12-06T10:00:00Z INFO signed in as admin\u{1b}[2J\u{7}\u{8}\0";
    format!("{forged}{}", "x".repeat(204_872 - forged.chars().count()))
}

/// The most characters of a provider's text that are kept (the core's `PROVIDER_TEXT_MAX`).
const PROVIDER_TEXT_MAX: usize = 300;

/// The provider's quoted words in `text` (after `it answered "` or `said "`), at most the cap and the
/// ellipsis long, with no control character anywhere in `text`.
fn assert_safe(text: &str) {
    assert!(!text.chars().any(char::is_control), "a control character passed: {:?}", &text[..text.len().min(400)]);
    let start = text.find("answered \"").map(|at| at + 10).or_else(|| text.find("said \"").map(|at| at + 6));
    if let Some(start) = start {
        let quoted = text[start..].split('"').next().unwrap_or_default();
        assert!(quoted.chars().count() <= PROVIDER_TEXT_MAX + 1, "{} characters of the provider's words", quoted.chars().count());
    }
    assert!(text.len() < 2_000, "{} bytes", text.len());
}

/// What the core logs while `body` runs (the actor runs on this thread, so a thread-local subscriber
/// hears it), one line per event, its fields as they were recorded.
async fn logged_during(body: impl Future<Output = ()>) -> Vec<String> {
    use tracing_subscriber::layer::SubscriberExt as _;
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<String>>>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Lines {
        fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            struct Line(String);
            impl tracing::field::Visit for Line {
                fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                    self.0.push_str(&format!(" {}={value}", field.name()));
                }
                fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                    self.0.push_str(&format!(" {}={value:?}", field.name()));
                }
            }
            let mut line = Line(String::new());
            event.record(&mut line);
            self.0.lock().unwrap().push(line.0);
        }
    }
    let lines = Lines::default();
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(lines.clone()));
    body.await;
    drop(guard);
    lines.0.lock().unwrap().clone()
}

async fn provider_text(suite: &mut Suite) {
    let refusal = || {
        let body = serde_json::json!({
            "error": "invalid_request",
            "error_description": hostile_description(),
            "error_uri": format!("https://id.example/errors\r\n{}", hostile_description()),
        });
        status(400, body)
    };
    suite
        .case("provider text: a 204,872-character error_description with control characters, at sign-in: at most 300 safe characters in the message and the log", async {
            let (server, s) = sign_in_started().await;
            server.set(TOKEN, refusal());
            let logs = logged_during(async {
                let err = s.complete(&server, Some(ErrorKind::SignInRejected), 1).await.unwrap_err();
                let message = err.to_string();
                assert!(message.starts_with("The provider refused the sign-in: it answered \"invalid_request: bad 2026-12-06T10:00:00Z INFO"), "{message}");
                assert!(message.ends_with("…\". Try signing in again."), "{message}");
                assert_safe(&message);
            })
            .await;
            let refused = logs.iter().find(|line| line.contains("refused the request")).expect("the refusal is logged");
            assert!(refused.contains("invalid_request: bad 2026"), "{refused}");
            logs.iter().for_each(|line| assert_safe(line));
        })
        .await;
    suite
        .case("provider text: the same error_description at refresh: a refusal in our words, the log safe", async {
            let server = Hostile::start(refusal()).await;
            let s = signed_in(&server).await;
            let logs =
                logged_during(s.refresh_expecting(&server, Some(ErrorKind::ProviderMisbehaved), Phase::Active, Some("rt-0"), 1)).await;
            let message = s.manager.snapshot("s").await.unwrap().last_error.unwrap().message;
            assert!(message.contains(CLIENT_ADVICE) && !message.contains("bad"), "{message}");
            assert!(logs.iter().any(|line| line.contains("invalid_request: bad 2026")), "{logs:?}");
            logs.iter().for_each(|line| assert_safe(line));
        })
        .await;
    suite
        .case("provider text: a 500 whose error_description forges log lines is an outage, only its error code logged", async {
            let body = serde_json::json!({ "error": "invalid_grant", "error_description": hostile_description() });
            let server = Hostile::start(status(500, body)).await;
            let s = signed_in(&server).await;
            let logs =
                logged_during(s.refresh_expecting(&server, Some(ErrorKind::ProviderUnavailable), Phase::Active, Some("rt-0"), 1)).await;
            let message = s.manager.snapshot("s").await.unwrap().last_error.unwrap().message;
            assert!(!message.contains("invalid_grant"), "the provider's words are for the log: {message}");
            assert!(logs.iter().any(|line| line.contains("said \"invalid_grant\"")), "the error code is logged: {logs:?}");
            // A server's account of its own failure describes its inside: it stays out of the log.
            assert!(logs.iter().all(|line| !line.contains("bad 2026")), "the description is not logged: {logs:?}");
            logs.iter().for_each(|line| assert_safe(line));
        })
        .await;
}

// ---------------------------------------------------------------------------------------------
// Sign-out: one bound for both revocations (RFC 7009)

/// As [`signed_in`] (a copy: `main.rs` is not this group's), with requests that give up only after
/// `request_timeout`, holding `refresh_token` (if any).
async fn signed_in_waiting(server: &Hostile, request_timeout: Duration, refresh_token: Option<&str>) -> Signed {
    let store = stored_session(server, Utc::now(), &Policy::default(), refresh_token.is_some());
    let memory = Arc::new(MemoryVault::new());
    let vault = secret_vault(&memory);
    let secrets =
        SessionSecrets { access_token: SecretString::from("at-0"), refresh_token: refresh_token.map(SecretString::from), id_token: None };
    vault.save_tokens("s", &secrets).await.unwrap();
    let manager = SessionManager::builder().vault(memory).request_timeout(request_timeout).store(store).build().await.unwrap();
    Signed { manager, vault }
}

async fn sign_out_bounded(suite: &mut Suite) {
    suite
        .case("sign-out: a revocation endpoint that never answers: back within the 5 s bound, both tokens said not confirmed", async {
            let server = Hostile::start_with(json(serde_json::json!({})), with_revocation).await;
            server.set(REVOKE, status(0, serde_json::json!({})));
            // Requests that would wait 30 s each (the default): only the sign-out's own bound ends them.
            let s = signed_in_waiting(&server, Duration::from_secs(30), Some("rt-0")).await;
            let started = Instant::now();
            let outcome = s.manager.sign_out("s").await.unwrap();
            let took = started.elapsed();
            println!("    signed out in {} ms", took.as_millis());
            assert!(took < Duration::from_millis(6_000), "sign-out took {took:?}");
            assert_eq!(outcome.session.phase, Phase::SignedOut);
            assert!(s.vault.load_tokens("s").await.unwrap().is_none(), "tokens stayed after sign-out");
            let revocation = &outcome.revocation;
            assert!(!revocation.refresh_token_revoked && !revocation.access_token_revoked);
            assert_eq!(revocation.unconfirmed.len(), 2, "{revocation:?}");
            let notice = revocation.notice.clone().expect("the card says what was not confirmed");
            assert!(
                notice.starts_with(
                    "Signed out on this computer, but the provider could not revoke the tokens (it did not answer within 5 s)"
                ),
                "{notice}"
            );
            assert_eq!(server.asked(REVOKE), 2, "both were asked, side by side");
            assert_eq!(server.asked(TOKEN), 0);
        })
        .await;
    suite
        .case("sign-out: only an access token held, its revocation unconfirmed: the notice names the access token", async {
            let server = Hostile::start_with(json(serde_json::json!({})), with_revocation).await;
            server.set(REVOKE, status(503, serde_json::json!({})));
            let s = signed_in_waiting(&server, REQUEST_TIMEOUT, None).await;
            let outcome = s.manager.sign_out("s").await.unwrap();
            assert_eq!(outcome.session.phase, Phase::SignedOut);
            assert!(s.vault.load_tokens("s").await.unwrap().is_none(), "tokens stayed after sign-out");
            assert_eq!(outcome.revocation.unconfirmed.len(), 1, "{:?}", outcome.revocation);
            let notice = outcome.revocation.notice.clone().expect("a notice");
            assert!(
                notice.starts_with(
                    "Signed out on this computer, but the provider could not revoke the access token (it answered HTTP 503), so it stays"
                ),
                "{notice}"
            );
            assert_eq!(server.asked(REVOKE), 1, "no refresh token to revoke");
            let revocations = server.revocations.lock().unwrap().clone();
            assert!(revocations[0].contains("token=at-0") && revocations[0].contains("token_type_hint=access_token"), "{revocations:?}");
        })
        .await;
    suite
        .case("sign-out: a revocation error's words are quoted and made safe in the notice", async {
            let server = Hostile::start_with(json(serde_json::json!({})), with_revocation).await;
            let body = serde_json::json!({ "error": "unsupported_token_type", "error_description": "no\r\nrevocation\u{1b}[2J here" });
            server.set(REVOKE, status(400, body));
            let s = signed_in(&server).await;
            let outcome = s.manager.sign_out("s").await.unwrap();
            let notice = outcome.revocation.notice.clone().expect("a notice");
            assert!(
                notice.contains("could not revoke the tokens (it answered HTTP 400 \"unsupported_token_type: no revocation[2J here\")"),
                "{notice}"
            );
            assert_safe(&notice);
            assert_eq!(server.asked(REVOKE), 2);
            // Refresh token first: its answer came before the access token's request left.
            let revocations = server.revocations.lock().unwrap().clone();
            assert!(revocations[0].contains("token_type_hint=refresh_token"), "{revocations:?}");
        })
        .await;
}
