//! A [`SilentBrowser`] for tests and benchmarks: an HTTP client with a cookie jar that follows the
//! provider's redirects until one goes to the app's redirect URI (`is_redirect`), which it returns
//! without loading. It stands in for the app's hidden WebKit window (the plugin's), which does the same
//! with the sign-in window's cookie store; what the core does with the answer is the same either way.
//! Its jar is the provider's cookie store: [`TestSilentBrowser::login`] signs a user in at the provider
//! in it first (the scripted login pages), so that the provider's session cookie is there.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use session_core::{Error, ErrorInfo, ErrorKind, SilentBrowser, SilentRequest};
use url::Url;

/// The test browser; clone the `Arc` to keep a handle for the test's checks.
pub struct TestSilentBrowser {
    client: reqwest::Client,
    navigations: AtomicU32,
}

impl TestSilentBrowser {
    /// A browser with an empty cookie jar.
    pub fn new() -> Arc<Self> {
        Arc::new(Self { client: crate::test_client(true), navigations: AtomicU32::new(0) })
    }

    /// Signs `user` in at the provider through its login pages in this browser's jar and returns the
    /// redirect (for [`session_core::SessionManager::complete_sign_in`]): the interactive sign-in in the
    /// embedded window, whose cookie store this jar is.
    pub async fn login(&self, authorization_url: &Url, user: &str) -> Url {
        crate::login_in(&self.client, authorization_url, user).await
    }

    /// How many silent navigations were asked of it.
    pub fn navigations(&self) -> u32 {
        self.navigations.load(Ordering::SeqCst)
    }

    async fn follow(client: reqwest::Client, request: SilentRequest) -> session_core::Result<Url> {
        let failed = |what: String| Error::Session(ErrorInfo::new(ErrorKind::BrowserUnavailable, what));
        let mut next = request.url.clone();
        for _ in 0..20 {
            if request.config.is_redirect(&next) {
                return Ok(next);
            }
            let response = client.get(next.clone()).send().await.map_err(|err| failed(format!("the page could not be loaded: {err}")))?;
            let Some(location) = response.headers().get("location").and_then(|l| l.to_str().ok()) else {
                // A page that does not redirect: a window that is never shown waits until the timeout.
                let never: std::convert::Infallible = std::future::pending().await;
                match never {}
            };
            next = response.url().join(location).map_err(|err| failed(format!("a redirect could not be read: {err}")))?;
        }
        Err(failed("the provider redirected more than 20 times".into()))
    }
}

impl SilentBrowser for TestSilentBrowser {
    fn navigate(&self, request: SilentRequest) -> Pin<Box<dyn Future<Output = session_core::Result<Url>> + Send>> {
        self.navigations.fetch_add(1, Ordering::SeqCst);
        let client = self.client.clone();
        Box::pin(async move {
            let timeout: Duration = request.timeout;
            match tokio::time::timeout(timeout, Self::follow(client, request)).await {
                Ok(answer) => answer,
                Err(_) => Err(Error::SignInTimedOut(timeout)),
            }
        })
    }
}
