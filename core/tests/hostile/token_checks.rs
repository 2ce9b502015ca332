//! The relying party's checks of token answers and ID tokens: `token_type` (RFC 6749 7.1), `iat`
//! (OIDC 3.1.3.7 step 10), `auth_time` kept across refreshes (OIDC 12.2), the signature algorithms
//! the provider lists and its keys offer (RS*, PS*, ES256, EdDSA; never `none`, never HMAC for a
//! public client), a refresh answer checked before it is written, and a provider's words made safe
//! where they enter (the redirect's error, the claims on the card).

use super::*;
use openidconnect::core::CoreEdDsaPrivateSigningKey;
use openidconnect::{EndUserName, JsonWebKeyId, LocalizedClaim};

/// The cases of this group, run in order by `main`.
pub(super) async fn cases(suite: &mut Suite) {
    token_types(suite).await;
    issue_times(suite).await;
    auth_times(suite).await;
    algorithms(suite).await;
    checked_before_written(suite).await;
    provider_words(suite).await;
}

// ---------------------------------------------------------------------------------------------
// ID tokens signed with any algorithm, at any issue time

/// Test-only keys beside the RSA ones of `main` (made with `openssl genpkey -algorithm ed25519` and
/// `openssl ecparam -name prime256v1` or `secp384r1 -genkey`; they sign nothing else).
const ED25519_PEM: &str = include_str!("../fixtures/signing-key-ed25519.pem");
const P256_PEM_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/signing-key-p256.pem");
const P384_PEM_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/signing-key-p384.pem");
/// The public halves of the P-256 and P-384 keys (their `x` and `y`, base64url).
const P256_X: &str = "FcmEIWqt6bRmGWSlTmKI_45kvhWGxWxA2P4-DwMtVcU";
const P256_Y: &str = "b6G-zDQ6LkMINgqoz5e13ZImdzPN5SmHteUVJMCCxPg";
const P384_X: &str = "o5N7ZXJmIte9idLKBHNHAowIZH3JG3-mpNbwODohXi5TtD-X4WHIoFLfOOFKLCHJ";
const P384_Y: &str = "id1QMoWL4nxW5Wa9WPZtovPE2RcIWqa8KPGopkCtDA5e5HgUzFo_CvJuNaKzMBiU";

/// How an ID token of this group is signed.
#[derive(Clone)]
enum Alg {
    /// An RSA key of `main` (`a`, `b`, `c`) with RS256/384/512 or PS256/384/512.
    Rsa(&'static str, CoreJwsSigningAlgorithm),
    /// EdDSA with the Ed25519 key, key id `ed`.
    Ed25519,
    /// ES256 with the P-256 key, key id `ec` (signed by the `openssl` command: openidconnect signs no ECDSA).
    P256,
    /// ES384 with the P-384 key, key id `ec384`, the same way.
    P384,
    /// One of `main`'s: HS256 with a secret, or `alg: none`.
    Other(Signature),
}

fn ed25519_key() -> CoreEdDsaPrivateSigningKey {
    CoreEdDsaPrivateSigningKey::from_ed25519_pem(ED25519_PEM, Some(JsonWebKeyId::new("ed".into()))).unwrap()
}

fn ec_jwk(kid: &str, curve: &str, x: &str, y: &str) -> serde_json::Value {
    serde_json::json!({ "kty": "EC", "crv": curve, "use": "sig", "kid": kid, "x": x, "y": y })
}

/// The published key of each name: `a`, `b`, `c` (RSA), `ed` (Ed25519), `ec` (P-256).
fn jwk(name: &str) -> serde_json::Value {
    match name {
        "ed" => serde_json::to_value(ed25519_key().as_verification_key()).unwrap(),
        "ec" => ec_jwk("ec", "P-256", P256_X, P256_Y),
        "ec384" => ec_jwk("ec384", "P-384", P384_X, P384_Y),
        rsa => serde_json::to_value(signing_key(rsa).as_verification_key()).unwrap(),
    }
}

/// The provider publishes these keys, in this order.
fn publish_keys(server: &Hostile, names: &[&str]) {
    let keys: Vec<serde_json::Value> = names.iter().map(|name| jwk(name)).collect();
    server.set(KEYS_PATH, json(serde_json::json!({ "keys": keys })));
}

/// A server whose metadata lists `algs` and whose key set is `keys`.
async fn server_listing(algs: &[&str], keys: &[&str]) -> Arc<Hostile> {
    let algs: Vec<String> = algs.iter().map(|alg| (*alg).to_owned()).collect();
    let server = Hostile::start_with(json(serde_json::json!({})), move |d| d["id_token_signing_alg_values_supported"] = algs.into()).await;
    publish_keys(&server, keys);
    server
}

/// An ID token: `main`'s sound claims, plus what this group varies.
#[derive(Clone)]
struct Token {
    claims: Claims,
    alg: Alg,
    issued: DateTime<Utc>,
    auth_time: Option<DateTime<Utc>>,
    name: Option<String>,
}

impl Token {
    fn of(claims: Claims) -> Self {
        Token {
            claims,
            alg: Alg::Rsa("a", CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256),
            issued: Utc::now() - TimeDelta::minutes(10),
            auth_time: None,
            name: None,
        }
    }

