//! Interoperability: discovery, sign-in, userinfo, refresh, a key rotation and sign-out against a
//! third OpenID Provider, Canaille 0.3.6 (PyPI), a Flask and Authlib identity server written
//! independently of oidc-provider and django-oauth-toolkit, run with its defaults (`tests/canaille`),
//! with the real Secret Service.
//!
//! Its quirks, as a user meets them:
//! - the login is two pages: the user name on `/login`, then the password on `/auth/password`; then
//!   a consent page (`/oauth/authorize`) for a client whose `client_uri` it does not trust;
//! - PKCE and a nonce are required (read from its code: `CodeChallenge(required=True)`, `REQUIRE_NONCE`);
//! - with no keys configured it makes two at every start (so a restart is a key rotation), an
//!   Ed25519 key listed before an RSA one, and announces `none`, EdDSA, Ed25519, RS*, PS* for ID tokens;
//! - a client registered without `id_token_signed_response_alg` (its SQL store keeps no default) gets
//!   its ID tokens signed RS512 with the RSA key, the strongest algorithm that key allows; its access
//!   tokens are RS512 JWTs too;
//! - Authlib's default lifetimes: an access token from a code is valid ten days (`expires_in`
//!   864000, which the core takes as a day and says so on the card), one from a refresh an hour;
//! - its subject is the user name; `offline_access` is not in its `scopes_supported`, and refresh
//!   tokens come without it;
//! - refresh tokens are rotated: a refresh answers a new one and the old one is dead at once; a
//!   refresh answer carries no ID token;
//! - two token requests for the same user and client within one wall-clock second: the second is
//!   answered HTTP 500 `{"error": "internal_server_error"}`, whose `error_description` is the
//!   database's error with the new tokens in it (the access token is a JWT of the same claims, so the
//!   same string, and its column is unique). Nothing is rotated then, and a retry a second later
//!   succeeds: the core takes it as an outage and retries within about a second;
//! - its revocation endpoint takes confidential clients only (`client_secret_basic`): a public
//!   client's revocation is refused with HTTP 401 `invalid_client`, so a sign-out says the tokens stay
//!   valid there, and the refresh token does;
//! - it has an end-session endpoint (RP-initiated logout).

use session_keeper_testkit as support;

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::Value;
use session_core::{ErrorKind, MarkKind, Phase, Policy, SessionManager, SessionSnapshot, Trigger};
use support::canaille::Canaille;
use support::{keychain, manager, refresh_token, stored};

async fn signed_in(manager: &SessionManager, canaille: &Canaille, id: &str, user: &str) -> (SessionSnapshot, Vec<String>) {
    manager.add_session(id, canaille.config(), None).await.unwrap();
    let url = manager.begin_sign_in(id).await.unwrap();
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query.get("code_challenge_method").map(String::as_str), Some("S256"), "{url}");
    assert!(query.contains_key("nonce"), "Canaille requires a nonce: {url}");
    let (redirect, pages) = canaille.login(&url, user).await;
    (manager.complete_sign_in(id, &redirect).await.unwrap(), pages)
}

async fn get_json(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// The decoded header of a compact JWS.
fn jose_header(token: &str) -> Value {
    let encoded = token.split('.').next().unwrap();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut bytes = Vec::new();
    for c in encoded.bytes() {
        bits = (bits << 6) | alphabet.iter().position(|&a| a == c).expect("base64url") as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
        }
    }
    serde_json::from_slice(&bytes).unwrap()
}

/// The `kid` of the RSA key in Canaille's key set now.
async fn rsa_kid(canaille: &Canaille) -> Value {
    let jwks = get_json(&format!("{}/oauth/jwks.json", canaille.issuer)).await;
    jwks["keys"].as_array().unwrap().iter().find(|key| key["kty"] == "RSA").expect("an RSA key")["kid"].clone()
}

/// Sleeps into the first tenth of the next wall-clock second.
async fn next_second() {
    let millis = chrono::Utc::now().timestamp_subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(1_000 - millis.min(999)) + 20)).await;
}

