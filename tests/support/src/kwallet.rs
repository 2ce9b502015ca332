//! KWallet as the Secret Service: Debian's `kwalletd5` (KDE Frameworks 5.103, package libkf5wallet-bin)
//! with its Secret Service API on, on a private session bus of its own (never the test desktop's bus,
//! where gnome-keyring owns `org.freedesktop.secrets`), with its own configuration and data folders
//! and a wallet made for the test without a person.
//!
//! kwalletd5 asks a person, in a dialog, to create the first wallet and to type its password. The
//! test does what kwallet-pam does at a KDE login instead: it hands kwalletd5 the key derived from the
//! login password (`org.kde.KWallet.pamOpen`, a D-Bus method), which creates the wallet `kdewallet`
//! when there is none and opens it, no dialog. Two things of kwalletd5 5.103 shape the rest:
//! - a wallet created that way is not a Secret Service collection until kwalletd5 starts again (the
//!   Secret Service side lists the wallets once, at start, and is not told of this creation), so the
//!   daemon is started, the wallet made, the daemon stopped and started again;
//! - a wallet opened that way still reads `Locked` on the Secret Service until a client asks
//!   `Unlock` and runs the prompt it returns, which completes without a dialog because the wallet is
//!   open. [`KWallet::unlock`] does that, as a desktop's first Secret Service client would.
//!
//! `QT_QPA_PLATFORM=offscreen`: no dialog is ever shown (one would wait for a person forever, and
//! the test fails on its bound instead).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bus::PrivateBus;
use zbus::zvariant::{ObjectPath, OwnedObjectPath};

/// The wallet the Secret Service's `default` alias names (kwalletrc's "Default Wallet", unset here).
pub const WALLET: &str = "kdewallet";
/// Its Secret Service collection.
pub const COLLECTION: &str = "/org/freedesktop/secrets/collection/kdewallet";
/// The folder kwalletd5 keeps Secret Service items in when their label has no `/` (with one, the
/// label's part before its first `/` names the folder and the rest the entry).
pub const SECRET_SERVICE_FOLDER: &str = "Secret Service";
/// The application name the test reads the wallet with through kwalletd5's own interface. kwalletd5
/// 5.103 asks no "allow this application?" question of it, nor of the Secret Service's clients (all
/// one application to kwalletd5), once the wallet is open.
pub const APP_ID: &str = "session-keeper-test";
/// The wallet's key, as kwallet-pam derives it from the login password (PBKDF2-SHA512, 56 bytes):
/// any 56 bytes make a wallet whose key they are.
const KEY: [u8; 56] = *b"session-keeper-kwallet-test-key-made-for-this-test-only!";
const SERVICE: &str = "org.freedesktop.secrets";
const KWALLETD: &str = "org.kde.kwalletd5";
const KWALLETD_PATH: &str = "/modules/kwalletd5";
const QCA_OSSL: &str = "/usr/lib/x86_64-linux-gnu/qca-qt5/crypto/libqca-ossl.so";
const WITHIN: Duration = Duration::from_secs(15);

/// kwalletd5 on a private bus, its wallet open and its Secret Service collection unlocked; the daemon
/// and the bus are stopped when dropped.
pub struct KWallet {
    /// The bus, the daemon and their folder: `None` in a process that [attached](Self::attach).
    _bus: Option<PrivateBus>,
    daemon: Option<Child>,
    folder: Option<tempfile::TempDir>,
    /// The private bus's address (`DBUS_SESSION_BUS_ADDRESS` for the programs under test).
    pub address: String,
    connection: zbus::Connection,
}

impl KWallet {
    pub async fn start() -> KWallet {
        let wallet = Self::start_at_login().await;
        wallet.unlock().await;
        wallet
    }

