//! End-to-end: the real Session Keeper window, driven like a person would, against the real
//! OpenID Provider (oidc-provider), the real keychain (gnome-keyring) and the real notification
//! server (dunst). Run through `scripts/test.sh`, which provides the private desktop.

use session_keeper_testkit as support;

mod forge;
mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::{App, Driver, NotificationWatch, card, eventually};
use secrecy::ExposeSecret;
use session_core::{KeyringVault, SecretVault};
use support::{Idp, Ttls};

/// One app window at a time: two cores, and each test owns the display's focus.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Every token the tests have read from the keychain or been handed, for the scan of what the app wrote.
static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The tokens the app keeps for `session`, read from the keychain as a second program would.
async fn keychain_tokens(session: &str) -> Option<session_core::SessionSecrets> {
    let vault = SecretVault::new(Arc::new(KeyringVault::new("session-keeper")), Duration::from_secs(5));
    let secrets = vault.load_tokens(session).await.unwrap();
    if let Some(secrets) = &secrets {
        let mut seen = SEEN.lock().unwrap();
        seen.push(secrets.access_token.expose_secret().to_owned());
        seen.extend(secrets.refresh_token.iter().chain(&secrets.id_token).map(|t| t.expose_secret().to_owned()));
    }
    secrets
}

/// After the app has ended: no token any test saw is in any file under the app's private home
/// (settings, session file, logs, the webview's storage and caches) or in anything it printed. The
/// scan first has to find a token planted in a file of its own, so that a scan that cannot find
/// anything does not pass.
fn assert_no_token_written(driver: &Driver) {
    harness::wait_app_gone();
    let seen = SEEN.lock().unwrap().clone();
    assert!(!seen.is_empty(), "the test saw no token to look for");
    let planted = driver.home.join("data/planted-by-the-test");
    std::fs::write(&planted, format!("noise {} noise", seen[0])).unwrap();
    let hits = harness::find_secrets(&driver.home, &driver.output(), &seen);
    assert_eq!(
        hits.iter().map(|(place, _)| place.clone()).collect::<Vec<_>>(),
        vec![planted.display().to_string()],
        "the scan did not find exactly the planted token"
    );
    std::fs::remove_file(&planted).unwrap();
    let hits = harness::find_secrets(&driver.home, &driver.output(), &seen);
    assert!(hits.is_empty(), "tokens found where the app wrote them: {hits:?}");
    // What the page received over IPC: the recorder saw the page's traffic (the signed-in user in
    // session events and command replies), and no token in any of it.
    let ipc = harness::IPC.lock().unwrap().clone();
    assert!(
        ipc.iter().any(|m| m.starts_with("event session-keeper://changed") && m.contains("alice@example.test")),
        "the IPC recorder saw no session event"
    );
    let replies: Vec<&String> = ipc.iter().filter(|m| m.starts_with("callback: ") && !m.starts_with(r#"callback: {"event":"#)).collect();
    assert!(
        ipc.iter().any(|m| m.starts_with(r#"callback: {"event":"session-keeper://changed""#) && m.contains("alice@example.test")),
        "the IPC recorder saw no callback with the user in it"
    );
    assert!(!replies.is_empty(), "the IPC recorder saw no command reply");
    let replies = replies.len();
    let leaks =
        |messages: &[String]| messages.iter().filter(|m| seen.iter().any(|token| m.contains(token.as_str()))).cloned().collect::<Vec<_>>();
    let planted = format!(r#"callback: {{"planted":"{}"}}"#, seen[seen.len() - 1]);
    assert_eq!(leaks(&[ipc.clone(), vec![planted.clone()]].concat()), vec![planted], "the IPC scan did not find exactly the planted token");
    assert_eq!(leaks(&ipc), Vec::<String>::new(), "tokens sent to the page");
    eprintln!(
        "secrets scan: {} tokens looked for in the app's files, its output and {} IPC messages to the page ({replies} command replies)",
        seen.len(),
        ipc.len()
    );
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

/// Opens `session`'s sign-in window on the provider's login page and goes back to the dashboard,
/// leaving the window open: the sign-in window's handle.
async fn open_sign_in_window(app: &App, session: &str) -> fantoccini::wd::WindowHandle {
    let known = app.windows().await;
    app.click(&card(session, "[data-action=sign-in]")).await;
    let window = app.switch_to_new_window(&known).await;
    app.find("input[name=login]").await;
    app.client.switch_to_window(app.main.clone()).await.unwrap();
    window
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
    app.check_state("empty").await;

    // 1. Add a provider: bad ones give an inline reason and save nothing.
    let port = idp.port;
    add_provider(&app, "work", &format!("http://localhost:{port}")).await;
    let error = app.wait_text("#add-error", "an issuer mismatch", |t| t.to_lowercase().contains("issuer")).await;
    assert!(error.contains(&format!("127.0.0.1:{port}")), "the mismatch names the announced issuer: {error}");
    app.screenshot("02-add-provider-error").await;
    app.check_state("add-provider-error").await;
    app.type_into("#add-form input[name=issuer]", "http://127.0.0.1:9").await;
    app.click("#add-submit").await;
    let unreachable = app.wait_text("#add-error", "an unreachable host", |t| t.contains("could not be reached")).await;
    assert!(unreachable.contains("(connection refused)"), "a few words, not the library's chain: {unreachable}");
    assert_eq!(app.client.find_all(fantoccini::Locator::Css("li.card")).await.unwrap().len(), 0, "nothing saved");
    app.type_into("#add-form input[name=issuer]", &idp.issuer).await;
    app.click("#add-submit").await;
    app.wait_badge("work", "Signed out").await;

    // 2. Sign in through the embedded window, typing into the provider's own page.
    sign_in(&app, "work", "alice", Some("03-sign-in-window")).await;
    let user = app.text(&card("work", ".user")).await;
    assert_eq!(user, "Alice Example <alice@example.test>");
    // 3. A live countdown, from the instants the backend sent.
    // An hour away it reads in minutes, as the tray does: seconds tick only in the last minute (the
    // lapse test watches them), so an idle window repaints once a minute.
    let countdown = app.wait_text(&card("work", "[data-field=access]"), "a countdown", |t| t.starts_with("in ")).await;
    assert!(countdown == "in 59 min" || countdown == "in 1 h 0 min", "{countdown}");
    app.screenshot("04-signed-in").await;
    app.check_state("active").await;
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
    // The card's timeline shows the sign-in, the manual check and the refresh, and says so in words.
    let story = app.wait_text_attr(&card("work", ".timeline"), "aria-label", |t| t.contains("1 refresh")).await;
    assert!(story.starts_with("Last 24 hours: 1 sign-in, 1 refresh,"), "{story}");
    let marks = app
        .run_async(&format!("done([...document.querySelectorAll({:?})].map((m) => m.dataset.what))", card("work", ".timeline line.mark")))
        .await;
    let marks: Vec<&str> = marks.as_array().unwrap().iter().filter_map(|m| m.as_str()).collect();
    assert_eq!((marks.first(), marks.last()), (Some(&"signed_in"), Some(&"refreshed")), "{marks:?}");
    assert!(marks.contains(&"checked"), "the manual check: {marks:?}");

    // 8. A provider outage: the Refresh button's error reaches the card with its stable kind; after
    // three failed refreshes in a row one notification says so; the session is kept and recovers.
    idp.fail_token_requests(3, "503").await;
    app.click(&card("work", "[data-action=refresh]")).await;
    let kind = eventually("the error's kind on the card", || async { app.attr(&card("work", ".card-error"), "data-kind").await }).await;
    assert_eq!(kind, "provider_unavailable");
    assert!(
        app.text(&card("work", ".card-error")).await.contains("cannot serve the request now (HTTP 503)"),
        "a readable reason: the provider answered, so not the network"
    );
    app.check_state("error").await;
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
    let state =
        app.run_async("window.__TAURI__.core.invoke('get_app_state').then((s) => done(JSON.stringify(s)), (e) => done(String(e)));").await;
    let state = state.as_str().unwrap();
    assert!(state.contains("\"sessions\"") && state.contains("alice@example.test"), "{state}");
    assert!(!state.contains(&rotated) && !state.contains(&access), "no token crosses to the page");

    // 7. Settings apply at once: a longer lead time moves the next refresh earlier.
    let next_before = app.attr(&card("work", "[data-field=next]"), "data-deadline").await.unwrap();
    app.click("#open-settings").await;
    app.type_into("#settings-form input[name=leadTimeSeconds]", "600").await;
    app.screenshot("05-settings").await;
    app.check_state("settings").await;
    app.click("#settings-submit").await;
    let next_after = eventually("the next refresh to move", || async {
        let now = app.attr(&card("work", "[data-field=next]"), "data-deadline").await?;
        (now != next_before).then_some(now)
    })
    .await;
    let moved = chrono::DateTime::parse_from_rfc3339(&next_before).unwrap() - chrono::DateTime::parse_from_rfc3339(&next_after).unwrap();
    // 540 s more lead time, and the spread of up to half the lead time grows with it (at most 270 s).
    assert!((535..=815).contains(&moved.num_seconds()), "moved {} s earlier", moved.num_seconds());
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
    let story = app.attr(&card("work", ".timeline"), "aria-label").await.unwrap();
    assert!(
        story.contains("1 sign-in") && story.contains("refreshes") && story.contains("failed refreshes (provider unreachable)"),
        "the history survives a restart: {story}"
    );
    app.click("#open-settings").await;
    let lead = app.find("#settings-form input[name=leadTimeSeconds]").await.prop("value").await.unwrap();
    assert_eq!(lead.as_deref(), Some("600"), "settings survive the restart");
    // Escape closes the dialog and gives the page back (keyboard users need nothing else).
    app.find("#settings-form input[name=leadTimeSeconds]").await.send_keys("\u{E00C}").await.unwrap();
    app.wait_dialogs_closed().await;

    // A log-out (SIGTERM) while a refresh is in flight: the provider has rotated the refresh token
    // and answers 1.5 s later. The app waits for the answer and the keychain write, then ends; the
    // next start carries on with the new token, and the provider never sees the spent one again.
    let spent = keychain_tokens("work").await.unwrap().refresh_token.unwrap().expose_secret().to_owned();
    let requests = idp.token_requests().await;
    idp.slow_token_requests(1, 1500).await;
    app.click(&card("work", "[data-action=refresh]")).await;
    idp.wait_for_token_requests(requests + 1).await;
    app.keep_ipc().await;
    let killed = std::process::Command::new("kill").args(["-TERM", &harness::app_pid().to_string()]).status().unwrap();
    assert!(killed.success());
    harness::wait_app_gone();
    drop(app);
    let kept = keychain_tokens("work").await.unwrap().refresh_token.unwrap().expose_secret().to_owned();
    assert_ne!(kept, spent, "the rotated refresh token was lost at the SIGTERM");
    assert!(read_logs(&driver).contains("quitting on a signal"), "the SIGTERM was not handled");
    let app = driver.launch().await;
    assert_eq!(app.badge("work").await, "Active");
    app.click(&card("work", "[data-action=refresh]")).await;
    eventually("a refresh after the restart", || async { (idp.token_requests().await > requests + 1).then_some(()) }).await;
    app.wait_badge("work", "Active").await;
    let stats = idp.stats().await;
    assert!(stats["grantErrors"].as_object().unwrap().is_empty(), "a spent refresh token was used: {stats}");

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
    app.check_state("two-sessions").await;

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
    app.check_state("signed-out").await;

    // Signing in again asks for the password again: the provider's cookie session is gone. The
    // card's Cancel sign-in closes the window and ends the attempt.
    let window = open_sign_in_window(&app, "work").await;
    app.click(&card("work", "[data-action=cancel-sign-in]")).await;
    app.wait_closed(&window).await;
    app.wait_text(&card("work", ".card-error"), "the cancelled message", |t| t.contains("closed before the sign-in finished")).await;
    app.wait_badge("work", "Signed out").await;
    app.quit().await;
    assert_no_token_written(&driver);
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
    // The dashboard has the session plugin's default set, which never hands it a token: the access
    // token's command is refused before it runs, while reading the sessions is allowed.
    let token = app
        .run_async(r#"window.__TAURI__.core.invoke("plugin:session-keeper|get_access_token", { name: "Demo" }).then(() => done("ALLOWED"), (e) => done(String(e)))"#)
        .await;
    assert!(token.as_str().unwrap().contains("not allowed"), "the dashboard got past get_access_token's permission: {token}");
    let sessions = app
        .run_async(r#"window.__TAURI__.core.invoke("plugin:session-keeper|get_session", {}).then((s) => done(s.ready && s.sessions.map((x) => x.id)), (e) => done(String(e)))"#)
        .await;
    assert_eq!(sessions, serde_json::json!(["Demo"]), "get_session answers ready with the sessions");

    let known = app.windows().await;
    app.click(&card("Demo", "[data-action=sign-in]")).await;
    app.switch_to_new_window(&known).await;
    app.find("input[name=login]").await;
    let results = app
        .run_async(
            r#"
            const ipc = window.__TAURI_INTERNALS__;
            const attempt = async (cmd, args) => {
              // The bridge is there (Tauri injects it into every webview): the app itself must refuse.
              if (!ipc || typeof ipc.invoke !== "function") return "NO BRIDGE: nothing was tried";
              try { await ipc.invoke(cmd, args); return "ALLOWED"; }
              catch (e) { return String((e && e.message) || e); }
            };
            Promise.all([
              attempt("get_app_state", {}),
              attempt("plugin:session-keeper|sign_out", { name: "Demo" }),
              attempt("plugin:session-keeper|refresh", { name: "Demo" }),
              attempt("plugin:session-keeper|get_access_token", { name: "Demo" }),
              attempt("save_settings", { settings: {} }),
              attempt("plugin:store|load", { path: "settings.json" }),
              attempt("plugin:event|listen", { event: "session-keeper://changed", target: { kind: "Any" }, handler: 0 }),
              attempt("plugin:event|emit", { event: "session-keeper://changed", payload: {} }),
            ]).then(done);
            "#,
        )
        .await;
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 8);
    for result in results {
        let text = result.as_str().unwrap();
        assert!(text.contains("not allowed"), "each command is refused by the app: {results:?}");
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
    // A provider that gives no refresh token and 30-second access tokens: the session cannot be
    // extended, so it is "expiring" at once and lapses 30 s later.
    let idp = Idp::start_with(Ttls { access: 30, refresh: 3600 }, &[("IDP_NO_REFRESH_TOKEN", "1")]);
    let watch = NotificationWatch::start();
    let driver = Driver::start("lapse", &[("SESSION_KEEPER_DEMO_ISSUER", &idp.issuer)]);
    let app = driver.launch().await;
    app.wait_badge("Demo", "Signed out").await;
    silent_off(&app, "Demo").await;
    app.sign_in_through_window("Demo", "bob").await;

    app.wait_badge("Demo", "Expiring").await;
    let warning = watch.wait_for("expires in 1 minute").await;
    assert!(warning.contains("\"Session Keeper\""), "sent as Session Keeper: {warning}");
    assert!(warning.contains("no refresh token"), "{warning}");
    app.screenshot("08-expiring").await;
    app.check_state("expiring").await;

    // In its last minute the countdown shows seconds, and they tick.
    let access = card("Demo", "[data-field=access]");
    let left = app.text(&access).await;
    assert!(left.starts_with("in ") && left.ends_with(" s"), "{left}");
    eventually("the seconds to tick", || async { (app.text(&access).await != left).then_some(()) }).await;
    // Hidden, the page stops counting; shown again, it counts again.
    harness::close_main_window();
    harness::wait_until("the window to hide", || !harness::main_window_visible());
    eventually("the page to know it is hidden", || async {
        app.run_async("done(document.hidden)").await.as_bool().filter(|hidden| *hidden)
    })
    .await;
    let (code, _, err) = driver.run_binary(&[]);
    assert_eq!(code, 0, "the second launch failed: {err}");
    harness::wait_until("the window to come back", harness::main_window_visible);
    app.client.switch_to_window(app.main.clone()).await.unwrap();
    let shown = app.text(&access).await;
    eventually("the seconds to tick again", || async { (app.text(&access).await != shown).then_some(()) }).await;

    let expired = watch.wait_for("expired\"").await;
    assert!(expired.contains("string \"default\"") && expired.contains("string \"Sign in again\""), "{expired}");
    app.wait_badge("Demo", "Expired").await;
    app.wait_text(&card("Demo", "[data-action=sign-in]"), "Sign in again", |t| t == "Sign in again").await;
    app.screenshot("09-expired").await;
    app.check_state("expired").await;
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

/// A session without a refresh token ends with its access token, and every reader says so: the
/// card's "Session ends", the tray's line and the notification count to the same instant (the core's
/// `endsAt`), not the card to the session's 7-day lifetime while the tray says minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_without_refresh_token_shows_one_end_on_card_tray_and_notice() {
    let _serial = SERIAL.lock().await;
    // 270-s access tokens and no refresh token: expiring at once (inside the 5-minute warning), and
    // the first 30 s after sign-in are far from a minute's boundary for every reader's rounding.
    let idp = Idp::start_with(Ttls { access: 270, refresh: 3600 }, &[("IDP_NO_REFRESH_TOKEN", "1")]);
    let watch = NotificationWatch::start();
    let driver = Driver::start("one-end", &[("SESSION_KEEPER_DEMO_ISSUER", &idp.issuer)]);
    let app = driver.launch().await;
    app.wait_badge("Demo", "Signed out").await;
    silent_off(&app, "Demo").await;
    app.sign_in_through_window("Demo", "bob").await;
    app.wait_badge("Demo", "Expiring").await;

    // The card: the session ends when the access token does.
    let ends = app.text(&card("Demo", "[data-field=session]")).await;
    let access = app.text(&card("Demo", "[data-field=access]")).await;
    assert_eq!(ends, access, "the card's session end is the access token's expiry");
    assert!(ends == "in 4 min" || ends == "in 3 min", "the card counts minutes to the token's end, not days: {ends}");

    // The tray: the same words after "Demo: Bob Example, " (the page and the tray share one table).
    let tray = harness::TrayMenu::find();
    let line = eventually("the tray's line for Demo", || async {
        tray.labels().into_iter().find(|l| l.starts_with("Demo: Bob Example, ") && l.ends_with(" left"))
    })
    .await;
    let left = line.trim_start_matches("Demo: Bob Example, ").trim_end_matches(" left");
    assert_eq!(format!("in {left}"), ends, "tray {line:?} against card {ends:?}");

    // The notice: whole minutes rounded up, so the tray's N minutes are N or N + 1 in the notice.
    let notice = watch.wait_for("expires in").await;
    let minutes: i64 = left.trim_end_matches(" min").parse().unwrap();
    let said = [minutes, minutes + 1].map(|m| format!("expires in {m} minutes"));
    assert!(said.iter().any(|text| notice.contains(text.as_str())), "notice {notice} against tray {line:?}");
    assert!(notice.contains("no refresh token"), "{notice}");
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn focus_rechecks_the_session_and_notices_a_revocation_elsewhere() {
    let _serial = SERIAL.lock().await;
    let idp = Idp::start(Ttls::default());
    let driver = Driver::start("focus", &[("SESSION_KEEPER_DEMO_ISSUER", &idp.issuer)]);
    let app = driver.launch().await;
    app.wait_badge("Demo", "Signed out").await;
    silent_off(&app, "Demo").await;
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
    app.wait_text(&card("Demo", ".card-error"), "why", |t| t == session_core::REVOKED_MESSAGE).await;
    assert_eq!(app.attr(&card("Demo", ".card-error"), "data-kind").await.as_deref(), Some("session_revoked"));
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
    assert!(
        banner.contains("session list could not be read")
            && banner.contains("settings file could not be read")
            && banner.contains("started with no sessions"),
        "{banner}"
    );
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

/// Whether the tests run as root (as on CI), so that another account (`nobody`) is at hand.
fn running_as_root() -> bool {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0
}

/// Every file in the app's log folder, concatenated.
fn read_logs(driver: &Driver) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(driver.logs()).expect("a log folder") {
        all.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tray_single_instance_token_helper_autostart_and_logs_without_tokens() {
    let _serial = SERIAL.lock().await;
    let idp = Idp::start(Ttls::default());
    // The most verbose logs there are, from every crate: still no token may reach them.
    let driver = Driver::start("citizen", &[("SESSION_KEEPER_DEMO_ISSUER", &idp.issuer), ("SESSION_KEEPER_LOG", "trace")]);
    let mut seen_tokens: Vec<String> = Vec::new();

    // Token helper without the app: a clear error and exit status 3.
    let (code, out, err) = driver.run_binary(&["token", "Demo"]);
    assert_eq!((code, out.as_str()), (3, ""), "{err}");
    assert!(err.contains("Session Keeper is not running"), "{err}");

    // This user turned off the question before a program gets a token (Settings), as a settings file
    // of an earlier run says: the helper answers without asking (the questions are tested in
    // `other_programs_get_tokens_over_dbus_the_helper_and_git_with_the_users_consent`).
    std::fs::create_dir_all(driver.app_data()).unwrap();
    std::fs::write(driver.app_data().join("settings.json"), r#"{"settings":{"askBeforeHandOut":false}}"#).unwrap();
    let app = driver.launch().await;
    app.wait_badge("Demo", "Signed out").await;
    let (code, out, err) = driver.run_binary(&["token", "Demo"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("is not signed in: sign in first"), "{err}");

    sign_in(&app, "Demo", "alice", None).await;
    let tokens = keychain_tokens("Demo").await.unwrap();
    seen_tokens.extend([tokens.access_token.expose_secret().to_owned(), tokens.refresh_token.as_ref().unwrap().expose_secret().to_owned()]);
    seen_tokens.extend(tokens.id_token.as_ref().map(|t| t.expose_secret().to_owned()));

    // 6. The token helper: raw, json, ExecCredential; the token works at the provider.
    let (code, raw, err) = driver.run_binary(&["token", "Demo"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(raw.trim(), tokens.access_token.expose_secret(), "the keychain's current access token");
    let userinfo = reqwest::Client::new().get(format!("{}/me", idp.base())).bearer_auth(raw.trim()).send().await.unwrap();
    assert_eq!(userinfo.status(), 200, "the provider accepts the printed token");
    let (code, json, _) = driver.run_binary(&["token", "Demo", "--format", "json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!((json["session"].as_str(), json["tokenType"].as_str()), (Some("Demo"), Some("Bearer")));
    assert_eq!(json["accessToken"].as_str(), Some(raw.trim()));
    let deadline = app.attr(&card("Demo", "[data-field=access]"), "data-deadline").await.unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(json["expiresAt"].as_str().unwrap()).unwrap();
    let card_deadline = chrono::DateTime::parse_from_rfc3339(&deadline).unwrap();
    assert!((expires - card_deadline).num_seconds().abs() <= 1, "the card's expiry {card_deadline}, the helper's {expires}");
    let (code, exec, _) = driver.run_binary(&["token", "Demo", "-o", "exec-credential"]);
    assert_eq!(code, 0);
    let exec: serde_json::Value = serde_json::from_str(&exec).unwrap();
    assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(exec["kind"], "ExecCredential");
    assert_eq!(exec["status"]["token"].as_str(), Some(raw.trim()));
    assert!(exec["status"]["expirationTimestamp"].as_str().unwrap().ends_with('Z'));
    let (code, _, err) = driver.run_binary(&["token", "Nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no session named \"Nope\""), "{err}");
    if running_as_root() {
        // Another account (CI runs as root, so `nobody` is at hand) gets nothing: it cannot even
        // connect. (Python rather than our binary, which may sit in a folder `nobody` cannot enter.)
        let socket = driver.home.join("run/session-keeper/token.sock");
        let client = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    sys.exit(f"refused: {e.strerror}")
# The app may close the connection before the request is written (broken pipe) or after (reset).
try:
    s.sendall(b'{"session":"Demo"}\n')
    answer = s.recv(65536)
except (BrokenPipeError, ConnectionResetError):
    answer = b""
sys.exit("closed without an answer" if not answer else f"answered: {answer.decode()}")
"#;
        let as_nobody = || {
            let out = std::process::Command::new("runuser")
                .args(["-u", "nobody", "--", "/usr/bin/python3", "-c", client])
                .arg(&socket)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
            assert!(out.stdout.is_empty());
            String::from_utf8_lossy(&out.stderr).into_owned()
        };
        let refused = as_nobody();
        assert!(refused.contains("refused: Permission denied"), "{refused}");
        // Even with the folders and the socket opened to everyone (a careless chmod), the app checks
        // the caller's uid and answers nothing.
        let chmod =
            |path: &std::path::Path, mode: u32| std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
        let folders = [driver.home.join("run"), driver.home.join("run/session-keeper")];
        folders.iter().for_each(|folder| chmod(folder, 0o711));
        chmod(&socket, 0o666);
        let ignored = as_nobody();
        folders.iter().for_each(|folder| chmod(folder, 0o700));
        chmod(&socket, 0o600);
        assert!(ignored.contains("closed without an answer"), "{ignored}");
    } else if std::env::var_os("CI").is_some() {
        panic!("CI must run as root: the other-account check of the token socket needs `runuser -u nobody`");
    } else {
        eprintln!("SKIPPED: the other-account check of the token socket (needs root for `runuser -u nobody`; CI runs it)");
    }

    // 2. The tray menu, as a panel reads it over D-Bus: the session with its time left, and the actions.
    let tray = harness::TrayMenu::find();
    let labels = tray.labels();
    assert!(labels.iter().any(|l| l.starts_with("Demo: Alice Example, ") && l.ends_with(" left")), "{labels:?}");
    for item in ["Open Session Keeper", "Refresh all", "Sign out all", "Quit"] {
        assert!(labels.iter().any(|l| l == item), "{item} missing from {labels:?}");
    }

    // Closing the window hides it to the tray; the app goes on and Refresh all works from there.
    harness::close_main_window();
    harness::wait_until("the window to hide", || !harness::main_window_visible());
    assert!(harness::app_running(), "closing the window ended the app");
    // A hidden page knows it, so its countdowns stop repainting (ui/countdown.js `tick`).
    eventually("the page to know it is hidden", || async {
        app.run_async("done(document.hidden)").await.as_bool().filter(|hidden| *hidden)
    })
    .await;
    let refreshes = idp.stats().await["grants"]["refresh_token"].as_u64().unwrap_or(0);
    tray.click("Refresh all");
    eventually("one refresh from the tray", || async {
        (idp.stats().await["grants"]["refresh_token"].as_u64().unwrap_or(0) == refreshes + 1).then_some(())
    })
    .await;
    let rotated = eventually("the rotated tokens in the keychain", || async {
        let now = keychain_tokens("Demo").await?;
        (now.access_token.expose_secret() != tokens.access_token.expose_secret()).then_some(now)
    })
    .await;
    seen_tokens.extend([rotated.access_token.expose_secret().to_owned(), rotated.refresh_token.unwrap().expose_secret().to_owned()]);
    let (_, raw, _) = driver.run_binary(&["token", "Demo"]);
    assert_eq!(raw.trim(), rotated.access_token.expose_secret(), "the helper hands out the refreshed token");

    // 3. A second launch hands over to the running app, which shows its window, and ends.
    let (code, _, err) = driver.run_binary(&[]);
    assert_eq!(code, 0, "the second launch failed: {err}");
    harness::wait_until("the window to come back", harness::main_window_visible);
    assert!(harness::app_running());
    app.client.switch_to_window(app.main.clone()).await.unwrap();
    app.wait_badge("Demo", "Active").await;
    // Shown again, the page knows it (the lapse test watches its countdown tick again).
    eventually("the page to know it is shown", || async {
        app.run_async("done(document.hidden)").await.as_bool().filter(|hidden| !*hidden).map(|_| ())
    })
    .await;

    // 4. Start at login: off by default, an autostart entry once switched on, gone once off.
    let autostart = driver.home.join(".config/autostart");
    let entries =
        || std::fs::read_dir(&autostart).map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect::<Vec<_>>()).unwrap_or_default();
    assert!(entries().is_empty(), "autostart is on by default");
    for on in [true, false] {
        app.click("#open-settings").await;
        let checked = app
            .client
            .find(fantoccini::Locator::Css("#settings-form input[name=launchAtLogin]"))
            .await
            .unwrap()
            .prop("checked")
            .await
            .unwrap();
        assert_eq!(checked.as_deref(), Some(if on { "false" } else { "true" }), "the box shows the state");
        app.click("#settings-form input[name=launchAtLogin]").await;
        app.click("#settings-submit").await;
        app.wait_dialogs_closed().await;
        harness::wait_until("the autostart entry to follow the box", || entries().len() == usize::from(on));
    }
    app.click("#open-settings").await;
    app.click("#settings-form input[name=launchAtLogin]").await;
    app.click("#settings-submit").await;
    app.wait_dialogs_closed().await;
    harness::wait_until("the autostart entry", || entries().len() == 1);
    let desktop = std::fs::read_to_string(&entries()[0]).unwrap();
    let exec = desktop.lines().find(|l| l.starts_with("Exec=")).unwrap_or_default().to_owned();
    assert!(exec.contains("session-keeper") && exec.contains("--background"), "{desktop}");

    // Sign out from the tray, then Quit from the tray ends the app. The session is signing in again
    // (as from a notification's "Sign in again"): it still holds its tokens, so Sign out all signs it
    // out too, and they leave the keychain.
    let windows = app.windows().await.len();
    let started = app
        .run_async(r#"window.__TAURI__.core.invoke("plugin:session-keeper|sign_in", { name: "Demo" }).then(() => done("started"), (e) => done(String(e)))"#)
        .await;
    assert_eq!(started, serde_json::json!("started"));
    app.wait_badge("Demo", "Signing in…").await;
    assert!(keychain_tokens("Demo").await.is_some(), "a new sign-in dropped the old tokens");
    // A second "Sign in again" for the same session (a click on an older notification after a long
    // sleep, say) replaces the window rather than opening another: one sign-in window per session.
    let again = app
        .run_async(r#"window.__TAURI__.core.invoke("plugin:session-keeper|sign_in", { name: "Demo" }).then(() => done("started"), (e) => done(String(e)))"#)
        .await;
    assert_eq!(again, serde_json::json!("started"));
    app.wait_badge("Demo", "Signing in…").await;
    eventually("one sign-in window for the session", || async { (app.windows().await.len() == windows + 1).then_some(()) }).await;
    tray.click("Sign out all");
    app.wait_badge("Demo", "Signed out").await;
    assert!(keychain_tokens("Demo").await.is_none());
    app.keep_ipc().await;
    tray.click("Quit");
    harness::wait_until("the app to quit", || !harness::app_running());

    // 7. The logs tell the story, and hold no token.
    let logs = read_logs(&driver);
    for line in logs.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
    }
    for fact in [
        "Session Keeper starting",
        "session changed",
        "token handed to a program",
        "window closed to the tray",
        "second launch",
        "signed out",
        "Session Keeper quitting",
    ] {
        assert!(logs.contains(fact), "the logs lack {fact:?}");
    }
    if running_as_root() {
        assert!(logs.contains("token request from another user refused"), "the refusal of `nobody` is not in the logs");
    }
    assert!(logs.lines().count() > 50, "trace logs from every crate: {} lines", logs.lines().count());
    for token in &seen_tokens {
        assert!(token.len() > 20);
        assert!(!logs.contains(token.as_str()), "a token reached the logs");
    }
    // Nor any other file the app wrote, with trace logging on.
    SEEN.lock().unwrap().extend(seen_tokens);
    assert_no_token_written(&driver);
}

/// A stand-in for the user's default browser: a desktop entry registered for http(s) URLs in this
/// test's XDG folders, as a real browser registers itself; `xdg-open` (through tauri-plugin-opener)
/// runs it, and it writes the URL to a file for the test to open in headless Chromium.
fn install_test_browser(home: &std::path::Path) -> std::path::PathBuf {
    let opened = home.join("opened-urls");
    let script = home.join("test-browser.sh");
    std::fs::write(&script, format!("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n", opened.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let applications = home.join("data/applications");
    std::fs::create_dir_all(&applications).unwrap();
    std::fs::write(
        applications.join("test-browser.desktop"),
        format!(
            "[Desktop Entry]\nType=Application\nName=Test browser\nExec={} %u\nMimeType=x-scheme-handler/http;x-scheme-handler/https;\n",
            script.display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(home.join("config")).unwrap();
    std::fs::write(
        home.join("config/mimeapps.list"),
        "[Default Applications]\nx-scheme-handler/http=test-browser.desktop\nx-scheme-handler/https=test-browser.desktop\n",
    )
    .unwrap();
    opened
}

/// Headless Chromium under chromedriver, the way the machine's probe runs it (no background
/// networking: the machine has no internet).
async fn chromium() -> (std::process::Child, App) {
    let port = harness::free_port();
    let driver = std::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver (package chromium-driver) is needed");
    harness::wait_until("chromedriver to listen", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let profile = std::env::temp_dir().join(format!("session-keeper-chromium-{}", std::process::id()));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), serde_json::json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     format!("--user-data-dir={}", profile.display())]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = fantoccini::Client::with_capabilities_and_connector(&format!("http://127.0.0.1:{port}"), &capabilities, connector)
        .await
        .expect("a Chromium session");
    let main = client.window().await.unwrap();
    (driver, App { client, main })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_in_the_system_browser_through_a_loopback_redirect() {
    let _serial = SERIAL.lock().await;
    let idp = Idp::start(Ttls::default());
    let driver = Driver::start("browser", &[]);
    let opened = install_test_browser(&driver.home);
    let app = driver.launch().await;
    app.click("#open-add").await;
    app.type_into("#add-form input[name=name]", "Browser").await;
    app.type_into("#add-form input[name=issuer]", &idp.issuer).await;
    app.type_into("#add-form input[name=clientId]", "session-keeper").await;
    app.client
        .find(fantoccini::Locator::Css("#add-form select[name=signInWith]"))
        .await
        .unwrap()
        .select_by_value("systemBrowser")
        .await
        .unwrap();
    app.click("#add-submit").await;
    app.wait_badge("Browser", "Signed out").await;

    // The app opens the default browser (no window of its own) and waits on a loopback port.
    let windows = app.windows().await.len();
    app.click(&card("Browser", "[data-action=sign-in]")).await;
    let url =
        eventually("the browser to be opened", || async { std::fs::read_to_string(&opened).ok()?.lines().next().map(str::to_owned) }).await;
    assert_eq!(app.windows().await.len(), windows, "no embedded sign-in window");
    let url = url::Url::parse(&url).unwrap();
    assert!(url.as_str().starts_with(&idp.issuer), "{url}");
    let redirect = url.query_pairs().find(|(k, _)| k == "redirect_uri").unwrap().1.into_owned();
    let redirect = url::Url::parse(&redirect).unwrap();
    assert_eq!((redirect.host_str(), redirect.path()), (Some("127.0.0.1"), "/callback"));
    assert!(redirect.port().is_some_and(|p| p != 80), "an ephemeral port: {redirect}");
    app.wait_badge("Browser", "Signing in…").await;
    // The card tells the user where to look, as no window of the app's own opened.
    assert!(app.text(&card("Browser", ".user")).await.starts_with("Continue in your web browser"));
    assert!(app.text(&card("Browser", ".provider")).await.ends_with("sign-in in your browser"));
    app.screenshot("12-browser-waiting").await;
    app.check_state("signing-in").await;

    // The user signs in in that browser; its last page says it can be closed.
    let (mut chromedriver, browser) = chromium().await;
    browser.client.goto(url.as_str()).await.unwrap();
    browser.provider_login("alice").await;
    let message = eventually("the loopback page", || async {
        let text = browser.client.find(fantoccini::Locator::Css("#message")).await.ok()?.text().await.ok()?;
        (!text.is_empty()).then_some(text)
    })
    .await;
    assert!(message.contains("You can close this window"), "{message}");
    browser.screenshot("13-browser-sign-in-done").await;
    let _ = browser.client.close().await;
    let _ = chromedriver.kill();
    let _ = chromedriver.wait();

    app.wait_badge("Browser", "Active").await;
    assert_eq!(app.text(&card("Browser", ".user")).await, "Alice Example <alice@example.test>");
    assert!(keychain_tokens("Browser").await.is_some());
    assert!(std::net::TcpStream::connect(("127.0.0.1", redirect.port().unwrap())).is_err(), "the loopback port closed");
    app.screenshot("14-browser-signed-in").await;
}

/// The same page in the dark, the Add provider dialog's presets and its fresh start, the offer to
/// fix an issuer's trailing slash, and a sign-out the provider could not confirm, shown as
/// information rather than as an error. axe-core checks each state at both window sizes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dark_presets_issuer_fix_and_a_sign_out_notice() {
    let _serial = SERIAL.lock().await;
    let idp = Idp::start(Ttls::default());
    let driver = Driver::start("dark", &[("GTK_THEME", "Adwaita:dark")]);
    let app = driver.launch().await;
    let dark = app.run_async("done(matchMedia('(prefers-color-scheme: dark)').matches)").await;
    assert_eq!(dark.as_bool(), Some(true), "the page did not follow the desktop's dark theme");
    app.wait_text("#empty", "the empty state", |t| t.contains("No sessions yet")).await;
    app.check_state("empty").await;

    // A preset asks only for what varies and builds the issuer its provider documents.
    app.click("#open-add").await;
    let select = app.find("#add-preset").await;
    select.select_by_value("keycloak").await.unwrap();
    app.type_into("#preset-fields input[data-preset-field=host]", "sso.example.com").await;
    app.type_into("#preset-fields input[data-preset-field=realm]", "myrealm").await;
    let issuer = app.find("#add-form input[name=issuer]").await.prop("value").await.unwrap();
    assert_eq!(issuer.as_deref(), Some("https://sso.example.com/realms/myrealm"));
    assert_eq!(app.find("#add-form input[name=name]").await.prop("value").await.unwrap().as_deref(), Some("keycloak"));
    assert!(!app.text("#open-guide").await.is_empty(), "the registration guide is linked");
    app.check_state("add-provider-preset").await;
    // Google: the system browser (it refuses embedded web views), a client secret, no offline_access.
    app.find("#add-preset").await.select_by_value("google").await.unwrap();
    let owned = app;
    let app = &owned;
    let form = |name: &'static str| async move {
        app.find(&format!("#add-form [name={name}]")).await.prop("value").await.unwrap().unwrap_or_default()
    };
    assert_eq!(form("signInWith").await, "systemBrowser");
    assert_eq!(form("issuer").await, "https://accounts.google.com");
    assert!(!form("scopes").await.contains("offline_access"));
    assert_eq!(app.attr("#secret-field", "hidden").await, None, "the client secret field shows");
    // Opened again, the dialog starts afresh: no preset, no values, the fold closed, at the top.
    app.find("#add-form input[name=issuer]").await.send_keys("\u{E00C}").await.unwrap();
    app.wait_dialogs_closed().await;
    app.click("#open-add").await;
    assert_eq!(form("preset").await, "generic");
    assert_eq!(form("issuer").await, "");
    assert_eq!(form("name").await, "");
    assert_eq!(app.attr("#add-redirects", "open").await, None, "the fold starts closed");
    assert_eq!(app.attr("#secret-field", "hidden").await.as_deref(), Some("true"));
    app.find("#add-form input[name=issuer]").await.send_keys("\u{E00C}").await.unwrap();
    app.wait_dialogs_closed().await;

    // An issuer typed with a trailing slash the provider does not announce: the fix is offered.
    add_provider(app, "work", &format!("{}/", idp.issuer)).await;
    let offer = app.wait_text("#add-fix", "the offer to fix the issuer", |t| t.starts_with("Use ")).await;
    assert_eq!(offer, format!("Use {}", idp.issuer));
    app.check_state("add-provider-issuer-fix").await;
    app.click("#add-fix").await;
    app.wait_badge("work", "Signed out").await;
    app.check_state("signed-out").await;

    // Signing in: the card while the provider's window is open.
    let window = open_sign_in_window(app, "work").await;
    app.wait_badge("work", "Signing in…").await;
    app.check_state("signing-in").await;
    app.client.switch_to_window(window.clone()).await.unwrap();
    app.provider_login("alice").await;
    app.wait_closed(&window).await;
    app.wait_badge("work", "Active").await;
    app.check_state("active").await;
    // A refresh the provider refuses for now: the error on the card.
    idp.fail_token_requests(1, "503").await;
    app.click(&card("work", "[data-action=refresh]")).await;
    app.wait_text(&card("work", ".card-error"), "the outage on the card", |t| t.contains("cannot serve the request now (HTTP 503)")).await;
    app.check_state("error").await;

    // A session that cannot be extended (no refresh token, 20-second tokens): expiring, then expired.
    let short = Idp::start_with(Ttls { access: 20, refresh: 3600 }, &[("IDP_NO_REFRESH_TOKEN", "1")]);
    add_provider(app, "short", &short.issuer).await;
    app.wait_badge("short", "Signed out").await;
    let known = app.windows().await;
    app.click(&card("short", "[data-action=sign-in]")).await;
    let window = app.switch_to_new_window(&known).await;
    app.provider_login("bob").await;
    app.wait_closed(&window).await;
    app.wait_badge("short", "Expiring").await;
    app.check_state("expiring").await;
    app.wait_badge("short", "Expired").await;
    app.check_state("expired").await;
    app.click(&card("short", "[data-action=remove]")).await;
    eventually("the short session to go", || async {
        app.client.find(fantoccini::Locator::Css(&card("short", ".badge"))).await.is_err().then_some(())
    })
    .await;

    app.click("#open-settings").await;
    // A private sign-in window keeps no provider cookie, so a sign-out opens no provider page.
    app.click("#settings-form input[name=ephemeralSignIn]").await;
    app.check_state("settings").await;
    app.click("#settings-submit").await;
    app.wait_dialogs_closed().await;

    // The provider goes away: the sign-out here still succeeds, and the card says, as information,
    // that the tokens stay valid there and what to do.
    drop(idp);
    app.click(&card("work", "[data-action=sign-out]")).await;
    app.wait_badge("work", "Signed out").await;
    let note = app.wait_text(&card("work", ".card-note"), "the sign-out notice", |t| !t.is_empty()).await;
    assert!(note.starts_with("Signed out on this computer, but the provider could not revoke the tokens (connection refused)"), "{note}");
    assert!(note.contains("remove Session Keeper's access in your account at the provider"), "{note}");
    assert_eq!(app.text(&card("work", ".card-error")).await, "", "not shown as an error");
    assert_eq!(app.attr(&card("work", ".card-note"), "role").await.as_deref(), Some("status"));
    app.check_state("signed-out-notice").await;
    assert!(keychain_tokens("work").await.is_none(), "nothing left in the keychain");
    owned.quit().await;
}

/// Runs a blocking command off the async runtime: (exit status, stdout, stderr).
/// Turns a session's silent sign-in off (the card's switch: the plugin's `set_silent_sign_in`), for the
/// tests of a session nothing renews by itself; tests/e2e/silent.rs has the ones that renew.
async fn silent_off(app: &App, session: &str) {
    let script = format!(
        r#"window.__TAURI__.core.invoke("plugin:session-keeper|set_silent_sign_in", {{ name: "{session}", enabled: false }}).then((s) => done(s.silent.enabled), (e) => done(String(e)))"#
    );
    assert_eq!(app.run_async(&script).await, serde_json::json!(false), "silent sign-in turned off");
}

async fn output_of(mut command: std::process::Command) -> (i32, String, String) {
    let out = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `GetAccessToken(min_valid)` on `session`'s object through `gdbus` (or a copy of it), as any
/// desktop program would call it.
fn get_access_token(driver: &Driver, gdbus: &std::path::Path, session: &str, min_valid: u32) -> std::process::Command {
    let mut command = driver.command(gdbus);
    command.args(["call", "--session", "--dest", "dev.sessionkeeper.desktop", "--object-path"]);
    command.arg(format!("/dev/sessionkeeper/desktop/sessions/{session}"));
    command.args(["--method", "dev.sessionkeeper.desktop.Session.GetAccessToken", &min_valid.to_string()]);
    command
}

/// `('token', 3599)` -> the token and its lifetime.
fn token_reply(out: &str) -> (String, i64) {
    let inner = out.trim().trim_start_matches("('").trim_end_matches(')');
    let (token, seconds) = inner.split_once("', ").unwrap_or_else(|| panic!("not a token reply: {out}"));
    (token.to_owned(), seconds.trim().parse().unwrap())
}

async fn accepted_by_provider(idp: &Idp, token: &str) -> bool {
    reqwest::Client::new().get(format!("{}/me", idp.base())).bearer_auth(token).send().await.unwrap().status() == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_programs_get_tokens_over_dbus_the_helper_and_git_with_the_users_consent() {
    let _serial = SERIAL.lock().await;
    let idp = Idp::start(Ttls::default());
    let watch = NotificationWatch::start();
    let driver = Driver::start("broker", &[("SESSION_KEEPER_DEMO_ISSUER", &idp.issuer)]);
    let app = driver.launch().await;
    app.wait_badge("Demo", "Signed out").await;
    let gdbus = std::path::PathBuf::from("/usr/bin/gdbus");

    // The service is on the bus as another program sees it: its interface is the one documented.
    let mut introspect = driver.command(&gdbus);
    introspect.args([
        "introspect",
        "--session",
        "--xml",
        "--dest",
        "dev.sessionkeeper.desktop",
        "--object-path",
        "/dev/sessionkeeper/desktop/sessions/Demo",
    ]);
    let (code, xml, err) = output_of(introspect).await;
    assert_eq!(code, 0, "{err}");
    // What the app publishes is kept beside the screenshots, to copy over the documented file when the
    // interface changes on purpose.
    std::fs::write(harness::artifacts().join("dev.sessionkeeper.desktop.Session.xml"), &xml).unwrap();
    let documented =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/dev.sessionkeeper.desktop.Session.xml")).unwrap_or_default();
    let interface = |text: &str| -> String {
        let Some(start) = text.find("<interface name=\"dev.sessionkeeper.desktop.Session\">") else { return String::new() };
        let end = start + text[start..].find("</interface>").unwrap();
        let mut body = text[start..end].to_owned();
        while let Some(open) = body.find("<!--") {
            let close = open + body[open..].find("-->").map_or(body.len() - open, |at| at + 3);
            body.replace_range(open..close, "");
        }
        body.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(interface(&xml), interface(&documented), "docs/dev.sessionkeeper.desktop.Session.xml is not what the app publishes");
    // Signed out: attention needed, and a typed error that says to sign in.
    let mut managed = driver.command(&gdbus);
    managed.args([
        "call",
        "--session",
        "--dest",
        "dev.sessionkeeper.desktop",
        "--object-path",
        "/dev/sessionkeeper/desktop",
        "--method",
        "org.freedesktop.DBus.ObjectManager.GetManagedObjects",
    ]);
    let (_, objects, _) = output_of(managed).await;
    assert!(objects.contains("'Phase': <'signed_out'>") && objects.contains("'AttentionNeeded': <true>"), "{objects}");
    let (code, _, err) = output_of(get_access_token(&driver, &gdbus, "Demo", 0)).await;
    assert_eq!(code, 1);
    assert!(err.contains("dev.sessionkeeper.desktop.Error.SignInRequired") && err.contains("sign in first"), "{err}");

    // A property change is signalled: PropertiesChanged with the new phase when the user signs in.
    let mut monitor = driver.command(&gdbus);
    monitor.args(["monitor", "--session", "--dest", "dev.sessionkeeper.desktop"]).stdout(std::process::Stdio::piped());
    let mut monitor = monitor.spawn().unwrap();
    let monitored = Arc::new(std::sync::Mutex::new(String::new()));
    let sink = monitored.clone();
    let monitor_out = monitor.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(monitor_out).lines().map_while(Result::ok) {
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    // SignIn() brings up the app's sign-in for the session, as the card's button does.
    let known = app.windows().await;
    let mut sign_in_call = driver.command(&gdbus);
    sign_in_call.args([
        "call",
        "--session",
        "--dest",
        "dev.sessionkeeper.desktop",
        "--object-path",
        "/dev/sessionkeeper/desktop/sessions/Demo",
        "--method",
        "dev.sessionkeeper.desktop.Session.SignIn",
    ]);
    let (code, _, err) = output_of(sign_in_call).await;
    assert_eq!(code, 0, "{err}");
    let window = app.switch_to_new_window(&known).await;
    app.provider_login("alice").await;
    app.wait_closed(&window).await;
    app.wait_badge("Demo", "Active").await;
    let signed_in = tokio::time::Instant::now();
    eventually("PropertiesChanged with the active phase", || async {
        let seen = monitored.lock().unwrap().clone();
        (seen.contains("org.freedesktop.DBus.Properties.PropertiesChanged") && seen.contains("'Phase': <'active'>")).then_some(())
    })
    .await;
    let _ = monitor.kill();
    let _ = monitor.wait();

    // 1. The first request of a program asks the user; Deny refuses it with a typed error.
    let consent = "Allow gdbus to use “Demo”?";
    let asking = tokio::spawn(output_of(get_access_token(&driver, &gdbus, "Demo", 0)));
    watch.wait_for_count(consent, 1).await;
    // The card asks the same question.
    app.wait_text(&card("Demo", ".consent"), "the question on the card", |t| t.contains("/usr/bin/gdbus")).await;
    app.screenshot("40-consent-asked").await;
    app.check_state("consent asked").await;
    tokio::task::spawn_blocking(move || harness::answer_notification(consent, "deny")).await.unwrap();
    let (code, _, err) = asking.await.unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("dev.sessionkeeper.desktop.Error.Denied") && err.contains("You did not allow /usr/bin/gdbus"), "{err}");

    // 2. Allow once: a token the provider accepts, and the next request asks again.
    let asking = tokio::spawn(output_of(get_access_token(&driver, &gdbus, "Demo", 0)));
    watch.wait_for_count(consent, 2).await;
    tokio::task::spawn_blocking(move || harness::answer_notification(consent, "allow-once")).await.unwrap();
    let (code, out, err) = asking.await.unwrap();
    assert_eq!(code, 0, "{err}");
    let (token, lifetime) = token_reply(&out);
    assert!(accepted_by_provider(&idp, &token).await, "the provider's userinfo accepts the token");
    assert!((3500..=3600).contains(&lifetime), "{lifetime}");
    assert_eq!(token, keychain_tokens("Demo").await.unwrap().access_token.expose_secret(), "the session's own token");

    // 3. Always allow: remembered, listed on the card; the next request is not asked.
    let asking = tokio::spawn(output_of(get_access_token(&driver, &gdbus, "Demo", 0)));
    watch.wait_for_count(consent, 3).await;
    tokio::task::spawn_blocking(move || harness::answer_notification(consent, "always")).await.unwrap();
    assert_eq!(asking.await.unwrap().0, 0);
    let (code, _, err) = output_of(get_access_token(&driver, &gdbus, "Demo", 0)).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(watch.count(consent), 3, "an allowed program is not asked again");
    if app.attr(&card("Demo", ".card-programs"), "open").await.is_none() {
        app.click(&card("Demo", ".card-programs summary")).await;
    }
    app.find(&card("Demo", ".card-programs[open]")).await;
    app.wait_text(&card("Demo", ".allowed-list"), "the allowed program", |t| t.contains("/usr/bin/gdbus")).await;
    // Repeats within a minute are one line with a count: "10:03 · gdbus ×3".
    let gdbus_hand_outs = |t: &str| -> u32 {
        t.lines()
            .filter(|line| line.contains("gdbus"))
            .map(|line| line.rsplit_once('×').and_then(|(_, n)| n.trim().parse().ok()).unwrap_or(1))
            .sum()
    };
    app.wait_text(&card("Demo", ".handed-list"), "the hand-outs", |t| gdbus_hand_outs(t) >= 3).await;
    app.screenshot("41-programs").await;
    app.check_state("programs listed").await;

    // 4. Another program gets its own question.
    let other = driver.home.join("bin/other-tool");
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    std::fs::copy(&gdbus, &other).unwrap();
    let other_consent = "Allow other-tool to use “Demo”?";
    let asking = tokio::spawn(output_of(get_access_token(&driver, &other, "Demo", 0)));
    watch.wait_for_count(other_consent, 1).await;
    tokio::task::spawn_blocking(move || harness::answer_notification(other_consent, "deny")).await.unwrap();
    assert_eq!(asking.await.unwrap().0, 1);

    // 5. "Ask again" on the card takes the permission back.
    app.click(&card("Demo", ".allowed-list [data-action=forget-program]")).await;
    app.wait_text(&card("Demo", ".allowed-list"), "no allowed program", |t| !t.contains("gdbus")).await;
    // (Earlier tests of this run may have left notifications on dunst's screen: counted first.)
    let displayed = || -> u32 {
        let out = std::process::Command::new("dunstctl").args(["count", "displayed"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let before = displayed();
    let asking = tokio::spawn(output_of(get_access_token(&driver, &gdbus, "Demo", 0)));
    watch.wait_for_count(consent, 4).await;
    // Answered on the card this time: the notification asking the same goes away too.
    app.click(&card("Demo", ".consent [data-answer=always]")).await;
    assert_eq!(asking.await.unwrap().0, 0);
    // Within 5 s, well before the notification's own 20-s expiry would take it away.
    let answered = std::time::Instant::now();
    // (Others may expire meanwhile: at most as many as before.)
    while displayed() > before {
        assert!(answered.elapsed() < Duration::from_secs(5), "the answered question's notification is still on screen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 6. The token helper (`session-keeper-token`): the program that ran it is asked about (the helper
    // only forwards), here this test's own binary; then the ID token.
    let token_client = harness::client_binary("session-keeper-token");
    let helper = |args: &[&str]| {
        let mut command = driver.command(&token_client);
        command.args(args);
        command
    };
    let asking = tokio::spawn(output_of(helper(&["Demo", "--id-token"])));
    let test_program = std::fs::read_link("/proc/self/exe").unwrap();
    let test_consent = format!("Allow {} to use “Demo”?", test_program.file_name().unwrap().to_string_lossy());
    watch.wait_for_count(&test_consent, 1).await;
    let answer = test_consent.clone();
    tokio::task::spawn_blocking(move || harness::answer_notification(&answer, "always")).await.unwrap();
    let (code, out, err) = asking.await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(Some(out.trim()), keychain_tokens("Demo").await.unwrap().id_token.as_ref().map(|t| t.expose_secret()));

    // 7. `--min-valid` longer than the token's remaining life: one refresh, then the new token; over
    // D-Bus the same need is then met by that token without another request.
    // (A token younger than the 5-s floor between refreshes is as fresh as a refresh would make it and
    // is handed out as it is; the wait is for that floor to pass, the condition under test.)
    tokio::time::sleep_until(signed_in + Duration::from_secs(6)).await;
    let requests = idp.token_requests().await;
    let (code, out, err) = output_of(helper(&["Demo", "--min-valid", "3599"])).await;
    assert_eq!(code, 0, "{err}");
    let fresh = out.trim().to_owned();
    assert_eq!(idp.token_requests().await, requests + 1, "exactly one refresh");
    assert_ne!(fresh, token);
    assert!(accepted_by_provider(&idp, &fresh).await);
    let (code, out, err) = output_of(get_access_token(&driver, &gdbus, "Demo", 3590)).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!((token_reply(&out).0, idp.token_requests().await), (fresh, requests + 1), "the fresh token lasts: no request");
    // EnsureCredentials: valid, and for how long, without a token.
    let mut ensure = driver.command(&gdbus);
    ensure.args([
        "call",
        "--session",
        "--dest",
        "dev.sessionkeeper.desktop",
        "--object-path",
        "/dev/sessionkeeper/desktop/sessions/Demo",
        "--method",
        "dev.sessionkeeper.desktop.Session.EnsureCredentials",
    ]);
    let (code, out, err) = output_of(ensure).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.trim().trim_start_matches('(').trim_end_matches(",)").parse::<i64>().unwrap() > 3500, "{out}");

    // A narrower scope (userinfo sees only the subject), and a clear error for another audience here.
    let (code, out, err) = output_of(helper(&["Demo", "--scope", "openid"])).await;
    assert_eq!(code, 0, "{err}");
    // A narrowed token is never the session's own: the scan at the end looks for it too.
    SEEN.lock().unwrap().push(out.trim().to_owned());
    let narrowed: serde_json::Value =
        reqwest::Client::new().get(format!("{}/me", idp.base())).bearer_auth(out.trim()).send().await.unwrap().json().await.unwrap();
    assert_eq!((narrowed["sub"].as_str(), narrowed.get("email")), (Some("alice"), None), "only openid: {narrowed}");
    let (code, _, err) = output_of(helper(&["Demo", "--audience", "https://api.example"])).await;
    assert_eq!(code, 1);
    assert!(err.contains("does not offer token exchange (RFC 8693)"), "{err}");

    // 8. git: a host mapped to the session on its card; `git clone` over HTTP gets the token as its
    // password from the credential helper, and the forge checks it at the provider.
    let work = driver.home.join("git");
    std::fs::create_dir_all(&work).unwrap();
    let git = |args: &[&str]| {
        let out = driver
            .command("git")
            .current_dir(&work)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q", "--bare", "repo.git"]);
    git(&["-C", "repo.git", "symbolic-ref", "HEAD", "refs/heads/main"]);
    git(&["init", "-q", "-b", "main", "source"]);
    std::fs::write(work.join("source/README"), "served by the forge\n").unwrap();
    git(&["-C", "source", "add", "README"]);
    git(&["-C", "source", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "first"]);
    git(&["-C", "source", "push", "-q", "../repo.git", "main"]);
    git(&["-C", "repo.git", "update-server-info"]);
    let forge = forge::Forge::start(work.join("repo.git"), format!("{}/me", idp.base())).await;
    app.type_into(&card("Demo", ".git-form input"), &forge.host).await;
    app.click(&card("Demo", "[data-action=save-git-hosts]")).await;
    eventually("the git host saved", || async {
        let saved = std::fs::read_to_string(driver.app_data().join("settings.json")).ok()?;
        saved.contains(&forge.host).then_some(())
    })
    .await;
    let git_helper = harness::client_binary("git-credential-session-keeper").display().to_string();
    let mut clone = driver.command("git");
    clone
        .current_dir(&work)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args(["-c", "credential.helper=", "-c", &format!("credential.helper={git_helper}"), "clone", "-q"])
        .arg(format!("http://{}/repo.git", forge.host))
        .arg("clone");
    let cloning = tokio::spawn(output_of(clone));
    let git_consent = "Allow git-remote-http to use “Demo”?";
    watch.wait_for_count(git_consent, 1).await;
    tokio::task::spawn_blocking(move || harness::answer_notification(git_consent, "allow-once")).await.unwrap();
    let (code, _, err) = cloning.await.unwrap();
    assert_eq!(code, 0, "git clone: {err}");
    assert_eq!(std::fs::read_to_string(work.join("clone/README")).unwrap(), "served by the forge\n");
    assert!(forge.refused.load(std::sync::atomic::Ordering::SeqCst) >= 1, "git first came without credentials");
    assert!(forge.accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1);

    // 9. Another user is refused on D-Bus as on the socket (the tests' bus lets other users in).
    if running_as_root() {
        let out = std::process::Command::new("runuser")
            .args([
                "-u",
                "nobody",
                "--",
                "gdbus",
                "call",
                "--session",
                "--dest",
                "dev.sessionkeeper.desktop",
                "--object-path",
                "/dev/sessionkeeper/desktop/sessions/Demo",
                "--method",
                "dev.sessionkeeper.desktop.Session.GetAccessToken",
                "0",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && out.stdout.is_empty(), "{err}");
        assert!(err.contains("dev.sessionkeeper.desktop.Error.Denied") && err.contains("not of user 65534"), "{err}");
    }

    // Every hand-out is in the log with its program, and no token is.
    let logs = std::fs::read_dir(driver.logs())
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(
        logs.contains("token handed to a program") && logs.contains("/usr/bin/gdbus") && logs.contains("git-remote-http"),
        "hand-outs are logged"
    );
    app.quit().await;
    assert_no_token_written(&driver);
}
