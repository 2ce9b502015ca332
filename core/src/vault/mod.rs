//! Where secrets live. [`Vault`] is a small blocking key-value interface; [`KeyringVault`] keeps each
//! item in the OS keychain (the Secret Service on Linux) and [`MemoryVault`] is for unit tests only.
//! [`SecretVault`] is what the rest of the crate uses: it runs vault calls off the async runtime with a
//! timeout (a frozen Secret Service must not hang the app) and stores typed session secrets.
//! [`SealedVault`] keeps them in a passphrase-sealed `age` file when no keychain can, and
//! [`DesktopVault`], the app's, chooses between the two.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use zbus::zvariant::OwnedObjectPath;

use crate::error::{Error, Result};
use crate::secret::SessionSecrets;

mod desktop;
mod kwallet;
mod sealed;
pub use desktop::{DesktopVault, VaultInUse};
pub use sealed::SealedVault;

/// A blocking store of named secrets.
pub trait Vault: Send + Sync + 'static {
    /// Reads an item; a missing item is `Ok(None)`.
    fn get(&self, name: &str) -> Result<Option<SecretString>>;
    /// Creates or replaces an item.
    fn set(&self, name: &str, value: &SecretString) -> Result<()>;
    /// Deletes an item; a missing item is not an error.
    fn delete(&self, name: &str) -> Result<()>;
}

/// The OS keychain through the keyring project's Secret Service store.
///
/// `keyring` 4's one-line `Entry::new` connects once per process and keeps a failed connection
/// failed; the keyring authors advise apps that need control to use `keyring-core` with the store
/// crate directly, which is what this does so that a Secret Service that starts late (autostart at
/// login) or restarts is picked up on the next call instead of after an app restart.
///
/// A locked keychain is reported as [`Error::KeychainLocked`] without touching it: the store, given a
/// locked collection, asks the Secret Service to unlock it, which opens a password prompt, at whatever
/// moment a background refresh happens to run, possibly with no window of ours in sight. The user
/// unlocks the keychain when they choose (the card says so); the next retry finds it open. The one
/// exception is a KWallet that is open but reads locked (see `kwallet.rs`): unlocking it asks nothing.
pub struct KeyringVault {
    service: String,
    store: Mutex<Option<Arc<keyring_core::CredentialStore>>>,
    /// The default collection's properties, on a bus connection of its own (made on first use).
    collection: Mutex<Option<zbus::blocking::fdo::PropertiesProxy<'static>>>,
    /// Items the store's current connection wrote, and the Secret Service's bus name then: KeePassXC lets
    /// the connection that wrote an item use it without asking (until it restarts), even with "Confirm
    /// when passwords are retrieved by clients" on.
    written: Mutex<(String, HashSet<String>)>,
}

/// The default collection, where the store keeps the items it creates.
const DEFAULT_COLLECTION: &str = "/org/freedesktop/secrets/aliases/default";

/// KeePassXC's "Confirm when passwords are retrieved by clients": our words, in place of its dialog.
const CONFIRM: &str = "KeePassXC asks you to allow each access to Session Keeper's items, and the app does not open that dialog \
    by itself. Turn off 'Confirm when passwords are retrieved by clients' in KeePassXC's settings (Secret Service Integration), then try again.";

impl KeyringVault {
    /// A vault whose items are labelled with `service` (for example "session-keeper").
    pub fn new(service: impl Into<String>) -> Self {
        Self { service: service.into(), store: Mutex::new(None), collection: Mutex::new(None), written: Mutex::default() }
    }

