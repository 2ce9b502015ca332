//! Silent sign-in (issue 26) against the real test provider (oidc-provider) with short absolute refresh
//! token lifetimes and a long provider session. The hidden window is the test browser of
//! `tests/support/src/silent.rs` (an HTTP client with the provider's cookie jar, standing in for the
//! plugin's WebKit window); the person's interactive sign-in goes through the same jar, as the embedded
//! window shares its cookie store with the hidden one. Tokens live in a memory vault.

use session_keeper_testkit as support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use session_core::{ErrorKind, MemoryVault, Phase, Policy, SessionEvent, SessionManager, SessionSnapshot, SilentOutcome, TokenRequest};
use support::silent::TestSilentBrowser;
use support::{Idp, Ttls};

/// Refresh and silent sign-in on a test's scale: a 3 s bound on the hidden window.
fn policy() -> Policy {
    let mut policy = Policy::default();
    policy.refresh.lead_time = Duration::from_secs(1);
    policy.refresh.min_refresh_interval = Duration::from_secs(1);
    policy.lifetime.silent_sign_in_timeout = Duration::from_secs(3);
    policy
}

/// The provider: access tokens for `access` s, absolute refresh tokens for `refresh` s (announced as
/// `refresh_expires_in` when `announce`), a provider session of an hour.
fn provider(access: u64, refresh: u64, announce: bool, extra: &[(&str, &str)]) -> Idp {
    let mut env = vec![("IDP_REFRESH_TOKEN_ABSOLUTE", "1"), ("IDP_SESSION_TTL", "3600")];
    if announce {
        env.push(("IDP_ANNOUNCE_REFRESH_EXPIRY", "1"));
    }
    env.extend_from_slice(extra);
    Idp::start_with(Ttls { access, refresh }, &env)
}

async fn manager(browser: &Arc<TestSilentBrowser>) -> SessionManager {
    SessionManager::builder()
        .vault(Arc::new(MemoryVault::new()))
        .policy(policy())
        .silent_browser(browser.clone())
        .request_timeout(Duration::from_secs(5))
        .wake_interval(Duration::from_millis(500))
        .build()
        .await
        .unwrap()
}

/// Adds session `id` and signs `user` in through the provider's pages in the browser's jar.
async fn signed_in(manager: &SessionManager, idp: &Idp, browser: &TestSilentBrowser, id: &str, user: &str) -> SessionSnapshot {
    manager.add_session(id, idp.config(), None).await.unwrap();
    let url = manager.begin_sign_in(id).await.unwrap();
    let redirect = browser.login(&url, user).await;
    manager.complete_sign_in(id, &redirect).await.unwrap()
}

