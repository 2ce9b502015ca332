//! End-to-end: the sealed vault in the real window, on a desktop with no keychain at all. The app runs
//! on a session bus of the test's own (a `dbus-daemon` that can start no service, so no Secret Service
//! is there or can be activated), against the real provider. The person is asked for a passphrase,
//! is warned before a quit that would sign a session out, chooses a passphrase and quits; at the next
//! start the passphrase is asked again, a wrong one is refused, the right one brings the session back
//! without a new sign-in and it refreshes; no token is readable in the sealed file or any other; then a
//! Secret Service (gnome-keyring) starts on that bus, the tokens move there, the sealed file is removed
//! and the page says keychain. Run through `scripts/desktop-session.sh --display` (Xvfb for the window).

use session_keeper_testkit as support;

mod harness;

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use harness::{App, Driver, card};
use secrecy::{ExposeSecret, SecretString};
use session_core::{SealedVault, SecretVault, Vault};
use support::{Idp, Ttls};
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

const PASSPHRASE: &str = "correct horse battery staple";
const NEW_PASSPHRASE: &str = "a new and longer passphrase";

/// A session bus of the test's own ([`support::bus::PrivateBus`]: nothing on it is started on demand,
/// so the desktop's gnome-keyring, KWallet or KeePassXC is never activated by the first keychain call),
/// with what this test asks of it. Ended, with its folder, when dropped.
struct PrivateBus(support::bus::PrivateBus);

impl PrivateBus {
    fn start() -> PrivateBus {
        PrivateBus(support::bus::PrivateBus::session())
    }

