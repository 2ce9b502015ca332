//! The hostile provider suite: answers that no real provider gives on purpose, at discovery, at
//! sign-in, at refresh and at sign-out: lifetimes of zero, negative or written as a string, answers
//! labelled as text, 52 MB bodies, a gzip bomb, forged, expired, unsigned and foreign ID tokens,
//! another user's tokens, rotated and unknown signing keys, mix-up redirects, error pages, redirects
//! and black holes.
//!
//! A purpose-built server, because the real providers in `tests/idp` and `tests/dot` cannot be made
//! to misbehave like this: it speaks just enough HTTP/1.1 for discovery, signing keys, and scripted
//! token, userinfo and revocation endpoints, and counts what it was asked.
//!
//! The cases run one after another in one process (`harness = false`), so that each case's growth of
//! the process is its own: before a case the peak resident size is reset (`/proc/self/clear_refs`),
//! after it the growth of the peak must stay under [`MAX_GROWTH`] and the case must end within
//! [`MAX_CASE_TIME`]. Each case asserts the typed error kind, the session's phase, what the vault holds
//! before and after, and how many requests reached the provider. `cargo test --test hostile -- NAME`
//! runs the cases whose name contains NAME.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use openidconnect::core::{CoreHmacKey, CoreIdToken, CoreIdTokenClaims, CoreJwsSigningAlgorithm};
use openidconnect::{
    AccessToken, AccessTokenHash, Audience, ClientId, EmptyAdditionalClaims, IssuerUrl, Nonce, PrivateSigningKey as _, StandardClaims,
    SubjectIdentifier,
};
use secrecy::{ExposeSecret, SecretString};
use session_core::{
    Error, ErrorKind, Event, MemoryStore, MemoryVault, MetadataStore, Phase, Policy, ProviderConfig, SecretVault, SessionManager,
    SessionName, SessionRecord, SessionSecrets, SessionSnapshot, SessionState, TokenTimes, UserProfile, Vault, transition,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

// Case groups in files of their own (each `use super::*` for the server and the helpers above).
mod offline_access;
mod provider_answers;
mod session_rules;
mod token_checks;

/// How much a case may grow the process's peak resident size.
const MAX_GROWTH: u64 = 5 * 1024 * 1024;
/// How long a case may take (the managers here give up on a request after [`REQUEST_TIMEOUT`]).
const MAX_CASE_TIME: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

fn main() {
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with('-'));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    if std::env::args().any(|arg| arg == "--storm-minute") {
        runtime.block_on(storm_minute());
        return;
    }
    let mut suite = Suite { filter, count: 0, largest: (0, String::new()) };
    runtime.block_on(async {
        warm_up().await;
        discovery(&mut suite).await;
        sign_in_redirects(&mut suite).await;
        sign_in_token_answers(&mut suite).await;
        sign_in_id_tokens(&mut suite).await;
        sign_in_userinfo(&mut suite).await;
        refresh_lifetimes(&mut suite).await;
        refresh_bodies_and_refusals(&mut suite).await;
        refresh_id_tokens(&mut suite).await;
        sign_out(&mut suite).await;
        provider_answers::cases(&mut suite).await;
        token_checks::cases(&mut suite).await;
        session_rules::cases(&mut suite).await;
        offline_access::cases(&mut suite).await;
    });
    println!(
        "\nhostile provider: {} cases passed; the largest growth of the process's peak memory was {} KiB ({})",
        suite.count,
        suite.largest.0 / 1024,
        suite.largest.1
    );
}

/// One sound sign-in, refresh and sign-out before the cases, so that what the process sets up once
/// (the runtime's blocking threads, the resolver, the HTTP client's pools) is not counted against
/// the first case.
async fn warm_up() {
    let server = Hostile::start_with(json(serde_json::json!({})), with_revocation).await;
    publish(&server, "a");
    let s = signing_in(&server).await;
    s.answer_with(&server, Claims::sound(&server));
    s.complete(&server, None, 1).await.ok();
    s.manager.refresh("s", true).await.unwrap();
    s.manager.sign_out("s").await.unwrap();
}

/// A measurement, not a case (`cargo test -p session-core --test hostile -- --storm-minute`): how many
/// token requests one session makes in a minute, left to its own scheduler, when every answer says
/// `expires_in: 0`.
async fn storm_minute() {
    let server = Hostile::start(json(rotated(serde_json::json!(0)))).await;
    let s = signed_in(&server).await;
    s.manager.refresh("s", true).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let session = s.manager.snapshot("s").await.unwrap();
    println!("expires_in 0: {} token requests in the first minute, session {:?}", server.asked(TOKEN), session.phase);
}

/// Runs the cases in order and holds each to its time and memory bounds.
struct Suite {
    filter: Option<String>,
    count: usize,
    largest: (u64, String),
}

impl Suite {
    async fn case(&mut self, name: &str, body: impl Future<Output = ()>) {
        if self.filter.as_ref().is_some_and(|filter| !name.contains(filter.as_str())) {
            return;
        }
        let resettable = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let before = if resettable { memory("VmRSS:") } else { memory("VmHWM:") };
        let started = Instant::now();
        body.await;
        let elapsed = started.elapsed();
        let growth = memory("VmHWM:").saturating_sub(before);
        self.count += 1;
        println!("case {:>2} {name} ... ok ({} ms, peak +{} KiB)", self.count, elapsed.as_millis(), growth / 1024);
        assert!(elapsed < MAX_CASE_TIME, "{name}: took {elapsed:?}");
        assert!(growth < MAX_GROWTH, "{name}: the process grew by {} KiB", growth / 1024);
        if growth > self.largest.0 {
            self.largest = (growth, name.to_owned());
        }
    }
}

/// A figure of `/proc/self/status`, in bytes.
fn memory(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with(field)).unwrap();
    line[field.len()..].trim().trim_end_matches(" kB").trim().parse::<u64>().unwrap() * 1024
}

// ---------------------------------------------------------------------------------------------
// The server

