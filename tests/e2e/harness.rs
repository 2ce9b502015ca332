//! Drives the real app binary over WebDriver: tauri-driver in front of Debian's WebKitWebDriver, one
//! private data folder per test, the desktop (Xvfb, D-Bus, gnome-keyring, dunst) from
//! `scripts/desktop-session.sh --display`. Waits poll a condition with a deadline; nothing sleeps in
//! place of a condition.

#![allow(dead_code)]

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::WindowHandle;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

/// How long any single condition may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The app binary under test: `SESSION_KEEPER_APP`, or the workspace's debug build.
pub fn app_binary() -> PathBuf {
    let path = std::env::var_os("SESSION_KEEPER_APP")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/session-keeper"));
    assert!(path.exists(), "the app is not built at {}: run scripts/test.sh (or `cargo build -p session-keeper` first)", path.display());
    path
}

/// One of the app's command-line clients (`session-keeper-token`, `git-credential-session-keeper`),
/// built beside the app binary.
pub fn client_binary(name: &str) -> PathBuf {
    let path = app_binary().with_file_name(name);
    assert!(path.exists(), "{} is not built: cargo build -p session-keeper-cli", path.display());
    path
}

/// Where screenshots go (kept by CI as artifacts).
pub fn artifacts() -> PathBuf {
    let dir = std::env::var_os("SESSION_KEEPER_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts/screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The environment that gives the app a private home: XDG folders, `HOME` (the autostart entry goes
/// to `$HOME/.config/autostart`) and a runtime folder (the token helper's socket); and no system bus,
/// so that the machine's own NetworkManager (a developer's laptop offline) never decides a test (the
/// offline test gives the app its NetworkManager stand-in's bus instead).
fn app_env(home: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("DBUS_SYSTEM_BUS_ADDRESS", PathBuf::from("unix:path=/nonexistent/session-keeper-e2e-system-bus")),
        ("HOME", home.to_owned()),
        ("XDG_DATA_HOME", home.join("data")),
        ("XDG_CONFIG_HOME", home.join("config")),
        ("XDG_CACHE_HOME", home.join("cache")),
        ("XDG_RUNTIME_DIR", home.join("run")),
    ]
}

/// The window's smallest size (`minWidth` and `minHeight` in tauri.conf.json).
pub const MIN_WINDOW: (u64, u64) = (420, 360);

/// The D-Bus name a running app holds (tauri-plugin-single-instance).
pub const SINGLE_INSTANCE_NAME: &str = "dev.sessionkeeper.desktop.SingleInstance";

/// The session bus a test gave the app (`DBUS_SESSION_BUS_ADDRESS` in [`Driver::start`]'s env), where
/// the harness's own D-Bus looks (the running app, its process, its tray menu) go too; else the
/// desktop session's.
static APP_BUS: Mutex<Option<String>> = Mutex::new(None);

/// How `dbus-send` and `gdbus` name the app's session bus: `--session`, or the test's own bus.
fn bus_args(tool: &str) -> Vec<String> {
    match (APP_BUS.lock().unwrap().clone(), tool) {
        (None, _) => vec!["--session".into()],
        (Some(address), "gdbus") => vec!["--address".into(), address],
        (Some(address), _) => vec![format!("--bus={address}")],
    }
}

/// Whether an app holds the single-instance name on the session bus right now.
pub fn app_running() -> bool {
    let out = Command::new("dbus-send")
        .args(bus_args("dbus-send"))
        .args(["--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner"])
        .arg(format!("string:{SINGLE_INSTANCE_NAME}"))
        .output()
        .expect("dbus-send (package dbus) is needed");
    String::from_utf8_lossy(&out.stdout).contains("boolean true")
}

/// Where any of `secrets` occurs: every file under `root` (read whole, as UTF-8 and as UTF-16, which
/// the webview's storage uses) and `printed`. Returns the places with the number of the secret
/// found, never the secret.
pub fn find_secrets(root: &Path, printed: &str, secrets: &[String]) -> Vec<(String, usize)> {
    let needles: Vec<(usize, Vec<u8>)> = secrets
        .iter()
        .enumerate()
        .flat_map(|(index, secret)| {
            let utf16: Vec<u8> = secret.encode_utf16().flat_map(u16::to_le_bytes).collect();
            [(index, secret.as_bytes().to_vec()), (index, utf16)]
        })
        .collect();
    let mut hits = Vec::new();
    let mut check = |place: String, bytes: &[u8]| {
        if let Some((index, _)) = needles.iter().find(|(_, needle)| bytes.windows(needle.len()).any(|window| window == needle.as_slice())) {
            hits.push((place, *index));
        }
    };
    check("what the app printed".into(), printed.as_bytes());
    let mut folders = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => folders.push(path),
                Ok(kind) if kind.is_file() => {
                    if let Ok(bytes) = std::fs::read(&path) {
                        check(path.display().to_string(), &bytes);
                    }
                }
                _ => {}
            }
        }
    }
    hits
}

