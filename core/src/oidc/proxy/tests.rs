use super::*;

use std::sync::atomic::{AtomicU32, Ordering};

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

fn environment(vars: &[(&str, &str)]) -> EnvironmentResolver {
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    EnvironmentResolver::from_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
}

fn proxied(route: Route) -> String {
    match route {
        Route::Proxy(proxy) => proxy.to_string(),
        Route::Direct => "direct".into(),
    }
}

#[test]
fn the_environment_gives_a_proxy_per_scheme_and_no_proxy_sends_hosts_direct() {
    let env = environment(&[
        ("https_proxy", "http://secure-proxy:3128"),
        ("http_proxy", "plain-proxy:8080"),
        ("no_proxy", "internal.example, .corp.test,10.0.0.0/8, fd00::/8, direct.test:8443, [::2]"),
    ]);
    assert_eq!(proxied(env.route(&url("https://id.example.com/token"))), "http://secure-proxy:3128/");
    assert_eq!(proxied(env.route(&url("http://id.example.com/"))), "http://plain-proxy:8080/", "a proxy without a scheme is HTTP");
    for direct in [
        "https://internal.example/",
        "https://login.internal.example/",
        "https://corp.test/",
        "https://id.corp.test/",
        "https://10.1.2.3/",
        "https://[fd00::1]/",
        "https://direct.test:8443/",
        "https://[::2]/",
    ] {
        assert_eq!(env.route(&url(direct)), Route::Direct, "{direct}");
    }
    for through in ["https://notinternal.example/", "https://direct.test/", "https://11.1.2.3/", "https://[fe00::1]/"] {
        assert_ne!(env.route(&url(through)), Route::Direct, "{through}");
    }
    assert_eq!(environment(&[("https_proxy", "http://p:1"), ("no_proxy", "*")]).route(&url("https://a.b/")), Route::Direct);
}

#[test]
fn all_proxy_stands_in_for_a_missing_one_and_upper_case_http_proxy_is_ignored() {
    let env = environment(&[("ALL_PROXY", "http://all:1"), ("HTTP_PROXY", "http://cgi-header:2")]);
    assert_eq!(proxied(env.route(&url("http://id.example.com/"))), "http://all:1/");
    assert_eq!(proxied(env.route(&url("https://id.example.com/"))), "http://all:1/");
    assert_eq!(environment(&[]).route(&url("https://id.example.com/")), Route::Direct);
    assert_eq!(environment(&[]).lookup(&url("https://id.example.com/")), None, "no variables: no answer");
}

#[test]
fn the_first_usable_answer_is_taken_and_socks_is_passed_over() {
    let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(proxied(choose(&list(&["socks5://s:1080", "http://h:3128"]))), "http://h:3128/");
    assert_eq!(choose(&list(&["direct://", "http://h:3128"])), Route::Direct);
    assert_eq!(choose(&list(&["socks5://s:1080"])), Route::Direct);
    assert_eq!(choose(&list(&["not a url", "https://h:443"])), Route::Proxy(url("https://h:443")));
}

#[test]
fn a_proxy_is_shown_without_its_credentials() {
    assert_eq!(shown(&url("http://alice:s3cret@proxy.corp:3128/")), "http://proxy.corp:3128");
    assert_eq!(shown(&url("http://proxy.corp/")), "http://proxy.corp:80");
}

/// A resolver that counts its lookups and answers `answer` after `delay`.
struct Scripted {
    answer: Option<Vec<String>>,
    delay: Duration,
    lookups: AtomicU32,
}

impl ProxyResolver for Scripted {
    fn lookup(&self, _url: &Url) -> Option<Vec<String>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        self.answer.clone()
    }
}

fn scripted(answer: Option<&[&str]>, delay: Duration) -> Arc<Scripted> {
    Arc::new(Scripted { answer: answer.map(|a| a.iter().map(|s| s.to_string()).collect()), delay, lookups: AtomicU32::new(0) })
}

#[test]
fn answers_are_cached_per_scheme_host_and_port_and_loopback_is_never_proxied() {
    let resolver = scripted(Some(&["http://desktop-proxy:3128"]), Duration::ZERO);
    let router = Arc::new(Router::new(Some(resolver.clone()), environment(&[("https_proxy", "http://env:1")])));
    for _ in 0..3 {
        assert_eq!(proxied(router.route_for(&url("https://id.example.com/a"))), "http://desktop-proxy:3128/");
    }
    assert_eq!(resolver.lookups.load(Ordering::SeqCst), 1, "asked once, then from the cache");
    router.route_for(&url("https://id.example.com:8443/"));
    router.route_for(&url("http://id.example.com/"));
    assert_eq!(resolver.lookups.load(Ordering::SeqCst), 3, "another port or scheme is another question");
    for loopback in ["http://127.0.0.1:9000/", "http://[::1]/", "http://localhost:1/"] {
        assert_eq!(router.route_for(&url(loopback)), Route::Direct, "{loopback}");
    }
    assert_eq!(resolver.lookups.load(Ordering::SeqCst), 3, "loopback is not even asked about");
}

