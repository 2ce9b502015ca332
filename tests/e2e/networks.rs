//! End-to-end: networks as people have them, in the real window against the real provider
//! (oidc-provider) served over HTTPS by a certificate from a test CA (tests/support's `tls`):
//! the CA in the system's trust store (a private copy of the store, bind-mounted in a mount namespace
//! of the test's own, so nothing outside the test changes), the CA as the provider's own file chosen in
//! Add provider, certificates for another name and expired ones refused in words, a real squid as
//! the only way to the provider (set through the environment and through the desktop's proxy
//! settings), and a provider on IPv6 loopback. Run through `scripts/test.sh` (the private desktop).

use session_keeper_testkit as support;

mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use harness::{App, Driver, card, eventually};
use support::proxy::{DesktopProxy, PROXY_ONLY_HOST, Squid};
use support::tls::TestCa;
use support::{Idp, Ttls};

/// One app window at a time: two cores, and each test owns the display's focus.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The system's trust store as Debian keeps it: what GnuTLS (WebKit, through glib-networking) and
/// rustls-native-certs (the core, through openssl-probe's default paths) both read.
const SYSTEM_STORE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Set in the copy of the test that runs inside the private mount namespace: the server
/// certificate's PEM file, its key's, and the CA's.
const IN_NAMESPACE: &str = "SESSION_KEEPER_E2E_PRIVATE_STORE";

/// Adds a provider in the dialog, with `ca_file` chosen as its own certificate authority.
async fn add_provider(app: &App, name: &str, issuer: &str, ca_file: Option<&Path>) {
    app.click("#open-add").await;
    app.type_into("#add-form input[name=name]", name).await;
    app.type_into("#add-form input[name=displayName]", "Test provider").await;
    app.type_into("#add-form input[name=issuer]", issuer).await;
    app.type_into("#add-form input[name=clientId]", "session-keeper").await;
    if let Some(file) = ca_file {
        if app.attr("#add-form details", "open").await.is_none() {
            app.click("#add-form summary").await;
        }
        app.choose_file("#ca-file", file).await;
        let shown = app.wait_text("#ca-name", "the chosen CA file's name", |t| !t.is_empty()).await;
        assert!(shown.ends_with(&file.file_name().unwrap().to_string_lossy().into_owned()), "{shown}");
    }
    app.click("#add-submit").await;
}

/// Signs `session` in through the real window (a screenshot of the provider's login page in it as
/// `shot`) and waits for the card to say Active: how long that took, screenshot included.
async fn sign_in(app: &App, session: &str, shot: &str) -> Duration {
    let began = Instant::now();
    let known = app.windows().await;
    app.click(&card(session, "[data-action=sign-in]")).await;
    let window = app.switch_to_new_window(&known).await;
    app.find("input[name=login]").await;
    app.screenshot(shot).await;
    app.provider_login("alice").await;
    app.wait_closed(&window).await;
    app.wait_badge(session, "Active").await;
    began.elapsed()
}

/// Every line the app has logged so far (JSON, one object a line).
fn app_log(driver: &Driver) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(driver.logs()).into_iter().flatten().flatten() {
        all.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    all
}

/// A screenshot of the current window once it shows more than its background: a page loaded in a
/// provider window paints a moment after WebDriver sees it.
async fn screenshot_painted(app: &App, name: &str) {
    let file = harness::artifacts().join(format!("{name}.png"));
    eventually("the window to paint", || async {
        app.screenshot(name).await;
        let colours = Command::new("identify").args(["-format", "%k"]).arg(&file).output().ok()?;
        (String::from_utf8_lossy(&colours.stdout).trim().parse::<u32>().ok()? > 2).then_some(())
    })
    .await;
}

/// The line the sign-in window logs when it allows one certificate for a host on the word of the
/// provider's own CA.
const ALLOWED: &str = "the provider's own CA vouches for the page's certificate";

