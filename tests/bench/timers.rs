//! Timer accuracy: how late the preemptive refresh starts after its wall-clock deadline. N sessions
//! (1,000 by default) are restored with access tokens expiring 7 to 17 s from now, a lead time of
//! 1 s, and a scripted token authority (no network: what is measured is the scheduler) that notes when
//! each refresh reaches it. The deadline of each is the instant the core planned and published before
//! the run (`next_refresh_at`: the expiry minus the lead time, spread up to half of it earlier).
//! Release builds only:
//!
//! ```text
//! cargo build --release --locked -p session-keeper-e2e --example timers
//! target/release/examples/timers [--sessions N]
//! ```

use session_keeper_testkit::bench::scripted;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use secrecy::SecretString;
use session_core::{BoxFuture, Policy, RefreshAnswer, RefreshFailure, SessionManager, SessionSecrets, TokenAuthority, UserCheck};

/// Answers every refresh at once with an hour-long token, noting when each session's came.
struct Stopwatch {
    arrivals: Mutex<Vec<(String, DateTime<Utc>)>>,
}

impl TokenAuthority for Stopwatch {
    fn refresh<'a>(&'a self, current: &'a SessionSecrets) -> BoxFuture<'a, Result<RefreshAnswer, RefreshFailure>> {
        let now = Utc::now();
        let id = scripted::session_of(current);
        let answer = scripted::answer(&id, now + TimeDelta::hours(1));
        self.arrivals.lock().unwrap().push((id, now));
        Box::pin(async move { Ok(answer) })
    }

    fn user_info<'a>(&'a self, _access_token: &'a SecretString) -> BoxFuture<'a, UserCheck> {
        Box::pin(async { UserCheck::Valid(scripted::user()) })
    }
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    if cfg!(debug_assertions) {
        panic!("benchmarks run release builds: cargo build --release -p session-keeper-e2e --example timers");
    }
    let sessions = arg("--sessions", 1000);
    let mut policy = Policy::default();
    policy.refresh.lead_time = Duration::from_secs(1);
    let start = Utc::now();
    let mut rng = rand::rng();
    let expiries: Vec<(String, DateTime<Utc>)> =
        (0..sessions).map(|n| (format!("s{n}"), start + TimeDelta::milliseconds(rng.random_range(7_000..17_000)))).collect();
    let file = scripted::SessionFile::new();
    let store = file.store.clone();
    let vault = scripted::restored(store.as_ref(), expiries.iter().map(|(id, expires)| (id.clone(), start, *expires)), &policy).await;
    let stopwatch = Arc::new(Stopwatch { arrivals: Mutex::new(Vec::new()) });
    let manager =
        SessionManager::builder().vault(vault).store(store).policy(policy).token_authority(stopwatch.clone()).build().await.unwrap();
    let deadlines: HashMap<String, DateTime<Utc>> =
        manager.snapshots().await.unwrap().into_iter().map(|s| (s.id.to_string(), s.next_refresh_at.expect("planned"))).collect();
    for (id, expires) in &expiries {
        let lead = *expires - deadlines[id];
        assert!((TimeDelta::seconds(1)..=TimeDelta::milliseconds(1500)).contains(&lead), "{id}: planned {lead} before expiry");
    }
    // Every deadline lies within 16 s of the start; wait for the last refresh (bounded).
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while stopwatch.arrivals.lock().unwrap().len() < sessions && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    manager.shutdown().await;
    let arrivals = stopwatch.arrivals.lock().unwrap().clone();
    let mut late: Vec<f64> = arrivals.iter().map(|(id, at)| (*at - deadlines[id]).num_microseconds().unwrap() as f64 / 1e3).collect();
    late.sort_by(f64::total_cmp);
    let at = |q: f64| late[((late.len() as f64 * q) as usize).min(late.len() - 1)];
    let early = late.iter().filter(|ms| **ms < 0.0).count();
    let within = late.iter().filter(|ms| (0.0..=50.0).contains(*ms)).count();
    println!("timer accuracy: {} of {sessions} preemptive refreshes, lead time 1 s, release build", late.len());
    println!(
        "  start after the wall-clock deadline: median {:.2} ms, p99 {:.2} ms, max {:.2} ms; early {early}; within 50 ms {within} of {} (target: all)",
        at(0.5),
        at(0.99),
        late.last().copied().unwrap_or(f64::NAN),
        late.len()
    );
}
