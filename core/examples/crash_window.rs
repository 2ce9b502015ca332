//! Measurement (run a release build by hand, see RELIABILITY.md): the crash window of a refresh, from
//! the provider's answer to the keychain's acknowledgement of the write, over 1,000 refreshes against
//! the real provider and gnome-keyring, next to a bare keychain write of the same item. The window is
//! read from the core's own `window_us` event, so it is the real code path.
//!
//! `scripts/desktop-session.sh -- cargo run --release -p session-core --example crash_window`

use session_keeper_testkit as support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use session_core::{Policy, SecretVault, Vault};
use support::{Idp, Ttls, keychain, manager, signed_in};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

const ROUNDS: usize = 1000;

/// Collects the `window_us` field of the core's events.
struct Windows(Arc<Mutex<Vec<u64>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Windows {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        struct Find(Option<u64>);
        impl Visit for Find {
            fn record_u64(&mut self, field: &Field, value: u64) {
                if field.name() == "window_us" {
                    self.0 = Some(value);
                }
            }
            fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
        }
        let mut find = Find(None);
        event.record(&mut find);
        if let Some(window) = find.0 {
            self.0.lock().unwrap().push(window);
        }
    }
}

fn percentiles(mut samples: Vec<u64>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize] as f64 / 1000.0;
    (at(0.5), at(0.99))
}

#[tokio::main]
async fn main() {
    let windows = Arc::new(Mutex::new(Vec::new()));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Windows(windows.clone()))).unwrap();
    let idp = Idp::start(Ttls::default());
    let vault = keychain("crash-window");
    let manager = manager(vault.clone(), Policy::default()).await;
    signed_in(&manager, &idp, "s", "alice").await;
    for _ in 0..ROUNDS {
        manager.refresh("s", true).await.unwrap();
    }
    let secrets = SecretVault::new(vault.clone() as Arc<dyn Vault>, Duration::from_secs(5));
    let item = secrets.load_tokens("s").await.unwrap().unwrap();
    let mut bare = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        secrets.save_tokens("bare", &item).await.unwrap();
        bare.push(started.elapsed().as_micros() as u64);
    }
    let windows = std::mem::take(&mut *windows.lock().unwrap());
    assert_eq!(windows.len(), ROUNDS, "one window per refresh");
    let (window_median, window_p99) = percentiles(windows);
    let (bare_median, bare_p99) = percentiles(bare);
    println!(
        "crash window over {ROUNDS} refreshes: median {window_median:.2} ms, p99 {window_p99:.2} ms; \
         bare keychain write of the same item: median {bare_median:.2} ms, p99 {bare_p99:.2} ms"
    );
    let _ = secrets.delete_tokens("bare").await;
    let _ = secrets.delete_tokens("s").await;
}
