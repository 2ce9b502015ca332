//! Waking from sleep, as logind announces it: `PrepareForSleep(false)` of
//! `org.freedesktop.login1.Manager` on the system bus. The core's deadlines are wall-clock instants, so
//! a session whose access token expired while the machine slept is due the moment it wakes; without
//! this signal the core would only notice at its next periodic look at the clock (`wake_interval`,
//! 10 s). With it, every session is checked at once ([`session_core::SessionManager::resumed`]).
//!
//! No system bus, or no logind on it (a container, a desktop without systemd), is not an error: the
//! periodic look remains.

use futures_util::StreamExt;
use zbus::{MatchRule, MessageStream};

const LOGIND: &str = "org.freedesktop.login1";
const MANAGER_PATH: &str = "/org/freedesktop/login1";
const MANAGER_INTERFACE: &str = "org.freedesktop.login1.Manager";

/// Listens on `bus` for logind's sleep signal (the match rule is in place when this returns).
pub async fn subscribe(bus: &zbus::Connection) -> zbus::Result<MessageStream> {
    let rule = MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender(LOGIND)?
        .path(MANAGER_PATH)?
        .interface(MANAGER_INTERFACE)?
        .member("PrepareForSleep")?
        .build();
    MessageStream::for_match_rule(rule, bus, Some(16)).await
}

/// Calls `woke` each time the machine has resumed; returns when the bus goes away.
pub async fn watch(mut signals: MessageStream, woke: impl Fn()) {
    while let Some(message) = signals.next().await {
        let Ok(message) = message else { continue };
        // `true` before sleeping, `false` after waking.
        if let Ok(false) = message.body().deserialize::<bool>() {
            tracing::info!("the machine woke from sleep; checking every session");
            woke();
        }
    }
}

/// Watches the system bus for the app's lifetime, if there is one.
pub async fn watch_system(manager: session_core::SessionManager) {
    let bus = match zbus::Connection::system().await {
        Ok(bus) => bus,
        Err(err) => {
            tracing::info!(error = %err, "no system bus: a wake from sleep is noticed within 10 s instead of at once");
            return;
        }
    };
    match subscribe(&bus).await {
        Ok(signals) => watch(signals, move || manager.resumed()).await,
        Err(err) => {
            tracing::info!(error = %err, "logind's sleep signal is not available: a wake from sleep is noticed within 10 s instead of at once")
        }
    }
}

/// Returns when the session bus goes away (the desktop session ends); never, if there is none.
pub async fn session_bus_gone() {
    match zbus::Connection::session().await {
        Ok(bus) => closed(&bus).await,
        Err(_) => std::future::pending().await,
    }
}

/// Returns when `bus` is closed by the other end: its message stream ends.
async fn closed(bus: &zbus::Connection) {
    let mut messages = MessageStream::from(bus);
    while messages.next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A stand-in for logind on the test run's private bus (`scripts/desktop-session.sh`): real logind
    /// needs systemd as PID 1 and cannot be told to suspend a test machine. Skipped without a bus.
    #[tokio::test]
    async fn a_wake_is_reported_at_once_and_going_to_sleep_is_not() {
        let Ok(bus) = zbus::Connection::session().await else {
            eprintln!("no session bus: run under scripts/desktop-session.sh");
            return;
        };
        let logind = zbus::connection::Builder::session().unwrap().name(LOGIND).unwrap().build().await.unwrap();
        let (woke, mut wakes) = tokio::sync::mpsc::unbounded_channel();
        let signals = subscribe(&bus).await.unwrap();
        let watcher = tokio::spawn(watch(signals, move || {
            let _ = woke.send(std::time::Instant::now());
        }));
        let impostor = zbus::Connection::session().await.unwrap();
        for (emitter, going_to_sleep) in [(&logind, true), (&impostor, false), (&logind, false)] {
            emitter.emit_signal(None::<()>, MANAGER_PATH, MANAGER_INTERFACE, "PrepareForSleep", &going_to_sleep).await.unwrap();
        }
        let sent = std::time::Instant::now();
        let at = tokio::time::timeout(Duration::from_secs(1), wakes.recv()).await.expect("the wake was reported within a second").unwrap();
        assert!(at - sent < Duration::from_secs(1));
        // Neither the signal before sleep nor one from another sender counted.
        assert!(tokio::time::timeout(Duration::from_millis(300), wakes.recv()).await.is_err(), "one wake only");
        watcher.abort();
    }

    /// A bus daemon of the test's own, killed as a log-out ends the session's: the watch returns at once.
    #[tokio::test]
    async fn the_end_of_the_session_bus_is_noticed_at_once() {
        let folder = std::env::temp_dir().join(format!("sk-bus-gone-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let config = folder.join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<busconfig><type>session</type><listen>unix:dir={}</listen><policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>"#,
                folder.display()
            ),
        )
        .unwrap();
        let Ok(mut daemon) = std::process::Command::new("dbus-daemon")
            .args(["--nofork", "--print-address=1", &format!("--config-file={}", config.display())])
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            eprintln!("no dbus-daemon: install dbus (scripts/setup.sh)");
            return;
        };
        let mut address = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(daemon.stdout.take().unwrap()), &mut address).unwrap();
        let bus = tokio::time::timeout(Duration::from_secs(5), zbus::connection::Builder::address(address.trim()).unwrap().build())
            .await
            .expect("the test bus answered")
            .unwrap();
        let watch = tokio::spawn(async move { closed(&bus).await });
        assert!(
            tokio::time::timeout(Duration::from_millis(300), async {
                while !watch.is_finished() {
                    tokio::task::yield_now().await
                }
            })
            .await
            .is_err(),
            "the watch ended while the bus was up"
        );
        daemon.kill().unwrap();
        daemon.wait().unwrap();
        let noticed = std::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(1), watch).await.expect("the end of the bus was noticed within a second").unwrap();
        assert!(noticed.elapsed() < Duration::from_secs(1));
        let _ = std::fs::remove_dir_all(&folder);
    }
}