/// Refreshes from the card and waits for the new expiry: exactly one more token request at `idp`.
/// How long that took.
async fn refresh(app: &App, idp: &Idp, session: &str) -> Duration {
    let before = app.attr(&card(session, "[data-field=access]"), "data-deadline").await.unwrap();
    let requests = idp.stats().await["grants"]["refresh_token"].as_u64().unwrap_or(0);
    let began = Instant::now();
    app.click(&card(session, "[data-action=refresh]")).await;
    eventually("a new expiry on the card", || async {
        let now = app.attr(&card(session, "[data-field=access]"), "data-deadline").await?;
        (now != before).then_some(())
    })
    .await;
    let took = began.elapsed();
    assert_eq!(idp.stats().await["grants"]["refresh_token"].as_u64().unwrap(), requests + 1, "exactly one refresh");
    took
}

/// A provider whose certificate is for 127.0.0.1 (and localhost, ::1), from `ca`.
fn https_provider(ca: &TestCa) -> Idp {
    Idp::start_https(Ttls::default(), &ca.server(&["localhost", "127.0.0.1", "::1"]), &[])
}

/// a. The CA in the system's trust store, as a company installs its CA: no file in the dialog, and
/// the window (WebKit) and the core both trust the provider. The store is a private copy with the
/// test CA added, bind-mounted over the real one in a mount namespace of this test alone (as root):
/// the test runs itself again in there (tauri-driver, WebKit and the app all inside).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_in_the_system_store_signs_in_and_refreshes() {
    let _serial = SERIAL.lock().await;
    let Ok(files) = std::env::var(IN_NAMESPACE) else {
        let ca = TestCa::new();
        let cert = ca.server(&["localhost", "127.0.0.1", "::1"]);
        let store = ca.dir().join("system-store.crt");
        let system = std::fs::read_to_string(SYSTEM_STORE).expect("the system trust store (package ca-certificates)");
        assert!(!system.contains(ca.pem().trim()), "the test CA is not in the machine's own store");
        std::fs::write(&store, format!("{system}\n{}", ca.pem())).unwrap();
        let status = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c", "mount --bind \"$0\" \"$1\" && shift && exec \"$@\""])
            .arg(&store)
            .arg(SYSTEM_STORE)
            .arg(std::env::current_exe().unwrap())
            .args(["a_ca_in_the_system_store_signs_in_and_refreshes", "--exact", "--nocapture", "--test-threads=1"])
            .env(
                IN_NAMESPACE,
                [cert.cert.display().to_string(), cert.key.display().to_string(), ca.file().display().to_string()].join("\n"),
            )
            .status()
            .expect("unshare (util-linux) runs the test in a mount namespace of its own");
        assert!(
            status.success(),
            "the test inside the private mount namespace failed: {status} (it needs root for unshare --mount and mount --bind; its own output is above)"
        );
        let after = std::fs::read_to_string(SYSTEM_STORE).unwrap();
        assert!(!after.contains(ca.pem().trim()), "the machine's own store is untouched");
        return;
    };
    let files: Vec<PathBuf> = files.lines().map(PathBuf::from).collect();
    let ca_pem = std::fs::read_to_string(&files[2]).unwrap();
    let store = std::fs::read_to_string(SYSTEM_STORE).unwrap();
    assert!(store.contains(ca_pem.trim()), "inside the namespace the system store holds the test CA");
    let (cert, key) = (files[0].to_str().unwrap(), files[1].to_str().unwrap());
    let idp = Idp::start_with(Ttls::default(), &[("IDP_TLS_CERT", cert), ("IDP_TLS_KEY", key)]);
    assert!(idp.issuer.starts_with("https://127.0.0.1:"), "{}", idp.issuer);

    let driver = Driver::start("networks-system-store", &[]);
    let app = driver.launch().await;
    add_provider(&app, "company", &idp.issuer, None).await;
    app.wait_badge("company", "Signed out").await;
    let signed_in = sign_in(&app, "company", "networks-system-store-login").await;
    app.screenshot("networks-system-store-signed-in").await;
    assert!(!app_log(&driver).contains(ALLOWED), "WebKit trusted the system store itself: nothing was allowed by the app");
    let refreshed = refresh(&app, &idp, "company").await;
    eprintln!("figure: CA in the system store: sign-in in the window {signed_in:?}, refresh {refreshed:?}");
    app.quit().await;
}

