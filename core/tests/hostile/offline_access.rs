//! `offline_access` as OIDC Core 11 asks for it, and what the answer grants: the authorization
//! request carries `prompt=consent` where the provider needs it, and a token answer whose granted
//! `scope` drops `offline_access` is an online refresh token, which the snapshot says.

use super::*;

/// The cases of this group, run in order by `main`.
pub(super) async fn cases(suite: &mut Suite) {
    suite
        .case("offline_access: prompt=consent where the provider needs it, never with none or without offline_access", async {
            let server = Hostile::start(json(serde_json::json!({}))).await;
            publish(&server, "a");
            let prompt = |change: fn(&mut ProviderConfig)| {
                let server = server.clone();
                async move {
                    let manager = manager_builder(Arc::new(MemoryVault::new())).build().await.unwrap();
                    let mut config = ProviderConfig::new(server.issuer.clone(), "client");
                    change(&mut config);
                    manager.add_session("s", config, None).await.unwrap();
                    let url = manager.begin_sign_in("s").await.unwrap();
                    url.query_pairs().find(|(name, _)| name == "prompt").map(|(_, value)| value.into_owned())
                }
            };
            assert_eq!(prompt(|_| {}).await.as_deref(), Some("consent"), "a new provider follows OIDC Core 11");
            assert_eq!(prompt(|c| c.consent_for_offline_access = false).await, None, "the setting off");
            assert_eq!(prompt(|c| c.scopes.retain(|s| s != "offline_access")).await, None, "no offline_access asked for");
            assert_eq!(prompt(|c| own_prompt(c, "login")).await.as_deref(), Some("login consent"));
            assert_eq!(prompt(|c| own_prompt(c, "consent")).await.as_deref(), Some("consent"), "a preset's own consent");
            assert_eq!(prompt(|c| own_prompt(c, "none")).await.as_deref(), Some("none"), "none takes no other value");
        })
        .await;
    suite
        .case("offline_access: dropped from the granted scope at sign-in and refresh is an online refresh token, said on the card", async {
            let (server, s) = sign_in_started().await;
            let mut body = s.sound_answer(&server);
            body["scope"] = "openid profile email".into();
            server.set(TOKEN, json(body));
            let session = s.complete(&server, None, 1).await.unwrap();
            assert!(session.refresh_token_online, "offline_access asked for, not granted");
            // A refresh that grants it (the consent given since) says so; one without scope says nothing.
            server.set(TOKEN, json(granting("openid profile email offline_access")));
            assert!(!s.manager.refresh("s", true).await.unwrap().refresh_token_online);
            server.set(TOKEN, json(granting("openid profile")));
            assert!(s.manager.refresh("s", true).await.unwrap().refresh_token_online, "dropped again at refresh");
            server.set(TOKEN, json(rotated(serde_json::json!(3600))));
            assert!(!s.manager.refresh("s", true).await.unwrap().refresh_token_online, "no scope: not online (RFC 6749 5.1)");
            assert_eq!(server.asked(TOKEN), 4);
        })
        .await;
}

/// A refresh answer that grants `scope`.
fn granting(scope: &str) -> serde_json::Value {
    let mut body = rotated(serde_json::json!(3600));
    body["scope"] = scope.into();
    body
}

/// The configuration's own `prompt` (a preset's, or one typed in).
fn own_prompt(config: &mut ProviderConfig, value: &str) {
    config.extra_authorization_params.insert("prompt".into(), value.into());
}
