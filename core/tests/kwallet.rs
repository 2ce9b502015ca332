//! The core's keychain vault (`KeyringVault`, the one the app uses) against KWallet: kwalletd5 from
//! Debian (KDE Frameworks 5.103) serving the Secret Service API, on a private bus with a wallet made
//! for the test (tests/support's `kwallet`), and the real test provider.
//!
//! The vault reaches the Secret Service on the session bus named by `DBUS_SESSION_BUS_ADDRESS`, and a
//! test may not change its own environment (`set_var` is unsafe, denied here): the test starts
//! kwalletd5, then runs itself again as a child process whose session bus is kwalletd5's, and that
//! child does the work. Nothing else shares that bus, so no gnome-keyring can answer in its place.

use session_keeper_testkit as support;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use session_core::{ErrorKind, JsonFileStore, Phase, SessionManager};
use support::kwallet::{KWallet, SECRET_SERVICE_FOLDER};
use support::{Idp, Ttls, keychain, refresh_token, signed_in, stored};

/// Set in the child: the private bus's address, and kwalletd5's data folder.
const CHILD: &str = "SESSION_KEEPER_KWALLET_CHILD";

/// Runs `test` (this file's test of that name) in a child process on the wallet's bus, bounded.
async fn in_child_on(wallet: &KWallet, test: &str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, wallet.data_folder())
        .envs(wallet.env())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child test {test} did not end within 180 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "the child test {test} failed on KWallet: {status}");
}

/// What KWallet keeps for the vault's item `name` (its Secret Service label is
/// `keyring:NAME@SERVICE`, and kwalletd5 files an item in the folder named by the label's part before its first `/`, under
/// the rest; a label without `/` goes to the folder "Secret Service").
async fn in_wallet(wallet: &KWallet, service: &str, name: &str) -> Option<String> {
    let label = format!("keyring:{name}@{service}");
    let (folder, key) = label.split_once('/').unwrap_or((SECRET_SERVICE_FOLDER, &label));
    wallet.entry(folder, key).await.map(|bytes| String::from_utf8(bytes).expect("the item is text"))
}

