//! `session-core` against the real OpenID Provider (oidc-provider, started per test on 127.0.0.1) and
//! the real Secret Service (gnome-keyring on the test run's private D-Bus bus).

use session_keeper_testkit as support;

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use session_core::{ErrorKind, JsonFileStore, Phase, Policy, SessionManager};
use support::{Idp, Ttls, keychain, manager, refresh_token, signed_in, stored, wait_for_phase};
use url::Url;

#[tokio::test]
async fn sign_in_validates_the_id_token_and_keeps_tokens_only_in_the_keychain() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("sign-in");
    let folder = std::env::temp_dir().join(format!("session-core-sign-in-{}", std::process::id()));
    let store = Arc::new(JsonFileStore::new(folder.join("sessions.json")));
    let manager = SessionManager::builder().vault(vault.clone()).store(store).build().await.unwrap();
    let session = signed_in(&manager, &idp, "work", "alice").await;

    assert_eq!(session.phase, Phase::Active);
    let user = session.user.clone().unwrap();
    assert_eq!((user.subject.as_str(), user.name.as_deref()), ("alice", Some("Alice Example")));
    assert_eq!(user.email.as_deref(), Some("alice@example.test"));
    assert!(session.has_refresh_token);
    // offline_access was asked for with prompt=consent (OIDC Core 11), and oidc-provider granted it.
    assert!(!session.refresh_token_online, "an offline refresh token");
    let remaining = session.access_token_expires_at.unwrap() - chrono::Utc::now();
    assert!((3590..=3600).contains(&remaining.num_seconds()), "expiry from expires_in: {remaining}");

    let secrets = stored(&vault, "work").await.expect("tokens in the keychain");
    manager.shutdown().await;
    let metadata = std::fs::read_to_string(folder.join("sessions.json")).unwrap();
    assert!(metadata.contains("Alice Example"));
    for token in [secrets.access_token.expose_secret(), &refresh_token(&secrets), secrets.id_token.as_ref().unwrap().expose_secret()] {
        assert!(!metadata.contains(token), "a token reached the metadata file");
    }
    let snapshot_json = serde_json::to_string(&session).unwrap();
    assert!(!snapshot_json.contains(secrets.access_token.expose_secret()));
}

#[tokio::test]
async fn a_redirect_that_is_not_ours_is_refused_and_nothing_is_stored() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("bad-redirect");
    let manager = manager(vault.clone(), Policy::default()).await;
    manager.add_session("s", idp.config(), None).await.unwrap();
    let url = manager.begin_sign_in("s").await.unwrap();
    let redirect = idp.login(&url, "alice").await;

    let mut forged_state = redirect.clone();
    forged_state.query_pairs_mut().clear().extend_pairs(
        redirect.query_pairs().map(
            |(k, v)| {
                if k == "state" { (k.into_owned(), "forged".to_owned()) } else { (k.into_owned(), v.into_owned()) }
            },
        ),
    );
    let err = manager.complete_sign_in("s", &forged_state).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRedirect, "{err}");
    assert_eq!(manager.snapshot("s").await.unwrap().phase, Phase::SigningIn, "a forged redirect cancelled the sign-in");

    let mut wrong_issuer = redirect.clone();
    wrong_issuer.query_pairs_mut().clear().extend_pairs(
        redirect
            .query_pairs()
            .map(|(k, v)| if k == "iss" { (k.into_owned(), "https://evil.example".to_owned()) } else { (k.into_owned(), v.into_owned()) }),
    );
    let err = manager.complete_sign_in("s", &wrong_issuer).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IssuerMismatch, "{err}");
    assert_eq!(manager.snapshot("s").await.unwrap().phase, Phase::SignedOut);
    assert!(stored(&vault, "s").await.is_none(), "tokens stored after a failed sign-in");

    let err = manager.complete_sign_in("s", &redirect).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoSignInPending, "a transaction was used twice: {err}");

    let url = manager.begin_sign_in("s").await.unwrap();
    let state = url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let denied = Url::parse(&format!(
        "http://127.0.0.1/callback?error=access_denied&error_description=user+said+no&state={state}&iss={}",
        idp.issuer
    ))
    .unwrap();
    let err = manager.complete_sign_in("s", &denied).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SignInRejected);
    assert!(err.to_string().contains("user said no"), "{err}");
    assert!(url.query_pairs().any(|(k, v)| k == "code_challenge_method" && v == "S256"));
}

