//! A locked keychain (the user locked it, or it was never unlocked at login), against the real
//! provider and the real gnome-keyring. Its own test binary: locking the test run's keychain would fail
//! tests running beside it.
//!
//! Asked to unlock, the Secret Service opens a password prompt; a refresh in the background must
//! never do that (the prompt would appear out of nowhere, or nowhere at all on a desktop without a
//! prompter, and hold the refresh until the keychain timeout). Asserted: the refresh ends at once with
//! "keychain locked" on the card, the rotated tokens stay in memory, the next refresh uses them, and
//! once the user unlocks the keychain the newest tokens are written and nothing is lost.

use session_keeper_testkit as support;

use std::time::{Duration, Instant};

use session_core::{ErrorKind, Phase, SessionManager};
use support::{Idp, Ttls, keychain, refresh_token, signed_in, stored};
use zbus::zvariant::{ObjectPath, OwnedObjectPath, Value};

const SERVICE: &str = "org.freedesktop.secrets";
const LOGIN: &str = "/org/freedesktop/secrets/collection/login";
/// The password `scripts/desktop-session.sh` unlocks the test keyring with.
const PASSWORD: &[u8] = b"session-keeper-test";

async fn lock(bus: &zbus::Connection) {
    let collections = vec![ObjectPath::try_from(LOGIN).unwrap()];
    let reply = bus
        .call_method(Some(SERVICE), "/org/freedesktop/secrets", Some("org.freedesktop.Secret.Service"), "Lock", &(collections,))
        .await
        .unwrap();
    let (locked, _prompt): (Vec<OwnedObjectPath>, OwnedObjectPath) = reply.body().deserialize().unwrap();
    assert_eq!(locked.len(), 1, "gnome-keyring did not lock the login keyring");
}

/// Unlocks as the user would at gnome-keyring's own prompt, without a prompt: its interface for
/// unlocking with the password, over a plain session of this connection.
async fn unlock(bus: &zbus::Connection) {
    let reply = bus
        .call_method(
            Some(SERVICE),
            "/org/freedesktop/secrets",
            Some("org.freedesktop.Secret.Service"),
            "OpenSession",
            &("plain", Value::from("")),
        )
        .await
        .unwrap();
    let (_, session): (zbus::zvariant::OwnedValue, OwnedObjectPath) = reply.body().deserialize().unwrap();
    let secret = (session, Vec::<u8>::new(), PASSWORD.to_vec(), "text/plain");
    bus.call_method(
        Some(SERVICE),
        "/org/freedesktop/secrets",
        Some("org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"),
        "UnlockWithMasterPassword",
        &(ObjectPath::try_from(LOGIN).unwrap(), secret),
    )
    .await
    .unwrap();
}

/// Watches the bus, as `dbus-monitor` does, for any unlock asked of the Secret Service and any prompt
/// shown: returns what it saw once it sees the `Ping` of [`seen_so_far`] (the bus keeps order).
async fn watch_for_prompts() -> tokio::task::JoinHandle<Vec<String>> {
    use futures_util::StreamExt;
    let monitor = zbus::connection::Builder::session().unwrap().build().await.unwrap();
    let rules = [
        "type='method_call',interface='org.freedesktop.Secret.Service',member='Unlock'",
        "type='method_call',interface='org.freedesktop.Secret.Prompt'",
        "type='method_call',interface='org.freedesktop.DBus.Peer',member='Ping',path='/org/freedesktop/secrets'",
    ];
    let rules: Vec<zbus::MatchRule<'_>> = rules.iter().map(|r| zbus::MatchRule::try_from(*r).unwrap()).collect();
    zbus::fdo::MonitoringProxy::new(&monitor).await.unwrap().become_monitor(&rules, 0).await.unwrap();
    let mut messages = zbus::MessageStream::from(&monitor);
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(message) = messages.next().await {
            let Ok(message) = message else { continue };
            let header = message.header();
            let member = header.member().map(|m| m.to_string()).unwrap_or_default();
            if member == "Ping" {
                break;
            }
            let interface = header.interface().map(|i| i.to_string()).unwrap_or_default();
            // The bus also tells the monitor about itself (NameLost); only the Secret Service counts.
            if interface.starts_with("org.freedesktop.Secret.") {
                seen.push(format!("{interface}.{member}"));
            }
        }
        seen
    })
}

/// Marks "everything before this" for the monitor.
async fn seen_so_far(bus: &zbus::Connection, monitor: tokio::task::JoinHandle<Vec<String>>) -> Vec<String> {
    bus.call_method(Some(SERVICE), "/org/freedesktop/secrets", Some("org.freedesktop.DBus.Peer"), "Ping", &()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), monitor).await.expect("the monitor saw the ping").unwrap()
}

async fn is_locked(bus: &zbus::Connection) -> bool {
    let proxy = zbus::fdo::PropertiesProxy::builder(bus).destination(SERVICE).unwrap().path(LOGIN).unwrap().build().await.unwrap();
    let value =
        proxy.get(zbus::names::InterfaceName::from_static_str_unchecked("org.freedesktop.Secret.Collection"), "Locked").await.unwrap();
    bool::try_from(value).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_keychain_is_reported_at_once_without_a_prompt_and_loses_nothing() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("locked");
    let bus = zbus::Connection::session().await.unwrap();
    let manager = SessionManager::builder().vault(vault.clone()).vault_timeout(Duration::from_secs(10)).build().await.unwrap();
    signed_in(&manager, &idp, "s", "alice").await;
    let before = refresh_token(&stored(&vault, "s").await.unwrap());

    lock(&bus).await;
    assert!(is_locked(&bus).await);
    let prompts = watch_for_prompts().await;
    let started = Instant::now();
    let session = manager.refresh("s", true).await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "the refresh waited {took:?}: an unlock prompt was opened");
    assert_eq!(session.phase, Phase::Active);
    let error = session.last_error.as_ref().expect("the card says why the tokens are not saved");
    assert_eq!(error.kind, ErrorKind::KeychainLocked, "{}", error.message);
    assert!(error.message.contains("unlock it"), "{}", error.message);
    // The keychain is still locked: nobody unlocked it behind the user's back.
    assert!(is_locked(&bus).await);
    // The next refresh uses the rotated token from memory: the provider accepts it.
    let session = manager.refresh("s", true).await.unwrap();
    assert_eq!(session.phase, Phase::Active);
    let in_memory = manager.hand_out("s", &Default::default()).await.unwrap();
    assert_eq!(seen_so_far(&bus, prompts).await, Vec::<String>::new(), "the keychain was asked to unlock (a password prompt)");

    // The user unlocks; the app quits: the newest tokens reach the keychain.
    unlock(&bus).await;
    assert!(!is_locked(&bus).await);
    tokio::time::timeout(Duration::from_secs(10), manager.shutdown()).await.expect("the quit hung");
    let saved = stored(&vault, "s").await.expect("tokens in the keychain");
    assert_ne!(refresh_token(&saved), before, "the rotated refresh token was never written");
    assert_eq!(secrecy::ExposeSecret::expose_secret(&saved.access_token), secrecy::ExposeSecret::expose_secret(&in_memory.token));
    let (status, answer) = idp.raw_refresh(&refresh_token(&saved)).await;
    assert_eq!(status, 200, "the saved refresh token works: {answer}");
}