    fn signed(self, alg: Alg) -> Self {
        Token { alg, ..self }
    }

    /// The signed token, with a true `at_hash` of `access_token` (none for ES256).
    fn sign(&self, access_token: &str) -> String {
        if let Alg::Other(signature) = &self.alg {
            return Claims { signature: *signature, ..self.claims.clone() }.sign(access_token);
        }
        let c = &self.claims;
        let standard = StandardClaims::new(SubjectIdentifier::new(c.subject.into()))
            .set_name(self.name.clone().map(|name| LocalizedClaim::from(EndUserName::new(name))));
        let claims = CoreIdTokenClaims::new(
            IssuerUrl::new(c.issuer.clone()).unwrap(),
            c.audiences.iter().map(|a| Audience::new((*a).into())).collect(),
            c.expires,
            self.issued,
            standard,
            EmptyAdditionalClaims {},
        )
        .set_nonce(c.nonce.clone().map(Nonce::new))
        .set_auth_time(self.auth_time);
        let token = AccessToken::new(access_token.into());
        match &self.alg {
            Alg::Rsa(name, alg) => CoreIdToken::new(claims, &signing_key(name), alg.clone(), Some(&token), None).unwrap().to_string(),
            Alg::Ed25519 => {
                CoreIdToken::new(claims, &ed25519_key(), CoreJwsSigningAlgorithm::EdDsa, Some(&token), None).unwrap().to_string()
            }
            Alg::P256 => ecdsa(&serde_json::to_value(&claims).unwrap(), ("ES256", "ec", "-sha256", P256_PEM_PATH, 32)),
            Alg::P384 => ecdsa(&serde_json::to_value(&claims).unwrap(), ("ES384", "ec384", "-sha384", P384_PEM_PATH, 48)),
            Alg::Other(_) => unreachable!(),
        }
    }
}

/// A JWS made by hand: header and claims signed ES256 or ES384 by `openssl dgst`, its DER signature
/// turned into JWS's fixed-size `r || s` (`size` bytes each).
fn ecdsa(claims: &serde_json::Value, (alg, kid, digest, pem, size): (&str, &str, &str, &str, usize)) -> String {
    use base64::Engine as _;
    use std::io::Write as _;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = serde_json::json!({ "alg": alg, "kid": kid });
    let input = format!("{}.{}", encode(header.to_string().as_bytes()), encode(claims.to_string().as_bytes()));
    let mut openssl = std::process::Command::new("openssl")
        .args(["dgst", digest, "-sign", pem])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the openssl command signs the ES256 cases");
    openssl.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let der = openssl.wait_with_output().unwrap().stdout;
    // SEQUENCE { INTEGER r, INTEGER s }, each at most `size` + 1 bytes (a leading zero), lengths in one byte.
    let integer = |at: usize| -> (Vec<u8>, usize) {
        assert_eq!(der[at], 0x02, "a DER integer");
        let length = der[at + 1] as usize;
        let value = &der[at + 2..at + 2 + length];
        let trimmed = &value[value.len().saturating_sub(size)..];
        let mut fixed = vec![0u8; size - trimmed.len()];
        fixed.extend_from_slice(trimmed);
        (fixed, at + 2 + length)
    };
    let (mut signature, next) = integer(2);
    signature.extend(integer(next).0);
    format!("{input}.{}", encode(&signature))
}

/// A refresh answer of tokens (`at-1`, `rt-1`) and the ID token `token`.
fn answer_refresh(server: &Hostile, token: &Token) {
    server.set(TOKEN, json(tokens(Some(token.sign("at-1")))));
}

/// The sign-in's code answered with tokens and the ID token `token` (for the sign-in's nonce).
fn answer_sign_in(server: &Hostile, s: &SigningIn, mut token: Token) {
    token.claims.nonce = Some(s.nonce.clone());
    server.set(TOKEN, json(tokens(Some(token.sign("at-1")))));
}

/// A vault that remembers every refresh token ever written to it, to prove one never was.
struct Recording {
    inner: MemoryVault,
    written: Mutex<Vec<String>>,
}

impl Vault for Recording {
    fn get(&self, name: &str) -> session_core::Result<Option<SecretString>> {
        self.inner.get(name)
    }