#[tokio::test]
async fn discovery_refuses_a_wrong_issuer_and_an_unreachable_host_and_saves_nothing() {
    let idp = Idp::start_with(Ttls::default(), &[("IDP_ISSUER", "http://localhost:1/not-this-one")]);
    let vault = keychain("discovery");
    let manager = manager(vault, Policy::default()).await;
    let mut config = idp.config();
    config.issuer = idp.base().into();
    let err = manager.add_session("mismatch", config, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IssuerMismatch, "{err}");
    assert!(err.to_string().contains("http://localhost:1/not-this-one"), "{err}");

    let err = manager.add_session("offline", session_core::ProviderConfig::new("http://127.0.0.1:9", "c"), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ProviderUnavailable, "{err}");
    let err = manager.add_session("plain", session_core::ProviderConfig::new("http://id.example.com", "c"), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfiguration);
    assert!(manager.snapshots().await.unwrap().is_empty(), "a failed add saved a session");
}

#[tokio::test]
async fn a_forced_refresh_rotates_the_refresh_token_and_writes_it_through() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("rotation");
    let manager = manager(vault.clone(), Policy::default()).await;
    let before = signed_in(&manager, &idp, "s", "alice").await;
    let old = refresh_token(&stored(&vault, "s").await.unwrap());
    let requests = idp.token_requests().await;

    let after = manager.refresh("s", true).await.unwrap();
    assert_eq!(idp.token_requests().await - requests, 1);
    assert!(after.access_token_expires_at > before.access_token_expires_at);
    assert!(after.last_refresh_at.is_some());
    let new = refresh_token(&stored(&vault, "s").await.unwrap());
    assert_ne!(old, new, "the provider rotates refresh tokens");
    let (status, body) = idp.raw_refresh(&old).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "the old token still worked");
}

#[tokio::test]
async fn a_hundred_concurrent_refresh_triggers_make_one_token_request() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("coalescing");
    let manager = manager(vault, Policy::default()).await;
    signed_in(&manager, &idp, "s", "alice").await;
    let requests = idp.token_requests().await;
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let manager = manager.clone();
        callers.spawn(async move { manager.refresh("s", true).await });
    }
    while let Some(result) = callers.join_next().await {
        assert_eq!(result.unwrap().unwrap().phase, Phase::Active);
    }
    let stats = idp.stats().await;
    assert_eq!(stats["tokenRequests"].as_u64().unwrap() - requests, 1, "{stats}");
    assert!(stats["grantErrors"].as_object().unwrap().is_empty(), "{stats}");
    assert_eq!(manager.refresh("s", true).await.unwrap().phase, Phase::Active, "the grant survived");
}

#[tokio::test]
async fn the_session_expires_when_the_providers_refresh_token_ttl_runs_out() {
    let idp = Idp::start(Ttls { access: 2, refresh: 5 });
    let vault = keychain("ttl");
    let mut policy = Policy::default();
    policy.refresh.lead_time = Duration::from_secs(1);
    // Tokens of 2 s: refreshes every second, so the refresh token's 5 s run out between two of them.
    policy.refresh.min_refresh_interval = Duration::from_secs(1);
    let manager = manager(vault.clone(), policy).await;
    signed_in(&manager, &idp, "s", "alice").await;
    wait_for_phase(&manager, "s", Phase::Expired, Duration::from_secs(30)).await;
    let stats = idp.stats().await;
    assert!(stats["grants"]["refresh_token"].as_u64().unwrap() >= 1, "never refreshed: {stats}");
    assert_eq!(stats["grantErrors"]["invalid_grant"].as_u64(), Some(1), "{stats}");
    let session = manager.snapshot("s").await.unwrap();
    assert_eq!(session.last_error.unwrap().kind, ErrorKind::SessionRevoked);
    for _ in 0..50 {
        if stored(&vault, "s").await.is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the dead tokens stayed in the keychain");
}

#[tokio::test]
async fn revoking_the_grant_at_the_provider_ends_the_session_at_the_next_check() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("revoked");
    let mut policy = Policy::default();
    policy.refresh.validation_max_age = Duration::from_secs(1);
    // Each check comes after the re-check interval: the wall clock jumps instead of the test waiting.
    let clock = session_core::TestClock::starting_at(chrono::Utc::now());
    let manager = SessionManager::builder()
        .vault(vault)
        .policy(policy)
        .clock(Arc::new(clock.clone()))
        .request_timeout(Duration::from_secs(5))
        .build()
        .await
        .unwrap();
    signed_in(&manager, &idp, "s", "alice").await;
    clock.jump(chrono::TimeDelta::seconds(2));
    assert_eq!(manager.refresh("s", false).await.unwrap().phase, Phase::Active, "fresh session judged revoked");
    idp.revoke_user("alice").await;
    clock.jump(chrono::TimeDelta::seconds(2));
    let err = manager.refresh("s", false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionRevoked, "{err}");
    assert_eq!(manager.snapshot("s").await.unwrap().phase, Phase::Expired);
}

