//! KeePassXC (Debian's 2.7.4) as the Secret Service, on a private D-Bus session bus made by the test, never
//! the test run's bus (gnome-keyring owns `org.freedesktop.secrets` there).
//!
//! [`PrivateBus`] is a `dbus-daemon` of its own with no service activation (nothing else can be started
//! on it, gnome-keyring included). [`KeePassXc`] opens a database made for the test, with its password on
//! standard input (`keepassxc --pw-stdin`), under Qt's `offscreen` platform (no display needed; its
//! dialogs, when it shows any, go nowhere, as on a screen nobody looks at) and a config file of its own.
//!
//! What has to be set, found in KeePassXC's source (src/core/Config.cpp, src/fdosecrets/):
//! - the config file: `[FdoSecrets] Enabled=true` turns the integration on; `ConfirmAccessItem` (default
//!   on: "confirm when passwords are retrieved by clients") and `ConfirmDeleteItem` (default on) open a
//!   dialog per access or deletion; `ShowNotification` a desktop notification per access;
//!   `[General] SingleInstance=false` so that a KeePassXC of the desktop (or another test) is not asked
//!   to open the database instead.
//! - the database: which group the Secret Service sees is the database's own custom data
//!   `FDO_SECRETS_EXPOSED_GROUP` = the group's UUID as `{8-4-4-4-12}`; without it the database is no
//!   collection at all. `keepassxc-cli` cannot set custom data, but `keepassxc-cli import` makes a
//!   database from KeePass XML, which can: the XML below names the root group and exposes it.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test database's password (a test value, not a secret).
pub const PASSWORD: &str = "session-keeper-test";
/// KeePassXC's own D-Bus name and interface (its window's actions).
const MAIN_WINDOW: &str = "org.keepassxc.KeePassXC.MainWindow";
/// The exposed (root) group's UUID, as KeePassXC writes it in the custom data.
const GROUP_UUID: &str = "6b3f4a2e-1c5d-4e8f-9a0b-2c3d4e5f6a7b";
/// The same UUID as KeePass XML spells it (base64 of its 16 bytes).
const GROUP_UUID_XML: &str = "az9KLhxdTo+aCyw9Tl9qew==";

/// The private session bus KeePassXC serves on ([`crate::bus::PrivateBus`]: no service activation).
pub use crate::bus::PrivateBus;

/// How KeePassXC is configured; the default is what a person who turned the integration on and the
/// confirmations off has.
#[derive(Clone, Copy, Default)]
pub struct Settings {
    /// "Confirm when passwords are retrieved by clients" (KeePassXC's default is on).
    pub confirm_access: bool,
}

/// One entry of the database, as `keepassxc-cli export` reads it from the file.
pub struct Entry {
    /// The group's path, `Root` or `Root/Recycle Bin`.
    pub group: String,
    pub title: String,
    /// The entry's Password field.
    pub password: secrecy::SecretString,
    /// Its attachment `FDO_SECRETS_DATA`: where KeePassXC keeps a secret whose content type is not
    /// text (the keyring store writes `application/octet-stream`), the Password field left empty.
    pub data: Option<secrecy::SecretString>,
}

/// KeePassXC serving the Secret Service with a test database; stopped when dropped.
pub struct KeePassXc {
    app: Option<Child>,
    address: String,
    settings: Settings,
    dir: tempfile::TempDir,
}

impl KeePassXc {
    /// Makes a database and starts KeePassXC with it on the bus at `address`; returns once its default
    /// collection is there and unlocked (bounded).
    pub fn start(address: &str, settings: Settings) -> KeePassXc {
        let dir = tempfile::tempdir().unwrap();
        let xml = dir.path().join("db.xml");
        std::fs::write(&xml, database_xml()).unwrap();
        let database = dir.path().join("test.kdbx");
        // `-t 100`: the smallest key derivation time it takes (ms), so opening costs little.
        let out = run_with_stdin(
            Command::new("keepassxc-cli").args(["import", "-q", "-p", "-t", "100"]).arg(&xml).arg(&database),
            &format!("{PASSWORD}\n{PASSWORD}\n"),
        );
        assert!(database.exists(), "keepassxc-cli import made no database: {out}");
        std::fs::remove_file(&xml).unwrap();
        let mut keepassxc = KeePassXc { app: None, address: address.to_owned(), settings, dir };
        keepassxc.launch();
        keepassxc
    }

    /// The database file.
    pub fn database(&self) -> PathBuf {
        self.dir.path().join("test.kdbx")
    }

