//! The sealed vault: the secrets in one file of the app's data folder, encrypted with the `age` format,
//! for desktops without a Secret Service (and for tokens the keychain refused at quit).
//!
//! The file, `sealed-tokens.age` (mode 0600), is text: one line naming the format, then two standard
//! ASCII-armored age messages, one after the other.
//!
//! 1. The key: a random X25519 identity made when the file is made (its `AGE-SECRET-KEY-1…` text),
//!    encrypted with the passphrase (age's scrypt recipient, its default work factor, about a second).
//! 2. The items: a JSON object, item name to value, encrypted to that identity's recipient.
//!
//! The passphrase is turned into the key once per unlock; each write encrypts the items to the
//! identity's recipient (fast) and replaces the file atomically (a temporary file of ours in the same
//! folder, fsync, rename, fsync of the folder; temporary files left by a stop are removed at the next
//! open). Nothing in the file is readable without the passphrase: not the tokens, not the client
//! secrets, not the item names. Both messages can be opened with the `age` tool: the first with the
//! passphrase, the second with the identity it holds. Only the identity stays in memory (age zeroizes
//! it when dropped); it is never logged and `Debug` shows nothing of it.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use secrecy::zeroize::{Zeroize, Zeroizing};
use secrecy::{ExposeSecret, SecretString};

use super::Vault;
use crate::error::{Cause, Error, Result};

/// The first line of the file: what it is and which version of the format.
const HEADER: &str = "session-keeper sealed vault 1: an age message of the key (passphrase), then an age message of the items (that key)";
const END: &str = "-----END AGE ENCRYPTED FILE-----";
/// Our temporary files start so (`.sealed-tokens.age.tmp-<pid>-<n>`), and only ours do.
const TEMP_PREFIX: &str = ".sealed-tokens.age.tmp-";

/// What an unlocked vault holds: the identity, and the passphrase-wrapped message of it (to write the
/// file anew if it was removed; it is ciphertext).
struct Key {
    identity: age::x25519::Identity,
    wrapped: String,
}

/// The secrets in one passphrase-sealed file. See the module's documentation for the format.
pub struct SealedVault {
    dir: PathBuf,
    path: PathBuf,
    key: Mutex<Option<Key>>,
    /// The scrypt work factor (log2 N) for a new passphrase; `None` is age's default (about a second).
    work_factor: Option<u8>,
}

impl std::fmt::Debug for SealedVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedVault").field("path", &self.path).field("unlocked", &self.is_unlocked()).finish_non_exhaustive()
    }
}

/// The items, wiped from memory when dropped.
#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
struct Items(BTreeMap<String, String>);