    fn set(&self, name: &str, value: &SecretString) -> session_core::Result<()> {
        self.written.lock().unwrap().push(value.expose_secret().to_owned());
        self.inner.set(name, value)
    }

    fn delete(&self, name: &str) -> session_core::Result<()> {
        self.inner.delete(name)
    }
}

impl Recording {
    fn ever_held(&self, secret: &str) -> bool {
        self.written.lock().unwrap().iter().any(|written| written.contains(secret))
    }
}

/// `main`'s `signed_in`, with a recording vault and the ID token `id_token` held from the sign-in.
async fn signed_in_recording(server: &Hostile, id_token: Option<String>) -> (Signed, Arc<Recording>) {
    let store = stored_session(server, Utc::now(), &Policy::default(), true);
    let recording = Arc::new(Recording { inner: MemoryVault::new(), written: Mutex::default() });
    let vault = SecretVault::new(recording.clone() as Arc<dyn Vault>, Duration::from_secs(1));
    let secrets = SessionSecrets {
        access_token: SecretString::from("at-0"),
        refresh_token: Some(SecretString::from("rt-0")),
        id_token: id_token.map(SecretString::from),
    };
    vault.save_tokens("s", &secrets).await.unwrap();
    let manager = SessionManager::builder()
        .vault(recording.clone() as Arc<dyn Vault>)
        .request_timeout(REQUEST_TIMEOUT)
        .store(store)
        .build()
        .await
        .unwrap();
    (Signed { manager, vault }, recording)
}

impl Signed {
    async fn stored(&self) -> Option<SessionSecrets> {
        self.vault.load_tokens("s").await.unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// token_type (RFC 6749 7.1)

async fn token_types(suite: &mut Suite) {
    for (name, token_type) in [
        ("token_type: mac at sign-in is refused, nothing stored", "mac"),
        ("token_type: N_A at sign-in is refused, nothing stored", "N_A"),
        ("token_type: empty at sign-in is refused, nothing stored", ""),
        ("token_type: DPoP at sign-in is refused (DPoP was never asked for)", "DPoP"),
    ] {
        suite
            .case(name, async {
                let (server, s) = sign_in_started().await;
                let mut body = s.sound_answer(&server);
                body["token_type"] = token_type.into();
                server.set(TOKEN, json(body));
                let err = s.complete(&server, Some(ErrorKind::ProviderMisbehaved), 1).await.unwrap_err();
                assert!(err.to_string().contains("which this client does not use"), "{err}");
            })
            .await;
    }
    suite
        .case("token_type: BEARER in capitals at sign-in is accepted", async {
            let (server, s) = sign_in_started().await;
            let mut body = s.sound_answer(&server);
            body["token_type"] = "BEARER".into();
            server.set(TOKEN, json(body));
            s.complete(&server, None, 1).await.unwrap();
        })
        .await;
    suite
        .case("token_type: bearer in lower case at refresh is accepted", async {
            let mut body = rotated(serde_json::json!(600));
            body["token_type"] = "bearer".into();
            let server = Hostile::start(json(body)).await;
            let s = signed_in(&server).await;
            s.refresh_expecting(&server, None, Phase::Active, Some("rt-1"), 1).await;
            assert_eq!(s.stored().await.unwrap().access_token.expose_secret(), "at-1");
        })
        .await;
    suite
        .case("token_type: mac at refresh keeps the session, its access token and the rotated refresh token", async {
            let mut body = rotated(serde_json::json!(600));
            body["token_type"] = "mac".into();
            let server = Hostile::start(json(body)).await;
            let s = signed_in(&server).await;
            // The rotated refresh token is the only one the provider still honours: kept.
            s.refresh_expecting(&server, Some(ErrorKind::ProviderMisbehaved), Phase::Active, Some("rt-1"), 1).await;
            let stored = s.stored().await.unwrap();
            assert_eq!(stored.access_token.expose_secret(), "at-0", "the refused access token was stored");
            let session = s.manager.snapshot("s").await.unwrap();
            assert_eq!(session.consecutive_failures, 1);
            let error = session.last_error.unwrap();
            assert!(error.message.contains("of type \"mac\""), "{}", error.message);
            // The program that asks for a token gets the earlier one, never the refused one.
            let token = s.manager.access_token("s").await.unwrap();
            assert_eq!(token.token.expose_secret(), "at-0");
            assert_eq!(server.asked(TOKEN), 1, "the hand-out made another refresh");
        })
        .await;
    suite
        .case("token_type: N_A at refresh without rotation keeps the old tokens", async {
            let server = Hostile::start(json(serde_json::json!({ "access_token": "at-1", "token_type": "N_A", "expires_in": 600 }))).await;
            let s = signed_in(&server).await;
            s.refresh_expecting(&server, Some(ErrorKind::ProviderMisbehaved), Phase::Active, Some("rt-0"), 1).await;
            assert_eq!(s.stored().await.unwrap().access_token.expose_secret(), "at-0");
        })
        .await;
}

// ---------------------------------------------------------------------------------------------
// iat (OIDC 3.1.3.7 step 10)

async fn issue_times(suite: &mut Suite) {
    suite
        .case("iat: an ID token issued a day ahead is refused at sign-in", async {
            let (server, s) = sign_in_started().await;
            let token = Token {
                issued: Utc::now() + TimeDelta::days(1),
                ..Token::of(Claims { expires: Utc::now() + TimeDelta::days(2), ..Claims::sound(&server) })
            };
            answer_sign_in(&server, &s, token);
            let err = s.complete(&server, Some(ErrorKind::InvalidIdToken), 1).await.unwrap_err();
            assert!(err.to_string().contains("issued in the future"), "{err}");
        })
        .await;
    suite
        .case("iat: an ID token issued a minute ahead is accepted at sign-in (within the window)", async {
            let (server, s) = sign_in_started().await;
            answer_sign_in(&server, &s, Token { issued: Utc::now() + TimeDelta::minutes(1), ..Token::of(Claims::sound(&server)) });
            s.complete(&server, None, 1).await.unwrap();
        })
        .await;
    suite
        .case("iat: a refreshed ID token issued a day ahead is not stored, the rotated tokens are", async {
            let server = Hostile::start(json(serde_json::json!({}))).await;
            publish(&server, "a");
            let claims = Claims { expires: Utc::now() + TimeDelta::days(2), ..Claims::sound(&server) };
            answer_refresh(&server, &Token { issued: Utc::now() + TimeDelta::days(1), ..Token::of(claims) });
            let s = signed_in(&server).await;
            s.refresh_expecting(&server, None, Phase::Active, Some("rt-1"), 1).await;
            assert!(s.stored().await.unwrap().id_token.is_none(), "the ID token from the future was stored");
            let session = s.manager.snapshot("s").await.unwrap();
            let warning = session.last_error.unwrap().message;
            assert!(warning.contains("refreshed ID token was ignored because it says it was issued in the future"), "{warning}");
        })
        .await;
}

// ---------------------------------------------------------------------------------------------
// auth_time (OIDC 12.2)

async fn auth_times(suite: &mut Suite) {
    let signed_in_at = Utc::now() - TimeDelta::hours(2);
    for (name, refreshed_auth_time, kind) in [
        ("auth_time: the same at refresh is kept", Some(signed_in_at), None),
        ("auth_time: absent at refresh is accepted", None, None),
        (
            "auth_time: another at refresh ends the session, nothing stored",
            Some(signed_in_at + TimeDelta::hours(1)),
            Some(ErrorKind::InvalidIdToken),
        ),
    ] {
        suite
            .case(name, async {
                let server = Hostile::start(json(serde_json::json!({}))).await;
                publish(&server, "a");
                let original = Token { auth_time: Some(signed_in_at), ..Token::of(Claims::sound(&server)) }.sign("at-0");
                answer_refresh(&server, &Token { auth_time: refreshed_auth_time, ..Token::of(Claims::sound(&server)) });
                let (s, recording) = signed_in_recording(&server, Some(original)).await;
                let result = s.manager.refresh("s", true).await;
                assert_eq!(result.as_ref().err().map(Error::kind), kind, "{:?}", result.as_ref().err().map(ToString::to_string));
                let session = s.manager.snapshot("s").await.unwrap();
                assert_eq!(server.asked(TOKEN), 1);
                if kind.is_some() {
                    assert_eq!(session.phase, Phase::Expired);
                    assert!(result.unwrap_err().to_string().contains("auth_time"));
                    assert!(!recording.ever_held("rt-1"), "another sign-in's tokens were written");
                    s.wait_for_empty_keychain().await;
                } else {
                    assert_eq!((session.phase, session.last_error), (Phase::Active, None));
                    assert_eq!(s.stored_refresh_token().await.as_deref(), Some("rt-1"));
                }
            })
            .await;
    }
}

// ---------------------------------------------------------------------------------------------
// Algorithms (OIDC 3.1.3.7 steps 6-8, 10.1)

const LISTED: [&str; 7] = ["RS256", "RS512", "PS256", "ES256", "ES384", "EdDSA", "HS256"];

async fn algorithms(suite: &mut Suite) {
    let rs512 = Alg::Rsa("a", CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512);
    let accepted: [(&str, Alg); 6] = [
        ("algorithms: RS512 with an Ed25519 key listed first is accepted at sign-in", rs512.clone()),
        ("algorithms: PS256 is accepted at sign-in", Alg::Rsa("a", CoreJwsSigningAlgorithm::RsaSsaPssSha256)),
        ("algorithms: ES256 is accepted at sign-in", Alg::P256),
        ("algorithms: ES384 is accepted at sign-in", Alg::P384),
        ("algorithms: EdDSA (Ed25519) is accepted at sign-in", Alg::Ed25519),
        ("algorithms: RS256 still is", Alg::Rsa("a", CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256)),
    ];
    for (name, alg) in accepted {
        suite
            .case(name, async {
                let server = server_listing(&LISTED, &["ed", "a", "ec", "ec384"]).await;
                let s = signing_in(&server).await;
                let discovered = server.asked(KEYS_PATH);
                answer_sign_in(&server, &s, Token::of(Claims::sound(&server)).signed(alg));
                let session = s.complete(&server, None, 1).await.unwrap();
                assert_eq!(session.user.map(|u| u.subject), Some("alice".into()));
                assert_eq!(server.asked(KEYS_PATH), discovered, "no key refetch was needed");
            })
            .await;
    }
    let refused: [(&str, &[&str], Alg); 4] = [
        ("algorithms: HS256 is refused even where the metadata lists it", &LISTED, Alg::Other(Signature::Hmac("client"))),
        ("algorithms: none is refused even where the metadata lists it", &["RS256", "none"], Alg::Other(Signature::Unsigned)),
        ("algorithms: RS512 is refused where the metadata lists RS256 only", &["RS256"], rs512),
        ("algorithms: EdDSA is refused where the metadata lists RS256 only", &["RS256"], Alg::Ed25519),
    ];
    for (name, algs, alg) in refused {
        suite
            .case(name, async {
                let server = server_listing(algs, &["ed", "a"]).await;
                let s = signing_in(&server).await;
                answer_sign_in(&server, &s, Token::of(Claims::sound(&server)).signed(alg));
                let err = s.complete(&server, Some(ErrorKind::InvalidIdToken), 1).await.unwrap_err();
                assert!(err.to_string().contains("signature"), "{err}");
            })
            .await;
    }
    suite
        .case("algorithms: RS512 with an Ed25519 key listed first, after a key refetch at sign-in", async {
            let server = server_listing(&LISTED, &["a"]).await;
            let s = signing_in(&server).await;
            let discovered = server.asked(KEYS_PATH);
            publish_keys(&server, &["ed", "b"]);
            answer_sign_in(
                &server,
                &s,
                Token::of(Claims::sound(&server)).signed(Alg::Rsa("b", CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512)),
            );
            s.complete(&server, None, 1).await.unwrap();
            assert_eq!(server.asked(KEYS_PATH), discovered + 1, "the keys were not fetched again");
        })
        .await;
    suite
        .case("algorithms: RS512 with an Ed25519 key listed first, after a key refetch at refresh", async {
            let server = server_listing(&LISTED, &["a"]).await;
            let (s, _) = signed_in_recording(&server, None).await;
            // A first refresh discovers the provider with key a only.
            answer_refresh(&server, &Token::of(Claims::sound(&server)));
            s.refresh_expecting(&server, None, Phase::Active, Some("rt-1"), 1).await;
            publish_keys(&server, &["ed", "b"]);
            answer_refresh(
                &server,
                &Token::of(Claims::sound(&server)).signed(Alg::Rsa("b", CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512)),
            );
            s.refresh_expecting(&server, None, Phase::Active, Some("rt-1"), 2).await;
            assert_eq!(s.manager.snapshot("s").await.unwrap().last_error, None);
            assert!(s.stored().await.unwrap().id_token.is_some(), "the refreshed ID token was not kept");
            assert_eq!(server.asked(KEYS_PATH), 2, "the keys were not fetched again");
            // The keys fetched again are held to the same rules: HS256 is no more welcome after a refetch.
            answer_refresh(&server, &Token::of(Claims::sound(&server)).signed(Alg::Other(Signature::Hmac("client"))));
            s.refresh_expecting(&server, Some(ErrorKind::InvalidIdToken), Phase::Expired, None, 3).await;
        })
        .await;
    suite
        .case("algorithms: PS256, ES256 and EdDSA are accepted at refresh", async {
            let server = server_listing(&LISTED, &["ed", "a", "ec", "ec384"]).await;
            let (s, _) = signed_in_recording(&server, None).await;
            for (turn, alg) in [Alg::Rsa("a", CoreJwsSigningAlgorithm::RsaSsaPssSha256), Alg::P256, Alg::Ed25519].into_iter().enumerate() {
                answer_refresh(&server, &Token::of(Claims::sound(&server)).signed(alg));
                s.refresh_expecting(&server, None, Phase::Active, Some("rt-1"), turn + 1).await;
                assert_eq!(s.manager.snapshot("s").await.unwrap().last_error, None);
            }
        })
        .await;
}

// ---------------------------------------------------------------------------------------------
// A refresh answer checked before it is written

async fn checked_before_written(suite: &mut Suite) {
    suite
        .case("refresh: another user's ID token is never in the keychain, keys at hand", async {
            let server = Hostile::start(json(serde_json::json!({}))).await;
            publish(&server, "a");
            answer_refresh(&server, &Token::of(Claims { subject: "mallory", ..Claims::sound(&server) }));
            let (s, recording) = signed_in_recording(&server, None).await;
            let err = s.manager.refresh("s", true).await.unwrap_err();
            // Right when refresh() returns, and at any point before: never written.
            let held = s.stored().await.and_then(|t| t.refresh_token).map(|t| t.expose_secret().to_owned());
            assert_ne!(held.as_deref(), Some("rt-1"), "another user's tokens are in the keychain");
            assert!(!recording.ever_held("rt-1"), "another user's tokens were written");
            assert_eq!(err.kind(), ErrorKind::InvalidIdToken);
            assert!(err.to_string().contains("were never stored"), "{err}");
            assert_eq!(s.manager.snapshot("s").await.unwrap().phase, Phase::Expired);
            assert_eq!(server.asked(TOKEN), 1);
            s.wait_for_empty_keychain().await;
        })
        .await;
    suite
        .case("refresh: another user's ID token under a new key is written, then taken out before refresh() returns", async {
            let server = Hostile::start(json(serde_json::json!({}))).await;
            publish(&server, "a");
            let (s, recording) = signed_in_recording(&server, None).await;
            // A first refresh discovers the provider with key a only (and rotates to rt-sound).
            let mut sound = tokens(Some(Token::of(Claims::sound(&server)).sign("at-1")));
            sound["refresh_token"] = "rt-sound".into();
            server.set(TOKEN, json(sound));
            s.refresh_expecting(&server, None, Phase::Active, Some("rt-sound"), 1).await;
            publish_keys(&server, &["a", "b"]);
            answer_refresh(
                &server,
                &Token::of(Claims { subject: "mallory", ..Claims::sound(&server) })
                    .signed(Alg::Rsa("b", CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256)),
            );
            let err = s.manager.refresh("s", true).await.unwrap_err();
            let held = s.stored().await.and_then(|t| t.refresh_token).map(|t| t.expose_secret().to_owned());
            assert_ne!(held.as_deref(), Some("rt-1"), "another user's tokens are still in the keychain");
            assert!(recording.ever_held("rt-1"), "written first while the keys were fetched (the crash window)");
            assert_eq!(err.kind(), ErrorKind::InvalidIdToken);
            assert!(err.to_string().contains("taken out at once"), "{err}");
            assert_eq!(server.asked(KEYS_PATH), 2);
            assert_eq!(server.asked(TOKEN), 2);
            s.wait_for_empty_keychain().await;
        })
        .await;
    suite
        .case("refresh: a sound answer with the keys at hand is checked, then written once", async {
            let server = Hostile::start(json(serde_json::json!({}))).await;
            publish(&server, "a");
            answer_refresh(&server, &Token::of(Claims::sound(&server)));
            let (s, recording) = signed_in_recording(&server, None).await;
            s.refresh_expecting(&server, None, Phase::Active, Some("rt-1"), 1).await;
            let writes = recording.written.lock().unwrap().iter().filter(|w| w.contains("rt-1")).count();
            assert_eq!(writes, 1, "one write of the checked answer");
        })
        .await;
}

// ---------------------------------------------------------------------------------------------
// A provider's words (the redirect's error, the claims on the card)

async fn provider_words(suite: &mut Suite) {
    suite
        .case("redirect: a 204,872-character error_description with control characters", async {
            let (server, s) = sign_in_started().await;
            let forged = format!("no\r\n2026-12-06 INFO signed in as admin\u{1b}[2J\u{7}\u{8}\0{}", "x".repeat(204_872 - 45));
            let encode = |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
            let query = format!(
                "error=access_denied%0D%0A&error_description={}&error_uri={}&state={}",
                encode(&forged),
                encode("https://evil.example/\u{1b}]8;;x"),
                s.state
            );
            let err = s.complete_at(&server, &query, Some(ErrorKind::SignInRejected), Phase::SignedOut, 0).await.unwrap_err();
            let message = err.to_string();
            assert!(!message.chars().any(char::is_control), "{message:?}");
            assert!(message.len() < 1_000, "{} characters", message.len());
            assert!(message.contains("it answered \"access_denied : no 2026-12-06 INFO signed in as admin[2J"), "{message}");
            let session = s.manager.snapshot("s").await.unwrap();
            let shown = session.last_error.map(|e| e.message).unwrap_or_default();
            assert!(!shown.chars().any(char::is_control) && shown.len() < 1_000, "{shown:?}");
        })
        .await;
    suite
        .case("claims: a name with control characters is shown safe on the card", async {
            let (server, s) = sign_in_started().await;
            let name = format!("Alice\r\nINFO signed in as admin\u{202E}\u{1b}[31m{}", "A".repeat(5_000));
            answer_sign_in(&server, &s, Token { name: Some(name), ..Token::of(Claims::sound(&server)) });
            let session = s.complete(&server, None, 1).await.unwrap();
            let shown = session.user.and_then(|u| u.name).unwrap();
            assert!(shown.starts_with("Alice INFO signed in as admin[31mAAA"), "{shown:?}");
            assert!(!shown.chars().any(char::is_control) && shown.chars().count() <= 301, "{shown:?}");
        })
        .await;
}
