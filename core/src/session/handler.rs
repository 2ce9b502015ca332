//! Pluggable refresh triggers. A [`RefreshHandler`] is initialised with the refresh settings and a
//! [`RefreshContext`] through which it asks for checks; it is destroyed when the settings change or
//! the manager stops. [`DefaultRefreshHandler`] implements `enable_periodically` and
//! `enable_on_window_focus`; the preemptive refresh before expiry is the scheduler's own and runs
//! whatever handler is plugged in.

use std::sync::Arc;

use tokio::sync::broadcast;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::state::Trigger;
use crate::policy::RefreshPolicy;

/// Something the desktop host reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostEvent {
    /// The app window gained focus.
    WindowFocused,
    /// The machine woke from sleep.
    Resumed,
}

/// Where a handler's triggers go: the session manager checks every session for each one.
pub trait TriggerSink: Send + Sync + 'static {
    /// Checks every session. Checks that find the access token fresh do not call the token endpoint;
    /// concurrent checks join a refresh in flight.
    fn check_all(&self, trigger: Trigger);
}

/// What a handler can do: ask for a check of every session, and hear host events.
#[derive(Clone)]
pub struct RefreshContext {
    sink: Arc<dyn TriggerSink>,
    host: broadcast::Sender<HostEvent>,
    cancel: CancellationToken,
}

impl RefreshContext {
    /// A context that sends triggers to `sink`, hears host events from `host` and ends with `cancel`.
    pub fn new(sink: Arc<dyn TriggerSink>, host: broadcast::Sender<HostEvent>, cancel: CancellationToken) -> Self {
        Self { sink, host, cancel }
    }

    /// Asks for a check of every session.
    pub fn check_all(&self, trigger: Trigger) {
        self.sink.check_all(trigger);
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::policy::EnablePeriodically;

    #[derive(Default)]
    struct Recorded(Mutex<Vec<Trigger>>);

    impl TriggerSink for Recorded {
        fn check_all(&self, trigger: Trigger) {
            self.0.lock().unwrap().push(trigger);
        }
    }

    fn started(policy: &RefreshPolicy) -> (DefaultRefreshHandler, Arc<Recorded>, broadcast::Sender<HostEvent>) {
        let sink = Arc::new(Recorded::default());
        let (host, _) = broadcast::channel(16);
        let mut handler = DefaultRefreshHandler::default();
        handler.init(policy, RefreshContext::new(sink.clone(), host.clone(), CancellationToken::new()));
        (handler, sink, host)
    }

    /// Returns once the handler has handled everything sent to it: on tokio's paused clock, time only
    /// moves forward when every task is idle, so this sleep ends after the handler's task has run.
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn periodic_checks_come_at_the_configured_interval_and_stop_when_destroyed() {
        let policy = RefreshPolicy { enable_periodically: EnablePeriodically::EveryMilliseconds(2500), ..RefreshPolicy::default() };
        let (mut handler, sink, _host) = started(&policy);
        tokio::time::sleep(Duration::from_millis(2400)).await;
        assert!(sink.0.lock().unwrap().is_empty(), "checked before the first period");
        tokio::time::sleep(Duration::from_millis(5200)).await;
        assert_eq!(*sink.0.lock().unwrap(), vec![Trigger::Interval; 3]);
        handler.destroy();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(sink.0.lock().unwrap().len(), 3, "checked after destroy");
    }

    #[tokio::test(start_paused = true)]
    async fn focus_triggers_a_check_only_when_enabled() {
        let (_on, sink, host) = started(&RefreshPolicy::default());
        settle().await;
        host.send(HostEvent::WindowFocused).unwrap();
        host.send(HostEvent::Resumed).unwrap();
        settle().await;
        assert_eq!(*sink.0.lock().unwrap(), vec![Trigger::Focus], "resume is the manager's own trigger");

        let (_off, sink, host) = started(&RefreshPolicy { enable_on_window_focus: false, ..RefreshPolicy::default() });
        settle().await;
        host.send(HostEvent::WindowFocused).unwrap();
        settle().await;
        assert!(sink.0.lock().unwrap().is_empty(), "focus checked with enable_on_window_focus off");
    }

    #[tokio::test(start_paused = true)]
    async fn no_periodic_check_by_default() {
        let (_handler, sink, _host) = started(&RefreshPolicy::default());
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(sink.0.lock().unwrap().is_empty());
    }
}