/// What an endpoint answers: status (0: never answers), an extra header, content type, body
/// (repeated `repeat` times).
#[derive(Clone)]
struct Answer {
    status: u16,
    header: Option<(&'static str, String)>,
    content_type: &'static str,
    body: Vec<u8>,
    repeat: usize,
}

fn json(body: serde_json::Value) -> Answer {
    Answer { status: 200, header: None, content_type: "application/json", body: body.to_string().into_bytes(), repeat: 1 }
}

fn status(status: u16, body: serde_json::Value) -> Answer {
    Answer { status, ..json(body) }
}

/// 52 MB of an unfinished JSON string: refused whatever endpoint sends it.
fn huge() -> Answer {
    let chunk = format!("{{\"access_token\":\"{}\"", "x".repeat(64 * 1024)).into_bytes();
    Answer { body: chunk, repeat: 800, ..json(serde_json::json!({})) }
}

const TOKEN: &str = "/token";
const KEYS_PATH: &str = "/jwks";
const USERINFO: &str = "/userinfo";
const REVOKE: &str = "/revoke";
const DISCOVERY: &str = "/.well-known/openid-configuration";
const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server";

struct Hostile {
    issuer: String,
    answers: Mutex<HashMap<&'static str, Answer>>,
    asked: Mutex<HashMap<String, usize>>,
    /// The form bodies of revocation requests, in order.
    revocations: Mutex<Vec<String>>,
    bytes_sent: Mutex<usize>,
}

impl Hostile {
    /// A server whose token endpoint answers `token`, with a sound discovery document (no userinfo or
    /// revocation endpoint) and an empty key set.
    async fn start(token: Answer) -> Arc<Self> {
        Self::start_with(token, |_| {}).await
    }

    /// As [`Hostile::start`], with `change` applied to the discovery document.
    async fn start_with(token: Answer, change: impl FnOnce(&mut serde_json::Value)) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let mut answers = HashMap::new();
        answers.insert(DISCOVERY, json(metadata(&issuer, change)));
        answers.insert(KEYS_PATH, json(serde_json::json!({ "keys": [] })));
        answers.insert(TOKEN, token);
        answers.insert(OAUTH_METADATA, status(404, serde_json::json!({})));
        let server = Arc::new(Hostile {
            issuer,
            answers: Mutex::new(answers),
            asked: Mutex::default(),
            revocations: Mutex::default(),
            bytes_sent: Mutex::new(0),
        });
        let serving = server.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serving.clone().serve(stream));
            }
        });
        server
    }

    fn set(&self, path: &'static str, answer: Answer) {
        self.answers.lock().unwrap().insert(path, answer);
    }

    fn asked(&self, path: &str) -> usize {
        self.asked.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn bytes_sent(&self) -> usize {
        *self.bytes_sent.lock().unwrap()
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
        let target = head.split_whitespace().nth(1).unwrap_or("/");
        let path = target.split('?').next().unwrap_or("/").to_owned();
        *self.asked.lock().unwrap().entry(path.clone()).or_default() += 1;
        if path == REVOKE {
            self.revocations.lock().unwrap().push(String::from_utf8_lossy(&request[head_end..]).into_owned());
        }
        let known = self.answers.lock().unwrap().keys().find(|known| **known == path).copied();
        let answer = match known {
            Some(known) => self.answers.lock().unwrap()[known].clone(),
            None => status(404, serde_json::json!({})),
        };
        if answer.status == 0 {
            // A black hole: the connection stays open and silent until the client gives up.
            let _ = stream.read(&mut buffer).await;
            return;
        }
        let extra = answer.header.as_ref().map(|(name, value)| format!("{name}: {value}\r\n")).unwrap_or_default();
        let total = answer.body.len() * answer.repeat;
        let head = format!(
            "HTTP/1.1 {} Scripted\r\n{extra}content-type: {}\r\ncontent-length: {total}\r\nconnection: close\r\n\r\n",
            answer.status, answer.content_type
        );
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for _ in 0..answer.repeat {
            if stream.write_all(&answer.body).await.is_err() {
                return;
            }
            *self.bytes_sent.lock().unwrap() += answer.body.len();
        }
    }
}

/// The sound discovery document of `issuer`, with `change` applied.
fn metadata(issuer: &str, change: impl FnOnce(&mut serde_json::Value)) -> serde_json::Value {
    let mut document = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}{TOKEN}"),
        "jwks_uri": format!("{issuer}{KEYS_PATH}"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    change(&mut document);
    document
}

fn with_userinfo(document: &mut serde_json::Value) {
    document["userinfo_endpoint"] = format!("{}{USERINFO}", document["issuer"].as_str().unwrap()).into();
}

fn with_revocation(document: &mut serde_json::Value) {
    document["revocation_endpoint"] = format!("{}{REVOKE}", document["issuer"].as_str().unwrap()).into();
}

// ---------------------------------------------------------------------------------------------
// Signing keys and ID tokens

/// Test-only RSA keys (made for these tests with `openssl genrsa -traditional 2048`; they sign nothing
/// else): the provider's key before and after a rotation, and a third it never publishes in time.
const KEYS: [(&str, &str); 3] = [
    ("a", include_str!("../fixtures/signing-key-a.pem")),
    ("b", include_str!("../fixtures/signing-key-b.pem")),
    ("c", include_str!("../fixtures/signing-key-c.pem")),
];

fn signing_key(name: &str) -> openidconnect::core::CoreRsaPrivateSigningKey {
    let pem = KEYS.iter().find(|(kid, _)| *kid == name).unwrap().1;
    openidconnect::core::CoreRsaPrivateSigningKey::from_pem(pem, Some(openidconnect::JsonWebKeyId::new(name.into()))).unwrap()
}

fn publish(server: &Hostile, name: &str) {
    server.set(KEYS_PATH, json(serde_json::json!({ "keys": [signing_key(name).as_verification_key()] })));
}