/// b. The CA only as the provider's own file, chosen in the dialog: the core trusts it for that
/// provider, and the window allows that one certificate for that host after the core vouched for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_the_providers_own_ca_file_signs_in_and_refreshes() {
    let _serial = SERIAL.lock().await;
    let ca = TestCa::new();
    let idp = https_provider(&ca);
    let driver = Driver::start("networks-own-ca", &[]);
    let app = driver.launch().await;

    // A file that is no certificate is refused by the core's check, in the dialog.
    let junk = ca.dir().join("not-a-ca.pem");
    std::fs::write(&junk, "hello\n").unwrap();
    add_provider(&app, "company", &idp.issuer, Some(&junk)).await;
    let bad = app.wait_text("#add-error", "the bad CA file refused", |t| t.contains("CA certificates")).await;
    eprintln!("a file that is no CA: {bad}");
    // Cleared, the field is empty again and the dialog says nothing of a file.
    app.click("#ca-clear").await;
    assert!(app.text("#ca-name").await.is_empty());
    app.choose_file("#ca-file", &ca.file()).await;
    app.wait_text("#ca-name", "the chosen file's name", |t| t.ends_with("ca.pem")).await;
    app.check_state("add-provider-ca-file").await;
    app.click("#add-submit").await;
    app.wait_badge("company", "Signed out").await;

    let signed_in = sign_in(&app, "company", "networks-own-ca-login").await;
    app.screenshot("networks-own-ca-signed-in").await;
    let log = app_log(&driver);
    assert!(log.contains(ALLOWED), "the window allowed the certificate on the CA's word: {log}");
    let refreshed = refresh(&app, &idp, "company").await;
    eprintln!(
        "figure: the provider's own CA file: sign-in in the window {signed_in:?} (one certificate allowed for the host), refresh {refreshed:?}"
    );
    // Without the CA the provider is refused in words, as a certificate problem.
    add_provider(&app, "no-ca", &idp.issuer, None).await;
    let refused = app.wait_text("#add-error", "a certificate refusal", |t| t.contains("certificate")).await;
    assert!(refused.contains("issued by an authority this computer does not trust"), "{refused}");
    assert!(!refused.contains("could not be reached"), "not an outage: {refused}");
    app.click("#add-cancel").await;
    app.quit().await;
}

/// b. The same in a window with a web context of its own (the private sign-in window; outside
/// WebDriver every provider window has its own): the allowance is made in that window's context, and
/// the provider's login page paints there. WebDriver reaches only the dashboard's context, so the
/// window is found on the X display by its title and looked at as the screen shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_a_private_sign_in_window_allows_the_certificate_in_its_own_context() {
    let _serial = SERIAL.lock().await;
    let ca = TestCa::new();
    let idp = https_provider(&ca);
    let driver = Driver::start("networks-own-ca-private", &[]);
    let app = driver.launch().await;
    add_provider(&app, "company", &idp.issuer, Some(&ca.file())).await;
    app.wait_badge("company", "Signed out").await;
    app.click("#open-settings").await;
    app.click("#settings-form input[name=ephemeralSignIn]").await;
    app.click("#settings-submit").await;
    app.wait_dialogs_closed().await;

    let began = Instant::now();
    app.click(&card("company", "[data-action=sign-in]")).await;
    let shot = harness::artifacts().join("networks-own-ca-private-login.png");
    eventually("the private window to paint the provider's login page", || async {
        let found = Command::new("xdotool").args(["search", "--name", "^Sign in to Test provider$"]).output().ok()?;
        let window = String::from_utf8_lossy(&found.stdout).lines().next()?.trim().to_owned();
        Command::new("import").args(["-window", &window]).arg(&shot).status().ok()?.success().then_some(())?;
        let colours = Command::new("identify").args(["-format", "%k"]).arg(&shot).output().ok()?;
        (String::from_utf8_lossy(&colours.stdout).trim().parse::<u32>().ok()? > 16).then_some(())
    })
    .await;
    let painted = began.elapsed();
    let log = app_log(&driver);
    assert_eq!(log.matches(ALLOWED).count(), 1, "allowed once, in the private window's context: {log}");
    assert!(!log.contains("a provider window refused a certificate"), "{log}");
    assert_eq!(app.text(&card("company", ".card-error")).await, "", "no error on the card");
    eprintln!(
        "figure: the private window's login page painted {painted:?} after Sign in (the refusal, the core's check and the reload included)"
    );
    app.click(&card("company", "[data-action=cancel-sign-in]")).await;
    app.wait_badge("company", "Signed out").await;
    app.quit().await;
}

