//! The desktop's connectivity, as NetworkManager says it on the system bus: its `Connectivity`
//! property (`NMConnectivityState`: 0 unknown, 1 none, 2 portal, 3 limited, 4 full), read again
//! whenever NetworkManager announces a change (`PropertiesChanged` of its main object, its
//! `StateChanged` signal) or comes and goes on the bus (`NameOwnerChanged`). Each value goes to
//! [`session_core::SessionManager::connectivity_changed`], which decides what it means: while offline
//! or behind a captive portal no failed refresh is counted and the card says so; when the network
//! returns, the sessions that are due refresh at once, as after a wake (`sleep.rs`).
//!
//! A signal only makes the watcher ask NetworkManager again (a `Get` to its well-known name), so a
//! signal from anyone else cannot make up a state. No system bus, or no NetworkManager on it (a
//! container, a desktop without it), is not an error: the app behaves as online, as it did before
//! it listened, and says so once in the log.

use futures_util::StreamExt;
use futures_util::stream::select_all;
use session_core::Network;
use zbus::names::InterfaceName;
use zbus::{MatchRule, MessageStream};

const NETWORK_MANAGER: &str = "org.freedesktop.NetworkManager";
const MANAGER_PATH: &str = "/org/freedesktop/NetworkManager";

/// NetworkManager's connectivity in words, for the log.
pub fn connectivity_name(connectivity: u32) -> &'static str {
    match connectivity {
        1 => "none",
        2 => "portal",
        3 => "limited",
        4 => "full",
        _ => "unknown",
    }
}

/// What NetworkManager's `NMConnectivityState` means for the sessions: unknown (0) and full (4) are
/// online (without NetworkManager the app behaves as it did before it listened), none (1) and
/// limited (3) offline, portal (2) a captive portal.
pub fn network_of(connectivity: u32) -> Network {
    match connectivity {
        1 | 3 => Network::Offline,
        2 => Network::Portal,
        _ => Network::Online,
    }
}

/// What NetworkManager says its connectivity is now: 0 (unknown, taken as online) when it is not on
/// the bus or does not answer.
pub async fn connectivity(bus: &zbus::Connection) -> u32 {
    let read = async {
        let properties = zbus::fdo::PropertiesProxy::builder(bus)
            .destination(NETWORK_MANAGER)?
            .path(MANAGER_PATH)?
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await?;
        let value = properties.get(InterfaceName::from_static_str_unchecked(NETWORK_MANAGER), "Connectivity").await?;
        Ok::<u32, zbus::Error>(u32::try_from(value)?)
    };
    // A NetworkManager that does not answer must not hold the watcher up.
    match tokio::time::timeout(std::time::Duration::from_secs(5), read).await {
        Ok(Ok(connectivity)) => connectivity,
        _ => 0,
    }
}

/// Listens on `bus` for NetworkManager's announcements (the match rules are in place when this
/// returns): each message is a reason to read the connectivity again.
pub async fn subscribe(bus: &zbus::Connection) -> zbus::Result<impl futures_util::Stream<Item = zbus::Result<zbus::Message>> + use<>> {
    let signal = || MatchRule::builder().msg_type(zbus::message::Type::Signal);
    let rules = [
        signal().path(MANAGER_PATH)?.interface("org.freedesktop.DBus.Properties")?.member("PropertiesChanged")?.build(),
        signal().path(MANAGER_PATH)?.interface(NETWORK_MANAGER)?.member("StateChanged")?.build(),
        signal()
            .sender("org.freedesktop.DBus")?
            .interface("org.freedesktop.DBus")?
            .member("NameOwnerChanged")?
            .add_arg(NETWORK_MANAGER)?
            .build(),
    ];
    let mut streams = Vec::with_capacity(rules.len());
    for rule in rules {
        streams.push(MessageStream::for_match_rule(rule, bus, Some(16)).await?);
    }
    Ok(select_all(streams))
}

