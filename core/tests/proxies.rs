//! Proxies as companies run them, with real parts: Debian's squid (tests/support/src/proxy.rs) as the
//! only way to the real OpenID Provider, which is served over HTTPS under a name that only squid
//! resolves (`idp.proxy-only.test`); the proxy set once through the environment's variables and once
//! through the desktop's proxy settings (GSettings, read by GIO as WebKitGTK reads them: manual, and a
//! PAC file run by glib-networking's PAC runner on the session bus). A proxy
//! that asks for credentials, and one that is not there, each in their words.
//!
//! The proxy settings live in the environment, which a test cannot change in-process (`set_var`
//! needs `unsafe`, denied here), and the core resolves routes once per process: each case's core
//! runs in a child process of this test binary, with the environment the case gives it. The parent
//! starts squid and the provider, and judges what the child reports and what squid's log shows.

use session_keeper_testkit as support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use session_core::{MemoryVault, Policy, ProviderConfig, SessionManager};
use support::proxy::{DesktopProxy, PROXY_ONLY_HOST, Squid, free_port};
use support::tls::TestCa;
use support::{Idp, Ttls};
use url::Url;

/// The environment variables a child is told its part by.
const CHILD: &str = "PROXIES_CHILD";
const ISSUER: &str = "PROXIES_ISSUER";
const CA_FILE: &str = "PROXIES_CA_FILE";
const BROWSER_PROXY: &str = "PROXIES_BROWSER_PROXY";
const DIRECT_ISSUER: &str = "PROXIES_DIRECT_ISSUER";
/// Every proxy variable a child must not inherit from whoever runs the tests.
const PROXY_VARS: [&str; 8] = ["https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"];
/// Refreshes timed per route for the figures.
const ROUNDS: u32 = 10;

/// A provider reachable only through squid: HTTPS under `idp.proxy-only.test`, its CA made here.
struct Hidden {
    idp: Idp,
    ca: TestCa,
}

impl Hidden {
    fn start() -> Hidden {
        let ca = TestCa::new();
        let port = free_port().to_string();
        let issuer = format!("https://{PROXY_ONLY_HOST}:{port}");
        let idp =
            Idp::start_https(Ttls::default(), &ca.server(&[PROXY_ONLY_HOST, "127.0.0.1"]), &[("IDP_PORT", &port), ("IDP_ISSUER", &issuer)]);
        assert_eq!(idp.issuer, issuer);
        Hidden { idp, ca }
    }

    /// squid's CONNECT target for this provider.
    fn target(&self) -> String {
        format!("{PROXY_ONLY_HOST}:{}", self.idp.port)
    }

    fn env(&self, browser_proxy: &str) -> Vec<(String, String)> {
        vec![
            (ISSUER.into(), self.idp.issuer.clone()),
            (CA_FILE.into(), self.ca.file().display().to_string()),
            (BROWSER_PROXY.into(), browser_proxy.into()),
        ]
    }
}

/// What a child reported: its `key=value` lines.
struct Report(String);

impl Report {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.lines().find_map(|line| line.split_once(&format!("{key}=")).map(|(_, value)| value))
    }
}

/// Runs test `name` again in a child process with only `env`'s proxy settings (every proxy variable of
/// this process removed, the desktop's settings private and empty, outside GNOME, unless `env` gives its own).
fn in_child(name: &str, env: Vec<(String, String)>) -> Report {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", name, "--nocapture", "--test-threads=1"]).env(CHILD, "1");
    for var in PROXY_VARS {
        command.env_remove(var);
    }
    // Outside GNOME unless `env` says otherwise: libproxy then reads the proxy variables (in a GNOME
    // session whose proxy mode is "none", both halves of a sign-in go direct whatever they say).
    command.env_remove("XDG_CURRENT_DESKTOP").env_remove("GIO_USE_PROXY_RESOLVER");
    let desktop = DesktopProxy::empty();
    command.envs(desktop.env_outside_gnome()).envs(env);
    let out = command.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "the child for {name} failed:\n{text}");
    for line in text.lines().filter(|line| line.contains("figure:")) {
        println!("{}", &line[line.find("figure:").unwrap()..]);
    }
    Report(text)
}

fn child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn config(issuer: &str, ca_file: Option<&str>) -> ProviderConfig {
    let mut config = ProviderConfig::new(issuer, "session-keeper");
    config.display_name = "Test provider".into();
    config.ca_certificates = ca_file.map(|file| std::fs::read_to_string(file).unwrap());
    config
}

