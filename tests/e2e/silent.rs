//! End-to-end: silent re-authentication (issue 26) in the real window against the real provider
//! (oidc-provider with an 8-second absolute refresh-token lifetime and an hour-long provider session).
//! One app start, in order:
//!
//! 1. signed in once through the visible window, the session outlives three refresh tokens: each ends
//!    (`invalid_grant`), the hidden window signs in again with `prompt=none` on the provider's cookie,
//!    and nobody sees anything: no X window is mapped meanwhile (every `MapNotify` on the root window,
//!    watched with `xev`), no notification is sent (every `Notify` call on the session bus), and the
//!    card never says Expired. The time of each silent sign-in in the real window (the app's log line
//!    `silent sign-in window finished`, `took_ms`) is written to `silent-sign-in.json` in the artifacts.
//! 2. a provider page that never redirects is abandoned within the silent sign-in timeout, with no
//!    window mapped;
//! 3. the provider's own session ended (the test control): exactly one notification, and Sign in
//!    again in the visible window works;
//! 4. after a sign-out (its end-session page confirmed) no silent sign-in happens: the provider sees no
//!    authorization request for two refresh-token lifetimes, and the provider's cookies are deleted
//!    (the app's log says how many of its domains; under WebDriver the provider host's in the shared
//!    web context).
//!
//! A second test, with a provider that answers for whoever its cookie says (it ignores `id_token_hint`):
//! the Demo session signed in as bob, then the provider's cookie switched to alice (bob's provider
//! session ended, a second session signed in as alice in the same shared web context), and Demo's
//! silent sign-in (due half a refresh-token lifetime after its sign-in, the provider announcing the
//! refresh token's end) is answered for alice: refused (`other_user`, the card says so), and until the
//! next attempt (the refusal's retry, a second later) the session is bob's as before: the card, the
//! snapshot, the keychain's ID token, no notification for Demo, no window mapped; alice's answer's
//! tokens were revoked. What the retry meets is not asserted: at oidc-provider revoking the answer's
//! refresh token ends alice's whole grant (the one the Other session holds too), so the retry is
//! answered `consent_required` and Demo ends as when the provider's session ends.
//!
//! Why `xev` and not WebDriver's window handles: under WebDriver the hidden window shares the
//! dashboard's web context, so it is one of the handles whether or not it is shown; what a person
//! would see is a mapped X window. The watch sees top-level maps only (children of the root, which
//! under Xvfb without a window manager is every window); it would miss a window drawn inside
//! another, which the app never makes. While no notification comes, every map counts; once one may
//! come (the page that never redirects ends the session), dunst's bubbles are told apart by being
//! override-redirect, which the app's windows never are. Run through `scripts/test.sh` (the private desktop).

use session_keeper_testkit as support;

mod harness;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use harness::{App, Driver, NotificationWatch, card, eventually};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use session_core::{KeyringVault, SecretVault};
use support::{Idp, Ttls};

/// One app at a time: the tests of this file run in one process, and the app is single-instance with
/// one keychain.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The provider's refresh tokens live this long (absolute); its own session an hour.
const REFRESH_TOKEN_TTL: u64 = 8;

/// Every top-level X window mapped while it runs (`xev -root -event substructure`).
struct MapWatch {
    child: Child,
    seen: Arc<Mutex<Vec<String>>>,
}

impl MapWatch {
    fn start() -> MapWatch {
        let mut child = Command::new("xev")
            .args(["-root", "-event", "substructure"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("xev (package x11-utils) is needed");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(out).lines().map_while(Result::ok);
            while let Some(line) = lines.next() {
                if line.starts_with("MapNotify event") {
                    // The next line names the window: "    event 0x…, window 0x…, override NO".
                    let detail = lines.next().unwrap_or_default();
                    sink.lock().unwrap().push(detail.trim().to_owned());
                }
            }
        });
        MapWatch { child, seen }
    }

