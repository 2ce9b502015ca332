//! The third OpenID Provider: Canaille from PyPI (`tests/canaille`), a Flask and Authlib identity
//! server written independently of oidc-provider and django-oauth-toolkit, run with its defaults, for
//! the interoperability tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use session_core::{ProviderConfig, RedirectUri};
use url::Url;

/// The password of both users that `tests/canaille/serve.py` creates.
pub const PASSWORD: &str = "correct horse battery staple";

/// Canaille on 127.0.0.1; killed when dropped. Users `alice` and `bob` ([`PASSWORD`]); one public
/// client, `session-keeper`.
pub struct Canaille {
    child: Child,
    /// Its database; removed when dropped.
    folder: std::path::PathBuf,
    /// The issuer it announces: `http://127.0.0.1:PORT` (no path, no trailing slash).
    pub issuer: String,
    /// The port it listens on.
    pub port: u16,
}

impl Canaille {
    /// Starts it on a port the system picks, with a fresh database in a folder of its own.
    pub fn start() -> Canaille {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let started = STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let folder = std::env::temp_dir().join(format!("session-keeper-canaille-{}-{started}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let (child, issuer, port) = Self::spawn(&folder, None);
        Canaille { child, folder, issuer, port }
    }

    /// Stops it and starts it again on the same port with the same database: the users, the client
    /// and the tokens it issued stay, and its signing keys are new (it makes them at start).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, issuer, port) = Self::spawn(&self.folder, Some(self.port));
        assert_eq!((issuer.as_str(), port), (self.issuer.as_str(), self.port), "the provider came back elsewhere");
        self.child = child;
    }

    fn spawn(folder: &std::path::Path, port: Option<u16>) -> (Child, String, u16) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../canaille");
        let python = std::path::Path::new(dir).join(".venv/bin/python");
        assert!(python.exists(), "the Canaille test provider is not installed: run scripts/setup.sh (it fills tests/canaille/.venv)");
        let mut child = Command::new(python)
            .arg("serve.py")
            .current_dir(dir)
            .env("CANAILLE_FOLDER", folder)
            .envs(port.map(|port| ("CANAILLE_PORT", port.to_string())))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the Canaille test provider could not be started");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("the provider printed nothing");
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("the provider said {line:?}"));
        (child, ready["issuer"].as_str().unwrap().to_owned(), ready["port"].as_u64().unwrap() as u16)
    }

    /// The session's settings as a user would enter them for this provider: its issuer and the client.
    pub fn config(&self) -> ProviderConfig {
        let mut config = ProviderConfig::new(&self.issuer, "session-keeper");
        config.display_name = "Canaille".into();
        config.post_logout_redirect_uri = Some(RedirectUri::parse("http://127.0.0.1/signed-out").unwrap());
        config
    }

    /// Plays the user in the provider's two login pages (the user name, then the password) and its
    /// consent page, like a browser with cookies, and returns the URL the provider finally redirects
    /// to (the app's redirect URI). The pages it went through are listed in `pages` by path.
    pub async fn login(&self, authorization_url: &Url, user: &str) -> (Url, Vec<String>) {
        let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
        let mut response = browser.get(authorization_url.clone()).send().await.unwrap();
        let mut pages = Vec::new();
        for _ in 0..20 {
            if response.status().is_redirection() {
                let location = response.headers()["location"].to_str().unwrap().to_owned();
                let next = response.url().join(&location).unwrap();
                if next.port() != Some(self.port) {
                    return (next, pages);
                }
                response = browser.get(next).send().await.unwrap();
                continue;
            }
            let url = response.url().clone();
            let status = response.status();
            let page = response.text().await.unwrap();
            let mut form = hidden_fields(&page);
            if page.contains("name=\"password\"") {
                form.push(("password".into(), PASSWORD.into()));
            } else if page.contains("name=\"login\"") {
                form.push(("login".into(), user.into()));
            } else if page.contains("value=\"accept\"") {
                form.push(("answer".into(), "accept".into()));
            } else {
                panic!("unexpected page (HTTP {status}) at {url}: {page}");
            }
            pages.push(url.path().to_owned());
            let action = form_action(&page).map(|action| url.join(&action).unwrap()).unwrap_or(url);
            response = browser.post(action).form(&form).send().await.unwrap();
        }
        panic!("no redirect to the app after 20 steps");
    }

    /// POSTs a refresh grant by hand, as a stale copy of the token would be used.
    pub async fn raw_refresh(&self, refresh_token: &str) -> (u16, Value) {
        super::raw_refresh(&format!("{}/oauth/token", self.issuer), refresh_token).await
    }

    /// POSTs a revocation for `token` as the public client, as the app does: the status and the answer.
    pub async fn raw_revoke(&self, token: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/oauth/revoke", self.issuer))
            .form(&[("token", token), ("client_id", "session-keeper")])
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for Canaille {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// The `name`/`value` pairs of a page's hidden inputs (a form's CSRF token and carried parameters).
fn hidden_fields(page: &str) -> Vec<(String, String)> {
    page.split("<input")
        .skip(1)
        .filter_map(|tag| {
            let tag = &tag[..tag.find('>')?];
            if !tag.contains("type=\"hidden\"") {
                return None;
            }
            Some((attribute(tag, "name")?, attribute(tag, "value").unwrap_or_default()))
        })
        .collect()
}

/// The `action` of the page's first form that has one.
fn form_action(page: &str) -> Option<String> {
    page.split("<form").skip(1).find_map(|tag| attribute(&tag[..tag.find('>')?], "action")).filter(|action| !action.is_empty())
}

/// The value of attribute `name` in `tag`, which may put its attributes on lines of their own.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let found = tag.match_indices(&needle).find(|(at, _)| tag[..*at].ends_with(char::is_whitespace))?.0;
    let start = found + needle.len();
    let value = &tag[start..start + tag[start..].find('"')?];
    Some(
        value
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}
