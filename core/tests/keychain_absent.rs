//! No keychain at all: a desktop session without a Secret Service (a minimal window manager, a fresh
//! install before gnome-keyring or KWallet is set up). Its own test binary, on a D-Bus session bus of
//! its own that cannot start one (no service files), because the test run's bus has gnome-keyring.
//!
//! Asserted: signing in and refreshing still work with the tokens in memory, every step ends at once
//! (no wait for a keychain that will never answer), the card says what to do, nothing is written
//! anywhere else instead, and a keychain that starts later gets the tokens at the next retry.

use session_keeper_testkit as support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use session_core::{ErrorKind, JsonFileStore, KeyringVault, Phase, SessionManager};
use support::{Idp, Ttls, signed_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_service_sessions_work_from_memory_and_the_card_says_what_to_do() {
    let folder = std::env::temp_dir().join(format!("session-core-no-keychain-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    // A session bus with nothing on it and nothing it can start; stopped when dropped.
    let bus = support::bus::PrivateBus::session();
    let address = bus.address.clone();
    // SAFETY: set before this test binary's only test starts any thread that reads the environment
    // (the runtime's workers do not), and nothing else runs in this process.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &address)
    };
    let idp = Idp::start(Ttls::default());
    let store = folder.join("sessions.json");
    let manager = SessionManager::builder()
        .vault(Arc::new(KeyringVault::new("session-keeper-test-absent")))
        .store(Arc::new(JsonFileStore::new(&store)))
        .vault_timeout(Duration::from_secs(10))
        .build()
        .await
        .expect("the app starts without a keychain");

    let started = Instant::now();
    let session = signed_in(&manager, &idp, "s", "alice").await;
    assert_eq!(session.phase, Phase::Active);
    let error = session.last_error.expect("the card says the tokens are not kept");
    assert_eq!(error.kind, ErrorKind::KeychainUnavailable, "{}", error.message);
    assert!(error.message.contains("Start gnome-keyring or another Secret Service"), "{}", error.message);
    let session = manager.refresh("s", true).await.unwrap();
    assert_eq!(session.phase, Phase::Active, "the rotated token in memory works");
    let token = manager.hand_out("s", &Default::default()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "a step waited for the absent keychain: {:?}", started.elapsed());

    // The keychain starts late (autostart after the app): the next retry writes the tokens, without
    // a restart of the app and without the user doing anything.
    let keyring_home = folder.join("keyring");
    std::fs::create_dir_all(keyring_home.join("run")).unwrap();
    let mut keyring = Command::new("gnome-keyring-daemon")
        .args(["--foreground", "--unlock", "--components=secrets"])
        .env("XDG_DATA_HOME", keyring_home.join("data"))
        .env("XDG_RUNTIME_DIR", keyring_home.join("run"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gnome-keyring must be installed (scripts/setup.sh)");
    {
        use std::io::Write;
        let mut stdin = keyring.stdin.take().unwrap();
        stdin.write_all(b"late-keyring").unwrap();
    }
    let mut events = manager.subscribe();
    let saved = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if manager.snapshot("s").await.unwrap().last_error.is_none() {
                return;
            }
            let _ = events.recv().await;
        }
    })
    .await;
    let held = support::stored(&Arc::new(KeyringVault::new("session-keeper-test-absent")), "s").await;
    let _ = keyring.kill();
    let _ = keyring.wait();
    saved.expect("the tokens reached the keychain that started late");
    let held = held.expect("the keychain holds the session's tokens");
    assert_eq!(secrecy::ExposeSecret::expose_secret(&held.access_token), secrecy::ExposeSecret::expose_secret(&token.token));
    tokio::time::timeout(Duration::from_secs(10), manager.shutdown()).await.expect("the quit hung");
    // Nothing was written in the keychain's place.
    let file = std::fs::read_to_string(&store).unwrap();
    assert!(!file.contains(secrecy::ExposeSecret::expose_secret(&token.token)), "a token reached the session file");
    let _ = std::fs::remove_dir_all(&folder);
}
