//! The core's keychain vault against KeePassXC (Debian's 2.7.4) serving the Secret Service, with a database
//! made for the test, on a private bus (tests/support's keepassxc.rs says how it is set up).
//!
//! Each test runs its body in a child process of this test binary whose `DBUS_SESSION_BUS_ADDRESS` is the
//! private bus (the core connects to the session bus the environment names; changing this process's
//! environment needs `unsafe`). The child starts KeePassXC itself, so that it can restart it.
//!
//! KeePassXC's quirks met here: the collection is the database (its path is the file's name, its label
//! the database's name) and carries the alias "default"; a deleted item goes to the database's Recycle
//! Bin, token and all, until the bin is emptied; every item gains the entry's attributes (Title,
//! UserName, URL, Notes, Path, Uuid) besides the ones the store sets (service, username).

use session_keeper_testkit as support;

use std::sync::Arc;
use std::time::Instant;

use secrecy::ExposeSecret;
use session_core::{ErrorKind, JsonFileStore, KeyringVault, Phase, SessionManager};
use support::keepassxc::{Entry, KeePassXc, PrivateBus, Settings};
use support::{Idp, Ttls, refresh_token, signed_in, stored};

/// Set in the child: the private bus's address.
const CHILD: &str = "SESSION_KEEPER_KEEPASSXC_CHILD";

/// Runs test `name` again in a child process on a fresh private bus; its figures are passed on.
fn in_child(name: &str) {
    let bus = PrivateBus::session();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, &bus.address)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "the child for {name} failed:\n{text}");
    for line in text.lines().filter(|line| line.contains("figure:")) {
        println!("{}", &line[line.find("figure:").unwrap()..]);
    }
}

/// The private bus's address in the child; `None` in the parent run.
fn child_bus() -> Option<String> {
    std::env::var(CHILD).ok()
}

/// The item the store makes for session `id`'s tokens: its title in KeePassXC.
fn title(service: &str, id: &str) -> String {
    format!("keyring:session/{id}/tokens@{service}")
}

fn find<'a>(entries: &'a [Entry], group: &str, title: &str) -> Option<&'a Entry> {
    entries.iter().find(|entry| entry.group == group && entry.title == title)
}

/// Whether `entry` keeps `token` where KeePassXC puts a secret that is not text: its Password field is
/// empty and the secret is the attachment `FDO_SECRETS_DATA`.
fn holds(entry: &Entry, token: &str) -> bool {
    entry.password.expose_secret().is_empty() && entry.data.as_ref().is_some_and(|data| data.expose_secret().contains(token))
}

/// The median of 20 writes of a token-sized item through the core's keychain vault (debug build).
fn write_cost(vault: &KeyringVault) -> std::time::Duration {
    use session_core::Vault;
    let value = secrecy::SecretString::from("x".repeat(1200));
    let mut took: Vec<std::time::Duration> = (0..20)
        .map(|_| {
            let started = Instant::now();
            vault.set("write-cost", &value).unwrap();
            started.elapsed()
        })
        .collect();
    vault.delete("write-cost").unwrap();
    took.sort();
    took[took.len() / 2]
}

