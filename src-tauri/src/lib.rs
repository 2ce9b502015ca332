//! Session Keeper's desktop shell: a thin Tauri layer over `session-core`.
//!
//! Data flows one way: a trigger (timer, window focus, a click, a notification action) reaches the
//! core, the core decides and acts, and every change comes back as one `session-keeper://changed`
//! event (the session plugin's) that the page renders. The session plugin
//! (`tauri-plugin-session-keeper`) owns the sessions' windows, commands and events; the shell owns
//! this app's own: tray, notifications' words, settings, the broker; it never sees a token.

mod api;
mod broker;
mod commands;
mod dbus;
mod error;
pub mod helper;
mod logs;
mod network;
mod notices;
mod settings;
mod shell;
mod sleep;
mod tray;
mod vaults;

use session_core::SessionEvent;
use tauri::{AppHandle, Manager, RunEvent, WindowEvent};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_session_keeper::SessionKeeperExt;
use tokio::sync::broadcast::error::RecvError;

pub use error::{Error, Result};
pub use settings::Settings;
pub(crate) use shell::Shell;

/// The keychain service under which every token is stored.
pub const KEYCHAIN_SERVICE: &str = "session-keeper";
/// Set by `scripts/run.sh`: the issuer of the bundled demo provider, added when no session exists.
pub const DEMO_ISSUER_ENV: &str = "SESSION_KEEPER_DEMO_ISSUER";
/// The argument the login autostart entry passes: start in the tray, without the window.
pub const BACKGROUND_ARG: &str = "--background";

/// Turns the notable core events into desktop notifications and keeps the tray and the vault line
/// current (the session plugin forwards the events themselves to the page).
async fn forward_events(app: AppHandle) {
    let shell = app.state::<Shell>();
    let mut events = shell.manager.subscribe();
    if let Ok(sessions) = shell.manager.snapshots().await {
        shell.notices.lock().expect("notice book poisoned").seed(&sessions);
    }
    loop {
        match events.recv().await {
            Ok(event) => {
                match &event {
                    SessionEvent::Changed { session } => {
                        tracing::info!(session = %session.id, phase = ?session.phase, error = ?session.last_error.as_ref().map(|e| e.kind), "session changed");
                        let due = shell.notices.lock().expect("notice book poisoned").observe(session);
                        for notice in due {
                            notify(&app, notice);
                        }
                    }
                    SessionEvent::Removed { id } => shell.notices.lock().expect("notice book poisoned").forget(id),
                    _ => {}
                }
                if let Ok(sessions) = shell.manager.snapshots().await {
                    tray::update(&app, &sessions);
                    // Which sessions' tokens only memory holds, and where the rest are, follow the sessions.
                    vaults::tell(&app, &sessions, None);
                }
            }
            // Too slow to keep up: the next event brings the tray up to date.
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => break,
        }
    }
}

fn notify(app: &AppHandle, notice: notices::Notice) {
    let shell = app.state::<Shell>();
    if !shell.settings().notifies(notice.session()) {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let id = notice.session().to_owned();
        let on_sign_in = {
            let app = app.clone();
            let id = id.clone();
            move || sign_in_from_notification(app, id)
        };
        if let Err(problem) = notices::send(notice, on_sign_in).await {
            tracing::warn!(session = %id, %problem, "desktop notification not shown");
        }
    });
}

/// Brings the dashboard forward (from the tray, a notification or a second launch).
pub fn show_main_window(app: &AppHandle) {
    if let Some(main) = app.get_webview_window("main") {
        let _ = main.unminimize();
        let _ = main.show();
        let _ = main.set_focus();
    }
}

/// Runs `action` for every signed-in session at once, logging what failed (the cards show it too).
pub async fn for_each_signed_in<F, Fut>(app: &AppHandle, what: &str, action: F)
where
    F: Fn(AppHandle, String) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let Ok(sessions) = app.state::<Shell>().manager.snapshots().await else { return };
    let results = futures_util::future::join_all(tray::signed_in(&sessions).map(|id| {
        let run = action(app.clone(), id.clone());
        async move { (id, run.await) }
    }))
    .await;
    for (id, result) in results {
        if let Err(err) = result {
            tracing::warn!(session = %id, error = %err, "{what} from the tray failed");
        }
    }
}

/// "Sign in again" on a notification (or a program's D-Bus `SignIn()`): bring the dashboard forward
/// and open the sign-in window.
pub(crate) fn sign_in_from_notification(app: AppHandle, id: String) {
    show_main_window(&app);
    app.session_keeper().start_sign_in(&id);
}