    /// Every window mapped so far.
    fn maps(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// The windows mapped so far that are windows to a person: not override-redirect (the hidden
    /// window would be a normal top-level window; dunst's notification bubbles and menus are
    /// override-redirect, and notifications are counted on the bus).
    fn windows(&self) -> Vec<String> {
        self.maps().into_iter().filter(|map| map.ends_with("override NO")).collect()
    }
}

impl Drop for MapWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The session as the core says it, through the plugin's command the dashboard may call.
async fn snapshot(app: &App, session: &str) -> Value {
    let answer = app
        .run_async(
            "window.__TAURI__.core.invoke('plugin:session-keeper|get_session', { name: arguments[0] }).then((s) => done(s), (e) => done({ error: String(e) }));"
                .replace("arguments[0]", &format!("{session:?}"))
                .as_str(),
        )
        .await;
    let sessions = answer["sessions"].as_array().unwrap_or_else(|| panic!("no sessions: {answer}"));
    sessions.iter().find(|s| s["id"] == session).unwrap_or_else(|| panic!("no session {session}: {answer}")).clone()
}

/// Every notification sent so far (any summary).
fn notifications(watch: &NotificationWatch) -> usize {
    watch.count("")
}

/// Every authorization request the provider received (GET /auth, `prompt=none` ones included).
async fn authorization_requests(idp: &Idp) -> u64 {
    idp.authorizations().await.0
}

/// The `fields` of every record in the app's JSON log files.
fn log_records(driver: &Driver) -> Vec<Value> {
    let mut records = Vec::new();
    for entry in std::fs::read_dir(driver.logs()).into_iter().flatten().flatten() {
        for line in std::fs::read_to_string(entry.path()).unwrap_or_default().lines() {
            if let Ok(mut record) = serde_json::from_str::<Value>(line) {
                records.push(record["fields"].take());
            }
        }
    }
    records
}

/// The silent sign-ins' times in the real window, from the app's log.
fn silent_times(driver: &Driver) -> Vec<u64> {
    log_records(driver)
        .into_iter()
        .filter(|fields| fields["message"] == "silent sign-in window finished" && fields["ok"] == true)
        .filter_map(|fields| fields["took_ms"].as_u64())
        .collect()
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    sorted[((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1).min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_outlives_its_refresh_tokens_unseen_and_asks_once_when_the_provider_session_ends() {
    let _serial = SERIAL.lock().await;
    let idp = Idp::start_with(
        Ttls { access: 3, refresh: REFRESH_TOKEN_TTL },
        &[("IDP_SESSION_TTL", "3600"), ("IDP_REFRESH_TOKEN_ABSOLUTE", "1")],
    );
    let watch = NotificationWatch::start();
    let driver = Driver::start("silent", &[("SESSION_KEEPER_DEMO_ISSUER", &idp.issuer)]);
    let app = driver.launch().await;
    app.wait_badge("Demo", "Signed out").await;
    app.sign_in_through_window("Demo", "bob").await;
    app.wait_badge("Demo", "Active").await;
    app.wait_text(&card("Demo", ".card-silent"), "the card's promise", |text| {
        text.starts_with("Session Keeper signs you in again by itself")
    })
    .await;

    // 1. Three refresh tokens end; the session goes on, unseen and unheard.
    let maps = MapWatch::start();
    let notified = notifications(&watch);
    let first = snapshot(&app, "Demo").await;
    let mut signed_in_at = first["signedInAt"].clone();
    let mut renewals = 0;
    let deadline = Instant::now() + Duration::from_secs(REFRESH_TOKEN_TTL * 3 + 30);
    while renewals < 3 {
        assert!(Instant::now() < deadline, "only {renewals} silent sign-ins within {:?}", deadline.elapsed());
        let now = snapshot(&app, "Demo").await;
        assert_eq!(now["shown"], "signed_in", "the session left the signed-in state: {now}");
        assert_eq!(now["who"]["name"], "Bob Example");
        if now["signedInAt"] != signed_in_at {
            renewals += 1;
            signed_in_at = now["signedInAt"].clone();
            assert_eq!(now["silent"]["last"]["outcome"], "renewed", "{now}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(maps.maps(), Vec::<String>::new(), "a window was mapped during silent sign-ins");
    assert_eq!(notifications(&watch), notified, "a notification during silent sign-ins");
    let mut times = silent_times(&driver);
    let silent_lines: Vec<String> =
        log_records(&driver).iter().filter(|f| f.to_string().contains("silent")).map(Value::to_string).collect();
    assert!(times.len() >= 3, "the app logged {} silent sign-ins:\n{}", times.len(), silent_lines.join("\n"));
    times.sort();
    let figures = json!({
        "silentSignIns": times.len(),
        "medianMs": quantile(&times, 0.5),
        "p95Ms": quantile(&times, 0.95),
        "windowsMapped": maps.maps().len(),
        "refreshTokenTtlSeconds": REFRESH_TOKEN_TTL,
    });
    println!("silent sign-in in the real window: {figures}");
    std::fs::write(harness::artifacts().join("silent-sign-in.json"), figures.to_string()).unwrap();

    // 2. A provider page that never redirects: abandoned within the timeout, nothing shown.
    idp.hang_authorization(1).await;
    let hung_at = Instant::now();
    // The next silent sign-in comes within a refresh-token lifetime and a refresh's lead; it gives up
    // after the policy's silent sign-in timeout (15 s).
    let bound = Duration::from_secs(REFRESH_TOKEN_TTL + 5 + 15 + 10);
    let hung = loop {
        let now = snapshot(&app, "Demo").await;
        if now["silent"]["last"]["outcome"] == "failed" {
            break now;
        }
        assert!(hung_at.elapsed() < bound, "the page that never redirects was not abandoned within {bound:?}: {now}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("the page that never redirects was abandoned {:?} after the provider began to hang", hung_at.elapsed());
    assert_eq!(maps.windows(), Vec::<String>::new(), "a window was mapped for the page that never redirects");
    let message = hung["silent"]["last"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(!message.is_empty(), "the card says why: {hung}");

    // 3. The provider's own session ends: one notification, then Sign in again works.
    let settled = eventually("the session signed in or expired after the abandoned attempt", || async {
        let now = snapshot(&app, "Demo").await;
        (now["silent"]["attempting"] == false).then_some(now)
    })
    .await;
    if settled["shown"] == "expired" {
        // The abandoned attempt came after the refresh token's end: that expiry was its one notice.
        watch.wait_for_count("Session “Demo” expired", 1).await;
        sign_in_without_form(&app).await;
    }
    let before = watch.count("Demo");
    idp.end_provider_session("bob").await;
    app.wait_badge("Demo", "Expired").await;
    let kind = eventually("the reason on the card", || async { app.attr(&card("Demo", ".card-error"), "data-kind").await }).await;
    assert_eq!(kind, "sign_in_needed");
    watch.wait_for_count("Demo", before + 1).await;
    let asked = authorization_requests(&idp).await;
    // Never a loop: nothing more is tried or said for a whole refresh-token lifetime.
    let quiet_until = Instant::now() + Duration::from_secs(REFRESH_TOKEN_TTL);
    while Instant::now() < quiet_until {
        assert_eq!(authorization_requests(&idp).await, asked, "a silent sign-in was tried after the provider asked for a sign-in");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(watch.count("Demo"), before + 1, "exactly one notification");
    app.sign_in_through_window("Demo", "bob").await;
    app.wait_badge("Demo", "Active").await;

    // 4. Signed out: no silent sign-in, however long the refresh token would have lived.
    // The provider's end-session page opens in a window and asks; yes ends its session there.
    let known = app.windows().await;
    app.click(&card("Demo", "[data-action=sign-out]")).await;
    let window = app.switch_to_new_window(&known).await;
    app.click_leaving("button[name=logout][value=yes]").await;
    app.wait_closed(&window).await;
    app.wait_badge("Demo", "Signed out").await;
    let asked = authorization_requests(&idp).await;
    let quiet_until = Instant::now() + Duration::from_secs(REFRESH_TOKEN_TTL * 2);
    while Instant::now() < quiet_until {
        assert_eq!(authorization_requests(&idp).await, asked, "an authorization request after the sign-out");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(snapshot(&app, "Demo").await["shown"], "signed_out");
    // The provider's cookies went too (the shared context's, for the provider's host, under WebDriver),
    // once the end-session visit was over: a signed-out person is never signed back in silently.
    let waited = Instant::now();
    let deleted = loop {
        let records = log_records(&driver);
        let done = records.iter().find(|f| f["message"] == "the provider's cookies were deleted after its last sign-out");
        if let Some(deleted) = done.and_then(|fields| fields["deleted"].as_u64()) {
            break deleted;
        }
        if waited.elapsed() > harness::PATIENCE {
            let said: Vec<String> = records.iter().rev().take(15).map(Value::to_string).collect();
            panic!("the provider's cookies were not deleted after the sign-out; the log's last words:\n{}", said.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(deleted >= 1, "no cookie of the provider's host was found to delete");
    println!("after the sign-out the cookies of {deleted} domain(s) of the provider were deleted");
    app.quit().await;
}

/// Sign in while the provider's session stands: the visible window asks only for the consent (the
/// app's interactive sign-in asks for offline access each time) and closes on the redirect.
async fn sign_in_without_form(app: &App) {
    let known = app.windows().await;
    app.click(&card("Demo", "[data-action=sign-in]")).await;
    let window = app.switch_to_new_window(&known).await;
    app.provider_consent().await;
    app.wait_closed(&window).await;
    app.wait_badge("Demo", "Active").await;
}

/// The refresh token's absolute lifetime in the other-user test: its silent sign-in is due half of it
/// after the sign-in, which leaves that long to switch the provider's cookie to alice first.
const OTHER_USER_REFRESH_TOKEN_TTL: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_answer_for_another_user_is_refused_and_the_session_stays_as_it_was() {
    let _serial = SERIAL.lock().await;
    let idp = Idp::start_with(
        Ttls { access: 3, refresh: OTHER_USER_REFRESH_TOKEN_TTL },
        &[
            ("IDP_SESSION_TTL", "3600"),
            ("IDP_REFRESH_TOKEN_ABSOLUTE", "1"),
            ("IDP_ANNOUNCE_REFRESH_EXPIRY", "1"),
            ("IDP_IGNORE_ID_TOKEN_HINT", "1"),
        ],
    );
    let watch = NotificationWatch::start();
    let driver = Driver::start("silent-other-user", &[("SESSION_KEEPER_DEMO_ISSUER", &idp.issuer)]);
    let app = driver.launch().await;
    app.wait_badge("Demo", "Signed out").await;
    // A second session at the same provider, through the command the Add provider dialog calls.
    let added = app
        .run_async(&format!(
            "window.__TAURI__.core.invoke('add_provider', {{ provider: {} }}).then((s) => done(s), (e) => done({{ error: String(e) }}));",
            json!({ "name": "Other", "displayName": "Test provider", "issuer": idp.issuer, "clientId": "session-keeper", "scopes": "" })
        ))
        .await;
    assert_eq!(added["id"], "Other", "the second session was not added: {added}");
    app.wait_badge("Other", "Signed out").await;

    // Demo signed in as bob; then the provider's cookie (the web context's, shared by every sign-in
    // window under WebDriver) becomes alice's: bob's provider session ends, alice signs Other in.
    app.sign_in_through_window("Demo", "bob").await;
    app.wait_badge("Demo", "Active").await;
    let switching = Instant::now();
    idp.end_provider_session("bob").await;
    app.sign_in_through_window("Other", "alice").await;
    app.wait_badge("Other", "Active").await;
    let switched = switching.elapsed();
    let before = snapshot(&app, "Demo").await;
    assert!(
        before["silent"]["last"].is_null() && before["silent"]["attempting"] == false,
        "Demo's silent sign-in came before the provider's cookie was alice's ({switched:?} to switch): {before}"
    );
    assert_eq!(id_token_subject("Demo").await, "bob", "Demo's ID token in the keychain before the silent sign-in");
    let maps = MapWatch::start();
    // Demo's notifications (its name in the summary); Other's own fate is not this test's.
    let notified = watch.count("“Demo”");
    let silent_asked = idp.authorizations().await.1;
    let revocations = idp.stats().await["revocations"].as_u64().unwrap();

    // Demo's silent sign-in comes a half refresh-token lifetime after its sign-in, answered for alice.
    let bound = Duration::from_secs(OTHER_USER_REFRESH_TOKEN_TTL + 15);
    let waited = Instant::now();
    let refused = loop {
        let now = snapshot(&app, "Demo").await;
        if !now["silent"]["last"].is_null() && now["silent"]["attempting"] == false {
            break now;
        }
        assert!(waited.elapsed() < bound, "no silent sign-in ended within {bound:?}: {now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = waited.elapsed();
    assert_eq!(refused["silent"]["last"]["outcome"], "refused", "{refused}");
    let message = refused["silent"]["last"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("for another user"), "the card's reason is other_user's: {message}");
    assert_eq!(refused["signedInAt"], before["signedInAt"], "the sign-in's time changed: {refused}");

    // The same answer would come again, so no attempt follows until the person signs in; for 3 s the
    // session is bob's as before: each look reads what a person or another program sees.
    let mut looks = 0;
    let mut on_card = String::new();
    let watching = Instant::now();
    while watching.elapsed() < Duration::from_secs(3) {
        let subject = id_token_subject("Demo").await;
        let user = app.text(&card("Demo", ".user")).await;
        let silent_line = app.text(&card("Demo", ".card-silent")).await;
        let now = snapshot(&app, "Demo").await;
        looks += 1;
        assert!(now["silent"]["attempting"] == false && now["silent"]["last"] == refused["silent"]["last"], "asked again: {now}");
        assert_eq!(subject, "bob", "alice's tokens were written to Demo's keychain item");
        assert!(user.starts_with("Bob Example"), "the card's user: {user}");
        assert_eq!((&now["shown"], &now["who"]["name"]), (&json!("signed_in"), &json!("Bob Example")), "{now}");
        if silent_line.contains("for another user") {
            on_card = silent_line;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(looks > 5, "the session was looked at {looks} times");
    assert!(!on_card.is_empty(), "the card never said why the answer was refused");
    // At most one notice: "sign in again now" (nothing renews Demo any more before its refresh token's end).
    assert!(watch.count("“Demo”") <= notified + 1, "more than one notification for the refused answer");
    assert_eq!(maps.windows(), Vec::<String>::new(), "a window was mapped during the silent sign-in");
    // (Other's own silent sign-in, for alice, may have come meanwhile: the looks above are Demo's count.)
    assert!(idp.authorizations().await.1 > silent_asked, "the provider was asked with prompt=none");
    // Alice's answer was dropped, not revoked: revoking it would have ended alice's grant, and with it
    // the app's own session Other.
    assert_eq!(idp.stats().await["revocations"].as_u64().unwrap(), revocations, "the tokens of alice's answer were revoked");
    let other = app
        .run_async("window.__TAURI__.core.invoke('plugin:session-keeper|refresh', { name: 'Other' }).then((s) => done(s), (e) => done({ error: e }));")
        .await;
    assert_eq!(
        (&other["shown"], &other["who"]["name"]),
        (&json!("signed_in"), &json!("Alice Example")),
        "Other after Demo's refusal: {other}"
    );
    let refused_logged =
        log_records(&driver).iter().any(|f| f["message"] == "silent sign-in answered for another user: refused, its tokens dropped");
    assert!(refused_logged, "the app's log has no line for the refused answer");
    println!("alice's cookie in {switched:?}; the silent answer for alice refused {took:?} later; {looks} looks; the card: {on_card}");
    app.quit().await;
}

/// The `sub` of the ID token the app keeps for `session` in the keychain, read as a second program would.
async fn id_token_subject(session: &str) -> String {
    let vault = SecretVault::new(Arc::new(KeyringVault::new("session-keeper")), Duration::from_secs(5));
    let secrets = vault.load_tokens(session).await.unwrap().unwrap_or_else(|| panic!("no tokens of {session} in the keychain"));
    let id_token = secrets.id_token.unwrap_or_else(|| panic!("no ID token of {session} in the keychain"));
    let payload = id_token.expose_secret().split('.').nth(1).unwrap_or_default().to_owned();
    let claims: Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .expect("the ID token's claims are JSON");
    claims["sub"].as_str().unwrap_or_default().to_owned()
}
