//! Provider answers that no real provider gives on purpose: a lifetime of zero, negative or written as
//! a string, a token answer labelled as text, a 50 MB body. A purpose-built server, because the real
//! provider in `tests/idp` cannot be made to misbehave like this; it speaks just enough HTTP/1.1 for
//! discovery, an empty key set and a scripted token endpoint, and counts what it was asked.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};
use session_core::{
    ErrorKind, Event, MemoryStore, MemoryVault, MetadataStore, Phase, Policy, ProviderConfig, SecretVault, SessionManager,
    SessionName, SessionRecord, SessionSecrets, SessionState, TokenTimes, UserProfile, Vault, transition,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the token endpoint answers: status, an extra header, content type, body (repeated `repeat`
/// times).
#[derive(Clone)]
struct Answer {
    status: u16,
    header: Option<(&'static str, String)>,
    content_type: &'static str,
    body: String,
    repeat: usize,
}

struct Hostile {
    issuer: String,
    answer: Mutex<Answer>,
    /// The signing keys published at `/jwks`.
    keys: Mutex<String>,
    /// Replaces the discovery document: (status, body, changes to the sound document).
    discovery: Mutex<Option<Answer>>,
    token_requests: AtomicUsize,
    bytes_sent: AtomicUsize,
}

impl Hostile {
    async fn start(answer: Answer) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let server = Arc::new(Hostile {
            issuer,
            answer: Mutex::new(answer),
            keys: Mutex::new(r#"{"keys":[]}"#.to_owned()),
            discovery: Mutex::new(None),
            token_requests: AtomicUsize::new(0),
            bytes_sent: AtomicUsize::new(0),
        });
        let serving = server.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serving.clone().serve(stream));
            }
        });
        server
    }

    async fn serve(self: Arc<Self>, mut stream: tokio::net::TcpStream) {
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        let head_end = loop {
            let Ok(read) = stream.read(&mut buffer).await else { return };
            if read == 0 {
                return;
            }
            request.extend_from_slice(&buffer[..read]);
            if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
        };
        let head = String::from_utf8_lossy(&request[..head_end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
            .unwrap_or(0);
        while request.len() < head_end + length {
            let Ok(read) = stream.read(&mut buffer).await else { return };
            if read == 0 {
                break;
            }
            request.extend_from_slice(&buffer[..read]);
        }
        let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let issuer = &self.issuer;
        let mut status = 200;
        let mut extra = String::new();
        let discovery = self.discovery.lock().unwrap().clone();
        let (content_type, body, repeat) = match target.as_str() {
            "/.well-known/openid-configuration" if discovery.is_some() => {
                let answer = discovery.expect("checked");
                status = answer.status;
                (answer.content_type, answer.body, answer.repeat)
            }
            "/.well-known/openid-configuration" => ("application/json", metadata(issuer, |_| {}), 1),
            "/jwks" => ("application/json", self.keys.lock().unwrap().clone(), 1),
            "/token" => {
                self.token_requests.fetch_add(1, Ordering::SeqCst);
                let answer = self.answer.lock().unwrap().clone();
                status = answer.status;
                if let Some((name, value)) = &answer.header {
                    extra = format!("{name}: {value}\r\n");
                }
                (answer.content_type, answer.body, answer.repeat)
            }
            _ => ("application/json", "{}".to_owned(), 1),
        };
        let total = body.len() * repeat;
        let head = format!(
            "HTTP/1.1 {status} Scripted\r\n{extra}content-type: {content_type}\r\ncontent-length: {total}\r\nconnection: close\r\n\r\n"
        );
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for _ in 0..repeat {
            if stream.write_all(body.as_bytes()).await.is_err() {
                return;
            }
            self.bytes_sent.fetch_add(body.len(), Ordering::SeqCst);
        }
    }
}

fn json(body: serde_json::Value) -> Answer {
    Answer { status: 200, header: None, content_type: "application/json", body: body.to_string(), repeat: 1 }
}

fn rotated(expires_in: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "access_token": "at-1", "token_type": "Bearer", "refresh_token": "rt-1", "expires_in": expires_in })
}

struct Signed {
    manager: SessionManager,
    vault: SecretVault,
}