    /// Quits KeePassXC as a logout does (SIGTERM) and starts it again with the same database, as after a
    /// reboot: what it serves then is what it had saved.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    fn launch(&mut self) {
        let home = self.dir.path();
        let config = home.join("keepassxc.ini");
        let confirm = self.settings.confirm_access;
        std::fs::write(
            &config,
            format!(
                "[General]\nSingleInstance=false\nRememberLastDatabases=false\nRememberLastKeyFiles=false\n\n\
                 [GUI]\nCheckForUpdates=false\n\n\
                 [FdoSecrets]\nEnabled=true\nShowNotification=false\nConfirmAccessItem={confirm}\nConfirmDeleteItem=false\n"
            ),
        )
        .unwrap();
        let runtime = home.join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        std::fs::set_permissions(&runtime, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let mut app = Command::new("keepassxc")
            .arg("--config")
            .arg(&config)
            .arg("--localconfig")
            .arg(home.join("local.ini"))
            .arg("--pw-stdin")
            .arg(self.database())
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("QT_QPA_PLATFORM", "offscreen")
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_DATA_HOME", home.join("data"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("keepassxc (Debian package keepassxc) is needed: scripts/setup.sh installs it");
        app.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
        self.app = Some(app);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.default_collection_locked() != Some(false) {
            if let Some(status) = self.app.as_mut().unwrap().try_wait().unwrap() {
                panic!("KeePassXC ended ({status}) before serving the Secret Service");
            }
            assert!(Instant::now() < deadline, "KeePassXC did not serve an unlocked default collection within 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops KeePassXC (SIGTERM, as at logout), bounded. A SIGTERM that meets a save in progress can
    /// be given up by KeePassXC (as a close can, see [`Self::close`]), so it is sent again each second;
    /// a KeePassXC still running 5 s later (seen about once in five runs on a loaded machine, its
    /// window offscreen) is killed: the callers have seen the database file hold what they wrote
    /// ([`Self::wait_for_file`]), and KeePassXC writes the file atomically.
    pub fn stop(&mut self) {
        let Some(mut app) = self.app.take() else { return };
        let began = Instant::now();
        let mut asked = began - Duration::from_secs(1);
        while app.try_wait().unwrap().is_none() {
            if began.elapsed() > Duration::from_secs(5) {
                eprintln!("KeePassXC did not quit within 5 s of SIGTERM, asked each second: killed");
                let _ = app.kill();
                let _ = app.wait();
                return;
            }
            if asked.elapsed() >= Duration::from_secs(1) {
                let _ = Command::new("kill").args(["-TERM", &app.id().to_string()]).status();
                asked = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Locks the database as its "Lock" button, its idle timer or a screen lock does (KeePassXC's own
    /// D-Bus interface, `org.keepassxc.KeePassXC.MainWindow.lockAllDatabases`), and waits (bounded) until
    /// the collection says so.
    pub fn lock(&self) {
        self.bus().call_method(Some(MAIN_WINDOW), "/keepassxc", Some(MAIN_WINDOW), "lockAllDatabases", &()).unwrap();
        self.wait_until_locked(true);
    }

    /// Unlocks the database as the person does by typing its password in KeePassXC's window
    /// (`openDatabase(file, password)` on an open, locked database unlocks it), bounded.
    pub fn unlock(&self) {
        let database = self.database().display().to_string();
        self.bus().call_method(Some(MAIN_WINDOW), "/keepassxc", Some(MAIN_WINDOW), "openDatabase", &(database.as_str(), PASSWORD)).unwrap();
        self.wait_until_locked(false);
    }

    /// Closes the database (KeePassXC keeps running), as "Close database" does. KeePassXC closes by
    /// locking first, and a lock asked while it saves (it saves 150 ms after each change) is put off and
    /// the close given up: the database is then locked, not closed. So: ask again until it is closed.
    pub fn close(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        'ask: loop {
            self.bus().call_method(Some(MAIN_WINDOW), "/keepassxc", Some(MAIN_WINDOW), "closeAllDatabases", &()).unwrap();
            let asked = Instant::now();
            while self.default_collection_locked().is_some() {
                assert!(Instant::now() < deadline, "the default collection was still there 10 s after closing the database");
                if asked.elapsed() > Duration::from_secs(1) {
                    continue 'ask;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
    }

    fn wait_until_locked(&self, locked: bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.default_collection_locked() != Some(locked) {
            assert!(Instant::now() < deadline, "the default collection's Locked did not become {locked} within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A connection to the private bus.
    fn bus(&self) -> zbus::blocking::Connection {
        zbus::blocking::connection::Builder::address(self.address.as_str()).unwrap().build().unwrap()
    }

    /// The default collection's `Locked` property on the bus; `None` while there is none.
    pub fn default_collection_locked(&self) -> Option<bool> {
        let bus = zbus::blocking::connection::Builder::address(self.address.as_str()).ok()?.build().ok()?;
        let proxy = zbus::blocking::fdo::PropertiesProxy::builder(&bus)
            .destination("org.freedesktop.secrets")
            .ok()?
            .path("/org/freedesktop/secrets/aliases/default")
            .ok()?
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .ok()?;
        let value = proxy.get(zbus::names::InterfaceName::from_static_str_unchecked("org.freedesktop.Secret.Collection"), "Locked").ok()?;
        bool::try_from(value).ok()
    }

    /// Every entry the database file holds, read by `keepassxc-cli export` (CSV), not through KeePassXC.
    pub fn entries(&self) -> Vec<Entry> {
        let out = self.cli(&["export", "-q", "-f", "csv"], &[]);
        assert!(out.status.success(), "keepassxc-cli export failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        // "Group","Title","Username","Password","URL","Notes",...; the header first.
        text.lines()
            .skip(1)
            .map(csv_fields)
            .map(|fields| {
                // The entry's path as keepassxc-cli takes it: the groups below the root, then the title.
                let below_root = fields[0].strip_prefix("Root").unwrap_or(&fields[0]);
                let path = format!("{below_root}/{}", fields[1]);
                let data = self.cli(&["attachment-export", "-q", "--stdout"], &[&path, "FDO_SECRETS_DATA", "-"]);
                Entry {
                    group: fields[0].clone(),
                    title: fields[1].clone(),
                    password: secrecy::SecretString::from(fields[3].clone()),
                    data: data.status.success().then(|| secrecy::SecretString::from(String::from_utf8_lossy(&data.stdout).into_owned())),
                }
            })
            .collect()
    }

    /// Runs `keepassxc-cli COMMAND OPTIONS DATABASE ARGS` with the password on standard input.
    fn cli(&self, options: &[&str], args: &[&str]) -> std::process::Output {
        Command::new("keepassxc-cli")
            .args(options)
            .arg(self.database())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes())?;
                child.wait_with_output()
            })
            .expect("keepassxc-cli (package keepassxc) is needed")
    }

    /// Waits, bounded, until the database file satisfies `ready` (KeePassXC saves after each change,
    /// shortly after it answers).
    pub fn wait_for_file(&self, what: &str, ready: impl Fn(&[Entry]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let entries = self.entries();
            if ready(&entries) {
                return;
            }
            // Where each entry is, never what it holds.
            let seen: Vec<String> = entries.iter().map(|entry| format!("{}/{}", entry.group, entry.title)).collect();
            assert!(Instant::now() < deadline, "the database file never showed {what} within 10 s; it holds {seen:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for KeePassXc {
    fn drop(&mut self) {
        if let Some(mut app) = self.app.take() {
            let _ = app.kill();
            let _ = app.wait();
        }
    }
}

/// A database whose root group is exposed to the Secret Service; the Recycle Bin on, as KeePassXC makes
/// new databases.
fn database_xml() -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<KeePassFile>
  <Meta>
    <Generator>session-keeper tests</Generator>
    <DatabaseName>session-keeper-test</DatabaseName>
    <RecycleBinEnabled>True</RecycleBinEnabled>
    <CustomData>
      <Item><Key>FDO_SECRETS_EXPOSED_GROUP</Key><Value>{{{GROUP_UUID}}}</Value></Item>
    </CustomData>
  </Meta>
  <Root>
    <Group>
      <UUID>{GROUP_UUID_XML}</UUID>
      <Name>Root</Name>
    </Group>
  </Root>
</KeePassFile>
"#
    )
}

fn run_with_stdin(command: &mut Command, input: &str) -> String {
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The fields of one CSV line as keepassxc-cli writes them: each quoted, `""` for a quote inside.
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    while chars.peek().is_some() {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        field.push('"');
                    } else {
                        break;
                    }
                } else {
                    field.push(c);
                }
            }
        }
        for c in chars.by_ref() {
            if c == ',' {
                break;
            }
            field.push(c);
        }
        fields.push(field);
    }
    while fields.len() < 4 {
        fields.push(String::new());
    }
    fields
}