#[tokio::test]
async fn sign_out_revokes_at_the_provider_and_builds_the_end_session_url() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("sign-out");
    let manager = manager(vault.clone(), Policy::default()).await;
    signed_in(&manager, &idp, "s", "alice").await;
    let secrets = stored(&vault, "s").await.unwrap();

    let outcome = manager.sign_out("s").await.unwrap();
    assert_eq!(outcome.session.phase, Phase::SignedOut);
    let last = outcome.session.history.last().map(|mark| mark.what);
    assert_eq!(last, Some(session_core::MarkKind::SignedOut), "the timeline says the session was signed out");
    assert!(outcome.revocation.refresh_token_revoked && outcome.revocation.access_token_revoked, "{:?}", outcome.revocation);
    assert!(stored(&vault, "s").await.is_none());
    let (status, body) = idp.raw_refresh(&refresh_token(&secrets)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    let url = outcome.end_session_url.expect("the provider has an end-session endpoint");
    let pairs: Vec<(String, String)> = url.expose().query_pairs().into_owned().collect();
    assert!(url.expose().as_str().starts_with(&format!("{}/session/end", idp.issuer)));
    assert!(pairs.contains(&("id_token_hint".into(), secrets.id_token.unwrap().expose_secret().to_owned())));
    assert!(pairs.contains(&("post_logout_redirect_uri".into(), "http://127.0.0.1/signed-out".into())));
    assert!(!format!("{url:?}").contains("id_token_hint="), "the URL's Debug shows the ID token");
    let err = manager.refresh("s", true).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSignedIn);
}

#[tokio::test]
async fn a_revocation_endpoint_published_only_in_oauth_metadata_is_used_at_sign_out() {
    // Some providers list their revocation endpoint only in RFC 8414 metadata.
    let idp = Idp::start_with(Ttls::default(), &[("IDP_REVOCATION_IN_RFC8414_ONLY", "1")]);
    let openid: serde_json::Value =
        reqwest::get(format!("{}/.well-known/openid-configuration", idp.issuer)).await.unwrap().json().await.unwrap();
    assert!(openid.get("revocation_endpoint").is_none(), "the provider still lists it: {openid}");
    let vault = keychain("sign-out-rfc8414");
    let manager = manager(vault.clone(), Policy::default()).await;
    signed_in(&manager, &idp, "s", "alice").await;
    let secrets = stored(&vault, "s").await.unwrap();
    let outcome = manager.sign_out("s").await.unwrap();
    assert!(outcome.revocation.refresh_token_revoked, "{:?}", outcome.revocation);
    let (status, body) = idp.raw_refresh(&refresh_token(&secrets)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "the refresh token still works there");
}

#[tokio::test]
async fn local_sign_out_succeeds_with_the_provider_down() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("sign-out-offline");
    let manager = manager(vault.clone(), Policy::default()).await;
    signed_in(&manager, &idp, "s", "alice").await;
    drop(idp);
    let outcome = manager.sign_out("s").await.unwrap();
    assert_eq!(outcome.session.phase, Phase::SignedOut);
    assert!(!outcome.revocation.refresh_token_revoked);
    assert!(!outcome.revocation.problems.is_empty());
    let notice = outcome.revocation.notice.expect("the user is told the tokens were not revoked");
    assert!(notice.starts_with("Signed out on this computer, but the provider could not revoke the tokens ("), "{notice}");
    assert!(stored(&vault, "s").await.is_none());
}

