use super::*;

fn pass(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

fn folder() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sealed-unit-{}-{}", std::process::id(), TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)));
    let _ = fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_locked_vault_refuses_with_the_passphrase_kind_and_debug_shows_no_key() {
    let dir = folder();
    let vault = SealedVault::with_work_factor(&dir, 10);
    assert_eq!(vault.get("a").unwrap_err().kind(), crate::ErrorKind::VaultLocked);
    assert_eq!(vault.set("a", &pass("v")).unwrap_err().kind(), crate::ErrorKind::VaultLocked);
    assert!(!vault.exists(), "nothing is written while locked");
    vault.unlock(&pass("p")).unwrap();
    vault.set("a", &pass("the-value")).unwrap();
    let shown = format!("{vault:?}");
    assert!(shown.contains("unlocked: true") && !shown.contains("AGE-SECRET-KEY") && !shown.contains("the-value"), "{shown}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_file_is_a_header_and_two_age_messages() {
    let dir = folder();
    let vault = SealedVault::with_work_factor(&dir, 10);
    vault.unlock(&pass("p")).unwrap();
    vault.set("session/work/tokens", &pass("tok")).unwrap();
    let text = fs::read_to_string(vault.path()).unwrap();
    let (wrapped, items) = split(&text).expect("our layout");
    assert!(wrapped.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    // The first opens with the passphrase and holds an identity, which opens the second.
    let identity = unwrap_identity(wrapped, &pass("p")).ok().unwrap();
    assert_eq!(decrypt_items(&identity, items).unwrap().0.get("session/work/tokens").map(String::as_str), Some("tok"));
    assert!(matches!(unwrap_identity(wrapped, &pass("q")), Err(Unwrap::Wrong)));
    assert!(split("not ours").is_none());
    assert!(split(&format!("{HEADER}\n{wrapped}")).is_none(), "one message only is not our layout");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn deleting_a_missing_item_writes_nothing() {
    let dir = folder();
    let vault = SealedVault::with_work_factor(&dir, 10);
    vault.unlock(&pass("p")).unwrap();
    let before = fs::read_to_string(vault.path()).unwrap();
    vault.delete("none").unwrap();
    assert_eq!(fs::read_to_string(vault.path()).unwrap(), before);
    vault.remove_file().unwrap();
    assert!(vault.get("x").unwrap().is_none(), "no file, no items");
    vault.set("x", &pass("y")).unwrap();
    vault.lock();
    vault.unlock(&pass("p")).unwrap();
    assert_eq!(vault.get("x").unwrap().map(|v| v.expose_secret().to_owned()), Some("y".into()), "rewritten with the same key");
    fs::remove_dir_all(&dir).unwrap();
}