/// How an ID token is signed.
#[derive(Clone, Copy)]
enum Signature {
    /// RS256 with test key `a`, `b` or `c`.
    Rsa(&'static str),
    /// HS256 with this secret (a public client has none to check it with).
    Hmac(&'static str),
    /// `alg: none`.
    Unsigned,
}

/// The claims of an ID token, sound by default: from the server, for `client`, for `alice`, for
/// five minutes, signed with key `a`, with the access token's `at_hash`.
#[derive(Clone)]
struct Claims {
    issuer: String,
    audiences: Vec<&'static str>,
    authorized_party: Option<&'static str>,
    subject: &'static str,
    expires: DateTime<Utc>,
    nonce: Option<String>,
    at_hash: Option<&'static str>,
    signature: Signature,
}

impl Claims {
    fn sound(server: &Hostile) -> Self {
        Claims {
            issuer: server.issuer.clone(),
            audiences: vec!["client"],
            authorized_party: None,
            subject: "alice",
            expires: Utc::now() + TimeDelta::minutes(5),
            nonce: None,
            at_hash: None,
            signature: Signature::Rsa("a"),
        }
    }

    /// The signed ID token; `access_token` gives it a true `at_hash` unless `at_hash` is set.
    fn sign(&self, access_token: &str) -> String {
        let mut claims = CoreIdTokenClaims::new(
            IssuerUrl::new(self.issuer.clone()).unwrap(),
            self.audiences.iter().map(|a| Audience::new((*a).into())).collect(),
            self.expires,
            Utc::now() - TimeDelta::minutes(10),
            StandardClaims::new(SubjectIdentifier::new(self.subject.into())),
            EmptyAdditionalClaims {},
        )
        .set_nonce(self.nonce.clone().map(Nonce::new))
        .set_authorized_party(self.authorized_party.map(|p| ClientId::new(p.into())));
        let token = AccessToken::new(access_token.into());
        let hashed = match self.at_hash {
            Some(wrong) => {
                claims = claims.set_access_token_hash(Some(AccessTokenHash::new(wrong.into())));
                None
            }
            None => Some(&token),
        };
        match self.signature {
            Signature::Rsa(name) => {
                CoreIdToken::new(claims, &signing_key(name), CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, hashed, None)
                    .unwrap()
                    .to_string()
            }
            Signature::Hmac(secret) => {
                let key = CoreHmacKey::new(secret.as_bytes());
                CoreIdToken::new(claims, &key, CoreJwsSigningAlgorithm::HmacSha256, hashed, None).unwrap().to_string()
            }
            Signature::Unsigned => {
                use base64::Engine as _;
                let encode = |value: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());
                format!("{}.{}.", encode(serde_json::json!({ "alg": "none" })), encode(serde_json::to_value(&claims).unwrap()))
            }
        }
    }
}

/// A token answer: access token `at-1`, refresh token `rt-1`, an hour, and `id_token` if given.
fn tokens(id_token: Option<String>) -> serde_json::Value {
    let mut body = rotated(serde_json::json!(3600));
    if let Some(id_token) = id_token {
        body["id_token"] = id_token.into();
    }
    body
}

fn rotated(expires_in: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "access_token": "at-1", "token_type": "Bearer", "refresh_token": "rt-1", "expires_in": expires_in })
}

// ---------------------------------------------------------------------------------------------
// Sessions

fn manager_builder(vault: Arc<MemoryVault>) -> session_core::SessionManagerBuilder {
    SessionManager::builder().vault(vault).request_timeout(REQUEST_TIMEOUT)
}

fn secret_vault(memory: &Arc<MemoryVault>) -> SecretVault {
    SecretVault::new(memory.clone() as Arc<dyn Vault>, Duration::from_secs(1))
}

/// A manager with one active session "s" at `server` for `alice`, holding refresh token "rt-0".
struct Signed {
    manager: SessionManager,
    vault: SecretVault,
}

/// A session file holding session "s" at `server`, signed in as alice at `at` under `policy`, its
/// access token valid for an hour after `now`: what every case group starts from.
fn stored_session(server: &Hostile, at: DateTime<Utc>, policy: &Policy, has_refresh_token: bool) -> Arc<MemoryStore> {
    let times = TokenTimes {
        access_token_expires_at: Some(Utc::now() + TimeDelta::hours(1)),
        refresh_token_expires_at: None,
        has_refresh_token,
        refresh_token_online: false,
    };
    let alice = UserProfile { subject: "alice".into(), name: None, email: None, preferred_username: None };
    let (state, _) =
        transition(&SessionState::signed_out(), &Event::SignedIn { times, user: alice, warning: None, auth_time: None }, at, policy);
    let store = Arc::new(MemoryStore::default());
    let record =
        SessionRecord { id: SessionName::new("s").unwrap(), provider: ProviderConfig::new(server.issuer.clone(), "client"), state };
    store.save(&[&record]).unwrap();
    store
}

async fn signed_in(server: &Hostile) -> Signed {
    let store = stored_session(server, Utc::now(), &Policy::default(), true);
    let memory = Arc::new(MemoryVault::new());
    let vault = secret_vault(&memory);
    let secrets =
        SessionSecrets { access_token: SecretString::from("at-0"), refresh_token: Some(SecretString::from("rt-0")), id_token: None };
    vault.save_tokens("s", &secrets).await.unwrap();
    let manager = manager_builder(memory).store(store).build().await.unwrap();
    Signed { manager, vault }
}

impl Signed {
    async fn stored_refresh_token(&self) -> Option<String> {
        self.vault.load_tokens("s").await.unwrap().map(|t| t.refresh_token.unwrap().expose_secret().to_owned())
    }

    /// The discard after a security failure runs in the background; it ends within a second.
    async fn wait_for_empty_keychain(&self) {
        for _ in 0..100 {
            if self.vault.load_tokens("s").await.unwrap().is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("tokens stayed in the keychain after the session ended");
    }

    /// Forces a refresh and checks what the user would see: the error kind (none for success), the
    /// phase, the refresh token stored afterwards (None: the keychain emptied) and the token requests.
    async fn refresh_expecting(&self, server: &Hostile, kind: Option<ErrorKind>, phase: Phase, kept: Option<&str>, requests: usize) {
        let result = self.manager.refresh("s", true).await;
        assert_eq!(result.as_ref().err().map(Error::kind), kind, "{:?}", result.as_ref().err().map(ToString::to_string));
        assert_eq!(self.manager.snapshot("s").await.unwrap().phase, phase);
        match kept {
            Some(token) => assert_eq!(self.stored_refresh_token().await.as_deref(), Some(token)),
            None => self.wait_for_empty_keychain().await,
        }
        assert_eq!(server.asked(TOKEN), requests, "token requests");
    }
}

fn seconds_from_now(at: Option<DateTime<Utc>>) -> i64 {
    (at.expect("an expiry") - Utc::now()).num_seconds()
}

/// A sign-in begun at `server` for session "s": the manager, its vault, and the authorization
/// request's `state` and `nonce`, to forge the provider's side with.
struct SigningIn {
    manager: SessionManager,
    vault: SecretVault,
    state: String,
    nonce: String,
}

async fn signing_in(server: &Hostile) -> SigningIn {
    let memory = Arc::new(MemoryVault::new());
    let manager = manager_builder(memory.clone()).build().await.unwrap();
    manager.add_session("s", ProviderConfig::new(server.issuer.clone(), "client"), None).await.unwrap();
    let url = manager.begin_sign_in("s").await.unwrap();
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query.get("code_challenge_method").map(String::as_str), Some("S256"), "no PKCE");
    SigningIn { manager, vault: secret_vault(&memory), state: query["state"].clone(), nonce: query["nonce"].clone() }
}

/// A server publishing key `a`, and a sign-in begun there.
async fn sign_in_started() -> (Arc<Hostile>, SigningIn) {
    let server = Hostile::start(json(serde_json::json!({}))).await;
    publish(&server, "a");
    let s = signing_in(&server).await;
    (server, s)
}

