//! What the session does with what the checks found: a refusal after a re-read ends the session,
//! a userinfo answer for another user confirms nothing.

use session_core::{MarkKind, Shown};

use super::*;

/// The cases of this group, run in order by `main`.
pub(super) async fn cases(suite: &mut Suite) {
    refusals(suite).await;
    userinfo_for_another_user(suite).await;
}

/// An OAuth error answer at the token endpoint.
fn refusal(code: u16, error: &str) -> Answer {
    status(code, serde_json::json!({ "error": error, "error_description": "scripted" }))
}

// ---------------------------------------------------------------------------------------------
// Refresh: a refusal other than invalid_grant (RFC 6749 5.2), once and twice

async fn refusals(suite: &mut Suite) {
    suite
        .case("session: a refresh refused twice with 400 invalid_request ends the session (LemonLDAP::NG)", async {
            let server = Hostile::start(refusal(400, "invalid_request")).await;
            let s = signed_in(&server).await;
            // The first refusal: the keychain is read again (it holds the same token), the session kept.
            s.refresh_expecting(&server, Some(ErrorKind::ProviderMisbehaved), Phase::Active, Some("rt-0"), 1).await;
            let first = s.manager.snapshot("s").await.unwrap();
            assert_eq!((first.shown, first.consecutive_failures), (Shown::SignedIn, 1));
            let refused = first.last_error.clone().expect("the card says why");
            // The second: one token request more than invalid_grant's path, then the session ends.
            s.refresh_expecting(&server, Some(ErrorKind::SessionRevoked), Phase::Expired, None, 2).await;
            let ended = s.manager.snapshot("s").await.unwrap();
            assert_eq!((ended.shown, ended.signed_in, ended.needs_attention), (Shown::Expired, false, true));
            let error = ended.last_error.expect("the card says why");
            assert_eq!(error.kind, ErrorKind::SessionRevoked);
            assert!(error.message.contains("sign in again"), "{}", error.message);
            assert!(error.message.ends_with(&refused.message), "the refusal's advice is lost: {}", error.message);
            let ends = ended.history.iter().filter(|mark| mark.what == MarkKind::Expired).count();
            assert_eq!(ends, 1, "one end, one notice");
            assert_eq!(server.asked(REVOKE), 0);
        })
        .await;
    suite
        .case("session: a single 400 invalid_client, then a refresh that succeeds, keeps the session", async {
            let server = Hostile::start(refusal(400, "invalid_client")).await;
            let s = signed_in(&server).await;
            s.refresh_expecting(&server, Some(ErrorKind::ProviderMisbehaved), Phase::Active, Some("rt-0"), 1).await;
            // The provider's administrator fixed the client.
            server.set(TOKEN, json(rotated(serde_json::json!(3600))));
            s.refresh_expecting(&server, None, Phase::Active, Some("rt-1"), 2).await;
            let session = s.manager.snapshot("s").await.unwrap();
            assert_eq!((session.consecutive_failures, session.last_error), (0, None));
            // The refusal was forgotten with the success: another is a first one again.
            server.set(TOKEN, refusal(400, "invalid_client"));
            s.refresh_expecting(&server, Some(ErrorKind::ProviderMisbehaved), Phase::Active, Some("rt-1"), 3).await;
        })
        .await;
}

// ---------------------------------------------------------------------------------------------
// Userinfo for another user during a session (OIDC Core 5.3.2)

/// As [`signed_in`], signed in two seconds ago under `policy`, so that a userinfo check is due.
async fn signed_in_under(server: &Hostile, policy: Policy) -> Signed {
    let store = stored_session(server, Utc::now() - TimeDelta::seconds(2), &policy, true);
    let memory = Arc::new(MemoryVault::new());
    let vault = secret_vault(&memory);
    let secrets =
        SessionSecrets { access_token: SecretString::from("at-0"), refresh_token: Some(SecretString::from("rt-0")), id_token: None };
    vault.save_tokens("s", &secrets).await.unwrap();
    let manager = manager_builder(memory).store(store).policy(policy).build().await.unwrap();
    Signed { manager, vault }
}

async fn userinfo_for_another_user(suite: &mut Suite) {
    suite
        .case("session: a userinfo answer for another user leaves the session signed in, with a message", async {
            let server = Hostile::start_with(json(rotated(serde_json::json!(3600))), with_userinfo).await;
            server.set(USERINFO, json(serde_json::json!({ "sub": "mallory", "name": "Mallory", "email": "mallory@example.test" })));
            let mut policy = Policy::default();
            policy.refresh.validation_max_age = Duration::from_secs(1);
            let s = signed_in_under(&server, policy).await;
            let err = s.manager.refresh("s", false).await.expect_err("a check that got another user's answer succeeded");
            assert_eq!(err.kind(), ErrorKind::ProviderMisbehaved, "{err}");
            let session = s.manager.snapshot("s").await.unwrap();
            assert_eq!((session.phase, session.shown, session.signed_in), (Phase::Active, Shown::SignedIn, true), "it ended the session");
            let user = session.user.clone().unwrap();
            assert_eq!((user.subject.as_str(), user.name), ("alice", None), "the card names someone else");
            let error = session.last_error.clone().expect("the card says nothing");
            assert_eq!(error.kind, ErrorKind::ProviderMisbehaved);
            assert!(error.message.contains("answered for another user"), "{}", error.message);
            assert_eq!((server.asked(USERINFO), server.asked(TOKEN)), (1, 0));
            assert_eq!(s.stored_refresh_token().await.as_deref(), Some("rt-0"), "the stored tokens changed");
            // The provider is fixed; the next check (a second later, the interval here) clears the message.
            server.set(USERINFO, json(serde_json::json!({ "sub": "alice", "name": "Alice Example" })));
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let session = s.manager.refresh("s", false).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((session.last_error.clone(), session.user.clone().unwrap().name), (None, Some("Alice Example".into())));
            assert_eq!(server.asked(USERINFO), 2);
        })
        .await;
}
