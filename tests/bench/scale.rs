//! Scale: many sessions kept alive by one core against a scripted token authority (no network: what is
//! measured is the scheduler and the core's own cost, with the session file the app writes, in a
//! temporary folder), release build:
//!
//! ```text
//! cargo build --release --locked -p session-keeper-e2e --example scale
//! target/release/examples/scale [--sessions 100000] [--seconds 120] [--ttl 60] [--plot BENCH_DIR]
//! ```
//!
//! Access tokens live `--ttl` seconds and are refreshed with the default lead time (never more than half
//! their life). The sessions start with expiries spread evenly over one lifetime, as sessions signed in
//! over time are (none within the seconds the seeding takes), and the run lasts `--seconds`. Reported: refreshes that started after their access
//! token had expired (target 0), requests per second (peak against mean, target at most 2x), the core's
//! memory per session (resident memory growth over the sessions, target under 16 KB) and CPU time per
//! refresh; with `--plot`, an SVG of requests per second.

use session_keeper_testkit::bench::scripted;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use secrecy::SecretString;
use session_core::{BoxFuture, Policy, RefreshAnswer, RefreshFailure, SessionManager, SessionSecrets, TokenAuthority, UserCheck};

/// Answers every refresh at once with a token of `ttl`, noting each arrival and whether the
/// presented access token had already expired, and if so, whether it expired while the core ran
/// (`ready`: when the manager was built) or before, while the benchmark was still seeding.
struct Scripted {
    ttl: TimeDelta,
    expiries: Mutex<HashMap<String, DateTime<Utc>>>,
    arrivals: Mutex<Vec<DateTime<Utc>>>,
    ready: Mutex<Option<DateTime<Utc>>>,
    after_expiry: AtomicU64,
    expired_before_ready: AtomicU64,
}

impl TokenAuthority for Scripted {
    fn refresh<'a>(&'a self, current: &'a SessionSecrets) -> BoxFuture<'a, Result<RefreshAnswer, RefreshFailure>> {
        let now = Utc::now();
        let id = scripted::session_of(current);
        let expires = now + self.ttl;
        if let Some(previous) = self.expiries.lock().unwrap().insert(id.clone(), expires)
            && previous <= now
        {
            let ready = *self.ready.lock().unwrap();
            let counter = if ready.is_some_and(|ready| previous >= ready) { &self.after_expiry } else { &self.expired_before_ready };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.arrivals.lock().unwrap().push(now);
        let answer = scripted::answer(&id, expires);
        Box::pin(async move { Ok(answer) })
    }

    fn user_info<'a>(&'a self, _access_token: &'a SecretString) -> BoxFuture<'a, UserCheck> {
        Box::pin(async { UserCheck::Valid(scripted::user()) })
    }
}

/// Seconds at the start that catch up with the sessions already due, left out of the spread's figure.
const CATCH_UP: usize = 2;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_owned())
}

/// Resident memory and CPU time (user + system) of this process, from /proc.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap()
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

