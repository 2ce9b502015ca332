//! The sealed vault (an `age` file sealed by a passphrase) and the desktop vault that falls back to it
//! when no Secret Service answers: what a person without a keychain relies on to keep their sessions
//! across a quit. The keychain "appearing" runs against the test run's gnome-keyring.

use session_keeper_testkit as support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use session_core::{
    DesktopVault, ErrorKind, JsonFileStore, Phase, SealedVault, SecretVault, SessionManager, SessionSecrets, Vault, VaultInUse,
};
use support::{Idp, Ttls, keychain, refresh_token, signed_in};

fn pass(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

fn folder(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sealed-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn value(vault: &dyn Vault, name: &str) -> Option<String> {
    vault.get(name).unwrap().map(|value| value.expose_secret().to_owned())
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp-"))
        .collect()
}

/// A keychain that can be made absent (as on a desktop without a Secret Service) and present again.
struct Switchable {
    inner: Arc<dyn Vault>,
    present: AtomicBool,
}

impl Switchable {
    fn check(&self) -> session_core::Result<()> {
        if self.present.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(session_core::Error::keychain_unavailable("no program on this desktop provides it", None))
        }
    }
}

impl Vault for Switchable {
    fn get(&self, name: &str) -> session_core::Result<Option<SecretString>> {
        self.check()?;
        self.inner.get(name)
    }
    fn set(&self, name: &str, value: &SecretString) -> session_core::Result<()> {
        self.check()?;
        self.inner.set(name, value)
    }
    fn delete(&self, name: &str) -> session_core::Result<()> {
        self.check()?;
        self.inner.delete(name)
    }
}

#[test]
fn items_survive_a_restart_with_the_passphrase_and_only_with_it() {
    let dir = folder("round-trip");
    let vault = SealedVault::new(&dir); // age's default work factor, as the app uses
    assert!(!vault.exists());
    vault.unlock(&pass("correct horse")).unwrap();
    assert!(vault.exists() && vault.is_unlocked());
    vault.set("session/work/tokens", &pass("token-one")).unwrap();
    vault.set("session/work/client-secret", &pass("secret-two")).unwrap();
    vault.set("session/work/tokens", &pass("token-three")).unwrap();
    vault.delete("session/work/client-secret").unwrap();

    let again = SealedVault::new(&dir);
    assert_eq!(again.get("session/work/tokens").unwrap_err().kind(), ErrorKind::VaultLocked);
    let before = std::fs::read(again.path()).unwrap();
    let err = again.unlock(&pass("correct horse ")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongPassphrase, "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert_eq!(std::fs::read(again.path()).unwrap(), before, "a wrong passphrase changed the file");
    assert!(!again.is_unlocked());
    again.unlock(&pass("correct horse")).unwrap();
    assert_eq!(value(again.as_ref(), "session/work/tokens").as_deref(), Some("token-three"));
    assert_eq!(value(again.as_ref(), "session/work/client-secret"), None);
    again.lock();
    assert_eq!(again.get("session/work/tokens").unwrap_err().kind(), ErrorKind::VaultLocked);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_changed_passphrase_opens_the_same_items_and_the_old_one_no_longer_does() {
    let dir = folder("change");
    let vault = SealedVault::with_work_factor(&dir, 12);
    vault.unlock(&pass("old")).unwrap();
    vault.set("a", &pass("kept")).unwrap();
    let err = vault.change_passphrase(&pass("not it"), &pass("new")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongPassphrase);
    vault.change_passphrase(&pass("old"), &pass("new")).unwrap();
    vault.set("b", &pass("written after the change")).unwrap();

    let again = SealedVault::new(&dir);
    assert_eq!(again.unlock(&pass("old")).unwrap_err().kind(), ErrorKind::WrongPassphrase);
    again.unlock(&pass("new")).unwrap();
    assert_eq!(value(again.as_ref(), "a").as_deref(), Some("kept"));
    assert_eq!(value(again.as_ref(), "b").as_deref(), Some("written after the change"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_file_is_private_and_a_scan_of_it_finds_no_token_secret_or_name() {
    let dir = folder("scan");
    let vault = SealedVault::with_work_factor(&dir, 12);
    vault.unlock(&pass("the passphrase")).unwrap();
    let secrets = [
        ("session/payroll-alice/tokens", "eyJhbGciOiJSUzI1NiJ9.access-token-payload.sig"),
        ("session/payroll-alice/client-secret", "client-secret-4f1c2b9e"),
        ("session/git-bob/tokens", "refresh-token-0a9b8c7d6e5f"),
    ];
    for (name, secret) in secrets {
        vault.set(name, &pass(secret)).unwrap();
    }
    let mode = std::fs::metadata(vault.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the sealed file's mode");
    let bytes = std::fs::read(vault.path()).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let b64 = base64::engine::general_purpose::STANDARD;
    for (name, secret) in secrets {
        for needle in [secret.to_owned(), b64.encode(secret), name.to_owned(), "payroll".to_owned(), "the passphrase".to_owned()] {
            assert!(!text.contains(&needle), "{needle:?} is readable in the sealed file");
        }
    }
    assert!(!text.contains("AGE-SECRET-KEY"), "the key is in the clear");
    assert_eq!(temp_files(&dir), Vec::<String>::new());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every kind of file that is not a sealed vault we can read is set aside, not overwritten, with a
/// message saying where it went, and a fresh vault can be made at once.
#[test]
fn a_corrupt_or_foreign_file_is_set_aside_with_a_message_and_a_fresh_one_made() {
    let dir = folder("foreign");
    let good = SealedVault::with_work_factor(&dir, 10);
    good.unlock(&pass("p")).unwrap();
    good.set("a", &pass("v")).unwrap();
    let ours = std::fs::read_to_string(good.path()).unwrap();
    let header = ours.lines().next().unwrap().to_owned();
    let wrapped_end = ours.find("-----END AGE ENCRYPTED FILE-----\n").unwrap() + "-----END AGE ENCRYPTED FILE-----\n".len();
    let other = age::x25519::Identity::generate();
    let foreign_items = age::encrypt_and_armor(&other.to_public(), br#"{"a":"v"}"#).unwrap();
    let random: Vec<u8> = (0..4096).map(|_| rand::rng().random()).collect();
    let plain_age = age::encrypt_and_armor(&age::scrypt::Recipient::new(pass("p")), b"AGE-SECRET-KEY-1 not ours").unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", random),
        ("cut in half", ours.as_bytes()[..ours.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("items for another identity", format!("{}{foreign_items}", &ours[..wrapped_end]).into_bytes()),
        ("a plain age file", plain_age.into_bytes()),
        ("our header over another file", format!("{header}\n{}", "x".repeat(300)).into_bytes()),
    ];
    for (case, bytes) in cases {
        std::fs::write(good.path(), &bytes).unwrap();
        let vault = SealedVault::with_work_factor(&dir, 10);
        let err = vault.unlock(&pass("p")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StorageFailed, "{case}: {err}");
        let message = err.to_string();
        assert!(message.contains("set aside as") && message.contains("Enter a passphrase to make a new sealed vault"), "{case}: {message}");
        assert!(!vault.exists(), "{case}: the file is still in the way");
        let aside: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.to_string_lossy().contains(".set-aside-"))
            .collect();
        assert!(aside.iter().any(|path| std::fs::read(path).unwrap() == bytes), "{case}: the set-aside file holds what was there");
        assert!(message.contains(&aside[0].display().to_string()[..dir.display().to_string().len()]), "{case}: {message}");
        for path in aside {
            std::fs::remove_file(path).unwrap();
        }
        vault.unlock(&pass("p")).unwrap();
        vault.set("fresh", &pass("ok")).unwrap();
        assert_eq!(value(vault.as_ref(), "fresh").as_deref(), Some("ok"), "{case}");
        assert!(value(vault.as_ref(), "a").is_none(), "{case}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The writer a stop test kills: a child process of this test binary (see the test below); idle
/// unless its folder is given.
#[test]
fn child_writer() {
    let Some(dir) = std::env::var_os("SEALED_WRITER_DIR") else { return };
    let start: u64 = std::env::var("SEALED_WRITER_START").unwrap().parse().unwrap();
    let vault = SealedVault::with_work_factor(PathBuf::from(dir), 10);
    vault.unlock(&pass("stop test")).unwrap();
    for n in start.. {
        vault.set("session/s/tokens", &pass(&stamped(n))).unwrap();
        println!("ack {n}");
    }
}

fn stamped(n: u64) -> String {
    format!("{n:012}:").repeat(64)
}

/// kill -9 and SIGTERM at random points of a stream of writes, 60 times: the file always opens with
/// the passphrase and holds the last write acknowledged or the one after it, whole; no temporary file
/// survives the next open.
#[test]
fn kill_and_term_during_writes_leave_a_readable_file_and_no_temporary_file() {
    let dir = folder("stops");
    let first = SealedVault::with_work_factor(&dir, 10);
    first.unlock(&pass("stop test")).unwrap();
    first.set("session/s/client-secret", &pass("the client secret")).unwrap();
    let mut rng = rand::rng();
    let mut caught_mid_write = 0;
    for round in 0..60u64 {
        let start = (round + 1) * 1_000_000;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
            .env("SEALED_WRITER_DIR", &dir)
            .env("SEALED_WRITER_START", start.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let wanted = rng.random_range(1..=12);
        let mut acked = 0;
        let mut seen = 0;
        while seen < wanted {
            let line = lines.next().expect("the writer stopped on its own").unwrap();
            if let Some(n) = line.strip_prefix("ack ") {
                acked = n.parse().unwrap();
                seen += 1;
            }
        }
        // Land the signal anywhere within the next write or two.
        std::thread::sleep(Duration::from_micros(rng.random_range(0..3000)));
        if round % 2 == 0 {
            child.kill().unwrap();
        } else {
            assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
        }
        let status = child.wait().unwrap();
        assert!(!status.success(), "round {round}: the writer was not stopped");
        for line in lines.map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("ack ") {
                acked = n.parse().unwrap();
            }
        }
        if !temp_files(&dir).is_empty() {
            caught_mid_write += 1;
        }
        let vault = SealedVault::new(&dir);
        assert_eq!(temp_files(&dir), Vec::<String>::new(), "round {round}: a temporary file survived the open");
        vault.unlock(&pass("stop test")).unwrap_or_else(|err| panic!("round {round}: {err}"));
        let found = value(vault.as_ref(), "session/s/tokens").unwrap();
        assert!(found == stamped(acked) || found == stamped(acked + 1), "round {round}: acknowledged {acked}, found {}", &found[..12]);
        assert_eq!(value(vault.as_ref(), "session/s/client-secret").as_deref(), Some("the client secret"), "round {round}");
    }
    println!("60 stops, {caught_mid_write} of them in the middle of a write (a temporary file was there)");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A Secret Service that appears (gnome-keyring here) gets every item of the sealed file, each read
/// back, and the sealed file is removed.
#[test]
fn a_secret_service_that_appears_gets_every_item_and_the_sealed_file_goes() {
    let dir = folder("appears");
    let real = keychain("sealed-appears");
    let switch = Arc::new(Switchable { inner: real.clone(), present: AtomicBool::new(false) });
    let desktop = DesktopVault::new(switch.clone(), SealedVault::with_work_factor(&dir, 10));
    assert_eq!(desktop.set("session/a/tokens", &pass("1")).unwrap_err().kind(), ErrorKind::VaultLocked);
    assert_eq!(desktop.in_use(), VaultInUse::MemoryOnly);
    desktop.sealed().unlock(&pass("p")).unwrap();
    let items = [("session/a/tokens", "tokens-a"), ("session/a/client-secret", "secret-a"), ("session/b/tokens", "tokens-b")];
    for (name, secret) in items {
        desktop.set(name, &pass(secret)).unwrap();
    }
    assert_eq!(desktop.in_use(), VaultInUse::Sealed);
    assert!(real.get("session/a/tokens").unwrap().is_none(), "nothing reached the keychain while it was absent");

    switch.present.store(true, Ordering::SeqCst);
    assert_eq!(desktop.move_to_keychain().unwrap(), 3);
    assert!(!desktop.sealed().exists(), "the sealed file is removed");
    for (name, secret) in items {
        assert_eq!(value(real.as_ref(), name).as_deref(), Some(secret), "{name} in the keychain");
        assert_eq!(value(desktop.as_ref(), name).as_deref(), Some(secret));
    }
    assert_eq!(desktop.in_use(), VaultInUse::Keychain);
    for (name, _) in items {
        desktop.delete(name).unwrap();
        assert!(real.get(name).unwrap().is_none());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Without any Secret Service: a manager on the desktop vault signs in and refreshes with the tokens
/// in the sealed file, and a restart with the same file and passphrase keeps the session, its
/// rotated refresh token included.
#[tokio::test]
async fn without_a_keychain_a_session_survives_a_restart_after_the_passphrase() {
    let idp = Idp::start(Ttls::default());
    let dir = folder("manager");
    let store_path = dir.join("sessions.json");
    let absent = || Arc::new(Switchable { inner: Arc::new(session_core::MemoryVault::new()), present: AtomicBool::new(false) });
    let desktop = DesktopVault::new(absent(), SealedVault::new(&dir));
    desktop.sealed().unlock(&pass("my passphrase")).unwrap();
    let build = |vault: Arc<DesktopVault>| SessionManager::builder().vault(vault).store(Arc::new(JsonFileStore::new(&store_path))).build();
    let first = build(desktop.clone()).await.unwrap();
    let before = signed_in(&first, &idp, "s", "alice").await;
    assert_eq!(desktop.in_use(), VaultInUse::Sealed);
    let signed_in_tokens = tokens(&desktop).await;
    assert_eq!(first.refresh("s", true).await.unwrap().phase, Phase::Active);
    let refreshed = tokens(&desktop).await;
    assert_ne!(refresh_token(&refreshed), refresh_token(&signed_in_tokens), "the rotated refresh token is in the sealed file");
    first.shutdown().await;

    let file = std::fs::read_to_string(desktop.sealed().path()).unwrap() + &std::fs::read_to_string(&store_path).unwrap();
    for secrets in [&signed_in_tokens, &refreshed] {
        assert!(!file.contains(secrets.access_token.expose_secret()) && !file.contains(&refresh_token(secrets)), "a token is readable");
    }

    let restarted = DesktopVault::new(absent(), SealedVault::new(&dir));
    restarted.sealed().unlock(&pass("my passphrase")).unwrap();
    let second = build(restarted.clone()).await.unwrap();
    let restored = second.snapshot("s").await.unwrap();
    assert_eq!((restored.phase, restored.user.clone()), (Phase::Active, before.user.clone()));
    assert_eq!(second.refresh("s", true).await.unwrap().phase, Phase::Active, "the stored refresh token was the current one");
    second.shutdown().await;

    // As the app starts: the manager first, the passphrase entered afterwards.
    let later = DesktopVault::new(absent(), SealedVault::new(&dir));
    let third = build(later.clone()).await.unwrap();
    let waiting = third.refresh("s", true).await;
    let phase = third.snapshot("s").await.unwrap().phase;
    assert_ne!(phase, Phase::SignedOut, "the session ended while the passphrase was not entered yet: {waiting:?}");
    assert_eq!(waiting.unwrap_err().kind(), ErrorKind::VaultLocked);
    let card = third.snapshot("s").await.unwrap().last_error.expect("the card says what to do");
    assert_eq!(card.kind, ErrorKind::VaultLocked, "{card:?}");
    later.sealed().unlock(&pass("my passphrase")).unwrap();
    assert_eq!(third.refresh("s", true).await.unwrap().phase, Phase::Active, "after the passphrase");
    assert_eq!(later.in_use(), VaultInUse::Sealed);
    third.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn tokens(vault: &Arc<DesktopVault>) -> SessionSecrets {
    SecretVault::new(vault.clone() as Arc<dyn Vault>, Duration::from_secs(10)).load_tokens("s").await.unwrap().expect("tokens stored")
}