impl SigningIn {
    /// A sound token answer to this sign-in's code: tokens and an ID token for its nonce.
    fn sound_answer(&self, server: &Hostile) -> serde_json::Value {
        let claims = Claims { nonce: Some(self.nonce.clone()), ..Claims::sound(server) };
        tokens(Some(claims.sign("at-1")))
    }

    /// The token endpoint answers the code with tokens and an ID token with `claims` (the sign-in's
    /// nonce unless `claims` names one).
    fn answer_with(&self, server: &Hostile, mut claims: Claims) {
        claims.nonce.get_or_insert_with(|| self.nonce.clone());
        server.set(TOKEN, json(tokens(Some(claims.sign("at-1")))));
    }

    /// Completes the sign-in with the provider's sound redirect; see [`SigningIn::complete_at`].
    async fn complete(&self, server: &Hostile, kind: Option<ErrorKind>, requests: usize) -> Result<SessionSnapshot, Error> {
        let phase = if kind.is_some() { Phase::SignedOut } else { Phase::Active };
        self.complete_at(server, &format!("code=code-1&state={}", self.state), kind, phase, requests).await
    }

    /// Completes the sign-in with the redirect `http://127.0.0.1/callback?{query}` and checks what
    /// the user would see: the error `kind` (none: success), the session's `phase` afterwards, the
    /// tokens in the vault on success and none on failure, and the number of token requests.
    async fn complete_at(
        &self,
        server: &Hostile,
        query: &str,
        kind: Option<ErrorKind>,
        phase: Phase,
        requests: usize,
    ) -> Result<SessionSnapshot, Error> {
        let redirect = Url::parse(&format!("http://127.0.0.1/callback?{query}")).unwrap();
        let result = self.manager.complete_sign_in("s", &redirect).await;
        assert_eq!(result.as_ref().err().map(Error::kind), kind, "{:?}", result.as_ref().err().map(ToString::to_string));
        assert_eq!(self.manager.snapshot("s").await.unwrap().phase, phase);
        assert_eq!(server.asked(TOKEN), requests, "token requests");
        let stored = self.vault.load_tokens("s").await.unwrap();
        match &result {
            Ok(_) => assert_eq!(stored.expect("tokens in the vault").refresh_token.unwrap().expose_secret(), "rt-1"),
            Err(_) => assert!(stored.is_none(), "a failed sign-in stored tokens"),
        }
        result
    }
}

// ---------------------------------------------------------------------------------------------
// Discovery (OIDC Discovery 4.3, RFC 8414 3.3, OIDC 16.17)

