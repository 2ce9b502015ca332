//! Interoperability: sign-in, refresh, revocation and sign-out against a second OpenID Provider,
//! django-oauth-toolkit (PyPI), written independently of oidc-provider and run with its defaults
//! (`tests/dot`), with the real Secret Service. Its quirks, as a user meets them: the issuer has a
//! path (`/o`); the revocation endpoint is published only in its RFC 8414 metadata, in the
//! path-inserted form (`/.well-known/oauth-authorization-server/o`); no end-session endpoint unless
//! the operator turns it on; only the scopes it lists are accepted (`offline_access` is refused, and
//! refresh tokens come without it); ID tokens carry only `sub` (the user's database id).

use session_keeper_testkit as support;

use secrecy::ExposeSecret;
use session_core::{Phase, Policy, SessionManager, SessionSnapshot};
use support::dot::Dot;
use support::{keychain, manager, refresh_token, stored};

async fn signed_in(manager: &SessionManager, dot: &Dot, id: &str, user: &str) -> SessionSnapshot {
    manager.add_session(id, dot.config(), None).await.unwrap();
    let url = manager.begin_sign_in(id).await.unwrap();
    let redirect = dot.login(&url, user).await;
    manager.complete_sign_in(id, &redirect).await.unwrap()
}

#[tokio::test]
async fn sign_in_keeps_the_tokens_in_the_keychain_and_names_the_user() {
    let dot = Dot::start();
    let vault = keychain("dot-sign-in");
    let manager = manager(vault.clone(), Policy::default()).await;
    let session = signed_in(&manager, &dot, "s", "alice").await;
    assert_eq!(session.phase, Phase::Active);
    assert!(session.has_refresh_token);
    // The toolkit's default subject is the user's database id; alice is the first user.
    assert_eq!(session.user.map(|u| u.subject), Some("1".into()));
    // Its default access-token lifetime: 36 000 s.
    let remaining = (session.access_token_expires_at.unwrap() - chrono::Utc::now()).num_seconds();
    assert!((35_990..=36_000).contains(&remaining), "expiry from expires_in: {remaining}");
    let secrets = stored(&vault, "s").await.expect("tokens in the keychain");
    assert!(secrets.id_token.is_some());
}

#[tokio::test]
async fn a_refresh_rotates_the_refresh_token_and_the_old_one_is_dead_there() {
    let dot = Dot::start();
    let vault = keychain("dot-refresh");
    let manager = manager(vault.clone(), Policy::default()).await;
    signed_in(&manager, &dot, "s", "alice").await;
    let before = stored(&vault, "s").await.unwrap();
    let session = manager.refresh("s", true).await.unwrap();
    assert_eq!((session.phase, session.last_error.as_ref()), (Phase::Active, None));
    let after = stored(&vault, "s").await.unwrap();
    assert_ne!(refresh_token(&after), refresh_token(&before), "the toolkit rotates refresh tokens by default");
    assert_ne!(after.access_token.expose_secret(), before.access_token.expose_secret());
    let (status, body) = dot.raw_refresh(&refresh_token(&before)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "the rotated-out token still works");
    // Concurrent triggers share one request: the session survives a burst of them with rotation on.
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let manager = manager.clone();
        callers.spawn(async move { manager.refresh("s", true).await });
    }
    while let Some(result) = callers.join_next().await {
        assert_eq!(result.unwrap().unwrap().phase, Phase::Active);
    }
    let latest = stored(&vault, "s").await.unwrap();
    let (status, _) = dot.raw_refresh(&refresh_token(&latest)).await;
    assert_eq!(status, 200, "the stored refresh token is not the provider's current one");
}

#[tokio::test]
async fn sign_out_revokes_through_the_path_inserted_oauth_metadata() {
    let dot = Dot::start();
    let openid: serde_json::Value =
        reqwest::get(format!("{}/.well-known/openid-configuration", dot.issuer)).await.unwrap().json().await.unwrap();
    assert!(openid.get("revocation_endpoint").is_none(), "the toolkit now lists it in its OpenID metadata: {openid}");
    let vault = keychain("dot-sign-out");
    let manager = manager(vault.clone(), Policy::default()).await;
    signed_in(&manager, &dot, "s", "alice").await;
    let secrets = stored(&vault, "s").await.unwrap();
    let outcome = manager.sign_out("s").await.unwrap();
    assert_eq!(outcome.session.phase, Phase::SignedOut);
    assert!(outcome.revocation.refresh_token_revoked && outcome.revocation.access_token_revoked, "{:?}", outcome.revocation);
    assert!(outcome.end_session_url.is_none(), "the toolkit has no end-session endpoint by default");
    assert!(stored(&vault, "s").await.is_none());
    let (status, body) = dot.raw_refresh(&refresh_token(&secrets)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "the refresh token still works there");
}

#[tokio::test]
async fn two_users_sign_in_side_by_side_and_one_signs_out() {
    let dot = Dot::start();
    let vault = keychain("dot-two");
    let manager = manager(vault.clone(), Policy::default()).await;
    signed_in(&manager, &dot, "alice", "alice").await;
    let bob = signed_in(&manager, &dot, "bob", "bob").await;
    assert_eq!(bob.user.map(|u| u.subject), Some("2".into()));
    manager.sign_out("alice").await.unwrap();
    assert_eq!(manager.refresh("bob", true).await.unwrap().phase, Phase::Active);
    assert_eq!(manager.snapshot("alice").await.unwrap().phase, Phase::SignedOut);
}
