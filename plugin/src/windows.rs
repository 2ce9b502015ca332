//! The provider windows: the embedded sign-in and the end-session visit after a sign-out.
//!
//! They show remote content, so they are named by no capability and can call no command; they get
//! the web data folder of their provider's origin (`<app data>/sign-in-web-data/<cookie_store_key>`,
//! shared with the hidden windows of silent sign-in), or a private, throw-away one when sign-in is
//! ephemeral. The plugin watches their navigations: the one to the redirect URI is stopped before it
//! loads and handed to the core.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use session_core::{EndSessionUrl, ProviderConfig, SignInWith};
use tauri::{AppHandle, Emitter, Manager, WebviewUrl, WebviewWindowBuilder, WindowEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::SessionKeeperExt;
use crate::error::{Error, ErrorPayload, Result};

pub(crate) mod cookies;
pub mod silent;
mod tls;

/// The event that tells the pages how a sign-in ended.
pub const SIGN_IN_FINISHED: &str = "session-keeper://sign-in-finished";

/// Payload of [`SIGN_IN_FINISHED`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInFinished {
    /// The session.
    pub id: String,
    /// Why it did not work, if it did not.
    pub error: Option<ErrorPayload>,
}

/// How long a sign-in in the system browser may take before the app stops listening.
pub const BROWSER_SIGN_IN_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Which provider window belongs to which session.
#[derive(Default)]
pub struct ProviderWindows {
    next: AtomicU64,
    /// Session -> (attempt number, window label) of its sign-in window.
    sign_ins: Mutex<HashMap<String, (u64, String)>>,
    /// Session -> (attempt number, cancel) of its sign-in in the system browser.
    browser_sign_ins: Mutex<HashMap<String, (u64, CancellationToken)>>,
}

enum Signal {
    Redirect(Url),
    /// The window refused the provider's certificate and the core did not vouch for it.
    Rejected(session_core::Error),
    Closed,
}

impl ProviderWindows {
    fn claim(&self, session: &str) -> (u64, String, Option<String>) {
        let attempt = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let label = format!("sign-in-{attempt}");
        let previous = self
            .sign_ins
            .lock()
            .expect("window table poisoned")
            .insert(session.to_owned(), (attempt, label.clone()))
            .map(|(_, label)| label);
        (attempt, label, previous)
    }

    /// Whether `attempt` is still the session's sign-in, and if so forgets it.
    fn finish(&self, session: &str, attempt: u64) -> bool {
        let mut table = self.sign_ins.lock().expect("window table poisoned");
        if table.get(session).is_some_and(|(current, _)| *current == attempt) {
            table.remove(session);
            true
        } else {
            false
        }
    }

    /// The sign-in window of `session`, if one is open.
    pub fn sign_in_label(&self, session: &str) -> Option<String> {
        self.sign_ins.lock().expect("window table poisoned").get(session).map(|(_, label)| label.clone())
    }
}

