//! End-to-end: the real Session Keeper window, driven like a person would, against the real
//! OpenID Provider (oidc-provider), the real keychain (gnome-keyring) and the real notification
//! server (dunst). Run through `scripts/test.sh`, which provides the private desktop.

#[path = "../../core/tests/support/mod.rs"]
mod support;

mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::{App, Driver, NotificationWatch, card, eventually};
use secrecy::ExposeSecret;
use session_core::{KeyringVault, SecretVault};
use support::{Idp, Ttls};

/// One app window at a time: two cores, and each test owns the display's focus.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The tokens the app keeps for `session`, read from the keychain as a second program would.
async fn keychain_tokens(session: &str) -> Option<session_core::SessionSecrets> {
    let vault = SecretVault::new(Arc::new(KeyringVault::new("session-keeper")), Duration::from_secs(5));
    vault.load_tokens(session).await.unwrap()
}

async fn add_provider(app: &App, name: &str, issuer: &str) {
    app.click("#open-add").await;
    app.type_into("#add-form input[name=name]", name).await;
    app.type_into("#add-form input[name=displayName]", "Test provider").await;
    app.type_into("#add-form input[name=issuer]", issuer).await;
    app.type_into("#add-form input[name=clientId]", "session-keeper").await;
    if app.attr("#add-form details", "open").await.is_none() {
        app.click("#add-form summary").await;
    }
    app.type_into("#add-form input[name=postLogoutRedirectUri]", "http://127.0.0.1/signed-out").await;
    app.click("#add-submit").await;
}

