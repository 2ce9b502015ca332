//! Scale against the real provider: N sessions (10,000 by default) signed in at the test provider
//! (`tests/idp`, oidc-provider) with short-lived access tokens, kept alive by one core for
//! `--seconds` (600 by default). The vault is in memory (10,000 keychain items are not what this
//! measures); the session file is the app's JSON file. Release builds only:
//!
//! ```text
//! cargo build --release --locked -p session-keeper-e2e --example provider_scale
//! target/release/examples/provider_scale [--sessions 10000] [--seconds 600] [--ttl 120]
//! ```
//!
//! Every second it reads all snapshots: a session whose `last_refresh_at` moved was refreshed then,
//! and late if that is after the access token it replaced had expired. Reported: late refreshes
//! (target 0), sessions that ended, refreshes per second (peak against mean, target at most 2), the
//! core's resident memory per session and CPU per refresh (the provider runs in its own process).

use session_keeper_testkit::bench::scripted;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use session_core::{MemoryVault, Phase, Policy, SessionManager, Vault};
use session_keeper_testkit as support;
use support::{Idp, Ttls};

/// The system allocator, counting the bytes live on the heap: the core's own memory per session,
/// apart from what the allocator keeps for reuse (resident memory reports both).
struct Counting;

static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; the counter is only added to.
#[allow(unsafe_code)]
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// An in-memory vault that knows how many bytes of secrets it holds: in the app they live in
/// gnome-keyring's process, so they are taken out of the core's figure.
struct Sizing {
    inner: MemoryVault,
    held: std::sync::Mutex<HashMap<String, usize>>,
}

impl Sizing {
    fn bytes(&self) -> usize {
        self.held.lock().unwrap().iter().map(|(name, len)| name.len() + len).sum()
    }
}

impl Vault for Sizing {
    fn get(&self, name: &str) -> session_core::Result<Option<SecretString>> {
        self.inner.get(name)
    }
    fn set(&self, name: &str, value: &SecretString) -> session_core::Result<()> {
        self.held.lock().unwrap().insert(name.to_owned(), value.expose_secret().len());
        self.inner.set(name, value)
    }
    fn delete(&self, name: &str) -> session_core::Result<()> {
        self.held.lock().unwrap().remove(name);
        self.inner.delete(name)
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.trim().trim_end_matches(" kB").parse().ok()).unwrap()
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    (fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()) as f64 / 100.0
}

/// A session's last refresh and the access-token expiry it replaced, as last seen.
type Expiries = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