#[test]
fn without_an_answer_from_the_desktop_the_environment_decides() {
    let router = Arc::new(Router::new(Some(scripted(None, Duration::ZERO)), environment(&[("https_proxy", "http://env:1")])));
    assert_eq!(proxied(router.route_for(&url("https://id.example.com/"))), "http://env:1/");
    let direct =
        Arc::new(Router::new(Some(scripted(Some(&["direct://"]), Duration::ZERO)), environment(&[("https_proxy", "http://env:1")])));
    assert_eq!(direct.route_for(&url("https://id.example.com/")), Route::Direct, "the desktop's direct:// is honoured");
}

#[test]
fn a_slow_lookup_holds_the_caller_at_most_the_bound_and_its_answer_is_kept() {
    let resolver = scripted(Some(&["http://pac-proxy:8080"]), LOOKUP_BOUND + Duration::from_millis(500));
    let router = Arc::new(Router::new(Some(resolver.clone()), environment(&[("https_proxy", "http://env:1")])));
    let began = Instant::now();
    let first = router.route_for(&url("https://id.example.com/"));
    let held = began.elapsed();
    assert_eq!(proxied(first), "http://env:1/", "the environment's answer meanwhile");
    assert!(held < LOOKUP_BOUND + Duration::from_millis(300), "held {held:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxied(router.route_for(&url("https://id.example.com/"))) != "http://pac-proxy:8080/" {
        assert!(Instant::now() < deadline, "the slow answer never replaced the stand-in");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_proxy_that_cannot_be_reached_or_asks_for_credentials_is_named() {
    let proxy = url("http://alice:s3cret@proxy.corp:3128");
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    let err = classify("https://id.example.com/token", &proxy, &refused).expect("a proxy failure");
    assert_eq!(err.kind(), crate::ErrorKind::ProviderUnavailable);
    assert!(err.to_string().contains("the proxy http://proxy.corp:3128 could not be reached"), "{err}");

    let demand = std::io::Error::other(ProxyDemand { proxy: shown(&proxy), credentials_sent: false });
    let err = classify("http://id.example.com/token", &proxy, &demand).expect("a refusal");
    assert_eq!(err.kind(), crate::ErrorKind::ProxyRefused);
    let text = err.to_string();
    assert!(text.contains("asks for a user name and password (HTTP 407)") && text.contains(ADVICE_PROXY_CREDENTIALS), "{text}");
    assert!(!text.contains("s3cret") && !text.contains("alice"), "credentials in the words: {text}");

    let other = std::io::Error::new(std::io::ErrorKind::InvalidData, "certificate unknown");
    assert!(classify("https://id.example.com/", &proxy, &other).is_none(), "not the proxy's doing");
}

/// Runs test `name` of this binary again in a child process with `env` added (the environment of
/// this process cannot change: `set_var` needs `unsafe`, which is denied); panics with its output if
/// it fails.
#[cfg(target_os = "linux")]
fn in_child(name: &str, env: Vec<(String, String)>) -> String {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &format!("oidc::proxy::tests::{name}"), "--nocapture", "--test-threads=1"])
        .env("SESSION_KEEPER_PROXY_CHILD", "1")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("no_proxy")
        .env_remove("NO_PROXY")
        .env_remove("XDG_CURRENT_DESKTOP")
        .env_remove("GIO_USE_PROXY_RESOLVER")
        .envs(env)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "the child failed:\n{text}");
    text
}

#[cfg(target_os = "linux")]
fn child() -> bool {
    std::env::var_os("SESSION_KEEPER_PROXY_CHILD").is_some()
}

/// GIO, with the desktop's settings in manual mode (as GNOME's Settings write them), names the
/// desktop's proxy with the credentials of its settings, sends an ignored host direct, and is asked
/// once per host within the cache time. Prints the lookup's time, cold and cached.
#[cfg(target_os = "linux")]
#[test]
fn gio_answers_the_desktops_manual_proxy_with_its_credentials() {
    use session_keeper_testkit::proxy::DesktopProxy;
    if !child() {
        let desktop = DesktopProxy::manual_at("proxy.corp.test", 3128, Some(("alice", "s3 cret")), &["localhost", "direct.corp.test"]);
        let text = in_child("gio_answers_the_desktops_manual_proxy_with_its_credentials", desktop.env());
        println!("{}", text.lines().filter(|l| l.contains("figure:")).collect::<Vec<_>>().join("\n"));
        return;
    }
    let resolver = gio::GioResolver;
    let began = Instant::now();
    let answer = resolver.lookup(&url("https://id.example.com/.well-known/openid-configuration"));
    let cold = began.elapsed();
    assert_eq!(answer, Some(vec!["http://alice:s3%20cret@proxy.corp.test:3128/".to_owned()]));
    assert_eq!(resolver.lookup(&url("https://direct.corp.test/")), Some(vec!["direct://".to_owned()]), "an ignored host goes direct");
    let began = Instant::now();
    resolver.lookup(&url("https://other.example.com/"));
    let warm = began.elapsed();
    let router = Arc::new(Router::new(Some(Arc::new(gio::GioResolver)), environment(&[("https_proxy", "http://env:1")])));
    router.route_for(&url("https://id.example.com/"));
    let began = Instant::now();
    let cached = router.route_for(&url("https://id.example.com/token"));
    let from_cache = began.elapsed();
    assert_eq!(proxied(cached), "http://alice:s3%20cret@proxy.corp.test:3128/");
    println!("figure: GIO lookup cold {cold:?}, next host {warm:?}, from the route cache {from_cache:?}");
}

