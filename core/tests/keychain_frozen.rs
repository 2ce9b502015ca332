//! A keychain that stops answering (gnome-keyring SIGSTOPped, as a hung daemon or a stuck unlock
//! prompt would be) during refreshes, against the real provider. Its own test binary: freezing the
//! Secret Service would stall tests running beside it.

use session_keeper_testkit as support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use session_core::{ErrorKind, JsonFileStore, Phase, SessionManager};
use support::{Idp, Ttls, keychain, refresh_token, secret_service_pid, signed_in, stored};

/// Freezes a process until dropped, so that a failing assertion cannot leave it frozen.
struct Frozen(u32);

impl Frozen {
    fn new(pid: u32) -> Frozen {
        assert!(std::process::Command::new("kill").args(["-STOP", &pid.to_string()]).status().unwrap().success());
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").args(["-CONT", &self.0.to_string()]).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_keychain_holds_up_nothing_and_loses_no_rotated_token() {
    let idp = Idp::start(Ttls::default());
    let vault = keychain("frozen");
    let folder = std::env::temp_dir().join(format!("session-core-frozen-{}", std::process::id()));
    let build = || {
        SessionManager::builder()
            .vault(vault.clone())
            .store(Arc::new(JsonFileStore::new(folder.join("sessions.json"))))
            .vault_timeout(Duration::from_secs(1))
            .build()
    };
    let manager = build().await.unwrap();
    signed_in(&manager, &idp, "s", "alice").await;
    let before = refresh_token(&stored(&vault, "s").await.unwrap());

    let frozen = Frozen::new(secret_service_pid());
    // The provider rotates the refresh token; the keychain does not answer the write. The refresh
    // still ends within the keychain's timeout, the card says why, and the new tokens stay in memory.
    let started = Instant::now();
    let session = manager.refresh("s", true).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(4), "the refresh waited {:?} for the keychain", started.elapsed());
    assert_eq!(session.phase, Phase::Active);
    assert_eq!(session.last_error.as_ref().map(|e| e.kind), Some(ErrorKind::KeychainUnavailable));
    // The next refresh uses the rotated token from memory: the provider accepts it.
    let session = tokio::time::timeout(Duration::from_secs(10), manager.refresh("s", true)).await.expect("hung").unwrap();
    assert_eq!(session.phase, Phase::Active);
    // The keychain answers again; the app quits: the newest tokens are in the keychain.
    drop(frozen);
    tokio::time::timeout(Duration::from_secs(10), manager.shutdown()).await.expect("the quit hung");

    let after = refresh_token(&stored(&vault, "s").await.unwrap());
    assert_ne!(after, before, "the keychain still holds the spent token");
    let restarted = build().await.unwrap();
    assert_eq!(restarted.refresh("s", true).await.unwrap().phase, Phase::Active);
    let stats = idp.stats().await;
    assert!(stats["grantErrors"].as_object().unwrap().is_empty(), "a spent refresh token was used: {stats}");
    let _ = std::fs::remove_dir_all(&folder);
}