/// c. A certificate for another name and an expired one: refused with the check that failed, the
/// certificate's fingerprint, and never called an outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_a_certificate_for_another_name_or_expired_is_refused_in_words() {
    let _serial = SERIAL.lock().await;
    let ca = TestCa::new();
    let other = ca.server(&["other.example"]);
    let expired = ca.expired(&["localhost", "127.0.0.1", "::1"]);
    let driver = Driver::start("networks-refused", &[]);
    let app = driver.launch().await;
    for (cert, words, shot) in
        [(&other, "it is for other.example, not 127.0.0.1", "networks-other-name"), (&expired, "it expired on", "networks-expired")]
    {
        let idp = Idp::start_https(Ttls::default(), cert, &[]);
        add_provider(&app, "company", &idp.issuer, Some(&ca.file())).await;
        let refused = app.wait_text("#add-error", "a certificate refusal", |t| t.contains("certificate")).await;
        assert!(refused.contains(words), "{words}: {refused}");
        assert!(refused.contains(&cert.fingerprint), "the fingerprint: {refused}");
        assert!(!refused.contains("could not be reached"), "not an outage: {refused}");
        app.screenshot(shot).await;
        // Not retried: the provider saw one discovery attempt's connection and no more requests.
        assert_eq!(idp.token_requests().await, 0);
        app.click("#add-cancel").await;
        app.wait_dialogs_closed().await;
    }
    assert_eq!(app.client.find_all(fantoccini::Locator::Css("li.card")).await.unwrap().len(), 0, "nothing saved");
    app.quit().await;
}