    /// Whether the default collection is locked, read from its `Locked` property (reading never
    /// prompts). `None` when that cannot be told (no Secret Service yet): the store then reports what
    /// is wrong. A Secret Service without a default collection (KeePassXC with no database open) is
    /// locked: a search there would open KeePassXC's unlock dialog and hold the store until answered.
    fn locked(&self) -> Option<bool> {
        let mut slot = self.collection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.is_none() {
            *slot = zbus::blocking::Connection::session().ok().and_then(|bus| {
                zbus::blocking::fdo::PropertiesProxy::builder(&bus)
                    .destination("org.freedesktop.secrets")
                    .and_then(|proxy| proxy.path(DEFAULT_COLLECTION))
                    .and_then(|proxy| proxy.cache_properties(zbus::proxy::CacheProperties::No).build())
                    .ok()
            });
        }
        let locked =
            slot.as_ref()?.get(zbus::names::InterfaceName::from_static_str_unchecked("org.freedesktop.Secret.Collection"), "Locked");
        match locked {
            Ok(value) => bool::try_from(value).ok(),
            Err(zbus::fdo::Error::UnknownObject(_)) => Some(true),
            Err(zbus::fdo::Error::ZBus(zbus::Error::InputOutput(_))) => {
                // The bus connection broke: reconnect next time.
                *slot = None;
                None
            }
            Err(_) => None,
        }
    }

    /// KWallet's quirk: a wallet open to kwalletd5 (a KDE login opened it) reads locked on the Secret
    /// Service until asked; asking then shows no dialog. See `kwallet.rs`.
    fn unlock_open_kwallet(&self) -> bool {
        let slot = self.collection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.as_ref().is_some_and(|properties| kwallet::unlock_open_wallet(properties, DEFAULT_COLLECTION))
    }

    /// Whether item `name` exists and reads locked in an unlocked collection, not written by the store's
    /// connection: KeePassXC's confirm-on-access, where the store would open an access dialog and wait.
    /// The search (never a prompt in an open collection) runs on `locked()`'s connection, the store's
    /// being out of reach; KeePassXC authorises per connection, hence `written`. Failures: the store's.
    fn needs_confirmation(&self, name: &str) -> bool {
        let slot = self.collection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(properties) = slot.as_ref() else { return false };
        let bus = properties.inner().connection();
        let name_of = zbus::names::WellKnownName::from_static_str_unchecked("org.freedesktop.secrets");
        let owner = zbus::blocking::fdo::DBusProxy::new(bus).ok().and_then(|dbus| dbus.get_name_owner(name_of.into()).ok());
        let owner = owner.map(|owner| owner.to_string()).unwrap_or_default();
        let mut written = self.written.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if written.0 != owner {
            *written = (owner, HashSet::new());
        } else if written.1.contains(name) {
            return false;
        }
        drop(written);
        let query = (HashMap::from([("service", self.service.as_str()), ("username", name)]),);
        let service = Some("org.freedesktop.Secret.Service");
        let found = bus.call_method(Some("org.freedesktop.secrets"), "/org/freedesktop/secrets", service, "SearchItems", &query);
        let found = found.and_then(|reply| reply.body().deserialize::<(Vec<OwnedObjectPath>, Vec<OwnedObjectPath>)>());
        matches!(found, Ok((_, locked)) if !locked.is_empty())
    }

    fn entry(&self, name: &str) -> Result<keyring_core::Entry> {
        match self.locked() {
            Some(true) if !self.unlock_open_kwallet() => return Err(Error::KeychainLocked),
            Some(_) if self.needs_confirmation(name) => return Err(Error::keychain_failed(CONFIRM, None)),
            _ => {}
        }
        let store = {
            let mut slot = self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match &*slot {
                Some(store) => Ok(store.clone()),
                None => zbus_secret_service_keyring_store::Store::new().map(|store| {
                    let store: Arc<keyring_core::CredentialStore> = store;
                    self.written.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).1.clear();
                    *slot = Some(store.clone());
                    store
                }),
            }
            // The slot is free again here: `map_error` takes it to drop a broken connection.
        };
        let store = store.map_err(|err| self.map_error(err))?;
        store.build(&self.service, name, None).map_err(|err| self.map_error(err))
    }

    /// Classifies a keyring error; a broken connection is dropped so the next call reconnects.
    fn map_error(&self, err: keyring_core::Error) -> Error {
        use keyring_core::Error as K;
        match err {
            K::NoStorageAccess(_) => Error::KeychainLocked,
            K::PlatformFailure(inner) => {
                let text = inner.to_string();
                *self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
                if text.contains("ocked") {
                    Error::KeychainLocked
                } else if text.contains("ServiceUnknown") || text.contains("NameHasNoOwner") {
                    Error::keychain_unavailable("no program on this desktop provides it", Some(text))
                } else {
                    Error::keychain_unavailable("the Secret Service did not answer as expected", Some(text))
                }
            }
            K::NoDefaultStore => Error::keychain_unavailable("no credential store", None),
            K::BadEncoding(_) | K::BadDataFormat(..) => {
                Error::keychain_failed("an item holds data that is not text; it was left untouched", None)
            }
            K::Ambiguous(_) => {
                Error::keychain_failed("several keychain items match one session; remove the duplicates in your keychain manager", None)
            }
            other => Error::keychain_failed("it refused the operation; try again", Some(other.to_string())),
        }
    }
}