async fn manager() -> SessionManager {
    support::manager(Arc::new(MemoryVault::new()), Policy::default()).await
}

/// The user's half: the provider's login pages in a browser that takes `proxy` (as WebKitGTK takes
/// the desktop's) and trusts the test CA. (The harness's `login` goes direct, which cannot reach a
/// name only the proxy resolves.)
async fn login_through(proxy: &str, ca_file: &str, authorization_url: &Url, user: &str) -> Url {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca_file).unwrap()).unwrap();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .proxy(reqwest::Proxy::all(proxy).unwrap())
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let mut response = browser.get(authorization_url.clone()).send().await.unwrap();
    for _ in 0..20 {
        let location = response.headers().get("location").unwrap_or_else(|| panic!("no redirect: HTTP {}", response.status()));
        let next = response.url().join(location.to_str().unwrap()).unwrap();
        if next.path() == "/callback" {
            return next;
        }
        response = if next.path().starts_with("/interaction/") {
            let page = browser.get(next.clone()).send().await.unwrap().text().await.unwrap();
            let form: &[(&str, &str)] = if page.contains("name=\"login\"") {
                &[("prompt", "login"), ("login", user), ("password", "any")]
            } else {
                &[("prompt", "consent")]
            };
            browser.post(next).form(form).send().await.unwrap()
        } else {
            browser.get(next).send().await.unwrap()
        };
    }
    panic!("no redirect to the callback after 20 steps");
}

/// The child's part of a sign-in and refreshes: signs alice in to the provider at `ISSUER` and
/// refreshes [`ROUNDS`] times, timing the refreshes; with `DIRECT_ISSUER`, the same against a
/// provider on loopback (never proxied) for comparison.
async fn sign_in_and_refresh() {
    let (issuer, ca_file) = (var(ISSUER), var(CA_FILE));
    let manager = manager().await;
    manager.add_session("s", config(&issuer, Some(&ca_file)), None).await.unwrap();
    let url = manager.begin_sign_in("s").await.unwrap();
    let redirect = login_through(&var(BROWSER_PROXY), &ca_file, &url, "alice").await;
    let session = manager.complete_sign_in("s", &redirect).await.unwrap();
    println!("signed-in={}", session.user.as_ref().map_or("", |user| user.subject.as_str()));
    println!("figure: refresh through squid (debug build), median of {ROUNDS}: {:?}", median_refresh(&manager, "s").await);
    if let Ok(direct) = std::env::var(DIRECT_ISSUER) {
        manager.add_session("d", config(&direct, Some(&ca_file)), None).await.unwrap();
        let url = manager.begin_sign_in("d").await.unwrap();
        let redirect = support::login(&url, "alice").await;
        manager.complete_sign_in("d", &redirect).await.unwrap();
        println!("figure: refresh direct (debug build), median of {ROUNDS}: {:?}", median_refresh(&manager, "d").await);
    }
    manager.shutdown().await;
}