/// Opens the sign-in window for `id` on the provider's login page. Returns once the window is open;
/// the outcome arrives as a [`SIGN_IN_FINISHED`] event and as session changes. A sign-in already open
/// for the same session is replaced (at most one attempt per session).
pub async fn start_sign_in(app: &AppHandle, id: &str) -> Result<()> {
    let shell = app.session_keeper();
    let config = shell.manager.provider_config(id).await?;
    if config.sign_in_with == SignInWith::SystemBrowser {
        start_browser_sign_in(app, id);
        return Ok(());
    }
    let (attempt, label, previous) = shell.windows.claim(id);
    if let Some(previous) = previous.and_then(|label| app.get_webview_window(&label)) {
        let _ = previous.destroy();
    }
    let url = match shell.manager.begin_sign_in(id).await {
        Ok(url) => url,
        Err(err) => {
            shell.windows.finish(id, attempt);
            return Err(err.into());
        }
    };
    let (signals, mut received) = mpsc::unbounded_channel();
    let refusal = tls::Refusal::Report(Box::new({
        let signals = signals.clone();
        move |err| {
            let _ = signals.send(Signal::Rejected(err));
        }
    }));
    let ca_pem = config.ca_certificates.clone();
    let web_data = shell.web_data_dir(&config);
    let window = match provider_window(app, &label, url, &format!("Sign in to {}", config.display_name), (ca_pem, refusal, web_data), {
        let signals = signals.clone();
        move |navigation: &Url| {
            if config.is_redirect(navigation) {
                let _ = signals.send(Signal::Redirect(navigation.clone()));
                false
            } else {
                true
            }
        }
    }) {
        Ok(window) => window,
        Err(err) => {
            shell.windows.finish(id, attempt);
            let _ = shell.manager.cancel_sign_in(id).await;
            return Err(err);
        }
    };
    window.on_window_event(move |event| {
        if matches!(event, WindowEvent::Destroyed) {
            let _ = signals.send(Signal::Closed);
        }
    });

    let app = app.clone();
    let id = id.to_owned();
    tauri::async_runtime::spawn(async move {
        let shell = app.session_keeper();
        let outcome = match received.recv().await {
            Some(Signal::Redirect(redirect)) => Some(shell.manager.complete_sign_in(&id, &redirect).await),
            Some(Signal::Rejected(err)) => Some(Err(err)),
            Some(Signal::Closed) | None => None,
        };
        if !shell.windows.finish(&id, attempt) {
            // Replaced by a newer attempt, which owns the session's sign-in now.
            return;
        }
        if let Some(window) = app.get_webview_window(&label) {
            let _ = window.destroy();
        }
        let error = match outcome {
            Some(Ok(_)) => None,
            Some(Err(err)) => {
                // A refused redirect leaves the core's attempt waiting; the window is gone, so end it.
                let _ = shell.manager.cancel_sign_in(&id).await;
                Some(Error::from(err))
            }
            None => {
                let _ = shell.manager.cancel_sign_in(&id).await;
                Some(Error::SignInCancelled)
            }
        };
        let _ = app.emit(SIGN_IN_FINISHED, SignInFinished { id, error: error.as_ref().map(ErrorPayload::from) });
    });
    Ok(())
}

/// Signs in through the system browser (RFC 8252): the core listens on a loopback port and the
/// user's default browser opens the provider's page. Returns at once; the outcome arrives as a
/// [`SIGN_IN_FINISHED`] event. A newer attempt for the same session cancels this one.
fn start_browser_sign_in(app: &AppHandle, id: &str) {
    let shell = app.session_keeper();
    let attempt = shell.windows.next.fetch_add(1, Ordering::Relaxed) + 1;
    let cancel = CancellationToken::new();
    let previous = shell.windows.browser_sign_ins.lock().expect("window table poisoned").insert(id.to_owned(), (attempt, cancel.clone()));
    if let Some((_, previous)) = previous {
        previous.cancel();
    }
    let app = app.clone();
    let id = id.to_owned();
    tauri::async_runtime::spawn(async move {
        let shell = app.session_keeper();
        let open = |url: &Url| tauri_plugin_opener::open_url(url.as_str(), None::<&str>).map_err(|err| err.to_string());
        let outcome = shell.manager.sign_in_with_browser(&id, open, BROWSER_SIGN_IN_TIMEOUT, cancel).await;
        {
            let mut table = shell.windows.browser_sign_ins.lock().expect("window table poisoned");
            if table.get(&id).is_some_and(|(current, _)| *current == attempt) {
                table.remove(&id);
            } else {
                // Replaced by a newer attempt, which reports for the session.
                return;
            }
        }
        let error = outcome.err().map(Error::from);
        if let Some(error) = &error {
            tracing::info!(session = %id, kind = %error.kind(), "browser sign-in ended without signing in");
        }
        let _ = app.emit(SIGN_IN_FINISHED, SignInFinished { id, error: error.as_ref().map(ErrorPayload::from) });
    });
}

