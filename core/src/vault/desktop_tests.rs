use super::*;
use crate::vault::MemoryVault;

fn pass(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

fn value(vault: &dyn Vault, name: &str) -> Option<String> {
    vault.get(name).unwrap().map(|value| value.expose_secret().to_owned())
}

fn setup(tag: &str) -> (std::path::PathBuf, Arc<MemoryVault>, Arc<DesktopVault>) {
    let dir = std::env::temp_dir().join(format!("desktop-unit-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let keychain = Arc::new(MemoryVault::new());
    let desktop = DesktopVault::new(keychain.clone(), SealedVault::with_work_factor(&dir, 10));
    (dir, keychain, desktop)
}

fn absent() -> Error {
    Error::keychain_unavailable("no program on this desktop provides it", None)
}

#[test]
fn without_a_keychain_the_sealed_vault_takes_the_tokens_or_asks_for_its_passphrase() {
    let (dir, keychain, desktop) = setup("absent");
    keychain.fail_with(Some(absent));
    let err = desktop.set("a", &pass("1")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VaultLocked, "{err}");
    assert!(err.kind().is_keychain(), "the tokens wait in memory");
    assert_eq!(desktop.in_use(), VaultInUse::MemoryOnly);
    desktop.sealed().unlock(&pass("p")).unwrap();
    desktop.set("a", &pass("1")).unwrap();
    assert_eq!(desktop.in_use(), VaultInUse::Sealed);
    assert_eq!(value(desktop.as_ref(), "a").as_deref(), Some("1"));
    assert_eq!(value(desktop.as_ref(), "b"), None);
    desktop.delete("a").unwrap();
    assert_eq!(value(desktop.as_ref(), "a"), None);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_keychain_locked_at_quit_leaves_the_write_to_the_sealed_vault_and_a_later_read_finds_it() {
    let (dir, keychain, desktop) = setup("locked");
    desktop.set("t", &pass("old")).unwrap();
    assert_eq!(desktop.in_use(), VaultInUse::Keychain);
    keychain.fail_with(Some(|| Error::KeychainLocked));
    assert_eq!(desktop.set("t", &pass("new")).unwrap_err().kind(), ErrorKind::KeychainLocked, "no sealed vault unlocked: told");
    desktop.sealed().unlock(&pass("p")).unwrap();
    desktop.set("t", &pass("new")).unwrap();
    assert_eq!(desktop.in_use(), VaultInUse::Sealed);
    // Still locked: the sealed copy, the newer, is read.
    assert_eq!(value(desktop.as_ref(), "t").as_deref(), Some("new"));
    // Unlocked: the first call the keychain takes moves the sealed items there and removes the file.
    keychain.fail_with(None);
    assert_eq!(value(desktop.as_ref(), "t").as_deref(), Some("new"));
    desktop.get("other").unwrap();
    assert!(!desktop.sealed().exists(), "the sealed file is removed once the keychain has everything");
    assert_eq!(value(keychain.as_ref(), "t").as_deref(), Some("new"));
    assert_eq!(desktop.in_use(), VaultInUse::Keychain);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_move_that_fails_midway_keeps_the_sealed_file_whole() {
    let (dir, keychain, desktop) = setup("midway");
    keychain.fail_with(Some(absent));
    desktop.sealed().unlock(&pass("p")).unwrap();
    desktop.set("a", &pass("1")).unwrap();
    desktop.set("b", &pass("2")).unwrap();
    assert_eq!(desktop.move_to_keychain().unwrap_err().kind(), ErrorKind::KeychainUnavailable);
    assert!(desktop.sealed().exists());
    assert_eq!(value(desktop.sealed().as_ref(), "b").as_deref(), Some("2"));
    keychain.fail_with(None);
    assert_eq!(desktop.move_to_keychain().unwrap(), 2);
    assert!(!desktop.sealed().exists());
    assert_eq!((value(keychain.as_ref(), "a").as_deref(), value(keychain.as_ref(), "b").as_deref()), (Some("1"), Some("2")));
    assert_eq!(desktop.move_to_keychain().unwrap(), 0, "nothing left to move");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_delete_while_a_sealed_file_is_locked_says_so_rather_than_let_the_item_come_back() {
    let (dir, keychain, desktop) = setup("delete");
    keychain.fail_with(Some(absent));
    desktop.sealed().unlock(&pass("p")).unwrap();
    desktop.set("a", &pass("1")).unwrap();
    desktop.sealed().lock();
    keychain.fail_with(None);
    assert_eq!(desktop.delete("a").unwrap_err().kind(), ErrorKind::VaultLocked);
    desktop.sealed().unlock(&pass("p")).unwrap();
    desktop.delete("a").unwrap();
    assert_eq!(value(desktop.as_ref(), "a"), None);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_locked_sealed_file_holds_reads_and_writes_until_the_passphrase_even_with_a_keychain() {
    let (dir, keychain, desktop) = setup("locked-file");
    desktop.set("t", &pass("old")).unwrap();
    keychain.fail_with(Some(|| Error::KeychainLocked));
    desktop.sealed().unlock(&pass("p")).unwrap();
    desktop.set("t", &pass("newer")).unwrap();
    // A restart: the keychain is open again, the sealed file is not unlocked yet.
    desktop.sealed().lock();
    keychain.fail_with(None);
    assert_eq!(desktop.get("t").unwrap_err().kind(), ErrorKind::VaultLocked, "not the keychain's older copy");
    assert_eq!(desktop.get("absent").unwrap_err().kind(), ErrorKind::VaultLocked, "not \"no tokens\" (that ends a session)");
    assert_eq!(desktop.set("t", &pass("newest")).unwrap_err().kind(), ErrorKind::VaultLocked);
    assert_eq!(value(keychain.as_ref(), "t").as_deref(), Some("old"), "nothing written while the file is locked");
    assert_eq!(desktop.in_use(), VaultInUse::MemoryOnly);
    desktop.sealed().unlock(&pass("p")).unwrap();
    assert_eq!(value(desktop.as_ref(), "t").as_deref(), Some("newer"));
    desktop.set("t", &pass("newest")).unwrap();
    assert!(!desktop.sealed().exists(), "moved to the keychain once it took a write");
    assert_eq!(value(keychain.as_ref(), "t").as_deref(), Some("newest"));
    std::fs::remove_dir_all(&dir).unwrap();
}
