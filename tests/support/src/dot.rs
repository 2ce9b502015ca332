//! The second OpenID Provider: django-oauth-toolkit from PyPI (`tests/dot`), written independently of
//! oidc-provider and run with its defaults, for the interoperability tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use session_core::{ProviderConfig, RedirectUri};
use url::Url;

/// django-oauth-toolkit on 127.0.0.1; killed when dropped. Users `alice` and `bob`, password
/// `password`; one public client, `session-keeper`.
pub struct Dot {
    child: Child,
    /// Its database; removed when dropped.
    folder: std::path::PathBuf,
    /// The issuer it announces: `http://127.0.0.1:PORT/o` (an issuer with a path).
    pub issuer: String,
    /// The port it listens on.
    pub port: u16,
}

impl Dot {
    pub fn start() -> Dot {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../dot");
        let python = std::path::Path::new(dir).join(".venv/bin/python");
        assert!(python.exists(), "the second test provider is not installed: run scripts/setup.sh (it fills tests/dot/.venv)");
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let started = STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let folder = std::env::temp_dir().join(format!("session-keeper-dot-{}-{started}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let mut child = Command::new(python)
            .arg("serve.py")
            .current_dir(dir)
            .env("DOT_FOLDER", &folder)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the second test provider could not be started");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("the provider printed nothing");
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("the provider said {line:?}"));
        Dot { child, folder, issuer: ready["issuer"].as_str().unwrap().to_owned(), port: ready["port"].as_u64().unwrap() as u16 }
    }

    /// The session's settings as a user would enter them for this provider: its issuer, the client,
    /// and the scopes it offers (it refuses `offline_access`, which it does not list, and issues
    /// refresh tokens without it).
    pub fn config(&self) -> ProviderConfig {
        let mut config = ProviderConfig::new(&self.issuer, "session-keeper");
        config.display_name = "django-oauth-toolkit".into();
        config.scopes = vec!["openid".into(), "profile".into(), "email".into()];
        config.post_logout_redirect_uri = Some(RedirectUri::parse("http://127.0.0.1/signed-out").unwrap());
        config
    }

    /// Plays the user in the provider's login form and consent page, like a browser with cookies,
    /// and returns the URL the provider finally redirects to (the app's redirect URI).
    pub async fn login(&self, authorization_url: &Url, user: &str) -> Url {
        let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
        let mut response = browser.get(authorization_url.clone()).send().await.unwrap();
        for _ in 0..20 {
            if response.status().is_redirection() {
                let location = response.headers()["location"].to_str().unwrap().to_owned();
                let next = response.url().join(&location).unwrap();
                if next.port() != Some(self.port) {
                    return next;
                }
                response = browser.get(next).send().await.unwrap();
                continue;
            }
            let url = response.url().clone();
            let page = response.text().await.unwrap();
            let mut form = hidden_fields(&page);
            if page.contains("name=\"password\"") {
                form.push(("username".into(), user.into()));
                form.push(("password".into(), "password".into()));
            } else if page.contains("name=\"allow\"") {
                form.push(("allow".into(), "Authorize".into()));
            } else {
                panic!("unexpected page at {url}: {page}");
            }
            response = browser.post(url).form(&form).send().await.unwrap();
        }
        panic!("no redirect to the app after 20 steps");
    }

    /// POSTs a refresh grant by hand, as a stale copy of the token would be used.
    pub async fn raw_refresh(&self, refresh_token: &str) -> (u16, Value) {
        super::raw_refresh(&format!("{}/token/", self.issuer), refresh_token).await
    }
}

impl Drop for Dot {
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

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
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