/// c. The provider windows' own check: the provider's certificate expires while the user is signed
/// in (the provider comes back on the same address with an expired one from the same CA). Signing
/// out opens the provider's end-session page, where the window meets the certificate: WebKit
/// refuses it, the provider's CA does not vouch for an expired certificate, and the window says
/// which check failed in our words; nothing is allowed. (A sign-in meets the core's discovery first,
/// which refuses the same certificate in the same words: the card shows them.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_the_provider_window_refuses_an_expired_certificate_in_words() {
    let _serial = SERIAL.lock().await;
    let ca = TestCa::new();
    let port = support::proxy::free_port().to_string();
    let names = ["localhost", "127.0.0.1", "::1"];
    let idp = Idp::start_https(Ttls::default(), &ca.server(&names), &[("IDP_PORT", &port)]);
    let driver = Driver::start("networks-window-refuses", &[]);
    let app = driver.launch().await;
    add_provider(&app, "company", &idp.issuer, Some(&ca.file())).await;
    app.wait_badge("company", "Signed out").await;
    sign_in(&app, "company", "networks-window-refuses-login").await;
    let allowed = app_log(&driver).matches(ALLOWED).count();
    let issuer = idp.issuer.clone();
    drop(idp);
    let expired = ca.expired(&names);
    let idp = Idp::start_https(Ttls::default(), &expired, &[("IDP_PORT", &port)]);
    assert_eq!(idp.issuer, issuer, "the provider came back on the same address");

    // A refresh meets it in the core: refused in words, a certificate problem, not an outage.
    app.click(&card("company", "[data-action=refresh]")).await;
    let kind = eventually("the error's kind on the card", || async { app.attr(&card("company", ".card-error"), "data-kind").await }).await;
    assert_eq!(kind, "certificate_rejected");
    let words = app.text(&card("company", ".card-error")).await;
    assert!(words.contains("it expired on") && words.contains(&expired.fingerprint), "{words}");
    assert!(!words.contains("could not be reached"), "{words}");
    app.screenshot("networks-refresh-expired").await;

    let known = app.windows().await;
    app.click(&card("company", "[data-action=sign-out]")).await;
    app.wait_badge("company", "Signed out").await;
    app.switch_to_new_window(&known).await;
    let page = eventually("the window's words", || async {
        let page = app.client.source().await.ok()?;
        page.contains("presented a certificate that is not trusted").then_some(page)
    })
    .await;
    assert!(page.contains(&format!("The provider at {issuer} presented")), "the page's origin: {page}");
    assert!(page.contains("it expired on"), "which check failed: {page}");
    assert!(page.contains(&expired.fingerprint), "the certificate's fingerprint: {page}");
    screenshot_painted(&app, "networks-window-expired").await;
    let log = app_log(&driver);
    assert!(log.contains("a provider window refused a certificate"), "the window refused it");
    assert_eq!(log.matches(ALLOWED).count(), allowed, "nothing more was allowed");
    // A sign-in now: the core's discovery refuses the same certificate, in the same words, on the card.
    app.client.switch_to_window(app.main.clone()).await.unwrap();
    const REFUSED: &str = "a server's certificate was refused";
    let refusals = app_log(&driver).matches(REFUSED).count();
    app.click(&card("company", "[data-action=sign-in]")).await;
    eventually("the core's refusal at sign-in", || async { (app_log(&driver).matches(REFUSED).count() > refusals).then_some(()) }).await;
    let kind = eventually("the error's kind on the card", || async { app.attr(&card("company", ".card-error"), "data-kind").await }).await;
    assert_eq!(kind, "certificate_rejected");
    let words = app.text(&card("company", ".card-error")).await;
    assert!(words.contains("it expired on") && words.contains(&expired.fingerprint), "{words}");
    app.screenshot("networks-card-expired").await;
    app.quit().await;
}

/// A provider reachable only through squid: its name resolves nowhere but in squid's hosts file.
fn provider_behind_squid(ca: &TestCa) -> Idp {
    let port = support::proxy::free_port();
    let cert = ca.server(&[PROXY_ONLY_HOST]);
    Idp::start_https(
        Ttls::default(),
        &cert,
        &[("IDP_PORT", &port.to_string()), ("IDP_ISSUER", &format!("https://{PROXY_ONLY_HOST}:{port}"))],
    )
}

/// Signs in and refreshes through squid with the app given `env`; squid's log shows the window's
/// page loads and the core's calls. (sign-in, refresh) times.
async fn through_squid(test: &str, squid: &Squid, env: &[(String, String)]) -> (Duration, Duration) {
    use std::net::ToSocketAddrs;
    assert!((PROXY_ONLY_HOST, 443).to_socket_addrs().is_err(), "{PROXY_ONLY_HOST} resolves outside squid: the test would prove nothing");
    let ca = TestCa::new();
    let idp = provider_behind_squid(&ca);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let driver = Driver::start(test, &env);
    let app = driver.launch().await;
    add_provider(&app, "proxied", &idp.issuer, Some(&ca.file())).await;
    app.wait_badge("proxied", "Signed out").await;
    let signed_in = sign_in(&app, "proxied", &format!("{test}-login")).await;
    app.screenshot(&format!("{test}-signed-in")).await;
    let refreshed = refresh(&app, &idp, "proxied").await;
    app.quit().await;
    harness::wait_app_gone();
    // squid logs a tunnel when it closes: the app has ended, so every one of them is in the log.
    let target = idp.issuer.trim_start_matches("https://").to_owned();
    squid.wait_for_log(&target, Duration::from_secs(10)).unwrap_or_else(|| panic!("squid carried nothing to {target}:\n{:?}", squid.log()));
    let tunnels = squid.requests().into_iter().filter(|(method, to, _)| method == "CONNECT" && *to == target).count();
    eprintln!("squid carried {tunnels} tunnels to {target}");
    // The core's (discovery, code exchange, refresh) and the window's (login pages) connections, told
    // apart by their CONNECT's User-Agent: the core names itself, WebKit's network process sends none.
    let log = squid.log();
    let through = |agent: &str| log.iter().any(|line| line.contains(" CONNECT ") && line.contains(&target) && line.ends_with(agent));
    assert!(
        tunnels >= 2 && through(concat!("\"session-keeper/", env!("CARGO_PKG_VERSION"), "\"")) && through("\"-\""),
        "both halves went through squid: {log:#?}"
    );
    (signed_in, refreshed)
}