#[tokio::test]
async fn a_provider_outage_during_refresh_keeps_the_session_until_it_returns() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("outage");
    let mut policy = Policy::default();
    policy.refresh.retry_initial_delay = Duration::from_millis(200);
    let manager = manager(vault.clone(), policy).await;
    signed_in(&manager, &idp, "s", "alice").await;

    for mode in ["503", "reset"] {
        let before = refresh_token(&stored(&vault, "s").await.unwrap());
        idp.fail_token_requests(2, mode).await;
        let err = manager.refresh("s", true).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ProviderUnavailable, "{mode}: {err}");
        let session = manager.snapshot("s").await.unwrap();
        assert!(matches!(session.phase, Phase::Active | Phase::Refreshing), "{mode}: {:?}", session.phase);
        assert_eq!(refresh_token(&stored(&vault, "s").await.unwrap()), before, "{mode}: token lost in an outage");
        // The scheduler retries by itself with backoff; the second retry meets a healthy provider.
        let mut events = manager.subscribe();
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Ok(session_core::SessionEvent::Changed { session }) = events.recv().await
                    && session.consecutive_failures == 0
                    && session.phase == Phase::Active
                {
                    return;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{mode}: never recovered"));
    }
    assert_eq!(manager.snapshot("s").await.unwrap().last_error, None);
}

#[tokio::test]
async fn a_restarted_manager_restores_the_session_from_the_keychain() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("restart");
    let path = std::env::temp_dir().join(format!("session-core-restart-{}/sessions.json", std::process::id()));
    let build = || SessionManager::builder().vault(vault.clone()).store(Arc::new(JsonFileStore::new(&path))).build();
    let first = build().await.unwrap();
    let before = signed_in(&first, &idp, "s", "alice").await;
    first.shutdown().await;

    let second = build().await.unwrap();
    let restored = second.snapshot("s").await.unwrap();
    assert_eq!((restored.phase, restored.user.clone()), (Phase::Active, before.user.clone()));
    assert_eq!(restored.access_token_expires_at, before.access_token_expires_at);
    assert_eq!(second.refresh("s", true).await.unwrap().phase, Phase::Active);
}

#[tokio::test]
async fn two_accounts_on_one_provider_live_side_by_side_and_sign_out_independently() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("two-accounts");
    let manager = manager(vault.clone(), Policy::default()).await;
    signed_in(&manager, &idp, "alice", "alice").await;
    let bob = signed_in(&manager, &idp, "bob", "bob").await;
    assert_eq!(bob.user.unwrap().name.as_deref(), Some("Bob Example"));
    manager.sign_out("alice").await.unwrap();
    assert_eq!(manager.snapshot("alice").await.unwrap().phase, Phase::SignedOut);
    assert_eq!(manager.refresh("bob", true).await.unwrap().phase, Phase::Active);
    assert!(stored(&vault, "bob").await.is_some());
}

/// A plain HTTP client for the loopback listener, standing in for the browser's last hop.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test]
async fn a_system_browser_sign_in_takes_the_redirect_on_an_ephemeral_loopback_port() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("browser-sign-in");
    let manager = manager(vault.clone(), Policy::default()).await;
    let mut config = idp.config();
    config.sign_in_with = session_core::SignInWith::SystemBrowser;
    manager.add_session("s", config, None).await.unwrap();

    let (opened, authorization_url) = tokio::sync::oneshot::channel::<Url>();
    let sign_in = tokio::spawn({
        let manager = manager.clone();
        async move {
            let open = move |url: &Url| opened.send(url.clone()).map_err(|_| "test gone".to_owned());
            manager.sign_in_with_browser("s", open, Duration::from_secs(30), Default::default()).await
        }
    });
    let url = authorization_url.await.unwrap();
    let redirect_uri = Url::parse(&url.query_pairs().find(|(k, _)| k == "redirect_uri").unwrap().1).unwrap();
    let port = redirect_uri.port().expect("the redirect URI carries the listener's port");
    assert_eq!((redirect_uri.host_str(), redirect_uri.path()), (Some("127.0.0.1"), "/callback"));

    // Other local programs can reach the port: what is not this sign-in's redirect is answered and ignored.
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(browser().get(format!("{base}/favicon.ico")).send().await.unwrap().status(), 404);
    let foreign = browser().get(format!("{base}/callback?code=stolen&state=not-ours")).send().await.unwrap();
    assert_eq!(foreign.status(), 400);
    assert!(foreign.text().await.unwrap().contains("state does not belong"));
    let garbage = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    drop(garbage);
    assert_eq!(manager.snapshot("s").await.unwrap().phase, Phase::SigningIn, "still waiting for its own redirect");

    let redirect = idp.login(&url, "alice").await;
    assert_eq!(redirect.port(), Some(port));
    let page = browser().get(redirect).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("You can close this window"));
    let session = sign_in.await.unwrap().unwrap();
    assert_eq!(session.phase, Phase::Active);
    assert_eq!(session.user.unwrap().subject, "alice");
    assert!(stored(&vault, "s").await.is_some(), "tokens in the keychain");
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(), "the port closed");
}