#[tokio::main]
async fn main() {
    if cfg!(debug_assertions) {
        panic!("benchmarks run release builds: cargo build --release -p session-keeper-e2e --example provider_scale");
    }
    session_core::limit_allocator_arenas();
    let sessions = arg("--sessions", 10_000) as usize;
    let seconds = arg("--seconds", 600);
    let ttl = arg("--ttl", 120);
    let file = scripted::SessionFile::new();
    // oidc-provider's quick-start memory adapter is an LRU of a thousand-odd entries: with hundreds of
    // sessions it forgets grants and answers invalid_grant. The test provider's durable store (a Map,
    // written out only when the provider stops) keeps them all.
    let state = std::env::temp_dir().join(format!("session-keeper-provider-scale-{}.json", std::process::id()));
    let idp = Arc::new(Idp::start_with(Ttls { access: ttl, refresh: 86_400 }, &[("IDP_STATE_FILE", state.to_str().unwrap())]));
    let before = status_kib("VmRSS:");
    let heap_before = LIVE.load(Ordering::Relaxed);
    let vault = Arc::new(Sizing { inner: MemoryVault::new(), held: Default::default() });
    let manager =
        Arc::new(SessionManager::builder().vault(vault.clone()).store(file.store.clone()).policy(Policy::default()).build().await.unwrap());

    // Sign-ins through the provider's pages, eight at a time, spread over one token lifetime so that
    // the sessions do not start in step (as users sign in over time).
    let signing_in = Instant::now();
    let spacing = Duration::from_secs(ttl).div_f64(sessions as f64 / 8.0).min(Duration::from_millis(100));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (manager, idp) = (manager.clone(), idp.clone());
        workers.spawn(async move {
            for n in (worker..sessions).step_by(8) {
                let started = Instant::now();
                support::signed_in(&manager, &idp, &format!("s{n}"), if n % 2 == 0 { "alice" } else { "bob" }).await;
                tokio::time::sleep(spacing.saturating_sub(started.elapsed())).await;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.unwrap();
    }
    println!(
        "provider scale: {sessions} sessions signed in at oidc-provider in {:.0} s, {ttl}-s access tokens, release build",
        signing_in.elapsed().as_secs_f64()
    );

    let loaded = status_kib("VmRSS:");
    let cpu_before = cpu_seconds();
    let started: DateTime<Utc> = Utc::now();
    let mut last: HashMap<String, Expiries> = HashMap::new();
    let (mut refreshes, mut late, mut per_second) = (0u64, 0u64, vec![0u64; seconds as usize + 1]);
    let mut next = tokio::time::Instant::now();
    let until = next + Duration::from_secs(seconds);
    while next < until {
        next += Duration::from_secs(1);
        tokio::time::sleep_until(next).await;
        for session in manager.snapshots().await.unwrap() {
            let now = (session.last_refresh_at, session.access_token_expires_at);
            if let Some(&(previous_refresh, expired_at)) = last.get(session.id.as_str())
                && let Some(at) = session.last_refresh_at
                && previous_refresh != Some(at)
            {
                refreshes += 1;
                if expired_at.is_some_and(|expiry| at > expiry) {
                    late += 1;
                }
                if at >= started {
                    let second = (at - started).num_seconds() as usize;
                    if second < per_second.len() {
                        per_second[second] += 1;
                    }
                }
            }
            last.insert(session.id.to_string(), now);
        }
    }
    let cpu = cpu_seconds() - cpu_before;
    let after = status_kib("VmRSS:");
    // Live heap with no snapshot of this program's held: the core, the vault and the HTTP client.
    drop(last);
    let heap = LIVE.load(Ordering::Relaxed).saturating_sub(heap_before);
    let secrets = vault.bytes();
    let at_end = manager.snapshots().await.unwrap();
    let ended = at_end.iter().filter(|s| !matches!(s.phase, Phase::Active | Phase::Refreshing)).count();
    if let Some(one) = at_end.iter().find(|s| !matches!(s.phase, Phase::Active | Phase::Refreshing)) {
        println!("  for example {}: {:?}, {:?}", one.id, one.phase, one.last_error.as_ref().map(|e| &e.message));
    }
    manager.shutdown().await;
    drop(idp);
    let _ = std::fs::remove_file(&state);

    let steady = &per_second[..per_second.len() - 1];
    let mean = steady.iter().sum::<u64>() as f64 / steady.len().max(1) as f64;
    let peak = steady.iter().copied().max().unwrap_or(0);
    println!(
        "  refreshes {refreshes} in {seconds} s; after their access token expired: {late} (target 0); sessions not active at the end: {ended}"
    );
    println!("  refreshes per second: mean {mean:.1}, peak {peak}, peak/mean {:.2} (target at most 2)", peak as f64 / mean.max(1.0));
    println!(
        "  resident memory: {:.1} MiB before, {:.1} MiB signed in, {:.1} MiB at the end: {:.2} KiB per session (target under 16 KiB)",
        before as f64 / 1024.0,
        loaded as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.max(loaded) - before) as f64 / sessions as f64
    );
    println!(
        "  live heap: {:.2} KiB per session; of it the vault's copy of the tokens {:.2} KiB (in the app they are in gnome-keyring's process): the core {:.2} KiB per session (target under 16 KiB)",
        heap as f64 / 1024.0 / sessions as f64,
        secrets as f64 / 1024.0 / sessions as f64,
        heap.saturating_sub(secrets) as f64 / 1024.0 / sessions as f64
    );
    println!("  CPU of the core's process: {cpu:.2} s, {:.0} µs per refresh", cpu / refreshes.max(1) as f64 * 1e6);
}