async fn discovery(suite: &mut Suite) {
    type Change = fn(&mut serde_json::Value);
    let cases: [(&str, u16, Change, ErrorKind); 9] = [
        ("discovery: another issuer", 200, |d| d["issuer"] = "https://evil.example".into(), ErrorKind::IssuerMismatch),
        ("discovery: no token endpoint", 200, |d| drop(d.as_object_mut().unwrap().remove("token_endpoint")), ErrorKind::ProviderMisbehaved),
        (
            "discovery: a remote plain-http token endpoint",
            200,
            |d| d["token_endpoint"] = "http://id.example.com/token".into(),
            ErrorKind::InvalidConfiguration,
        ),
        ("discovery: a token endpoint that is no URL", 200, |d| d["token_endpoint"] = "not a url".into(), ErrorKind::ProviderMisbehaved),
        ("discovery: no jwks_uri", 200, |d| drop(d.as_object_mut().unwrap().remove("jwks_uri")), ErrorKind::ProviderMisbehaved),
        ("discovery: not JSON", 200, |d| *d = serde_json::Value::String("<html>".into()), ErrorKind::ProviderMisbehaved),
        ("discovery: a 404", 404, |_| {}, ErrorKind::ProviderMisbehaved),
        ("discovery: a 500", 500, |_| {}, ErrorKind::ProviderUnavailable),
        ("discovery: a 503", 503, |_| {}, ErrorKind::ProviderUnavailable),
    ];
    for (name, code, change, kind) in cases {
        suite
            .case(name, async {
                let server = Hostile::start(json(serde_json::json!({}))).await;
                let mut document = metadata(&server.issuer, |_| {});
                change(&mut document);
                server.set(DISCOVERY, status(code, document));
                add_expecting(&server, kind).await;
            })
            .await;
    }
    type Body = fn() -> Answer;
    let bodies: [(&str, &'static str, Body); 4] = [
        ("discovery: a 52 MB document", DISCOVERY, huge),
        ("signing keys: a 52 MB key set", KEYS_PATH, huge),
        ("signing keys: not JSON", KEYS_PATH, || Answer {
            content_type: "text/html",
            body: b"<html>Sign in</html>".to_vec(),
            ..json(serde_json::json!({}))
        }),
        ("discovery: a gzip bomb (50 MiB of zeros in 50 KB, sent unasked)", DISCOVERY, || Answer {
            header: Some(("content-encoding", "gzip".into())),
            body: include_bytes!("../fixtures/zeros-50mib.gz").to_vec(),
            ..json(serde_json::json!({}))
        }),
    ];
    for (name, path, answer) in bodies {
        suite
            .case(name, async {
                let server = Hostile::start(json(serde_json::json!({}))).await;
                server.set(path, answer());
                add_expecting(&server, ErrorKind::ProviderMisbehaved).await;
                assert!(server.bytes_sent() < 10 * 1024 * 1024, "{} bytes were read", server.bytes_sent());
            })
            .await;
    }
}

/// Adding a session at `server` fails with `kind` and saves nothing.
async fn add_expecting(server: &Hostile, kind: ErrorKind) {
    let manager = manager_builder(Arc::new(MemoryVault::new())).build().await.unwrap();
    let err = manager.add_session("s", ProviderConfig::new(server.issuer.clone(), "client"), None).await.unwrap_err();
    assert_eq!(err.kind(), kind, "{err}");
    assert!(manager.snapshots().await.unwrap().is_empty(), "a session was saved");
    assert_eq!(server.asked(TOKEN), 0);
}

// ---------------------------------------------------------------------------------------------
// Sign-in: the redirect (RFC 6749 4.1.2, RFC 9207, OIDC 3.1.2.7)

async fn sign_in_redirects(suite: &mut Suite) {
    type Query = fn(&SigningIn, &str) -> String;
    /// The case, whether discovery announces the `iss` parameter (RFC 9207), the redirect's query,
    /// the error, the phase after it and the token requests it makes.
    type Case = (&'static str, bool, Query, Option<ErrorKind>, Phase, usize);
    let cases: [Case; 6] = [
        (
            "redirect: the error access_denied",
            false,
            |s, _| format!("error=access_denied&error_description=User%20said%20no&state={}", s.state),
            Some(ErrorKind::SignInRejected),
            Phase::SignedOut,
            0,
        ),
        (
            "redirect: another issuer's iss (mix-up, RFC 9207)",
            false,
            |s, _| format!("code=c&state={}&iss=https%3A%2F%2Fevil.example", s.state),
            Some(ErrorKind::IssuerMismatch),
            Phase::SignedOut,
            0,
        ),
        (
            "redirect: no iss from a provider that announces it (RFC 9207)",
            true,
            |s, _| format!("code=c&state={}", s.state),
            Some(ErrorKind::InvalidRedirect),
            Phase::SignedOut,
            0,
        ),
        (
            "redirect: this issuer's iss where it is announced (RFC 9207)",
            true,
            |s, issuer| {
                format!("code=c&state={}&iss={}", s.state, url::form_urlencoded::byte_serialize(issuer.as_bytes()).collect::<String>())
            },
            None,
            Phase::Active,
            1,
        ),
        ("redirect: no code", false, |s, _| format!("state={}", s.state), Some(ErrorKind::InvalidRedirect), Phase::SignedOut, 0),
        (
            "redirect: another sign-in's state (this one keeps waiting)",
            false,
            |_, _| "code=c&state=forged".into(),
            Some(ErrorKind::InvalidRedirect),
            Phase::SigningIn,
            0,
        ),
    ];
    for (name, announces_iss, query, kind, phase, requests) in cases {
        suite
            .case(name, async {
                let server = Hostile::start_with(json(serde_json::json!({})), |d| {
                    d["authorization_response_iss_parameter_supported"] = announces_iss.into();
                })
                .await;
                publish(&server, "a");
                let s = signing_in(&server).await;
                s.answer_with(&server, Claims::sound(&server));
                s.complete_at(&server, &query(&s, &server.issuer), kind, phase, requests).await.ok();
            })
            .await;
    }
}

// ---------------------------------------------------------------------------------------------
// Sign-in: the token answer (RFC 6749 5.1, 5.2; OIDC 3.1.3.3)

async fn sign_in_token_answers(suite: &mut Suite) {
    suite
        .case("sign-in: a sound answer with a true at_hash (control)", async {
            let (server, s) = sign_in_started().await;
            s.answer_with(&server, Claims::sound(&server));
            let session = s.complete(&server, None, 1).await.unwrap();
            assert_eq!(session.user.map(|u| u.subject), Some("alice".into()));
            assert_eq!(session.last_error, None);
        })
        .await;
    type Shape = fn(serde_json::Value) -> Answer;
    let cases: [(&str, Shape, Option<ErrorKind>); 7] = [
        (
            "sign-in: invalid_grant for the code",
            |_| status(400, serde_json::json!({ "error": "invalid_grant" })),
            Some(ErrorKind::SignInRejected),
        ),
        (
            "sign-in: a 503 with Retry-After",
            |_| Answer {
                header: Some(("retry-after", "30".into())),
                ..status(503, serde_json::json!({ "error": "temporarily_unavailable" }))
            },
            Some(ErrorKind::ProviderUnavailable),
        ),
        ("sign-in: a 52 MB answer", |_| huge(), Some(ErrorKind::ProviderMisbehaved)),
        (
            "sign-in: no ID token",
            |mut body| {
                body.as_object_mut().unwrap().remove("id_token");
                json(body)
            },
            Some(ErrorKind::InvalidIdToken),
        ),
        (
            "sign-in: no access token",
            |mut body| {
                body.as_object_mut().unwrap().remove("access_token");
                json(body)
            },
            Some(ErrorKind::ProviderMisbehaved),
        ),
        ("sign-in: an answer labelled text/html", |body| Answer { content_type: "text/html", ..json(body) }, None),
        (
            "sign-in: token_type in lower case (bearer)",
            |mut body| {
                body["token_type"] = "bearer".into();
                json(body)
            },
            None,
        ),
    ];
    for (name, shape, kind) in cases {
        suite
            .case(name, async {
                let (server, s) = sign_in_started().await;
                server.set(TOKEN, shape(s.sound_answer(&server)));
                s.complete(&server, kind, 1).await.ok();
                assert!(server.bytes_sent() < 10 * 1024 * 1024, "{} bytes were read", server.bytes_sent());
            })
            .await;
    }
    for (name, expires_in, lifetime) in [
        ("sign-in: expires_in 0 is taken as 1 s and said", serde_json::json!(0), 1),
        ("sign-in: expires_in as a string (\"300\") is read and said", serde_json::json!("300"), 300),
        ("sign-in: expires_in of 31 000 years is taken as a day and said", serde_json::json!(10_u64.pow(12)), 86_400),
    ] {
        suite
            .case(name, async {
                let (server, s) = sign_in_started().await;
                let mut body = s.sound_answer(&server);
                body["expires_in"] = expires_in.clone();
                server.set(TOKEN, json(body));
                let session = s.complete(&server, None, 1).await.unwrap();
                let left = seconds_from_now(session.access_token_expires_at);
                assert!((lifetime - 5..=lifetime).contains(&left), "{expires_in}: {left} s");
                let warning = session.last_error.expect("the card says the lifetime was adjusted");
                assert_eq!(warning.kind, ErrorKind::ProviderMisbehaved);
            })
            .await;
    }
    suite
        .case("sign-in: a token endpoint that redirects elsewhere is not followed", async {
            let server = Hostile::start(Answer {
                header: Some(("location", "http://127.0.0.1:9/token".into())),
                ..status(307, serde_json::json!({}))
            })
            .await;
            let s = signing_in(&server).await;
            s.complete(&server, Some(ErrorKind::ProviderMisbehaved), 1).await.ok();
        })
        .await;
    suite
        .case("sign-in: a token endpoint that never answers gives up in time", async {
            let server = Hostile::start(status(0, serde_json::json!({}))).await;
            let s = signing_in(&server).await;
            s.complete(&server, Some(ErrorKind::ProviderUnavailable), 1).await.ok();
        })
        .await;
}

// ---------------------------------------------------------------------------------------------
// Sign-in: the ID token (OIDC 3.1.3.7, 3.1.3.8)

async fn sign_in_id_tokens(suite: &mut Suite) {
    type Change = fn(&mut Claims);
    let cases: [(&str, &str, Change); 10] = [
        ("ID token: another nonce", "does not belong to this sign-in", |c| c.nonce = Some("replayed".into())),
        ("ID token: no nonce", "does not belong to this sign-in", |c| c.nonce = Some(String::new())),
        ("ID token: an at_hash that is not the access token's", "at_hash", |c| c.at_hash = Some("bm90IHRoZSBoYXNo")),
        ("ID token: another issuer", "issued by another provider", |c| c.issuer = "https://evil.example".into()),
        ("ID token: another audience", "issued for another app", |c| c.audiences = vec!["someone-else"]),
        ("ID token: two audiences and another authorized party", "issued for another app", |c| {
            c.audiences = vec!["client", "someone-else"];
            c.authorized_party = Some("someone-else");
        }),
        ("ID token: expired", "expired", |c| c.expires = Utc::now() - TimeDelta::minutes(5)),
        ("ID token: unsigned (alg none)", "signature", |c| c.signature = Signature::Unsigned),
        ("ID token: HS256 with the client id as the secret", "signature", |c| c.signature = Signature::Hmac("client")),
        ("ID token: a key the provider never published (fetched again once)", "signature", |c| c.signature = Signature::Rsa("c")),
    ];
    for (name, reason, change) in cases {
        suite
            .case(name, async {
                let (server, s) = sign_in_started().await;
                let fetched = server.asked(KEYS_PATH);
                let mut claims = Claims::sound(&server);
                change(&mut claims);
                let unknown_key = matches!(claims.signature, Signature::Rsa("c"));
                if claims.nonce.as_deref() == Some("") {
                    claims.nonce = None;
                    server.set(TOKEN, json(tokens(Some(claims.sign("at-1")))));
                } else {
                    s.answer_with(&server, claims);
                }
                let err = s.complete(&server, Some(ErrorKind::InvalidIdToken), 1).await.unwrap_err();
                assert!(err.to_string().contains(reason), "the message does not name the reason ({reason}): {err}");
                // An unknown key id fetches the keys again, once; nothing else does.
                assert_eq!(server.asked(KEYS_PATH), fetched + usize::from(unknown_key), "key fetches");
            })
            .await;
    }
    suite
        .case("ID token: signed with a key rotated in after the sign-in began (fetched again)", async {
            let (server, s) = sign_in_started().await;
            let fetched = server.asked(KEYS_PATH);
            publish(&server, "b");
            let mut claims = Claims::sound(&server);
            claims.signature = Signature::Rsa("b");
            s.answer_with(&server, claims);
            s.complete(&server, None, 1).await.ok();
            assert_eq!(server.asked(KEYS_PATH), fetched + 1, "the keys were not fetched again exactly once");
        })
        .await;
}

// ---------------------------------------------------------------------------------------------
// Sign-in: userinfo (OIDC 5.3.2)

async fn sign_in_userinfo(suite: &mut Suite) {
    type Body = fn() -> Answer;
    let cases: [(&str, Body); 3] = [
        ("userinfo: another user's claims are not used", || {
            json(serde_json::json!({ "sub": "mallory", "name": "Mallory", "email": "mallory@example.test" }))
        }),
        ("userinfo: a 52 MB answer is refused, the sign-in stands", huge),
        ("userinfo: a 500 is ignored, the sign-in stands", || status(500, serde_json::json!({}))),
    ];
    for (name, answer) in cases {
        suite
            .case(name, async {
                let server = Hostile::start_with(json(serde_json::json!({})), with_userinfo).await;
                publish(&server, "a");
                server.set(USERINFO, answer());
                let s = signing_in(&server).await;
                s.answer_with(&server, Claims::sound(&server));
                let session = s.complete(&server, None, 1).await.unwrap();
                let user = session.user.unwrap();
                assert_eq!((user.subject.as_str(), user.name), ("alice", None), "the card names someone else");
                assert_eq!(server.asked(USERINFO), 1);
                assert!(server.bytes_sent() < 10 * 1024 * 1024, "{} bytes were read", server.bytes_sent());
            })
            .await;
    }
    suite
        .case("userinfo: the same user's claims are shown", async {
            let server = Hostile::start_with(json(serde_json::json!({})), with_userinfo).await;
            publish(&server, "a");
            server.set(USERINFO, json(serde_json::json!({ "sub": "alice", "name": "Alice Example" })));
            let s = signing_in(&server).await;
            s.answer_with(&server, Claims::sound(&server));
            let session = s.complete(&server, None, 1).await.unwrap();
            assert_eq!(session.user.unwrap().name.as_deref(), Some("Alice Example"));
        })
        .await;
}

// ---------------------------------------------------------------------------------------------
// Refresh: lifetimes and retries (RFC 6749 5.1, 6; RFC 9110 10.2.3)

async fn refresh_lifetimes(suite: &mut Suite) {
    suite
        .case("refresh: expires_in 0 is bounded and starts no refresh storm", async {
            let server = Hostile::start(json(rotated(serde_json::json!(0)))).await;
            let s = signed_in(&server).await;
            // Before, the answer asked for the next refresh at once, and this call never returned.
            let session = tokio::time::timeout(Duration::from_secs(5), s.manager.refresh("s", true)).await.expect("no answer").unwrap();
            assert_eq!(session.phase, Phase::Active);
            // 1 s from the answer; a loaded machine may take a few seconds to get here.
            assert!((-5..=1).contains(&seconds_from_now(session.access_token_expires_at)), "{:?}", session.access_token_expires_at);
            let warning = session.last_error.as_ref().expect("the card says the lifetime was adjusted");
            assert_eq!(warning.kind, ErrorKind::ProviderMisbehaved);
            assert!(warning.message.contains("lifetime (0) was taken as 1 s"), "{}", warning.message);
            assert!(
                session.next_refresh_at.unwrap() >= session.last_refresh_at.unwrap() + TimeDelta::seconds(5),
                "no floor between refreshes"
            );
            assert_eq!(server.asked(TOKEN), 1);
            assert_eq!(s.stored_refresh_token().await.as_deref(), Some("rt-1"), "the rotated refresh token was not kept");
        })
        .await;
    for (name, expires_in, content_type, lifetime) in [
        ("refresh: expires_in as a string (\"300\")", serde_json::json!("300"), "application/json", 300),
        ("refresh: expires_in negative (-60)", serde_json::json!(-60), "application/json", 1),
        ("refresh: expires_in of 31 000 years", serde_json::json!(10_u64.pow(12)), "application/json", 86_400),
        ("refresh: an answer labelled text/plain", serde_json::json!(600), "text/plain", 600),
    ] {
        suite
            .case(name, async {
                let server = Hostile::start(Answer { content_type, ..json(rotated(expires_in.clone())) }).await;
                let s = signed_in(&server).await;
                let session = s.manager.refresh("s", true).await.unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(session.phase, Phase::Active);
                assert!(
                    (lifetime - 5..=lifetime).contains(&seconds_from_now(session.access_token_expires_at)),
                    "{:?}",
                    session.access_token_expires_at
                );
                assert_eq!(session.last_error.as_ref().map(|e| e.kind), Some(ErrorKind::ProviderMisbehaved), "said nothing");
                assert_eq!(s.stored_refresh_token().await.as_deref(), Some("rt-1"), "rotated token lost");
                assert_eq!(server.asked(TOKEN), 1);
            })
            .await;
    }
    suite
        .case("refresh: no new refresh token keeps the old one (no rotation)", async {
            let server =
                Hostile::start(json(serde_json::json!({ "access_token": "at-1", "token_type": "Bearer", "expires_in": 600 }))).await;
            let s = signed_in(&server).await;
            s.refresh_expecting(&server, None, Phase::Active, Some("rt-0"), 1).await;
        })
        .await;
    let in_90_s = (Utc::now() + TimeDelta::seconds(90)).to_rfc2822().replace("+0000", "GMT");
    for (name, code, retry_after, wait) in [
        ("refresh: a 503 with Retry-After 120 s", 503, "120".to_owned(), 120),
        ("refresh: a 429 with Retry-After 100 000 s (capped at 5 min)", 429, "100000".to_owned(), 300),
        ("refresh: a 503 with Retry-After as a date 90 s ahead", 503, in_90_s, 90),
    ] {
        suite
            .case(name, async {
                let busy = serde_json::json!({ "error": "temporarily_unavailable" });
                let server = Hostile::start(Answer { header: Some(("retry-after", retry_after.clone())), ..status(code, busy) }).await;
                let s = signed_in(&server).await;
                s.refresh_expecting(&server, Some(ErrorKind::ProviderUnavailable), Phase::Active, Some("rt-0"), 1).await;
                let session = s.manager.snapshot("s").await.unwrap();
                assert_eq!(session.consecutive_failures, 1);
                let next = seconds_from_now(session.next_refresh_at);
                assert!((wait - 5..=wait).contains(&next), "Retry-After {retry_after}: next refresh in {next} s, not {wait} s");
            })
            .await;
    }
}

// ---------------------------------------------------------------------------------------------
// Refresh: bodies, error pages and refusals (RFC 6749 5.2)

async fn refresh_bodies_and_refusals(suite: &mut Suite) {
    suite
        .case("refresh: a 52 MB answer is refused without being read, the session kept", async {
            let server = Hostile::start(huge()).await;
            let s = signed_in(&server).await;
            let err = s.manager.refresh("s", true).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ProviderMisbehaved, "{err}");
            assert!(err.to_string().contains("larger than 1024 KiB"), "{err}");
            assert!(server.bytes_sent() < 10 * 1024 * 1024, "{} bytes were read of 52 MB", server.bytes_sent());
            let session = s.manager.snapshot("s").await.unwrap();
            assert_eq!((session.phase, session.consecutive_failures), (Phase::Active, 1));
            assert_eq!(s.stored_refresh_token().await.as_deref(), Some("rt-0"), "the stored tokens changed");
        })
        .await;
    let html =
        |code, body: &str| Answer { content_type: "text/html", body: body.as_bytes().to_vec(), ..status(code, serde_json::json!({})) };
    let oauth = |code, error: &str| status(code, serde_json::json!({ "error": error, "error_description": "scripted" }));
    let cases = [
        ("refresh: a 502 error page", html(502, "<html>Bad gateway</html>"), ErrorKind::ProviderUnavailable, Phase::Active, Some("rt-0")),
        (
            "refresh: a 200 that is not a token answer",
            html(200, "<html>Welcome</html>"),
            ErrorKind::ProviderUnavailable,
            Phase::Active,
            Some("rt-0"),
        ),
        ("refresh: invalid_client", oauth(401, "invalid_client"), ErrorKind::ProviderMisbehaved, Phase::Active, Some("rt-0")),
        ("refresh: server_error", oauth(500, "server_error"), ErrorKind::ProviderUnavailable, Phase::Active, Some("rt-0")),
        (
            "refresh: no access token in a 200",
            json(serde_json::json!({ "token_type": "Bearer", "refresh_token": "rt-1" })),
            ErrorKind::ProviderMisbehaved,
            Phase::Active,
            Some("rt-0"),
        ),
        (
            "refresh: a redirect to another host is not followed",
            Answer { header: Some(("location", "http://127.0.0.1:9/token".into())), ..status(307, serde_json::json!({})) },
            ErrorKind::ProviderMisbehaved,
            Phase::Active,
            Some("rt-0"),
        ),
        (
            "refresh: a token endpoint that never answers gives up in time",
            status(0, serde_json::json!({})),
            ErrorKind::ProviderUnavailable,
            Phase::Active,
            Some("rt-0"),
        ),
        // After invalid_grant the keychain holds the same refresh token, so nothing is retried.
        ("refresh: invalid_grant ends the session", oauth(400, "invalid_grant"), ErrorKind::SessionRevoked, Phase::Expired, None),
    ];
    for (name, answer, kind, phase, kept) in cases {
        suite
            .case(name, async {
                let server = Hostile::start(answer).await;
                let s = signed_in(&server).await;
                s.refresh_expecting(&server, Some(kind), phase, kept, 1).await;
            })
            .await;
    }
}

// ---------------------------------------------------------------------------------------------
// Refresh: the refreshed ID token (OIDC 12.2, 3.1.3.7; keys rotated mid-session)

/// The token endpoint answers the refresh with tokens and an ID token with `claims`.
fn answer_refresh_with(server: &Hostile, claims: &Claims) {
    server.set(TOKEN, json(tokens(Some(claims.sign("at-1")))));
}

async fn refresh_id_tokens(suite: &mut Suite) {
    suite
        .case("refresh: signing keys rotated mid-session are fetched again once, then an unknown key ends the session", async {
            let server = Hostile::start(json(serde_json::json!({}))).await;
            publish(&server, "a");
            answer_refresh_with(&server, &Claims::sound(&server));
            let s = signed_in(&server).await;
            let session = s.manager.refresh("s", true).await.unwrap();
            assert_eq!(session.last_error, None, "a valid ID token was refused");

            // The provider rotates to key b: the refreshed ID token names a key the discovered set lacks.
            publish(&server, "b");
            let claims = Claims { signature: Signature::Rsa("b"), ..Claims::sound(&server) };
            answer_refresh_with(&server, &claims);
            let session = s.manager.refresh("s", true).await.unwrap();
            assert_eq!(session.last_error, None, "the rotated key was not fetched");
            let stored = s.vault.load_tokens("s").await.unwrap().unwrap();
            assert!(stored.id_token.is_some(), "the new ID token was not kept");

            // Within a minute, a third unknown key is not fetched again: the signature cannot be
            // verified, which is a security failure. The session ends, says why, and keeps no token.
            answer_refresh_with(&server, &Claims { signature: Signature::Rsa("c"), ..Claims::sound(&server) });
            let err = s.manager.refresh("s", true).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidIdToken, "{err}");
            assert!(err.to_string().contains("its signature does not match the provider's keys"), "{err}");
            let session = s.manager.snapshot("s").await.unwrap();
            assert_eq!((session.phase, session.last_error.map(|e| e.kind)), (Phase::Expired, Some(ErrorKind::InvalidIdToken)));
            assert_eq!(server.asked(TOKEN), 3);
            s.wait_for_empty_keychain().await;
        })
        .await;
    type Change = fn(&mut Claims);
    let insecure: [(&str, Change); 5] = [
        ("refresh: another user's ID token ends the session and is never stored", |c| c.subject = "mallory"),
        ("refresh: an ID token from another issuer ends the session", |c| c.issuer = "https://evil.example".into()),
        ("refresh: an ID token for another client ends the session", |c| c.audiences = vec!["someone-else"]),
        ("refresh: an unsigned ID token ends the session", |c| c.signature = Signature::Unsigned),
        ("refresh: an HS256 ID token ends the session", |c| c.signature = Signature::Hmac("client")),
    ];
    for (name, change) in insecure {
        suite
            .case(name, async {
                let server = Hostile::start(json(serde_json::json!({}))).await;
                publish(&server, "a");
                let mut claims = Claims::sound(&server);
                change(&mut claims);
                answer_refresh_with(&server, &claims);
                let s = signed_in(&server).await;
                s.refresh_expecting(&server, Some(ErrorKind::InvalidIdToken), Phase::Expired, None, 1).await;
                let session = s.manager.snapshot("s").await.unwrap();
                assert_eq!(session.user.map(|u| u.subject), Some("alice".into()), "the card now names another user");
            })
            .await;
    }
    suite
        .case("refresh: an expired ID token is dropped, the rotated tokens kept", async {
            let server = Hostile::start(json(serde_json::json!({}))).await;
            publish(&server, "a");
            answer_refresh_with(&server, &Claims { expires: Utc::now() - TimeDelta::minutes(5), ..Claims::sound(&server) });
            let s = signed_in(&server).await;
            s.refresh_expecting(&server, None, Phase::Active, Some("rt-1"), 1).await;
            let session = s.manager.snapshot("s").await.unwrap();
            assert!(session.last_error.unwrap().message.contains("refreshed ID token was ignored because it has expired"));
        })
        .await;
}