#[tokio::test]
async fn a_browser_sign_in_that_never_returns_times_out_and_stores_nothing() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("browser-timeout");
    let manager = manager(vault.clone(), Policy::default()).await;
    let mut config = idp.config();
    config.sign_in_with = session_core::SignInWith::SystemBrowser;
    manager.add_session("s", config, None).await.unwrap();

    let mut port = None;
    let open = |url: &Url| {
        let redirect = url.query_pairs().find(|(k, _)| k == "redirect_uri").unwrap().1.into_owned();
        port = Url::parse(&redirect).unwrap().port();
        Ok(())
    };
    let err = manager.sign_in_with_browser("s", open, Duration::from_secs(1), Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SignInTimedOut);
    assert!(err.to_string().contains("Start the sign-in again"), "{err}");
    assert_eq!(manager.snapshot("s").await.unwrap().phase, Phase::SignedOut);
    assert!(stored(&vault, "s").await.is_none());
    let port = port.expect("the browser was opened");
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(), "port {port} still open");

    let failing = |_: &Url| Err("no browser configured".to_owned());
    let err = manager.sign_in_with_browser("s", failing, Duration::from_secs(30), Default::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrowserUnavailable);
    assert_eq!(manager.snapshot("s").await.unwrap().phase, Phase::SignedOut);
}

