//! End-to-end: the plugin's example app (examples/hello-sessions), built on tauri-plugin-session-keeper
//! alone, in its real windows over WebDriver against the real provider and keychain: sign in, refresh, a
//! call of the provider's userinfo endpoint with the token from `getAccessToken`, a second window
//! without `allow-get-access-token` refused, sign out with the tokens revoked. One app start.

use session_keeper_testkit as support;

mod harness;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::wd::WindowHandle;
use harness::{App, Driver};
use secrecy::ExposeSecret;
use session_core::{KeyringVault, SecretVault};
use support::{Idp, Ttls};

/// The example app's binary, built beside the app (`cargo build -p hello-sessions`).
fn example_binary() -> PathBuf {
    let path = harness::app_binary().with_file_name("hello-sessions");
    assert!(path.exists(), "the example app is not built at {}: cargo build -p hello-sessions", path.display());
    path
}

/// The window whose page says it is `label` (the page marks `body[data-window]`).
async fn window_labelled(app: &App, label: &str) -> WindowHandle {
    let css = format!("body[data-window={label}]");
    harness::eventually(&format!("the {label} window"), || async {
        for handle in app.client.windows().await.ok()? {
            app.client.switch_to_window(handle.clone()).await.ok()?;
            if app.client.find(fantoccini::Locator::Css(&css)).await.is_ok() {
                return Some(handle);
            }
        }
        None
    })
    .await
}

/// The example's keychain items (service = its identifier), read as a second program would.
fn keychain() -> SecretVault {
    SecretVault::new(Arc::new(KeyringVault::new("dev.sessionkeeper.hello")), Duration::from_secs(5))
}

/// A provider stat as a number.
async fn stat(idp: &Idp, path: &[&str]) -> u64 {
    let stats = idp.stats().await;
    path.iter().fold(&stats, |value, key| &value[key]).as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_refresh_call_the_api_refuse_a_window_without_the_permission_sign_out() {
    let idp = Idp::start(Ttls::default());
    let driver = Driver::start("example", &[("HELLO_SESSIONS_ISSUER", &idp.issuer)]);
    let App { client, .. } = driver.launch_binary(Path::new(&example_binary()), "#who[data-shown=signed_out]").await;
    let main = {
        let probe = App { main: client.window().await.unwrap(), client: client.clone() };
        window_labelled(&probe, "main").await
    };
    let app = App { client, main };
    let limited = window_labelled(&app, "limited").await;
    app.client.switch_to_window(app.main.clone()).await.unwrap();

    // Sign in: the plugin's sign-in window, the provider's pages, the page told through onSessionChange.
    let known = app.windows().await;
    app.click("#sign-in").await;
    let window = app.switch_to_new_window(&known).await;
    app.provider_login("alice").await;
    app.wait_closed(&window).await;
    app.wait_text("#who", "the signed-in user", |t| t.contains("Signed in as") && t.contains("Alice")).await;
    app.screenshot("example-01-signed-in").await;

    // Refresh: one refresh at the provider, the page shows the new refresh time.
    let refreshes = stat(&idp, &["grants", "refresh_token"]).await;
    app.click("#refresh").await;
    app.wait_text("#status", "the refresh's answer", |t| t.starts_with("Refreshed")).await;
    assert_eq!(stat(&idp, &["grants", "refresh_token"]).await, refreshes + 1, "exactly one refresh at the provider");
    assert!(!app.attr("#refreshed", "data-at").await.unwrap_or_default().is_empty(), "the page shows when it refreshed");
    let stored = keychain().load_tokens("demo").await.unwrap().expect("the tokens are in the keychain");
    let tokens: Vec<String> = [Some(&stored.access_token), stored.refresh_token.as_ref(), stored.id_token.as_ref()]
        .into_iter()
        .flatten()
        .map(|token| token.expose_secret().to_owned())
        .collect();
    assert_eq!(tokens.len(), 3, "access, refresh and ID token kept");

    // Call API: the provider's userinfo endpoint answers the page's call with the token (the core's own
    // userinfo checks run beside it, so the provider's count is not the page's).
    app.click("#call-api").await;
    let answer = app.wait_text("#api", "the API's answer", |t| t.contains("\"sub\"")).await;
    assert!(answer.contains("alice"), "the API answered for the signed-in user: {answer}");
    assert_eq!(app.text("#status").await, "The API answered 200");

    // The second window is granted session-keeper:default only: it sees the session (its events), and
    // its getAccessToken is refused by Tauri's ACL before the plugin runs, so the page has no token to call with.
    app.client.switch_to_window(limited).await.unwrap();
    app.wait_text("#who", "the session in the second window", |t| t.contains("Signed in as")).await;
    app.click("#call-api").await;
    app.wait_text_attr("#status", "data-kind", |kind| kind == "not_allowed").await;
    let refusal = app.text("#status").await;
    assert!(refusal.contains("allow-get-access-token"), "the refusal names the permission: {refusal}");
    assert!(app.attr("#api", "hidden").await.is_some(), "no API answer in the window without the token");
    app.screenshot("example-02-refused").await;
    app.client.switch_to_window(app.main.clone()).await.unwrap();

    // Sign out: the tokens revoked at the provider, the page back to signed out.
    let revocations = stat(&idp, &["revocations"]).await;
    app.click("#sign-out").await;
    app.wait_text("#status", "the sign-out's answer", |t| t == "Signed out; the provider revoked the tokens").await;
    app.wait_text("#who", "signed out", |t| t == "Signed out").await;
    assert!(stat(&idp, &["revocations"]).await > revocations, "revoked at the provider");
    assert!(keychain().load_tokens("demo").await.unwrap().is_none(), "the tokens are gone from the keychain");
    app.client.close().await.unwrap();
    // Keychain only: no token in any file under the app's home (its data, the webviews' storage and
    // caches) or in anything it printed.
    let hits = harness::find_secrets(&driver.home, &driver.output(), &tokens);
    assert!(hits.is_empty(), "tokens found where the app wrote them: {hits:?}");
}