/// Waits, bounded, for a snapshot of `id` that `wanted` accepts.
async fn wait_for(manager: &SessionManager, id: &str, within: Duration, wanted: impl Fn(&SessionSnapshot) -> bool) -> SessionSnapshot {
    let mut events = manager.subscribe();
    let now = manager.snapshot(id).await.unwrap();
    if wanted(&now) {
        return now;
    }
    tokio::time::timeout(within, async {
        loop {
            if let Ok(SessionEvent::Changed { session }) = events.recv().await
                && session.id == id
                && wanted(&session)
            {
                return session;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("session {id} did not get there within {within:?}"))
}

#[tokio::test]
async fn a_session_outlives_several_refresh_token_lifetimes_with_no_error_and_no_attention() {
    let idp = provider(2, 5, true, &[]);
    let browser = TestSilentBrowser::new();
    let manager = manager(&browser).await;
    let first = signed_in(&manager, &idp, &browser, "work", "alice").await;
    assert!(first.silent.possible && first.refresh_token_expires_at.is_some(), "{:?}", first.silent);
    assert!(!first.sign_in_again_soon, "a session that renews silently is not told to sign in again");
    let first_end = first.ends_at.unwrap();

    // Three refresh-token lifetimes and a bit: every change is watched.
    let mut events = manager.subscribe();
    let watch = Duration::from_secs(3 * 5 + 2);
    let mut renewed = 0;
    let _ = tokio::time::timeout(watch, async {
        loop {
            if let Ok(SessionEvent::Changed { session }) = events.recv().await {
                assert!(session.signed_in, "the session ended: {:?}", session.last_error);
                assert!(!session.needs_attention && !session.failing, "the person was asked for: {:?}", session.last_error);
                assert!(session.last_error.is_none(), "an error was shown: {:?}", session.last_error);
                if session.silent.last.as_ref().is_some_and(|l| l.outcome == SilentOutcome::Renewed) && !session.silent.attempting {
                    renewed += 1;
                }
            }
        }
    })
    .await;
    let now = manager.snapshot("work").await.unwrap();
    assert_eq!(now.phase, Phase::Active);
    assert!(now.ends_at.unwrap() > first_end + chrono::TimeDelta::seconds(3 * 5), "the end moved with each new refresh token");
    let (_, silent) = idp.authorizations().await;
    assert!(silent >= 3, "{silent} silent sign-ins in three refresh-token lifetimes");
    assert!(renewed >= 3, "{renewed} renewals seen");
    assert!(now.history.iter().any(|m| m.what.as_str() == "silent_sign_in" && m.detail.as_deref() == Some("renewed")));
    let token = manager.access_token("work").await.unwrap();
    assert!(token.expires_at.unwrap() > chrono::Utc::now());
}

#[tokio::test]
async fn the_providers_session_ending_expires_the_session_once_with_sign_in_needed_and_no_more_attempts() {
    let idp = provider(2, 4, true, &[]);
    let browser = TestSilentBrowser::new();
    let manager = manager(&browser).await;
    signed_in(&manager, &idp, &browser, "work", "alice").await;
    idp.end_provider_session("alice").await;

    let ended = wait_for(&manager, "work", Duration::from_secs(10), |s| s.phase == Phase::Expired).await;
    assert_eq!(ended.last_error.as_ref().map(|e| e.kind), Some(ErrorKind::SignInNeeded), "{:?}", ended.last_error);
    assert_eq!(ended.silent.last.as_ref().map(|l| l.outcome), Some(SilentOutcome::NeedsSignIn));
    assert!(!ended.silent.possible && ended.needs_attention);
    let (_, attempts) = idp.authorizations().await;
    assert_eq!(attempts, 1, "one silent sign-in was asked, no more");

    // Neither a program nor a person makes another attempt.
    let refused = manager.access_token("work").await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::NotSignedIn);
    assert!(manager.refresh("work", false).await.is_err());
    assert_eq!(manager.silent_sign_in("work").await.unwrap_err().kind(), ErrorKind::SignInNeeded);
    assert_eq!(idp.authorizations().await.1, 1);
    let now = manager.snapshot("work").await.unwrap();
    assert_eq!(now.history.iter().filter(|m| m.what.as_str() == "expired").map(|m| m.count).sum::<u32>(), 1, "one expiry");
    assert_eq!(browser.navigations(), 1);

    // Signing in again (interactively) works and lifts the block.
    let url = manager.begin_sign_in("work").await.unwrap();
    let redirect = browser.login(&url, "alice").await;
    let again = manager.complete_sign_in("work", &redirect).await.unwrap();
    assert!(again.signed_in && again.silent.possible);
}

#[tokio::test]
async fn an_answer_for_another_user_is_refused_and_the_session_stays_as_it_was() {
    // A provider that does not hold `id_token_hint` against its signed-in user: the client must.
    let idp = provider(3600, 3600, true, &[("IDP_IGNORE_ID_TOKEN_HINT", "1")]);
    let browser = TestSilentBrowser::new();
    let manager = manager(&browser).await;
    // Alice signs in elsewhere (another jar); the hidden window's jar holds bob's provider session.
    manager.add_session("work", idp.config(), None).await.unwrap();
    let url = manager.begin_sign_in("work").await.unwrap();
    let before = manager.complete_sign_in("work", &idp.login(&url, "alice").await).await.unwrap();
    let token_before = manager.access_token("work").await.unwrap();
    signed_in(&manager, &idp, &browser, "other", "bob").await;
    let revocations = idp.stats().await["revocations"].as_u64().unwrap();

    let refused = manager.silent_sign_in("work").await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::OtherUser, "{refused}");
    let after = manager.snapshot("work").await.unwrap();
    assert_eq!(
        (after.phase, after.user.clone(), after.access_token_expires_at),
        (before.phase, before.user.clone(), before.access_token_expires_at)
    );
    assert_eq!(after.silent.last.as_ref().map(|l| l.outcome), Some(SilentOutcome::Refused));
    assert!(after.last_error.is_none() && !after.needs_attention);
    let token_after = manager.access_token("work").await.unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(token_after.token.expose_secret(), token_before.token.expose_secret(), "the session's tokens are the same");
    // Bob's answer was dropped, not revoked: revoking it would have ended bob's whole grant at the
    // provider, and with it this app's own session of bob.
    assert_eq!(idp.stats().await["revocations"].as_u64().unwrap(), revocations, "nothing of bob's was revoked");
    let bob = manager.refresh("other", true).await.unwrap();
    assert!(bob.signed_in && bob.last_error.is_none(), "bob's own session still refreshes: {:?}", bob.last_error);
    // The same answer would come again: no further attempt until the person signs in.
    assert!(after.silent.last.is_some() && !after.silent.possible);
    assert_eq!(manager.silent_sign_in("work").await.unwrap_err().kind(), ErrorKind::SignInNeeded);
}

#[tokio::test]
async fn after_sign_out_no_silent_sign_in_happens() {
    let idp = provider(2, 4, true, &[]);
    let browser = TestSilentBrowser::new();
    let manager = manager(&browser).await;
    signed_in(&manager, &idp, &browser, "work", "alice").await;
    manager.sign_out("work").await.unwrap();
    assert_eq!(manager.access_token("work").await.unwrap_err().kind(), ErrorKind::NotSignedIn);
    assert!(manager.silent_sign_in("work").await.is_err());
    // Past the refresh token's end, nothing wakes it.
    let mut events = manager.subscribe();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(SessionEvent::Changed { session }) = events.recv().await {
                assert!(!session.silent.attempting, "a signed-out session tried a silent sign-in");
            }
        }
    })
    .await;
    assert_eq!(idp.authorizations().await.1, 0);
    assert_eq!(browser.navigations(), 0);
}