async fn median_refresh(manager: &SessionManager, id: &str) -> Duration {
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        let began = Instant::now();
        manager.refresh(id, true).await.unwrap();
        times.push(began.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

/// The child's part of a failure: adds a session for `ISSUER` (its discovery) and reports the error.
async fn report_discovery_error() {
    let err = manager().await.add_session("s", config(&var(ISSUER), Some(&var(CA_FILE))), None).await.expect_err("discovery must fail");
    println!("kind={}", err.kind());
    println!("message={err}");
}

/// squid's log lines for CONNECTs to `target` by the core (its User-Agent), waited for with a bound:
/// a tunnel is logged when it closes, which the child's exit did.
fn core_tunnels(squid: &Squid, target: &str) -> Vec<String> {
    squid.wait_for_log(&format!("CONNECT {target}"), Duration::from_secs(10));
    squid.log().into_iter().filter(|line| line.contains(&format!("CONNECT {target}")) && line.contains("session-keeper/")).collect()
}

#[tokio::test]
async fn signs_in_and_refreshes_through_a_proxy_set_in_the_environment() {
    if child() {
        return sign_in_and_refresh().await;
    }
    let (squid, hidden) = (Squid::start(), Hidden::start());
    let direct_ca = hidden.ca.server(&["127.0.0.1"]);
    let direct = Idp::start_https(Ttls::default(), &direct_ca, &[]);
    let mut env = hidden.env(&squid.url());
    env.extend(squid.env());
    env.push((DIRECT_ISSUER.into(), direct.issuer.clone()));
    let report = in_child("signs_in_and_refreshes_through_a_proxy_set_in_the_environment", env);

    assert_eq!(report.get("signed-in"), Some("alice"));
    assert_eq!(hidden.idp.token_requests().await, 1 + u64::from(ROUNDS), "the code exchange and every refresh reached the provider");
    let tunnels = core_tunnels(&squid, &hidden.target());
    assert!(!tunnels.is_empty() && tunnels.iter().all(|line| line.contains("/200 ")), "squid's log: {:#?}", squid.log());
    println!(
        "figure: the core opened {} tunnel(s) through squid for discovery, keys, the code exchange and {ROUNDS} refreshes",
        tunnels.len()
    );
    let loopback = squid.requests().into_iter().any(|(_, target, _)| target.starts_with("127.0.0.1:") || target.contains("://127.0.0.1"));
    assert!(!loopback, "a loopback provider went through the proxy: {:#?}", squid.log());
    assert_eq!(direct.token_requests().await, 1 + u64::from(ROUNDS), "the loopback provider was reached direct");
}

#[tokio::test]
async fn signs_in_and_refreshes_through_the_desktops_proxy_settings() {
    if child() {
        return sign_in_and_refresh().await;
    }
    let (squid, hidden) = (Squid::start(), Hidden::start());
    // The desktop's settings only: GSettings in a private keyfile, GIO's GNOME resolver.
    let desktop = DesktopProxy::manual(&squid);
    let mut env = hidden.env(&squid.url());
    env.extend(desktop.env());
    let report = in_child("signs_in_and_refreshes_through_the_desktops_proxy_settings", env);

    assert_eq!(report.get("signed-in"), Some("alice"));
    assert_eq!(hidden.idp.token_requests().await, 1 + u64::from(ROUNDS));
    let tunnels = core_tunnels(&squid, &hidden.target());
    assert!(!tunnels.is_empty(), "the core's requests did not go through squid: {:#?}", squid.log());
}

#[tokio::test]
async fn signs_in_and_refreshes_through_a_proxy_named_by_the_desktops_pac_file() {
    if child() {
        return sign_in_and_refresh().await;
    }
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session bus: run the tests through scripts/test.sh (GIO's PAC runner is activated on it)"
    );
    let (squid, hidden) = (Squid::start(), Hidden::start());
    let pac = hidden.ca.dir().join("proxy.pac");
    let script = format!(
        "function FindProxyForURL(url, host) {{\n  if (dnsDomainIs(host, \".proxy-only.test\")) return \"PROXY 127.0.0.1:{}\";\n  return \"DIRECT\";\n}}\n",
        squid.port
    );
    std::fs::write(&pac, script).unwrap();
    let desktop = DesktopProxy::auto(&format!("file://{}", pac.display()));
    let mut env = hidden.env(&squid.url());
    env.extend(desktop.env());
    let report = in_child("signs_in_and_refreshes_through_a_proxy_named_by_the_desktops_pac_file", env);

    assert_eq!(report.get("signed-in"), Some("alice"));
    assert_eq!(hidden.idp.token_requests().await, 1 + u64::from(ROUNDS));
    assert!(!core_tunnels(&squid, &hidden.target()).is_empty(), "the core's requests did not go through squid: {:#?}", squid.log());
}

#[tokio::test]
async fn no_proxy_sends_a_host_direct() {
    if child() {
        return report_discovery_error().await;
    }
    let (squid, hidden) = (Squid::start(), Hidden::start());
    let mut env = hidden.env(&squid.url());
    env.push(("https_proxy".into(), squid.url()));
    env.push(("no_proxy".into(), "localhost,.proxy-only.test".into()));
    let report = in_child("no_proxy_sends_a_host_direct", env);

    // Direct, the name resolves nowhere: the provider could not be reached, and squid saw nothing.
    assert_eq!(report.get("kind"), Some("provider_unavailable"), "{}", report.0);
    let message = report.get("message").unwrap();
    assert!(message.contains(&format!("the name {PROXY_ONLY_HOST} could not be found")) && !message.contains("the proxy"), "{message}");
    assert!(squid.requests().is_empty(), "squid carried a request for a host in no_proxy: {:#?}", squid.log());
}

#[tokio::test]
async fn a_proxy_that_asks_for_credentials_is_named_in_words_and_takes_them_from_the_url() {
    if child() {
        return match std::env::var("PROXIES_EXPECT_ERROR") {
            Ok(_) => report_discovery_error().await,
            Err(_) => sign_in_and_refresh().await,
        };
    }
    let (squid, hidden) = (Squid::with_password("alice", "s3cret"), Hidden::start());
    let mut env = hidden.env(&squid.url_with_credentials());
    env.push(("https_proxy".into(), squid.url_with_credentials()));
    let report = in_child("a_proxy_that_asks_for_credentials_is_named_in_words_and_takes_them_from_the_url", env);
    assert_eq!(report.get("signed-in"), Some("alice"), "credentials in https_proxy's URL are used");

    let mut env = hidden.env(&squid.url());
    env.push(("https_proxy".into(), squid.url()));
    env.push(("PROXIES_EXPECT_ERROR".into(), "1".into()));
    let report = in_child("a_proxy_that_asks_for_credentials_is_named_in_words_and_takes_them_from_the_url", env);

    assert_eq!(report.get("kind"), Some("proxy_refused"), "{}", report.0);
    let message = report.get("message").unwrap();
    let proxy = format!("http://127.0.0.1:{}", squid.port);
    assert!(message.starts_with(&format!("The proxy {proxy} refused the request to https://{}", hidden.target())), "{message}");
    assert!(message.contains("it asks for a user name and password (HTTP 407)"), "{message}");
    assert!(
        message.ends_with("Put the proxy's user name and password in the desktop's proxy settings, or ask your network administrator.")
    );
    assert!(squid.requests().iter().any(|(method, _, status)| method == "CONNECT" && *status == 407), "{:#?}", squid.log());
}

#[tokio::test]
async fn the_desktops_proxy_credentials_are_used_and_a_wrong_password_is_named() {
    if child() {
        return match std::env::var("PROXIES_EXPECT_ERROR") {
            Ok(_) => report_discovery_error().await,
            Err(_) => sign_in_and_refresh().await,
        };
    }
    let (squid, hidden) = (Squid::with_password("alice", "s3cret"), Hidden::start());
    let desktop = DesktopProxy::manual(&squid);
    let mut env = hidden.env(&squid.url_with_credentials());
    env.extend(desktop.env());
    let report = in_child("the_desktops_proxy_credentials_are_used_and_a_wrong_password_is_named", env);
    assert_eq!(report.get("signed-in"), Some("alice"));
    assert!(!report.0.contains("s3cret"), "the proxy's password reached the output: {}", report.0);

    let wrong = DesktopProxy::manual_with(&squid, Some(("alice", "wrong")), &["localhost"]);
    let mut env = hidden.env(&squid.url());
    env.extend(wrong.env());
    env.push(("PROXIES_EXPECT_ERROR".into(), "1".into()));
    let report = in_child("the_desktops_proxy_credentials_are_used_and_a_wrong_password_is_named", env);
    assert_eq!(report.get("kind"), Some("proxy_refused"), "{}", report.0);
    let message = report.get("message").unwrap();
    assert!(message.contains("did not accept the user name and password"), "{message}");
    assert!(!message.contains("wrong") && !message.contains("alice"), "credentials in the words: {message}");
}

#[tokio::test]
async fn a_proxy_that_cannot_be_reached_says_so() {
    if child() {
        return report_discovery_error().await;
    }
    let hidden = Hidden::start();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let mut env = hidden.env(&dead);
    env.push(("https_proxy".into(), dead.clone()));
    let report = in_child("a_proxy_that_cannot_be_reached_says_so", env);

    assert_eq!(report.get("kind"), Some("provider_unavailable"), "{}", report.0);
    let message = report.get("message").unwrap();
    assert!(message.contains(&format!("the proxy {dead} could not be reached")), "{message}");
}

#[tokio::test]
async fn a_provider_the_proxy_cannot_reach_is_told_from_a_proxy_that_is_not_there() {
    if child() {
        return report_discovery_error().await;
    }
    let (squid, ca) = (Squid::start(), TestCa::new());
    // Nothing listens at the provider's port: squid answers the CONNECT with an error.
    let issuer = format!("https://{PROXY_ONLY_HOST}:{}", free_port());
    let env = vec![(ISSUER.into(), issuer), (CA_FILE.into(), ca.file().display().to_string()), ("https_proxy".into(), squid.url())];
    let report = in_child("a_provider_the_proxy_cannot_reach_is_told_from_a_proxy_that_is_not_there", env);

    assert_eq!(report.get("kind"), Some("provider_unavailable"), "{}", report.0);
    let message = report.get("message").unwrap();
    assert!(message.contains(&format!("the proxy {} could not connect to it", squid.url())), "{message}");
}