#[test]
fn keepassxc_keeps_the_tokens_through_sign_in_refresh_restart_hand_out_and_sign_out() {
    in_child("keepassxc_session_child");
    // The same write on the test run's gnome-keyring, beside KeePassXC's (the child's figure).
    println!("figure: keychain write, gnome-keyring: {:?} median of 20 (debug build)", write_cost(&support::keychain("write-cost")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepassxc_session_child() {
    let Some(address) = child_bus() else { return };
    let mut keepassxc = KeePassXc::start(&address, Settings::default());
    let idp = Idp::start(Ttls::default());
    let service = format!("session-keeper-test-keepassxc-{}", std::process::id());
    let vault = Arc::new(KeyringVault::new(service.clone()));
    let folder = std::env::temp_dir().join(format!("session-core-keepassxc-{}", std::process::id()));
    let store = Arc::new(JsonFileStore::new(folder.join("sessions.json")));
    let build = || SessionManager::builder().vault(vault.clone()).store(store.clone()).build();
    let item = title(&service, "s");

    // Sign-in: the tokens are an entry of the database's exposed (root) group, saved to the file.
    let manager = build().await.unwrap();
    let signed = signed_in(&manager, &idp, "s", "alice").await;
    assert_eq!(signed.phase, Phase::Active);
    let first = refresh_token(&stored(&vault, "s").await.expect("tokens in KeePassXC"));
    keepassxc
        .wait_for_file("the signed-in session's entry", |entries| find(entries, "Root", &item).is_some_and(|entry| holds(entry, &first)));

    // Refresh: the rotated refresh token replaces the first in the same entry, in the file too.
    let started = Instant::now();
    assert_eq!(manager.refresh("s", true).await.unwrap().phase, Phase::Active);
    println!("figure: KeePassXC forced refresh with its keychain write, {} ms (debug build)", started.elapsed().as_millis());
    let rotated = refresh_token(&stored(&vault, "s").await.unwrap());
    assert_ne!(rotated, first, "the provider rotates refresh tokens");
    keepassxc.wait_for_file("the rotated refresh token", |entries| {
        let same: Vec<&Entry> = entries.iter().filter(|entry| entry.title == item).collect();
        same.len() == 1 && same[0].group == "Root" && holds(same[0], &rotated)
    });
    let handed = manager.hand_out("s", &Default::default()).await.unwrap();
    manager.shutdown().await;
    let cost = tokio::task::spawn_blocking(move || {
        write_cost(&KeyringVault::new(format!("session-keeper-test-write-cost-{}", std::process::id())))
    });
    println!("figure: keychain write, KeePassXC: {:?} median of 20 (debug build)", cost.await.unwrap());

    // Restart, KeePassXC too (as after a reboot): the session comes back from the database file, and the
    // hand-out reads the token from KeePassXC, without a token request.
    keepassxc.restart();
    let requests = idp.token_requests().await;
    let manager = build().await.unwrap();
    let restored = manager.snapshot("s").await.unwrap();
    assert_eq!((restored.phase, restored.user.clone()), (Phase::Active, signed.user.clone()));
    let again = manager.hand_out("s", &Default::default()).await.unwrap();
    assert_eq!(again.token.expose_secret(), handed.token.expose_secret(), "the hand-out after the restart is the stored token");
    assert_eq!(idp.token_requests().await, requests, "the restart asked the provider for a token");
    assert_eq!(refresh_token(&stored(&vault, "s").await.unwrap()), rotated);

    // Sign-out: the item is gone from the Secret Service. KeePassXC moves a deleted entry to the
    // database's Recycle Bin, where the (revoked) token stays until the bin is emptied.
    manager.sign_out("s").await.unwrap();
    assert!(stored(&vault, "s").await.is_none(), "the item is still served after the sign-out");
    keepassxc.wait_for_file("the entry out of the exposed group", |entries| find(entries, "Root", &item).is_none());
    let entries = keepassxc.entries();
    let binned = find(&entries, "Root/Recycle Bin", &item).expect("KeePassXC keeps a deleted entry in its Recycle Bin");
    assert!(holds(binned, &rotated), "the binned entry holds the last tokens");
    let (status, answer) = idp.raw_refresh(&rotated).await;
    assert_eq!((status, answer["error"].as_str()), (400, Some("invalid_grant")), "the binned token was revoked at sign-out");
    manager.shutdown().await;
    let _ = std::fs::remove_dir_all(folder);
}

#[test]
fn a_locked_keepassxc_database_is_reported_at_once_without_a_prompt_and_loses_nothing() {
    in_child("keepassxc_locked_child");
}

/// KeePassXC users have the database lock itself (idle timer, screen lock): the collection stays, its
/// `Locked` property true, and asking KeePassXC to unlock it would open its unlock dialog. The core reads
/// `Locked` and reports "keychain locked" without asking; the tokens wait in memory for the unlock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepassxc_locked_child() {
    let Some(address) = child_bus() else { return };
    let keepassxc = KeePassXc::start(&address, Settings::default());
    let idp = Idp::start(Ttls::default());
    let vault = Arc::new(KeyringVault::new(format!("session-keeper-test-keepassxc-locked-{}", std::process::id())));
    let manager = SessionManager::builder().vault(vault.clone()).build().await.unwrap();
    signed_in(&manager, &idp, "s", "alice").await;
    let before = refresh_token(&stored(&vault, "s").await.unwrap());

    keepassxc.lock();
    let started = Instant::now();
    let session = manager.refresh("s", true).await.unwrap();
    let took = started.elapsed();
    assert!(took.as_secs() < 2, "the refresh waited {took:?} on the locked database");
    assert_eq!(session.phase, Phase::Active);
    let error = session.last_error.as_ref().expect("the card says why the tokens are not saved");
    assert_eq!(error.kind, ErrorKind::KeychainLocked, "{}", error.message);
    assert_eq!(keepassxc.default_collection_locked(), Some(true), "the database was unlocked behind the user's back");
    let in_memory = manager.hand_out("s", &Default::default()).await.unwrap();

    // The person unlocks KeePassXC; the app quits: the newest tokens reach the database.
    keepassxc.unlock();
    tokio::time::timeout(std::time::Duration::from_secs(10), manager.shutdown()).await.expect("the quit hung");
    let saved = stored(&vault, "s").await.expect("tokens in KeePassXC");
    assert_ne!(refresh_token(&saved), before, "the rotated refresh token was never written");
    assert_eq!(saved.access_token.expose_secret(), in_memory.token.expose_secret());
    let (status, _) = idp.raw_refresh(&refresh_token(&saved)).await;
    assert_eq!(status, 200, "the saved refresh token is the provider's current one");
}

#[test]
fn with_confirm_on_access_a_new_app_start_is_not_held_by_keepassxcs_dialog_and_loses_nothing() {
    in_child("keepassxc_confirm_child");
}

/// KeePassXC's "Confirm when passwords are retrieved by clients" (on by default): the program that
/// created an item may read it; any other connection (the app after a restart) finds the item locked
/// for it (the collection is not), and the store's unlock of the item opens KeePassXC's access dialog
/// and waits for its answer. Unanswered, the core gives up at its keychain timeout with an error on
/// the card and the tokens stay in KeePassXC.
///
/// Its own runtime, stopped without waiting: the store's thread waits for the dialog's answer for
/// ever, and a `#[tokio::test]` runtime would wait for that thread at the end.
#[test]
fn keepassxc_confirm_child() {
    let Some(address) = child_bus() else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let mut keepassxc = KeePassXc::start(&address, Settings { confirm_access: true });
        let idp = Idp::start(Ttls::default());
        let service = format!("session-keeper-test-keepassxc-confirm-{}", std::process::id());
        let folder = std::env::temp_dir().join(format!("session-core-keepassxc-confirm-{}", std::process::id()));
        let store = Arc::new(JsonFileStore::new(folder.join("sessions.json")));
        let timeout = std::time::Duration::from_secs(3);
        let build = |vault: Arc<KeyringVault>| SessionManager::builder().vault(vault).store(store.clone()).vault_timeout(timeout).build();

        // The app that made the item may use it without a dialog.
        let vault = Arc::new(KeyringVault::new(service.clone()));
        let manager = build(vault.clone()).await.unwrap();
        signed_in(&manager, &idp, "s", "alice").await;
        let session = manager.refresh("s", true).await.unwrap();
        assert_eq!((session.phase, session.last_error.as_ref().map(|e| e.kind)), (Phase::Active, None));
        let kept = refresh_token(&stored(&vault, "s").await.unwrap());
        manager.shutdown().await;

        // KeePassXC restarted: it no longer knows the app's connection, and the same vault says so at
        // once instead of opening the access dialog.
        keepassxc.restart();
        let started = Instant::now();
        let again = session_core::SecretVault::new(vault.clone(), timeout).load_tokens("s").await;
        let error = again.map(|_| ()).expect_err("a token came out of an item KeePassXC asks about");
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "the read was held {:?}", started.elapsed());
        assert_eq!(error.kind(), ErrorKind::KeychainFailed, "{error}");

        // The app restarted (a new connection): KeePassXC would ask the person, so the app does not read.
        let manager = build(Arc::new(KeyringVault::new(service.clone()))).await.unwrap();
        let started = Instant::now();
        let answer = manager.hand_out("s", &Default::default()).await;
        let took = started.elapsed();
        let error = answer.expect_err("a token came out of a locked item");
        println!("figure: with confirm-on-access, the restarted app's first read ended after {took:?}: {error}");
        // No access dialog is opened: the search says the item asks, and the app says so in its words at once.
        assert!(took < std::time::Duration::from_secs(1), "the read was held {took:?}");
        assert_eq!(error.kind(), ErrorKind::KeychainFailed, "{error}");
        assert!(error.to_string().contains("Confirm when passwords are retrieved by clients"), "{error}");
        // Nothing lost: the tokens are in the database file as they were.
        let item = title(&service, "s");
        keepassxc.wait_for_file("the tokens kept", |entries| find(entries, "Root", &item).is_some_and(|entry| holds(entry, &kept)));
        let _ = std::fs::remove_dir_all(folder);
    });
    runtime.shutdown_background();
}