    /// The wallet as a KDE login with kwallet-pam leaves it: open to kwalletd5 (its key handed over
    /// with `pamOpen`), and `Locked` on the Secret Service until a client asks `Unlock` and runs the
    /// prompt (which then completes without a dialog).
    pub async fn start_at_login() -> KWallet {
        // kwalletd5's Secret Service accepts only Diffie-Hellman sessions, and does them with QCA's
        // OpenSSL plugin; without it every client's OpenSession fails.
        assert!(
            Path::new(QCA_OSSL).exists(),
            "{QCA_OSSL} is missing: install libqca-qt5-2-plugins (scripts/setup.sh does); kwalletd5's Secret Service needs it"
        );
        let folder = tempfile::Builder::new().prefix("sk-kwallet-").tempdir().unwrap();
        for sub in ["config", "data", "runtime", "home"] {
            std::fs::create_dir(folder.path().join(sub)).unwrap();
        }
        std::fs::write(
            folder.path().join("config/kwalletrc"),
            "[Wallet]\nEnabled=true\nFirst Use=false\nUse One Wallet=true\nClose When Idle=false\n\n\
             [org.freedesktop.secrets]\napiEnabled=true\n",
        )
        .unwrap();
        let bus = PrivateBus::session();
        let address = bus.address.clone();
        let connection = tokio::time::timeout(WITHIN, async { zbus::connection::Builder::address(address.as_str())?.build().await })
            .await
            .expect("the private session bus answered within 15 s")
            .expect("connected to the private session bus");

        let mut daemon = spawn_daemon(folder.path(), &address);
        wait_for_names(&connection, &mut daemon).await;
        pam_open(&connection).await;
        let wallet_file = folder.path().join("data/kwalletd/kdewallet.kwl");
        let deadline = Instant::now() + WITHIN;
        while !wallet_file.exists() {
            assert!(Instant::now() < deadline, "kwalletd5 made no wallet file within {WITHIN:?} of pamOpen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop(&mut daemon);

        let mut daemon = spawn_daemon(folder.path(), &address);
        wait_for_names(&connection, &mut daemon).await;
        let wallet = KWallet { _bus: Some(bus), daemon: Some(daemon), folder: Some(folder), address, connection };
        assert!(wallet.locked().await, "kwalletd5 started with its wallet open");
        // The quirk this harness works around: opened with its key (as at a KDE login), the wallet
        // is open to kwalletd5 and still locked to the Secret Service. Should a kwalletd5 tell its
        // Secret Service, this fails: the README's row for KWallet and the vault's handling change.
        pam_open(&wallet.connection).await;
        assert!(kwallet_is_open(&wallet.connection).await, "pamOpen did not open the wallet");
        assert!(wallet.locked().await, "kwalletd5 now unlocks the Secret Service collection with pamOpen: update the README's KWallet row");
        wallet
    }

    /// The wallet another process started, on this process's session bus (a child of the test
    /// started with [`Self::env`]): locks, unlocks and reads it; stops nothing when dropped.
    pub async fn attach() -> KWallet {
        let address = std::env::var("DBUS_SESSION_BUS_ADDRESS").expect("a session bus: the child of a test that started KWallet");
        let connection = zbus::Connection::session().await.expect("connected to KWallet's bus");
        KWallet { _bus: None, daemon: None, folder: None, address, connection }
    }

    /// What the programs under test need in their environment to use this wallet.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("DBUS_SESSION_BUS_ADDRESS", self.address.clone())]
    }

    /// The folder kwalletd5 keeps its wallets in (`kdewallet.kwl`, encrypted, and
    /// `kdewallet_attributes.json`, the Secret Service items' attributes, not encrypted).
    pub fn data_folder(&self) -> PathBuf {
        self.folder.as_ref().expect("the process that started KWallet").path().join("data/kwalletd")
    }

    /// Whether the Secret Service says the wallet's collection is locked.
    pub async fn locked(&self) -> bool {
        locked(&self.connection).await
    }

    /// Opens the wallet with its key (as kwallet-pam does at login) and unlocks its collection
    /// through the Secret Service's `Unlock` and the prompt it returns (no dialog: the wallet is
    /// open). Waits, bounded, until the collection reads unlocked.
    pub async fn unlock(&self) {
        pam_open(&self.connection).await;
        let collections = vec![ObjectPath::try_from(COLLECTION).unwrap()];
        let reply = self.service_call("Unlock", &(collections,)).await;
        let (_unlocked, prompt): (Vec<OwnedObjectPath>, OwnedObjectPath) = reply.body().deserialize().unwrap();
        if prompt.as_str() != "/" {
            self.connection
                .call_method(Some(SERVICE), prompt.as_str(), Some("org.freedesktop.Secret.Prompt"), "Prompt", &("",))
                .await
                .expect("kwalletd5 ran the unlock prompt");
        }
        let deadline = Instant::now() + WITHIN;
        while self.locked().await {
            assert!(Instant::now() < deadline, "the wallet's collection still reads locked {WITHIN:?} after Unlock");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Locks the collection as a person does in KWallet's tray menu or at the screen lock: kwalletd5
    /// closes the wallet.
    pub async fn lock(&self) {
        let collections = vec![ObjectPath::try_from(COLLECTION).unwrap()];
        let reply = self.service_call("Lock", &(collections,)).await;
        let (locked, _prompt): (Vec<OwnedObjectPath>, OwnedObjectPath) = reply.body().deserialize().unwrap();
        assert_eq!(locked.len(), 1, "kwalletd5 did not lock the wallet");
        assert!(self.locked().await, "the collection reads unlocked after Lock");
    }

    /// The entries of `folder` in the wallet, read through kwalletd5's own interface.
    pub async fn entries(&self, folder: &str) -> Vec<String> {
        let handle = self.open_handle().await;
        let reply = self.kwallet_call("entryList", &(handle, folder, APP_ID)).await;
        reply.body().deserialize().unwrap()
    }

    /// The wallet's folders, read through kwalletd5's own interface.
    pub async fn folders(&self) -> Vec<String> {
        let handle = self.open_handle().await;
        let reply = self.kwallet_call("folderList", &(handle, APP_ID)).await;
        reply.body().deserialize().unwrap()
    }

    /// The entry kept under `folder`/`key`, read through kwalletd5's own interface (not the Secret
    /// Service): `None` when there is none.
    pub async fn entry(&self, folder: &str, key: &str) -> Option<Vec<u8>> {
        let handle = self.open_handle().await;
        let reply = self.kwallet_call("hasEntry", &(handle, folder, key, APP_ID)).await;
        if !reply.body().deserialize::<bool>().unwrap() {
            return None;
        }
        let reply = self.kwallet_call("readEntry", &(handle, folder, key, APP_ID)).await;
        Some(reply.body().deserialize().unwrap())
    }

    async fn open_handle(&self) -> i32 {
        let reply = self.kwallet_call("open", &(WALLET, 0i64, APP_ID)).await;
        let handle: i32 = reply.body().deserialize().unwrap();
        assert!(handle >= 0, "kwalletd5 refused to open the wallet for the test: {handle}");
        handle
    }

    async fn service_call<B>(&self, method: &str, body: &B) -> zbus::Message
    where
        B: zbus::export::serde::Serialize + zbus::zvariant::DynamicType,
    {
        tokio::time::timeout(
            WITHIN,
            self.connection.call_method(Some(SERVICE), "/org/freedesktop/secrets", Some("org.freedesktop.Secret.Service"), method, body),
        )
        .await
        .unwrap_or_else(|_| panic!("kwalletd5 did not answer {method} within {WITHIN:?}"))
        .unwrap_or_else(|err| panic!("kwalletd5 refused {method}: {err}"))
    }

    async fn kwallet_call<B>(&self, method: &str, body: &B) -> zbus::Message
    where
        B: zbus::export::serde::Serialize + zbus::zvariant::DynamicType,
    {
        kwallet_call(&self.connection, method, body).await
    }
}

impl Drop for KWallet {
    fn drop(&mut self) {
        if let Some(daemon) = &mut self.daemon {
            stop(daemon);
        }
        // The bus stops when `self._bus` is dropped, after the daemon.
    }
}

fn spawn_daemon(folder: &Path, address: &str) -> Child {
    Command::new("kwalletd5")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("DBUS_SESSION_BUS_ADDRESS", address)
        .env("QT_QPA_PLATFORM", "offscreen")
        .env("HOME", folder.join("home"))
        .env("XDG_CONFIG_HOME", folder.join("config"))
        .env("XDG_DATA_HOME", folder.join("data"))
        .env("XDG_RUNTIME_DIR", folder.join("runtime"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("kwalletd5 (package libkf5wallet-bin) is needed: scripts/setup.sh installs it")
}

/// Stops kwalletd5 as a session's end does (SIGTERM), bounded.
fn stop(daemon: &mut Child) {
    let _ = Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while daemon.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = daemon.kill();
            let _ = daemon.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits, bounded, until kwalletd5 owns its own name and the Secret Service's.
async fn wait_for_names(connection: &zbus::Connection, daemon: &mut Child) {
    let dbus = zbus::fdo::DBusProxy::new(connection).await.unwrap();
    let deadline = Instant::now() + WITHIN;
    for name in [KWALLETD, SERVICE] {
        let name = zbus::names::BusName::try_from(name).unwrap();
        while !dbus.name_has_owner(name.clone()).await.unwrap() {
            if let Ok(Some(status)) = daemon.try_wait() {
                panic!("kwalletd5 ended ({status}) before owning {name}");
            }
            assert!(Instant::now() < deadline, "kwalletd5 did not own {name} within {WITHIN:?} (is its Secret Service API on?)");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Whether kwalletd5 has the wallet open (its own interface; asking never prompts).
async fn kwallet_is_open(connection: &zbus::Connection) -> bool {
    kwallet_call(connection, "isOpen", &(WALLET,)).await.body().deserialize().unwrap()
}

/// Hands kwalletd5 the wallet's key as kwallet-pam does: the wallet is created if missing, and opened.
async fn pam_open(connection: &zbus::Connection) {
    kwallet_call(connection, "pamOpen", &(WALLET, KEY.to_vec(), 0i32)).await;
}

async fn kwallet_call<B>(connection: &zbus::Connection, method: &str, body: &B) -> zbus::Message
where
    B: zbus::export::serde::Serialize + zbus::zvariant::DynamicType,
{
    tokio::time::timeout(WITHIN, connection.call_method(Some(KWALLETD), KWALLETD_PATH, Some("org.kde.KWallet"), method, body))
        .await
        .unwrap_or_else(|_| panic!("kwalletd5 did not answer {method} within {WITHIN:?} (a dialog waiting for a person?)"))
        .unwrap_or_else(|err| panic!("kwalletd5 refused {method}: {err}"))
}

async fn locked(connection: &zbus::Connection) -> bool {
    let properties = zbus::fdo::PropertiesProxy::builder(connection)
        .destination(SERVICE)
        .unwrap()
        .path(COLLECTION)
        .unwrap()
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap();
    let value = properties
        .get(zbus::names::InterfaceName::from_static_str_unchecked("org.freedesktop.Secret.Collection"), "Locked")
        .await
        .expect("the wallet is a Secret Service collection");
    bool::try_from(value).unwrap()
}
