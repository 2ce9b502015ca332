//! A NetworkManager stand-in on a private system bus, for the offline and captive-portal tests.
//!
//! Why a stand-in: real NetworkManager manages the machine's own network devices, needs systemd and
//! root on the host, cannot run in CI's container, and cannot be told to report "offline" or "portal"
//! on cue without actually taking the network away (which would take the test provider on loopback
//! with it). The app reads only NetworkManager's `Connectivity` and `State` properties of
//! `/org/freedesktop/NetworkManager` and hears its `StateChanged` signal and the standard
//! `PropertiesChanged`; this stand-in implements exactly those, settable from the test, and nothing
//! else. It runs on a `dbus-daemon` of its own with a system-bus configuration in a temporary folder,
//! whose address the app is given as `DBUS_SYSTEM_BUS_ADDRESS`: the machine's system bus (if any) is
//! never touched.

use std::time::Duration;

use zbus::object_server::SignalEmitter;

use crate::bus::PrivateBus;

/// NetworkManager's `NMConnectivityState` values.
pub mod connectivity {
    /// NetworkManager cannot tell (no check configured yet): the app behaves as online.
    pub const UNKNOWN: u32 = 0;
    /// No network.
    pub const NONE: u32 = 1;
    /// A captive portal intercepts every connection.
    pub const PORTAL: u32 = 2;
    /// A network, but no way out of it.
    pub const LIMITED: u32 = 3;
    /// The internet is reachable.
    pub const FULL: u32 = 4;
}

const PATH: &str = "/org/freedesktop/NetworkManager";

/// `NMState` for a connectivity, as NetworkManager pairs them.
fn state_for(connectivity: u32) -> u32 {
    match connectivity {
        // CONNECTED_GLOBAL, CONNECTED_SITE, DISCONNECTED, UNKNOWN.
        connectivity::FULL => 70,
        connectivity::PORTAL | connectivity::LIMITED => 60,
        connectivity::NONE => 20,
        _ => 0,
    }
}

/// The main object, as much of it as the app reads.
struct Manager {
    connectivity: u32,
}

#[zbus::interface(name = "org.freedesktop.NetworkManager")]
impl Manager {
    #[zbus(property)]
    fn connectivity(&self) -> u32 {
        self.connectivity
    }

    #[zbus(property)]
    fn state(&self) -> u32 {
        state_for(self.connectivity)
    }

    /// NetworkManager's own `StateChanged` signal (`state_changed` is the property's notice).
    #[zbus(signal, name = "StateChanged")]
    async fn state_signal(emitter: &SignalEmitter<'_>, state: u32) -> zbus::Result<()>;
}

/// A private system bus with the NetworkManager stand-in on it; both end when this is dropped.
pub struct NetworkManager {
    /// The bus, stopped with the stand-in.
    _bus: PrivateBus,
    /// The bus's address: give it to the app as `DBUS_SYSTEM_BUS_ADDRESS`.
    pub address: String,
    connection: zbus::Connection,
}

impl NetworkManager {
    /// Starts the bus and the stand-in, which says `connectivity` until [`Self::set`] changes it.
    pub async fn start(connectivity: u32) -> NetworkManager {
        // A system bus as a distribution configures one, but open to this test's own processes: any
        // name may be owned, any message sent (the real one lets only NetworkManager own its name).
        let bus = PrivateBus::system();
        let address = bus.address.clone();
        let connection = tokio::time::timeout(Duration::from_secs(10), async {
            zbus::connection::Builder::address(address.as_str())?
                .name("org.freedesktop.NetworkManager")?
                .serve_at(PATH, Manager { connectivity })?
                .build()
                .await
        })
        .await
        .expect("the private system bus answered within 10 s")
        .expect("the stand-in took NetworkManager's name");
        NetworkManager { _bus: bus, address, connection }
    }

    /// Says `connectivity` from now on, announcing it as NetworkManager does: `PropertiesChanged` for
    /// `Connectivity` and `State`, and `StateChanged` when the state changes.
    pub async fn set(&self, connectivity: u32) {
        let object = self.connection.object_server().interface::<_, Manager>(PATH).await.unwrap();
        let before = state_for(object.get().await.connectivity);
        object.get_mut().await.connectivity = connectivity;
        let emitter = object.signal_emitter();
        let manager = object.get().await;
        manager.connectivity_changed(emitter).await.unwrap();
        if state_for(connectivity) != before {
            manager.state_changed(emitter).await.unwrap();
            Manager::state_signal(emitter, state_for(connectivity)).await.unwrap();
        }
    }
}
