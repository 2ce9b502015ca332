//! A D-Bus bus of the test's own: a `dbus-daemon` with a configuration in a temporary folder and no
//! service folders, so nothing is started on demand (the desktop's session bus would start
//! gnome-keyring for a call to `org.freedesktop.secrets`). The programs under test are given its
//! address (`DBUS_SESSION_BUS_ADDRESS` or `DBUS_SYSTEM_BUS_ADDRESS`); the machine's buses are never
//! touched. The daemon is stopped and its folder removed when the value is dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Which bus the daemon plays.
#[derive(Clone, Copy)]
pub enum Kind {
    /// A session bus: anyone may own any name and talk to anyone (as a desktop session's bus).
    Session,
    /// A system bus, as NetworkManager and logind live on: every user may connect, own and send.
    System,
}

/// A running private bus.
pub struct PrivateBus {
    daemon: Child,
    /// Its address, for `DBUS_SESSION_BUS_ADDRESS` or `DBUS_SYSTEM_BUS_ADDRESS`.
    pub address: String,
    folder: tempfile::TempDir,
}

impl PrivateBus {
    /// A private session bus.
    pub fn session() -> PrivateBus {
        Self::start(Kind::Session)
    }

    /// A private system bus.
    pub fn system() -> PrivateBus {
        Self::start(Kind::System)
    }

    /// Starts `dbus-daemon` with the configuration of `kind` and waits for its address.
    pub fn start(kind: Kind) -> PrivateBus {
        let folder = tempfile::Builder::new().prefix("sk-bus-").tempdir().unwrap();
        let (name, policy) = match kind {
            Kind::Session => ("session", r#"<allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/>"#),
            Kind::System => ("system", r#"<allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/>"#),
        };
        let config = folder.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>{name}</type><listen>unix:dir={}</listen><auth>EXTERNAL</auth>
<policy context="default">{policy}</policy></busconfig>"#,
                folder.path().display()
            ),
        )
        .unwrap();
        let mut daemon = Command::new("dbus-daemon")
            .args(["--nofork", "--print-address=1", &format!("--config-file={}", config.display())])
            .stdout(Stdio::piped())
            // It says it cannot raise its fd limit: nothing anyone can act on.
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (package dbus) is needed: scripts/setup.sh installs it");
        let mut address = String::new();
        BufReader::new(daemon.stdout.take().unwrap()).read_line(&mut address).expect("dbus-daemon printed its address");
        let address = address.trim().to_owned();
        assert!(!address.is_empty(), "dbus-daemon did not start with the private {name} bus configuration");
        PrivateBus { daemon, address, folder }
    }

    /// The folder that holds the bus's socket and configuration (removed with the bus).
    pub fn folder(&self) -> &std::path::Path {
        self.folder.path()
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}
