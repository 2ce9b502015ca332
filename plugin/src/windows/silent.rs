//! The hidden sign-in window of a silent sign-in (issue 26): the core's [`SilentBrowser`] on the desktop.
//!
//! A WebKit window that is never shown (built `visible(false)`, so GTK never maps it on X11 and no
//! taskbar or window list sees it; not focusable, no focus taken) loads the authorization URL
//! (`prompt=none`) with the provider origin's own cookie store ([`super::cookies`]), the one the visible
//! sign-in window writes, so the provider recognises its own session. The first navigation to the
//! redirect URI is stopped before it loads and handed back to the core, which runs every check of a
//! normal sign-in on it. Like every provider window, its label is named by no capability: the page in
//! it can call no command. Bounded: the request's timeout ends it (a page that never redirects), and
//! dropping the future (the core's own bound, a sign-out) destroys the window. A certificate WebKit
//! refuses is judged by the same guard as the visible window's ([`super::tls`]), its refusal the answer.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use session_core::{Error, Result, SilentBrowser, SilentRequest};
use tauri::{AppHandle, WebviewUrl, WebviewWindowBuilder};
use tokio::sync::mpsc;
use url::Url;

use super::{cookies, tls};

/// The labels of the hidden windows: `silent-sign-in-<n>`. No capability names them.
pub const LABEL_PREFIX: &str = "silent-sign-in-";

/// The desktop's silent browser: one hidden window per attempt.
pub struct HiddenWindows {
    app: AppHandle,
    next: AtomicU64,
}

impl HiddenWindows {
    /// Hidden windows of `app`.
    pub fn new(app: AppHandle) -> Self {
        Self { app, next: AtomicU64::new(0) }
    }
}

/// The attempt's window, destroyed however the attempt ends (answer, timeout, refusal, or the future
/// dropped by its caller).
struct Hidden(tauri::WebviewWindow);

impl Drop for Hidden {
    fn drop(&mut self) {
        let _ = self.0.destroy();
    }
}

impl SilentBrowser for HiddenWindows {
    fn navigate(&self, request: SilentRequest) -> Pin<Box<dyn Future<Output = Result<Url>> + Send>> {
        let app = self.app.clone();
        let label = format!("{LABEL_PREFIX}{}", self.next.fetch_add(1, Ordering::Relaxed) + 1);
        Box::pin(async move {
            let SilentRequest { session, url, config, timeout } = request;
            let started = std::time::Instant::now();
            let (answers, mut answer) = mpsc::unbounded_channel::<Result<Url>>();
            let refusal = tls::Refusal::Report(Box::new({
                let answers = answers.clone();
                move |err| {
                    let _ = answers.send(Err(err));
                }
            }));
            let redirect = config.clone();
            let blank = Url::parse("about:blank").expect("a valid URL");
            let mut builder = WebviewWindowBuilder::new(&app, &label, WebviewUrl::External(blank))
                .title(format!("Signing in to {} again", config.display_name))
                .visible(false)
                .focused(false)
                .focusable(false)
                .skip_taskbar(true)
                .on_navigation(move |navigation: &Url| {
                    if redirect.is_redirect(navigation) {
                        let _ = answers.send(Ok(navigation.clone()));
                        false
                    } else {
                        true
                    }
                });
            if let Some(directory) = cookies::store_directory(&app, &config) {
                builder = builder.data_directory(directory);
            }
            let window = Hidden(builder.build().map_err(window_failed)?);
            tls::guard_then_load(&window.0, url, config.ca_certificates.clone(), refusal).map_err(window_failed)?;
            let outcome = match tokio::time::timeout(timeout, answer.recv()).await {
                Ok(Some(outcome)) => outcome,
                Ok(None) => Err(window_failed("the hidden window closed")),
                Err(_) => Err(Error::SignInTimedOut(timeout)),
            };
            // The e2e test reads `took_ms` for the figures of a silent sign-in in the real window.
            let took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            tracing::info!(%session, ok = outcome.is_ok(), took_ms, "silent sign-in window finished");
            drop(window);
            outcome
        })
    }
}

/// The hidden window could not be made or went away: the attempt failed (the session stays as it was).
fn window_failed(problem: impl std::fmt::Display) -> Error {
    let words = format!("The hidden sign-in window could not do its work ({problem}); the session stays as it was.");
    Error::Session(session_core::ErrorInfo::new(session_core::ErrorKind::BrowserUnavailable, words))
}