/// A manager with one active session "s" at `server`, holding refresh token "rt-0".
async fn signed_in(server: &Hostile) -> Signed {
    let now = Utc::now();
    let policy = Policy::default();
    let times = TokenTimes { access_token_expires_at: Some(now + TimeDelta::hours(1)), refresh_token_expires_at: None, has_refresh_token: true };
    let alice = UserProfile { subject: "alice".into(), name: None, email: None, preferred_username: None };
    let (state, _) = transition(&SessionState::signed_out(), &Event::SignedIn(times, alice), now, &policy);
    let store = Arc::new(MemoryStore::default());
    let record = SessionRecord { id: SessionName::new("s").unwrap(), provider: ProviderConfig::new(server.issuer.clone(), "client"), state };
    store.save(&[record]).unwrap();
    let memory = Arc::new(MemoryVault::new());
    let vault = SecretVault::new(memory.clone() as Arc<dyn Vault>, Duration::from_secs(1));
    let secrets = SessionSecrets { access_token: SecretString::from("at-0"), refresh_token: Some(SecretString::from("rt-0")), id_token: None };
    vault.save_tokens("s", &secrets).await.unwrap();
    let manager = SessionManager::builder().vault(memory).store(store).request_timeout(Duration::from_secs(5)).build().await.unwrap();
    Signed { manager, vault }
}

impl Signed {
    async fn stored_refresh_token(&self) -> String {
        self.vault.load_tokens("s").await.unwrap().unwrap().refresh_token.unwrap().expose_secret().to_owned()
    }
}

fn seconds_from_now(at: Option<DateTime<Utc>>) -> i64 {
    (at.expect("an expiry") - Utc::now()).num_seconds()
}

#[tokio::test]
async fn a_zero_lifetime_is_bounded_and_does_not_start_a_refresh_storm() {
    let server = Hostile::start(json(rotated(serde_json::json!(0)))).await;
    let s = signed_in(&server).await;
    // Before, the answer asked for the next refresh at once, and this call never returned.
    let session = tokio::time::timeout(Duration::from_secs(5), s.manager.refresh("s", true)).await.expect("no answer").unwrap();
    assert_eq!(session.phase, Phase::Active);
    // 1 s from the answer; a loaded machine may take a few seconds to get here.
    assert!((-5..=1).contains(&seconds_from_now(session.access_token_expires_at)), "{:?}", session.access_token_expires_at);
    let warning = session.last_error.expect("the card says the lifetime was adjusted");
    assert_eq!(warning.kind, ErrorKind::ProviderMisbehaved);
    assert!(warning.message.contains("lifetime (0) was taken as 1 s"), "{}", warning.message);
    assert!(session.next_refresh_at.unwrap() >= session.last_refresh_at.unwrap() + TimeDelta::seconds(5), "no floor between refreshes");
    assert_eq!(server.token_requests.load(Ordering::SeqCst), 1);
    assert_eq!(s.stored_refresh_token().await, "rt-1", "the rotated refresh token was not kept");
}

#[tokio::test]
async fn a_harmless_defect_in_a_refresh_answer_keeps_the_rotated_refresh_token() {
    for (expires_in, content_type, lifetime) in [
        (serde_json::json!("300"), "application/json", 300),
        (serde_json::json!(-60), "application/json", 1),
        (serde_json::json!(10_u64.pow(12)), "application/json", 86_400),
        (serde_json::json!(600), "text/plain", 600),
    ] {
        let server = Hostile::start(Answer { content_type, ..json(rotated(expires_in.clone())) }).await;
        let s = signed_in(&server).await;
        let session = s.manager.refresh("s", true).await.unwrap_or_else(|e| panic!("{expires_in} as {content_type}: {e}"));
        assert_eq!(session.phase, Phase::Active, "{expires_in}");
        assert!((lifetime - 5..=lifetime).contains(&seconds_from_now(session.access_token_expires_at)), "{expires_in}: {:?}", session.access_token_expires_at);
        assert_eq!(session.last_error.map(|e| e.kind), Some(ErrorKind::ProviderMisbehaved), "{expires_in}: said nothing");
        assert_eq!(s.stored_refresh_token().await, "rt-1", "{expires_in} as {content_type}: rotated token lost");
    }
}