/// The process id of the running app (the owner of the single-instance name on the session bus).
pub fn app_pid() -> u32 {
    let out = Command::new("dbus-send")
        .args(bus_args("dbus-send"))
        .args(["--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.GetConnectionUnixProcessID"])
        .arg(format!("string:{SINGLE_INSTANCE_NAME}"))
        .output()
        .expect("dbus-send (package dbus) is needed");
    let reply = String::from_utf8_lossy(&out.stdout);
    reply
        .split_whitespace()
        .skip_while(|w| *w != "uint32")
        .nth(1)
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no app running: {reply}"))
}

/// Waits until no app holds the single-instance name, so that the next launch is not taken for a
/// second instance of the one that is ending.
pub fn wait_app_gone() {
    let deadline = Instant::now() + PATIENCE;
    while app_running() {
        assert!(Instant::now() < deadline, "the previous app did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One tauri-driver with its own app data folder; each [`Driver::launch`] starts the app afresh on
/// that same data, so a relaunch is a restart.
pub struct Driver {
    child: Child,
    port: u16,
    /// The app's private home for this test (XDG data, config and cache).
    pub home: PathBuf,
    log: Arc<Mutex<String>>,
}

impl Driver {
    /// Starts tauri-driver; `env` goes to the app (the demo issuer, say).
    pub fn start(test: &str, env: &[(&str, &str)]) -> Driver {
        assert!(std::env::var_os("DISPLAY").is_some(), "no display: run through scripts/test.sh (Xvfb, D-Bus, keyring, dunst)");
        *APP_BUS.lock().unwrap() =
            env.iter().find(|(name, _)| *name == "DBUS_SESSION_BUS_ADDRESS").map(|(_, address)| (*address).to_owned());
        let home = std::env::temp_dir().join(format!("session-keeper-e2e-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        let port = free_port();
        let native_port = free_port();
        std::fs::DirBuilder::new().mode(0o700).create(home.join("run")).unwrap();
        let mut child = Command::new("tauri-driver")
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .envs(app_env(&home))
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that WebKitWebDriver (its child) ends with it.
            .process_group(0)
            .spawn()
            .expect("tauri-driver is not installed: scripts/setup.sh installs it");
        let log = Arc::new(Mutex::new(String::new()));
        for stream in [Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>, Box::new(child.stderr.take().unwrap())] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        // tauri-driver listens at once but starts WebKitWebDriver behind it; a session request that
        // arrives before that one listens fails, so wait for both.
        let deadline = Instant::now() + PATIENCE;
        for listening in [port, native_port] {
            while std::net::TcpStream::connect(("127.0.0.1", listening)).is_err() {
                assert!(Instant::now() < deadline, "nothing listened on {listening}:\n{}", log.lock().unwrap());
                assert!(child.try_wait().unwrap().is_none(), "tauri-driver exited:\n{}", log.lock().unwrap());
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Driver { child, port, home, log }
    }

    /// Starts the app and opens a WebDriver session on its main window.
    pub async fn launch(&self) -> App {
        wait_app_gone();
        // The page marks itself ready once its first paint is on screen (the window starts hidden).
        let app = self.launch_binary(&app_binary(), "html[data-ready=true]").await;
        app.record_ipc().await;
        app
    }

    /// Starts `application` (this app, or another Tauri app such as examples/hello-sessions) and opens a
    /// WebDriver session on its first window, once `ready` (a CSS selector) is in its page.
    pub async fn launch_binary(&self, application: &Path, ready: &str) -> App {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("wry"));
        capabilities.insert("tauri:options".into(), json!({ "application": application }));
        // A click that sends the sign-in window to the redirect URI starts a navigation that the app
        // stops, and WebKitWebDriver then sometimes waits for that load until the page-load timeout
        // (W3C default 300 s) before answering. Provider pages on loopback load in well under a
        // second, so 10 s still leaves a loaded 2-core machine ample room.
        capabilities.insert("timeouts".into(), json!({ "pageLoad": 10_000 }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = Client::with_capabilities_and_connector(&format!("http://127.0.0.1:{}", self.port), &capabilities, connector)
            .await
            .unwrap_or_else(|err| panic!("no WebDriver session: {err}\n{}", self.log.lock().unwrap()));
        let main = client.window().await.unwrap();
        let app = App { client, main };
        app.find(ready).await;
        app
    }

    /// Runs the app binary itself with this test's environment (`session-keeper token …`, or a second
    /// launch), bounded by [`PATIENCE`]: (exit status, stdout, stderr).
    pub fn run_binary(&self, args: &[&str]) -> (i32, String, String) {
        let mut child =
            Command::new(app_binary()).args(args).envs(app_env(&self.home)).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("session-keeper {args:?} did not end within {PATIENCE:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        (status.code().unwrap_or(-1), out, err)
    }

    /// A command run with this test's environment (the app's private home and runtime folder), as
    /// another program of the user would be.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.envs(app_env(&self.home));
        command
    }

    /// What tauri-driver, WebKitWebDriver and the app printed (the app's stdout and stderr).
    pub fn output(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The app's log folder.
    pub fn logs(&self) -> PathBuf {
        self.app_data().join("logs")
    }

    /// The app's data folder (where Tauri keeps settings.json and sessions.json).
    pub fn app_data(&self) -> PathBuf {
        self.home.join("data/dev.sessionkeeper.desktop")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("--").arg(format!("-{}", self.child.id())).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The app (a grandchild) ends with the group; the next test must not find it still running.
        let deadline = Instant::now() + PATIENCE;
        while group_alive(self.child.id()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// Whether a process of group `pgid` is still running. Zombies do not count: once tauri-driver is
/// gone its children are reaped by whoever adopts them, and that can take a while (or never happen
/// where PID 1 does not reap), although they have long stopped running.
fn group_alive(pgid: u32) -> bool {
    let pgid = pgid.to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return false };
    entries.flatten().any(|entry| {
        // /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { return false };
        let Some((_, rest)) = stat.rsplit_once(") ") else { return false };
        let mut fields = rest.split(' ');
        let state = fields.next();
        let pgrp = fields.nth(1);
        state != Some("Z") && state != Some("X") && pgrp == Some(pgid.as_str())
    })
}

/// The running app, seen through WebDriver.
pub struct App {
    pub client: Client,
    pub main: WindowHandle,
}

/// Polls `check` until it returns `Some`, failing with `what` after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out waiting for {what} (screen: {})", screen_on_failure().display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Saves what the whole screen shows, for a failing test's report.
pub fn screen_on_failure() -> PathBuf {
    let shot = artifacts().join("failure.png");
    let _ = Command::new("import").args(["-window", "root"]).arg(&shot).status();
    shot
}

/// Everything the page received over IPC in this test run (command replies and events), kept by
/// [`App::keep_ipc`] for the secrets scan.
pub static IPC: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The events the page receives: the session plugin's (`app.emit(…)` in `plugin/src`) and the
/// shell's (`emit_to("main", …)` in `src-tauri/src`).
pub const PAGE_EVENTS: &[&str] = &[
    "session-keeper://changed",
    "session-keeper://replaced",
    "session-keeper://sign-in-finished",
    "settings-changed",
    "consent-changed",
    "vault-changed",
    "quit-asked",
];

impl App {
    /// Ends the WebDriver session, which ends the app process; what the page received is kept.
    pub async fn quit(self) {
        self.keep_ipc().await;
        self.client.close().await.unwrap();
    }

    /// From now on, records in the page everything the shell sends it: every command reply or refusal
    /// and every event reach the page through Tauri's table of IPC callbacks
    /// (`__TAURI_INTERNALS__.callbacks`), whose entries, present and future, get a recording wrapper.
    /// The events also get a listener of their own, so that the record names them.
    pub async fn record_ipc(&self) {
        let script = r#"
            const [events, done] = [arguments[0], arguments[arguments.length - 1]];
            if (window.__ipc) return done(true);
            window.__ipc = [];
            const callbacks = window.__TAURI_INTERNALS__.callbacks;
            const recording = (callback) => (data) => {
              window.__ipc.push(`callback: ${JSON.stringify(data)}`);
              return callback(data);
            };
            for (const [id, callback] of callbacks) callbacks.set(id, recording(callback));
            const set = callbacks.set.bind(callbacks);
            callbacks.set = (id, callback) => set(id, recording(callback));
            Promise.all(events.map((name) => window.__TAURI__.event.listen(name, (event) => {
              window.__ipc.push(`event ${name}: ${JSON.stringify(event.payload)}`);
            }))).then(() => done(true), (error) => done(String(error)));
        "#;
        let installed = self.client.execute_async(script, vec![serde_json::json!(PAGE_EVENTS)]).await.unwrap();
        assert_eq!(installed, serde_json::json!(true), "the IPC recorder could not listen: {installed}");
    }

    /// Moves what the page received so far into [`IPC`].
    pub async fn keep_ipc(&self) {
        let taken = self.client.execute("const taken = window.__ipc || []; window.__ipc = []; return taken", vec![]).await;
        if let Ok(serde_json::Value::Array(items)) = taken {
            IPC.lock().unwrap().extend(items.into_iter().filter_map(|item| item.as_str().map(str::to_owned)));
        }
    }

    /// Waits until an element's attribute passes `test`, and returns it.
    pub async fn wait_text_attr(&self, css: &str, name: &str, test: impl Fn(&str) -> bool) -> String {
        eventually(&format!("{css} [{name}] as expected"), || async {
            let value = self.attr(css, name).await?;
            test(&value).then_some(value)
        })
        .await
    }

    /// Waits for an element to exist.
    pub async fn find(&self, css: &str) -> Element {
        eventually(&format!("element {css}"), || async { self.client.find(Locator::Css(css)).await.ok() }).await
    }

    /// Waits for a visible element and clicks it.
    pub async fn click(&self, css: &str) {
        let element = eventually(&format!("visible {css}"), || async {
            let element = self.client.find(Locator::Css(css)).await.ok()?;
            element.is_displayed().await.ok()?.then_some(element)
        })
        .await;
        // As a person scrolls what they want to click to the middle: WebDriver scrolls it only just
        // into view, where a dialog's sticky footer can cover it.
        let _ =
            self.client.execute("arguments[0].scrollIntoView({ block: 'center' })", vec![serde_json::to_value(&element).unwrap()]).await;
        if let Err(err) = element.click().await {
            panic!("click {css}: {err:?} (screen: {})", screen_on_failure().display());
        }
    }

    /// Clicks something that sends the provider window to the redirect URI, whose navigation the app
    /// stops before closing the window. WebDriver may then wait for a page load that never comes and
    /// answer Timeout; the click has happened, and the callers check its outcome.
    pub async fn click_leaving(&self, css: &str) {
        let element = self.find(css).await;
        match element.click().await {
            Ok(())
            | Err(fantoccini::error::CmdError::Standard(fantoccini::error::WebDriver {
                error: fantoccini::error::ErrorStatus::Timeout,
                ..
            })) => {}
            Err(err) => panic!("click {css}: {err:?} (screen: {})", screen_on_failure().display()),
        }
    }

    /// Waits for an input, empties it and types `text`, until the input holds exactly `text` (a page
    /// still loading may move the focus, and the keys, elsewhere mid-word).
    pub async fn type_into(&self, css: &str, text: &str) {
        eventually(&format!("{css} to hold {text:?}"), || async {
            let element = self.client.find(Locator::Css(css)).await.ok()?;
            // As a person scrolls a field into sight before typing (a long dialog scrolls inside).
            let _ =
                self.client.execute("arguments[0].scrollIntoView({ block: 'center' })", vec![serde_json::to_value(&element).ok()?]).await;
            element.clear().await.ok()?;
            element.send_keys(text).await.ok()?;
            (element.prop("value").await.ok()?.as_deref() == Some(text)).then_some(())
        })
        .await;
    }

    /// Chooses `file` in the file field `css`, as the file chooser would (WebDriver types the path
    /// into an `<input type=file>`), and waits until the field holds it.
    pub async fn choose_file(&self, css: &str, file: &Path) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        eventually(&format!("{css} to hold {name}"), || async {
            let element = self.client.find(Locator::Css(css)).await.ok()?;
            let _ =
                self.client.execute("arguments[0].scrollIntoView({ block: 'center' })", vec![serde_json::to_value(&element).ok()?]).await;
            element.send_keys(&file.display().to_string()).await.ok()?;
            let chosen =
                self.client.execute("return arguments[0].files[0]?.name ?? ''", vec![serde_json::to_value(&element).ok()?]).await.ok()?;
            (chosen.as_str() == Some(name.as_str())).then_some(())
        })
        .await;
    }

    /// Waits until no dialog is open on the dashboard.
    pub async fn wait_dialogs_closed(&self) {
        eventually("the dialog to close", || async {
            let open = self.client.execute("return document.querySelectorAll('dialog[open]').length", vec![]).await.ok()?;
            (open == serde_json::json!(0)).then_some(())
        })
        .await;
    }

    /// Waits until the current page has finished loading (its autofocus has run).
    pub async fn wait_loaded(&self) {
        eventually("the page to finish loading", || async {
            let state = self.client.execute("return document.readyState", vec![]).await.ok()?;
            (state == serde_json::json!("complete")).then_some(())
        })
        .await;
    }

    /// The text of an element now ("" if absent).
    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until the element's text satisfies `test`, and returns it.
    pub async fn wait_text(&self, css: &str, what: &str, test: impl Fn(&str) -> bool) -> String {
        eventually(&format!("{css} to show {what}"), || async {
            let text = self.text(css).await;
            test(&text).then_some(text)
        })
        .await
    }

    /// An attribute of an element now.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.client.find(Locator::Css(css)).await.ok()?.attr(name).await.ok()?
    }

    /// The session card's badge text.
    pub async fn badge(&self, session: &str) -> String {
        self.text(&card(session, ".badge")).await
    }

    /// Waits for the session's badge to read `expected`.
    pub async fn wait_badge(&self, session: &str, expected: &str) {
        self.wait_text(&card(session, ".badge"), expected, |text| text == expected).await;
    }

    /// Waits for a window other than the known ones to open, and switches to it.
    pub async fn switch_to_new_window(&self, known: &[WindowHandle]) -> WindowHandle {
        let handle = eventually("a new window", || async {
            let handles = self.client.windows().await.ok()?;
            handles.into_iter().find(|h| !known.contains(h))
        })
        .await;
        self.client.switch_to_window(handle.clone()).await.unwrap();
        handle
    }

    /// Waits for `window` to close, then switches back to the main window.
    pub async fn wait_closed(&self, window: &WindowHandle) {
        eventually("the window to close", || async {
            let handles = self.client.windows().await.ok()?;
            (!handles.contains(window)).then_some(())
        })
        .await;
        self.client.switch_to_window(self.main.clone()).await.unwrap();
    }

    /// All window handles now.
    pub async fn windows(&self) -> Vec<WindowHandle> {
        self.client.windows().await.unwrap()
    }

    /// Runs an async script in the current window; the script calls `done(value)`.
    pub async fn run_async(&self, body: &str) -> Value {
        let script = format!("const done = arguments[arguments.length - 1]; {body}");
        self.client.execute_async(&script, vec![]).await.unwrap()
    }

    /// Saves a screenshot of the current window as an artifact, as the X server shows it: the
    /// app's web views paint in software (`software_rendering` in the shell), where WebKitWebDriver's
    /// own screenshot never answers.
    pub async fn screenshot(&self, name: &str) {
        let (x, y, width, height) = self.client.get_window_rect().await.unwrap();
        let file = artifacts().join(format!("{name}.png"));
        let status = Command::new("import")
            .args(["-window", "root", "-crop", &format!("{width}x{height}+{x}+{y}"), "+repage"])
            .arg(&file)
            .status()
            .expect("ImageMagick's import (scripts/setup.sh installs it)");
        assert!(status.success(), "no screenshot {name}");
    }

    /// Checks the page as it is now with axe-core (WCAG 2.2 A and AA rules and axe's best practices)
    /// inside the real app window, and saves screenshots at the default and at the smallest window
    /// size. `state` names the artifacts (`a11y-<state>.json` holds what axe looked at). Panics with
    /// every violation, its rule, impact and elements.
    pub async fn check_state(&self, state: &str) {
        self.inject_axe().await;
        let dark = self.run_async("done(matchMedia('(prefers-color-scheme: dark)').matches)").await.as_bool().unwrap();
        let scheme = if dark { "dark" } else { "light" };
        let mut report = serde_json::Map::new();
        let original = self.client.get_window_size().await.unwrap();
        for (size, (width, height)) in [("default", original), ("smallest", MIN_WINDOW)] {
            self.client.set_window_size(width as u32, height as u32).await.unwrap();
            // The page has laid out at the new size when its width says so.
            eventually("the page to take the new window size", || async {
                let inner = self.run_async("done(window.innerWidth)").await.as_u64()?;
                (inner.abs_diff(width) <= 40).then_some(())
            })
            .await;
            let result = self
                .run_async(
                    "axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] }, resultTypes: ['violations'] })\
                       .then((r) => done({ violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ') + ' :: ' + n.failureSummary) })), passes: r.passes.length }), (e) => done({ error: String(e) }));",
                )
                .await;
            assert!(result.get("error").is_none(), "axe did not run: {result}");
            let violations = result["violations"].as_array().unwrap();
            assert!(
                violations.is_empty(),
                "accessibility violations in state {state} ({scheme}, {size} window):\n{}",
                serde_json::to_string_pretty(violations).unwrap()
            );
            report.insert(size.into(), result);
            self.screenshot(&format!("{state}-{scheme}-{size}")).await;
        }
        self.client.set_window_size(original.0 as u32, original.1 as u32).await.unwrap();
        std::fs::write(artifacts().join(format!("a11y-{state}-{scheme}.json")), serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    }

    async fn inject_axe(&self) {
        let present = self.run_async("done(typeof window.axe === 'object')").await.as_bool().unwrap();
        if !present {
            let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/node_modules/axe-core/axe.min.js"))
                .expect("axe-core is not installed: scripts/setup.sh runs npm ci in tests/ui");
            self.client.execute(&source, vec![]).await.unwrap();
        }
    }

    /// Signs `user` in to `session` as a person does: Sign in on its card, the provider's login and
    /// consent in the window that opens, and that window closing on the redirect.
    pub async fn sign_in_through_window(&self, session: &str, user: &str) {
        let known = self.windows().await;
        self.click(&card(session, "[data-action=sign-in]")).await;
        let window = self.switch_to_new_window(&known).await;
        self.provider_login(user).await;
        self.wait_closed(&window).await;
    }

    /// Signs `user` in through the provider's pages in the sign-in window, which is current.
    pub async fn provider_login(&self, user: &str) {
        self.find("input[name=login]").await;
        self.wait_loaded().await;
        // Fill both fields until both hold what was typed: focus can still move between them while
        // the window settles, and keys for one field then land in the other.
        eventually("the login form to hold the user and password", || async {
            let mut filled = Vec::new();
            for (name, text) in [("login", user), ("password", "correct horse")] {
                let field = self.client.find(Locator::Css(&format!("input[name={name}]"))).await.ok()?;
                field.clear().await.ok()?;
                field.send_keys(text).await.ok()?;
                filled.push((field, text));
            }
            for (field, text) in &filled {
                (field.prop("value").await.ok()?.as_deref() == Some(*text)).then_some(())?;
            }
            Some(())
        })
        .await;
        self.click("button[type=submit]").await;
        self.provider_consent().await;
    }

    /// Confirms the provider's consent page, which is current.
    pub async fn provider_consent(&self) {
        eventually("the consent page", || async {
            let page = self.client.source().await.ok()?;
            page.contains("name=\"prompt\" value=\"consent\"").then_some(())
        })
        .await;
        self.click_leaving("button[type=submit]").await;
    }
}

/// A CSS selector inside the card of `session`.
pub fn card(session: &str, inner: &str) -> String {
    format!("li.card[data-id=\"{session}\"] {inner}")
}

/// Watches the notifications sent on the session bus (the real `Notify` calls dunst receives).
pub struct NotificationWatch {
    child: Child,
    seen: Arc<Mutex<String>>,
}

impl NotificationWatch {
    pub fn start() -> NotificationWatch {
        let mut child = Command::new("dbus-monitor")
            .args(["--session", "type='method_call',interface='org.freedesktop.Notifications',member='Notify'"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-monitor (package dbus) is needed");
        let seen = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let sink = seen.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let mut seen = sink.lock().unwrap();
                seen.push_str(line.trim());
                seen.push('\n');
            }
        });
        NotificationWatch { child, seen }
    }

    /// Waits for a notification whose summary contains `summary`, and returns its whole call as text.
    pub async fn wait_for(&self, summary: &str) -> String {
        eventually(&format!("a notification \"{summary}\""), || async {
            let seen = self.seen.lock().unwrap().clone();
            seen.split("method call").find(|call| call.contains(summary)).map(str::to_owned)
        })
        .await
    }

    /// Waits until `count` notifications in all have had `summary`.
    pub async fn wait_for_count(&self, summary: &str, count: usize) {
        eventually(&format!("notification \"{summary}\" number {count}"), || async { (self.count(summary) >= count).then_some(()) }).await;
    }

    /// How many notifications so far had `summary`.
    pub fn count(&self, summary: &str) -> usize {
        self.seen.lock().unwrap().split("method call").filter(|call| call.contains(summary)).count()
    }
}

impl Drop for NotificationWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Picks the action `key` of the notification on screen whose summary contains `summary`, through
/// dunst's context menu, as a user picks one of several actions (`scripts/desktop-session.sh` points
/// the menu at a chooser that reads `$DUNST_CHOICE_FILE`). Retries until dunst has shown it.
pub fn answer_notification(summary: &str, key: &str) {
    let choice = PathBuf::from(std::env::var_os("DUNST_CHOICE_FILE").expect("run through scripts/desktop-session.sh --display"));
    let picked = PathBuf::from(format!("{}.picked", choice.display()));
    let _ = std::fs::remove_file(&picked);
    std::fs::write(&choice, format!("{summary}\n{key}\n")).unwrap();
    wait_until(&format!("dunst to offer \"{key}\" on \"{summary}\""), || {
        let _ = Command::new("dunstctl").arg("context").output();
        picked.exists()
    });
    std::fs::write(&choice, "").unwrap();
}

/// Moves the X input focus away from the app's main window and back, as switching to another window
/// and back does. Under Xvfb there is no window manager to do it, so xdotool sets the focus directly.
pub fn switch_away_and_back() {
    let xdotool = |args: &[&str]| {
        let out = Command::new("xdotool").args(args).output().expect("xdotool (package xdotool) is needed");
        assert!(out.status.success(), "xdotool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let main = xdotool(&["search", "--onlyvisible", "--name", "^Session Keeper$"]);
    let main = main.lines().next().expect("the main window is on screen").to_owned();
    let root = xdotool(&["search", "--maxdepth", "0", "--name", ""]);
    let root = root.lines().next().unwrap_or("0").to_owned();
    xdotool(&["windowfocus", "--sync", &root]);
    xdotool(&["windowfocus", "--sync", &main]);
}

/// Asks the main window to close the way a window manager's close button does (a `WM_DELETE_WINDOW`
/// client message); Xvfb has no window manager, so a few lines of python3-xlib send it.
pub fn close_main_window() {
    let script = r#"
import sys
from Xlib import X, display, protocol
d = display.Display()
root = d.screen().root
def walk(w):
    for c in w.query_tree().children:
        if c.get_wm_name() == "Session Keeper": return c
        f = walk(c)
        if f: return f
w = walk(root)
if w is None: sys.exit("no Session Keeper window")
proto, delete = d.intern_atom("WM_PROTOCOLS"), d.intern_atom("WM_DELETE_WINDOW")
w.send_event(protocol.event.ClientMessage(window=w, client_type=proto, data=(32, [delete, X.CurrentTime, 0, 0, 0])))
d.flush()
"#;
    let out = Command::new("/usr/bin/python3").args(["-c", script]).output().expect("python3-xlib is needed");
    assert!(out.status.success(), "close: {}", String::from_utf8_lossy(&out.stderr));
}

/// Whether the main window is mapped (visible) on the display.
pub fn main_window_visible() -> bool {
    Command::new("xdotool")
        .args(["search", "--onlyvisible", "--name", "^Session Keeper$"])
        .output()
        .is_ok_and(|out| out.status.success() && !out.stdout.is_empty())
}

/// Polls a blocking `check` until it holds, failing with `what` after [`PATIENCE`].
pub fn wait_until(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The app's tray menu as a desktop's panel sees it: the dbusmenu object libayatana-appindicator
/// exports on the session bus, read with gdbus.
pub struct TrayMenu {
    bus_name: String,
    path: String,
}

fn gdbus(args: &[&str]) -> Option<String> {
    let out = Command::new("gdbus").arg("call").args(bus_args("gdbus")).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

impl TrayMenu {
    /// Finds the running app's menu (the process that holds the single-instance name).
    pub fn find() -> TrayMenu {
        let pid_of = |name: &str| {
            gdbus(&[
                "--dest",
                "org.freedesktop.DBus",
                "--object-path",
                "/org/freedesktop/DBus",
                "--method",
                "org.freedesktop.DBus.GetConnectionUnixProcessID",
                name,
            ])
        };
        let mut found = None;
        let deadline = Instant::now() + PATIENCE;
        while found.is_none() {
            assert!(Instant::now() < deadline, "no tray menu on the session bus");
            let app_pid = pid_of(SINGLE_INSTANCE_NAME);
            let names = gdbus(&[
                "--dest",
                "org.freedesktop.DBus",
                "--object-path",
                "/org/freedesktop/DBus",
                "--method",
                "org.freedesktop.DBus.ListNames",
            ])
            .unwrap_or_default();
            for name in names.split('\'').filter(|n| n.starts_with(':')) {
                if app_pid.is_none() || pid_of(name) != app_pid {
                    continue;
                }
                let tree = Command::new("gdbus")
                    .arg("introspect")
                    .args(bus_args("gdbus"))
                    .args(["--dest", name, "--object-path", "/", "--recurse"])
                    .output();
                let Ok(tree) = tree else { continue };
                let tree = String::from_utf8_lossy(&tree.stdout).into_owned();
                // Each node line is "node /path {"; the menu's node is the one with com.canonical.dbusmenu.
                let mut current = None;
                for line in tree.lines() {
                    let line = line.trim();
                    if let Some(rest) = line.strip_prefix("node ") {
                        current = Some(rest.trim_end_matches(" {").to_owned());
                    }
                    if line.contains("interface com.canonical.dbusmenu") {
                        found = current.clone().map(|path| TrayMenu { bus_name: name.to_owned(), path });
                    }
                }
            }
            if found.is_none() {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        found.unwrap()
    }

    /// The menu's layout (gdbus's text form of `GetLayout`).
    pub fn layout(&self) -> String {
        let out = Command::new("gdbus")
            .arg("call")
            .args(bus_args("gdbus"))
            .args([
                "--dest",
                &self.bus_name,
                "--object-path",
                &self.path,
                "--method",
                "com.canonical.dbusmenu.GetLayout",
                "--",
                "0",
                "-1",
                "[]",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "GetLayout on {} {}: {}", self.bus_name, self.path, String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The items' labels, top to bottom.
    pub fn labels(&self) -> Vec<String> {
        let layout = self.layout();
        layout.split("'label': <'").skip(1).map(|rest| rest.split("'>").next().unwrap_or_default().replace('_', "")).collect()
    }

    /// Clicks the item labelled `label`, as the panel does.
    pub fn click(&self, label: &str) {
        let layout = self.layout();
        // Items look like "(12, {'label': <'Refresh all'>, ...}, [])": take the id before the label.
        let at = layout.find(&format!("'label': <'{label}'>")).unwrap_or_else(|| panic!("no {label:?} in {layout}"));
        let before = &layout[..at];
        let open = before.rfind('(').unwrap();
        let id: String = before[open + 1..].chars().take_while(char::is_ascii_digit).collect();
        gdbus(&[
            "--dest",
            &self.bus_name,
            "--object-path",
            &self.path,
            "--method",
            "com.canonical.dbusmenu.Event",
            "--",
            &id,
            "clicked",
            "<0>",
            "0",
        ])
        .unwrap_or_else(|| panic!("clicking {label:?} failed"));
    }
}