impl Vault for KeyringVault {
    fn get(&self, name: &str) -> Result<Option<SecretString>> {
        match self.entry(name)?.get_password() {
            Ok(value) => Ok(Some(SecretString::from(value))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(err) if vanished(&err) => Ok(None),
            Err(err) => Err(self.map_error(err)),
        }
    }

    fn set(&self, name: &str, value: &SecretString) -> Result<()> {
        self.entry(name)?.set_password(value.expose_secret()).map_err(|err| self.map_error(err))?;
        self.written.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).1.insert(name.to_owned());
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<()> {
        match self.entry(name)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(err) if vanished(&err) => Ok(()),
            Err(err) => Err(self.map_error(err)),
        }
    }
}

/// The item was found and then deleted (by the app's own scheduler, or another program) before it
/// could be read: the Secret Service answers that its object path no longer exists. That is "no
/// entry", not a keychain outage, and must not drop the connection.
fn vanished(err: &keyring_core::Error) -> bool {
    match err {
        keyring_core::Error::PlatformFailure(inner) => {
            let text = inner.to_string();
            text.contains("UnknownObject") || (text.contains("UnknownMethod") && text.contains("does not exist"))
        }
        _ => false,
    }
}

/// An in-memory vault for unit tests. Never use it in the app: secrets would be lost on exit.
#[derive(Default)]
pub struct MemoryVault {
    items: Mutex<HashMap<String, SecretString>>,
    failing: Mutex<Option<fn() -> Error>>,
}

impl MemoryVault {
    /// An empty vault.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every following call fail with `error()` (`None` heals it), to test keychain outages.
    #[cfg(any(test, feature = "test-util"))]
    pub fn fail_with(&self, error: Option<fn() -> Error>) {
        *self.failing.lock().expect("memory vault poisoned") = error;
    }

    fn check(&self) -> Result<()> {
        match *self.failing.lock().expect("memory vault poisoned") {
            Some(error) => Err(error()),
            None => Ok(()),
        }
    }
}

impl Vault for MemoryVault {
    fn get(&self, name: &str) -> Result<Option<SecretString>> {
        self.check()?;
        Ok(self.items.lock().expect("memory vault poisoned").get(name).cloned())
    }

    fn set(&self, name: &str, value: &SecretString) -> Result<()> {
        self.check()?;
        self.items.lock().expect("memory vault poisoned").insert(name.to_owned(), value.clone());
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<()> {
        self.check()?;
        self.items.lock().expect("memory vault poisoned").remove(name);
        Ok(())
    }
}

/// Typed, async, time-limited access to a [`Vault`].
#[derive(Clone)]
pub struct SecretVault {
    inner: Arc<dyn Vault>,
    timeout: Duration,
    /// One keychain call at a time, held until the call really ends. A call we stopped waiting for
    /// still runs: on a frozen Secret Service it lands once the daemon wakes, and without this order
    /// an older write (a refresh token the provider has since rotated) could land after a newer one.
    order: Arc<tokio::sync::Mutex<()>>,
}

impl SecretVault {
    /// Wraps a vault; each call gives up after `timeout`.
    pub fn new(inner: Arc<dyn Vault>, timeout: Duration) -> Self {
        Self { inner, timeout, order: Arc::default() }
    }

