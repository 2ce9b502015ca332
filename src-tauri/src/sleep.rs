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
        Err(err) => tracing::info!(error = %err, "logind's sleep signal is not available: a wake from sleep is noticed within 10 s instead of at once"),
    }
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
}
