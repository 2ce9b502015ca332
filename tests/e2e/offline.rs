//! End-to-end: offline and back, and a captive portal, in the real window against the real provider
//! (oidc-provider), with the desktop's connectivity told by a NetworkManager stand-in on a private
//! system bus (tests/support's `network`, which says why a stand-in). While NetworkManager says
//! offline, the provider is also out of reach for the one refresh the app tries: the card says
//! "Offline", no failure is counted, no "cannot be refreshed" notice comes, and no backoff retries
//! storm the provider; when NetworkManager says the network is back, the held refresh goes out at
//! once, and how soon is measured and written to `offline-return.json` in the artifacts. Run through
//! `scripts/test.sh` (the private desktop).

use session_keeper_testkit as support;

mod harness;

use std::time::{Duration, Instant};

use harness::{App, Driver, NotificationWatch, card, eventually};
use serde_json::{Value, json};
use support::network::{NetworkManager, connectivity};
use support::{Idp, Ttls};

/// The session as the app's core says it, through the page's own command.
async fn snapshot(app: &App, session: &str) -> Value {
    let state =
        app.run_async("window.__TAURI__.core.invoke('get_app_state').then((s) => done(s), (e) => done({ error: String(e) }));").await;
    let sessions = state["sessions"].as_array().unwrap_or_else(|| panic!("no app state: {state}"));
    sessions.iter().find(|s| s["id"] == session).unwrap_or_else(|| panic!("no session {session}: {state}")).clone()
}

/// Waits, bounded, until the provider has received more than `count` token requests, polling every
/// 5 ms; returns when it saw the request.
async fn wait_for_token_request_after(idp: &Idp, count: u64) -> Instant {
    let deadline = Instant::now() + harness::PATIENCE;
    loop {
        if idp.token_requests().await > count {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "no token request after number {count} within {:?}", harness::PATIENCE);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits for the tray's line of the Demo session to end with `tail` (the network's words).
async fn tray_says(tail: &str) {
    let tray = harness::TrayMenu::find();
    eventually(&format!("the tray's line for Demo to end with {tail:?}"), || async {
        tray.labels().into_iter().find(|l| l.starts_with("Demo: Bob Example, ") && l.ends_with(tail))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_counts_no_failure_and_the_networks_return_refreshes_at_once_and_a_portal_is_named() {
    let nm = NetworkManager::start(connectivity::FULL).await;
    // 40-second access tokens: a refresh is due 10 to 20 s after each sign-in or refresh (the lead
    // time is at most half the token's life, spread up to half of that earlier).
    let idp = Idp::start(Ttls { access: 40, refresh: 3600 });
    let watch = NotificationWatch::start();
    let driver = Driver::start("offline", &[("SESSION_KEEPER_DEMO_ISSUER", &idp.issuer), ("DBUS_SYSTEM_BUS_ADDRESS", &nm.address)]);
    let app = driver.launch().await;
    app.wait_badge("Demo", "Signed out").await;
    app.sign_in_through_window("Demo", "bob").await;
    app.wait_badge("Demo", "Active").await;

    let mut returns = Vec::new();
    for round in 0..3 {
        // NetworkManager says offline: every card says so at once.
        nm.set(connectivity::NONE).await;
        app.wait_badge("Demo", "Offline").await;
        let note = app.text(&card("Demo", ".card-online")).await;
        assert!(note.starts_with("Offline: Session Keeper waits for the network"), "{note}");
        // The provider is out of reach meanwhile (every token request dropped); the refresh that
        // comes due is tried once.
        idp.fail_token_requests(1000, "reset").await;
        let before = idp.token_requests().await;
        wait_for_token_request_after(&idp, before).await;
        let kind =
            eventually("the failed refresh on the card", || async { app.attr(&card("Demo", ".card-error"), "data-kind").await }).await;
        assert_eq!(kind, "provider_unavailable");
        let session = snapshot(&app, "Demo").await;
        assert_eq!(
            (&session["network"], &session["consecutiveFailures"], &session["failing"], &session["needsAttention"]),
            (&json!("offline"), &json!(0), &json!(false), &json!(false)),
            "a failure counted while offline: {session}"
        );
        assert_eq!(app.badge("Demo").await, "Offline");
        if round == 0 {
            // No backoff spent offline: the retries an outage would make (after 1, 2 and 4 s) do not
            // come. Watched for 8 s, since absence has no condition to wait for.
            let watched = Instant::now();
            while watched.elapsed() < Duration::from_secs(8) {
                assert_eq!(idp.token_requests().await, before + 1, "a retry while offline after {:?}", watched.elapsed());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            app.screenshot("offline").await;
            app.check_state("offline").await;
            tray_says(", offline").await;
        }
        // The network is back: the held refresh goes out at once, and succeeds.
        idp.fail_token_requests(0, "reset").await;
        nm.set(connectivity::FULL).await;
        let told = Instant::now();
        let refreshed = wait_for_token_request_after(&idp, before + 1).await;
        returns.push(refreshed - told);
        app.wait_badge("Demo", "Active").await;
        app.wait_text(&card("Demo", ".card-error"), "the error to clear after the refresh", str::is_empty).await;
        let session = snapshot(&app, "Demo").await;
        assert_eq!((&session["network"], &session["consecutiveFailures"]), (&json!("online"), &json!(0)), "{session}");
    }
    assert!(returns.iter().all(|delay| *delay < Duration::from_secs(2)), "the refresh waited after the network returned: {returns:?}");

    // A captive portal is named as one, and is no failure either. It holds every connection (a
    // refresh that reached the provider would prove the session online, rightly).
    nm.set(connectivity::PORTAL).await;
    app.wait_badge("Demo", "Network sign-in").await;
    idp.fail_token_requests(1000, "reset").await;
    let note = app.text(&card("Demo", ".card-online")).await;
    assert!(note.contains("sign in to the network first"), "{note}");
    app.screenshot("portal").await;
    app.check_state("portal").await;
    tray_says(", sign in to the network first").await;
    let session = snapshot(&app, "Demo").await;
    assert_eq!((&session["network"], &session["consecutiveFailures"]), (&json!("portal"), &json!(0)), "{session}");
    idp.fail_token_requests(0, "reset").await;
    nm.set(connectivity::FULL).await;
    app.wait_badge("Demo", "Active").await;
    app.wait_text(&card("Demo", ".card-error"), "no error once the portal is gone", str::is_empty).await;
    assert_eq!(app.text(&card("Demo", ".card-online")).await, "", "the network's note stayed");

    assert_eq!(watch.count("cannot be refreshed"), 0, "a failing notice while offline");
    let mut sorted = returns.clone();
    sorted.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let figures = json!({
        "what": "from NetworkManager saying the network is back (the stand-in's PropertiesChanged) to the held refresh reaching the provider",
        "delays_ms": returns.iter().map(ms).collect::<Vec<_>>(),
        "median_ms": ms(&sorted[sorted.len() / 2]),
    });
    eprintln!("the network's return to the refresh: {figures}");
    std::fs::write(harness::artifacts().join("offline-return.json"), serde_json::to_vec_pretty(&figures).unwrap()).unwrap();
    app.quit().await;
}