#[test]
fn keepassxc_running_with_its_database_closed_loses_nothing_and_serves_again_once_opened() {
    in_child("keepassxc_closed_child");
}

/// KeePassXC running with no database open (closed, or not yet opened after login): it owns the name
/// but has no collection, no "default" alias, and a search waits for a database to be unlocked (its
/// "Prompt to unlock database before searching" setting, on by default, opens the unlock dialog). The
/// restarted app must keep the session, say at once that the database is closed (no search), and work,
/// the same app, as soon as the person opens the database.
#[test]
fn keepassxc_closed_child() {
    let Some(address) = child_bus() else { return };
    // Its own runtime, stopped without waiting for a store thread still waiting on KeePassXC.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let keepassxc = KeePassXc::start(&address, Settings::default());
        let idp = Idp::start(Ttls::default());
        let service = format!("session-keeper-test-keepassxc-closed-{}", std::process::id());
        let folder = std::env::temp_dir().join(format!("session-core-keepassxc-closed-{}", std::process::id()));
        let store = Arc::new(JsonFileStore::new(folder.join("sessions.json")));
        let timeout = std::time::Duration::from_secs(3);
        let build = || {
            SessionManager::builder()
                .vault(Arc::new(KeyringVault::new(service.clone())))
                .store(store.clone())
                .vault_timeout(timeout)
                .build()
        };
        let manager = build().await.unwrap();
        let signed = signed_in(&manager, &idp, "s", "alice").await;
        let handed = manager.hand_out("s", &Default::default()).await.unwrap();
        manager.shutdown().await;

        keepassxc.close();
        let manager = build().await.unwrap();
        let restored = manager.snapshot("s").await.unwrap();
        assert_eq!((restored.phase, restored.user.clone()), (Phase::Active, signed.user.clone()), "the session was dropped");
        let started = Instant::now();
        let error = manager.hand_out("s", &Default::default()).await.expect_err("a token came out of a closed database");
        let took = started.elapsed();
        println!("figure: KeePassXC with its database closed, a hand-out ended after {took:?}: {error}");
        // Told at once, without a search (which would open KeePassXC's unlock dialog and hold the store).
        assert!(took < std::time::Duration::from_secs(1), "the hand-out was held {took:?}");
        assert_eq!(error.kind(), ErrorKind::KeychainLocked, "{error}");
        assert!(error.to_string().contains("in KeePassXC by opening its database"), "{error}");

        // The person opens the database: the same app serves the stored token without a new sign-in.
        let requests = idp.token_requests().await;
        keepassxc.unlock();
        let again = manager.hand_out("s", &Default::default()).await.unwrap();
        assert_eq!(again.token.expose_secret(), handed.token.expose_secret());
        assert_eq!(idp.token_requests().await, requests, "the reopened session asked the provider for a token");
        manager.shutdown().await;
        let _ = std::fs::remove_dir_all(folder);
    });
    runtime.shutdown_background();
}
