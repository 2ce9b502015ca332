//! The vault the desktop app uses: the keychain when a Secret Service answers, the sealed vault when
//! none does (or when the keychain refuses a write, locked at quit), and otherwise an error of the
//! keychain's kind, so the tokens wait in memory and the write is retried.
//!
//! Where an item is found: the sealed vault first (while it is unlocked and its file exists), since it
//! only ever holds what the keychain could not take, so its copy is the newer one; then the keychain.
//! While the sealed file exists and is locked, reads and writes answer [`Error::VaultLocked`]: its
//! copies may be the newer ones.
//! Whenever the keychain takes a call while the sealed file exists and is unlocked, every item of the
//! file is copied to the keychain, read back, and the file removed ([`DesktopVault::move_to_keychain`]).

use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};

use super::{SealedVault, Vault};
use crate::error::{Error, ErrorKind, Result};

/// Which vault the last call used, for the window to say where the tokens are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VaultInUse {
    /// The desktop's keychain (a Secret Service).
    Keychain,
    /// The passphrase-sealed file in the app's data folder.
    Sealed,
    /// Neither could take the tokens: they are in memory only (lost at quit).
    MemoryOnly,
}

/// The keychain, with the sealed vault standing in when the keychain cannot take the tokens.
pub struct DesktopVault {
    keychain: Arc<dyn Vault>,
    sealed: Arc<SealedVault>,
    in_use: Mutex<VaultInUse>,
    /// One call at a time: a move to the keychain removes the sealed file, which must not happen
    /// between a write to it and the read of that item.
    turn: Mutex<()>,
}

impl std::fmt::Debug for DesktopVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesktopVault").field("sealed", &self.sealed).field("in_use", &self.in_use()).finish_non_exhaustive()
    }
}

impl DesktopVault {
    /// `keychain` is the app's [`KeyringVault`](super::KeyringVault); `sealed` the data folder's sealed vault.
    pub fn new(keychain: Arc<dyn Vault>, sealed: Arc<SealedVault>) -> Arc<Self> {
        Arc::new(Self { keychain, sealed, in_use: Mutex::new(VaultInUse::Keychain), turn: Mutex::new(()) })
    }

    /// The sealed vault (to unlock it, change its passphrase, lock it).
    pub fn sealed(&self) -> &Arc<SealedVault> {
        &self.sealed
    }

    /// Which vault the last call used ([`VaultInUse::Keychain`] before any call).
    pub fn in_use(&self) -> VaultInUse {
        *self.in_use.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn note(&self, used: VaultInUse) {
        *self.in_use.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = used;
    }

    /// Copies every item of the sealed file to the keychain, reads each back, then removes the file.
    /// Stops at the first item the keychain refuses or gives back otherwise, leaving the file whole
    /// (nothing is lost; the copies made so far are the same values). Returns how many items moved; 0
    /// when there is no file. The sealed vault must be unlocked ([`Error::VaultLocked`] otherwise).
    pub fn move_to_keychain(&self) -> Result<usize> {
        let _turn = self.turn();
        self.move_items()
    }

    fn turn(&self) -> std::sync::MutexGuard<'_, ()> {
        self.turn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn move_items(&self) -> Result<usize> {
        if !self.sealed.exists() {
            return Ok(0);
        }
        let items = self.sealed.items()?;
        for (name, value) in &items {
            self.keychain.set(name, value)?;
            let back = self.keychain.get(name)?;
            if back.as_ref().map(ExposeSecret::expose_secret) != Some(value.expose_secret()) {
                return Err(Error::keychain_failed(
                    "it did not give back an item just stored in it; the sealed vault keeps the tokens, try again later",
                    None,
                ));
            }
        }
        self.sealed.remove_file()?;
        tracing::info!(items = items.len(), "the sealed vault's items moved to the keychain, its file removed");
        Ok(items.len())
    }

    /// After a call the keychain took: moves the sealed file's items there, if there is a file to move.
    fn tidy(&self) {
        if self.sealed.is_unlocked()
            && self.sealed.exists()
            && let Err(err) = self.move_items()
        {
            tracing::warn!(kind = %err.kind(), "the sealed vault's items stay there for now: {err}");
        }
    }

    /// A sealed file that exists but is locked may hold a newer copy of any item than the keychain
    /// (written when the keychain refused at quit): reading the keychain's could hand out a refresh
    /// token the provider has rotated since, and writing there would let the file's older copy win
    /// after the unlock. So reads and writes wait for the passphrase (the tokens wait in memory).
    fn check_sealed_file(&self) -> Result<()> {
        if self.sealed.exists() && !self.sealed.is_unlocked() {
            self.note(VaultInUse::MemoryOnly);
            return Err(Error::VaultLocked);
        }
        Ok(())
    }

    /// The error when the keychain refused and the sealed vault cannot stand in.
    fn refused(&self, err: Error) -> Error {
        self.note(VaultInUse::MemoryOnly);
        if err.kind() == ErrorKind::KeychainUnavailable { Error::VaultLocked } else { err }
    }
}

impl Vault for DesktopVault {
    fn get(&self, name: &str) -> Result<Option<SecretString>> {
        let _turn = self.turn();
        self.check_sealed_file()?;
        if self.sealed.is_unlocked()
            && let Some(value) = self.sealed.get(name)?
        {
            return Ok(Some(value));
        }
        match self.keychain.get(name) {
            Ok(value) => {
                self.note(VaultInUse::Keychain);
                self.tidy();
                Ok(value)
            }
            Err(err) if err.kind() == ErrorKind::KeychainUnavailable && self.sealed.is_unlocked() => {
                self.note(VaultInUse::Sealed);
                Ok(None)
            }
            Err(err) if err.kind().is_keychain() => Err(self.refused(err)),
            Err(err) => Err(err),
        }
    }

    fn set(&self, name: &str, value: &SecretString) -> Result<()> {
        let _turn = self.turn();
        self.check_sealed_file()?;
        match self.keychain.set(name, value) {
            Ok(()) => {
                self.note(VaultInUse::Keychain);
                if self.sealed.is_unlocked() && self.sealed.exists() {
                    // The keychain has the newer value: the sealed copy must not shadow it.
                    self.sealed.delete(name)?;
                    self.tidy();
                }
                Ok(())
            }
            Err(err) if err.kind().is_keychain() && self.sealed.is_unlocked() => {
                tracing::info!(kind = %err.kind(), "the keychain refused a write; the sealed vault took it");
                self.sealed.set(name, value)?;
                self.note(VaultInUse::Sealed);
                Ok(())
            }
            Err(err) if err.kind().is_keychain() => Err(self.refused(err)),
            Err(err) => Err(err),
        }
    }

    fn delete(&self, name: &str) -> Result<()> {
        let _turn = self.turn();
        if self.sealed.is_unlocked() {
            self.sealed.delete(name)?;
        }
        match self.keychain.delete(name) {
            // A locked sealed file may still hold the item: it would come back at the next unlock.
            Ok(()) if self.sealed.exists() && !self.sealed.is_unlocked() => Err(Error::VaultLocked),
            Ok(()) => Ok(()),
            Err(err) if err.kind() == ErrorKind::KeychainUnavailable && self.sealed.is_unlocked() => Ok(()),
            Err(err) if err.kind().is_keychain() => Err(self.refused(err)),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
#[path = "desktop_tests.rs"]
mod tests;