/// Reports the connectivity now, then each time it changes; returns when the bus goes away.
pub async fn watch(
    bus: &zbus::Connection,
    mut announcements: impl futures_util::Stream<Item = zbus::Result<zbus::Message>> + Unpin,
    report: impl Fn(u32),
) {
    let mut last = connectivity(bus).await;
    if last == 0 {
        tracing::info!("NetworkManager does not say the connectivity: the sessions behave as online");
    } else {
        tracing::info!(connectivity = connectivity_name(last), "the desktop's connectivity");
    }
    report(last);
    while announcements.next().await.is_some() {
        let now = connectivity(bus).await;
        if now != last {
            tracing::info!(from = connectivity_name(last), to = connectivity_name(now), "the desktop's connectivity changed");
            report(now);
            last = now;
        }
    }
}

/// Watches the system bus for the app's lifetime, if there is one.
pub async fn watch_system(manager: session_core::SessionManager) {
    let bus = match zbus::Connection::system().await {
        Ok(bus) => bus,
        Err(err) => {
            tracing::info!(error = %err, "no system bus: the sessions behave as online, whatever the network");
            return;
        }
    };
    match subscribe(&bus).await {
        Ok(announcements) => watch(&bus, announcements, move |connectivity| manager.connectivity_changed(network_of(connectivity))).await,
        Err(err) => tracing::info!(error = %err, "NetworkManager's signals are not available: the sessions behave as online"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn unknown_is_online_and_limited_is_offline() {
        let named: Vec<Network> = (0..=5).map(network_of).collect();
        use Network::{Offline, Online, Portal};
        assert_eq!(named, vec![Online, Offline, Portal, Offline, Online, Online]);
    }

    /// NetworkManager's main object, as much of it as the watcher reads.
    struct Manager {
        connectivity: u32,
    }

    #[zbus::interface(name = "org.freedesktop.NetworkManager")]
    impl Manager {
        #[zbus(property)]
        fn connectivity(&self) -> u32 {
            self.connectivity
        }
    }

    /// A stand-in for NetworkManager on the test run's private session bus (real NetworkManager owns
    /// the machine's network and cannot run, or be told to go offline, in a test container); the
    /// watcher is pointed at that bus. Skipped without a bus.
    #[tokio::test]
    async fn each_change_is_reported_once_and_without_network_manager_it_is_unknown() {
        let Ok(bus) = zbus::Connection::session().await else {
            eprintln!("no session bus: run under scripts/desktop-session.sh");
            return;
        };
        assert_eq!(connectivity(&bus).await, 0, "another NetworkManager on the test bus");
        let announcements = subscribe(&bus).await.unwrap();
        let (tx, mut reports) = tokio::sync::mpsc::unbounded_channel();
        let watcher_bus = bus.clone();
        let watcher = tokio::spawn(async move {
            watch(&watcher_bus, announcements, move |connectivity| {
                let _ = tx.send(connectivity);
            })
            .await
        });
        async fn next(reports: &mut tokio::sync::mpsc::UnboundedReceiver<u32>) -> u32 {
            tokio::time::timeout(Duration::from_secs(2), reports.recv()).await.expect("a report within 2 s").unwrap()
        }
        assert_eq!(next(&mut reports).await, 0, "no NetworkManager reads as unknown");
        let nm = zbus::connection::Builder::session()
            .unwrap()
            .name(NETWORK_MANAGER)
            .unwrap()
            .serve_at(MANAGER_PATH, Manager { connectivity: 1 })
            .unwrap()
            .build()
            .await
            .unwrap();
        assert_eq!(next(&mut reports).await, 1, "NetworkManager's arrival was not noticed");
        for connectivity in [2, 4] {
            let object = nm.object_server().interface::<_, Manager>(MANAGER_PATH).await.unwrap();
            object.get_mut().await.connectivity = connectivity;
            object.get().await.connectivity_changed(object.signal_emitter()).await.unwrap();
            assert_eq!(next(&mut reports).await, connectivity);
        }
        // A StateChanged that changes nothing reports nothing.
        nm.emit_signal(None::<()>, MANAGER_PATH, NETWORK_MANAGER, "StateChanged", &70u32).await.unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(300), reports.recv()).await.is_err(), "a report without a change");
        drop(nm);
        assert_eq!(next(&mut reports).await, 0, "NetworkManager's departure was not noticed");
        watcher.abort();
    }
}