#[tokio::main]
async fn main() {
    if cfg!(debug_assertions) {
        panic!("benchmarks run release builds: cargo build --release -p session-keeper-e2e --example scale");
    }
    // As the app's `main` does.
    session_core::limit_allocator_arenas();
    let sessions: usize = arg("--sessions", "100000").parse().unwrap();
    let seconds: u64 = arg("--seconds", "120").parse().unwrap();
    let ttl = TimeDelta::seconds(arg("--ttl", "60").parse().unwrap());
    let plot = std::env::args().any(|a| a == "--plot").then(|| arg("--plot", "."));
    let policy = Policy::default();
    let start = Utc::now();
    let authority = Arc::new(Scripted {
        ttl,
        expiries: Mutex::new(HashMap::new()),
        arrivals: Mutex::new(Vec::new()),
        ready: Mutex::new(None),
        after_expiry: AtomicU64::new(0),
        expired_before_ready: AtomicU64::new(0),
    });
    let mut rng = rand::rng();
    // Signed in at some moment of the last lifetime: each token expires within one lifetime, but not
    // within the first `margin`, which the seeding itself takes (about 1 s per 10,000 sessions); the
    // sessions already within their lead time are all due at the start, as after a wake.
    let margin = (ttl / 4).min(TimeDelta::seconds(15));
    let sessions_list: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = (0..sessions)
        .map(|n| {
            let signed_in = start - TimeDelta::milliseconds(rng.random_range(0..(ttl - margin).num_milliseconds()));
            (format!("s{n}"), signed_in, signed_in + ttl)
        })
        .collect();
    authority.expiries.lock().unwrap().extend(sessions_list.iter().map(|(id, _, expires)| (id.clone(), *expires)));
    let file = scripted::SessionFile::new();
    let store = file.store.clone();
    let vault = scripted::restored(store.as_ref(), sessions_list, &policy).await;
    let before = resident_kib();
    let manager =
        SessionManager::builder().vault(vault).store(store).policy(policy).token_authority(authority.clone()).build().await.unwrap();
    *authority.ready.lock().unwrap() = Some(Utc::now());
    let loaded = resident_kib();
    let cpu_before = cpu_seconds();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = cpu_seconds() - cpu_before;
    let after = resident_kib();
    manager.shutdown().await;

    let arrivals = authority.arrivals.lock().unwrap().clone();
    let ready = authority.ready.lock().unwrap().expect("set after the build");
    let mut per_second = vec![0u64; seconds as usize + 1];
    for at in &arrivals {
        let second = (*at - ready).num_seconds().max(0) as usize;
        if second < per_second.len() {
            per_second[second] += 1;
        }
    }
    // The first seconds catch up with the sessions already within their lead time at start, all due at
    // once as after a wake; the steady state follows (the last, partial second left out).
    let catch_up: u64 = per_second[..CATCH_UP].iter().sum();
    let steady = &per_second[CATCH_UP.min(per_second.len() - 1)..per_second.len() - 1];
    let mean = steady.iter().sum::<u64>() as f64 / steady.len().max(1) as f64;
    let peak = steady.iter().copied().max().unwrap_or(0);
    println!("scale: {sessions} sessions, {}-s access tokens, {seconds} s, scripted authority, release build", ttl.num_seconds());
    println!(
        "  refreshes {}; started after their access token expired: {} (target 0; besides {} whose token expired while the benchmark seeded, before the core ran)",
        arrivals.len(),
        authority.after_expiry.load(Ordering::Relaxed),
        authority.expired_before_ready.load(Ordering::Relaxed)
    );
    println!("  at start: {catch_up} refreshes in the first {CATCH_UP} s (the sessions already within their lead time)");
    println!(
        "  requests per second after that: mean {mean:.0}, peak {peak}, peak/mean {:.2} (target at most 2)",
        peak as f64 / mean.max(1.0)
    );
    println!(
        "  resident memory: {:.1} MiB before the manager, {:.1} MiB loaded, {:.1} MiB at the end: {:.2} KiB per session (target under 16 KiB)",
        before as f64 / 1024.0,
        loaded as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.max(loaded) - before) as f64 / sessions as f64
    );
    println!(
        "  CPU: {cpu:.2} s over {seconds} s ({:.1} % of a core), {:.1} µs per refresh",
        cpu / seconds as f64 * 100.0,
        cpu / arrivals.len().max(1) as f64 * 1e6
    );

    if let Some(dir) = plot {
        use plotters::prelude::*;
        let path = std::path::Path::new(&dir).join("scale-requests-per-second.svg");
        let root = SVGBackend::new(&path, (800, 360)).into_drawing_area();
        root.fill(&WHITE).unwrap();
        let top = (peak.max(*per_second.iter().max().unwrap_or(&1)) as f64 * 1.1) as u64 + 1;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("Token requests per second, {sessions} sessions, {}-s tokens", ttl.num_seconds()), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0u64..seconds, 0u64..top)
            .unwrap();
        chart.configure_mesh().x_desc("seconds since start").y_desc("requests per second").draw().unwrap();
        chart.draw_series(LineSeries::new(per_second.iter().enumerate().map(|(s, n)| (s as u64, *n)), &BLUE)).unwrap();
        root.present().unwrap();
        println!("  plot: {}", path.display());
    }
}