/// In a GNOME session whose proxy mode is "none", GIO answers `direct://`, and the core goes direct
/// as the sign-in window does, even with `https_proxy` set: one route for both halves of a sign-in.
#[cfg(target_os = "linux")]
#[test]
fn a_desktop_that_says_none_sends_both_halves_direct_whatever_the_environment_says() {
    use session_keeper_testkit::proxy::DesktopProxy;
    if !child() {
        let desktop = DesktopProxy::empty();
        in_child("a_desktop_that_says_none_sends_both_halves_direct_whatever_the_environment_says", desktop.env());
        return;
    }
    assert_eq!(gio::GioResolver.lookup(&url("https://id.example.com/")), Some(vec!["direct://".to_owned()]));
    let router = Arc::new(Router::new(Some(Arc::new(gio::GioResolver)), environment(&[("https_proxy", "http://env:1")])));
    assert_eq!(router.route_for(&url("https://id.example.com/")), Route::Direct);
}

/// With the desktop's settings at mode "auto" and a PAC file, GIO runs the file (glib-networking's
/// PAC runner, activated on the session bus) and names the proxy it returns, or `direct://`.
/// Prints the lookup's time, cold (the runner started) and warm.
#[cfg(target_os = "linux")]
#[test]
fn gio_runs_the_desktops_pac_file() {
    use session_keeper_testkit::proxy::DesktopProxy;
    if !child() {
        assert!(
            std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
            "no D-Bus session bus: run the tests through scripts/test.sh (GIO's PAC runner is activated on it)"
        );
        let dir = tempfile_dir();
        let pac = dir.join("proxy.pac");
        std::fs::write(
            &pac,
            "function FindProxyForURL(url, host) {\n  if (dnsDomainIs(host, \".corp.test\")) return \"PROXY pac-proxy.test:8080\";\n  return \"DIRECT\";\n}\n",
        )
        .unwrap();
        let desktop = DesktopProxy::auto(&format!("file://{}", pac.display()));
        let text = in_child("gio_runs_the_desktops_pac_file", desktop.env());
        println!("{}", text.lines().filter(|l| l.contains("figure:")).collect::<Vec<_>>().join("\n"));
        let _ = std::fs::remove_dir_all(dir);
        return;
    }
    let resolver = gio::GioResolver;
    let began = Instant::now();
    let answer = resolver.lookup(&url("https://id.corp.test/.well-known/openid-configuration"));
    let cold = began.elapsed();
    assert_eq!(answer, Some(vec!["http://pac-proxy.test:8080".to_owned()]));
    let began = Instant::now();
    let direct = resolver.lookup(&url("https://id.example.com/"));
    let warm = began.elapsed();
    assert_eq!(direct, Some(vec!["direct://".to_owned()]), "the PAC file's DIRECT is honoured");
    println!("figure: GIO lookup through a PAC file cold {cold:?}, warm {warm:?}");
}

#[cfg(target_os = "linux")]
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("session-keeper-pac-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A plain-HTTP request (a provider may announce its keys or userinfo at an http URL) that its proxy
/// answers 407 is the proxy's refusal in words, not the provider's answer; squid saw the request.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_plain_http_request_answered_407_by_its_proxy_is_the_proxys_refusal() {
    use openidconnect::AsyncHttpClient as _;
    use session_keeper_testkit::proxy::{DesktopProxy, PROXY_ONLY_HOST, Squid};
    let endpoint = format!("http://{PROXY_ONLY_HOST}:9/jwks");
    if !child() {
        let squid = Squid::with_password("alice", "s3cret");
        let desktop = DesktopProxy::empty();
        let mut env = desktop.env_outside_gnome();
        env.push(("http_proxy".into(), squid.url()));
        in_child("a_plain_http_request_answered_407_by_its_proxy_is_the_proxys_refusal", env);
        let asked = squid.requests().into_iter().any(|(method, target, status)| method == "GET" && target == endpoint && status == 407);
        assert!(asked, "squid's log: {:#?}", squid.log());
        return;
    }
    let http = crate::oidc::http_client(Duration::from_secs(5), Arc::new(crate::clock::SystemClock)).unwrap();
    let request = openidconnect::http::Request::builder().uri(endpoint.as_str()).body(Vec::new()).unwrap();
    let err = http.call(request).await.expect_err("the proxy refuses");
    let err = refused(&endpoint, &err).expect("the proxy's refusal");
    assert_eq!(err.kind(), crate::ErrorKind::ProxyRefused, "{err}");
    assert!(err.to_string().contains("asks for a user name and password (HTTP 407)"), "{err}");
}