#[tokio::test]
async fn a_provider_page_that_never_redirects_is_abandoned_within_the_timeout_and_changes_nothing() {
    let idp = provider(3600, 3600, true, &[]);
    let browser = TestSilentBrowser::new();
    let manager = manager(&browser).await;
    signed_in(&manager, &idp, &browser, "work", "alice").await;
    // The figures: a silent sign-in through the test browser beside a refresh (debug build).
    let mut silent_ms = Vec::new();
    let mut refresh_ms = Vec::new();
    for _ in 0..10 {
        let began = Instant::now();
        manager.silent_sign_in("work").await.unwrap();
        silent_ms.push(began.elapsed().as_secs_f64() * 1000.0);
        let began = Instant::now();
        manager.refresh("work", true).await.unwrap();
        refresh_ms.push(began.elapsed().as_secs_f64() * 1000.0);
    }
    silent_ms.sort_by(f64::total_cmp);
    refresh_ms.sort_by(f64::total_cmp);
    eprintln!("silent sign-in ms (sorted): {silent_ms:.1?}; forced refresh ms: {refresh_ms:.1?}");
    let before = manager.snapshot("work").await.unwrap();
    idp.hang_authorization(1).await;
    let began = Instant::now();
    let failed = manager.silent_sign_in("work").await.unwrap_err();
    let took = began.elapsed();
    assert_eq!(failed.kind(), ErrorKind::SignInTimedOut, "{failed}");
    assert!(took >= Duration::from_secs(3) && took < Duration::from_secs(5), "abandoned after {took:?} (bound 3 s)");
    let after = manager.snapshot("work").await.unwrap();
    assert_eq!((after.phase, after.access_token_expires_at), (before.phase, before.access_token_expires_at));
    assert_eq!(after.silent.last.as_ref().map(|l| l.outcome), Some(SilentOutcome::Failed));
    assert!(after.signed_in && !after.needs_attention);
}

#[tokio::test]
async fn invalid_grant_is_mended_by_a_silent_sign_in_and_a_program_is_answered_after_the_refresh_token_ended() {
    // Not announced: the refresh token's end is learnt from invalid_grant.
    let idp = provider(2, 4, false, &[]);
    let browser = TestSilentBrowser::new();
    let manager = manager(&browser).await;
    signed_in(&manager, &idp, &browser, "work", "alice").await;
    // (b) The refresh after the end answers invalid_grant; a silent sign-in renews the session.
    let renewed = wait_for(&manager, "work", Duration::from_secs(10), |s| {
        s.silent.last.as_ref().is_some_and(|l| l.outcome == SilentOutcome::Renewed) && !s.silent.attempting
    })
    .await;
    assert!(renewed.signed_in && renewed.last_error.is_none(), "{:?}", renewed.last_error);
    assert!(!renewed.history.iter().any(|m| m.what.as_str() == "expired"), "never expired");

    // (c) With silent sign-in off, the session expires at its refresh token's end; a program asking
    // once it is back on is answered through a silent sign-in instead of an error.
    manager.set_silent_sign_in("work", false).await.unwrap();
    let expired = wait_for(&manager, "work", Duration::from_secs(10), |s| s.phase == Phase::Expired).await;
    assert!(!expired.silent.enabled);
    manager.set_silent_sign_in("work", true).await.unwrap();
    let token = manager.hand_out("work", &TokenRequest { program: "/usr/bin/kubectl".into(), ..TokenRequest::default() }).await.unwrap();
    assert!(token.expires_at.unwrap() > chrono::Utc::now());
    assert_eq!(manager.snapshot("work").await.unwrap().phase, Phase::Active);
}