/// Sign-in window: opens on the provider's page, `user` signs in, the window closes itself.
async fn sign_in(app: &App, session: &str, user: &str, screenshot: Option<&str>) {
    let known = app.windows().await;
    app.click(&card(session, "[data-action=sign-in]")).await;
    let window = app.switch_to_new_window(&known).await;
    app.find("input[name=login]").await;
    if let Some(name) = screenshot {
        app.screenshot(name).await;
    }
    app.provider_login(user).await;
    app.wait_closed(&window).await;
    app.wait_badge(session, "Active").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_sign_in_refresh_settings_restart_sign_out() {
    let _serial = SERIAL.lock().await;
    let idp = Idp::start(Ttls::default());
    let watch = NotificationWatch::start();
    let driver = Driver::start("main-flow", &[]);
    let app = driver.launch().await;
    app.wait_text("#empty", "the empty state", |t| t.contains("No sessions yet")).await;
    app.screenshot("01-first-start").await;

    // 1. Add a provider: bad ones give an inline reason and save nothing.
    let port = idp.port;
    add_provider(&app, "work", &format!("http://localhost:{port}")).await;
    let error = app.wait_text("#add-error", "an issuer mismatch", |t| t.to_lowercase().contains("issuer")).await;
    assert!(error.contains(&format!("127.0.0.1:{port}")), "the mismatch names the announced issuer: {error}");
    app.screenshot("02-add-provider-error").await;
    app.type_into("#add-form input[name=issuer]", "http://127.0.0.1:9").await;
    app.click("#add-submit").await;
    app.wait_text("#add-error", "an unreachable host", |t| t.contains("could not be reached") || t.contains("reach")).await;
    assert_eq!(app.client.find_all(fantoccini::Locator::Css("li.card")).await.unwrap().len(), 0, "nothing saved");
    app.type_into("#add-form input[name=issuer]", &idp.issuer).await;
    app.click("#add-submit").await;
    app.wait_badge("work", "Signed out").await;

    // 2. Sign in through the embedded window, typing into the provider's own page.
    sign_in(&app, "work", "alice", Some("03-sign-in-window")).await;
    let user = app.text(&card("work", ".user")).await;
    assert_eq!(user, "Alice Example <alice@example.test>");
    // 3. A live countdown, from the instants the backend sent.
    let countdown = app.wait_text(&card("work", "[data-field=access]"), "a countdown", |t| t.starts_with("in ")).await;
    assert!(countdown.contains("min") || countdown.contains(" h "), "{countdown}");
    let first = app.text(&card("work", "[data-field=access]")).await;
    eventually("the countdown to tick", || async {
        let now = app.text(&card("work", "[data-field=access]")).await;
        (now != first).then_some(())
    })
    .await;
    app.screenshot("04-signed-in").await;
    let tokens = keychain_tokens("work").await.expect("tokens are in the keychain");
    let first_refresh_token = tokens.refresh_token.expect("a refresh token").expose_secret().to_owned();

    // 4. Refresh: exactly one token request at the provider, and the new expiry at once.
    let before = app.attr(&card("work", "[data-field=access]"), "data-deadline").await.unwrap();
    let refreshes = idp.stats().await["grants"]["refresh_token"].as_u64().unwrap_or(0);
    app.click(&card("work", "[data-action=refresh]")).await;
    let after = eventually("a new expiry on the card", || async {
        let now = app.attr(&card("work", "[data-field=access]"), "data-deadline").await?;
        (now != before).then_some(now)
    })
    .await;
    assert!(after > before, "{after} is later than {before}");
    assert_eq!(idp.stats().await["grants"]["refresh_token"].as_u64().unwrap(), refreshes + 1, "exactly one refresh");
    let last = app.text(&card("work", "[data-field=last]")).await;
    assert_ne!(last, "—", "the last refresh is shown");
    let rotated = keychain_tokens("work").await.unwrap().refresh_token.unwrap().expose_secret().to_owned();
    assert_ne!(rotated, first_refresh_token, "the rotated refresh token was written through to the keychain");

    // 8. A provider outage: the Refresh button's error reaches the card with its stable kind; after
    // three failed refreshes in a row one notification says so; the session is kept and recovers.
    idp.fail_token_requests(3, "503").await;
    app.click(&card("work", "[data-action=refresh]")).await;
    let kind = eventually("the error's kind on the card", || async { app.attr(&card("work", ".card-error"), "data-kind").await }).await;
    assert_eq!(kind, "provider_unavailable");
    assert!(app.text(&card("work", ".card-error")).await.contains("could not be reached"), "a readable reason");
    let notice = watch.wait_for("cannot be refreshed").await;
    assert!(notice.contains("keeps trying"), "{notice}");
    app.wait_text(&card("work", ".card-error"), "the error to clear after recovery", str::is_empty).await;
    app.wait_badge("work", "Active").await;
    assert_eq!(watch.count("cannot be refreshed"), 1, "said once");
    let recovered = keychain_tokens("work").await.unwrap().refresh_token.unwrap().expose_secret().to_owned();
    assert_ne!(recovered, rotated, "the recovering refresh rotated the token and the keychain has the new one");
    let rotated = recovered;

    // Nothing the page can ask for carries a token.
    let access = keychain_tokens("work").await.unwrap().access_token.expose_secret().to_owned();
    let state = app.run_async("window.__TAURI__.core.invoke('get_app_state').then((s) => done(JSON.stringify(s)), (e) => done(String(e)));").await;
    let state = state.as_str().unwrap();
    assert!(state.contains("\"sessions\"") && state.contains("alice@example.test"), "{state}");
    assert!(!state.contains(&rotated) && !state.contains(&access), "no token crosses to the page");

    // 7. Settings apply at once: a longer lead time moves the next refresh earlier.
    let next_before = app.attr(&card("work", "[data-field=next]"), "data-deadline").await.unwrap();
    app.click("#open-settings").await;
    app.type_into("#settings-form input[name=leadTimeSeconds]", "600").await;
    app.screenshot("05-settings").await;
    app.click("#settings-submit").await;
    let next_after = eventually("the next refresh to move", || async {
        let now = app.attr(&card("work", "[data-field=next]"), "data-deadline").await?;
        (now != next_before).then_some(now)
    })
    .await;
    let moved = chrono::DateTime::parse_from_rfc3339(&next_before).unwrap() - chrono::DateTime::parse_from_rfc3339(&next_after).unwrap();
    assert!((535..=545).contains(&moved.num_seconds()), "moved {} s earlier", moved.num_seconds());
    let saved = std::fs::read_to_string(driver.app_data().join("settings.json")).unwrap();
    assert!(saved.contains("\"leadTimeSeconds\":600") || saved.contains("\"leadTimeSeconds\": 600"), "{saved}");
    assert!(!saved.contains(&rotated), "no token in the settings file");
    let sessions_file = std::fs::read_to_string(driver.app_data().join("sessions.json")).unwrap();
    assert!(!sessions_file.contains(&rotated), "no token in the session file");

    // Restart: the session comes back from the keychain, signed in, with no sign-in.
    let expiry = app.attr(&card("work", "[data-field=access]"), "data-deadline").await.unwrap();
    app.quit().await;
    let token_requests = idp.token_requests().await;
    let app = driver.launch().await;
    assert_eq!(app.badge("work").await, "Active", "the first paint already shows the true state");
    assert_eq!(app.attr(&card("work", "[data-field=access]"), "data-deadline").await.unwrap(), expiry);
    assert_eq!(app.text(&card("work", ".user")).await, "Alice Example <alice@example.test>");
    assert_eq!(idp.token_requests().await, token_requests, "restored without a new sign-in or refresh");
    app.click("#open-settings").await;
    let lead = app.find("#settings-form input[name=leadTimeSeconds]").await.prop("value").await.unwrap();
    assert_eq!(lead.as_deref(), Some("600"), "settings survive the restart");
    // Escape closes the dialog and gives the page back (keyboard users need nothing else).
    app.find("#settings-form input[name=leadTimeSeconds]").await.send_keys("\u{E00C}").await.unwrap();
    app.wait_dialogs_closed().await;

    // Several sessions side by side: a second provider, another user.
    // It lives on `localhost` rather than 127.0.0.1: cookies ignore ports, and two providers on one
    // host would overwrite each other's login cookie.
    let port2 = harness::free_port().to_string();
    let issuer2 = format!("http://localhost:{port2}");
    let idp2 = Idp::start_with(Ttls::default(), &[("IDP_PORT", &port2), ("IDP_ISSUER", &issuer2)]);
    add_provider(&app, "home", &idp2.issuer).await;
    app.wait_badge("home", "Signed out").await;
    sign_in(&app, "home", "bob", None).await;
    assert_eq!(app.text(&card("home", ".user")).await, "Bob Example <bob@example.test>");
    app.wait_badge("work", "Active").await;
    app.screenshot("06-two-sessions").await;

    // 5. Sign out: revoked at the provider, and the provider's own session ended in its window.
    let known = app.windows().await;
    let revocations = idp.stats().await["revocations"].as_u64().unwrap();
    app.click(&card("work", "[data-action=sign-out]")).await;
    let window = app.switch_to_new_window(&known).await;
    app.click_leaving("button[name=logout][value=yes]").await;
    app.wait_closed(&window).await;
    app.wait_badge("work", "Signed out").await;
    let stats = idp.stats().await;
    assert!(stats["revocations"].as_u64().unwrap() > revocations, "revoked at the provider: {stats}");
    assert_eq!(stats["endSessions"].as_u64().unwrap(), 1, "the provider's session ended: {stats}");
    let (status, body) = idp.raw_refresh(&rotated).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "the refresh token is dead");
    assert!(keychain_tokens("work").await.is_none(), "nothing left in the keychain");
    // The other session goes on, untouched.
    assert_eq!(app.badge("home").await, "Active");
    assert!(keychain_tokens("home").await.is_some(), "the other session's tokens stay");
    assert_eq!(idp2.stats().await["revocations"].as_u64().unwrap(), 0);
    app.screenshot("07-signed-out").await;

    // Signing in again asks for the password again: the provider's cookie session is gone. The
    // card's Cancel sign-in closes the window and ends the attempt.
    let known = app.windows().await;
    app.click(&card("work", "[data-action=sign-in]")).await;
    let window = app.switch_to_new_window(&known).await;
    app.find("input[name=login]").await;
    app.client.switch_to_window(app.main.clone()).await.unwrap();
    app.click(&card("work", "[data-action=cancel-sign-in]")).await;
    app.wait_closed(&window).await;
    app.wait_text(&card("work", ".card-error"), "the cancelled message", |t| t.contains("closed before the sign-in finished")).await;
    app.wait_badge("work", "Signed out").await;
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_window_cannot_call_any_command_and_provider_errors_end_the_attempt() {
    let _serial = SERIAL.lock().await;
    let idp = Idp::start(Ttls::default());
    let driver = Driver::start("no-ipc", &[("SESSION_KEEPER_DEMO_ISSUER", &idp.issuer)]);
    let app = driver.launch().await;
    // The demo provider is configured out of the box.
    app.wait_badge("Demo", "Signed out").await;
    // The CSP admits no inline script (WebDriver's own scripts are exempt; the one they add is not).
    let inline = app
        .client
        .execute("const s = document.createElement('script'); s.textContent = 'window.__inlineRan = true'; document.body.append(s); return window.__inlineRan === true", vec![])
        .await
        .unwrap();
    assert_eq!(inline, serde_json::json!(false), "an inline script ran despite the CSP");

    let known = app.windows().await;
    app.click(&card("Demo", "[data-action=sign-in]")).await;
    app.switch_to_new_window(&known).await;
    app.find("input[name=login]").await;
    let results = app
        .run_async(
            r#"
            const ipc = window.__TAURI_INTERNALS__;
            const attempt = async (cmd, args) => {
              if (!ipc || typeof ipc.invoke !== "function") return "no ipc at all";
              try { await ipc.invoke(cmd, args); return "ALLOWED"; }
              catch (e) { return String((e && e.message) || e); }
            };
            Promise.all([
              attempt("get_app_state", {}),
              attempt("sign_out", { id: "Demo" }),
              attempt("refresh_session", { id: "Demo" }),
              attempt("save_settings", { settings: {} }),
              attempt("plugin:store|load", { path: "settings.json" }),
              attempt("plugin:event|listen", { event: "session-changed", target: { kind: "Any" }, handler: 0 }),
              attempt("plugin:event|emit", { event: "session-changed", payload: {} }),
            ]).then(done);
            "#,
        )
        .await;
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 7);
    for result in results {
        let text = result.as_str().unwrap();
        assert!(text != "ALLOWED" && (text.contains("not allowed") || text == "no ipc at all"), "refused: {results:?}");
    }

    // The provider's Cancel link answers with an error redirect: the attempt ends with a message.
    app.click_leaving(".login-help a").await;
    app.client.switch_to_window(app.main.clone()).await.unwrap();
    app.wait_text(&card("Demo", ".card-error"), "the provider's refusal", |t| !t.is_empty()).await;
    eventually("the sign-in window to close", || async { (app.windows().await.len() == 1).then_some(()) }).await;
    app.wait_badge("Demo", "Signed out").await;
    assert_eq!(idp.stats().await["grants"].get("authorization_code"), None, "no code was exchanged");
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsing_session_warns_then_offers_sign_in_again_from_the_notification() {
    let _serial = SERIAL.lock().await;
    // A provider that gives no refresh token and 20-second access tokens: the session cannot be
    // extended, so it is "expiring" at once and lapses 20 s later.
    let idp = Idp::start_with(Ttls { access: 20, refresh: 3600 }, &[("IDP_NO_REFRESH_TOKEN", "1")]);
    let watch = NotificationWatch::start();
    let driver = Driver::start("lapse", &[("SESSION_KEEPER_DEMO_ISSUER", &idp.issuer)]);
    let app = driver.launch().await;
    app.wait_badge("Demo", "Signed out").await;
    let known = app.windows().await;
    app.click(&card("Demo", "[data-action=sign-in]")).await;
    let window = app.switch_to_new_window(&known).await;
    app.provider_login("bob").await;
    app.wait_closed(&window).await;

    app.wait_badge("Demo", "Expiring").await;
    let warning = watch.wait_for("expires in 1 minute").await;
    assert!(warning.contains("\"Session Keeper\""), "sent as Session Keeper: {warning}");
    assert!(warning.contains("no refresh token"), "{warning}");
    app.screenshot("08-expiring").await;

    let expired = watch.wait_for("expired\"").await;
    assert!(expired.contains("string \"default\"") && expired.contains("string \"Sign in again\""), "{expired}");
    app.wait_badge("Demo", "Expired").await;
    app.wait_text(&card("Demo", "[data-action=sign-in]"), "Sign in again", |t| t == "Sign in again").await;
    app.screenshot("09-expired").await;
    assert_eq!(watch.count("expired\""), 1, "said once");
    assert_eq!(watch.count("expires in"), 1, "said once");

    // The notification's action raises the app and opens the sign-in window.
    let known = app.windows().await;
    let status = std::process::Command::new("dunstctl").args(["action", "0"]).status().unwrap();
    assert!(status.success());
    let window = app.switch_to_new_window(&known).await;
    let url = app.client.current_url().await.unwrap();
    assert_eq!(url.port(), Some(idp.port), "the sign-in window shows the provider: {url}");
    // The provider still knows bob (its cookie is in the sign-in window's own web data): consent only.
    app.provider_consent().await;
    app.wait_closed(&window).await;
    app.wait_badge("Demo", "Expiring").await;
    assert_eq!(app.text(&card("Demo", ".user")).await, "Bob Example <bob@example.test>");
    app.quit().await;
}


#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn focus_rechecks_the_session_and_notices_a_revocation_elsewhere() {
    let _serial = SERIAL.lock().await;
    let idp = Idp::start(Ttls::default());
    let driver = Driver::start("focus", &[("SESSION_KEEPER_DEMO_ISSUER", &idp.issuer)]);
    let app = driver.launch().await;
    sign_in(&app, "Demo", "alice", None).await;

    // Re-check on every focus (maxAge 1 s) so the test need not wait out the 5-minute default.
    app.click("#open-settings").await;
    app.type_into("#settings-form input[name=validationMaxAgeSeconds]", "1").await;
    app.click("#settings-submit").await;
    // Cancel closes the dialog and keeps what was saved. (This click used to be lost: WebKitGTK
    // re-measured the fieldsets when focus moved and the button slid from under the pointer.)
    app.click("#open-settings").await;
    app.type_into("#settings-form input[name=leadTimeSeconds]", "5").await;
    app.click("#settings-cancel").await;
    app.wait_dialogs_closed().await;
    app.click("#open-settings").await;
    let lead = app.find("#settings-form input[name=leadTimeSeconds]").await.prop("value").await.unwrap();
    assert_eq!(lead.as_deref(), Some("60"), "the cancelled change was not kept");
    let recheck = app.find("#settings-form input[name=validationMaxAgeSeconds]").await.prop("value").await.unwrap();
    assert_eq!(recheck.as_deref(), Some("1"));
    app.click("#settings-cancel").await;

    // Each look is a focus; those within 1 s of the sign-in's own check find nothing due.
    let userinfo = idp.stats().await["userinfo"].as_u64().unwrap();
    eventually("a re-check at the provider on focus", || async {
        harness::switch_away_and_back();
        (idp.stats().await["userinfo"].as_u64().unwrap() > userinfo).then_some(())
    })
    .await;
    app.wait_badge("Demo", "Active").await;

    // An administrator revokes alice's grants; the next focus finds out and the card says so.
    idp.revoke_user("alice").await;
    eventually("the revocation to be noticed on focus", || async {
        harness::switch_away_and_back();
        (app.badge("Demo").await == "Expired").then_some(())
    })
    .await;
    app.wait_text(&card("Demo", ".card-error"), "why", |t| t.contains("sign in again")).await;
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_files_are_moved_aside_and_the_app_starts_with_a_clear_message() {
    let _serial = SERIAL.lock().await;
    let driver = Driver::start("corrupt", &[]);
    std::fs::create_dir_all(driver.app_data()).unwrap();
    std::fs::write(driver.app_data().join("sessions.json"), b"{\"sessions\": [ torn write").unwrap();
    std::fs::write(driver.app_data().join("settings.json"), b"\x00\x00 not json").unwrap();
    let app = driver.launch().await;
    let banner = app.wait_text("#banner-text", "the start-up warning", |t| !t.is_empty()).await;
    assert!(banner.contains("session list could not be read") && banner.contains("settings file could not be read") && banner.contains("started with no sessions"), "{banner}");
    app.screenshot("10-unreadable-files").await;
    let kept: Vec<String> = std::fs::read_dir(driver.app_data())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".unreadable-"))
        .collect();
    assert_eq!(kept.len(), 2, "both files kept aside, nothing deleted: {kept:?}");
    // The app works: the defaults apply and a provider can be added.
    app.wait_text("#empty", "the empty state", |t| t.contains("No sessions yet")).await;
    app.click("#banner-close").await;
    app.quit().await;
}