#[tokio::test]
async fn a_50_mb_answer_is_refused_without_being_read_and_the_session_is_kept() {
    let chunk = format!("{{\"access_token\":\"{}\"", "x".repeat(64 * 1024));
    let server = Hostile::start(Answer { body: chunk, repeat: 800, ..json(serde_json::json!({})) }).await;
    let s = signed_in(&server).await;
    let started = std::time::Instant::now();
    let err = s.manager.refresh("s", true).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(err.kind(), ErrorKind::ProviderMisbehaved, "{err}");
    assert!(err.to_string().contains("larger than 1024 KiB"), "{err}");
    let sent = server.bytes_sent.load(Ordering::SeqCst);
    assert!(sent < 10 * 1024 * 1024, "{sent} bytes were read of 50 MB");
    let session = s.manager.snapshot("s").await.unwrap();
    assert_eq!((session.phase, session.consecutive_failures), (Phase::Active, 1));
    assert_eq!(s.stored_refresh_token().await, "rt-0", "the stored tokens changed");
}

#[tokio::test]
async fn a_busy_provider_is_asked_again_when_it_said_not_sooner_and_not_later_than_the_cap() {
    let in_90_s = (Utc::now() + TimeDelta::seconds(90)).to_rfc2822().replace("+0000", "GMT");
    for (status, retry_after, wait) in [(503, "120".to_owned(), 120), (429, "100000".to_owned(), 300), (503, in_90_s, 90)] {
        let busy = serde_json::json!({ "error": "temporarily_unavailable" });
        let server = Hostile::start(Answer { status, header: Some(("retry-after", retry_after.clone())), ..json(busy) }).await;
        let s = signed_in(&server).await;
        let err = s.manager.refresh("s", true).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ProviderUnavailable, "{retry_after}: {err}");
        let session = s.manager.snapshot("s").await.unwrap();
        assert_eq!((session.phase, session.consecutive_failures), (Phase::Active, 1), "{retry_after}");
        let next = seconds_from_now(session.next_refresh_at);
        assert!((wait - 5..=wait).contains(&next), "Retry-After {retry_after}: next refresh in {next} s, not {wait} s");
        assert_eq!(s.stored_refresh_token().await, "rt-0");
    }
}

/// Test-only RSA keys (made for these tests with `openssl genrsa -traditional 2048`; they sign nothing
/// else): the provider's key before and after a rotation, and a third it never publishes in time.
const KEYS: [(&str, &str); 3] = [
    ("a", include_str!("fixtures/signing-key-a.pem")),
    ("b", include_str!("fixtures/signing-key-b.pem")),
    ("c", include_str!("fixtures/signing-key-c.pem")),
];

fn signing_key(name: &str) -> openidconnect::core::CoreRsaPrivateSigningKey {
    let pem = KEYS.iter().find(|(kid, _)| *kid == name).unwrap().1;
    openidconnect::core::CoreRsaPrivateSigningKey::from_pem(pem, Some(openidconnect::JsonWebKeyId::new(name.into()))).unwrap()
}

/// An ID token for `subject` from `server`, signed with key `name`.
fn id_token(server: &Hostile, name: &str, subject: &str) -> String {
    claimed_id_token(name, &server.issuer, "client", subject, Utc::now() + TimeDelta::minutes(5))
}

/// An ID token with these claims, signed with key `name`.
fn claimed_id_token(name: &str, issuer: &str, audience: &str, subject: &str, expires: DateTime<Utc>) -> String {
    use openidconnect::core::{CoreIdToken, CoreIdTokenClaims, CoreJwsSigningAlgorithm};
    use openidconnect::{Audience, EmptyAdditionalClaims, IssuerUrl, StandardClaims, SubjectIdentifier};
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(issuer.to_owned()).unwrap(),
        vec![Audience::new(audience.into())],
        expires,
        Utc::now() - TimeDelta::minutes(10),
        StandardClaims::new(SubjectIdentifier::new(subject.into())),
        EmptyAdditionalClaims {},
    );
    CoreIdToken::new(claims, &signing_key(name), CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, None, None).unwrap().to_string()
}

fn publish(server: &Hostile, name: &str) {
    use openidconnect::PrivateSigningKey as _;
    *server.keys.lock().unwrap() = serde_json::json!({ "keys": [signing_key(name).as_verification_key()] }).to_string();
}

/// The token endpoint answers with a new ID token for `subject`, signed with key `name`; returns it.
fn answer_with_id_token(server: &Hostile, name: &str, subject: &str) -> String {
    let token = id_token(server, name, subject);
    let mut body = rotated(serde_json::json!(3600));
    body["id_token"] = serde_json::json!(token);
    *server.answer.lock().unwrap() = json(body);
    token
}