/// Closes the sign-in window of `id` (or stops waiting for the system browser), which ends the
/// attempt (reported as cancelled).
pub fn cancel_sign_in(app: &AppHandle, id: &str) -> Result<()> {
    let shell = app.session_keeper();
    if let Some((_, cancel)) = shell.windows.browser_sign_ins.lock().expect("window table poisoned").get(id) {
        cancel.cancel();
    }
    if let Some(window) = shell.windows.sign_in_label(id).and_then(|label| app.get_webview_window(&label)) {
        window.destroy()?;
    }
    Ok(())
}

/// Opens the provider's end-session page so that its own session (its cookie in the sign-in web data)
/// ends too. The window closes itself when the provider redirects to the post-logout URI; without one,
/// the provider shows its own "signed out" page and the user closes the window. Once the window is
/// gone, the origin's cookies are cleared (unless another session there is signed in), so that no
/// silent sign-in signs the person back in.
pub fn visit_end_session(app: &AppHandle, config: ProviderConfig, url: EndSessionUrl) -> Result<()> {
    let shell = app.session_keeper();
    let label = format!("sign-out-{}", shell.windows.next.fetch_add(1, Ordering::Relaxed) + 1);
    let (signals, mut received) = mpsc::unbounded_channel();
    let title = format!("Signing out of {}", config.display_name);
    let trust = (config.ca_certificates.clone(), tls::Refusal::ShowInWindow, shell.web_data_dir(&config));
    let provider = config.clone();
    let window = provider_window(app, &label, url.expose().clone(), &title, trust, {
        let signals = signals.clone();
        move |navigation: &Url| {
            if config.is_post_logout_redirect(navigation) {
                let _ = signals.send(());
                false
            } else {
                true
            }
        }
    })?;
    window.on_window_event(move |event| {
        if matches!(event, WindowEvent::Destroyed) {
            let _ = signals.send(());
        }
    });
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        // The post-logout redirect, or the window closed by the person.
        let _ = received.recv().await;
        if let Some(window) = app.get_webview_window(&label) {
            let _ = window.destroy();
        }
        cookies::after_sign_out(&app, &provider).await;
    });
    Ok(())
}

/// A provider window on `url`; `trust` is the provider's own CA certificates, what a refused
/// certificate does (see [`tls`]), and the web data folder of the provider's origin.
fn provider_window(
    app: &AppHandle,
    label: &str,
    url: Url,
    title: &str,
    trust: (Option<String>, tls::Refusal, std::path::PathBuf),
    on_navigation: impl Fn(&Url) -> bool + Send + 'static,
) -> Result<tauri::WebviewWindow> {
    let shell = app.session_keeper();
    let ephemeral = shell.ephemeral_sign_in();
    let blank = Url::parse("about:blank").expect("a valid URL");
    let mut builder = WebviewWindowBuilder::new(app, label, WebviewUrl::External(blank))
        .title(title)
        .inner_size(520.0, 720.0)
        .center()
        .focused(true)
        .on_navigation(on_navigation);
    builder = if ephemeral {
        builder.incognito(true)
    } else if under_webdriver() {
        // WebKitGTK lets WebDriver drive one web context only, the first one (the dashboard's).
        // Under tauri-driver the provider window therefore shares it, or tests could not reach it.
        builder
    } else {
        builder.data_directory(trust.2.clone())
    };
    let window = builder.build()?;
    let (ca_pem, refusal, _) = trust;
    if let Err(err) = tls::guard_then_load(&window, url, ca_pem, refusal) {
        let _ = window.destroy();
        return Err(err.into());
    }
    Ok(window)
}

/// Whether the app runs under WebDriver (tauri-driver sets this for the app it starts).
pub(crate) fn under_webdriver() -> bool {
    std::env::var("TAURI_WEBVIEW_AUTOMATION").as_deref() == Ok("true")
}

/// Whether `label` is one of the provider windows (sign-in, end-session visit, silent sign-in), whose
/// focus is not the app's.
pub(crate) fn is_provider_window(label: &str) -> bool {
    ["sign-in-", "sign-out-", "silent-"].iter().any(|prefix| label.starts_with(prefix))
}