    /// Whether `name` has an owner on this bus.
    fn has_owner(&self, name: &str) -> bool {
        let out = Command::new("dbus-send")
            .arg(format!("--bus={}", self.0.address))
            .args(["--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner"])
            .arg(format!("string:{name}"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("boolean true")
    }

    /// Starts gnome-keyring's Secret Service on this bus, with a keyring of its own made and unlocked
    /// with a password on standard input (as `scripts/desktop-session.sh` does), and waits until it
    /// holds its name.
    fn start_keyring(&self) -> Keyring {
        let folder = self.0.folder().join("keyring");
        let run = folder.join("run");
        std::fs::create_dir_all(folder.join("data")).unwrap();
        std::fs::create_dir_all(&run).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
        let mut child = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.0.address)
            .env("XDG_DATA_HOME", folder.join("data"))
            .env("XDG_RUNTIME_DIR", &run)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon (package gnome-keyring) is needed");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"session-keeper-test").unwrap();
        drop(stdin);
        harness::wait_until("gnome-keyring to take the Secret Service's name", || self.has_owner("org.freedesktop.secrets"));
        Keyring(child)
    }

    /// Every secret the Secret Service on this bus holds, read as a second program would (a plain
    /// session, `SearchItems` with no attributes, `GetSecrets`).
    async fn keychain_values(&self) -> Vec<String> {
        let bus = zbus::connection::Builder::address(self.0.address.as_str()).unwrap().build().await.unwrap();
        let service =
            zbus::Proxy::new(&bus, "org.freedesktop.secrets", "/org/freedesktop/secrets", "org.freedesktop.Secret.Service").await.unwrap();
        let (_, session): (OwnedValue, OwnedObjectPath) = service.call("OpenSession", &("plain", Value::from(""))).await.unwrap();
        let (unlocked, _locked): (Vec<OwnedObjectPath>, Vec<OwnedObjectPath>) =
            service.call("SearchItems", &(HashMap::<&str, &str>::new(),)).await.unwrap();
        let secrets: HashMap<OwnedObjectPath, (OwnedObjectPath, Vec<u8>, Vec<u8>, String)> =
            service.call("GetSecrets", &(unlocked, session)).await.unwrap();
        secrets.into_values().map(|(_, _, value, _)| String::from_utf8_lossy(&value).into_owned()).collect()
    }
}

/// gnome-keyring on the private bus; ended when dropped.
struct Keyring(Child);

impl Drop for Keyring {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The tokens the sealed vault holds for `session`, read with the passphrase as the app reads them.
async fn sealed_tokens(folder: &Path, session: &str) -> Vec<String> {
    let sealed = SealedVault::new(folder);
    sealed.unlock(&SecretString::from(PASSPHRASE)).unwrap();
    let vault: Arc<dyn Vault> = sealed;
    let secrets =
        SecretVault::new(vault, Duration::from_secs(5)).load_tokens(session).await.unwrap().expect("the sealed vault holds the session");
    let mut tokens = vec![secrets.access_token.expose_secret().to_owned()];
    tokens.extend(secrets.refresh_token.iter().chain(&secrets.id_token).map(|t| t.expose_secret().to_owned()));
    tokens
}

/// The passphrase dialog is open and reads `title`.
async fn passphrase_dialog(app: &App, title: &str) {
    app.find("#passphrase-dialog[open]").await;
    app.wait_text("#passphrase-title", title, |t| t == title).await;
}

/// Types into the passphrase dialog's fields (each `Some`), and submits it.
async fn submit_passphrase(app: &App, passphrase: &str, confirm: Option<&str>) {
    app.type_into("#passphrase-form input[name=passphrase]", passphrase).await;
    if let Some(confirm) = confirm {
        app.type_into("#passphrase-form input[name=confirm]", confirm).await;
    }
    app.click("#passphrase-submit").await;
}

/// A Quit from the tray, as the desktop's panel sends it.
async fn quit_from_tray() {
    tokio::task::spawn_blocking(|| harness::TrayMenu::find().click("Quit")).await.unwrap();
}

/// Ends the WebDriver session of an app that has quit by itself, so the driver can start it again.
async fn forget(app: App) {
    let _ = app.client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_keychain_the_sealed_vault_keeps_the_session_and_hands_it_to_a_keychain_that_appears() {
    let idp = Idp::start(Ttls::default());
    let bus = PrivateBus::start();
    assert!(!bus.has_owner("org.freedesktop.secrets"), "the private bus has no Secret Service");
    let driver = Driver::start("vault", &[("SESSION_KEEPER_DEMO_ISSUER", &idp.issuer), ("DBUS_SESSION_BUS_ADDRESS", &bus.0.address)]);
    let sealed_file = driver.app_data().join(SealedVault::FILE_NAME);

    // 0. Where the sealed file would be lies one that is not ours: the passphrase asked for it is
    //    refused, the file is set aside beside itself, and the dialog asks for a new passphrase.
    std::fs::create_dir_all(driver.app_data()).unwrap();
    std::fs::write(&sealed_file, b"not an age file at all\n").unwrap();
    let app = driver.launch().await;
    passphrase_dialog(&app, "Enter the sealed vault's passphrase").await;
    submit_passphrase(&app, PASSPHRASE, None).await;
    app.wait_text("#passphrase-error", "the file set aside", |t| t.contains("set aside")).await;
    assert!(!sealed_file.exists(), "the foreign file was moved");
    let aside =
        std::fs::read_dir(driver.app_data()).unwrap().flatten().map(|e| e.path()).find(|p| {
            p.file_name().is_some_and(|name| name.to_string_lossy().starts_with(&format!("{}.set-aside-", SealedVault::FILE_NAME)))
        });
    assert_eq!(std::fs::read(aside.expect("the foreign file kept beside")).unwrap(), b"not an age file at all\n");

    // 1. No keychain: the window asks for a passphrase to make the sealed vault, saying what it
    //    protects and that it is not stored. "Not now" leaves the tokens in memory.
    passphrase_dialog(&app, "Choose a passphrase for the sealed vault").await;
    let why = app.text("#passphrase-why").await;
    assert!(why.contains("no keychain") && why.contains("does not store the passphrase"), "{why}");
    app.screenshot("vault-01-choose-passphrase").await;
    app.check_state("vault-choose-passphrase").await;
    submit_passphrase(&app, PASSPHRASE, Some("correct horse battery stapel")).await;
    app.wait_text("#passphrase-error", "the mismatch", |t| t.contains("differ")).await;
    assert!(!sealed_file.exists(), "a refused passphrase makes nothing");
    app.click("#passphrase-cancel").await;
    app.wait_dialogs_closed().await;
    app.wait_text("#vault-line", "memory only", |t| t.contains("memory only")).await;

    // 2. A sign-in with the vault locked: the tokens live in memory, and the card says so.
    app.sign_in_through_window("Demo", "alice").await;
    app.wait_badge("Demo", "Active").await;
    app.wait_text(&card("Demo", ".card-vault"), "memory only", |t| t.contains("in memory only")).await;

    // 3. Quit from the tray: the person is told first that quitting signs the session out, with a
    //    choice. Stay keeps the app; then a passphrase, and the quit writes the tokens there.
    quit_from_tray().await;
    app.find("#quit-dialog[open]").await;
    let question = app.text("#quit-text").await;
    assert!(question.contains("Demo's tokens are in memory only") && question.contains("signed out"), "{question}");
    app.screenshot("vault-02-quit-question").await;
    app.check_state("vault-quit-question").await;
    app.click("#quit-stay").await;
    app.wait_dialogs_closed().await;
    assert!(harness::app_running(), "Stay keeps the app running");
    quit_from_tray().await;
    app.click("#quit-unlock").await;
    passphrase_dialog(&app, "Choose a passphrase for the sealed vault").await;
    app.wait_text("#passphrase-submit", "Create and quit", |t| t == "Create and quit").await;
    app.keep_ipc().await;
    submit_passphrase(&app, PASSPHRASE, Some(PASSPHRASE)).await;
    harness::wait_until("the app to quit", || !harness::app_running());
    forget(app).await;
    let mode = std::fs::metadata(&sealed_file).expect("the quit made the sealed vault").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the sealed file is the user's alone");
    let first = sealed_tokens(&driver.app_data(), "Demo").await;
    let seal = std::fs::read(&sealed_file).unwrap();

    // 4. Start again: the passphrase is asked; a wrong one is refused with the core's words and
    //    changes nothing; the right one brings the session back with no new sign-in, and it refreshes.
    let requests = idp.token_requests().await;
    let app = driver.launch().await;
    passphrase_dialog(&app, "Enter the sealed vault's passphrase").await;
    app.screenshot("vault-03-enter-passphrase").await;
    app.wait_text(&card("Demo", ".card-vault"), "locked", |t| t.contains("sealed vault, locked")).await;
    let windows = app.windows().await.len();
    let last_refresh = app.attr(&card("Demo", "[data-field=last]"), "datetime").await;
    submit_passphrase(&app, "Correct Horse Battery Staple", None).await;
    app.wait_text("#passphrase-error", "the refusal", |t| t.contains("does not open the sealed vault")).await;
    app.screenshot("vault-04-wrong-passphrase").await;
    assert_eq!(std::fs::read(&sealed_file).unwrap(), seal, "a wrong passphrase changed the file");
    submit_passphrase(&app, PASSPHRASE, None).await;
    app.wait_dialogs_closed().await;
    idp.wait_for_token_requests(requests + 1).await;
    app.wait_badge("Demo", "Active").await;
    app.wait_text(&card("Demo", ".card-vault"), "the sealed vault", |t| t == "Tokens: in the sealed vault on this computer.").await;
    app.wait_text_attr(&card("Demo", "[data-field=last]"), "datetime", |at| Some(at) != last_refresh.as_deref()).await;
    assert_eq!(app.windows().await.len(), windows, "no sign-in window opened");
    app.wait_text("#vault-line", "the sealed vault", |t| t.contains("sealed vault")).await;

    // The passphrase changes in Settings: the current one is asked first; then the file opens with the
    // new one only, and the session is untouched.
    app.click("#open-settings").await;
    app.click("#change-passphrase").await;
    passphrase_dialog(&app, "Change the sealed vault's passphrase").await;
    app.type_into("#passphrase-form input[name=current]", "not the passphrase").await;
    submit_passphrase(&app, NEW_PASSPHRASE, Some(NEW_PASSPHRASE)).await;
    app.wait_text("#passphrase-error", "the refusal", |t| t.contains("does not open the sealed vault")).await;
    app.screenshot("vault-05-change-passphrase").await;
    app.type_into("#passphrase-form input[name=current]", PASSPHRASE).await;
    submit_passphrase(&app, NEW_PASSPHRASE, Some(NEW_PASSPHRASE)).await;
    app.wait_dialogs_closed().await;
    let reopened = SealedVault::new(driver.app_data());
    assert_eq!(reopened.unlock(&SecretString::from(PASSPHRASE)).unwrap_err().kind(), session_core::ErrorKind::WrongPassphrase);
    reopened.unlock(&SecretString::from(NEW_PASSPHRASE)).expect("the new passphrase opens the sealed vault");
    app.wait_badge("Demo", "Active").await;

    // 5. A Secret Service appears on the bus: the tokens move there, the sealed file is removed, and
    //    the page says keychain.
    let _keyring = bus.start_keyring();
    harness::wait_until("the sealed file to be removed", || !sealed_file.exists());
    app.wait_text("#vault-line", "the keychain", |t| t == "Tokens are kept in the keychain.").await;
    app.wait_text(&card("Demo", ".card-vault"), "the keychain", |t| t == "Tokens: in the keychain.").await;
    app.wait_text("#banner-text", "the move", |t| t.contains("moved there")).await;
    app.screenshot("vault-06-moved-to-keychain").await;
    let kept = bus.keychain_values().await;
    assert!(!kept.is_empty(), "the keychain holds the session's tokens");
    assert!(!kept.iter().any(|value| value.contains(&first[0])), "the keychain holds the refreshed tokens, not the first ones");
    let mut seen = first.clone();
    for value in &kept {
        let parsed: serde_json::Value = serde_json::from_str(value).unwrap_or_default();
        seen.extend(["access_token", "refresh_token", "id_token"].iter().filter_map(|key| parsed[key].as_str().map(str::to_owned)));
    }
    assert!(seen.len() > first.len(), "the keychain's item reads as the session's tokens: {} values", kept.len());
    app.keep_ipc().await;
    app.quit().await;
    harness::wait_app_gone();

    // 6. No token, first or refreshed, in any file the app wrote (the sealed file, while it was there,
    //    was read as bytes above), in what it printed, or in what the page received. The scan first
    //    finds one planted, so a scan that cannot find anything does not pass.
    let planted = driver.home.join("data/planted-by-the-test");
    std::fs::write(&planted, format!("noise {} noise", seen[0])).unwrap();
    assert_eq!(harness::find_secrets(&driver.home, "", &seen).len(), 1, "the scan finds the planted token");
    std::fs::remove_file(&planted).unwrap();
    assert_eq!(harness::find_secrets(&driver.home, &driver.output(), &seen), Vec::new(), "tokens found where the app wrote them");
    let in_seal: Vec<usize> =
        seen.iter().enumerate().filter(|(_, t)| seal.windows(t.len()).any(|w| w == t.as_bytes())).map(|(i, _)| i).collect();
    assert!(in_seal.is_empty(), "tokens readable in the sealed file: {in_seal:?}");
    let ipc = harness::IPC.lock().unwrap().clone();
    assert!(ipc.iter().any(|m| m.starts_with("event vault-changed")), "the recorder saw the vault's events");
    assert!(!ipc.iter().any(|m| m.contains(PASSPHRASE) || m.contains(NEW_PASSPHRASE)), "the passphrase came back to the page");
    assert!(!ipc.iter().any(|m| seen.iter().any(|t| m.contains(t.as_str()))), "tokens sent to the page");
    let logs = std::fs::read_dir(driver.logs())
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(!logs.contains(PASSPHRASE) && !logs.contains(NEW_PASSPHRASE), "the passphrase reached the logs");
    let passphrase = [PASSPHRASE.to_owned(), NEW_PASSPHRASE.to_owned()];
    assert_eq!(harness::find_secrets(&driver.home, &driver.output(), &passphrase), Vec::new(), "the passphrase was written down");
    assert!(logs.contains("the sealed vault is unlocked") && logs.contains("moved to the keychain"), "the logs tell the story");
}