// ---------------------------------------------------------------------------------------------
// Sign-out (RFC 7009, RFC 8414)

async fn sign_out(suite: &mut Suite) {
    type Setup = fn(&Hostile);
    let cases: [(&str, Setup, bool, &str, usize); 5] = [
        ("sign-out: revoked at the announced endpoint, refresh token first", |_| {}, true, "", 2),
        (
            "sign-out: a revocation endpoint answering 503 is reported, the local sign-out stands",
            |s| s.set(REVOKE, status(503, serde_json::json!({}))),
            true,
            "HTTP 503",
            2,
        ),
        ("sign-out: a revocation endpoint answering 52 MB is not read", |s| s.set(REVOKE, huge()), true, "", 2),
        ("sign-out: no revocation endpoint anywhere is said plainly", |_| {}, false, "offers no revocation", 0),
        (
            "sign-out: RFC 8414 metadata of another issuer is not used",
            |s| {
                s.set(
                    OAUTH_METADATA,
                    json(serde_json::json!({ "issuer": "https://evil.example", "revocation_endpoint": format!("{}{REVOKE}", s.issuer) })),
                );
            },
            false,
            "offers no revocation",
            0,
        ),
    ];
    for (name, setup, announced, problem, revocations) in cases {
        suite
            .case(name, async {
                let server = Hostile::start_with(json(serde_json::json!({})), |d| {
                    if announced {
                        with_revocation(d)
                    }
                })
                .await;
                server.set(REVOKE, json(serde_json::json!({})));
                setup(&server);
                let s = signed_in(&server).await;
                let outcome = s.manager.sign_out("s").await.unwrap();
                assert_eq!(outcome.session.phase, Phase::SignedOut);
                assert!(s.vault.load_tokens("s").await.unwrap().is_none(), "tokens stayed after sign-out");
                // The log's few words and the user's notice, together.
                let notice = outcome.revocation.notice.clone();
                assert_eq!(notice.is_some(), !problem.is_empty(), "{notice:?}");
                let problems = format!("{} {}", outcome.revocation.problems.join(" "), notice.unwrap_or_default());
                if problem.is_empty() {
                    assert!(outcome.revocation.refresh_token_revoked && outcome.revocation.access_token_revoked, "{problems}");
                    // The refresh token first: some providers void it once the access token is revoked.
                    let revocations = server.revocations.lock().unwrap().clone();
                    assert!(
                        revocations[0].contains("token=rt-0") && revocations[0].contains("token_type_hint=refresh_token"),
                        "{revocations:?}"
                    );
                    assert!(
                        revocations[1].contains("token=at-0") && revocations[1].contains("token_type_hint=access_token"),
                        "{revocations:?}"
                    );
                    assert!(revocations.iter().all(|r| r.contains("client_id=client")), "{revocations:?}");
                } else {
                    assert!(problems.contains(problem), "{problems}");
                    if problem == "offers no revocation" {
                        // Until when the tokens stay valid there: the access token's hour, the
                        // refresh token's unknown lifetime.
                        let expiry = (Utc::now() + TimeDelta::hours(1)).format("%Y-%m-%d %H:").to_string();
                        assert!(problems.contains(&format!("the access token until {expiry}")), "{problems}");
                        assert!(problems.contains("the refresh token for as long as the provider keeps it"), "{problems}");
                    }
                    assert!(!outcome.revocation.refresh_token_revoked);
                }
                assert_eq!(server.asked(REVOKE), revocations);
                assert_eq!(server.asked(TOKEN), 0);
                assert!(server.bytes_sent() < 10 * 1024 * 1024, "{} bytes were read", server.bytes_sent());
            })
            .await;
    }
}