#[tokio::test]
async fn signing_keys_rotated_mid_session_are_fetched_again_once_then_an_unknown_key_ends_the_session() {
    let server = Hostile::start(json(serde_json::json!({}))).await;
    publish(&server, "a");
    answer_with_id_token(&server, "a", "alice");
    let s = signed_in(&server).await;
    let session = s.manager.refresh("s", true).await.unwrap();
    assert_eq!(session.last_error, None, "a valid ID token was refused");

    // The provider rotates to key b: the refreshed ID token names a key the discovered set lacks.
    publish(&server, "b");
    let rotated_id_token = answer_with_id_token(&server, "b", "alice");
    let session = s.manager.refresh("s", true).await.unwrap();
    assert_eq!(session.last_error, None, "the rotated key was not fetched");
    let stored = s.vault.load_tokens("s").await.unwrap().unwrap();
    assert_eq!(stored.id_token.map(|t| t.expose_secret().to_owned()), Some(rotated_id_token), "the new ID token was not kept");

    // Within a minute, a third unknown key is not fetched again: the signature cannot be verified,
    // which is a security failure. The session ends, says why, and keeps no token.
    answer_with_id_token(&server, "c", "alice");
    let err = s.manager.refresh("s", true).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidIdToken, "{err}");
    assert!(err.to_string().contains("failed a security check (Signature verification failed)"), "{err}");
    let session = s.manager.snapshot("s").await.unwrap();
    assert_eq!((session.phase, session.last_error.map(|e| e.kind)), (Phase::Expired, Some(ErrorKind::InvalidIdToken)));
    assert_eq!(server.token_requests.load(Ordering::SeqCst), 3);
    wait_for_empty_keychain(&s).await;
}

#[tokio::test]
async fn another_users_tokens_on_refresh_end_the_session_and_are_never_stored() {
    let server = Hostile::start(json(serde_json::json!({}))).await;
    publish(&server, "a");
    answer_with_id_token(&server, "a", "mallory");
    let s = signed_in(&server).await;
    let err = s.manager.refresh("s", true).await.unwrap_err();
    assert!(err.to_string().contains("another user's tokens"), "{err}");
    let session = s.manager.snapshot("s").await.unwrap();
    assert_eq!(session.phase, Phase::Expired);
    assert_eq!(session.user.map(|u| u.subject), Some("alice".into()), "the card now names another user");
    wait_for_empty_keychain(&s).await;
}