/// Holds the log writer's guard, so the last lines reach the file at exit.
struct LogGuard(#[allow(dead_code)] Option<tracing_appender::non_blocking::WorkerGuard>);

/// Starts the app.
pub fn run() {
    let app = tauri::Builder::default()
        // First, so that a second launch hands over before anything else starts: it would otherwise
        // refresh the same rotating refresh tokens as this one.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            tracing::info!("second launch: showing the running app");
            show_main_window(app);
        }))
        .plugin(tauri_plugin_autostart::Builder::new().args([BACKGROUND_ARG]).build())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_store::Builder::default().build())
        .setup(|app| {
            let handle = app.handle().clone();
            let guard = app.path().app_log_dir().ok().and_then(|dir| logs::init(&dir));
            app.manage(LogGuard(guard));
            tracing::info!(version = env!("CARGO_PKG_VERSION"), "Session Keeper starting");
            if let Some(main) = app.get_webview_window("main") {
                software_rendering(&main);
            }
            let opened = tauri::async_runtime::block_on(shell::open(&handle))?;
            handle.plugin(shell::session_plugin(&opened))?;
            let shell = tauri::async_runtime::block_on(shell::start(&handle, opened))?;
            let sessions = tauri::async_runtime::block_on(shell.manager.snapshots()).unwrap_or_default();
            let background = shell.background;
            app.manage(shell);
            if let Err(err) = tray::create(&handle, &sessions) {
                // No tray on this desktop: closing the window will still only hide it, and a second
                // launch brings it back.
                tracing::warn!(error = %err, "no tray icon");
            }
            tauri::async_runtime::spawn(forward_events(handle.clone()));
            tauri::async_runtime::spawn(tick_tray(handle.clone()));
            tauri::async_runtime::spawn(quit_on_signals(handle.clone()));
            let helper_app = handle.clone();
            tauri::async_runtime::spawn(async move {
                if let Err(err) = helper::serve(helper_app, helper::socket_path()).await {
                    tracing::warn!(error = %err, "token helper not available");
                }
            });
            tauri::async_runtime::spawn(dbus::serve(handle.clone()));
            tauri::async_runtime::spawn(sleep::watch_system(handle.state::<Shell>().manager.clone()));
            tauri::async_runtime::spawn(network::watch_system(handle.state::<Shell>().manager.clone()));
            tauri::async_runtime::spawn(vaults::watch(handle.clone()));
            if !background {
                // The page shows the window once it has painted; if it never says so, show it
                // anyway rather than leave an invisible app.
                tauri::async_runtime::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    if let Some(main) = handle.get_webview_window("main")
                        && !main.is_visible().unwrap_or(true)
                    {
                        let _ = main.show();
                    }
                });
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            if window.label() != "main" {
                return;
            }
            // Closing hides to the tray: sessions go on being refreshed and watched. Quit is in the
            // tray menu. (The focus trigger is the session plugin's.)
            if let WindowEvent::CloseRequested { api, .. } = event {
                api.prevent_close();
                let _ = window.hide();
                tracing::info!("window closed to the tray");
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::get_app_state,
            commands::window_ready,
            commands::add_provider,
            commands::remove_session,
            commands::save_settings,
            commands::set_session_notifications,
            commands::set_launch_at_login,
            commands::answer_consent,
            commands::forget_program,
            commands::set_git_hosts,
            commands::unlock_vault,
            commands::change_passphrase,
            commands::quit,
        ])
        .build(tauri::generate_context!("../tauri.conf.json"))
        .expect("Session Keeper could not start its window system");
    app.run(|_app, event| {
        // The session plugin lets the core finish what is in flight and save at the same event.
        if let RunEvent::Exit = event {
            tracing::info!("Session Keeper quitting");
            let _ = std::fs::remove_file(helper::socket_path());
        }
    });
}

/// The dashboard is text that changes once a second at most: WebKitGTK's GPU compositing buys it
/// nothing and costs, on a machine without a GPU (a VM, Xvfb: Mesa's llvmpipe), 3.4 % of a core and
/// 56 MiB for one session, against 0.6 % and 29 MiB painted in software (`tests/bench/idle.rs`).
fn software_rendering(window: &tauri::WebviewWindow) {
    #[cfg(target_os = "linux")]
    let _ = window.with_webview(|webview| {
        use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
        if let Some(settings) = webview.inner().settings() {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    });
    #[cfg(not(target_os = "linux"))]
    let _ = window;
}

/// A log-out, a shutdown or an update sends SIGTERM (Ctrl+C in a terminal SIGINT, a closed terminal
/// SIGHUP). Their default is to end the process at once, which would cut off a refresh between the
/// provider's rotation of the refresh token and the keychain write; instead the app quits as the
/// tray's Quit does, and `RunEvent::Exit` lets the core finish the work in flight (bounded) and save.
async fn quit_on_signals(app: AppHandle) {
    use tokio::signal::unix::{SignalKind, signal};
    // A log-out ends the session bus, sometimes before any signal comes: that is a quit too.
    let (Ok(mut term), Ok(mut interrupt), Ok(mut hangup)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
    else {
        tracing::warn!("cannot listen for SIGTERM: a log-out may cut off a refresh in flight");
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
        _ = hangup.recv() => "SIGHUP",
        () = sleep::session_bus_gone() => "the session bus went away",
    };
    tracing::info!(signal = name, "quitting on a signal");
    app.exit(0);
}

/// Keeps the times in the tray menu current.
async fn tick_tray(app: AppHandle) {
    let mut ticks = tokio::time::interval(tray::TICK);
    loop {
        ticks.tick().await;
        if let Ok(sessions) = app.state::<Shell>().manager.snapshots().await {
            tray::update(&app, &sessions);
        }
    }
}

/// Whether the app starts at login (the autostart entry exists).
fn launch_at_login(app: &AppHandle) -> bool {
    app.autolaunch().is_enabled().unwrap_or(false)
}

/// Turns starting at login on or off (an entry in the desktop's autostart folder that starts the app
/// in the tray). Returns the state now in force.
fn set_launch_at_login(app: &AppHandle, enabled: bool) -> Result<bool> {
    if enabled == launch_at_login(app) {
        return Ok(enabled);
    }
    let autolaunch = app.autolaunch();
    let changed = if enabled { autolaunch.enable() } else { autolaunch.disable() };
    changed.map_err(|err| Error::Autostart(session_core::Cause(err.to_string())))?;
    let now = launch_at_login(app);
    tracing::info!(enabled = now, "start at login changed");
    Ok(now)
}