#[tokio::test]
async fn the_token_helper_gets_the_current_token_and_refreshes_first_within_the_lead_time() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("access-token");
    // The scheduler checks the wall clock only hourly here, so the jump below (a machine waking from
    // sleep) is seen first by the token helper's call.
    let clock = Arc::new(session_core::TestClock::starting_at(chrono::Utc::now()));
    let manager =
        SessionManager::builder().vault(vault.clone()).clock(clock.clone()).wake_interval(Duration::from_secs(3600)).build().await.unwrap();
    let err = manager.access_token("nobody").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownSession);
    manager.add_session("s", idp.config(), None).await.unwrap();
    assert_eq!(manager.access_token("s").await.unwrap_err().kind(), ErrorKind::NotSignedIn);
    let url = manager.begin_sign_in("s").await.unwrap();
    manager.complete_sign_in("s", &idp.login(&url, "alice").await).await.unwrap();

    // Fresh (an hour left, lead time 60 s): the token in the keychain, no token request.
    let requests = idp.token_requests().await;
    let token = manager.access_token("s").await.unwrap();
    assert_eq!(idp.token_requests().await, requests);
    assert_eq!(token.token.expose_secret(), stored(&vault, "s").await.unwrap().access_token.expose_secret());
    let first = token.token.expose_secret().to_owned();

    // 30 s left, inside the lead time: the caller gets a refreshed token, from one request.
    clock.jump(chrono::TimeDelta::seconds(3600 - 30));
    let token = manager.access_token("s").await.unwrap();
    assert_eq!(idp.token_requests().await, requests + 1);
    assert_ne!(token.token.expose_secret(), first, "a token within the lead time was handed out");
    assert_eq!(token.token.expose_secret(), stored(&vault, "s").await.unwrap().access_token.expose_secret());
    let left = token.expires_at.unwrap() - session_core::Clock::now(clock.as_ref());
    assert!(left.num_seconds() > 3000, "{left}");
    assert!(!format!("{token:?}").contains(token.token.expose_secret()), "Debug shows the token");

    // A program that needs the token for longer than it has left gets a refreshed one, once.
    let needs = |seconds| session_core::TokenRequest {
        min_valid: Duration::from_secs(seconds),
        program: "/usr/bin/kubectl".into(),
        ..Default::default()
    };
    let before = idp.token_requests().await;
    let same = manager.hand_out("s", &needs(600)).await.unwrap();
    assert_eq!(
        (idp.token_requests().await, same.token.expose_secret()),
        (before, token.token.expose_secret()),
        "enough time left: no refresh"
    );
    // (Past the 5-s floor between automatic refreshes, which keeps a program asking in a loop from
    // storming the provider.)
    clock.jump(chrono::TimeDelta::seconds(10));
    let longer = manager.hand_out("s", &needs(3595)).await.unwrap();
    assert_eq!(idp.token_requests().await, before + 1, "one refresh for a longer need");
    assert_ne!(longer.token.expose_secret(), token.token.expose_secret());

    // The ID token, with its own expiry; and no token exchange where the provider offers none.
    let id = manager.hand_out("s", &session_core::TokenRequest { id_token: true, ..Default::default() }).await.unwrap();
    assert_eq!(Some(id.token.expose_secret()), stored(&vault, "s").await.unwrap().id_token.as_ref().map(|t| t.expose_secret()));
    assert!(id.expires_at.is_some_and(|at| at > chrono::Utc::now()), "{:?}", id.expires_at);
    let exchange = session_core::TokenRequest { audience: Some("https://api.example".into()), ..Default::default() };
    let err = manager.hand_out("s", &exchange).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotOffered);
    assert!(err.to_string().contains("token exchange (RFC 8693)"), "{err}");

    // Each hand-out is in the history with the program that asked, never with a token (repeats
    // within a minute as one mark with a count).
    let history = manager.snapshot("s").await.unwrap().history;
    let programs: Vec<_> = history
        .iter()
        .filter(|m| m.what == session_core::MarkKind::HandedOut)
        .flat_map(|m| std::iter::repeat_n(m.detail.clone().unwrap(), m.count as usize))
        .collect();
    assert_eq!(programs.iter().filter(|p| *p == "/usr/bin/kubectl").count(), 2, "{programs:?}");
    assert_eq!(programs.len(), 5, "{programs:?}");

    manager.sign_out("s").await.unwrap();
    assert_eq!(manager.access_token("s").await.unwrap_err().kind(), ErrorKind::NotSignedIn);
}

#[tokio::test]
async fn a_shutdown_during_a_refresh_waits_for_the_rotated_token_and_loses_nothing() {
    // A quit, a log-out or a SIGTERM lands after the provider has rotated the refresh token and
    // before its answer arrives. Before, the refresh was aborted, the keychain kept the spent token and
    // the next start got invalid_grant: the user was signed out by our doing.
    let idp = Idp::start(Ttls::default());
    let vault = keychain("stop-during-refresh");
    let folder = std::env::temp_dir().join(format!("session-core-stop-{}", std::process::id()));
    let store = || Arc::new(JsonFileStore::new(folder.join("sessions.json")));
    let manager = SessionManager::builder().vault(vault.clone()).store(store()).build().await.unwrap();
    signed_in(&manager, &idp, "s", "alice").await;
    let before = refresh_token(&stored(&vault, "s").await.unwrap());
    let requests = idp.token_requests().await;
    idp.slow_token_requests(1, 1500).await;
    let refreshing = tokio::spawn({
        let manager = manager.clone();
        async move { manager.refresh("s", true).await }
    });
    idp.wait_for_token_requests(requests + 1).await;
    manager.shutdown().await;
    assert_eq!(refreshing.await.unwrap().unwrap().phase, Phase::Active, "the refresh in flight was cut off");
    let after = refresh_token(&stored(&vault, "s").await.unwrap());
    assert_ne!(after, before, "the rotated refresh token never reached the keychain");

    let restarted = SessionManager::builder().vault(vault.clone()).store(store()).build().await.unwrap();
    assert_eq!(restarted.refresh("s", true).await.unwrap().phase, Phase::Active);
    let stats = idp.stats().await;
    assert!(stats["grantErrors"].as_object().unwrap().is_empty(), "a spent refresh token was used: {stats}");
    let _ = std::fs::remove_dir_all(&folder);
}