/// d. squid as the only way to the provider, set through the environment (`https_proxy`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_a_proxy_from_the_environment_carries_sign_in_and_refresh() {
    let _serial = SERIAL.lock().await;
    let squid = Squid::start();
    let (signed_in, refreshed) = through_squid("networks-proxy-env", &squid, &squid.env()).await;
    eprintln!("figure: proxy from the environment: sign-in {signed_in:?}, refresh {refreshed:?}");
}

/// d. squid as the only way to the provider, set in the desktop's proxy settings (GSettings).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_a_proxy_from_the_desktop_settings_carries_sign_in_and_refresh() {
    let _serial = SERIAL.lock().await;
    let squid = Squid::start();
    let desktop = DesktopProxy::manual(&squid);
    let (signed_in, refreshed) = through_squid("networks-proxy-desktop", &squid, &desktop.env()).await;
    eprintln!("figure: proxy from the desktop's settings: sign-in {signed_in:?}, refresh {refreshed:?}");
}

/// e. A provider on IPv6 loopback signs in in the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_a_provider_on_ipv6_loopback_signs_in() {
    let _serial = SERIAL.lock().await;
    let idp = Idp::start_with(Ttls::default(), &[("IDP_HOST", "::1")]);
    assert!(idp.issuer.starts_with("http://[::1]:"), "{}", idp.issuer);
    let driver = Driver::start("networks-ipv6", &[]);
    let app = driver.launch().await;
    add_provider(&app, "six", &idp.issuer, None).await;
    app.wait_badge("six", "Signed out").await;
    let signed_in = sign_in(&app, "six", "networks-ipv6-login").await;
    let refreshed = refresh(&app, &idp, "six").await;
    app.screenshot("networks-ipv6-signed-in").await;
    eprintln!("figure: IPv6 loopback: sign-in {signed_in:?}, refresh {refreshed:?}");
    app.quit().await;
}

/// e. An HTTPS provider on IPv6 loopback with its own CA: the window allows the certificate for the
/// address (named as WebKit names it) and signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_an_https_provider_on_ipv6_with_its_own_ca_signs_in() {
    let _serial = SERIAL.lock().await;
    let ca = TestCa::new();
    let idp = Idp::start_https(Ttls::default(), &ca.server(&["localhost", "127.0.0.1", "::1"]), &[("IDP_HOST", "::1")]);
    assert!(idp.issuer.starts_with("https://[::1]:"), "{}", idp.issuer);
    let driver = Driver::start("networks-ipv6-https", &[]);
    let app = driver.launch().await;
    add_provider(&app, "six", &idp.issuer, Some(&ca.file())).await;
    app.wait_badge("six", "Signed out").await;
    let signed_in = sign_in(&app, "six", "networks-ipv6-https-login").await;
    assert!(app_log(&driver).contains(ALLOWED), "allowed on the CA's word");
    let refreshed = refresh(&app, &idp, "six").await;
    eprintln!("figure: HTTPS on IPv6 loopback with the provider's own CA: sign-in {signed_in:?}, refresh {refreshed:?}");
    app.quit().await;
}