/// Waits, bounded, until `done` holds for the session's snapshot, and returns that snapshot.
async fn wait_until(manager: &SessionManager, id: &str, within: Duration, done: impl Fn(&SessionSnapshot) -> bool) -> SessionSnapshot {
    let deadline = std::time::Instant::now() + within;
    loop {
        let snapshot = manager.snapshot(id).await.unwrap();
        if done(&snapshot) {
            return snapshot;
        }
        assert!(std::time::Instant::now() < deadline, "not within {within:?}: {snapshot:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn discovery_then_a_two_page_sign_in_with_pkce_and_rs512_tokens_then_userinfo() {
    let canaille = Canaille::start();
    let metadata = get_json(&format!("{}/.well-known/openid-configuration", canaille.issuer)).await;
    assert_eq!(metadata["issuer"], canaille.issuer.as_str());
    let algorithms: Vec<&str> =
        metadata["id_token_signing_alg_values_supported"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(algorithms, ["none", "EdDSA", "Ed25519", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]);
    assert_eq!(metadata["revocation_endpoint_auth_methods_supported"], serde_json::json!(["client_secret_basic"]));
    let scopes = metadata["scopes_supported"].as_array().unwrap();
    assert!(!scopes.contains(&"offline_access".into()), "Canaille now lists offline_access: {scopes:?}");
    let jwks = get_json(metadata["jwks_uri"].as_str().unwrap()).await;
    let key_types: Vec<&str> = jwks["keys"].as_array().unwrap().iter().filter_map(|key| key["kty"].as_str()).collect();
    assert_eq!(key_types, ["OKP", "RSA"], "an Ed25519 key first, then the RSA one");

    let vault = keychain("canaille-sign-in");
    let mut policy = Policy::default();
    policy.refresh.validation_max_age = Duration::from_secs(1);
    let manager = manager(vault.clone(), policy).await;
    let (session, pages) = signed_in(&manager, &canaille, "s", "alice").await;
    assert_eq!(pages, ["/login", "/auth/password", "/oauth/authorize"], "user name, password, consent");
    assert_eq!(session.phase, Phase::Active);
    assert!(session.has_refresh_token, "a refresh token without offline_access");
    // Canaille's subject is the user name, and its ID token carries the profile and email claims.
    assert_eq!(session.user.as_ref().map(|u| u.subject.as_str()), Some("alice"));
    let who = session.who.clone().expect("who signed in");
    assert_eq!((who.name.as_str(), who.email.as_deref()), ("Alice Example", Some("alice@example.com")));
    // Authlib's default access-token lifetime for a code grant is ten days; the core takes a day at
    // most, and says so.
    let remaining = (session.access_token_expires_at.unwrap() - chrono::Utc::now()).num_seconds();
    assert!((86_390..=86_400).contains(&remaining), "expiry from expires_in: {remaining}");
    let adjusted = session.last_error.as_ref().expect("a word about the lifetime");
    assert_eq!(adjusted.kind, ErrorKind::ProviderMisbehaved);
    assert_eq!(adjusted.message, "The provider's answer was adjusted: its access-token lifetime (864000) was taken as 86400 s.");

    let secrets = stored(&vault, "s").await.expect("tokens in the keychain");
    let header = jose_header(secrets.id_token.as_ref().expect("an ID token").expose_secret());
    assert_eq!(header["alg"], "RS512", "no id_token_signed_response_alg: the strongest its RSA key allows ({header})");
    assert_eq!(header["kid"], rsa_kid(&canaille).await, "signed with the RSA key, the second in the set");
    assert_eq!(jose_header(secrets.access_token.expose_secret())["alg"], "RS512", "the access token is an RS512 JWT too");

    // The access token opens Canaille's userinfo endpoint, which says what the ID token said.
    let userinfo: Value = reqwest::Client::new()
        .get(metadata["userinfo_endpoint"].as_str().unwrap())
        .bearer_auth(secrets.access_token.expose_secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((userinfo["sub"].as_str(), userinfo["email"].as_str()), (Some("alice"), Some("alice@example.com")), "{userinfo}");
    // And the core's own check there (a focus with fresh tokens asks userinfo, no refresh) confirms it.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    manager.trigger("s", Trigger::Focus).await.unwrap();
    wait_until(&manager, "s", Duration::from_secs(5), |s| {
        s.history.iter().any(|mark| mark.what == MarkKind::Checked && mark.detail.as_deref() == Some("focus"))
    })
    .await;
    // Time for the userinfo answer: a rejected token or another user's answer would show now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let checked = manager.snapshot("s").await.unwrap();
    assert_eq!(checked.phase, Phase::Active, "{:?}", checked.history);
    assert_eq!(checked.last_error, session.last_error, "the check said nothing new");
    assert_eq!(checked.last_refresh_at, session.last_refresh_at, "a focus with fresh tokens asks userinfo, not the token endpoint");
    assert_eq!(checked.who, Some(who));
}

#[tokio::test]
async fn a_refresh_rotates_the_refresh_token_and_the_old_one_is_dead_there() {
    let canaille = Canaille::start();
    let vault = keychain("canaille-refresh");
    let manager = manager(vault.clone(), Policy::default()).await;
    signed_in(&manager, &canaille, "s", "alice").await;
    let before = stored(&vault, "s").await.unwrap();
    // A second token request within the sign-in's second would be answered 500 (see below).
    next_second().await;
    let session = manager.refresh("s", true).await.unwrap();
    assert_eq!((session.phase, session.last_error.as_ref()), (Phase::Active, None));
    assert_eq!(session.user.as_ref().map(|u| u.subject.as_str()), Some("alice"));
    let after = stored(&vault, "s").await.unwrap();
    assert_ne!(refresh_token(&after), refresh_token(&before), "Canaille rotates refresh tokens");
    assert_ne!(after.access_token.expose_secret(), before.access_token.expose_secret());
    assert_eq!(
        after.id_token.as_ref().map(|t| t.expose_secret()),
        before.id_token.as_ref().map(|t| t.expose_secret()),
        "no ID token in a refresh answer"
    );
    // Authlib's default for a refresh grant: an hour.
    let remaining = (session.access_token_expires_at.unwrap() - chrono::Utc::now()).num_seconds();
    assert!((3_590..=3_600).contains(&remaining), "expiry from expires_in: {remaining}");
    let (status, body) = canaille.raw_refresh(&refresh_token(&before)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "the rotated-out token still works");
    next_second().await;
    let (status, _) = canaille.raw_refresh(&refresh_token(&after)).await;
    assert_eq!(status, 200, "the stored refresh token is not the provider's current one");
}

#[tokio::test]
async fn a_refresh_answered_500_within_the_same_second_is_retried_and_the_session_survives() {
    let canaille = Canaille::start();
    let vault = keychain("canaille-same-second");
    let manager = manager(vault.clone(), Policy::default()).await;
    signed_in(&manager, &canaille, "s", "alice").await;
    // Two refreshes at the start of a second; on a machine so slow that they fell into two seconds
    // (both succeed then), again.
    let mut attempts = 0;
    let (held, error) = loop {
        attempts += 1;
        next_second().await;
        let first = manager.refresh("s", true).await.unwrap();
        assert_eq!(first.last_error.as_ref(), None);
        let held = stored(&vault, "s").await.unwrap();
        match manager.refresh("s", true).await {
            Err(error) => break (held, error),
            Ok(_) => assert!(attempts < 3, "three pairs of refreshes never fell within one second"),
        }
    };
    let info = error.info();
    assert_eq!(info.kind, ErrorKind::ProviderUnavailable, "an outage, not a refusal: {info:?}");
    assert_eq!(
        info.message,
        format!(
            "The provider at {}/oauth/token cannot serve the request now (HTTP 500). Try again later; if it keeps happening, tell the provider's administrator.",
            canaille.issuer
        )
    );
    let failed = manager.snapshot("s").await.unwrap();
    assert_eq!(failed.phase, Phase::Active, "the session survives the outage");
    assert_eq!(failed.last_error.as_ref().map(|e| e.kind), Some(ErrorKind::ProviderUnavailable));
    let retry_in = failed.next_refresh_at.expect("a retry is set") - chrono::Utc::now();
    assert!(retry_in <= chrono::TimeDelta::seconds(3), "the retry is {retry_in} away");
    let retried = wait_until(&manager, "s", Duration::from_secs(5), |s| s.last_error.is_none()).await;
    assert_eq!(retried.phase, Phase::Active);
    let now = stored(&vault, "s").await.unwrap();
    assert_ne!(refresh_token(&now), refresh_token(&held), "the retry rotated the refresh token");

    // What Canaille answered, asked by hand twice within one second (again on a slow machine).
    let mut token = refresh_token(&now);
    let mut attempts = 0;
    let body = loop {
        attempts += 1;
        next_second().await;
        let (status, first) = canaille.raw_refresh(&token).await;
        assert_eq!(status, 200, "{first}");
        let (status, second) = canaille.raw_refresh(first["refresh_token"].as_str().unwrap()).await;
        if status != 200 {
            assert_eq!((status, second["error"].as_str()), (500, Some("internal_server_error")), "{second}");
            break second;
        }
        assert!(attempts < 3, "three pairs of token requests never fell within one second");
        token = second["refresh_token"].as_str().unwrap().to_owned();
    };
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("UNIQUE constraint failed: token.access_token"), "{description}");
}

#[tokio::test]
async fn a_sign_in_across_a_restart_is_verified_with_the_refetched_rs512_key_and_refreshes_carry_no_id_token() {
    let mut canaille = Canaille::start();
    let vault = keychain("canaille-new-keys");
    let manager = manager(vault.clone(), Policy::default()).await;
    signed_in(&manager, &canaille, "s", "alice").await;
    let old_kid = rsa_kid(&canaille).await;
    // The sign-in starts with the keys discovered now; Canaille restarts with new ones before the
    // person logs in, so the ID token names a key the session's key set lacks: the core fetches the
    // set again and verifies RS512 with the new key.
    let url = manager.begin_sign_in("s").await.unwrap();
    canaille.restart();
    let new_kid = rsa_kid(&canaille).await;
    assert_ne!(new_kid, old_kid, "Canaille keeps its keys across a restart now");
    let (redirect, _) = canaille.login(&url, "alice").await;
    let session = manager.complete_sign_in("s", &redirect).await.unwrap();
    assert_eq!(session.phase, Phase::Active);
    let id_token = |secrets: &session_core::SessionSecrets| secrets.id_token.as_ref().expect("an ID token").expose_secret().to_owned();
    let before = stored(&vault, "s").await.unwrap();
    let header = jose_header(&id_token(&before));
    assert_eq!((&header["alg"], &header["kid"]), (&Value::from("RS512"), &new_kid), "{header}");
    // A refresh answer carries no ID token: nothing to verify, and the sign-in's one stays.
    next_second().await;
    let session = manager.refresh("s", true).await.unwrap();
    assert_eq!((session.phase, session.last_error.as_ref()), (Phase::Active, None));
    let after = stored(&vault, "s").await.unwrap();
    assert_ne!(refresh_token(&after), refresh_token(&before));
    assert_eq!(id_token(&after), id_token(&before), "Canaille now sends an ID token with a refresh");
}

#[tokio::test]
async fn sign_out_says_the_tokens_stay_valid_because_revocation_is_for_confidential_clients() {
    let canaille = Canaille::start();
    let vault = keychain("canaille-sign-out");
    let manager = manager(vault.clone(), Policy::default()).await;
    signed_in(&manager, &canaille, "s", "alice").await;
    let secrets = stored(&vault, "s").await.unwrap();
    let outcome = manager.sign_out("s").await.unwrap();
    assert_eq!(outcome.session.phase, Phase::SignedOut);
    assert!(stored(&vault, "s").await.is_none(), "signed out here: nothing in the keychain");
    let revocation = &outcome.revocation;
    assert!(!revocation.refresh_token_revoked && !revocation.access_token_revoked, "{revocation:?}");
    let refused = "it answered HTTP 401 \"invalid_client: The client cannot authenticate with methods: ['client_secret_basic']\"";
    assert_eq!(revocation.problems, [format!("the refresh token: {refused}"), format!("the access token: {refused}")]);
    assert_eq!(
        revocation.notice.as_deref(),
        Some(
            format!(
                "Signed out on this computer, but the provider could not revoke the tokens ({refused}), so they stay valid there \
                 until they expire. To end them sooner, remove Session Keeper's access in your account at the provider."
            )
            .as_str()
        )
    );
    let end_session = outcome.end_session_url.expect("Canaille has an end-session endpoint");
    let end_session = end_session.expose();
    assert_eq!(end_session.as_str().split('?').next(), Some(format!("{}/oauth/end_session", canaille.issuer).as_str()));
    // What the 401 is, and what it leaves: the refresh token still works at Canaille.
    let (status, body) = canaille.raw_revoke(&refresh_token(&secrets)).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    next_second().await;
    let (status, _) = canaille.raw_refresh(&refresh_token(&secrets)).await;
    assert_eq!(status, 200, "the refresh token was revoked after all");
}
