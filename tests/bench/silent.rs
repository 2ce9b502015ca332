//! A silent re-authentication (issue 26: the authorization request with `prompt=none` on the provider's
//! own session, the code exchange, every check of a sign-in, the keychain write) beside a refresh of the
//! same session, interleaved round by round in one run against the real provider (`tests/idp`). Release
//! builds only:
//!
//! ```text
//! cargo build --release --locked -p session-keeper-e2e --example silent
//! target/release/examples/silent [--rounds N]
//! ```
//!
//! The silent browser here is the test one (`tests/support/src/silent.rs`: an HTTP client with the
//! provider's cookie jar following its redirects), so the figure is the core's and the provider's part;
//! the hidden WebKit window adds its own (its page loads), which the end-to-end test `silent` measures
//! in the real window and writes to `silent-sign-in.json`. Prints medians and p95 and their ratio, and
//! asserts nothing about absolute times.

use session_keeper_testkit as support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use session_core::{MemoryVault, Policy, SessionManager};
use support::silent::TestSilentBrowser;
use support::{Idp, Ttls};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Median and p95 in milliseconds.
fn spread(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).saturating_sub(1).min(samples.len() - 1)].as_secs_f64() * 1e3;
    (at(0.5), at(0.95))
}

#[tokio::main]
async fn main() {
    let rounds = arg("--rounds", 100);
    if cfg!(debug_assertions) {
        panic!("benchmarks run release builds: cargo build --release -p session-keeper-e2e --example silent");
    }
    // An hour-long provider session: every round's silent sign-in finds it.
    let idp = Idp::start_with(Ttls::default(), &[("IDP_SESSION_TTL", "3600")]);
    let browser = TestSilentBrowser::new();
    let core = SessionManager::builder()
        .vault(Arc::new(MemoryVault::new()))
        .policy(Policy::default())
        .silent_browser(browser.clone())
        .request_timeout(Duration::from_secs(10))
        .build()
        .await
        .unwrap();
    core.add_session("s", idp.config(), None).await.unwrap();
    let url = core.begin_sign_in("s").await.unwrap();
    let redirect = browser.login(&url, "alice").await;
    core.complete_sign_in("s", &redirect).await.unwrap();
    println!("silent re-authentication beside a refresh: {rounds} rounds each, interleaved, release build, provider {}", idp.issuer);

    let (mut silent, mut refresh) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        let renewed = core.silent_sign_in("s").await.unwrap();
        silent.push(started.elapsed());
        assert_eq!(renewed.silent.last.as_ref().map(|last| last.outcome), Some(session_core::SilentOutcome::Renewed));
        let started = Instant::now();
        core.refresh("s", true).await.unwrap();
        refresh.push(started.elapsed());
    }
    core.shutdown().await;
    let (silent_median, silent_p95) = spread(silent);
    let (refresh_median, refresh_p95) = spread(refresh);
    println!(
        "  {:<62} median {silent_median:>7.3} ms   p95 {silent_p95:>7.3} ms",
        "silent sign-in (prompt=none, code exchange, checks, vault)"
    );
    println!("  {:<62} median {refresh_median:>7.3} ms   p95 {refresh_p95:>7.3} ms", "refresh of the same session (the baseline)");
    println!(
        "  ratio silent / refresh: median {:.2}x, p95 {:.2}x; the provider saw {} silent navigations",
        silent_median / refresh_median,
        silent_p95 / refresh_p95,
        browser.navigations()
    );
}
