//! Faults between the client and the provider: 20 sessions with 10-second access tokens kept alive
//! through a run of random faults played by a proxy in front of the real provider (latency, resets,
//! 502/503/504 pages, black holes, and graceful provider restarts that keep its state), with timer,
//! focus and manual triggers mixed in. The provider (oidc-provider) rotates refresh tokens and revokes
//! the whole grant when a spent one comes back, so a single reuse of our own shows as `invalid_grant`.
//!
//! Asserted: no session is discarded (Expired or signed out) while the provider still honours its
//! refresh token, the provider answers no request with `invalid_grant`, and every session is active
//! again within one backoff interval of the faults stopping (the longest retry delay, plus the request
//! timeout of a request already sent into a black hole). `SESSION_KEEPER_FAULT_SECONDS` sets the length
//! of the run (60 unless set; RELIABILITY.md has a 600-second run in a release build).

use session_keeper_testkit as support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::Rng;
use session_core::{EnablePeriodically, Phase, Policy, SessionEvent, SessionManager, Trigger};
use support::faults::{Fault, FaultProxy};
use support::{Idp, Ttls, keychain};

const SESSIONS: usize = 20;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_faults_discard_no_session_and_all_recover_within_one_backoff() {
    let seconds: u64 = std::env::var("SESSION_KEEPER_FAULT_SECONDS").ok().and_then(|n| n.parse().ok()).unwrap_or(60);
    assert!(std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(), "run through scripts/test.sh (a private bus with gnome-keyring)");
    let proxy = FaultProxy::start().await;
    let state = std::env::temp_dir().join(format!("session-core-faults-idp-{}.json", std::process::id()));
    let issuer = format!("http://127.0.0.1:{}", proxy.port);
    let mut idp =
        Idp::start_with(Ttls { access: 10, ..Ttls::default() }, &[("IDP_ISSUER", &issuer), ("IDP_STATE_FILE", state.to_str().unwrap())]);
    proxy.set_upstream(idp.port);

    let mut policy = Policy::default();
    policy.refresh.enable_periodically = EnablePeriodically::EveryMilliseconds(2000);
    policy.refresh.retry_max_delay = RETRY_MAX;
    let manager =
        SessionManager::builder().vault(keychain("faults")).policy(policy).request_timeout(REQUEST_TIMEOUT).build().await.unwrap();
    let names: Vec<String> = (1..=SESSIONS).map(|n| format!("user{n:02}")).collect();
    for name in &names {
        support::signed_in(&manager, &idp, name, name).await;
    }

    // Every session that ends up discarded, and why.
    let mut events = manager.subscribe();
    let stop_watching = tokio_util::sync::CancellationToken::new();
    let watcher = {
        let stop = stop_watching.clone();
        tokio::spawn(async move {
            let mut discarded = BTreeMap::new();
            let mut note = |event: SessionEvent| {
                if let SessionEvent::Changed { session } = event
                    && matches!(session.phase, Phase::Expired | Phase::SignedOut)
                {
                    discarded.insert(session.id.clone(), format!("{:?}: {:?}", session.phase, session.last_error));
                }
            };
            loop {
                tokio::select! {
                    biased;
                    event = events.recv() => match event {
                        Ok(event) => note(event),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => panic!("the test fell {n} events behind"),
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    },
                    _ = stop.cancelled() => {
                        while let Ok(event) = events.try_recv() {
                            note(event);
                        }
                        break;
                    }
                }
            }
            discarded
        })
    };

    // Focus and manual triggers, at random, while the faults play.
    let stop_triggers = tokio_util::sync::CancellationToken::new();
    let triggers = {
        let manager = manager.clone();
        let names = names.clone();
        let stop = stop_triggers.clone();
        tokio::spawn(async move {
            let mut counts = BTreeMap::<&str, u32>::new();
            while !stop.is_cancelled() {
                let (pause, pick, which) = {
                    let mut rng = rand::rng();
                    (rng.random_range(100..600), rng.random_range(0..10), rng.random_range(0..names.len()))
                };
                tokio::time::sleep(Duration::from_millis(pause)).await;
                let name = &names[which];
                match pick {
                    0..=3 => {
                        manager.window_focused();
                        *counts.entry("focus").or_default() += 1;
                    }
                    4..=7 => {
                        let manager = manager.clone();
                        let name = name.clone();
                        tokio::spawn(async move { manager.trigger(&name, Trigger::Manual { force: false }).await });
                        *counts.entry("manual").or_default() += 1;
                    }
                    _ => {
                        let manager = manager.clone();
                        let name = name.clone();
                        tokio::spawn(async move { manager.refresh(&name, true).await });
                        *counts.entry("forced").or_default() += 1;
                    }
                }
            }
            counts
        })
    };

    let began = Instant::now();
    let mut played = BTreeMap::<&str, u32>::new();
    let mut restarts = Vec::new();
    // The kinds come in shuffled rounds, so that every run plays each of them.
    let mut kinds = Vec::new();
    while began.elapsed() < Duration::from_secs(seconds) {
        if kinds.is_empty() {
            kinds = (0..6).collect();
            rand::seq::SliceRandom::shuffle(kinds.as_mut_slice(), &mut rand::rng());
        }
        let kind = kinds.pop().unwrap();
        let hold = Duration::from_millis(rand::rng().random_range(500..4000));
        let fault = match kind {
            0 => Fault::None,
            1 => Fault::Latency(Duration::from_millis(rand::rng().random_range(50..1500))),
            2 => Fault::Reset,
            3 => Fault::Status([502, 503, 504][rand::rng().random_range(0..3)]),
            4 => Fault::BlackHole,
            5 => {
                // A provider restart: gracefully stopped (requests in flight answered), started again
                // with its state, clients meanwhile refused at the door.
                played.entry("restart").and_modify(|n| *n += 1).or_insert(1);
                restarts.push(tokio::task::block_in_place(|| idp.restart()));
                continue;
            }
            _ => unreachable!(),
        };
        *played
            .entry(match fault {
                Fault::None => "none",
                Fault::Latency(_) => "latency",
                Fault::Reset => "reset",
                Fault::Status(_) => "5xx",
                Fault::BlackHole => "black hole",
            })
            .or_default() += 1;
        proxy.set(fault);
        tokio::time::sleep(hold).await;
    }
    proxy.set(Fault::None);
    let faults_stopped = Instant::now();
    stop_triggers.cancel();
    let triggered = triggers.await.unwrap();

    // Every session active again: no failure pending and an access token that is valid now.
    let bound = RETRY_MAX + REQUEST_TIMEOUT + Duration::from_secs(1);
    let recovered = loop {
        let sessions = manager.snapshots().await.unwrap();
        let now = chrono::Utc::now();
        let waiting: Vec<_> = sessions
            .iter()
            .filter(|s| !(s.phase == Phase::Active && s.consecutive_failures == 0 && s.access_token_expires_at.is_some_and(|at| at > now)))
            .map(|s| {
                format!("{} {:?} failures {} {:?}", s.id, s.phase, s.consecutive_failures, s.last_error.as_ref().map(|e| e.message.clone()))
            })
            .collect();
        if waiting.is_empty() {
            break faults_stopped.elapsed();
        }
        assert!(faults_stopped.elapsed() < bound, "not active {bound:?} after the faults stopped: {waiting:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let stats = idp.stats().await;
    let c = &proxy.counts;
    let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "{seconds} s of faults on {SESSIONS} sessions: phases played {played:?}; requests: {} passed, {} delayed, {} reset, {} 5xx, {} black-holed, {} refused while the provider restarted; restarts took {restarts:?}; triggers {triggered:?}; provider: {} token requests, grants {}, errors {}; all active again {recovered:?} after the faults stopped (bound {bound:?})",
        load(&c.passed),
        load(&c.delayed),
        load(&c.reset),
        load(&c.status),
        load(&c.black_holed),
        load(&c.upstream_down),
        stats["tokenRequests"],
        stats["grants"],
        stats["grantErrors"],
    );
    manager.shutdown().await;
    stop_watching.cancel();
    let discarded = watcher.await.unwrap();
    assert_eq!(discarded, BTreeMap::new(), "sessions discarded while the provider still honoured them");
    assert_eq!(stats["grantErrors"]["invalid_grant"].as_u64().unwrap_or(0), 0, "a rotated refresh token was reused: {stats}");
    assert!(load(&c.reset) + load(&c.status) + load(&c.black_holed) + load(&c.upstream_down) > 0, "no fault met a request");
    let _ = std::fs::remove_file(&state);
}
