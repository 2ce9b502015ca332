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
use session_core::{JsonFileStore, KeyringVault, Phase, SessionManager};
use support::keepassxc::{Entry, KeePassXc, PrivateBus, Settings};
use support::{Idp, Ttls, refresh_token, signed_in, stored};

/// Set in the child: the private bus's address.
const CHILD: &str = "SESSION_KEEPER_KEEPASSXC_CHILD";

/// Runs test `name` again in a child process on a fresh private bus; its figures are passed on.
fn in_child(name: &str) {
    let bus = PrivateBus::start();
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

#[test]
fn keepassxc_keeps_the_tokens_through_sign_in_refresh_restart_hand_out_and_sign_out() {
    in_child("keepassxc_session_child");
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