impl Drop for Items {
    fn drop(&mut self) {
        for (mut name, mut value) in std::mem::take(&mut self.0) {
            name.zeroize();
            value.zeroize();
        }
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl SealedVault {
    /// The file's name in the folder.
    pub const FILE_NAME: &'static str = "sealed-tokens.age";

    /// The sealed vault of `dir` (the app's data folder), locked. Removes temporary files of ours that
    /// a stop left there; reads nothing else.
    pub fn new(dir: impl Into<PathBuf>) -> Arc<Self> {
        Self::build(dir.into(), None)
    }

    /// As [`SealedVault::new`], with a scrypt work factor of `2^log_n` for new passphrases instead of
    /// age's default (tests that open many files; a file made so opens as any other).
    #[cfg(any(test, feature = "test-util"))]
    pub fn with_work_factor(dir: impl Into<PathBuf>, log_n: u8) -> Arc<Self> {
        Self::build(dir.into(), Some(log_n))
    }

    fn build(dir: PathBuf, work_factor: Option<u8>) -> Arc<Self> {
        let vault = Self { path: dir.join(Self::FILE_NAME), dir, key: Mutex::new(None), work_factor };
        vault.remove_stale_temp_files();
        Arc::new(vault)
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file exists (so the window asks for the passphrase rather than for a new one).
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Whether the key is in memory.
    pub fn is_unlocked(&self) -> bool {
        self.slot().is_some()
    }

    /// Forgets the key; the file stays.
    pub fn lock(&self) {
        *self.slot() = None;
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Key>> {
        self.key.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens the vault with `passphrase`, making the file (empty) when there is none. A passphrase
    /// that does not open it is [`Error::WrongPassphrase`], with nothing changed. A file that is not
    /// a sealed vault of ours, or is damaged, is set aside (renamed beside itself with the time) and
    /// reported as [`Error::StorageFailed`] saying so; the next call makes a fresh one.
    pub fn unlock(&self, passphrase: &SecretString) -> Result<()> {
        let mut slot = self.slot();
        self.remove_stale_temp_files();
        let key = match self.read_text()? {
            None => {
                let identity = age::x25519::Identity::generate();
                let wrapped = self.wrap(&identity, passphrase)?;
                let key = Key { identity, wrapped };
                self.write(&key, &Items::default())?;
                key
            }
            Some(text) => {
                let (wrapped, items) = match split(&text) {
                    Some(parts) => parts,
                    None => return Err(self.set_aside("it does not have the layout of a sealed vault", None)),
                };
                let identity = match unwrap_identity(wrapped, passphrase) {
                    Ok(identity) => identity,
                    Err(Unwrap::Wrong) => return Err(Error::WrongPassphrase),
                    Err(Unwrap::Damaged(why)) => return Err(self.set_aside("its key cannot be read", Some(why))),
                };
                if let Err(why) = decrypt_items(&identity, items) {
                    return Err(self.set_aside("its items cannot be read with its key", Some(why)));
                }
                Key { identity, wrapped: wrapped.to_owned() }
            }
        };
        *slot = Some(key);
        Ok(())
    }

    /// Seals the key with `new` instead of `old` (the items are not touched). `old` must open the
    /// file ([`Error::WrongPassphrase`] otherwise, nothing changed). With no file yet, makes one
    /// sealed with `new`.
    pub fn change_passphrase(&self, old: &SecretString, new: &SecretString) -> Result<()> {
        // The lock first: a write between the read and the rewrite would be lost.
        let mut slot = self.slot();
        let Some(text) = self.read_text()? else {
            drop(slot);
            return self.unlock(new);
        };
        let Some((wrapped, items)) = split(&text) else {
            return Err(self.set_aside("it does not have the layout of a sealed vault", None));
        };
        let identity = match unwrap_identity(wrapped, old) {
            Ok(identity) => identity,
            Err(Unwrap::Wrong) => return Err(Error::WrongPassphrase),
            Err(Unwrap::Damaged(why)) => return Err(self.set_aside("its key cannot be read", Some(why))),
        };
        let rewrapped = self.wrap(&identity, new)?;
        self.write_text(&format!("{HEADER}\n{rewrapped}{items}"))?;
        if let Some(key) = slot.as_mut() {
            key.wrapped = rewrapped;
        }
        Ok(())
    }

    /// Every item, for moving them to the keychain.
    pub(crate) fn items(&self) -> Result<Vec<(String, SecretString)>> {
        let slot = self.slot();
        let key = slot.as_ref().ok_or(Error::VaultLocked)?;
        let items = self.read_items(key)?;
        Ok(items.0.iter().map(|(name, value)| (name.clone(), SecretString::from(value.clone()))).collect())
    }

    /// Removes the file (its items are elsewhere now); the key stays in memory for later writes.
    pub(crate) fn remove_file(&self) -> Result<()> {
        let _slot = self.slot();
        match fs::remove_file(&self.path) {
            Ok(()) => self.sync_dir().map_err(|err| self.failed("could not be removed", &err)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(self.failed("could not be removed", &err)),
        }
    }

    fn wrap(&self, identity: &age::x25519::Identity, passphrase: &SecretString) -> Result<String> {
        let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
        if let Some(log_n) = self.work_factor {
            recipient.set_work_factor(log_n);
        }
        let text = identity.to_string();
        age::encrypt_and_armor(&recipient, text.expose_secret().as_bytes())
            .map_err(|err| Error::keychain_failed("the sealed vault's key could not be sealed", Some(err.to_string())))
    }

    fn read_items(&self, key: &Key) -> Result<Items> {
        let Some(text) = self.read_text()? else {
            return Ok(Items::default());
        };
        let items = split(&text).map(|(_, items)| items).ok_or_else(|| self.unreadable("it no longer has the layout of a sealed vault"))?;
        decrypt_items(&key.identity, items).map_err(|why| {
            let mut err = self.unreadable("its items cannot be read with the key it was opened with");
            if let Error::KeychainFailed { source, .. } = &mut err {
                *source = Some(Cause(why));
            }
            err
        })
    }

    fn write(&self, key: &Key, items: &Items) -> Result<()> {
        let json = Zeroizing::new(serde_json::to_vec(items).expect("a map of strings serializes"));
        let sealed = age::encrypt_and_armor(&key.identity.to_public(), &json)
            .map_err(|err| Error::keychain_failed("the sealed vault could not encrypt its items", Some(err.to_string())))?;
        self.write_text(&format!("{HEADER}\n{}{sealed}", key.wrapped))
    }

    fn change(&self, edit: impl FnOnce(&mut Items) -> bool) -> Result<()> {
        let slot = self.slot();
        let key = slot.as_ref().ok_or(Error::VaultLocked)?;
        let mut items = self.read_items(key)?;
        if edit(&mut items) { self.write(key, &items) } else { Ok(()) }
    }

    /// The file's text, `None` when there is no file. Bytes that are not text are a damaged file.
    fn read_text(&self) -> Result<Option<String>> {
        let mut bytes = Vec::new();
        match fs::File::open(&self.path).and_then(|mut file| file.read_to_end(&mut bytes)) {
            Ok(_) => Ok(Some(String::from_utf8(bytes).unwrap_or_default())),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(Error::StorageFailed {
                path: self.path.display().to_string(),
                detail: "the sealed vault could not be read".into(),
                advice: "Check that the file belongs to you and can be read, then try again.",
                source: Some(Cause(err.to_string())),
            }),
        }
    }

    /// Replaces the file atomically: a temporary file beside it, flushed to disk, renamed over it, and
    /// the folder flushed so that the rename survives a power cut.
    fn write_text(&self, text: &str) -> Result<()> {
        let temp = self.dir.join(format!("{TEMP_PREFIX}{}-{}", std::process::id(), TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)));
        let written = (|| {
            fs::create_dir_all(&self.dir)?;
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            drop(file);
            fs::rename(&temp, &self.path)?;
            self.sync_dir()
        })();
        written.map_err(|err| {
            let _ = fs::remove_file(&temp);
            self.failed("could not be written", &err)
        })
    }

    fn sync_dir(&self) -> io::Result<()> {
        fs::File::open(&self.dir)?.sync_all()
    }

    fn remove_stale_temp_files(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Renames a file that is not a readable sealed vault beside itself, and says so.
    fn set_aside(&self, why: &str, cause: Option<String>) -> Error {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let aside = self.path.with_file_name(format!("{}.set-aside-{stamp}", Self::FILE_NAME));
        let (detail, advice) = match fs::rename(&self.path, &aside) {
            Ok(()) => (
                format!("{why}, so it was set aside as {}", aside.display()),
                "Enter a passphrase to make a new sealed vault; sessions whose tokens it held ask you to sign in again.",
            ),
            Err(_) => (
                format!("{why}, and it could not be set aside"),
                "Move the file away (or remove it), then enter a passphrase to make a new sealed vault.",
            ),
        };
        tracing::warn!(path = %self.path.display(), "sealed vault set aside: {why}");
        Error::StorageFailed { path: self.path.display().to_string(), detail, advice, source: cause.map(Cause) }
    }

    fn unreadable(&self, why: &str) -> Error {
        Error::keychain_failed(
            format!("the sealed vault {} changed under Session Keeper: {why}. Enter its passphrase again", self.path.display()),
            None,
        )
    }

    fn failed(&self, what: &str, err: &io::Error) -> Error {
        Error::keychain_failed(
            format!(
                "the sealed vault {} {what}; free some disk space or fix the folder's permissions, Session Keeper tries again",
                self.path.display()
            ),
            Some(err.to_string()),
        )
    }
}

impl Vault for SealedVault {
    fn get(&self, name: &str) -> Result<Option<SecretString>> {
        let slot = self.slot();
        let key = slot.as_ref().ok_or(Error::VaultLocked)?;
        Ok(self.read_items(key)?.0.get(name).map(|value| SecretString::from(value.clone())))
    }

    fn set(&self, name: &str, value: &SecretString) -> Result<()> {
        self.change(|items| {
            if let Some(mut old) = items.0.insert(name.to_owned(), value.expose_secret().to_owned()) {
                old.zeroize();
            }
            true
        })
    }

    fn delete(&self, name: &str) -> Result<()> {
        self.change(|items| items.0.remove(name).map(|mut old| old.zeroize()).is_some())
    }
}

/// The two messages after the header line, or `None` when the text is not laid out so.
fn split(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(HEADER)?.strip_prefix('\n')?;
    let end = rest.find(END)? + END.len();
    let end = end + rest[end..].find('\n')? + 1;
    let (wrapped, items) = rest.split_at(end);
    (items.contains(END) && items.trim_start().starts_with("-----BEGIN AGE ENCRYPTED FILE-----")).then_some((wrapped, items))
}

enum Unwrap {
    Wrong,
    Damaged(String),
}

fn unwrap_identity(wrapped: &str, passphrase: &SecretString) -> std::result::Result<age::x25519::Identity, Unwrap> {
    let identity = age::scrypt::Identity::new(passphrase.clone());
    let text = match age::decrypt(&identity, wrapped.as_bytes()) {
        Ok(text) => Zeroizing::new(text),
        Err(age::DecryptError::DecryptionFailed) => return Err(Unwrap::Wrong),
        Err(err) => return Err(Unwrap::Damaged(err.to_string())),
    };
    let text = std::str::from_utf8(&text).map_err(|_| Unwrap::Damaged("the key is not text".into()))?;
    age::x25519::Identity::from_str(text.trim()).map_err(|_| Unwrap::Damaged("the key is not an age identity".into()))
}

fn decrypt_items(identity: &age::x25519::Identity, sealed: &str) -> std::result::Result<Items, String> {
    let json = Zeroizing::new(age::decrypt(identity, sealed.as_bytes()).map_err(|err| err.to_string())?);
    serde_json::from_slice(&json).map_err(|err| format!("the items are not a JSON object of strings: {err}"))
}

#[cfg(test)]
#[path = "sealed_tests.rs"]
mod tests;