#[tokio::test]
async fn kwallet_keeps_a_session_through_sign_in_refresh_restart_hand_out_and_sign_out() {
    const NAME: &str = "kwallet_keeps_a_session_through_sign_in_refresh_restart_hand_out_and_sign_out";
    if std::env::var_os(CHILD).is_none() {
        let wallet = KWallet::start().await;
        return in_child_on(&wallet, NAME).await;
    }
    // In the child, on kwalletd5's bus.
    let wallet = KWallet::attach().await;
    let idp = Idp::start(Ttls::default());
    let vault = keychain("kwallet");
    let service = format!("session-keeper-test-kwallet-{}", std::process::id());
    let path = std::env::temp_dir().join(format!("session-core-kwallet-{}/sessions.json", std::process::id()));
    let build = || SessionManager::builder().vault(vault.clone()).store(Arc::new(JsonFileStore::new(&path))).build();

    // Sign-in: the tokens go to the wallet, as one item.
    let first = build().await.unwrap();
    let before = signed_in(&first, &idp, "work", "alice").await;
    assert_eq!(before.phase, Phase::Active);
    let secrets = stored(&vault, "work").await.expect("tokens in KWallet");
    let kept = in_wallet(&wallet, &service, "session/work/tokens").await.expect("the tokens item in the wallet itself");
    assert!(kept.contains(&refresh_token(&secrets)), "the wallet holds another refresh token");

    // Refresh: the rotated refresh token is written through to the wallet.
    let old = refresh_token(&secrets);
    let requests = idp.token_requests().await;
    first.refresh("work", true).await.unwrap();
    assert_eq!(idp.token_requests().await, requests + 1);
    let new = refresh_token(&stored(&vault, "work").await.unwrap());
    assert_ne!(new, old, "the provider rotates refresh tokens");
    let kept = in_wallet(&wallet, &service, "session/work/tokens").await.unwrap();
    assert!(kept.contains(&new) && !kept.contains(&old), "the wallet did not get the rotated refresh token");
    first.shutdown().await;

    // Restart: a new manager with the same store restores the session from the wallet, with no
    // token request; a hand-out gives the token the wallet holds.
    let requests = idp.token_requests().await;
    let second = build().await.unwrap();
    let restored = second.snapshot("work").await.unwrap();
    assert_eq!((restored.phase, restored.user.clone()), (Phase::Active, before.user.clone()));
    let token = second.access_token("work").await.unwrap();
    assert_eq!(idp.token_requests().await, requests, "a restart or a hand-out asked the provider");
    assert_eq!(token.token.expose_secret(), stored(&vault, "work").await.unwrap().access_token.expose_secret());

    // The attributes kwalletd5 keeps for the item, beside the wallet and not encrypted: the vault's
    // service and item name, never a token.
    let attributes =
        std::fs::read_to_string(std::path::Path::new(&std::env::var_os(CHILD).unwrap()).join("kdewallet_attributes.json")).unwrap();
    assert!(attributes.contains(&service) && attributes.contains("session/work/tokens"), "{attributes}");
    assert!(!attributes.contains(&new) && !attributes.contains(token.token.expose_secret()), "a token in the attributes file");

    // Locked (the wallet closed): the vault says so without opening kwalletd5's password dialog,
    // and the session keeps its tokens in memory; unlocked again, the next refresh writes through.
    wallet.lock().await;
    let began = Instant::now();
    let session = second.refresh("work", true).await.unwrap();
    assert!(began.elapsed() < Duration::from_secs(2), "the refresh waited {:?}: an unlock dialog was asked for", began.elapsed());
    let error = session.last_error.as_ref().expect("the card says why the tokens are not saved");
    assert_eq!(error.kind, ErrorKind::KeychainLocked, "{}", error.message);
    assert!(wallet.locked().await, "the vault opened the wallet");
    wallet.unlock().await;
    second.refresh("work", true).await.unwrap();
    let newest = refresh_token(&stored(&vault, "work").await.unwrap());
    assert!(in_wallet(&wallet, &service, "session/work/tokens").await.unwrap().contains(&newest));

    // Sign-out: the item is deleted from the wallet.
    second.sign_out("work").await.unwrap();
    assert!(stored(&vault, "work").await.is_none(), "tokens left after sign-out");
    assert_eq!(in_wallet(&wallet, &service, "session/work/tokens").await, None, "the wallet kept the item");
    second.shutdown().await;
}

/// A KDE login with kwallet-pam opens the wallet with the login password; the Secret Service still
/// reads it locked until a client unlocks it, which then needs no password. The app must not call the
/// keychain locked then, nor show a dialog: it keeps the tokens in the wallet at once.
#[tokio::test]
async fn a_wallet_opened_at_a_kde_login_is_used_without_a_prompt() {
    const NAME: &str = "a_wallet_opened_at_a_kde_login_is_used_without_a_prompt";
    if std::env::var_os(CHILD).is_none() {
        let wallet = KWallet::start_at_login().await;
        return in_child_on(&wallet, NAME).await;
    }
    let wallet = KWallet::attach().await;
    assert!(wallet.locked().await, "the wallet reads locked on the Secret Service before the app asks");
    let idp = Idp::start(Ttls::default());
    let vault = keychain("kwallet-login");
    let service = format!("session-keeper-test-kwallet-login-{}", std::process::id());
    let manager = support::manager(vault.clone(), session_core::Policy::default()).await;
    let began = Instant::now();
    let session = signed_in(&manager, &idp, "work", "alice").await;
    assert!(began.elapsed() < Duration::from_secs(5), "the sign-in waited {:?}: a dialog?", began.elapsed());
    assert_eq!(session.last_error.as_ref().map(|e| e.kind), None, "{:?}", session.last_error);
    let secrets = stored(&vault, "work").await.expect("tokens in KWallet");
    let kept = in_wallet(&wallet, &service, "session/work/tokens").await.expect("the tokens item in the wallet itself");
    assert!(kept.contains(&refresh_token(&secrets)));
    manager.shutdown().await;
}