/// What the provider's userinfo endpoint says about an access token (200 and the claims, or the status).
async fn userinfo(idp: &Idp, token: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new().get(format!("{}/me", idp.base())).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_narrower_scope_comes_from_a_refresh_with_scope_and_the_session_keeps_its_own_tokens() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("narrowed");
    let manager = manager(vault.clone(), Policy::default()).await;
    signed_in(&manager, &idp, "s", "alice").await;
    let before = stored(&vault, "s").await.unwrap();
    let requests = idp.token_requests().await;

    let narrow =
        |scope: &str| session_core::TokenRequest { scope: Some(scope.into()), program: "/usr/bin/curl".into(), ..Default::default() };
    let token = manager.hand_out("s", &narrow("openid")).await.unwrap();
    assert_eq!(idp.token_requests().await, requests + 1, "one refresh with scope");
    let (status, claims) = userinfo(&idp, token.token.expose_secret()).await;
    assert_eq!((status, claims["sub"].as_str()), (200, Some("alice")), "{claims}");
    assert!(claims.get("email").is_none(), "the narrowed token carries only openid: {claims}");
    let (_, own) = userinfo(&idp, before.access_token.expose_secret()).await;
    assert_eq!(own["email"].as_str(), Some("alice@example.test"), "the session's own token keeps its scope");

    // The session keeps its own access and ID token; the rotated refresh token is its own now.
    let after = stored(&vault, "s").await.unwrap();
    assert_eq!(after.access_token.expose_secret(), before.access_token.expose_secret());
    assert_eq!(after.id_token.as_ref().map(|t| t.expose_secret()), before.id_token.as_ref().map(|t| t.expose_secret()));
    assert_ne!(refresh_token(&after), refresh_token(&before), "the provider rotated the refresh token and the keychain has it");
    let history = manager.snapshot("s").await.unwrap().history;
    assert!(history.iter().any(|m| m.what == session_core::MarkKind::HandedOut && m.detail.as_deref() == Some("/usr/bin/curl")));

    // Asked again (scopes in any order): the same token while it lasts, no second request.
    let again = manager.hand_out("s", &narrow("openid openid")).await.unwrap();
    assert_eq!((again.token.expose_secret(), idp.token_requests().await), (token.token.expose_secret(), requests + 1));
    // A scope the session does not have: refused without a request.
    let err = manager.hand_out("s", &narrow("openid admin")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotOffered);
    assert!(err.to_string().contains("\"admin\""), "{err}");
    assert_eq!(idp.token_requests().await, requests + 1);

    // The session goes on refreshing with the rotated token, and a narrowing asked while a refresh
    // is in flight waits for it and uses the token it rotated: no spent token is ever used.
    manager.refresh("s", true).await.unwrap();
    idp.slow_token_requests(1, 400).await;
    let requests = idp.token_requests().await;
    let wider = narrow("openid email");
    let (refreshed, narrowed) = tokio::join!(manager.refresh("s", true), manager.hand_out("s", &wider));
    refreshed.unwrap();
    let (_, claims) = userinfo(&idp, narrowed.unwrap().token.expose_secret()).await;
    assert_eq!(claims["email"].as_str(), Some("alice@example.test"));
    assert_eq!(idp.token_requests().await, requests + 2, "one after the other");
    assert!(idp.stats().await["grantErrors"].as_object().unwrap().is_empty(), "{}", idp.stats().await);
    let err = manager.hand_out("nobody", &narrow("openid")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownSession);
}

