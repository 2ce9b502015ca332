//! Pluggable refresh triggers. A [`RefreshHandler`] is initialised with the refresh settings and a
//! [`RefreshContext`] through which it asks for checks; it is destroyed when the settings change or
//! the manager stops. [`DefaultRefreshHandler`] implements `enable_periodically` and
//! `enable_on_window_focus`; the preemptive refresh before expiry is the scheduler's own and runs
//! whatever handler is plugged in.

use tokio::sync::{broadcast, mpsc};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::manager::Command;
use crate::policy::RefreshPolicy;
use crate::state::Trigger;

/// Something the desktop host reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostEvent {
    /// The app window gained focus.
    WindowFocused,
    /// The machine woke from sleep.
    Resumed,
}

/// What a handler can do: ask for a check of every session, and hear host events.
#[derive(Clone)]
pub struct RefreshContext {
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) host: broadcast::Sender<HostEvent>,
    pub(crate) cancel: CancellationToken,
}

impl RefreshContext {
    /// Asks the scheduler to check every session. Checks that find the access token fresh do not call
    /// the token endpoint; concurrent checks join a refresh in flight.
    pub fn check_all(&self, trigger: Trigger) {
        let _ = self.commands.send(Command::Trigger { id: None, trigger, reply: None });
    }

    /// Host events (window focus, resume) from now on.
    pub fn host_events(&self) -> broadcast::Receiver<HostEvent> {
        self.host.subscribe()
    }

    /// Cancelled when the manager shuts down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

/// A source of refresh triggers, after the web libraries' `RefreshHandler`.
pub trait RefreshHandler: Send + 'static {
    /// Starts the handler with the current settings.
    fn init(&mut self, policy: &RefreshPolicy, context: RefreshContext);
    /// Stops everything `init` started.
    fn destroy(&mut self);
}

/// The interval and window-focus triggers.
#[derive(Default)]
pub struct DefaultRefreshHandler {
    running: Option<CancellationToken>,
}

impl RefreshHandler for DefaultRefreshHandler {
    fn init(&mut self, policy: &RefreshPolicy, context: RefreshContext) {
        self.destroy();
        let token = context.shutdown_token().child_token();
        self.running = Some(token.clone());
        let period = policy.enable_periodically.interval();
        let on_focus = policy.enable_on_window_focus;
        let mut host = context.host_events();
        tokio::spawn(async move {
            let mut interval = period.map(|period| {
                let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
                interval
            });
            loop {
                tokio::select! {
                    // Once destroyed, a handler must not act on events that were already queued.
                    biased;
                    _ = token.cancelled() => break,
                    _ = async { interval.as_mut().expect("guarded").tick().await }, if interval.is_some() => {
                        context.check_all(Trigger::Interval);
                    }
                    event = host.recv() => match event {
                        Ok(HostEvent::WindowFocused) if on_focus => context.check_all(Trigger::Focus),
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
        });
    }

    fn destroy(&mut self) {
        if let Some(token) = self.running.take() {
            token.cancel();
        }
    }
}

impl Drop for DefaultRefreshHandler {
    fn drop(&mut self) {
        self.destroy();
    }
}