/// The discard after a security failure runs in the background; it ends within a second.
async fn wait_for_empty_keychain(s: &Signed) {
    for _ in 0..100 {
        if s.vault.load_tokens("s").await.unwrap().is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("tokens stayed in the keychain after a security failure");
}

#[tokio::test]
async fn a_refreshed_id_token_from_another_issuer_or_for_another_client_is_a_security_failure_an_expired_one_is_not() {
    let long_ago = Utc::now() - TimeDelta::minutes(5);
    let in_a_while = Utc::now() + TimeDelta::minutes(5);
    for (case, issuer, audience, expires, insecure) in [
        ("another issuer", Some("https://evil.example"), "client", in_a_while, true),
        ("another client", None, "someone-else", in_a_while, true),
        ("expired", None, "client", long_ago, false),
    ] {
        let server = Hostile::start(json(serde_json::json!({}))).await;
        publish(&server, "a");
        let token = claimed_id_token("a", issuer.unwrap_or(&server.issuer), audience, "alice", expires);
        let mut body = rotated(serde_json::json!(3600));
        body["id_token"] = serde_json::json!(token);
        *server.answer.lock().unwrap() = json(body);
        let s = signed_in(&server).await;
        let result = s.manager.refresh("s", true).await;
        let session = s.manager.snapshot("s").await.unwrap();
        if insecure {
            let err = result.expect_err(case);
            assert_eq!(err.kind(), ErrorKind::InvalidIdToken, "{case}: {err}");
            assert_eq!(session.phase, Phase::Expired, "{case}");
            wait_for_empty_keychain(&s).await;
        } else {
            let session = result.unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(session.phase, Phase::Active, "{case}");
            assert!(session.last_error.unwrap().message.contains("it was ignored"), "{case}");
            assert_eq!(s.stored_refresh_token().await, "rt-1", "{case}: the rotated refresh token was lost");
        }
    }
}

/// The sound discovery document of `issuer`, with `change` applied.
fn metadata(issuer: &str, change: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut document = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    change(&mut document);
    document.to_string()
}

#[tokio::test]
async fn a_broken_discovery_document_is_refused_with_its_kind_and_nothing_is_saved() {
    type Change = fn(&mut serde_json::Value, &str);
    let cases: [(&str, u16, Change, ErrorKind); 9] = [
        ("another issuer", 200, |d, _| d["issuer"] = "https://evil.example".into(), ErrorKind::IssuerMismatch),
        ("no token endpoint", 200, |d, _| drop(d.as_object_mut().unwrap().remove("token_endpoint")), ErrorKind::ProviderMisbehaved),
        ("a remote plain-http token endpoint", 200, |d, _| d["token_endpoint"] = "http://id.example.com/token".into(), ErrorKind::InvalidConfiguration),
        ("a token endpoint that is no URL", 200, |d, _| d["token_endpoint"] = "not a url".into(), ErrorKind::ProviderMisbehaved),
        ("no jwks_uri", 200, |d, _| drop(d.as_object_mut().unwrap().remove("jwks_uri")), ErrorKind::ProviderMisbehaved),
        ("not JSON", 200, |d, _| *d = serde_json::Value::String("<html>".into()), ErrorKind::ProviderMisbehaved),
        ("a 404", 404, |_, _| {}, ErrorKind::ProviderMisbehaved),
        ("a 500", 500, |_, _| {}, ErrorKind::ProviderUnavailable),
        ("a 503", 503, |_, _| {}, ErrorKind::ProviderUnavailable),
    ];
    for (case, status, change, kind) in cases {
        let server = Hostile::start(json(serde_json::json!({}))).await;
        let issuer = server.issuer.clone();
        let body = metadata(&issuer, |d| change(d, &issuer));
        *server.discovery.lock().unwrap() = Some(Answer { status, ..Answer { body, ..json(serde_json::json!({})) } });
        let manager = SessionManager::builder().vault(Arc::new(MemoryVault::new())).request_timeout(Duration::from_secs(5)).build().await.unwrap();
        let err = manager.add_session("s", ProviderConfig::new(issuer, "client"), None).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{case}: {err}");
        assert!(manager.snapshots().await.unwrap().is_empty(), "{case}: a session was saved");
    }
    // A discovery document of 52 MB is refused like any other oversized answer.
    let server = Hostile::start(json(serde_json::json!({}))).await;
    *server.discovery.lock().unwrap() = Some(Answer { body: "x".repeat(64 * 1024), repeat: 800, ..json(serde_json::json!({})) });
    let manager = SessionManager::builder().vault(Arc::new(MemoryVault::new())).build().await.unwrap();
    let err = manager.add_session("s", ProviderConfig::new(server.issuer.clone(), "client"), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ProviderMisbehaved, "{err}");
    assert!(err.to_string().contains("larger than 1024 KiB"), "{err}");
}

#[tokio::test]
async fn refusals_and_error_pages_at_refresh_keep_or_end_the_session_as_they_should() {
    let html = |status| Answer { status, content_type: "text/html", ..json(serde_json::json!({})) };
    let oauth = |status, error: &str| Answer { status, ..json(serde_json::json!({ "error": error, "error_description": "scripted" })) };
    let cases = [
        ("a 502 error page", Answer { body: "<html>Bad gateway</html>".into(), ..html(502) }, ErrorKind::ProviderUnavailable, Phase::Active, Some("rt-0")),
        ("a 200 that is not a token answer", Answer { body: "<html>Welcome</html>".into(), ..html(200) }, ErrorKind::ProviderUnavailable, Phase::Active, Some("rt-0")),
        ("invalid_client", oauth(401, "invalid_client"), ErrorKind::ProviderMisbehaved, Phase::Active, Some("rt-0")),
        ("server_error", oauth(500, "server_error"), ErrorKind::ProviderUnavailable, Phase::Active, Some("rt-0")),
        ("invalid_grant", oauth(400, "invalid_grant"), ErrorKind::SessionRevoked, Phase::Expired, None),
    ];
    for (case, answer, kind, phase, kept) in cases {
        let server = Hostile::start(answer).await;
        let s = signed_in(&server).await;
        let err = s.manager.refresh("s", true).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{case}: {err}");
        assert_eq!(s.manager.snapshot("s").await.unwrap().phase, phase, "{case}");
        match kept {
            Some(token) => assert_eq!(s.stored_refresh_token().await, token, "{case}"),
            None => wait_for_empty_keychain(&s).await,
        }
        // One request each: nothing is retried at once (after invalid_grant the keychain holds the same
        // refresh token, so there is nothing to retry with).
        assert_eq!(server.token_requests.load(Ordering::SeqCst), 1, "{case}");
    }
}