#[tokio::test]
async fn a_token_for_another_audience_comes_from_token_exchange_where_the_provider_offers_it() {
    let idp = Idp::start_with(Ttls::default(), &[("IDP_TOKEN_EXCHANGE", "1")]);
    let vault = keychain("exchange");
    let manager = manager(vault.clone(), Policy::default()).await;
    signed_in(&manager, &idp, "s", "alice").await;
    let before = stored(&vault, "s").await.unwrap();
    let requests = idp.token_requests().await;
    let exchange = |scope: Option<&str>| session_core::TokenRequest {
        audience: Some("https://api.example".into()),
        scope: scope.map(str::to_owned),
        program: "/usr/bin/kubectl".into(),
        ..Default::default()
    };
    let token = manager.hand_out("s", &exchange(Some("openid"))).await.unwrap();
    assert_eq!(idp.token_requests().await, requests + 1);
    assert_ne!(token.token.expose_secret(), before.access_token.expose_secret());
    assert!(token.expires_at.is_some_and(|at| at > chrono::Utc::now()));
    assert_eq!(idp.stats().await["exchanges"], serde_json::json!([{ "audience": "https://api.example", "scope": "openid" }]));
    // The provider made it for that audience: its own userinfo refuses it, and the session's own token
    // and refresh token are untouched.
    assert_eq!(userinfo(&idp, token.token.expose_secret()).await.0, 401);
    let after = stored(&vault, "s").await.unwrap();
    assert_eq!((after.access_token.expose_secret(), refresh_token(&after)), (before.access_token.expose_secret(), refresh_token(&before)));
    // A scope wider than the session's token: the provider refuses, and the message says so.
    let err = manager.hand_out("s", &exchange(Some("openid admin"))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotOffered);
    assert!(err.to_string().contains("invalid_scope"), "{err}");
    assert_eq!(manager.snapshot("s").await.unwrap().phase, Phase::Active, "the session is not affected");
}

/// This computer's clock five minutes ahead of the provider's, and five minutes behind, with ID tokens
/// that live two minutes: the offset read from the provider's `Date` header puts the ID token's `exp`
/// on the provider's clock, so sign-in and refresh accept valid tokens (ahead, the token would look
/// expired on arrival; behind, issued in the future), expiries count from the answers' arrival, and a
/// program handed the ID token gets its true remaining life on this computer's clock.
#[tokio::test]
async fn a_client_clock_five_minutes_off_the_providers_neither_expires_nor_refuses_valid_tokens() {
    let idp = Idp::start(Ttls { access: 120, ..Ttls::default() });
    for skew in [chrono::TimeDelta::minutes(5), chrono::TimeDelta::minutes(-5)] {
        let clock = Arc::new(session_core::TestClock::starting_at(chrono::Utc::now() + skew));
        let manager =
            SessionManager::builder().vault(Arc::new(session_core::MemoryVault::default())).clock(clock.clone()).build().await.unwrap();
        let session = signed_in(&manager, &idp, "skewed", "alice").await;
        assert_eq!((session.phase, session.last_error), (Phase::Active, None), "sign-in with the clock {skew} off");
        let session = manager.refresh("skewed", true).await.unwrap_or_else(|err| panic!("refresh with the clock {skew} off: {err}"));
        assert_eq!((session.phase, session.last_error.as_ref()), (Phase::Active, None));
        let remaining = session.access_token_expires_at.unwrap() - session_core::Clock::now(&*clock);
        assert!((115..=120).contains(&remaining.num_seconds()), "access token expiry on this clock, {skew} off: {remaining}");
        let request = session_core::TokenRequest { id_token: true, program: "test".into(), ..Default::default() };
        let id_token = manager.hand_out("skewed", &request).await.unwrap();
        let remaining = id_token.expires_at.unwrap() - session_core::Clock::now(&*clock);
        assert!((115..=121).contains(&remaining.num_seconds()), "ID token expiry on this clock, {skew} off: {remaining}");
        manager.shutdown().await;
    }
}

/// The desktop's connectivity reaches a session added after it was reported, even the first one: a
/// session added while offline is shown offline at once, and learns the network's return.
#[tokio::test]
async fn a_session_added_while_offline_is_offline_from_the_start() {
    let idp = Idp::start(Ttls::default());
    let manager = manager(keychain("added-offline"), Policy::default()).await;
    manager.connectivity_changed(session_core::Network::Offline);
    let added = manager.add_session("s", idp.config(), None).await.unwrap();
    assert_eq!(added.network, session_core::Network::Offline, "the snapshot the dialog gets back");
    manager.connectivity_changed(session_core::Network::Online);
    assert_eq!(manager.snapshot("s").await.unwrap().network, session_core::Network::Online);
}