    async fn call<T: Send + 'static>(&self, op: impl FnOnce(&dyn Vault) -> Result<T> + Send + 'static) -> Result<T> {
        let inner = self.inner.clone();
        let order = self.order.clone();
        let task = async move {
            let turn = order.lock_owned().await;
            tokio::task::spawn_blocking(move || {
                let result = op(inner.as_ref());
                drop(turn);
                result
            })
            .await
        };
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => {
                Err(Error::keychain_failed("the keychain call ended unexpectedly; try again", Some(join_error.to_string())))
            }
            Err(_) => Err(Error::keychain_unavailable(format!("it did not answer within {} s", self.timeout.as_secs_f32()), None)),
        }
    }

    fn tokens_item(session: &str) -> String {
        format!("session/{session}/tokens")
    }

    fn client_secret_item(session: &str) -> String {
        format!("session/{session}/client-secret")
    }

    /// The session's tokens, if stored.
    pub async fn load_tokens(&self, session: &str) -> Result<Option<SessionSecrets>> {
        let name = Self::tokens_item(session);
        let session = session.to_owned();
        self.call(move |vault| vault.get(&name)?.map(|value| SessionSecrets::from_keychain_value(&session, &value)).transpose()).await
    }

    /// Stores (replaces) the session's tokens.
    pub async fn save_tokens(&self, session: &str, secrets: &SessionSecrets) -> Result<()> {
        let name = Self::tokens_item(session);
        let value = secrets.to_keychain_value();
        self.call(move |vault| vault.set(&name, &value)).await
    }

    /// Deletes the session's tokens.
    pub async fn delete_tokens(&self, session: &str) -> Result<()> {
        let name = Self::tokens_item(session);
        self.call(move |vault| vault.delete(&name)).await
    }

    /// The client secret configured for the session's provider, if any.
    pub async fn load_client_secret(&self, session: &str) -> Result<Option<SecretString>> {
        let name = Self::client_secret_item(session);
        self.call(move |vault| vault.get(&name)).await
    }

    /// Stores the client secret of the session's provider.
    pub async fn save_client_secret(&self, session: &str, secret: &SecretString) -> Result<()> {
        let name = Self::client_secret_item(session);
        let value = secret.clone();
        self.call(move |vault| vault.set(&name, &value)).await
    }

    /// Deletes the client secret of the session's provider.
    pub async fn delete_client_secret(&self, session: &str) -> Result<()> {
        let name = Self::client_secret_item(session);
        self.call(move |vault| vault.delete(&name)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FrozenVault;
    impl Vault for FrozenVault {
        fn get(&self, _: &str) -> Result<Option<SecretString>> {
            std::thread::sleep(Duration::from_secs(2));
            Ok(None)
        }
        fn set(&self, _: &str, _: &SecretString) -> Result<()> {
            Ok(())
        }
        fn delete(&self, _: &str) -> Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_frozen_keychain_is_a_clear_error_not_a_hang() {
        let vault = SecretVault::new(Arc::new(FrozenVault), Duration::from_millis(50));
        let err = vault.load_tokens("s").await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::KeychainUnavailable, "{err}");
        assert!(err.to_string().contains("did not answer"), "{err}");
    }

    #[tokio::test]
    async fn tokens_round_trip_and_delete() {
        let vault = SecretVault::new(Arc::new(MemoryVault::new()), Duration::from_secs(1));
        let secrets =
            SessionSecrets { access_token: SecretString::from("a"), refresh_token: Some(SecretString::from("r")), id_token: None };
        vault.save_tokens("s", &secrets).await.unwrap();
        assert!(vault.load_tokens("s").await.unwrap().unwrap().same_refresh_token(&secrets));
        vault.delete_tokens("s").await.unwrap();
        assert!(vault.load_tokens("s").await.unwrap().is_none());
        vault.delete_tokens("s").await.unwrap();
    }

    #[test]
    fn an_item_deleted_between_lookup_and_read_is_no_entry() {
        let gone = keyring_core::Error::PlatformFailure(
            "zbus error: org.freedesktop.DBus.Error.UnknownMethod: Object does not exist at path \u{201c}/org/freedesktop/secrets/collection/login/9\u{201d}".into(),
        );
        assert!(vanished(&gone));
        assert!(!vanished(&keyring_core::Error::PlatformFailure("org.freedesktop.DBus.Error.ServiceUnknown".into())));
        assert!(!vanished(&keyring_core::Error::NoEntry));
    }
}
